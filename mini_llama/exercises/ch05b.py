"""Checks for chapter 05b's exercises (checkpoints: Meta's shards and Hugging Face's layout).

Plain module, taught by no chapter: `mini_llama.exercises` explains how a check reports.
"""

import torch

from mini_llama import checkpoint, rope
from mini_llama.config import ModelArgs
from mini_llama.exercises import ExerciseError, exercise, expect, expect_close
from mini_llama.model import Transformer

__all__ = ["check_hf_to_meta", "check_merge_tensor"]


def _small_model(seed: int) -> Transformer:
    "Two layers, 4 query heads sharing 2 key/value heads, every weight random (norms included)."
    generator = torch.Generator().manual_seed(seed)
    args = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=96, multiple_of=32, max_seq_len=64)
    model = Transformer(args).init_weights(generator=generator)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.5 * torch.rand(p.shape, generator=generator))
    return model


def _meta_split(name: str, full: torch.Tensor, n_shards: int) -> list[torch.Tensor]:
    "What each of Meta's `n_shards` ranks holds of tensor `name`: a slice along its split dimension, or a copy."
    dim = checkpoint.SHARD_DIM.get(name.split(".")[-2])
    if dim is None:  # replicated (norms): every rank holds the whole tensor
        return [full.clone() for _ in range(n_shards)]
    return [part.clone() for part in full.chunk(n_shards, dim=dim)]


@exercise("Exercise 1 (merging Meta's shards)")
def check_merge_tensor(merge_tensor) -> None:
    "`merge_tensor(name, parts) -> Tensor` must rebuild every tensor of a model from its 1, 2 or 4 ranks' slices."
    model = _small_model(seed=0)
    for n_shards in (2, 4, 1):
        for name, full in model.state_dict().items():
            got = merge_tensor(name, _meta_split(name, full, n_shards))
            expect_close(f"{name!r} merged from {n_shards} shard(s)", got, full, atol=0, rtol=0)


@exercise("Exercise 2 (Hugging Face -> Meta)")
def check_hf_to_meta(hf_to_meta) -> None:
    "`hf_to_meta(hf_state, args) -> dict` must give back Meta's names and row order for every tensor."
    model = _small_model(seed=1)
    meta, hf = model.state_dict(), checkpoint.to_hf_state_dict(model)
    got = hf_to_meta(hf, model.params)
    expect(isinstance(got, dict), f"got a {type(got).__name__}, expected a dict of tensor names -> tensors")
    missing, unexpected = sorted(set(meta) - set(got)), sorted(set(got) - set(meta))
    if missing:
        raise ExerciseError(f"the result lacks Meta's name {missing[0]!r}"
                            + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    if unexpected:
        raise ExerciseError(f"unexpected name {unexpected[0]!r} in the result; Meta's names are like "
                            f"'layers.0.attention.wq.weight'")
    hf_names = checkpoint._hf_names(model.params.n_layers)
    for name, want in meta.items():
        expect(isinstance(got[name], torch.Tensor), f"{name!r}: got a {type(got[name]).__name__}, expected a tensor")
        if not torch.equal(got[name], want):
            _explain_row_order(name, got[name], hf[hf_names[name]], model.params)
        expect_close(name, got[name], want, atol=0, rtol=0)


def _explain_row_order(name: str, got: torch.Tensor, theirs: torch.Tensor, args: ModelArgs) -> None:
    "Name the usual mistakes on wq/wk's rows: left in HF's order, permuted the wrong way, or with the wrong head count."
    heads = {"wq": args.n_heads, "wk": args.n_kv_heads}.get(name.split(".")[-2])
    if heads is None or got.shape != theirs.shape:
        return
    if torch.equal(got, theirs):
        raise ExerciseError(f"{name!r} is still in Hugging Face's row order (rotate-half pairs j, j + hd/2): undo "
                            f"the permutation to Meta's interleaved pairs 2j, 2j + 1")
    if torch.equal(got, rope.permute_for_hf(theirs, heads)):
        raise ExerciseError(f"{name!r} was permuted Meta -> Hugging Face a second time; it needs the inverse")
    wrong = args.n_heads if heads == args.n_kv_heads else args.n_kv_heads
    if wrong != heads and torch.equal(got, rope.unpermute_from_hf(theirs, wrong)):
        raise ExerciseError(f"{name!r} was un-permuted as {wrong} heads; it has {heads} (n_heads for wq, "
                            f"n_kv_heads for wk)")
