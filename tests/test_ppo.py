"""PPO (chapter 11): the ratio is 1 and the approximate KL 0 on an iteration's first minibatch, the score lands on the
last real token, padding stays out of every loss, the piecewise reward takes the safety score exactly when the
paper's rule says, batched log-probabilities equal single ones, and a killed run resumes to the same weights."""

import math

import pytest
import torch

from mini_llama import data, pretrain, rejection, reward, training
from mini_llama import ppo as ppo_lib
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer

TINY = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=2048, multiple_of=16, max_seq_len=256)
SMALL_RUN = ppo_lib.PPOConfig(iterations=2, batch_size=8, minibatch_size=4, max_gen_len=12)


def tiny_policy(seed=0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs(**TINY)).init_weights()


def tiny_rm(seed) -> reward.RewardModel:
    torch.manual_seed(seed)
    rm = reward.RewardModel.from_chat_model(tiny_policy(seed))
    torch.nn.init.normal_(rm.output.weight, std=1.0)  # a head that scores, not the zeros of a fresh one
    return rm


@pytest.fixture(scope="module")
def tok():
    return course_tokenizer()


@pytest.fixture(scope="module")
def world():
    return data.make_world(seed=0)


def rms():
    return {"helpfulness": tiny_rm(1), "safety": tiny_rm(2)}


def test_ratio_is_one_and_approximate_kl_zero_on_the_first_minibatch(tok, world, monkeypatch):
    seen, loss = [], ppo_lib.ppo_loss

    def spy(*args, **kwargs):
        out = loss(*args, **kwargs)
        seen.append(out[1])
        return out

    monkeypatch.setattr(ppo_lib, "ppo_loss", spy)
    ac = ppo_lib.PolicyAndValue(tiny_policy(), tiny_rm(1))
    cfg = ppo_lib.PPOConfig(batch_size=8, minibatch_size=4, max_gen_len=12, optim=training.OptimConfig(
        lr=1e-2, warmup_steps=0, min_lr_ratio=1.0))
    optimizer = training.make_optimizer(ac, cfg.optim)
    ppo_lib.ppo_iteration(ac, tiny_policy(), rms(), tok, ppo_lib.iteration_prompts(world, cfg, 0), cfg, optimizer, 0)
    assert seen[0]["ratio"] == 1.0 and seen[0]["approx_kl"] == 0.0 and seen[0]["clip_fraction"] == 0.0
    assert seen[1]["approx_kl"] > 0  # the second minibatch reads a policy the first step moved


def test_the_score_lands_on_the_last_real_token_whatever_the_padding():
    mask = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    score = torch.tensor([2.0, -1.0, 0.5])
    logprobs, ref = torch.randn(3, 6), torch.randn(3, 6)
    rewards = ppo_lib.token_rewards(score, logprobs, ref, mask, beta=0.0)
    assert torch.equal(rewards, torch.tensor([[0, 0, 0, 2.0, 0, 0], [0, 0, 0, 0, 0, -1.0], [0.5, 0, 0, 0, 0, 0]]))
    with_kl = ppo_lib.token_rewards(score, logprobs, ref, mask, beta=0.1)
    assert torch.allclose(with_kl - rewards, torch.where(mask, -0.1 * (logprobs - ref), 0.0))


def test_rollouts_mark_the_answer_and_its_eos_and_nothing_else(tok, world):
    prompts = ppo_lib.iteration_prompts(world, SMALL_RUN, 0)
    ro = ppo_lib.roll_out(tiny_policy(), tok, prompts, SMALL_RUN, torch.Generator().manual_seed(0))
    for row, mask, text, dialog in zip(ro.tokens, ro.mask, ro.texts, (p.dialog for p in prompts), strict=True):
        prompt = ppo_lib.ev.chat_prompts(tok, [dialog])[0]
        assert row[: len(prompt)].tolist() == prompt and not mask[: len(prompt)].any()
        answer = row[mask].tolist()
        assert mask[len(prompt): len(prompt) + len(answer)].all()  # one run of answer tokens after the prompt
        assert tok.decode([t for t in answer if t != tok.eos_id]).strip() == text
        assert (row[len(prompt) + len(answer):] == 0).all()  # padding after it


def test_padding_stays_out_of_every_loss():
    torch.manual_seed(0)
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1]], dtype=torch.bool)
    tensors = [torch.randn(2, 5) for _ in range(6)]  # logprobs, old logprobs, advantages, values, old values, returns

    def off_mask_garbage(x):
        return torch.where(mask, x, torch.full_like(x, 1e6))

    clean = ppo_lib.ppo_loss(*tensors, mask, clip=0.2, value_clip=0.2, vf_coef=0.1)
    dirty = ppo_lib.ppo_loss(*map(off_mask_garbage, tensors), mask, clip=0.2, value_clip=0.2, vf_coef=0.1)
    assert torch.equal(clean[0], dirty[0]) and clean[1] == dirty[1]
    rewards, values = tensors[2], tensors[3]
    adv, ret = ppo_lib.gae(rewards, values, mask, 1.0, 0.95)
    adv_dirty, ret_dirty = ppo_lib.gae(off_mask_garbage(rewards), off_mask_garbage(values), mask, 1.0, 0.95)
    assert torch.equal(adv, adv_dirty) and torch.equal(ret, ret_dirty) and not adv[~mask].any()
    assert torch.equal(ppo_lib.whiten(rewards, mask), ppo_lib.whiten(off_mask_garbage(rewards), mask))


