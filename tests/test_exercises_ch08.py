"Chapter 08's exercise checks accept the package's answers and name what is wrong in realistic wrong ones."

import pytest
import torch
import torch.nn.functional as F

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch08 import check_dialog_mask, check_masked_loss
from mini_llama.sft import IGNORE
from mini_llama.shelf import course_tokenizer
from mini_llama.tokenizer import encode_dialog_for_training

TOK = course_tokenizer()


def without_eos(tokenizer, dialog):
    "The answers learned, but not the eos that ends them."
    ids, mask = encode_dialog_for_training(tokenizer, dialog)
    return ids, [m and i != tokenizer.eos_id for i, m in zip(ids, mask, strict=True)]


def everything_learned(tokenizer, dialog):
    "No mask at all: pretraining's objective."
    ids, _ = encode_dialog_for_training(tokenizer, dialog)
    return ids, [True] * len(ids)


def one_bos_for_the_dialog(tokenizer, dialog):
    "The whole dialogue as one sequence: a single bos, eos only at the end."
    ids, mask = encode_dialog_for_training(tokenizer, dialog)
    keep = [p == 0 or (i != tokenizer.bos_id and (i != tokenizer.eos_id or p == len(ids) - 1))
            for p, i in enumerate(ids)]
    return [i for i, k in zip(ids, keep, strict=True) if k], [m for m, k in zip(mask, keep, strict=True) if k]


def sum_over_all_positions(logits, targets):
    "Ignored targets count as zero loss but still in the mean."
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE,
                             reduction="none")
    return losses.mean()


def mean_of_row_means(logits, targets):
    "Each row's mean, then the mean of the rows."
    rows = [F.cross_entropy(lg, t, ignore_index=IGNORE) for lg, t in zip(logits, targets, strict=True)]
    return torch.stack([r for r in rows if not r.isnan()]).mean()


def package_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


def not_done(*args):
    raise NotImplementedError


def test_the_package_answers_pass(capsys):
    check_dialog_mask(encode_dialog_for_training, TOK)
    check_masked_loss(package_loss)
    assert capsys.readouterr().out.count(": correct") == 2


@pytest.mark.parametrize("wrong, message", [
    (without_eos, r"one question, one answer: the mask at position \d+ \(piece '</s>'\) is False, expected True: "
                  r"the eos that closes an answer is learned"),
    (everything_learned, r"the mask at position 0 .* is True, expected False: the prompt .* is not the model's"),
    (one_bos_for_the_dialog, r"two turns: the ids differ first at position \d+.*each exchange is bos"),
])
def test_dialog_mask_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_dialog_mask.__wrapped__(wrong, TOK)


@pytest.mark.parametrize("wrong, message", [
    (sum_over_all_positions, r"rows with different numbers of learned targets: got .*the mean over the 5 learned"),
    (mean_of_row_means, r"rows with different numbers of learned targets: got .*not a mean of the rows' means"),
])
def test_masked_loss_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_masked_loss.__wrapped__(wrong)


def test_unsolved_exercises_say_so(capsys):
    check_dialog_mask(not_done, TOK)
    check_masked_loss(not_done)
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Exercise {n}: not solved yet (replace the `raise NotImplementedError` with your answer)"
                   for n in ("1 (the assistant mask of a dialogue)", "2 (the loss on the learned targets only)")]
