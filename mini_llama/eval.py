"""The evaluation harness: a model's answers to held-out TinyWorld prompts, scored by the gold checkers.

Plain module, taught by no chapter: chapter 08 introduces it, and every later stage (reward models, rejection
sampling, PPO, GAtt, safety) measures itself with it unchanged. Scoring is separate from generation, so that
`score_responses` and `win_rate` can be checked exactly on fixed response lists:

    responses = respond(model, chat_prompts(tokenizer, evalset.dialogs()), tokenizer)   # generation
    metrics = score_responses(evalset, responses)                                        # gold scoring

Metrics: gold helpfulness over the held-out tasks and per task family, the refusal rate, gold safety and violation
rate on unsafe prompts, the false-refusal rate on borderline prompts (and both by risk category and attack wrapper,
`safety_breakdown`), a win rate between two models judged by the gold annotator (or by a reward model's scores,
`reward_win_rate`), fact recall (the pretraining metric) and validation loss; `Scoreboard` holds one row per stage
of the recipe.

Every score of `score_responses`, and the win rate, is a mean over prompts and comes with its standard error under
the key `f"{key}/se"` (`mean_and_se`): the spread a mean over another draw of as many held-out prompts would show.
A difference between two stages has a standard error of about √2 times theirs (less on the same prompts when their
per-prompt scores, `prompt_scores`, go together): one under about twice that may be the draw of prompts alone.
"""

import math
import re
import statistics
from dataclasses import asdict, dataclass, field

import torch

import mini_llama.data as data
import mini_llama.generation as generation
import mini_llama.pretrain as pretrain
import mini_llama.tokenizer as tokenizer_lib


@dataclass
class EvalSet:
    "Held-out prompts: tasks with gold checkers, unsafe prompts (gold: refuse) and borderline ones (gold: help)."
    tasks: list[data.Task]
    unsafe: list[data.SafetyPrompt]
    borderline: list[data.SafetyPrompt]

    @property
    def items(self) -> list:
        "Every prompt, in the order of `dialogs()` and of the responses `score_responses` expects."
        return [*self.tasks, *self.unsafe, *self.borderline]

    def dialogs(self) -> list[list[dict]]:
        "Each prompt as a chat dialog ending with the user's turn."
        return [t.dialog for t in self.tasks] + [p.dialog for p in (*self.unsafe, *self.borderline)]


def eval_set(world: data.World, split: str = "valid", n_tasks: int = 400, n_safety: int = 100,
             seed: int = 0) -> EvalSet:
    """n_tasks held-out tasks (families drawn uniformly, a quarter multi-turn) and up to n_safety prompts of each kind
    (the split may hold fewer). The defaults are sized for the standard errors: a helpfulness near 0.7 over 400 tasks
    has one of about 0.023, so stages 0.05 apart are told apart; a rate over 100 safety prompts, one of 0.05 at most."""
    return EvalSet(data.make_tasks(world, split, n_tasks, seed=seed), data.unsafe_prompts(world, split, n_safety, seed),
                   data.borderline_prompts(world, split, n_safety, seed))


def mean_and_se(xs) -> tuple[float, float]:
    """The mean of per-prompt scores and its standard error, the sample standard deviation over sqrt(n). Both are nan
    for no scores, the standard error for one (a single score says nothing of the spread)."""
    xs = [float(x) for x in xs]
    if not xs:
        return math.nan, math.nan
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan
    return statistics.fmean(xs), se


def mean(xs) -> float:
    "The mean of scores (nan for none)."
    return mean_and_se(xs)[0]


def is_violation(prompt: str, response: str) -> bool:
    "Does the response violate safety (the paper's violation, §4.4)? The gold safety checker gives it 0."
    return data.safety_score(prompt, response) == 0.0


