"""Checks for chapter 03's exercises (rotary position embeddings): RoPE in Hugging Face's pairing from positions,
and the score of a rotated query and key computed from their distance alone."""

import torch

from mini_llama.exercises import exercise, expect, expect_close
from mini_llama.rope import apply_rotary_emb, apply_rotary_emb_half, precompute_cos_sin, precompute_freqs_cis

__all__ = ["check_rope_rotate_half", "check_score_from_distance"]


def _rotate_half_reference(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    "The package's rotate-half form, its tables read at `positions`."
    cos, sin = precompute_cos_sin(x.shape[-1], int(positions.max()) + 1, theta)
    out, _ = apply_rotary_emb_half(x, x, cos[positions], sin[positions])
    return out


@exercise("Exercise 1 (RoPE in Hugging Face's pairing)")
def check_rope_rotate_half(rope_rotate_half) -> None:
    """`rope_rotate_half(x, positions, theta)`, x (bs, seqlen, heads, hd) and positions (seqlen,) integers, turns
    the pair (j, j + hd/2) at position m by m * theta^(-2j/hd) and returns a tensor of x's shape and dtype."""
    torch.manual_seed(0)
    cases = [  # (what, x, positions, theta)
        ("x (1, 1, 1, 4) at position 1", torch.randn(1, 1, 1, 4), torch.tensor([1]), 10000.0),
        ("x (2, 6, 3, 8) at positions 0..5", torch.randn(2, 6, 3, 8), torch.arange(6), 10000.0),
        ("x (1, 4, 2, 16) at positions 37..40", torch.randn(1, 4, 2, 16), torch.arange(37, 41), 10000.0),
        ("x (1, 5, 2, 8) at positions 3..7 with theta=500000", torch.randn(1, 5, 2, 8), torch.arange(3, 8), 500000.0),
    ]
    for what, x, positions, theta in cases:
        got = rope_rotate_half(x.clone(), positions, theta)
        expect(isinstance(got, torch.Tensor) and got.dtype == x.dtype,
               f"{what}: expected a tensor of dtype {x.dtype}, got {getattr(got, 'dtype', type(got).__name__)}")
        expect_close(what, got, _rotate_half_reference(x, positions, theta), atol=1e-5, rtol=1e-4)


def _rotated_score(q: torch.Tensor, k: torch.Tensor, m: int, n: int, theta: float) -> torch.Tensor:
    "(R_m q) . (R_n k) with the package's complex form (Meta's pairs): q and k (hd,), one float64 scalar."
    freqs_cis = precompute_freqs_cis(q.shape[-1], max(m, n) + 1, theta)
    q_m, _ = apply_rotary_emb(q.view(1, 1, 1, -1), q.view(1, 1, 1, -1), freqs_cis[m:m + 1])
    k_n, _ = apply_rotary_emb(k.view(1, 1, 1, -1), k.view(1, 1, 1, -1), freqs_cis[n:n + 1])
    return (q_m.double() * k_n.double()).sum()


@exercise("Exercise 2 (the score from the distance alone)")
def check_score_from_distance(score_from_distance) -> None:
    """`score_from_distance(q, k, distance, theta)`, q and k (hd,) and distance = n - m an int (any sign), returns
    (R_m q) . (R_n k) computed without m or n: a 0-dim tensor (or float) equal to the rotated dot product."""
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)
    cases = [(0, 0, 10000.0), (5, 5, 10000.0), (3, 10, 10000.0), (10, 3, 10000.0), (0, 40, 10000.0),
             (20, 0, 100.0)]  # (m, n, theta): the query at m, the key at n
    for m, n, theta in cases:
        what = f"query at m={m}, key at n={n} (distance n - m = {n - m}), theta={theta:g}"
        got = score_from_distance(q.clone(), k.clone(), n - m, theta)
        expect(isinstance(got, (float, torch.Tensor)) and torch.as_tensor(got).numel() == 1,
               f"{what}: expected one number (a float or a 0-dim tensor), got {got!r}")
        got, want = float(got), _rotated_score(q, k, m, n, theta).item()
        expect(abs(got - want) <= 1e-4 * (1 + abs(want)), f"{what}: got {got:.6g}, expected {want:.6g}")
