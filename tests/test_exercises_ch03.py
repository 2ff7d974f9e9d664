"""Chapter 03's exercise checks: a correct answer passes, a realistic wrong one is told what is wrong, and an
unsolved one is reported as not solved yet."""

import pytest
import torch

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch03 import check_rope_rotate_half, check_score_from_distance
from mini_llama.rope import precompute_cos_sin, precompute_freqs_cis, rotate, rotate_half


def rope_rotate_half(x, positions, theta=10000.0):
    "The package's tables read at the positions: the answer the check expects."
    cos, sin = precompute_cos_sin(x.shape[-1], int(positions.max()) + 1, theta)
    cos, sin = cos[positions][:, None], sin[positions][:, None]  # (seqlen, 1, hd)
    return x * cos + rotate_half(x) * sin


def rope_adjacent_pairs(x, positions, theta=10000.0):
    "Meta's pairing (2j, 2j+1) instead of Hugging Face's (j, j + hd/2)."
    return rotate(x, precompute_freqs_cis(x.shape[-1], int(positions.max()) + 1, theta)[positions])


def rope_from_zero(x, positions, theta=10000.0):
    "Ignores the positions given and counts from 0."
    return rope_rotate_half(x, torch.arange(x.shape[1]), theta)


def score_from_distance(q, k, distance, theta=10000.0):
    "Re(sum_j z_q conj(z_k) e^(-i d θ_j)) over Meta's complex pairs."
    freqs = theta ** (-torch.arange(0, q.shape[-1], 2, dtype=torch.float64) / q.shape[-1])
    zq = torch.complex(q[0::2].double(), q[1::2].double())
    zk = torch.complex(k[0::2].double(), k[1::2].double())
    return (zq * zk.conj() * torch.polar(torch.ones_like(freqs), -distance * freqs)).sum().real


def not_solved(*args):
    raise NotImplementedError


def test_rope_rotate_half_accepts_the_package_form(capsys):
    check_rope_rotate_half(rope_rotate_half)
    assert capsys.readouterr().out == "Exercise 1 (RoPE in Hugging Face's pairing): correct\n"


@pytest.mark.parametrize("wrong, message", [
    (rope_adjacent_pairs, r"x \(1, 1, 1, 4\) at position 1: 4 of 4 values differ"),
    (rope_from_zero, r"x \(1, 1, 1, 4\) at position 1: .* values differ"),
    (lambda x, positions, theta=10000.0: rope_rotate_half(x, positions, theta).double(), r"dtype torch\.float32"),
])
def test_rope_rotate_half_names_what_is_wrong(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_rope_rotate_half(wrong)


def test_score_from_distance_accepts_the_complex_sum(capsys):
    check_score_from_distance(score_from_distance)
    assert capsys.readouterr().out == "Exercise 2 (the score from the distance alone): correct\n"


def test_score_from_distance_rejects_the_opposite_distance():
    opposite = lambda q, k, distance, theta=10000.0: score_from_distance(q, k, -distance, theta)  # noqa: E731
    with pytest.raises(ExerciseError, match=r"distance n - m = 7\), theta=10000: got .*, expected"):
        check_score_from_distance(opposite)


def test_score_from_distance_rejects_a_vector():
    per_pair = lambda q, k, distance, theta=10000.0: q * k  # noqa: E731
    with pytest.raises(ExerciseError, match="expected one number"):
        check_score_from_distance(per_pair)


@pytest.mark.parametrize("check", [check_rope_rotate_half, check_score_from_distance])
def test_an_unsolved_exercise_is_reported_as_open(check, capsys):
    check(not_solved)
    assert "not solved yet" in capsys.readouterr().out
