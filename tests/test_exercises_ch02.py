"Chapter 02's exercise checks accept a right answer, name what is wrong in a wrong one, and wait for an open one."

import pytest
import torch

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch02 import check_rms_norm_backward, check_smallest_multiplier
from mini_llama.layers import ffn_hidden_dim


def rms_norm_backward(x, weight, eps, grad_out, rms_constant=False):
    "y = x / r * g with r = sqrt(mean(x²) + eps): dx = g dy / r - x (sum(g dy x) / (d r³)); dg = sum over tokens."
    r = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    g_dy = grad_out * weight
    grad_x = g_dy / r
    if not rms_constant:  # wrong when skipped: r depends on x too
        grad_x = grad_x - x * (g_dy * x).sum(-1, keepdim=True) / (x.shape[-1] * r**3)
    grad_weight = (grad_out * x / r).reshape(-1, x.shape[-1]).sum(0)
    return grad_x, grad_weight


def smallest_multiplier(dim, multiple_of, hidden):
    return next((k / 100 for k in range(1, 401) if ffn_hidden_dim(dim, multiple_of, k / 100) == hidden), None)


def not_solved(*args):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    check_rms_norm_backward(rms_norm_backward)
    check_smallest_multiplier(smallest_multiplier)
    assert capsys.readouterr().out.splitlines() == ["Exercise 1 (RMSNorm's gradient): correct",
                                                    "Exercise 2 (the hidden-size rule inverted): correct"]


def test_rms_taken_as_constant_is_named():
    with pytest.raises(ExerciseError, match=r"\(2, 3, 8\), off centre, a trained gain, grad_x: \d+ of 48 values"):
        check_rms_norm_backward(lambda *args: rms_norm_backward(*args, rms_constant=True))


def test_gain_gradient_not_summed_over_tokens_is_named():
    def per_token(x, weight, eps, grad_out):
        grad_x, _ = rms_norm_backward(x, weight, eps, grad_out)
        return grad_x, grad_out * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    with pytest.raises(ExerciseError, match=r"a trained gain, grad_weight: got shape \(2, 3, 8\), expected \(8,\)"):
        check_rms_norm_backward(per_token)


def test_gradient_without_eps_is_named():
    with pytest.raises(ExerciseError, match=r"mean square below eps, grad_x: \d+ of 64 values differ"):
        check_rms_norm_backward(lambda x, weight, eps, grad_out: rms_norm_backward(x, weight, 0.0, grad_out))


def test_coarse_grid_is_named():
    def tenths(dim, multiple_of, hidden):  # searches 0.1, 0.2, ...: misses 7B's 0.99 and 70B's 1.13
        return next((k / 10 for k in range(1, 41) if ffn_hidden_dim(dim, multiple_of, k / 10) == hidden), None)
    with pytest.raises(ExerciseError, match=r"llama2-7b .*got 1.0, which gives hidden 11008; expected 0.99"):
        check_smallest_multiplier(tenths)


def test_unreachable_size_must_be_none():
    def never_none(dim, multiple_of, hidden):
        return smallest_multiplier(dim, multiple_of, hidden) or 4.0
    with pytest.raises(ExerciseError, match=r"11000, not a multiple of 256 .*got 4.0, expected None"):
        check_smallest_multiplier(never_none)


def test_open_exercises_say_not_solved(capsys):
    check_rms_norm_backward(not_solved)
    check_smallest_multiplier(not_solved)
    out = capsys.readouterr().out
    assert out.count("not solved yet (replace the `raise NotImplementedError` with your answer)") == 2
