"Chapter 00's exercise checks accept a right answer, name what is wrong in a wrong one, and wait for an open one."

import pytest

from mini_llama.attention import kv_cache_bytes
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch00 import check_kv_cache_bytes, check_parameter_count
from mini_llama.layers import ffn_hidden_dim


def parameters_by_formula(args, gqa=True):
    "Embedding and output, then per layer: wq, wk, wv, wo, the three SwiGLU matrices and two norms; a final norm."
    kv_dim = (args.n_kv_heads if gqa else args.n_heads) * args.head_dim
    hidden = ffn_hidden_dim(args.dim, args.multiple_of, args.ffn_dim_multiplier)
    per_layer = 2 * args.dim * args.dim + 2 * args.dim * kv_dim + 3 * args.dim * hidden + 2 * args.dim
    return 2 * args.vocab_size * args.dim + args.n_layers * per_layer + args.dim


def cache_bytes_without_gqa(args, seq_len, batch_size):
    return 2 * args.n_layers * batch_size * seq_len * args.n_heads * args.head_dim * 2


def not_solved(*args):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    check_parameter_count(parameters_by_formula)
    check_kv_cache_bytes(kv_cache_bytes)
    assert capsys.readouterr().out.splitlines() == ["Exercise 1 (parameter count): correct",
                                                    "Exercise 2 (KV-cache bytes): correct"]


def test_parameter_count_without_gqa_is_named_on_70b():
    with pytest.raises(ExerciseError, match=r"llama2-70b .*n_kv_heads=8.*got 78,371,889,152, expected 68,976,648,192"):
        check_parameter_count(lambda args: parameters_by_formula(args, gqa=False))


def test_parameter_count_must_be_an_int():
    with pytest.raises(ExerciseError, match="llama2-7b .*of type float, expected an int"):
        check_parameter_count(lambda args: float(parameters_by_formula(args)))


def test_kv_cache_without_gqa_is_eight_times_too_big_on_70b():
    with pytest.raises(ExerciseError, match=r"llama2-70b .*got / expected = 8\)"):
        check_kv_cache_bytes(cache_bytes_without_gqa)


def test_kv_cache_keys_only_is_half():
    with pytest.raises(ExerciseError, match=r"llama2-7b .*seq_len=4096.*got / expected = 0.5\)"):
        check_kv_cache_bytes(lambda args, seq_len, batch_size: kv_cache_bytes(args, seq_len, batch_size) // 2)


def test_open_exercises_say_not_solved(capsys):
    check_parameter_count(not_solved)
    check_kv_cache_bytes(not_solved)
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Exercise {n}: not solved yet (replace the `raise NotImplementedError` with your answer)"
                   for n in ("1 (parameter count)", "2 (KV-cache bytes)")]
