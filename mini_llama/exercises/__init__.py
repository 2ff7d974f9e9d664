"""Checks for the chapters' exercises: each `check_*` runs the student's answer on cases whose answer is known.

Plain module, taught by no chapter; one submodule per chapter (`mini_llama.exercises.ch03` holds chapter 03's
checks). A check prints that the answer is correct, says that the exercise is still open when the answer raises
`NotImplementedError` (so a chapter stays green with its exercises unsolved), or raises `ExerciseError` saying what
is wrong: which case, what came back, what was expected.
"""

import functools
from collections.abc import Callable

import torch

__all__ = ["ExerciseError", "exercise", "expect", "expect_close", "expect_equal"]


class ExerciseError(AssertionError):
    """The answer is wrong; the message says in which case and how."""


def exercise(title: str) -> Callable:
    """Make `check(answer, ...)` report on `title`: correct, not attempted yet, or `ExerciseError` with the reason."""
    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def run(*args, **kwargs) -> None:
            try:
                check(*args, **kwargs)
            except NotImplementedError:
                print(f"{title}: not solved yet (replace the `raise NotImplementedError` with your answer)")
                return
            print(f"{title}: correct")
        return run
    return decorate


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ExerciseError(message)


def expect_equal(what: str, got, want) -> None:
    """`got == want` for plain values (ints, strings, lists, tuples)."""
    expect(got == want, f"{what}: got {got!r}, expected {want!r}")


def expect_close(what: str, got, want: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """`got` is a tensor of `want`'s shape whose values match within tolerance; the message names the worst entry."""
    expect(isinstance(got, torch.Tensor), f"{what}: got a {type(got).__name__}, expected a torch.Tensor")
    expect(got.shape == want.shape, f"{what}: got shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    got, want = got.detach().double(), want.detach().double()
    expect(bool(torch.isfinite(got).all()), f"{what}: contains NaN or inf")
    err = (got - want).abs()
    bad = err > atol + rtol * want.abs()
    if bad.any():
        worst = tuple(int(i) for i in torch.unravel_index(err.argmax(), err.shape))
        raise ExerciseError(f"{what}: {int(bad.sum())} of {err.numel()} values differ; the worst at index "
                            f"{worst} is {got[worst].item():.6g}, expected {want[worst].item():.6g}")
