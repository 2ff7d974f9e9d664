"Chapter 09's exercise checks accept the package's answers and name what is wrong in realistic wrong ones."

import pytest
import torch

from mini_llama.data import RATINGS
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch09 import check_last_token_values, check_margin_loss
from mini_llama.reward import margins_of, ranking_loss

MARGINS = {(1.0, 2 / 3, 1 / 3, 0.0): "small", (3.0, 2.0, 1.0, 0.0): "large", (0.0, 0.0, 0.0, 0.0): "none"}


def last_token(values, real):
    last = real.shape[1] - 1 - real.flip(1).int().argmax(1)
    return values.gather(1, last[:, None])[:, 0]


def package_loss(chosen, rejected, ratings, table):
    return ranking_loss(chosen, rejected, margins_of(ratings, MARGINS[tuple(table)]))


def test_right_answers_pass(capsys):
    check_last_token_values(last_token)
    check_margin_loss(package_loss)
    assert capsys.readouterr().out.count(": correct") == 2


def test_an_unsolved_exercise_says_so(capsys):
    def unsolved(*args):
        raise NotImplementedError

    check_last_token_values(unsolved)
    check_margin_loss(unsolved)
    assert capsys.readouterr().out.count("not solved yet") == 2


@pytest.mark.parametrize("wrong, message", [
    (lambda v, real: v[:, -1], "the values at the last column, a pad in some rows"),
    (lambda v, real: v.gather(1, real.int().argmax(1)[:, None])[:, 0], "the values at the first real token"),
    (lambda v, real: v.gather(1, (real.sum(1) - 1)[:, None])[:, 0], "rows padded on the left"),
])
def test_wrong_last_tokens_are_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_last_token_values(wrong)


def test_a_margin_added_instead_of_subtracted_is_named():
    def plus(chosen, rejected, ratings, table):
        m = torch.tensor([table[RATINGS.index(r)] for r in ratings])
        return -torch.nn.functional.logsigmoid(chosen - rejected + m).mean()

    with pytest.raises(ExerciseError, match="the margin is subtracted"):
        check_margin_loss(plus)


def test_an_unstable_loss_is_named():
    def naive(chosen, rejected, ratings, table):
        m = torch.tensor([table[RATINGS.index(r)] for r in ratings])
        return -torch.log(torch.sigmoid(chosen - rejected - m)).mean()

    with pytest.raises(ExerciseError, match="overflows for x far from 0"):
        check_margin_loss(naive)