def prompt_scores(evalset: EvalSet, responses: list[str]) -> dict[str, list[float]]:
    """Each metric's per-prompt gold scores, of one response per prompt (in `evalset.items` order): helpfulness (all
    tasks and per family), refusal and safety on unsafe prompts, false refusal and helpfulness on borderline prompts."""
    if len(responses) != len(evalset.items):
        raise ValueError(f"got {len(responses)} responses for {len(evalset.items)} prompts: one each, in the order "
                         f"of evalset.items")
    n_tasks, n_unsafe = len(evalset.tasks), len(evalset.unsafe)
    task_r, unsafe_r = responses[:n_tasks], responses[n_tasks:n_tasks + n_unsafe]
    border_r = responses[n_tasks + n_unsafe:]
    helpful = [t.check(r) for t, r in zip(evalset.tasks, task_r, strict=True)]
    scores = {"helpfulness": helpful}
    for family in data.FAMILIES:
        scores[f"helpfulness/{family}"] = [h for h, t in zip(helpful, evalset.tasks, strict=True)
                                           if t.family == family]
    scores["refusal_rate"] = [float(data.is_refusal(r)) for r in unsafe_r]
    scores["safety"] = [data.safety_score(p.prompt, r) for p, r in zip(evalset.unsafe, unsafe_r, strict=True)]
    scores["violation_rate"] = [float(is_violation(p.prompt, r)) for p, r in zip(evalset.unsafe, unsafe_r, strict=True)]
    scores["false_refusal_rate"] = [float(data.is_refusal(r)) for r in border_r]
    scores["borderline_helpfulness"] = [data.helpfulness(p, r)
                                        for p, r in zip(evalset.borderline, border_r, strict=True)]
    return scores


def score_responses(evalset: EvalSet, responses: list[str]) -> dict[str, float]:
    """Gold scores of one response per prompt (in `evalset.items` order), each metric of `prompt_scores` as its mean
    under its name and that mean's standard error under f"{name}/se"."""
    metrics = {}
    for key, scores in prompt_scores(evalset, responses).items():
        metrics[key], metrics[f"{key}/se"] = mean_and_se(scores)
    return metrics


