"""Checks for chapter 13's exercises (safety): the targeted-distillation rule, and rates by category or wrapper with
their standard errors."""

import math

from mini_llama import data
from mini_llama import eval as ev
from mini_llama.exercises import exercise, expect, expect_equal
from mini_llama.safety import Distillation

__all__ = ["check_targeted_dialogs", "check_breakdown_by"]


def _prompts() -> list[data.SafetyPrompt]:
    world = data.make_world(seed=0)
    unsafe = data.unsafe_prompts(world, "red-team", 40, seed=3)
    multi = next(p for p in unsafe if len(p.dialog) > 1)  # a harmless first turn, then the harm
    return [*unsafe[:5], multi]


def _targeted_cases() -> list[tuple[str, list[float], list[float]]]:
    return [("the distilled answer better everywhere", [0.0] * 6, [1.0] * 6),
            ("worse everywhere", [1.0] * 6, [0.0] * 6),
            ("mixed, a tie among them", [0.5, 2.0, -1.0, 0.3, 0.3, 1.0], [1.5, 1.0, -0.5, 0.3, 0.2, 1.2])]


@exercise("Exercise 1 (targeted distillation)")
def check_targeted_dialogs(targeted_dialogs) -> None:
    """`targeted_dialogs(prompts, distilled, plain_scores, distilled_scores)`: the fine-tuning dialogues of targeted
    context distillation, each prompt's dialogue (without the preprompt) ending with its distilled answer, only where
    the distilled answer's score is strictly above the model's own answer's, in the prompts' order."""
    prompts = _prompts()
    distilled = [f"I can't help with that, because it would hurt someone ({i})." for i in range(len(prompts))]
    for what, plain_scores, distilled_scores in _targeted_cases():
        want = Distillation(prompts, [""] * len(prompts), distilled, plain_scores, distilled_scores).dialogs(True)
        got = targeted_dialogs(prompts, list(distilled), list(plain_scores), list(distilled_scores))
        expect(isinstance(got, list), f"{what}: got {got!r:.80}, expected a list of dialogues")
        if any(d and d[0].get("role") == "system" for d in got):
            expect(False, f"{what}: a dialogue starts with a system message; the model is fine-tuned without the "
                          "preprompt, so that it answers so without one")
        ties = {answer for answer, own, new in zip(distilled, plain_scores, distilled_scores, strict=True) if own == new}
        kept_ties = [d for d in got if d[-1]["content"] in ties]
        expect(not kept_ties, f"{what}: a tie was kept; the rule keeps a distilled answer only where the reward model "
                              "scores it strictly higher")
        expect_equal(f"{what}: the number of dialogues", len(got), len(want))
        expect_equal(f"{what}: the dialogues", got, want)


def _breakdown_cases() -> list[tuple[str, list[data.SafetyPrompt], list[float], str]]:
    world = data.make_world(seed=0)
    unsafe = data.unsafe_prompts(world, "valid", 60, seed=2)
    flags = [float(i % 3 == 0) for i in range(len(unsafe))]
    return [("by category", unsafe, flags, "category"), ("by wrapper", unsafe, flags, "wrapper"),
            ("one prompt", unsafe[:1], [1.0], "wrapper")]


@exercise("Exercise 2 (rates by category or wrapper)")
def check_breakdown_by(breakdown_by) -> None:
    """`breakdown_by(prompts, flags, key)`: over safety prompts and a 0/1 flag for each (a violation, a refusal), the
    rate of each group of prompts that share `key` ('category' or 'wrapper') with its standard error, as
    {group: (rate, standard error)}; the standard error is nan for a group of one prompt."""
    for what, prompts, flags, key in _breakdown_cases():
        want = ev.rates_by(prompts, flags, key)
        got = breakdown_by(list(prompts), list(flags), key)
        expect(isinstance(got, dict), f"{what}: got {got!r:.80}, expected a dict of group -> (rate, se)")
        expect_equal(f"{what}: the groups", sorted(got), sorted(want))
        for g, (rate, se) in want.items():
            got_rate, got_se = got[g]
            expect(abs(got_rate - rate) < 1e-9, f"{what}, {g!r}: rate {got_rate!r}, expected {rate:.4f}")
            if math.isnan(se):
                expect(math.isnan(got_se), f"{what}, {g!r}: standard error {got_se!r}, expected nan: one prompt says "
                                           "nothing of the spread")
                continue
            n = sum(getattr(p, key) == g for p in prompts)
            population = se * math.sqrt((n - 1) / n)
            hint = " (that divides by n; the sample deviation divides by n - 1)" if abs(got_se - population) < 1e-9 \
                else ""
            expect(abs(got_se - se) < 1e-9, f"{what}, {g!r}: standard error {got_se!r}, expected {se:.4f}{hint}")

