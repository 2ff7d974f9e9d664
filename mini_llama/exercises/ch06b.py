"""Checks for chapter 06b (fast decoding): the bytes one decoding step must read, a feed-forward step on fused weights.

Plain module, taught by no chapter: `mini_llama.exercises` explains how a check reports.
"""

import torch
from torch.overrides import TorchFunctionMode

from mini_llama.config import ModelArgs
from mini_llama.exercises import exercise, expect, expect_close, expect_equal
from mini_llama.layers import FeedForward
from mini_llama.model import Transformer

__all__ = ["check_decode_step_bytes", "check_fused_ffn_step", "decode_step_bytes_of"]

# (name, config, position): MHA and GQA, a ffn_dim_multiplier, a vocabulary much larger than the width
STEP_CASES = [
    ("chapter 06b's model at position 0", ModelArgs(dim=512, n_layers=8, n_heads=8, n_kv_heads=4, vocab_size=2048,
                                                     multiple_of=32, max_seq_len=128), 0),
    ("chapter 06b's model at position 100", ModelArgs(dim=512, n_layers=8, n_heads=8, n_kv_heads=4, vocab_size=2048,
                                                       multiple_of=32, max_seq_len=128), 100),
    ("multi-head attention (n_kv_heads = n_heads)", ModelArgs(dim=256, n_layers=3, n_heads=4, vocab_size=5000,
                                                              multiple_of=64, max_seq_len=64), 63),
    ("Llama 2 70B's shape at position 4095", ModelArgs.from_name("llama2-70b"), 4095),
]


def decode_step_bytes_of(args: ModelArgs, pos: int, bytes_per_value: int) -> int:
    """Counted on the model itself (built on the meta device: shapes, no memory): every weight but the embedding table,
    the table's one row, and each layer's cached keys and values of positions 0..pos."""
    with torch.device("meta"):
        model = Transformer(args)
    weights = sum(p.numel() for name, p in model.named_parameters() if name != "tok_embeddings.weight") + args.dim
    cache = args.n_layers * 2 * (pos + 1) * args.n_kv_heads * args.head_dim
    return (weights + cache) * bytes_per_value


@exercise("Exercise 1 (the bytes of a decoding step)")
def check_decode_step_bytes(decode_step_bytes) -> None:
    """`decode_step_bytes(args: ModelArgs, pos: int, bytes_per_value: int) -> int`: what one sequence's step at position
    `pos` reads from memory."""
    for name, args, pos in STEP_CASES:
        for bytes_per_value in (4, 2):
            got = decode_step_bytes(args, pos, bytes_per_value)
            want = decode_step_bytes_of(args, pos, bytes_per_value)
            what = f"case '{name}', {bytes_per_value} bytes a value"
            expect(isinstance(got, int), f"{what}: got a {type(got).__name__}, expected an int (bytes)")
            if got != want:
                diff = got - want
                expect(False, f"{what}: got {got:,} bytes, expected {want:,}: {abs(diff):,} bytes too "
                              f"{'many' if diff > 0 else 'few'} ({abs(diff) / bytes_per_value:,.0f} values)")


class MatrixProductCount(TorchFunctionMode):
    "Counts the matrix products made under it, whatever their spelling (@, torch.mm, F.linear, addmm...)."
    PRODUCTS = {"matmul", "mm", "addmm", "bmm", "linear", "__matmul__", "__rmatmul__", "einsum", "mv", "addmv"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.PRODUCTS:
            self.count += 1
        return func(*args, **(kwargs or {}))


@exercise("Exercise 2 (a feed-forward step on fused weights)")
def check_fused_ffn_step(fuse_ffn_weights, ffn_step) -> None:
    """`fuse_ffn_weights(ffn) -> (w13, w2t)` in the (in, out) layout, w1's columns then w3's; and
    `ffn_step(x, w13, w2t) -> x + ffn(x)` for x (n, dim), in two matrix products."""
    generator = torch.Generator().manual_seed(0)
    for dim, multiple_of in ((64, 16), (96, 32)):
        ffn = FeedForward(dim, 4 * dim, multiple_of)
        with torch.no_grad():
            for w in (ffn.w1.weight, ffn.w2.weight, ffn.w3.weight):
                w.normal_(0, 0.1, generator=generator)
        hidden = ffn.w1.weight.shape[0]
        with torch.no_grad():
            w13, w2t = fuse_ffn_weights(ffn)
        what = f"dim {dim}, hidden {hidden}"
        expect_equal(f"{what}: the shape of w13", tuple(w13.shape), (dim, 2 * hidden))
        expect_equal(f"{what}: the shape of w2t", tuple(w2t.shape), (hidden, dim))
        expect_close(f"{what}: w13's first {hidden} columns (w1's, transposed)", w13[:, :hidden], ffn.w1.weight.t())
        expect_close(f"{what}: w13's last {hidden} columns (w3's, transposed)", w13[:, hidden:], ffn.w3.weight.t())
        expect(w13.is_contiguous() and w2t.is_contiguous(),
               f"{what}: the fused weights must be contiguous (a transposed view streams no faster than before)")
        for n in (1, 3):
            x = torch.randn(n, dim, generator=generator)
            with torch.no_grad(), MatrixProductCount() as products:
                got = ffn_step(x, w13, w2t)
            with torch.no_grad():
                want = x + ffn(x)
            expect_close(f"{what}, x of shape {(n, dim)}: x + ffn(x)", got, want, atol=1e-5, rtol=1e-4)
            expect_equal(f"{what}, x of shape {(n, dim)}: the matrix products made (w1|w3 fused, then w2 with the "
                         f"residual)", products.count, 2)
