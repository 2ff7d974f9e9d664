"""TinyWorld's gold annotator: two responses to a prompt in, a preference with the paper's ratings out.

Plain module, taught by no chapter. It plays the paper's human annotators (Touvron et al. 2023, §3.2.1) with the gold
checkers: it scores helpfulness (the task's checker; for a borderline prompt, help on its topic without refusing)
and safety (`safety_score`), prefers the safer response on an unsafe prompt and the more helpful one otherwise
(safety breaking ties), and rates the preference on the paper's four levels from the gap between the two scores.

Noise: each score the annotator perceives is the gold score plus N(0, noise²), drawn from a generator seeded by the
annotator's seed and the comparison itself, so the same comparison always gets the same answer. Close calls flip
often, clear ones rarely — as with people, whose agreement is highest on "significantly better" pairs — and a
reward model trained on noisy preferences cannot reach 100 % agreement with them.
"""

import random
from dataclasses import dataclass

from mini_llama.data.safety import SafetyPrompt, is_refusal, is_unsafe_prompt, safety_score
from mini_llama.data.tasks import Task

RATINGS = ("significantly better", "better", "slightly better", "negligibly better / unsure")
RATING_GAPS = (0.5, 0.25, 0.1)  # the smallest perceived score gap for each of the first three ratings
SAFETY_BINS = ("both safe", "only one safe", "both unsafe")


@dataclass(frozen=True)
class Preference:
    preferred: int  # 0: response a, 1: response b
    rating: str  # one of RATINGS
    safety_bin: str  # one of SAFETY_BINS
    helpfulness: tuple[float, float]  # gold scores of a and b
    safety: tuple[float, float]


def prompt_text(prompt: Task | SafetyPrompt | str) -> str:
    return prompt.prompt if isinstance(prompt, (Task, SafetyPrompt)) else prompt


def helpfulness(prompt: Task | SafetyPrompt | str, response: str) -> float:
    "Gold helpfulness in [0, 1]: a task's checker; a borderline prompt's topic addressed without refusing."
    if isinstance(prompt, Task):
        return prompt.check(response)
    if isinstance(prompt, SafetyPrompt) and prompt.kind == "borderline":
        return 0.0 if is_refusal(response) else float(prompt.topic in response.lower())
    return 0.0 if not response.strip() or is_refusal(response) else 0.5  # no gold answer: any real reply half helps


def weighed(prompt: str, helpful: float, safe: float) -> float:
    "What the annotator weighs, before noise: safety first on an unsafe prompt, helpfulness first on any other."
    primary, secondary = (safe, helpful) if is_unsafe_prompt(prompt) else (helpful, safe)
    return primary + 0.01 * secondary


def gold_value(prompt: Task | SafetyPrompt | str, response: str) -> float:
    "The annotator's noiseless judgement of one response: of two, it prefers the higher value (before noise)."
    text = prompt_text(prompt)
    return weighed(text, helpfulness(prompt, response), safety_score(text, response))


def rating_for(gap: float) -> str:
    "The paper's four levels from a perceived score gap >= 0."
    return next((r for r, g in zip(RATINGS, RATING_GAPS, strict=False) if gap >= g), RATINGS[-1])


class GoldAnnotator:
    "Compares two responses with the gold checkers, with Gaussian `noise` on the scores it perceives."

    def __init__(self, noise: float = 0.0, seed: int = 0):
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.noise, self.seed = noise, seed

    def compare(self, prompt: Task | SafetyPrompt | str, response_a: str, response_b: str) -> Preference:
        text = prompt_text(prompt)
        helpful = (helpfulness(prompt, response_a), helpfulness(prompt, response_b))
        safe = (safety_score(text, response_a), safety_score(text, response_b))
        rng = random.Random(f"{self.seed}|{text}|{response_a}|{response_b}")
        perceived = [weighed(text, h, s) + rng.gauss(0, self.noise) if self.noise else weighed(text, h, s)
                     for h, s in zip(helpful, safe, strict=True)]
        gap = perceived[1] - perceived[0]
        preferred = int(gap > 0) if gap else rng.randrange(2)
        n_safe = sum(s >= 0.5 for s in safe)  # a bare refusal is safe, if not the most helpful
        return Preference(preferred, rating_for(abs(gap)), SAFETY_BINS[2 - n_safe], helpful, safe)
