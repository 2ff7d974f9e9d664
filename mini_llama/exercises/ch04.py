"""Checks for chapter 04's exercises (attention): a sliding-window causal mask, grouped-query attention without
copying key/value heads, and the largest batch whose KV cache fits in memory."""

import torch

from mini_llama.attention import causal_mask, kv_cache_bytes, naive_attention
from mini_llama.config import ModelArgs
from mini_llama.exercises import exercise, expect, expect_close, expect_equal

__all__ = ["check_grouped_attention", "check_max_batch_size", "check_sliding_window_mask"]

GiB = 2**30


def _sliding_window_reference(seqlen: int, kv_len: int, window: int) -> torch.Tensor:
    "Query i sits at position kv_len - seqlen + i and sees the keys at positions p - window < n <= p."
    query_pos = torch.arange(kv_len - seqlen, kv_len)[:, None]
    key_pos = torch.arange(kv_len)[None, :]
    return (key_pos <= query_pos) & (key_pos > query_pos - window)


@exercise("Exercise 1 (a sliding-window mask)")
def check_sliding_window_mask(sliding_window_mask) -> None:
    """`sliding_window_mask(seqlen, kv_len, window)` -> (seqlen, kv_len) bool, True = may attend: the queries are
    the last `seqlen` of `kv_len` positions, and each sees itself and the `window - 1` positions before it."""
    cases = [(6, 6, 3), (6, 6, 1), (2, 7, 3), (1, 10, 4), (3, 8, 20)]  # (seqlen, kv_len, window)
    for seqlen, kv_len, window in cases:
        what = f"sliding_window_mask({seqlen}, {kv_len}, window={window})"
        got = sliding_window_mask(seqlen, kv_len, window)
        expect(isinstance(got, torch.Tensor) and got.dtype == torch.bool,
               f"{what}: expected a torch.bool tensor, got {getattr(got, 'dtype', type(got).__name__)}")
        expect_equal(f"{what}: shape", tuple(got.shape), (seqlen, kv_len))
        want = _sliding_window_reference(seqlen, kv_len, window)
        wrong = (got != want).nonzero().tolist()
        if wrong:
            i, n = wrong[0]
            expect(False, f"{what}: {len(wrong)} wrong entries; the first, query {i} (at position "
                          f"{kv_len - seqlen + i}) and key position {n}, is {bool(got[i, n])}, expected "
                          f"{bool(want[i, n])}")
    expect(torch.equal(sliding_window_mask(5, 9, 9), causal_mask(5, 9)),
           "a window as long as the sequence should give chapter 04's causal_mask(5, 9)")


@exercise("Exercise 2 (grouped-query attention without copies)")
def check_grouped_attention(grouped_attention) -> None:
    """`grouped_attention(q, k, v)`, q (bs, n_heads, seqlen, hd) and k, v (bs, n_kv_heads, seqlen, hd), returns
    causal attention (bs, n_heads, seqlen, hd) in which query head h uses key/value head h // (n_heads // n_kv_heads),
    equal to `naive_attention` with a causal mask."""
    torch.manual_seed(0)
    for bs, n_heads, n_kv_heads, seqlen, head_dim in [(2, 4, 4, 5, 8), (2, 4, 2, 5, 8), (1, 4, 1, 6, 8),
                                                      (2, 8, 2, 7, 4)]:
        q = torch.randn(bs, n_heads, seqlen, head_dim)
        k, v = torch.randn(bs, n_kv_heads, seqlen, head_dim), torch.randn(bs, n_kv_heads, seqlen, head_dim)
        what = f"{n_heads} query heads, {n_kv_heads} key/value heads, q {tuple(q.shape)}"
        got = grouped_attention(q.clone(), k.clone(), v.clone())
        want = naive_attention(q, k, v, causal_mask(seqlen, seqlen))
        expect(isinstance(got, torch.Tensor), f"{what}: got a {type(got).__name__}, expected a torch.Tensor")
        expect_equal(f"{what}: output shape", tuple(got.shape), tuple(want.shape))
        n_rep = n_heads // n_kv_heads
        for h in range(n_heads):  # head by head, so the message says which query head used the wrong keys
            expect_close(f"{what}: query head {h} (served by key/value head {h // n_rep})",
                         got[:, h], want[:, h], atol=1e-5, rtol=1e-4)


@exercise("Exercise 3 (the largest batch that fits)")
def check_max_batch_size(max_batch_size) -> None:
    """`max_batch_size(args, seq_len, memory_bytes)` -> the largest int batch whose bfloat16 KV cache of `seq_len`
    tokens per sequence takes at most `memory_bytes` (0 when not even one sequence fits)."""
    cases = [("llama2-7b", {}, 4096, 80 * GiB), ("llama2-13b", {}, 4096, 80 * GiB), ("llama2-70b", {}, 4096, 80 * GiB),
             ("llama2-70b", {"n_kv_heads": 64}, 4096, 80 * GiB), ("llama2-7b", {}, 4096, 1 * GiB),
             ("llama2-13b", {}, 1000, 24 * GiB)]
    for name, overrides, seq_len, memory in cases:
        args = ModelArgs.from_name(name, **overrides)
        per_sequence = kv_cache_bytes(args, seq_len)
        want = memory // per_sequence
        what = f"{name}{' without GQA' if overrides else ''}, {seq_len} tokens, {memory / GiB:g} GiB"
        got = max_batch_size(args, seq_len, memory)
        expect(isinstance(got, int), f"{what}: expected an int, got {got!r}")
        expect(got == want, f"{what}: got {got}, expected {want} (each sequence's cache takes "
                            f"{per_sequence / GiB:.4g} GiB, so {got} take {got * per_sequence / GiB:.4g} GiB)")
