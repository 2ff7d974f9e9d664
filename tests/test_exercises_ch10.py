"Chapter 10's exercise checks accept the package's answers and name what is wrong in realistic wrong ones."

import math

import pytest

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch10 import check_combined_reward, check_kl_best_of_k
from mini_llama.rejection import best_of_k_kl, combined_reward


def test_right_answers_pass(capsys):
    check_kl_best_of_k(best_of_k_kl)
    check_combined_reward(combined_reward)
    assert capsys.readouterr().out.count(": correct") == 2


def test_an_unsolved_exercise_says_so(capsys):
    def unsolved(*args):
        raise NotImplementedError

    check_kl_best_of_k(unsolved)
    check_combined_reward(unsolved)
    assert capsys.readouterr().out.count("not solved yet") == 2


@pytest.mark.parametrize("wrong, message", [
    (lambda probs, k: best_of_k_kl(probs[::-1], k), "the best answer is the last of `probs`"),
    (lambda probs, k: math.log(k) - (k - 1) / k, "that is the closed form"),
    (lambda probs, k: best_of_k_kl(probs, k) / 2, "expected"),
])
def test_a_wrong_kl_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_kl_best_of_k(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda h, s, adversarial: s if adversarial or s < 0.15 else h, "in sigmoid space"),
    (lambda h, s, adversarial: s if adversarial else h, "a task answer the safety model finds unsafe"),
    (lambda h, s, adversarial: s if s < math.log(0.15 / 0.85) else h, "an adversarial prompt, a safe answer"),
])
def test_a_wrong_combination_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_combined_reward(wrong)
