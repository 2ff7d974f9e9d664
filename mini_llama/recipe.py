"""The main job, `mini-llama recipe`: build every stage of the course from nothing, measure each, write a report.

Plain module, taught by no chapter (each stage is built by its chapter's module). A stage is a name, a function that
returns its model (cached artifacts are reused, missing ones rebuilt deterministically with a progress bar) and how it
is asked (`chat`, or `few-shot` for a base model). Later stages of the recipe add theirs to `STAGES`; every stage is
measured by `mini_llama.eval` unchanged and gets a row of the scoreboard.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mini_llama.data as data
import mini_llama.eval as ev
import mini_llama.pretrain as pretrain
import mini_llama.sft as sft
import mini_llama.tokenizer as tokenizer_lib

SFT_HELPFULNESS_AIM = 0.8


@dataclass
class Stage:
    name: str
    build: Callable  # () -> Transformer, from the artifact cache or rebuilt
    prompting: str = "chat"  # or "few-shot"


STAGES = [Stage("base (few-shot)", pretrain.base_model, "few-shot"), Stage("SFT", sft.sft_model)]


def stage_prompts(stage: Stage, tokenizer, world: data.World, evalset: ev.EvalSet) -> list[list[int]]:
    if stage.prompting == "few-shot":
        return ev.few_shot_prompts(tokenizer, evalset.dialogs(), ev.few_shot_examples(world))
    return ev.chat_prompts(tokenizer, evalset.dialogs())


def aims(board: ev.Scoreboard) -> list[tuple[str, bool]]:
    "The recipe's aims, each with whether this run meets it."
    rows = {row.stage: row for row in board}
    base, tuned = rows["base (few-shot)"].helpfulness, rows["SFT"].helpfulness
    return [(f"SFT gold helpfulness {tuned:.3f} >= {SFT_HELPFULNESS_AIM}", tuned >= SFT_HELPFULNESS_AIM),
            (f"few-shot base model's helpfulness {base:.3f} is clearly lower (by more than 0.3)", base < tuned - 0.3)]


def run(out: Path, stages: list[Stage] | None = None) -> tuple[ev.Scoreboard, bool]:
    """Build and measure every stage, print the scoreboard, write `out/README.md` with its figure; True if every aim
    is met."""
    stages = stages or STAGES
    started = time.perf_counter()
    tokenizer = tokenizer_lib.course_tokenizer()  # trained in seconds when missing
    world = data.make_world(seed=0)
    evalset = ev.eval_set(world, "valid")
    board, answers, seconds = ev.Scoreboard(), {}, {}
    for stage in stages:
        t0 = time.perf_counter()
        print(f"[{stage.name}] building (or loading) the model", flush=True)
        model = stage.build()
        print(f"[{stage.name}] measuring on {len(evalset.items)} held-out prompts", flush=True)
        row, answers[stage.name] = ev.measure_stage(stage.name, model, tokenizer, world, evalset,
                                                    stage_prompts(stage, tokenizer, world, evalset))
        board.append(row)
        seconds[stage.name] = time.perf_counter() - t0
    results = aims(board)
    print("\n" + board.markdown() + "\n")
    for claim, ok in results:
        print(f"{'met' if ok else 'NOT MET'}: {claim}")
    write_report(out, board, evalset, answers, results, seconds, time.perf_counter() - started)
    print(f"\nreport written to {out / 'README.md'} ({time.perf_counter() - started:.0f}s in all)")
    return board, all(ok for _, ok in results)


def plot_scoreboard(board: ev.Scoreboard, path: Path):
    import matplotlib

    matplotlib.use("Agg")  # files only: the recipe runs in terminals without a display
    import matplotlib.pyplot as plt

    title = "Each stage of the recipe on held-out TinyWorld prompts"
    fig = ev.plot_scores({row.stage: row.extra for row in board}, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(out: Path, board: ev.Scoreboard, evalset: ev.EvalSet, answers: dict[str, list[str]],
                 results: list[tuple[str, bool]], seconds: dict[str, float], total: float):
    "out/README.md: the scoreboard, the aims, each stage's details and answers, and the figure beside it."
    out.mkdir(parents=True, exist_ok=True)
    plot_scoreboard(board, out / "scoreboard.png")
    names = list(answers)
    lines = ["# mini_llama: the recipe on TinyWorld", "",
             "Every stage built from nothing (or loaded from the artifact cache) and measured on the same held-out "
             f"prompts: {len(evalset.tasks)} tasks, {len(evalset.unsafe)} unsafe and {len(evalset.borderline)} "
             "borderline prompts, answered greedily and scored by TinyWorld's gold checkers "
             "(`mini_llama.eval`). The base model is prompted few-shot, the chat models in Llama 2's chat format.",
             "", "## Scoreboard", "", board.markdown(), "",
             "Validation loss: next-token loss on TinyWorld's held-out corpus. Fact recall: share of the training "
             "facts (those the corpus states) completed correctly. Gold helpfulness: mean checker score on the "
             "held-out tasks. Safety: mean gold safety on unsafe prompts. False refusals: share of borderline "
             "prompts refused.", "",
             "![scoreboard](scoreboard.png)", "", "## Aims", ""]
    lines += [f"- {'met' if ok else 'NOT MET'}: {claim}" for claim, ok in results]
    lines += ["", "## Every metric", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {k} | " + " | ".join(f"{row.extra[k]:.3f}" for row in board) + " |" for k in board[0].extra]
    lines += ["", "## Head to head (gold annotator)", ""]
    for prev, cur in zip(names, names[1:], strict=False):
        r = ev.win_rate(evalset, answers[cur], answers[prev])
        lines.append(f"- {cur} against {prev}: wins {r['win']:.1%}, ties {r['tie']:.1%}, losses {r['loss']:.1%} "
                     f"(win rate {r['win_rate']:.1%})")
    lines += ["", "## Sample answers", ""]
    for i in (0, 1, 2, len(evalset.tasks), len(evalset.tasks) + len(evalset.unsafe)):
        lines.append(f"**{evalset.dialogs()[i][-1]['content']}**")
        lines += [f"- {name}: {answers[name][i][:200]!r}" for name in names]
        lines.append("")
    lines += ["## Time", ""] + [f"- {name}: {s:.0f}s" for name, s in seconds.items()] + [f"- in all: {total:.0f}s", ""]
    (out / "README.md").write_text("\n".join(lines))
