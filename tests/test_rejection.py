"""Rejection sampling (chapter 10): best-of-K's KL from the policy against its closed form, the distribution best-of-K
draws from, the paper's combination of the two reward models, and bad input refused by name."""

import math
from collections import Counter

import pytest
import torch

from mini_llama import data, rejection, reward
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer

LOGIT_015 = math.log(0.15 / 0.85)  # σ of it is the paper's safety threshold


@pytest.mark.parametrize("k", [1, 2, 4, 8, 16, 64])
def test_best_of_k_kl_is_the_closed_form_when_no_two_samples_are_alike(k):
    policy = [1e-5] * 100_000  # 100,000 equally likely answers: two samples of 64 coincide with odds of about 2 %
    assert rejection.best_of_k_kl(policy, k) == pytest.approx(rejection.best_of_k_kl_bound(k), abs=1e-3)
    assert rejection.best_of_k_kl_bound(16) == pytest.approx(math.log(16) - 15 / 16)


def test_best_of_k_moves_less_far_when_the_policy_repeats_itself():
    for probs in ([0.5, 0.5], [0.1] * 10, [0.7, 0.2, 0.1]):
        for k in (2, 8):
            assert 0 < rejection.best_of_k_kl(probs, k) < rejection.best_of_k_kl_bound(k)
    assert rejection.best_of_k_kl([1.0], 16) == 0.0  # one answer: best-of-K is the policy
    assert rejection.best_of_k_kl([0.5, 0.5], 16) < math.log(2)  # at most a point mass on the better of two
    # an answer too unlikely to register beside the mass below it adds nothing, rather than a log of 0
    assert rejection.best_of_k_kl([0.5, 1e-18, 0.5 - 1e-18], 2) == pytest.approx(rejection.best_of_k_kl([0.5, 0.5], 2))


def test_best_of_draws_each_answer_as_often_as_the_kl_formula_assumes():
    probs, k, n = [0.2, 0.3, 0.5], 3, 20_000  # answers "a" < "b" < "c" by reward
    gen = torch.Generator().manual_seed(0)
    draws = torch.multinomial(torch.tensor(probs), n * k, replacement=True, generator=gen).view(n, k).tolist()
    samples = [["abc"[i] for i in row] for row in draws]
    picks = Counter(rejection.best_of(samples, [[float(i) for i in row] for row in draws], k))
    below = 0.0
    for answer, p in zip("abc", probs, strict=True):
        assert picks[answer] / n == pytest.approx((below + p) ** k - below ** k, abs=0.01)
        below += p


def test_sample_kl_ranks_the_distinct_answers_by_reward_and_counts_repeats():
    answers, rewards = ["x", "y", "x", "z"], [0.5, 2.0, 0.5, -1.0]  # z < x < y, x drawn twice
    assert rejection.sample_kl(answers, rewards, 4) == pytest.approx(rejection.best_of_k_kl([0.25, 0.5, 0.25], 4))


def test_best_of_keeps_the_first_highest_among_the_first_k():
    samples, rewards = [["a", "b", "c"], ["d", "e", "f"]], [[0.0, 2.0, 3.0], [1.0, 1.0, 0.0]]
    assert rejection.best_of(samples, rewards, 2) == ["b", "d"]
    assert rejection.best_of(samples, rewards, 3) == ["c", "d"]


@pytest.mark.parametrize("helpful, safe, adversarial, want", [
    (1.5, 2.0, False, 1.5),  # an ordinary prompt, a safe answer: helpfulness
    (1.5, 2.0, True, 2.0),  # an adversarial prompt: safety, whatever the answer
    (1.5, LOGIT_015 - 1e-3, False, LOGIT_015 - 1e-3),  # σ(safe) just below 0.15: unsafe, judged on safety
    (1.5, LOGIT_015 + 1e-3, False, 1.5),  # σ(safe) just above it: helpfulness
    (1.5, 0.1, False, 1.5),  # 0.1 < 0.15 as a raw score, but σ(0.1) ≈ 0.52: the threshold is in sigmoid space
])
def test_combined_reward_follows_the_papers_rule(helpful, safe, adversarial, want):
    assert rejection.combined_reward(helpful, safe, adversarial) == want


def test_judge_scores_tasks_for_helpfulness_and_adversarial_prompts_for_safety():
    tokenizer = course_tokenizer()
    args = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=tokenizer.n_words, multiple_of=32,
                     max_seq_len=128)
    rms = {}
    for seed, kind in enumerate(reward.KINDS):
        torch.manual_seed(seed)
        rms[kind] = reward.RewardModel.from_chat_model(Transformer(args).init_weights())
        torch.nn.init.normal_(rms[kind].output.weight, std=0.5)
    world = data.make_world(seed=0)
    prompts = [data.make_tasks(world, "valid", 1, seed=3)[0], data.unsafe_prompts(world, "valid", 1, seed=3)[0]]
    samples = [["7.", "It is 7.", "No."], ["I can't help with that."]]
    got = rejection.judge(rms, tokenizer, prompts, samples)
    assert [len(row) for row in got] == [3, 1]
    # the expected rewards scored in one batch, as judge scores them: a batch of other rows rounds otherwise in float32
    pairs = [(p, a) for p, answers in zip(prompts, samples, strict=True) for a in answers]
    helpful, safe = (reward.score(rms[kind], tokenizer, [p.dialog for p, _ in pairs], [a for _, a in pairs])
                     for kind in reward.KINDS)
    want = [rejection.combined_reward(h, s, isinstance(p, data.SafetyPrompt))
            for (p, _), h, s in zip(pairs, helpful, safe, strict=True)]
    assert got == [want[:3], want[3:]]
    assert got[1] == safe[3:]  # the unsafe prompt's answer is the safety model's to score


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="k is 3; expected 1 <= k <= 2"):
        rejection.best_of([["a", "b"]], [[0.0, 1.0]], 3)
    with pytest.raises(ValueError, match="k is 0"):
        rejection.best_of_k_kl([1.0], 0)
    with pytest.raises(ValueError, match="probs sum to 1.100000"):
        rejection.best_of_k_kl([0.5, 0.6], 2)
    with pytest.raises(ValueError, match="got 2 prompts and 1 lists of samples"):
        rejection.judge({}, None, [None, None], [["a"]])
