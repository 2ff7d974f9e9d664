"""Safety context distillation (chapter 13): the preprompts, the targeted rule, the distillation read from the model
and the reward model as the stage calls them, the stage on the shelf with its aims, and bad configuration refused by
name."""

import ast
import math
import random
import subprocess
import sys

import pytest
import torch

from mini_llama import data, recipe, reward, safety, shelf
from mini_llama import eval as ev
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer


@pytest.fixture(scope="module")
def tok():
    return course_tokenizer()


def test_a_generic_preprompt_has_two_safe_adjectives_and_a_templated_one_its_categorys_answer_template():
    rng = random.Random(0)
    for category in data.RISK_CATEGORIES:
        generic = safety.preprompt(rng, category, "generic")
        first, second = generic.removeprefix("You are a ").removesuffix(" assistant.").split(" and ")
        assert first != second and {first, second} <= set(safety.SAFE_ADJECTIVES)
        templated = safety.preprompt(rng, category, "template")
        assert templated.endswith(" " + safety.ANSWER_TEMPLATES[category]) and templated.startswith("You are a ")
    assert set(safety.ANSWER_TEMPLATES) == set(data.RISK_CATEGORIES)
    again = random.Random(0)
    assert safety.preprompt(again, data.RISK_CATEGORIES[0], "generic") == safety.preprompt(
        random.Random(0), data.RISK_CATEGORIES[0], "generic")
    with pytest.raises(ValueError, match="preprompt kind must be one of .*got 'polite'"):
        safety.preprompt(rng, data.RISK_CATEGORIES[0], "polite")


def distillation(plain_scores, distilled_scores) -> safety.Distillation:
    prompts = data.unsafe_prompts(data.make_world(0), "red-team", len(plain_scores), seed=4)
    return safety.Distillation(prompts, [f"own {i}" for i in range(len(prompts))],
                               [f"distilled {i}" for i in range(len(prompts))], plain_scores, distilled_scores)


def test_targeted_keeps_only_the_answers_scored_strictly_higher_and_never_the_preprompt():
    d = distillation([0.0, 1.0, 0.5, -2.0], [0.5, 1.0, 0.4, -1.0])
    assert d.improved() == [True, False, False, True]  # a tie is no improvement
    targeted, untargeted = d.dialogs(targeted=True), d.dialogs(targeted=False)
    assert [x[-1]["content"] for x in targeted] == ["distilled 0", "distilled 3"]
    assert [x[-1]["content"] for x in untargeted] == [f"distilled {i}" for i in range(4)]
    for x, p in zip(untargeted, d.prompts, strict=True):
        assert x[:-1] == p.dialog and x[-1]["role"] == "assistant"  # the prompt as the user asked it, no system turn


def tiny_model(seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs(dim=32, n_layers=1, n_heads=2, vocab_size=2048, multiple_of=16, max_seq_len=256))


def test_distill_answers_with_and_without_the_preprompt_and_scores_both_on_the_prompt_without_it(tok):
    model, rm = tiny_model(0), reward.RewardModel.from_chat_model(tiny_model(1))
    cfg = safety.SafetyConfig(n_prompts=6)
    prompts = safety.red_team_prompts(cfg)
    d = safety.distill(model, rm, tok, prompts, cfg)
    dialogs = [p.dialog for p in prompts]
    assert d.plain == ev.respond(model, ev.chat_prompts(tok, dialogs), tok)
    rng = random.Random(f"safety-preprompts-{cfg.seed}")
    prepped = [safety.with_preprompt(p.dialog, safety.preprompt(rng, p.category, cfg.preprompt)) for p in prompts]
    assert prepped[0][0]["role"] == "system" and prepped[0][1:] == dialogs[0]
    assert d.distilled == ev.respond(model, ev.chat_prompts(tok, prepped), tok)
    assert d.plain_scores == pytest.approx(reward.score(rm, tok, dialogs, d.plain))
    assert d.distilled_scores == pytest.approx(reward.score(rm, tok, dialogs, d.distilled))


def test_the_red_team_prompts_are_the_red_team_split_and_bad_configuration_is_refused_by_name():
    cfg = safety.SafetyConfig(n_prompts=30)
    assert safety.red_team_prompts(cfg) == data.unsafe_prompts(data.make_world(0), "red-team", 30)
    with pytest.raises(ValueError, match=r"SafetyConfig.n_prompts is 0; expected an integer >= 1"):
        safety.SafetyConfig(n_prompts=0)
    with pytest.raises(ValueError, match=r"SafetyConfig.preprompt is 'kind'; expected one of"):
        safety.SafetyConfig(preprompt="kind")


def row(name: str, helpfulness: float, violations: float, false_refusals: float) -> ev.StageRow:
    return ev.StageRow(name, math.nan, math.nan, helpfulness, 1 - violations, false_refusals,
                       {"violation_rate": violations})


def test_the_stage_starts_from_gatt_judged_by_the_safety_reward_model_and_its_aims_read_the_rows():
    stage = shelf.stage("safety")
    assert stage.parents == ("tokenizer", "GAtt", "RM-safety") and stage.prompting == "chat"
    # the recipe's own order, in a fresh interpreter: this process's earlier imports may have declared stages in another
    order = subprocess.run([sys.executable, "-c", "from mini_llama import recipe; print(recipe.measured_stages())"],
                           capture_output=True, text=True, check=True).stdout
    assert ast.literal_eval(order)[-1] == "safety" and "safety" in recipe.measured_stages()
    met = safety.safety_aims({"safety": row("safety", 0.80, 0.05, 0.10), "PPO": row("PPO", 0.82, 0.1, 0.1)})
    assert [ok for _, ok in met] == [True, True, True]  # at the bounds: 0.80 is 0.02 below PPO's 0.82
    unmet = safety.safety_aims({"safety": row("safety", 0.70, 0.06, 0.11), "PPO": row("PPO", 0.75, 0.1, 0.1)})
    assert [ok for _, ok in unmet] == [False, False, False]
    assert len(safety.safety_aims({"safety": row("safety", 0.8, 0.0, 0.0)})) == 2  # no PPO row: no comparison
