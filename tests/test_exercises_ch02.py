"Chapter 02's exercise checks accept a right answer, name what is wrong in a wrong one, and wait for an open one."

import pytest
import torch

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch02 import check_hidden_dim, check_rms_norm
from mini_llama.layers import ffn_hidden_dim


def rms_norm(x, weight, eps):
    "Meta's order: the statistic and the division in float32, cast back to x's dtype, then the gain."
    x32 = x.float()
    return (x32 / torch.sqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * weight


def naive_rms_norm(x, weight, eps):
    "Chapter 02's naive version: every operation in x's dtype."
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def not_solved(*args):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    check_rms_norm(rms_norm)
    check_hidden_dim(ffn_hidden_dim)
    assert capsys.readouterr().out.splitlines() == ["Exercise 1 (RMSNorm from the formula): correct",
                                                    "Exercise 2 (SwiGLU's hidden size): correct"]


def test_naive_norm_in_bfloat16_is_named():
    with pytest.raises(ExerciseError, match=r"bfloat16 \(2, 4096\) with outlier features: \d+ of 8192 values differ"):
        check_rms_norm(naive_rms_norm)


def test_norm_without_eps_is_named():
    with pytest.raises(ExerciseError, match=r"mean square below eps: 64 of 64 values differ"):
        check_rms_norm(lambda x, weight, eps: rms_norm(x, weight, 0.0))


def test_layer_norm_instead_is_named():
    with pytest.raises(ExerciseError, match=r"float32 \(2, 3, 8\), off centre.*values differ"):
        check_rms_norm(lambda x, weight, eps: rms_norm(x - x.mean(-1, keepdim=True), weight, eps))


def test_norm_returning_float32_for_bfloat16_is_named():
    with pytest.raises(ExerciseError, match=r"bfloat16 .*got dtype torch.float32, expected the input's torch.bfloat16"):
        check_rms_norm(lambda x, weight, eps: rms_norm(x.float(), weight.float(), eps))


def test_hidden_dim_rounded_down_is_named():
    def rounded_down(dim, multiple_of, ffn_dim_multiplier):
        return int(2 * 4 * dim / 3) // multiple_of * multiple_of
    with pytest.raises(ExerciseError, match=r"llama2-7b \(dim=4096.*got 10752, expected 11008"):
        check_hidden_dim(rounded_down)


def test_hidden_dim_without_multiplier_is_named_on_70b():
    with pytest.raises(ExerciseError, match=r"llama2-70b .*ffn_dim_multiplier=1.3\): got 24576, expected 28672"):
        check_hidden_dim(lambda dim, multiple_of, ffn_dim_multiplier: ffn_hidden_dim(dim, multiple_of))


def test_open_exercises_say_not_solved(capsys):
    check_rms_norm(not_solved)
    check_hidden_dim(not_solved)
    out = capsys.readouterr().out
    assert out.count("not solved yet (replace the `raise NotImplementedError` with your answer)") == 2
