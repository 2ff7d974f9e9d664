"Chapter 13's exercise checks accept right answers and name what is wrong in realistic wrong ones."

import math

import pytest

from mini_llama import eval as ev
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch13 import check_breakdown_by, check_targeted_dialogs
from mini_llama.safety import with_preprompt


def targeted_dialogs(prompts, distilled, plain_scores, distilled_scores):
    return [p.dialog + [{"role": "assistant", "content": a}]
            for p, a, own, new in zip(prompts, distilled, plain_scores, distilled_scores, strict=True) if new > own]


def breakdown_by(prompts, flags, key):
    groups = {}
    for p, f in zip(prompts, flags, strict=True):
        groups.setdefault(getattr(p, key), []).append(f)
    return {g: ev.mean_and_se(fs) for g, fs in groups.items()}


def test_right_answers_pass(capsys):
    check_targeted_dialogs(targeted_dialogs)
    check_breakdown_by(breakdown_by)
    assert capsys.readouterr().out.count(": correct") == 2


def test_an_unsolved_exercise_says_so(capsys):
    def unsolved(*args):
        raise NotImplementedError

    check_targeted_dialogs(unsolved)
    check_breakdown_by(unsolved)
    assert capsys.readouterr().out.count("not solved yet") == 2


@pytest.mark.parametrize("wrong, message", [
    (lambda ps, ds, own, new: [p.dialog + [{"role": "assistant", "content": a}]
                               for p, a, o, n in zip(ps, ds, own, new, strict=True) if n >= o], "a tie was kept"),
    (lambda ps, ds, own, new: [with_preprompt(p.dialog, "You are a safe assistant.") + [
        {"role": "assistant", "content": a}] for p, a, o, n in zip(ps, ds, own, new, strict=True) if n > o],
     "starts with a system message"),
    (lambda ps, ds, own, new: [p.dialog + [{"role": "assistant", "content": a}] for p, a in zip(ps, ds, strict=True)],
     "the number of dialogues"),
])
def test_a_wrong_rule_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_targeted_dialogs(wrong)


def population_se(prompts, flags, key):
    out = {}
    for g, (rate, se) in breakdown_by(prompts, flags, key).items():
        n = sum(getattr(p, key) == g for p in prompts)
        out[g] = (rate, se * math.sqrt((n - 1) / n) if n > 1 else math.nan)
    return out


@pytest.mark.parametrize("wrong, message", [
    (population_se, "that divides by n"),
    (lambda prompts, flags, key: {g: (r, 0.0) for g, (r, _) in breakdown_by(prompts, flags, key).items()},
     "standard error"),
    (lambda prompts, flags, key: breakdown_by(prompts, flags, "category"), "the groups"),
])
def test_a_wrong_breakdown_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_breakdown_by(wrong)
