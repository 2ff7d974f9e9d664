"Chapter 07b's exercise checks accept the chapter's answers and name what is wrong in realistic wrong ones."

import pytest
import torch

from mini_llama.config import ModelArgs
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch07b import _IdsTokenizer, check_pack_rows, check_training_days
from mini_llama.model import Transformer, count_parameters
from mini_llama.pretrain import PackedStream


def packed_stream(docs, seq_len, n_rows, bos_id, eos_id):
    "The chapter's packer, as an answer."
    return PackedStream(lambda: iter(docs), _IdsTokenizer(), seq_len).next_batch(n_rows)


def pack_flat(docs, seq_len, n_rows, bos_id, eos_id, row_len=None, eos=True):
    "A hand-written packer: the stream of bos ids eos, cut into rows (of row_len, seq_len + 1 unless told)."
    row_len = row_len or seq_len + 1
    stream = [t for d in docs for t in [bos_id, *d] + [eos_id] * eos]
    return torch.tensor([stream[r * row_len:(r + 1) * row_len] for r in range(n_rows)])


def one_document_a_row(docs, seq_len, n_rows, bos_id, eos_id):
    "The naive answer: each document its own row, padded with 0 or cut."
    rows = [([bos_id, *d, eos_id] + [0] * (seq_len + 1))[: seq_len + 1] for d in docs[:n_rows]]
    return torch.tensor(rows)


def days(args, n_tokens, n_gpus, peak_flops, mfu, flops_per_token_per_param=6, seconds_per_unit=86400):
    with torch.device("meta"):
        n = count_parameters(Transformer(args))
    return flops_per_token_per_param * n * n_tokens / (n_gpus * mfu * peak_flops) / seconds_per_unit


def not_done(*args):
    raise NotImplementedError


def test_pack_rows_accepts_the_chapter_packer_and_a_hand_written_one(capsys):
    check_pack_rows(packed_stream)
    check_pack_rows(pack_flat)
    assert capsys.readouterr().out.count(": correct") == 2


@pytest.mark.parametrize("wrong, message", [
    (lambda *a: pack_flat(*a, row_len=a[1]), r"rows of 6 tokens, expected 7: a row holds the inputs"),
    (lambda *a: pack_flat(*a, eos=False), r"row 0 differs first at position 3.*no eos anywhere"),
    (one_document_a_row, r"row 0 differs first at position 4.*looks like padding"),
])
def test_pack_rows_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_pack_rows.__wrapped__(wrong)


def test_training_days_accepts_the_estimate(capsys):
    check_training_days(days)
    assert capsys.readouterr().out.startswith("Exercise 2 (how many days a pretraining run takes): correct")


@pytest.mark.parametrize("wrong, message", [
    (lambda *a: days(*a, flops_per_token_per_param=2), r"llama2-7b.*0\.333 times it\): a token costs 6 FLOPs"),
    (lambda *a: days(*a, seconds_per_unit=3600), r"24 times it\): that is hours, not days"),
    (lambda args, n_tokens, n_gpus, peak, mfu: days(args, n_tokens, 1, peak, mfu), r"8 times it\).*divide by n_gpus"),
])
def test_training_days_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_training_days.__wrapped__(wrong)


def test_unsolved_exercises_say_so(capsys):
    check_pack_rows(not_done)
    check_training_days(not_done)
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Exercise {n}: not solved yet (replace the `raise NotImplementedError` with your answer)"
                   for n in ("1 (packing documents into rows)", "2 (how many days a pretraining run takes)")]


def test_the_checks_use_the_real_models():
    assert days(ModelArgs.from_name("llama2-7b"), 2e12, 8, 989e12, 0.4) == pytest.approx(296, abs=1)
