"""Checks for chapter 09's exercises (reward models): the reward read at each row's last real token, and the ranking
loss with the paper's margin."""

import torch
import torch.nn.functional as F

from mini_llama.data import RATINGS
from mini_llama.exercises import exercise, expect, expect_close

__all__ = ["check_last_token_values", "check_margin_loss"]


def _padded_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(3, 7, generator=gen)
    lengths = torch.tensor([7, 4, 1])
    right = torch.arange(7)[None, :] < lengths[:, None]
    left = torch.arange(7)[None, :] >= (7 - lengths)[:, None]
    mixed = right.clone()
    mixed[1] = torch.tensor([False, False, True, True, True, False, False])  # pads on both sides
    return [("rows padded on the right", values, right), ("rows padded on the left", values, left),
            ("a row with pads on both sides", values, mixed)]


@exercise("Exercise 1 (the reward at the last real token)")
def check_last_token_values(last_token_values) -> None:
    """`last_token_values(values, real)`: values (bs, seqlen), real (bs, seqlen) True on each row's one run of real
    tokens; the (bs,) values at each row's last real token."""
    for what, values, real in _padded_cases():
        last = torch.tensor([max(i for i, r in enumerate(row) if r) for row in real.tolist()])
        want = values[torch.arange(len(values)), last]
        got = last_token_values(values.clone(), real.clone())
        if isinstance(got, torch.Tensor) and got.shape == want.shape and not torch.allclose(got, want):
            first = torch.tensor([min(i for i, r in enumerate(row) if r) for row in real.tolist()])
            hint = ("these are the values at the first real token" if torch.allclose(got, values[torch.arange(3), first])
                    else "these are the values at the last column, a pad in some rows"
                    if torch.allclose(got, values[:, -1]) else "look for the last True of each row")
            expect(False, f"{what}: got {got.tolist()}, expected {want.tolist()}: {hint}")
        expect_close(what, got, want)


def _loss_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, list[str], tuple]]:
    gen = torch.Generator().manual_seed(1)
    chosen, rejected = torch.randn(8, generator=gen) * 2, torch.randn(8, generator=gen) * 2
    ratings = [RATINGS[i % 4] for i in range(8)]
    far = torch.tensor([100.0, -100.0, 60.0, -60.0])
    return [("the small margin", chosen, rejected, ratings, (1.0, 2 / 3, 1 / 3, 0.0)),
            ("the large margin", chosen, rejected, ratings, (3.0, 2.0, 1.0, 0.0)),
            ("no margin", chosen, rejected, ratings, (0.0, 0.0, 0.0, 0.0)),
            ("scores ±100 apart", far, -far, list(RATINGS), (1.0, 2 / 3, 1 / 3, 0.0))]


@exercise("Exercise 2 (the margin loss)")
def check_margin_loss(margin_loss) -> None:
    """`margin_loss(r_chosen, r_rejected, ratings, table)`: the mean over pairs of -log σ(r_chosen − r_rejected −
    m(rating)), m read from `table` in the order of RATINGS; finite for differences of ±100."""
    for what, chosen, rejected, ratings, table in _loss_cases():
        margins = torch.tensor([table[RATINGS.index(r)] for r in ratings])
        want = -F.logsigmoid(chosen - rejected - margins).mean()
        got = margin_loss(chosen.clone(), rejected.clone(), list(ratings), table)
        expect(isinstance(got, torch.Tensor), f"{what}: got a {type(got).__name__}, expected a scalar tensor")
        got = got.reshape(()) if got.numel() == 1 else got
        expect(bool(torch.isfinite(got).all()), f"{what}: the loss is {got.tolist()}: log(sigmoid(x)) overflows for "
                                                f"x far from 0; write it as -softplus(-x), or log1p(exp(-x)) for x > 0")
        plus = -F.logsigmoid(chosen - rejected + margins).mean()
        if got.shape == () and abs(got.item() - plus.item()) < 1e-4 and abs(got.item() - want.item()) > 1e-4:
            expect(False, f"{what}: got {got.item():.4f}, expected {want.item():.4f}: the margin is subtracted, so "
                          f"that the chosen answer must clear it")
        expect_close(what, got, want, atol=1e-4, rtol=1e-4)
