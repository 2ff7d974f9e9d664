"""RMSNorm, the SwiGLU hidden size and FeedForward (chapter 02) against their straightforward twins."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_llama.config import ModelArgs
from mini_llama.layers import FeedForward, RMSNorm, ffn_hidden_dim

FAST = settings(max_examples=25, deadline=None)


def rms_norm_f64(x, weight, eps):
    "The textbook formula in float64: x / sqrt(mean(x²) + eps) * weight."
    x, weight = x.double(), weight.double()
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def random_norm(dim, eps=1e-5, dtype=torch.float32):
    norm = RMSNorm(dim, eps=eps).to(dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(dim))
    return norm


@FAST
@given(shape=st.lists(st.integers(1, 7), min_size=0, max_size=2), dim=st.integers(1, 96),
       eps=st.sampled_from([1e-6, 1e-5]), scale=st.sampled_from([1e-2, 1.0, 100.0]), seed=st.integers(0, 2**16))
def test_rmsnorm_equals_formula_in_float64(shape, dim, eps, scale, seed):
    torch.manual_seed(seed)
    norm, x = random_norm(dim, eps), scale * torch.randn(*shape, dim)
    torch.testing.assert_close(norm(x).double(), rms_norm_f64(x, norm.weight, eps), rtol=1e-5, atol=1e-6)


def test_rmsnorm_starts_as_plain_normalisation():
    norm = RMSNorm(32)
    assert norm.weight.shape == (32,) and torch.equal(norm.weight, torch.ones(32)) and norm.eps == 1e-6
    y = norm(torch.randn(5, 32))
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(5), rtol=1e-5, atol=1e-5)


def test_rmsnorm_fused_path_equals_meta_formula_with_gradients():
    torch.manual_seed(0)
    norm, x = random_norm(64), torch.randn(4, 9, 64, requires_grad=True)
    fused = norm(x)  # float32: F.rms_norm
    grads_fused = torch.autograd.grad(fused.pow(2).sum(), (x, norm.weight))
    meta = norm._norm(x.float()).type_as(x) * norm.weight  # Meta's lines
    grads_meta = torch.autograd.grad(meta.pow(2).sum(), (x, norm.weight))
    torch.testing.assert_close(fused, meta, rtol=1e-6, atol=1e-6)
    for g_fused, g_meta in zip(grads_fused, grads_meta, strict=True):
        torch.testing.assert_close(g_fused, g_meta, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_rmsnorm_half_precision_normalises_in_float32_then_casts_back(dtype):
    torch.manual_seed(0)
    norm, x = random_norm(64, dtype=dtype), (300 * torch.randn(3, 64)).to(dtype)  # 300² overflows float16
    y = norm(x)
    assert y.dtype == dtype
    expected = (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + norm.eps)).to(dtype) * norm.weight
    assert torch.equal(y, expected)
    assert torch.isfinite(y).all()
    # within a few roundings of the half-precision type from the exact answer
    torch.testing.assert_close(y.double(), rms_norm_f64(x, norm.weight, norm.eps), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(("name", "expected"), [("llama2-7b", 11008), ("llama2-13b", 13824), ("llama2-70b", 28672)])
def test_ffn_hidden_dim_of_official_configs(name, expected):
    args = ModelArgs.from_name(name)  # the sizes of w1 in Meta's released checkpoints
    assert ffn_hidden_dim(args.dim, args.multiple_of, args.ffn_dim_multiplier) == expected
    with torch.device("meta"):
        ffn = FeedForward(args.dim, 4 * args.dim, args.multiple_of, args.ffn_dim_multiplier)
    assert ffn.w1.weight.shape == ffn.w3.weight.shape == (expected, args.dim)
    assert ffn.w2.weight.shape == (args.dim, expected)


@FAST
@given(dim=st.integers(1, 5000), multiple_of=st.integers(1, 4096),
       multiplier=st.one_of(st.none(), st.floats(0.5, 2.0)))
def test_ffn_hidden_dim_rounds_up_two_thirds_of_four_dim(dim, multiple_of, multiplier):
    hidden = ffn_hidden_dim(dim, multiple_of, multiplier)
    unrounded = int(8 * dim / 3) if multiplier is None else int(multiplier * int(8 * dim / 3))
    assert hidden % multiple_of == 0
    assert unrounded <= hidden < unrounded + multiple_of


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(dim=64, multiple_of=0), "multiple_of must be positive, got 0"),
    (dict(dim=0, multiple_of=32), "dim must be positive, got 0"),
    (dict(dim=64, multiple_of=32, ffn_dim_multiplier=-1.0), "ffn_dim_multiplier must be positive or None, got -1.0"),
])
def test_ffn_hidden_dim_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ffn_hidden_dim(**kwargs)


def test_feed_forward_equals_swiglu_formula_in_float64():
    torch.manual_seed(0)
    ffn, x = FeedForward(48, 4 * 48, multiple_of=16, ffn_dim_multiplier=None), torch.randn(2, 7, 48)
    assert ffn.w1.out_features == ffn_hidden_dim(48, 16) == 128
    assert all(lin.bias is None for lin in (ffn.w1, ffn.w2, ffn.w3))
    w1, w2, w3, xd = ffn.w1.weight.double(), ffn.w2.weight.double(), ffn.w3.weight.double(), x.double()
    gate = xd @ w1.T
    expected = (gate * torch.sigmoid(gate) * (xd @ w3.T)) @ w2.T  # silu(z) = z * sigmoid(z)
    torch.testing.assert_close(ffn(x).double(), expected, rtol=1e-5, atol=1e-6)


def test_feed_forward_is_not_a_plain_mlp():
    "The gate matters: zeroing w3 (the 'up' branch) zeroes the output, which a ReLU/GELU MLP would not do."
    torch.manual_seed(0)
    ffn = FeedForward(16, 64, multiple_of=8)
    with torch.no_grad():
        ffn.w3.weight.zero_()
    assert torch.equal(ffn(torch.randn(3, 16)), torch.zeros(3, 16))
