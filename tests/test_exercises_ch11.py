"Chapter 11's exercise checks accept the package's answers and name what is wrong in realistic wrong ones."

import pytest
import torch

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch11 import check_clipped_loss, check_gae
from mini_llama.ppo import gae, ppo_loss


def clipped(logprobs, old, advantages, mask, clip):
    zeros = torch.zeros_like(logprobs)
    return ppo_loss(logprobs, old, advantages, zeros, zeros, zeros, mask, clip, 0.2, 0.0)[0]


def test_right_answers_pass(capsys):
    check_gae(gae)
    check_clipped_loss(clipped)
    assert capsys.readouterr().out.count(": correct") == 2


def test_an_unsolved_exercise_says_so(capsys):
    def unsolved(*args):
        raise NotImplementedError

    check_gae(unsolved)
    check_clipped_loss(unsolved)
    assert capsys.readouterr().out.count("not solved yet") == 2


def bootstraps_past_the_end(rewards, values, mask, gamma, lam):
    adv, _ = gae(rewards, values, torch.ones_like(mask), gamma, lam)
    adv = torch.where(mask, adv, 0.0)
    return adv, torch.where(mask, adv + values, 0.0)


@pytest.mark.parametrize("wrong, message", [
    (lambda r, v, m, g, lam: (gae(r, v, m, g, lam)[0], gae(r, v, m, g, lam)[0]), "returns = advantages \\+ values"),
    (bootstraps_past_the_end, "nothing follows the answer"),
    (lambda r, v, m, g, lam: (gae(r, v, m, g, lam)[0] + (~m).float(), gae(r, v, m, g, lam)[1]), "not 0"),
    (lambda r, v, m, g, lam: gae(r, v, m, g, 1.0), "the advantages"),
])
def test_a_wrong_gae_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_gae(wrong)


def masked(x, mask):
    return (x * mask).sum() / mask.sum()


@pytest.mark.parametrize("wrong, message", [
    (lambda lp, old, a, m, c: masked(-a * torch.exp(lp - old), m), "unclipped"),
    (lambda lp, old, a, m, c: masked(torch.min(-a * torch.exp(lp - old), -a * torch.exp(lp - old).clamp(1 - c, 1 + c)),
                                     m), "maximum"),
    (lambda lp, old, a, m, c: torch.max(-a * torch.exp(lp - old), -a * torch.exp(lp - old).clamp(1 - c, 1 + c)).mean(),
     "padding"),
])
def test_a_wrong_clipped_loss_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_clipped_loss(wrong)
