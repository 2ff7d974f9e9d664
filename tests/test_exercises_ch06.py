"""Chapter 06's exercise checks accept right answers, name what is wrong in realistic wrong ones, and say "not solved
yet" for an untouched exercise."""

import pytest
import torch

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch06 import TOP_P_CASES, check_greedy_with_cache, check_top_p_filter, top_p_reference
from mini_llama.generation import sample_top_p


def not_solved(*args):
    raise NotImplementedError


def test_reference_keeps_what_sample_top_p_draws():
    "The check's rule is the sampler's: on every case, the tokens drawn are exactly those the reference keeps."
    for name, rows, p in TOP_P_CASES:
        probs = torch.tensor(rows)
        draws = sample_top_p(probs.repeat_interleave(2000, 0), p, torch.Generator().manual_seed(0))
        drawn = [torch.bincount(d, minlength=probs.shape[1]) > 0 for d in draws.view(len(rows), 2000)]
        kept = top_p_reference(probs.double(), p) > 0
        if "ties" not in name:  # with a tie at the cut, the sort decides which tied token is kept
            assert all(torch.equal(d, k) for d, k in zip(drawn, kept, strict=True)), name
        assert [int(d.sum()) for d in drawn] == kept.sum(-1).tolist(), name


def test_top_p_filter_accepts_the_rule(capsys):
    check_top_p_filter(top_p_reference)
    assert capsys.readouterr().out.strip() == "Exercise 1 (top-p filtering): correct"


def cut_when_the_nucleus_reaches_p(probs, p):
    "Drops the token whose own probability takes the mass past p: one token too few."
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    kept = torch.where(sorted_probs.cumsum(-1) > p, 0.0, sorted_probs)
    kept = torch.zeros_like(probs).scatter(-1, order, kept)
    return kept / kept.sum(-1, keepdim=True)


def not_renormalised(probs, p):
    return top_p_reference(probs, p) * torch.where(top_p_reference(probs, p) > 0, probs, 0).sum(-1, keepdim=True)


def in_sorted_order(probs, p):
    "Forgets to put the kept probabilities back in the vocabulary's order."
    return torch.sort(top_p_reference(probs, p), dim=-1, descending=True).values


@pytest.mark.parametrize("wrong, message", [(cut_when_the_nucleus_reaches_p, "number of tokens kept"),
                                            (not_renormalised, "sums of the rows"),
                                            (in_sorted_order, "rescaled by one factor")])
def test_top_p_filter_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_top_p_filter(wrong)


@torch.inference_mode()
def greedy_with_cache(model, prompt, n, position_of=lambda pos: pos):
    "The prompt once, then each new token alone at its position (`position_of` lets a test break it)."
    model.setup_caches(1, len(prompt) + n)
    logits, out = model(torch.tensor([prompt]), start_pos=0), []
    for pos in range(len(prompt), len(prompt) + n):
        out.append(int(logits[0, -1].argmax()))
        if len(out) < n:
            logits = model(torch.tensor([[out[-1]]]), start_pos=position_of(pos))
    model.clear_caches()
    return out


@torch.inference_mode()
def greedy_without_cache(model, prompt, n):
    "Chapter 06's naive loop: right tokens, the whole sequence every step."
    tokens = list(prompt)
    for _ in range(n):
        tokens.append(int(model(torch.tensor([tokens]))[0, -1].argmax()))
    return tokens[len(prompt):]


def test_greedy_with_cache_accepts_the_cached_loop(capsys):
    check_greedy_with_cache(greedy_with_cache)
    assert capsys.readouterr().out.strip() == "Exercise 2 (greedy decoding through the KV cache): correct"


@pytest.mark.parametrize("wrong, message", [
    (greedy_without_cache, "tokens run through the model in all"),
    (lambda m, p, n: greedy_with_cache(m, p, n, position_of=lambda pos: 0), r"token \d+ is .*wrong start_pos"),
    (lambda m, p, n: greedy_with_cache(m, p, n, position_of=lambda pos: pos + 1), "wrong start_pos"),
    (lambda m, p, n: greedy_with_cache(m, p, n + 1), "number of generated tokens"),
])
def test_greedy_with_cache_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_greedy_with_cache(wrong)


@pytest.mark.parametrize("check", [check_top_p_filter, check_greedy_with_cache])
def test_not_solved_yet(check, capsys):
    check(not_solved)
    assert "not solved yet" in capsys.readouterr().out
