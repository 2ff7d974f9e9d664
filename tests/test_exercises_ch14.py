"Chapter 14's exercise checks accept right answers and name what is wrong in realistic wrong ones."

import math

import pytest

from mini_llama import eval as ev
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch14 import check_paired_difference, check_pareto_front


def paired_difference(a, b):
    return ev.mean_and_se([x - y for x, y in zip(a, b, strict=True)])


def dominates(p, q):
    return p[0] >= q[0] and p[1] <= q[1] and p != q


def pareto_front(points):
    return [name for name, p in points.items() if not any(dominates(q, p) for q in points.values())]


def test_right_answers_pass(capsys):
    check_paired_difference(paired_difference)
    check_pareto_front(pareto_front)
    assert capsys.readouterr().out.count(": correct") == 2


def test_an_unsolved_exercise_says_so(capsys):
    def unsolved(*args):
        raise NotImplementedError

    check_paired_difference(unsolved)
    check_pareto_front(unsolved)
    assert capsys.readouterr().out.count("not solved yet") == 2


def unpaired(a, b):
    return ev.mean(a) - ev.mean(b), math.hypot(ev.mean_and_se(a)[1], ev.mean_and_se(b)[1])


@pytest.mark.parametrize("wrong, message", [
    (unpaired, "treats the two as independent"),
    (lambda a, b: (ev.mean(b) - ev.mean(a), paired_difference(a, b)[1]), "difference"),
])
def test_a_wrong_difference_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_paired_difference(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda points: [n for n, p in points.items()
                     if not any(q[0] > p[0] and q[1] < p[1] for q in points.values())], "'b' dominates it"),
    (lambda points: [max(points, key=lambda n: points[n][0])], "a trade-off"),
])
def test_a_wrong_front_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_pareto_front(wrong)
