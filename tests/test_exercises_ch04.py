"""Chapter 04's exercise checks: a correct answer passes, a realistic wrong one is told what is wrong, and an
unsolved one is reported as not solved yet."""

import math

import pytest
import torch

from mini_llama.attention import causal_mask, kv_cache_bytes, naive_attention
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch04 import check_grouped_attention, check_max_batch_size, check_sliding_window_mask


def sliding_window_mask(seqlen, kv_len, window):
    "The causal mask minus everything `window` or more positions back."
    return causal_mask(seqlen, kv_len) & ~torch.ones(seqlen, kv_len, dtype=torch.bool).tril(kv_len - seqlen - window)


def window_from_top_left(seqlen, kv_len, window):
    "Forgets that the queries are the last positions (right for a whole sequence, wrong after cached ones)."
    full = torch.ones(seqlen, kv_len, dtype=torch.bool)
    return full.tril() & ~full.tril(-window)


def window_one_too_wide(seqlen, kv_len, window):
    return sliding_window_mask(seqlen, kv_len, window + 1)


def grouped_attention(q, k, v):
    "Query heads viewed as (n_kv_heads, n_rep) groups, each group against its own key/value head by broadcasting."
    bs, n_heads, seqlen, head_dim = q.shape
    groups = q.view(bs, k.shape[1], n_heads // k.shape[1], seqlen, head_dim)
    scores = groups @ k[:, :, None].transpose(-2, -1) / math.sqrt(head_dim)
    weights = scores.masked_fill(~causal_mask(seqlen, seqlen), float("-inf")).softmax(-1)
    return (weights @ v[:, :, None]).reshape(bs, n_heads, seqlen, head_dim)


def grouped_attention_strided(q, k, v):
    "Groups query heads h, h + n_kv_heads, ... (what `k.repeat(1, n_rep, 1, 1)` would do), not consecutive ones."
    bs, n_heads, seqlen, head_dim = q.shape
    groups = q.view(bs, n_heads // k.shape[1], k.shape[1], seqlen, head_dim)
    scores = groups @ k[:, None].transpose(-2, -1) / math.sqrt(head_dim)
    weights = scores.masked_fill(~causal_mask(seqlen, seqlen), float("-inf")).softmax(-1)
    return (weights @ v[:, None]).reshape(bs, n_heads, seqlen, head_dim)


def max_batch_size(args, seq_len, memory_bytes):
    return memory_bytes // kv_cache_bytes(args, seq_len)


def not_solved(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, answer, title", [
    (check_sliding_window_mask, sliding_window_mask, "Exercise 1 (a sliding-window mask)"),
    (check_grouped_attention, grouped_attention, "Exercise 2 (grouped-query attention without copies)"),
    (check_max_batch_size, max_batch_size, "Exercise 3 (the largest batch that fits)"),
])
def test_a_correct_answer_passes(check, answer, title, capsys):
    check(answer)
    assert capsys.readouterr().out == f"{title}: correct\n"


def test_grouped_attention_with_the_package_path_passes(capsys):
    check_grouped_attention(lambda q, k, v: naive_attention(q, k, v, causal_mask(q.shape[2], k.shape[2])))
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (window_from_top_left, r"sliding_window_mask\(2, 7, window=3\): 9 wrong entries; the first, query 0 "
                           r"\(at position 5\) and key position 0, is True, expected False"),
    (window_one_too_wide, r"sliding_window_mask\(6, 6, window=3\): 3 wrong entries"),
    (lambda *a: causal_mask(*a[:2]).int(), r"expected a torch\.bool tensor, got torch\.int32"),
    (lambda seqlen, kv_len, window: sliding_window_mask(seqlen, seqlen, window),  # keys of the new tokens only
     r"shape: got \(2, 2\), expected \(2, 7\)"),
])
def test_sliding_window_mask_names_what_is_wrong(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_sliding_window_mask(wrong)


def test_grouped_attention_names_the_query_head_with_the_wrong_keys():
    with pytest.raises(ExerciseError, match=r"4 query heads, 2 key/value heads.*query head 1 \(served by key/value "
                                            r"head 0\): 80 of 80 values differ"):
        check_grouped_attention(grouped_attention_strided)


def test_grouped_attention_rejects_attention_without_the_mask():
    unmasked = lambda q, k, v: naive_attention(q, k, v)  # noqa: E731
    with pytest.raises(ExerciseError, match=r"4 query heads, 4 key/value heads.*query head 0"):
        check_grouped_attention(unmasked)


@pytest.mark.parametrize("wrong, message", [
    (lambda args, seq_len, memory: round(memory / kv_cache_bytes(args, seq_len)),
     r"llama2-13b, 4096 tokens, 80 GiB: got 26, expected 25 \(each sequence's cache takes 3\.125 GiB, "
     r"so 26 take 81\.25 GiB\)"),
    (lambda args, seq_len, memory: memory // (kv_cache_bytes(args, seq_len) // 2),  # keys only
     r"llama2-7b, 4096 tokens, 80 GiB: got 80, expected 40"),
    (lambda args, seq_len, memory: memory / kv_cache_bytes(args, seq_len), r"expected an int, got 40\.0"),
])
def test_max_batch_size_names_what_is_wrong(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_max_batch_size(wrong)


@pytest.mark.parametrize("check", [check_sliding_window_mask, check_grouped_attention, check_max_batch_size])
def test_an_unsolved_exercise_is_reported_as_open(check, capsys):
    check(not_solved)
    assert "not solved yet" in capsys.readouterr().out