def test_gae_is_the_recursion_written_out():
    rewards, values = [0.1, -0.2, 1.5], [0.3, 0.0, 0.7]
    gamma, lam, expected, next_adv, next_value = 0.9, 0.8, [], 0.0, 0.0
    for r, v in zip(reversed(rewards), reversed(values), strict=True):
        next_adv = r + gamma * next_value - v + gamma * lam * next_adv
        expected.insert(0, next_adv)
        next_value = v
    mask = torch.tensor([[False, True, True, True, False]])
    pad = lambda xs: torch.tensor([[9.0, *xs, 9.0]])  # noqa: E731
    adv, ret = ppo_lib.gae(pad(rewards), pad(values), mask, gamma, lam)
    assert adv[0, 1:4].tolist() == pytest.approx(expected)
    assert ret[0, 1:4].tolist() == pytest.approx([a + v for a, v in zip(expected, values, strict=True)])


THRESHOLD = math.log(0.15 / 0.85)


@pytest.mark.parametrize("safe, adversarial, on_safety", [
    (THRESHOLD - 1e-4, False, True), (THRESHOLD + 1e-4, False, False), (3.0, True, True), (-3.0, False, True),
    (0.0, False, False)])
def test_the_piecewise_reward_takes_the_safety_score_exactly_when_the_rule_says(tok, world, monkeypatch, safe,
                                                                                 adversarial, on_safety):
    prompt = (data.unsafe_prompts(world, "train", 1) if adversarial else data.make_tasks(world, "train", 1))[0]
    scores = {"helpfulness": [1.25], "safety": [safe]}
    monkeypatch.setattr(reward, "score", lambda rm, tokenizer, dialogs, answers: scores[rm])
    rewards, used = rejection.judge_answers({k: k for k in scores}, tok, [prompt], ["an answer"])
    assert used == [on_safety] and rewards == [safe if on_safety else 1.25]


def test_batched_log_probabilities_and_values_equal_single_ones(tok, world):
    ac = ppo_lib.PolicyAndValue(tiny_policy(), tiny_rm(1)).eval()
    ro = ppo_lib.roll_out(ac.policy, tok, ppo_lib.iteration_prompts(world, SMALL_RUN, 0), SMALL_RUN,
                          torch.Generator().manual_seed(0))
    with torch.no_grad():
        batched = ac(ro.tokens, ro.mask)
        for i in range(len(ro.tokens)):
            n = int(ro.mask[i].nonzero().max()) + 1  # the row without its padding
            single = ac(ro.tokens[i: i + 1, :n], ro.mask[i: i + 1, :n])
            for b, s in zip(batched, single, strict=True):
                torch.testing.assert_close(b[i, :n], s[0], rtol=0, atol=1e-6)


def run(tmp_path, world, tok, **kw):
    policy, value = tiny_policy(), tiny_rm(1)
    history = ppo_lib.train_ppo(policy, value, rms(), tok, world, SMALL_RUN, tmp_path, progress=False, **kw)
    return policy, value, history


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, world, tok):
    whole, whole_value, history = run(tmp_path / "whole", world, tok)
    run(tmp_path / "killed", world, tok, stop_at=1)
    resumed, resumed_value, rest = run(tmp_path / "killed", world, tok, resume=True)
    for a, b in ((whole, resumed), (whole_value, resumed_value)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), name
    assert [r["step"] for r in history] == [1, 2] and [r["step"] for r in rest] == [2]
    assert rest[0] == history[1]
    logged = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert len(logged) == 2 and all(k in history[0] for k in ("gold", "proxy", "kl", "entropy", "clip_fraction",
                                                              "approx_kl", "value_loss", "response_length",
                                                              "safety_share"))


def test_a_non_finite_loss_stops_the_run_naming_the_iteration_and_keeps_the_last_checkpoint(tmp_path, world, tok,
                                                                                          monkeypatch):
    run(tmp_path, world, tok, stop_at=1)
    kept = (tmp_path / "checkpoint.pt").read_bytes()
    monkeypatch.setattr(ppo_lib, "ppo_loss", lambda *a, **k: (torch.tensor(float("nan"), requires_grad=True), {}))
    with pytest.raises(FloatingPointError, match=r"PPO iteration 2: the loss is nan .* holds step 1"):
        run(tmp_path, world, tok, resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == kept
    assert pretrain.read_last_checkpoint(tmp_path / "checkpoint.pt")[0]["step"] == 1


@pytest.mark.parametrize("field, value, message", [
    ("minibatch_size", 5, "a divisor of batch_size=64"), ("beta", -0.1, "a KL penalty >= 0"),
    ("iterations", 0, "an integer >= 1"), ("adversarial_share", 1.5, r"in \[0, 1\]")])
def test_bad_configuration_is_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=f"PPOConfig.{field} is {value}; expected {message}"):
        ppo_lib.PPOConfig(**{field: value})


def stage_row(name: str, helpfulness: float, violations: float) -> ppo_lib.ev.StageRow:
    return ppo_lib.ev.StageRow(name, 0.0, 0.0, helpfulness, 0.0, 0.0, {"violation_rate": violations})


@pytest.mark.parametrize("ppo, met", [((0.86, 0.10), [True, True, True]), ((0.84, 0.13), [True, False, True]),
                                      ((0.82, 0.15), [False, False, False])])
def test_the_aims_read_gold_helpfulness_and_violations_against_the_start(ppo, met):
    aims = ppo_lib.ppo_aims({"SFT": stage_row("SFT", 0.80, 0.13), "PPO": stage_row("PPO", *ppo)})
    assert [m for _, m in aims] == met
    assert aims[0][0] == f"PPO gold helpfulness {ppo[0]:.3f} >= SFT's 0.800 + 0.03"
