"""Checks for chapter 02's exercises (RMSNorm and SwiGLU): RMSNorm's gradient by hand, SwiGLU's hidden-size rule
inverted."""

import torch

from mini_llama.exercises import exercise, expect, expect_close
from mini_llama.layers import RMSNorm, ffn_hidden_dim

__all__ = ["check_rms_norm_backward", "check_smallest_multiplier"]


def _backward_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float, torch.Tensor]]:
    "(what the case tests, x, weight, eps, grad_out) in float32, drawn from a fixed seed."
    g = torch.Generator().manual_seed(0)
    off_centre = 5 * torch.randn(2, 3, 8, generator=g) + 1
    tiny = 1e-3 * torch.randn(4, 16, generator=g)  # mean square 1e-6, below eps = 1e-5: eps shapes the gradient
    one = torch.randn(8, generator=g)
    cases = [("(2, 3, 8), off centre, a trained gain", off_centre, torch.randn(8, generator=g), 1e-5),
             ("(4, 16) with mean square below eps", tiny, torch.ones(16), 1e-5),
             ("(8,), one vector", one, torch.randn(8, generator=g), 1e-6)]
    return [(what, x, w, eps, torch.randn(x.shape, generator=g)) for what, x, w, eps in cases]


def _autograd(x: torch.Tensor, weight: torch.Tensor, eps: float, grad_out: torch.Tensor):
    "The gradients of sum(RMSNorm(x) * grad_out) with respect to x and the gain, by autograd."
    norm = RMSNorm(x.shape[-1], eps=eps)
    with torch.no_grad():
        norm.weight.copy_(weight)
    x = x.clone().requires_grad_()
    norm(x).backward(grad_out)
    return x.grad, norm.weight.grad


@exercise("Exercise 1 (RMSNorm's gradient)")
def check_rms_norm_backward(backward) -> None:
    "`backward(x, weight, eps, grad_out)` must return (grad_x, grad_weight) as autograd computes them."
    for what, x, weight, eps, grad_out in _backward_cases():
        got = backward(x.clone(), weight.clone(), eps, grad_out.clone())
        expect(isinstance(got, tuple) and len(got) == 2,
               f"{what}: got {type(got).__name__}, expected a tuple (grad_x, grad_weight)")
        want_x, want_weight = _autograd(x, weight, eps, grad_out)
        expect_close(f"{what}, grad_x", got[0], want_x, atol=1e-5, rtol=1e-4)
        expect_close(f"{what}, grad_weight", got[1], want_weight, atol=1e-5, rtol=1e-4)


MULTIPLIERS = [k / 100 for k in range(1, 401)]  # the grid searched: 0.01, 0.02, ..., 4.00

# (name, dim, multiple_of, hidden): the released models' hidden sizes (the rows of w1 in Meta's checkpoints),
# Code Llama 34B's, chapter 02's third question, and a size the rule never gives (not a multiple of 256)
MULTIPLIER_CASES = (("llama2-7b", 4096, 256, 11008), ("llama2-13b", 5120, 256, 13824),
                    ("llama2-70b", 8192, 4096, 28672), ("codellama-34b", 8192, 256, 22016),
                    ("70B's width, 32768 hidden", 8192, 4096, 32768), ("11000, not a multiple of 256", 4096, 256, 11000))


def _smallest_on_grid(dim: int, multiple_of: int, hidden: int) -> float | None:
    return next((m for m in MULTIPLIERS if ffn_hidden_dim(dim, multiple_of, m) == hidden), None)


@exercise("Exercise 2 (the hidden-size rule inverted)")
def check_smallest_multiplier(smallest_multiplier) -> None:
    "`smallest_multiplier(dim, multiple_of, hidden)`: the smallest of 0.01, ..., 4.00 giving `hidden`, else None."
    for name, dim, multiple_of, hidden in MULTIPLIER_CASES:
        what = f"{name} (dim={dim}, multiple_of={multiple_of}, hidden={hidden})"
        got, want = smallest_multiplier(dim, multiple_of, hidden), _smallest_on_grid(dim, multiple_of, hidden)
        if want is None:
            expect(got is None, f"{what}: got {got!r}, expected None: no multiplier up to 4.00 gives {hidden}")
            continue
        expect(isinstance(got, int | float) and not isinstance(got, bool),
               f"{what}: got {got!r}, expected a float such as {want}")
        gives = ffn_hidden_dim(dim, multiple_of, got) if got > 0 else None
        expect(abs(got - want) < 1e-6,
               f"{what}: got {got!r}, which gives hidden {gives}; expected {want}, the smallest multiple of 0.01 "
               f"that gives {hidden}")
