"""Checks for chapter 10's exercises (rejection sampling): the KL of best-of-K from the policy, and the paper's
combination of the helpfulness and safety rewards."""

import math

from mini_llama.exercises import exercise, expect
from mini_llama.rejection import best_of_k_kl as _kl

__all__ = ["check_kl_best_of_k", "check_combined_reward"]


def _kl_cases() -> list[tuple[str, list[float], int]]:
    return [("one sample (K = 1)", [0.2, 0.3, 0.5], 1), ("two answers, K = 2", [0.5, 0.5], 2),
            ("three answers, K = 4", [0.2, 0.3, 0.5], 4), ("an answer of probability 0", [0.4, 0.0, 0.6], 3),
            ("a thousand equally likely answers, K = 16", [1e-3] * 1000, 16), ("a certain answer", [1.0], 8)]


@exercise("Exercise 1 (the KL of best-of-K)")
def check_kl_best_of_k(kl_best_of_k) -> None:
    """`kl_best_of_k(probs, k)`: KL(best-of-K ‖ policy) in nats, `probs` in increasing order of reward; best-of-K
    returns the answer ranked i with probability F(i)^K − F(i−1)^K."""
    for what, probs, k in _kl_cases():
        want = _kl(probs, k)
        got = kl_best_of_k(list(probs), k)
        expect(isinstance(got, (int, float)) and math.isfinite(got), f"{what}: got {got!r}, expected a finite number")
        if abs(got - want) > 1e-6 and len(set(probs)) > 1 and abs(got - _kl(probs[::-1], k)) < 1e-6:
            expect(False, f"{what}: got {got:.6f}, expected {want:.6f}: the best answer is the last of `probs`, "
                          f"not the first")
        if abs(got - want) > 1e-6 and abs(got - math.log(k) + (k - 1) / k) < 1e-6:
            expect(False, f"{what}: got {got:.6f}, expected {want:.6f}: that is the closed form, exact only when no "
                          f"two samples are alike; compute the KL of this distribution")
        expect(abs(got - want) < 1e-6, f"{what}: got {got:.6f}, expected {want:.6f}")


def _reward_cases() -> list[tuple[str, float, float, bool, float]]:
    unsafe = math.log(0.1 / 0.9)  # σ = 0.1, below the paper's 0.15
    safe_enough = 0.1  # σ ≈ 0.52: below 0.15 only if compared without the sigmoid
    return [("a task answer the safety model finds safe", 1.5, safe_enough, False, 1.5),
            ("a task answer the safety model finds unsafe", 1.5, unsafe, False, unsafe),
            ("an adversarial prompt, a safe answer", 1.5, 2.0, True, 2.0),
            ("an adversarial prompt, an unsafe answer", 1.5, unsafe, True, unsafe),
            ("a safety score of -1.6 (σ ≈ 0.17, just above 0.15) on a task", 0.3, -1.6, False, 0.3)]


@exercise("Exercise 2 (combining the judges)")
def check_combined_reward(combine) -> None:
    """`combine(helpful, safe, adversarial)`: the safety score on an adversarial prompt or when σ(safe) < 0.15, the
    helpfulness score otherwise."""
    for what, helpful, safe, adversarial, want in _reward_cases():
        got = combine(helpful, safe, adversarial)
        if got != want and want == helpful and got == safe and safe < 0.15:
            expect(False, f"{what}: got the safety score {got}, expected the helpfulness score {want}: 0.15 is a "
                          f"threshold on σ(safe), in sigmoid space, not on the raw score")
        expect(got == want, f"{what}: got {got}, expected {want}")
