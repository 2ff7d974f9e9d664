"""Rotary position embeddings (chapter 03): Meta's complex form against an explicit rotation in float64,
against Hugging Face's rotate-half form after the checkpoint permutation, and the relative-position property."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_llama.rope import (
    apply_rotary_emb,
    apply_rotary_emb_half,
    permute_for_hf,
    precompute_cos_sin,
    precompute_freqs_cis,
    rotate,
    rotate_half,
    unpermute_from_hf,
)

FAST = settings(max_examples=25, deadline=None)


def rotate_pairs_f64(x, positions, theta=10000.0):
    "The definition, in float64: pair (2j, 2j+1) at position m turned by the angle m * theta^(-2j/hd)."
    hd = x.shape[-1]
    freqs = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)  # (hd/2,)
    angles = positions.double()[..., None] * freqs  # ([bs,] seqlen, hd/2)
    cos, sin = angles.cos().unsqueeze(-2), angles.sin().unsqueeze(-2)  # ([bs,] seqlen, 1, hd/2)
    x0, x1 = x.double()[..., 0::2], x.double()[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def test_precompute_freqs_cis_is_unit_rotations_at_the_paper_angles():
    fc = precompute_freqs_cis(16, 64)
    assert fc.dtype == torch.complex64 and fc.shape == (64, 8)
    m, j = torch.arange(64, dtype=torch.float64)[:, None], torch.arange(8, dtype=torch.float64)
    expected = torch.polar(torch.ones(64, 8, dtype=torch.float64), m * 10000.0 ** (-2 * j / 16))
    torch.testing.assert_close(fc.to(torch.complex128), expected, rtol=0, atol=1e-5)


@FAST
@given(bs=st.integers(1, 3), seqlen=st.integers(1, 12), n_kv_heads=st.integers(1, 3), n_rep=st.integers(1, 3),
       half=st.integers(1, 16), seed=st.integers(0, 2**16))
def test_apply_rotary_emb_equals_explicit_rotation(bs, seqlen, n_kv_heads, n_rep, half, seed):
    torch.manual_seed(seed)
    hd = 2 * half
    xq, xk = torch.randn(bs, seqlen, n_kv_heads * n_rep, hd), torch.randn(bs, seqlen, n_kv_heads, hd)
    q, k = apply_rotary_emb(xq, xk, precompute_freqs_cis(hd, seqlen))
    positions = torch.arange(seqlen)
    torch.testing.assert_close(q.double(), rotate_pairs_f64(xq, positions), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(k.double(), rotate_pairs_f64(xk, positions), rtol=1e-5, atol=1e-5)



def test_queries_and_keys_side_by_side_rotate_as_apart():
    torch.manual_seed(0)
    qkv, fc = torch.randn(2, 5, 4 + 2 + 2, 8), precompute_freqs_cis(8, 5)  # heads of q, k, v as decoding fuses them
    q, k = apply_rotary_emb(qkv[:, :, :4], qkv[:, :, 4:6], fc)
    assert torch.equal(rotate(qkv[:, :, :6], fc), torch.cat([q, k], dim=2))  # a strided view, rotated exactly alike

def test_apply_rotary_emb_is_metas_complex_product():
    torch.manual_seed(0)
    xq, xk, fc = torch.randn(2, 5, 4, 8), torch.randn(2, 5, 2, 8), precompute_freqs_cis(8, 5)
    q, k = apply_rotary_emb(xq, xk, fc)
    for x, out in ((xq, q), (xk, k)):
        as_complex = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
        assert torch.equal(out, torch.view_as_real(as_complex * fc[:, None, :]).flatten(3))


def test_per_sequence_positions_equal_each_row_alone():
    torch.manual_seed(0)
    fc = precompute_freqs_cis(8, 40)
    xq, xk = torch.randn(3, 4, 2, 8), torch.randn(3, 4, 1, 8)
    starts = [0, 7, 30]  # three sequences at different offsets, as in batched generation
    per_row = torch.stack([fc[s:s + 4] for s in starts])  # (bs, seqlen, hd/2)
    q, k = apply_rotary_emb(xq, xk, per_row)
    for b, s in enumerate(starts):
        q_b, k_b = apply_rotary_emb(xq[b:b + 1], xk[b:b + 1], fc[s:s + 4])
        assert torch.equal(q[b:b + 1], q_b) and torch.equal(k[b:b + 1], k_b)


def test_half_precision_rotates_in_float32_and_casts_back():
    torch.manual_seed(0)
    xq, xk, fc = torch.randn(1, 6, 2, 8), torch.randn(1, 6, 2, 8), precompute_freqs_cis(8, 6)
    q16, k16 = apply_rotary_emb(xq.bfloat16(), xk.bfloat16(), fc)
    q32, k32 = apply_rotary_emb(xq.bfloat16().float(), xk.bfloat16().float(), fc)
    assert q16.dtype == k16.dtype == torch.bfloat16
    assert torch.equal(q16, q32.bfloat16()) and torch.equal(k16, k32.bfloat16())


@pytest.mark.parametrize("bad", [torch.zeros(7, 4, dtype=torch.complex64), torch.zeros(6, 3, dtype=torch.complex64),
                                 torch.zeros(3, 6, 4, dtype=torch.complex64)])
def test_apply_rotary_emb_rejects_rotations_that_do_not_fit(bad):
    xq = xk = torch.zeros(2, 6, 2, 8)
    with pytest.raises(ValueError, match=r"do not fit x of shape \(2, 6, 2, 8\): expected \(6, 4\) or \(2, 6, 4\)"):
        apply_rotary_emb(xq, xk, bad)


def test_apply_rotary_emb_rejects_real_rotations():
    "module.to(torch.bfloat16) turns a complex buffer real, dropping the sines: refuse it instead of rotating wrongly."
    xq = xk = torch.zeros(1, 4, 2, 8)
    with pytest.raises(ValueError, match="freqs_cis must be complex .*, got torch.bfloat16"):
        apply_rotary_emb(xq, xk, precompute_freqs_cis(8, 4).real.bfloat16())


def test_rope_dim_must_be_even():
    with pytest.raises(ValueError, match="dim must be positive and even, got 7"):
        precompute_freqs_cis(7, 10)


def test_cos_sin_tables_hold_each_angle_at_j_and_j_plus_half():
    cos, sin = precompute_cos_sin(16, 32)
    angles = torch.view_as_real(precompute_freqs_cis(16, 32))  # (32, 8, 2): cos, sin
    assert cos.shape == sin.shape == (32, 16)
    for table, part in ((cos, 0), (sin, 1)):
        torch.testing.assert_close(table[:, :8], angles[..., part], rtol=0, atol=1e-6)
        assert torch.equal(table[:, :8], table[:, 8:])


def test_rotate_half_is_a_quarter_turn_of_each_pair():
    x = torch.arange(8.0)
    assert torch.equal(rotate_half(x), torch.tensor([-4.0, -5, -6, -7, 0, 1, 2, 3]))
    assert torch.equal(rotate_half(rotate_half(x)), -x)


@FAST
@given(n_heads=st.integers(1, 4), half=st.integers(1, 8), cols=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_permute_and_unpermute_are_inverse_permutations(n_heads, half, cols, seed):
    torch.manual_seed(seed)
    w = torch.randn(n_heads * 2 * half, cols)
    hf = permute_for_hf(w, n_heads)
    assert torch.equal(unpermute_from_hf(hf, n_heads), w)
    assert torch.equal(permute_for_hf(unpermute_from_hf(w, n_heads), n_heads), w)
    assert torch.equal(hf.sort(dim=0).values, w.sort(dim=0).values)  # the same rows, reordered


def test_permute_for_hf_moves_pairs_to_halves():
    rows = torch.arange(8.0)[:, None]  # one head of size 8: Meta's pairs (0,1) (2,3) (4,5) (6,7)
    assert permute_for_hf(rows, 1).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_permute_rejects_rows_that_do_not_split_into_heads():
    with pytest.raises(ValueError, match="a weight with 12 rows does not split into n_heads=4 heads of even size"):
        permute_for_hf(torch.zeros(12, 3), 4)


@FAST
@given(bs=st.integers(1, 2), seqlen=st.integers(1, 10), n_kv_heads=st.integers(1, 3), n_rep=st.integers(1, 3),
       half=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_scores_of_meta_form_equal_rotate_half_form_after_permutation(bs, seqlen, n_kv_heads, n_rep, half, seed):
    torch.manual_seed(seed)
    n_heads, hd = n_kv_heads * n_rep, 2 * half
    dim = 12
    x = torch.randn(bs, seqlen, dim)
    wq, wk = torch.randn(n_heads * hd, dim) / math.sqrt(dim), torch.randn(n_kv_heads * hd, dim) / math.sqrt(dim)

    def scores(q, k):  # (bs, seqlen, n_heads, hd), (bs, seqlen, n_kv_heads, hd) -> (bs, n_heads, seqlen, seqlen)
        k = k.repeat_interleave(n_rep, dim=2)
        return torch.einsum("bqhd,bkhd->bhqk", q, k)

    q, k = (x @ wq.T).view(bs, seqlen, n_heads, hd), (x @ wk.T).view(bs, seqlen, n_kv_heads, hd)
    meta = scores(*apply_rotary_emb(q, k, precompute_freqs_cis(hd, seqlen)))
    wq_hf, wk_hf = permute_for_hf(wq, n_heads), permute_for_hf(wk, n_kv_heads)
    q, k = (x @ wq_hf.T).view(bs, seqlen, n_heads, hd), (x @ wk_hf.T).view(bs, seqlen, n_kv_heads, hd)
    hf = scores(*apply_rotary_emb_half(q, k, *precompute_cos_sin(hd, seqlen)))
    torch.testing.assert_close(hf, meta, rtol=1e-5, atol=1e-5)


@FAST
@given(m=st.integers(0, 31), n=st.integers(0, 31), offset=st.integers(0, 32), half=st.integers(1, 32),
       seed=st.integers(0, 2**16))
def test_score_depends_only_on_relative_position(m, n, offset, half, seed):
    torch.manual_seed(seed)
    hd = 2 * half
    fc = precompute_freqs_cis(hd, 64)
    q, k = torch.randn(hd), torch.randn(hd)
    q, k = (q / q.norm()).view(1, 1, 1, hd), (k / k.norm()).view(1, 1, 1, hd)

    def score(pos_q, pos_k):
        q_rot, _ = apply_rotary_emb(q, q, fc[pos_q:pos_q + 1])
        k_rot, _ = apply_rotary_emb(k, k, fc[pos_k:pos_k + 1])
        return (q_rot * k_rot).sum()

    # unit vectors and angles below 64 radians: float32 rounding of the angles stays under 1e-5 in the score
    torch.testing.assert_close(score(m + offset, n + offset), score(m, n), rtol=0, atol=1e-5)
