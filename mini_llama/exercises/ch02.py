"""Checks for chapter 02's exercises (RMSNorm and SwiGLU): RMSNorm from its formula, SwiGLU's hidden-size rule."""

import torch

from mini_llama.exercises import exercise, expect, expect_close, expect_equal
from mini_llama.layers import RMSNorm, ffn_hidden_dim

__all__ = ["check_rms_norm", "check_hidden_dim"]


def _rms_norm_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    "(what the case tests, x, weight, eps), drawn from a fixed seed."
    g = torch.Generator().manual_seed(0)
    off_centre = 5 * torch.randn(2, 3, 8, generator=g) + 1
    gain = torch.randn(8, generator=g)
    tiny = 1e-3 * torch.randn(4, 16, generator=g)  # mean square 1e-6, below eps = 1e-5: eps decides the scale
    outliers = 3 * torch.randn(2, 4096, generator=g)
    outliers[:, :4] = 300.0
    bf16_gain = (1 + 0.1 * torch.randn(4096, generator=g)).bfloat16()
    return [("float32 (2, 3, 8), off centre, a trained gain", off_centre, gain, 1e-5),
            ("float32 (4, 16) with mean square below eps", tiny, torch.ones(16), 1e-5),
            ("float32 (8,), one vector", off_centre[0, 0], gain, 1e-6),
            ("bfloat16 (2, 4096) with outlier features", outliers.bfloat16(), bf16_gain, 1e-5)]


def _reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    norm = RMSNorm(x.shape[-1], eps=eps).to(weight.dtype)
    with torch.no_grad():
        norm.weight.copy_(weight)
        return norm(x)


@exercise("Exercise 1 (RMSNorm from the formula)")
def check_rms_norm(rms_norm) -> None:
    "`rms_norm(x, weight, eps)` must equal `mini_llama.layers.RMSNorm`: float32 within 1e-5, bfloat16 exactly."
    for what, x, weight, eps in _rms_norm_cases():
        got = rms_norm(x.clone(), weight.clone(), eps)
        want = _reference(x, weight, eps)
        expect(isinstance(got, torch.Tensor), f"{what}: got a {type(got).__name__}, expected a torch.Tensor")
        expect(got.dtype == x.dtype, f"{what}: got dtype {got.dtype}, expected the input's {x.dtype}")
        exact = x.dtype == torch.bfloat16  # Meta's order of operations gives the same bf16 numbers, bit for bit
        expect_close(what, got, want, atol=0 if exact else 1e-5, rtol=0 if exact else 1e-5)


# (name, dim, multiple_of, ffn_dim_multiplier, expected): the released models' hidden sizes are the rows of w1 in
# Meta's checkpoints; Code Llama 34B (GQA, ffn_dim_multiplier 1.0) and two small widths come from ffn_hidden_dim
HIDDEN_CASES = (("llama2-7b", 4096, 256, None, 11008), ("llama2-13b", 5120, 256, None, 13824),
                ("llama2-70b", 8192, 4096, 1.3, 28672), ("codellama-34b", 8192, 256, 1.0, ffn_hidden_dim(8192, 256, 1.0)),
                ("tiny", 64, 32, None, ffn_hidden_dim(64, 32)), ("dim 48", 48, 32, None, ffn_hidden_dim(48, 32)))


@exercise("Exercise 2 (SwiGLU's hidden size)")
def check_hidden_dim(hidden_dim) -> None:
    "`hidden_dim(dim, multiple_of, ffn_dim_multiplier)` must give the SwiGLU width Meta's rule gives."
    for name, dim, multiple_of, multiplier, want in HIDDEN_CASES:
        got = hidden_dim(dim, multiple_of, multiplier)
        expect(isinstance(got, int) and not isinstance(got, bool),
               f"{name}: got {got!r} of type {type(got).__name__}, expected an int")
        expect_equal(f"{name} (dim={dim}, multiple_of={multiple_of}, ffn_dim_multiplier={multiplier})", got, want)