def safety_breakdown(evalset: EvalSet, responses: list[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """Where a model fails on safety, from one response per prompt (in `evalset.items` order): the violation rate on
    unsafe prompts by risk category and by attack wrapper, the false-refusal rate on borderline prompts by wrapper,
    each as (rate, standard error) under its category's or wrapper's name."""
    scores = prompt_scores(evalset, responses)  # checks the count and order
    groups = {"violations by category": (evalset.unsafe, scores["violation_rate"], "category"),
              "violations by wrapper": (evalset.unsafe, scores["violation_rate"], "wrapper"),
              "false refusals by wrapper": (evalset.borderline, scores["false_refusal_rate"], "wrapper")}
    return {name: rates_by(prompts, flags, key) for name, (prompts, flags, key) in groups.items()}


def rates_by(prompts: list[data.SafetyPrompt], flags: list[float], key: str) -> dict[str, tuple[float, float]]:
    "Per-prompt flags grouped by the prompts' attribute `key` ('category', 'wrapper'): each group's (rate, se), sorted."
    by = {}
    for p, flag in zip(prompts, flags, strict=True):
        by.setdefault(getattr(p, key), []).append(flag)
    return {group: mean_and_se(by[group]) for group in sorted(by)}


def win_rate(evalset: EvalSet, responses_a: list[str], responses_b: list[str],
             annotator: data.GoldAnnotator | None = None) -> dict[str, float]:
    """Head to head, judged by the gold annotator on every prompt: the shares of wins, ties and losses of A against B,
    and A's win rate counting a tie as half, with its standard error. A tie is a pair the annotator rates 'negligibly
    better / unsure'."""
    annotator = annotator or data.GoldAnnotator()
    if not len(responses_a) == len(responses_b) == len(evalset.items):
        raise ValueError(f"got {len(responses_a)} and {len(responses_b)} responses for {len(evalset.items)} prompts")
    points = []  # A's score on each prompt: 1 a win, 0.5 a tie, 0 a loss
    for item, a, b in zip(evalset.items, responses_a, responses_b, strict=True):
        pref = annotator.compare(item, a, b)
        points.append(0.5 if pref.rating == data.RATINGS[-1] else float(pref.preferred == 0))
    return tally(points)


def reward_win_rate(rewards_a: list[float], rewards_b: list[float]) -> dict[str, float]:
    """Head to head judged by a reward model (or any score): A wins a prompt where its answer's reward is higher, ties
    where the two are equal; the shares and the win rate as `win_rate` gives them."""
    if len(rewards_a) != len(rewards_b):
        raise ValueError(f"got {len(rewards_a)} and {len(rewards_b)} rewards: one each for the same prompts")
    return tally([0.5 if a == b else float(a > b) for a, b in zip(rewards_a, rewards_b, strict=True)])


def tally(points: list[float]) -> dict[str, float]:
    "From A's points on each prompt (1 a win, 0.5 a tie, 0 a loss): the shares and A's win rate with its standard error."
    n = len(points)
    rate, se = mean_and_se(points)
    return {"win": points.count(1.0) / n, "tie": points.count(0.5) / n, "loss": points.count(0.0) / n,
            "win_rate": rate, "win_rate/se": se}


def chat_prompts(tokenizer, dialogs: list[list[dict]]) -> list[list[int]]:
    "Dialogs in Llama 2's chat format, ready for the assistant's answer (how a chat model is asked)."
    return [tokenizer_lib.encode_dialog(tokenizer, d) for d in dialogs]


def transcript(dialog: list[dict]) -> str:
    "A dialog as plain text, one 'User: ...' / 'Assistant: ...' line of text per turn (no chat tags)."
    names = {"system": "Instruction", "user": "User", "assistant": "Assistant"}
    return " ".join(f"{names[m['role']]}: {m['content'].strip()}" for m in dialog)


def few_shot_prompts(tokenizer, dialogs: list[list[dict]], shots: list[list[dict]]) -> list[list[int]]:
    """How a base model is asked: each solved example (a dialog ending with the assistant's answer) as a document of
    its own, bos ... eos as in pretraining, then the dialog's transcript up to 'Assistant:'. The model answers and,
    having seen each example end with eos, stops."""
    context = [t for shot in shots for t in tokenizer.encode(transcript(shot), bos=True, eos=True)]
    return [context + tokenizer.encode(transcript(d) + " Assistant:", bos=True, eos=False) for d in dialogs]


FEW_SHOT_FAMILIES = ("fact", "arithmetic", "word")  # three short examples fit the base model's 256-token context


def few_shot_examples(world: data.World, families: tuple[str, ...] = FEW_SHOT_FAMILIES,
                      seed: int = 0) -> list[list[dict]]:
    "One solved single-turn training task of each family: the demonstrations for prompting a base model."
    tasks = data.make_tasks(world, "train", 64, seed=seed, multi_turn=0.0)
    first = {}
    for t in tasks:
        first.setdefault(t.family, t)
    missing = [f for f in families if f not in first]
    if missing:
        raise ValueError(f"no training task of family {missing[0]!r}; expected families among {data.FAMILIES}")
    return [first[f].dialog + [{"role": "assistant", "content": first[f].reference}] for f in families]


@torch.no_grad()
def respond(model, prompts: list[list[int]], tokenizer, max_gen_len: int = 64, batch_size: int = 32,
            temperature: float = 0.0, top_p: float = 1.0, seed: int = 0) -> list[str]:
    """Answers to token prompts, in batches of similar length (ragged batches are left-padded by `generate`). Greedy
    by default; with temperature > 0, sampled with a generator seeded by `seed`. Deterministic either way: the same
    model, prompts and arguments give the same answers."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding in each batch
    answers = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        longest = max(len(prompts[i]) for i in batch)
        room = min(max_gen_len, model.params.max_seq_len - longest)
        if room < 1:
            raise ValueError(f"a prompt of {longest} tokens leaves no room to answer in the model's context of "
                             f"{model.params.max_seq_len} tokens")
        outputs = generation.generate(model, [prompts[i] for i in batch], room, temperature=temperature, top_p=top_p,
                                      eos_id=tokenizer.eos_id, generator=generator)
        for i, ids in zip(batch, outputs, strict=True):
            answers[i] = tokenizer.decode(ids).strip()
    model.train(was_training)
    return answers


def sample_responses(model, prompts: list[list[int]], tokenizer, k: int, temperature: float = 1.0,
                     top_p: float = 1.0, seed: int = 0, max_gen_len: int = 64) -> list[list[str]]:
    "k sampled answers to each prompt (k calls of `respond`, seeds seed .. seed + k - 1): samples[i] are prompt i's."
    rounds = [respond(model, prompts, tokenizer, max_gen_len, temperature=temperature, top_p=top_p, seed=seed + j)
              for j in range(k)]
    return [list(answers) for answers in zip(*rounds, strict=True)]


def best_of_k(tasks: list[data.Task], samples: list[list[str]], ks: tuple[int, ...] = (1, 2, 4, 8, 16)
              ) -> dict[int, tuple[float, float]]:
    """Gold helpfulness of the best of each task's first k samples, as (mean, standard error) for each k: what a
    perfect judge choosing among k samples would reach (the headroom of rejection sampling, chapter 10)."""
    if any(len(s) < max(ks) for s in samples):
        raise ValueError(f"best_of_k needs at least {max(ks)} samples per task, got {min(map(len, samples))}")
    scores = [[t.check(r) for r in rs] for t, rs in zip(tasks, samples, strict=True)]
    return {k: mean_and_se(max(s[:k]) for s in scores) for k in ks}


def fact_recall(model, tokenizer, world: data.World, split: str = "train", max_gen_len: int = 8) -> float:
    """Share of the split's facts whose greedy continuation of bos + its canonical prefix starts with the answer,
    followed by a word boundary ("The capital of Zapoadrour is" -> " Lisoar.")."""
    facts = data.fact_completions(world, split)
    prompts = [tokenizer.encode(f.prefix, bos=True, eos=False) for f in facts]
    completions = respond(model, prompts, tokenizer, max_gen_len=max_gen_len, batch_size=128)
    return mean(bool(re.match(re.escape(f.answer) + r"\b", c)) for f, c in zip(facts, completions, strict=True))


def validation_loss(model, tokenizer, world: data.World, seq_len: int = 256, batch_size: int = 16,
                    n_batches: int = 4) -> float:
    "Next-token loss on the start of TinyWorld's held-out corpus ('valid'): the same text for every model."
    return pretrain.evaluate(model, pretrain.tinyworld_stream(world, "valid", tokenizer, seq_len), batch_size, n_batches)


@dataclass
class StageRow:
    "One stage of the recipe, measured: what the scoreboard prints."
    stage: str
    val_loss: float
    fact_recall: float
    helpfulness: float
    safety: float
    false_refusals: float
    extra: dict[str, float] = field(default_factory=dict)  # every score of `score_responses`, standard errors too


def measure_stage(stage: str, model, tokenizer, world: data.World, evalset: EvalSet,
                  prompts: list[list[int]] | None = None) -> tuple[StageRow, list[str]]:
    """Measure a model: validation loss, fact recall and the gold scores of its answers to the eval set (asked in
    the chat format unless `prompts` says otherwise). Returns the row and the answers (for win rates)."""
    prompts = prompts if prompts is not None else chat_prompts(tokenizer, evalset.dialogs())
    responses = respond(model, prompts, tokenizer)
    scores = score_responses(evalset, responses)
    row = StageRow(stage, validation_loss(model, tokenizer, world), fact_recall(model, tokenizer, world),
                   scores["helpfulness"], scores["safety"], scores["false_refusal_rate"], scores)
    return row, responses


def with_se(value: float, se: float | None) -> str:
    "A figure rounded to 3 digits, followed by its standard error when it has one: '0.640 ± 0.024'."
    return f"{value:.3f}" if se is None else f"{value:.3f} ± {se:.3f}"


class Scoreboard(list):
    "The recipe's scoreboard: a list of `StageRow`, one per stage; later stages append theirs."

    # (field of StageRow or key of its extra, column's name, the key of its standard error in StageRow.extra, less
    # "/se"); the last column is a chat model's (chapter 12's adherence), shown when some row has it
    COLUMNS = (("stage", "stage", None), ("val_loss", "validation loss", None), ("fact_recall", "fact recall", None),
               ("helpfulness", "gold helpfulness", "helpfulness"), ("safety", "safety", "safety"),
               ("false_refusals", "false refusals", "false_refusal_rate"),
               ("adherence/turn20", "system message held at turn 20", "adherence/turn20"))

    def markdown(self) -> str:
        """The rows as a markdown table (figures rounded to 3 digits, gold scores ± their standard errors when known,
        "—" where a row has no such figure)."""
        values = [{**row.extra, **asdict(row)} for row in self]
        columns = [c for c in self.COLUMNS if any(c[0] in v for v in values)]
        lines = ["| " + " | ".join(name for _, name, _ in columns) + " |", "|" + "---|" * len(columns)]
        for row, v in zip(self, values, strict=True):
            cells = [row.stage] + [with_se(v[k], row.extra.get(f"{score}/se") if score else None) if k in v else "—"
                                   for k, _, score in columns[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


SCORE_KEYS = ("helpfulness", *(f"helpfulness/{f}" for f in data.FAMILIES), "refusal_rate", "safety",
              "violation_rate", "false_refusal_rate")


def plot_scores(scores: dict[str, dict[str, float]], title: str):
    """Bars of several models' gold scores side by side (name -> `score_responses` output), each with an error bar of
    one standard error where the scores hold one; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(scores)
    for j, (name, s) in enumerate(scores.items()):
        xs = [i + (j - (len(scores) - 1) / 2) * width for i in range(len(SCORE_KEYS))]
        errors = [s.get(f"{k}/se", math.nan) for k in SCORE_KEYS]  # nan: no bar
        ax.bar(xs, [s[k] for k in SCORE_KEYS], width, yerr=errors, capsize=2, label=name)
    ax.set_xticks(range(len(SCORE_KEYS)), [k.replace("helpfulness/", "").replace("_", " ") for k in SCORE_KEYS],
                  rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("gold score / share")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
