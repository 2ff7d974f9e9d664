"""Chapter 05b's exercise checks accept a correct answer, reject realistic wrong ones by name, and report an
unsolved exercise as such."""

import pytest
import torch

from mini_llama import checkpoint, rope
from mini_llama.exercises import ExerciseError, ch05b


def merge(name, parts):
    "The package's own merge, one tensor at a time."
    return checkpoint.merge_shards([{name: part} for part in parts])[name]


def unsolved(*args):
    raise NotImplementedError


def hf_with(hf, args, **replaced_fn):
    "The package's conversion, with wq/wk rebuilt from Hugging Face's tensors by the given (wrong) functions."
    state = checkpoint.from_hf_state_dict(hf, args)
    for i in range(args.n_layers):
        for ours, theirs in (("wq", "q_proj"), ("wk", "k_proj")):
            if ours in replaced_fn:
                state[f"layers.{i}.attention.{ours}.weight"] = replaced_fn[ours](
                    hf[f"model.layers.{i}.self_attn.{theirs}.weight"], args)
    return state


@pytest.mark.parametrize("check, answer", [(ch05b.check_merge_tensor, merge),
                                           (ch05b.check_hf_to_meta, checkpoint.from_hf_state_dict)])
def test_correct_answers_pass(check, answer, capsys):
    check(answer)
    assert capsys.readouterr().out.endswith(": correct\n")


@pytest.mark.parametrize("check", [ch05b.check_merge_tensor, ch05b.check_hf_to_meta])
def test_unsolved_is_reported_not_raised(check, capsys):
    check(unsolved)
    assert "not solved yet" in capsys.readouterr().out


def test_merge_always_along_rows_is_named():
    with pytest.raises(ExerciseError, match=r"'tok_embeddings.weight' merged from 2 shard\(s\): got shape \(192, 32\)"):
        ch05b.check_merge_tensor(lambda name, parts: torch.cat(parts, dim=0))


def test_concatenated_norms_are_named():
    "Replicated tensors are one copy per rank: concatenating them doubles their length."
    def cat_everything(name, parts):
        dim = checkpoint.SHARD_DIM.get(name.split(".")[-2], 0)
        return torch.cat(parts, dim=dim)
    with pytest.raises(ExerciseError, match=r"'layers.0.attention_norm.weight' merged .*got shape \(128,\)"):
        ch05b.check_merge_tensor(cat_everything)


def test_wo_and_w2_split_like_wq_is_named():
    "Row-parallel layers (wo, w2) split their inputs: dim 1, not 0."
    def columns_only(name, parts):
        dim = 1 if name == "tok_embeddings.weight" else checkpoint.SHARD_DIM.get(name.split(".")[-2])
        return parts[0] if dim is None else torch.cat(parts, dim=0 if name.split(".")[-2] in ("wo", "w2") else dim)
    with pytest.raises(ExerciseError, match=r"'layers.0.attention.wo.weight' merged from 2 shard\(s\): got shape"):
        ch05b.check_merge_tensor(columns_only)


def test_names_without_permutation_are_named():
    def rename_only(hf, args):
        return {ours: hf[theirs] for ours, theirs in checkpoint._hf_names(args.n_layers).items()}
    with pytest.raises(ExerciseError, match="'layers.0.attention.wq.weight' is still in Hugging Face's row order"):
        ch05b.check_hf_to_meta(rename_only)


def test_wk_unpermuted_with_query_heads_is_named():
    with pytest.raises(ExerciseError, match="'layers.0.attention.wk.weight' was un-permuted as 4 heads; it has 2"):
        ch05b.check_hf_to_meta(lambda hf, args: hf_with(
            hf, args, wk=lambda w, a: rope.unpermute_from_hf(w, a.n_heads)))


def test_permuting_the_wrong_way_is_named():
    with pytest.raises(ExerciseError, match="permuted Meta -> Hugging Face a second time"):
        ch05b.check_hf_to_meta(lambda hf, args: hf_with(hf, args, wq=lambda w, a: rope.permute_for_hf(w, a.n_heads)))


def test_missing_tensor_is_named():
    def no_output(hf, args):
        return {k: v for k, v in checkpoint.from_hf_state_dict(hf, args).items() if k != "output.weight"}
    with pytest.raises(ExerciseError, match="lacks Meta's name 'output.weight'"):
        ch05b.check_hf_to_meta(no_output)


def test_hf_names_left_in_are_named():
    with pytest.raises(ExerciseError, match="unexpected name 'lm_head.weight'"):
        ch05b.check_hf_to_meta(lambda hf, args: {**checkpoint.from_hf_state_dict(hf, args),
                                                 "lm_head.weight": hf["lm_head.weight"]})
