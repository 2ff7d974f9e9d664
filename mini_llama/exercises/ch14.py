"""Checks for chapter 14's exercises (evaluation): the standard error of a difference measured on the same prompts,
and the stages no other stage beats on both helpfulness and safety."""

import math

from mini_llama import eval as ev
from mini_llama.exercises import exercise, expect, expect_equal

__all__ = ["check_paired_difference", "check_pareto_front"]


def _paired_cases() -> list[tuple[str, list[float], list[float]]]:
    return [("scores that go together", [1, 1, 0, 1, 0, 1, 1, 0], [1, 1, 0, 1, 0, 0, 1, 0]),
            ("scores that do not", [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 1, 1]),
            ("partial scores", [0.5, 1.0, 0.25, 0.75], [0.5, 0.5, 0.25, 1.0])]


@exercise("Exercise 1 (a paired difference)")
def check_paired_difference(paired_difference) -> None:
    """`paired_difference(scores_a, scores_b)`: two models' per-prompt scores on the same prompts -> (the mean of
    a - b, its standard error), the standard error of the per-prompt differences' mean."""
    for what, a, b in _paired_cases():
        want = ev.mean_and_se([x - y for x, y in zip(a, b, strict=True)])
        got = paired_difference(list(a), list(b))
        expect(isinstance(got, tuple) and len(got) == 2, f"{what}: got {got!r}, expected (difference, se)")
        expect(abs(got[0] - want[0]) < 1e-9, f"{what}: difference {got[0]!r}, expected {want[0]:.4f}")
        unpaired = math.hypot(ev.mean_and_se(a)[1], ev.mean_and_se(b)[1])
        if abs(got[1] - unpaired) < 1e-9 and abs(unpaired - want[1]) > 1e-9:
            expect(False, f"{what}: standard error {got[1]:.4f} treats the two as independent draws of prompts; on "
                          "the same prompts, take the standard error of the per-prompt differences")
        expect(abs(got[1] - want[1]) < 1e-9, f"{what}: standard error {got[1]!r}, expected {want[1]:.4f}")


def _front_cases() -> list[tuple[str, dict[str, tuple[float, float]], list[str]]]:
    return [("one stage better on both", {"a": (0.8, 0.05), "b": (0.7, 0.10)}, ["a"]),
            ("a trade-off", {"a": (0.8, 0.15), "b": (0.7, 0.05), "c": (0.6, 0.10)}, ["a", "b"]),
            ("a tie on one axis", {"a": (0.8, 0.10), "b": (0.8, 0.05)}, ["b"]),
            ("the same point twice", {"a": (0.8, 0.10), "b": (0.8, 0.10)}, ["a", "b"])]


@exercise("Exercise 2 (the stages nobody beats)")
def check_pareto_front(pareto_front) -> None:
    """`pareto_front(points)`: stage -> (helpfulness, violation rate); the stages no other stage dominates (at least
    as helpful and at most as many violations, better on one), in the order given."""
    for what, points, want in _front_cases():
        got = pareto_front(dict(points))
        expect(isinstance(got, list), f"{what}: got {got!r}, expected a list of stage names")
        if what == "a tie on one axis" and "a" in got:
            expect(False, f"{what}: got {got}; 'a' is as helpful as 'b' with more violations, so 'b' dominates it")
        expect_equal(what, got, want)
