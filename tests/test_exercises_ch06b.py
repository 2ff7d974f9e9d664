"""Chapter 06b's exercise checks accept right answers, name what is wrong in realistic wrong ones, and say "not solved
yet" for an untouched exercise."""

import pytest
import torch
import torch.nn.functional as F

from mini_llama.config import ModelArgs
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch06b import check_decode_step_bytes, check_fused_ffn_step, decode_step_bytes_of
from mini_llama.layers import ffn_hidden_dim
from mini_llama.model import Transformer


def not_solved(*args):
    raise NotImplementedError


def step_bytes_by_formula(args, pos, bytes_per_value, whole_table=False, kv_heads=None, positions=None):
    "The count from the config's formulas; the keywords let a test make the usual mistakes."
    hidden = ffn_hidden_dim(args.dim, args.multiple_of, args.ffn_dim_multiplier)
    kv_dim = (kv_heads or args.n_kv_heads) * args.head_dim
    attention = args.dim * args.dim * 2 + 2 * args.dim * args.n_kv_heads * args.head_dim  # wq, wo; wk, wv
    block = attention + 3 * args.dim * hidden + 2 * args.dim  # w1, w2, w3; two norms' gains
    table = args.vocab_size * args.dim if whole_table else args.dim
    weights = args.n_layers * block + args.dim + args.vocab_size * args.dim + table  # final norm, output, embedding
    cache = args.n_layers * 2 * (pos + 1 if positions is None else positions) * kv_dim
    return (weights + cache) * bytes_per_value


def test_the_formula_is_the_models_count():
    args = ModelArgs(dim=128, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300, multiple_of=32, max_seq_len=32)
    weights = sum(p.numel() for p in Transformer(args).parameters()) - args.vocab_size * args.dim + args.dim
    assert decode_step_bytes_of(args, 5, 4) == step_bytes_by_formula(args, 5, 4) == (weights + 2 * 2 * 6 * 64) * 4


def test_decode_step_bytes_accepts(capsys):
    check_decode_step_bytes(step_bytes_by_formula)
    assert capsys.readouterr().out.strip() == "Exercise 1 (the bytes of a decoding step): correct"


@pytest.mark.parametrize("wrong, message", [
    (lambda a, pos, b: step_bytes_by_formula(a, pos, b, whole_table=True), r"bytes too many \(1,048,064 values\)"),
    (lambda a, pos, b: step_bytes_by_formula(a, pos, b, kv_heads=a.n_heads), "bytes too many"),
    (lambda a, pos, b: step_bytes_by_formula(a, pos, b, positions=pos), r"bytes too few \(4,096 values\)"),
    (lambda a, pos, b: float(step_bytes_by_formula(a, pos, b)), "expected an int"),
])
def test_decode_step_bytes_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_decode_step_bytes(wrong)


def fuse(ffn):
    return torch.cat([ffn.w1.weight, ffn.w3.weight]).t().contiguous(), ffn.w2.weight.t().contiguous()


def ffn_step(x, w13, w2t):
    gate, up = (x @ w13).chunk(2, dim=-1)
    return torch.addmm(x, F.silu(gate) * up, w2t)


def test_fused_ffn_step_accepts(capsys):
    check_fused_ffn_step(fuse, ffn_step)
    assert capsys.readouterr().out.strip() == "Exercise 2 (a feed-forward step on fused weights): correct"


def split_products(x, w13, w2t):
    "Right numbers, but w1's and w3's products made apart: three products."
    hidden = w13.shape[1] // 2
    return torch.addmm(x, F.silu(x @ w13[:, :hidden]) * (x @ w13[:, hidden:]), w2t)


@pytest.mark.parametrize("fuse_weights, step, message", [
    (lambda ffn: (torch.cat([ffn.w3.weight, ffn.w1.weight]).t().contiguous(), ffn.w2.weight.t().contiguous()),
     ffn_step, "first 176 columns"),
    (lambda ffn: (torch.cat([ffn.w1.weight, ffn.w3.weight]).t(), ffn.w2.weight.t()), ffn_step, "contiguous"),
    (fuse, lambda x, w13, w2t: ffn_step(x, w13, w2t) - x, "x \\+ ffn\\(x\\)"),
    (fuse, split_products, "matrix products made .* got 3, expected 2"),
])
def test_fused_ffn_step_rejects(fuse_weights, step, message):
    with pytest.raises(ExerciseError, match=message):
        check_fused_ffn_step(fuse_weights, step)


@pytest.mark.parametrize("check, answers", [(check_decode_step_bytes, (not_solved,)),
                                            (check_fused_ffn_step, (not_solved, ffn_step)),
                                            (check_fused_ffn_step, (fuse, not_solved))])
def test_not_solved_yet(check, answers, capsys):
    check(*answers)
    assert "not solved yet" in capsys.readouterr().out
