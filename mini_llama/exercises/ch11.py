"""Checks for chapter 11's exercises (PPO): generalised advantage estimation along a response, and the clipped policy
loss on its tokens."""

import torch

from mini_llama.exercises import exercise, expect, expect_close
from mini_llama.ppo import gae as _gae
from mini_llama.ppo import ppo_loss as _ppo_loss

__all__ = ["check_gae", "check_clipped_loss"]


def _gae_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, float, float]]:
    g = torch.Generator().manual_seed(11)
    mask = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 0]], dtype=torch.bool)
    rewards, values = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g)
    return [("one response, γ = 1, λ = 0.95 (TRL's)", rewards[:1], values[:1], mask[:1], 1.0, 0.95),
            ("three responses of different lengths, padded on both sides", rewards, values, mask, 1.0, 0.95),
            ("γ = 0.9, λ = 0.5", rewards, values, mask, 0.9, 0.5),
            ("λ = 0: one-step temporal differences", rewards, values, mask, 1.0, 0.0)]


@exercise("Exercise 1 (advantages by GAE)")
def check_gae(gae) -> None:
    """`gae(rewards, values, mask, gamma, lam) -> (advantages, returns)`, (bs, seqlen) each, on the response tokens
    (mask) and 0 elsewhere: δ_t = r_t + γ V_{t+1} − V_t with V = 0 after the last response token, A_t = δ_t +
    γλ A_{t+1}, returns = A + V."""
    for what, rewards, values, mask, gamma, lam in _gae_cases():
        want_adv, want_ret = _gae(rewards, values, mask, gamma, lam)
        got = gae(rewards.clone(), values.clone(), mask.clone(), gamma, lam)
        expect(isinstance(got, tuple) and len(got) == 2, f"{what}: got {type(got).__name__}, expected a pair "
                                                         f"(advantages, returns)")
        adv, ret = got
        if isinstance(adv, torch.Tensor) and adv.shape == want_adv.shape and (adv[~mask] != 0).any():
            expect(False, f"{what}: advantages off the response are not 0: padding and prompt carry no advantage")
        run_on = _gae(rewards, values, torch.ones_like(mask), gamma, lam)[0]  # every position as if answered
        if isinstance(adv, torch.Tensor) and adv.shape == want_adv.shape and torch.allclose(
                torch.where(mask, adv, 0.0), torch.where(mask, run_on, 0.0), atol=1e-5) and not torch.allclose(
                adv, want_adv, atol=1e-5):
            expect(False, f"{what}: the value after a response's last token must be 0 (nothing follows the answer), "
                          f"not the value at the next position")
        expect_close(f"{what}: the advantages", adv, want_adv)
        if isinstance(ret, torch.Tensor) and torch.allclose(ret, want_adv, atol=1e-5):
            expect(False, f"{what}: the returns are the advantages; returns = advantages + values")
        expect_close(f"{what}: the returns", ret, want_ret)


def _loss_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(12)
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1]], dtype=torch.bool)
    old = torch.randn(2, 5, generator=g) - 2
    adv = torch.randn(2, 5, generator=g)
    return [("the policy unchanged (ratio 1)", old.clone(), old, adv, mask),
            ("small moves, inside the clip range", old + 0.05 * torch.randn(2, 5, generator=g), old, adv, mask),
            ("large moves, clipped", old + torch.randn(2, 5, generator=g), old, adv, mask)]


@exercise("Exercise 2 (the clipped policy loss)")
def check_clipped_loss(policy_loss) -> None:
    """`policy_loss(logprobs, old_logprobs, advantages, mask, clip) -> scalar tensor`: the mean over the response
    tokens of max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)), ρ = exp(log π_θ − log π_old)."""
    zeros = torch.zeros(2, 5)
    for what, logprobs, old, adv, mask in _loss_cases():
        want = _ppo_loss(logprobs, old, adv, zeros, zeros, zeros, mask, 0.2, 0.2, 0.0)[0]
        got = policy_loss(logprobs.clone(), old.clone(), adv.clone(), mask.clone(), 0.2)
        expect(isinstance(got, torch.Tensor) and got.dim() == 0, f"{what}: got {got!r:.60}, expected a scalar tensor")
        ratio = torch.exp(logprobs - old)
        unclipped = ((-adv * ratio) * mask).sum() / mask.sum()
        pessimistic = (torch.min(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)) * mask).sum() / mask.sum()
        everywhere = torch.max(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)).mean()
        for wrong, why in ((unclipped, "that is the unclipped loss: the ratio must be clipped to [1 − ε, 1 + ε]"),
                           (pessimistic, "the minimum of the two losses is the optimistic bound; PPO takes the "
                                         "maximum of −A·ρ and −A·clip(ρ) (the minimum of the objectives)"),
                           (everywhere, "the mean runs over every position; padding and prompt must not count")):
            if not torch.isclose(wrong, want, atol=1e-6) and torch.isclose(got.detach(), wrong, atol=1e-6):
                expect(False, f"{what}: {why}")
        expect_close(f"{what}: the loss", got, want)
