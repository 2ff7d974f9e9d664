"Chapter 12's exercise checks accept right answers and name what is wrong in realistic wrong ones."

import pytest

from mini_llama import sft
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch12 import check_after_first_slip, check_ghost_targets
from mini_llama.gatt import last_turn_example
from mini_llama.shelf import course_tokenizer


@pytest.fixture(scope="module")
def tok():
    return course_tokenizer()


def after_first_slip(scores):
    after = [s for conv in scores for t, s in enumerate(conv) if any(x < 1.0 for x in conv[:t])]
    return sum(s == 1.0 for s in after) / len(after) if after else None


def test_right_answers_pass(tok, capsys):
    check_ghost_targets(lambda tokenizer, dialog: last_turn_example(tokenizer, dialog, 10_000), tok)
    check_after_first_slip(after_first_slip)
    assert capsys.readouterr().out.count(": correct") == 2


def test_an_unsolved_exercise_says_so(tok, capsys):
    def unsolved(*args):
        raise NotImplementedError

    check_ghost_targets(unsolved, tok)
    check_after_first_slip(unsolved)
    assert capsys.readouterr().out.count("not solved yet") == 2


def without_eos(tokenizer, dialog):
    inputs, targets = last_turn_example(tokenizer, dialog, 10_000)
    return inputs, targets[:-1] + [sft.IGNORE]


@pytest.mark.parametrize("wrong, message", [
    (lambda tokenizer, dialog: sft.dialog_example(tokenizer, dialog), "that is SFT's mask"),
    (without_eos, "the eos after the last answer is a target too"),
    (lambda tokenizer, dialog: (last_turn_example(tokenizer, dialog, 10_000)[0],
                                [t if y != sft.IGNORE else sft.IGNORE for t, y in
                                 zip(last_turn_example(tokenizer, dialog, 10_000)[0],
                                     last_turn_example(tokenizer, dialog, 10_000)[1], strict=True)]),
     "a target is the next token"),
])
def test_a_wrong_mask_is_named(tok, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_ghost_targets(wrong, tok)


@pytest.mark.parametrize("wrong, message", [
    (lambda scores: sum(s == 1.0 for c in scores for s in c) / sum(len(c) for c in scores),
     "the share of all turns that obey"),
    (lambda scores: 0.0, "expected 1.000"),
    (lambda scores: 1.0, "expected None"),
])
def test_a_wrong_share_is_named(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_after_first_slip(wrong)
