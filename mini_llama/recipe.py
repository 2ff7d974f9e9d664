"""The main job, `mini-llama recipe`: build every stage of the course from nothing, measure each, write a report.

Plain module, taught by no chapter (each stage is built by its chapter's module). The stages are the shelf's
(`mini_llama.shelf`): each is declared once, with its recipe, the stages it starts from, how it is asked (`chat`, or
`few-shot` for a base model) or how it is measured otherwise (`report`: a reward model's accuracy, or a model's own
figures beside its row), and its aims. Every such stage is built or loaded (missing artifacts rebuilt deterministically with a progress bar); a model is
measured by `mini_llama.eval` unchanged and gets a row of the scoreboard, another stage reports its own figures; the
aims of every stage are checked on those rows. A new stage is one declaration on the shelf.
"""

import time
from pathlib import Path

import mini_llama.data as data
import mini_llama.eval as ev
import mini_llama.rejection as rejection
import mini_llama.shelf as shelf

# each chapter's module declares its stages when imported, in the course's order
# isort: off
import mini_llama.reward as reward  # the base and SFT models, the preference data, the reward models
import mini_llama.ppo  # noqa: F401 (PPO)
import mini_llama.gatt  # noqa: F401 (GAtt)
import mini_llama.safety  # noqa: F401 (the safety model)
# isort: on


def measured_stages() -> list[str]:
    """The stages on the shelf that are measured, in the course's order: models to ask, and stages that report their
    own figures (the tokenizer and the preference data are built, not measured)."""
    return [name for name, stage in shelf.STAGES.items() if stage.prompting is not None or stage.report is not None]


def is_measured(name: str) -> bool:
    return name in measured_stages()


def row_label(stage: shelf.Stage) -> str:
    "The stage's name, and how it is asked when that is not in the chat format (a base model, few-shot)."
    return stage.name if stage.prompting in ("chat", None) else f"{stage.name} ({stage.prompting})"


def stage_prompts(stage: shelf.Stage, tokenizer, world: data.World, evalset: ev.EvalSet) -> list[list[int]]:
    if stage.prompting == "few-shot":
        return ev.few_shot_prompts(tokenizer, evalset.dialogs(), ev.few_shot_examples(world))
    return ev.chat_prompts(tokenizer, evalset.dialogs())


def aims(rows: dict[str, ev.StageRow], stages: list[str]) -> list[tuple[str, bool]]:
    "Every measured stage's aims, each with whether this run meets it (a stage's aims may read its parents' rows)."
    results = []
    for name in stages:
        stage = shelf.stage(name)
        if stage.aims is not None and all(p in rows for p in (name, *stage.parents) if is_measured(p)):
            results += stage.aims(rows)
    return results


def run(out: Path, stages: list[str] | None = None, world_seed: int = 0) -> tuple[ev.Scoreboard, bool]:
    """Build and measure every stage on the shelf (or those named), print the scoreboard, write `out/README.md` with
    its figure; True if every aim is met. Held-out prompts come from the world of `world_seed`."""
    stages = measured_stages() if stages is None else stages
    started = time.perf_counter()
    tokenizer = shelf.course_tokenizer()  # trained in seconds when missing
    world = data.make_world(seed=world_seed)
    evalset = ev.eval_set(world, "valid")
    board, rows, answers, reports, seconds, built = ev.Scoreboard(), {}, {}, {}, {}, {}
    for name in stages:
        stage, t0 = shelf.stage(name), time.perf_counter()
        label = row_label(stage)
        print(f"[{label}] building (or loading) the {'model' if stage.prompting else 'artifact'}", flush=True)
        built[name] = shelf.load(name)
        if stage.prompting is None:
            print(f"[{label}] measuring", flush=True)
            rows[name] = reports[name] = stage.report(built[name])
        else:
            print(f"[{label}] measuring on {len(evalset.items)} held-out prompts", flush=True)
            row, answers[label] = ev.measure_stage(label, built[name], tokenizer, world, evalset,
                                                   stage_prompts(stage, tokenizer, world, evalset))
            if stage.report is not None:  # figures of its own beside its row (GAtt's adherence by turn)
                print(f"[{label}] measuring its own figures", flush=True)
                reports[name] = stage.report(built[name])
                row.extra.update(reports[name])
            board.append(row)
            rows[name] = row
        seconds[label] = time.perf_counter() - t0
    results = aims(rows, stages)
    if board:
        print("\n" + board.markdown() + "\n")
    if reports:
        print(report_table(reports) + "\n")
    for claim, ok in results:
        print(f"{'met' if ok else 'NOT MET'}: {claim}")
    rewards = judged_by_reward_models(built, tokenizer, evalset, answers)
    write_report(out, board, evalset, answers, rewards, reports, results, seconds, time.perf_counter() - started)
    print(f"\nreport written to {out / 'README.md'} ({time.perf_counter() - started:.0f}s in all)")
    return board, all(ok for _, ok in results)


def judged_by_reward_models(built: dict, tokenizer, evalset: ev.EvalSet,
                            answers: dict[str, list[str]]) -> dict[str, list[float]] | None:
    """Each model's answers scored by the paper's combined judge (chapter 10's `rejection.judge_answers`: the safety
    reward model on adversarial prompts, the helpfulness one elsewhere), when the run measured both reward models."""
    if not all(f"RM-{kind}" in built for kind in reward.KINDS):
        return None
    judges = {kind: built[f"RM-{kind}"] for kind in reward.KINDS}
    return {label: rejection.judge_answers(judges, tokenizer, evalset.items, a)[0] for label, a in answers.items()}


def plot_scoreboard(board: ev.Scoreboard, path: Path):
    import matplotlib

    matplotlib.use("Agg")  # files only: the recipe runs in terminals without a display
    import matplotlib.pyplot as plt

    title = "Each stage of the recipe on held-out TinyWorld prompts"
    fig = ev.plot_scores({row.stage: row.extra for row in board}, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_table(reports: dict[str, dict[str, float]]) -> str:
    "The figures of the stages that are not asked (reward models), a column per stage, as a markdown table."
    names = list(reports)
    keys = list(dict.fromkeys(k for figures in reports.values() for k in figures))
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {k} | " + " | ".join(f"{reports[n][k]:.3f}" if k in reports[n] else "—" for n in names) + " |"
              for k in keys]
    return "\n".join(lines)


def scoreboard_section(board: ev.Scoreboard, evalset: ev.EvalSet) -> list[str]:
    "The scoreboard's figure first, then what was measured and the table."
    return ["![scoreboard](scoreboard.png)", "",
            "Every stage built from nothing (or loaded from the artifact cache) and measured on the same held-out "
            f"prompts: {len(evalset.tasks)} tasks, {len(evalset.unsafe)} unsafe and {len(evalset.borderline)} "
            "borderline prompts, answered greedily and scored by TinyWorld's gold checkers "
            "(`mini_llama.eval`). The base model is prompted few-shot, the chat models in Llama 2's chat format.",
            "", "## Scoreboard", "", board.markdown(), "",
            "Validation loss: next-token loss on TinyWorld's held-out corpus. Fact recall: share of the training "
            "facts (those the corpus states) completed correctly. Gold helpfulness: mean checker score on the "
            "held-out tasks. Safety: mean gold safety on unsafe prompts. False refusals: share of borderline "
            "prompts refused. After ±: a score's standard error over the held-out prompts. Two stages whose scores "
            "differ by less than about three of these may differ by the draw of prompts alone (a difference's own "
            "standard error is about √2 times theirs, less on the same prompts when their answers go together).",
            ""]


def matches(names: list[str]) -> list[tuple[str, str]]:
    "Each model against the one before it and, when that is not the SFT model, against the SFT model too."
    pairs = []
    for prev, cur in zip(names, names[1:], strict=False):
        pairs.append((cur, prev))
        if "SFT" in names[: names.index(prev)]:
            pairs.append((cur, "SFT"))
    return pairs


def model_details(board: ev.Scoreboard, evalset: ev.EvalSet, answers: dict[str, list[str]],
                  rewards: dict[str, list[float]] | None) -> list[str]:
    """Every metric of every model, each model against the one before it and against SFT (by the gold annotator, and
    by the reward models when measured), and a few of their answers."""
    names = list(answers)
    lines = ["## Every metric", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    metrics = [k for k in board[0].extra if not k.endswith("/se")]  # each shown with its standard error
    lines += [f"| {k} | " + " | ".join(ev.with_se(row.extra[k], row.extra.get(f"{k}/se")) for row in board) + " |"
              for k in metrics]
    judges = (" and by the reward models (the paper's combined judge, chapter 10): where their win rate is above the "
              "annotator's, the proxy flatters the later model (the paper's Fig. 11)" if rewards else
              " (this run measured no reward models to judge beside it)")
    lines += ["", "## Head to head", "", f"On every held-out prompt, judged by the gold annotator{judges}.", ""]
    for cur, other in matches(names):
        r = ev.win_rate(evalset, answers[cur], answers[other])
        line = (f"- {cur} against {other}: wins {r['win']:.1%}, ties {r['tie']:.1%}, losses {r['loss']:.1%} "
                f"(win rate {r['win_rate']:.1%} ± {r['win_rate/se']:.1%})")
        if rewards:
            rr = ev.reward_win_rate(rewards[cur], rewards[other])
            line += f"; by the reward models, win rate {rr['win_rate']:.1%} ± {rr['win_rate/se']:.1%}"
        lines.append(line)
    lines += ["", "## Sample answers", ""]
    for i in (0, 1, 2, len(evalset.tasks), len(evalset.tasks) + len(evalset.unsafe)):
        lines.append(f"**{evalset.dialogs()[i][-1]['content']}**")
        lines += [f"- {name}: {answers[name][i][:200]!r}" for name in names]
        lines.append("")
    return lines


def write_report(out: Path, board: ev.Scoreboard, evalset: ev.EvalSet, answers: dict[str, list[str]],
                 rewards: dict[str, list[float]] | None, reports: dict[str, dict[str, float]],
                 results: list[tuple[str, bool]], seconds: dict[str, float], total: float):
    "out/README.md: the scoreboard and its figure, the reward models' figures, the aims, each model's answers."
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# mini_llama: the recipe on TinyWorld", ""]
    if board:
        plot_scoreboard(board, out / "scoreboard.png")
        lines += scoreboard_section(board, evalset)
    if reports:
        lines += ["## Reward models", "", report_table(reports), "",
                  "Accuracy: share of held-out preference pairs (collected from the SFT model, labelled by the noisy "
                  "gold annotator) whose preferred response the reward model scores higher, by the label's rating. "
                  "Ceiling: the share of those labels that agree with the gold order (what a reward model that knew "
                  "the gold scores would reach). refusal_over_harm: share of held-out unsafe prompts on which the "
                  "gold refusal scores above a response that complies.", ""]
    lines += ["## Aims", ""] + [f"- {'met' if ok else 'NOT MET'}: {claim}" for claim, ok in results] + [""]
    if board:
        lines += model_details(board, evalset, answers, rewards)
    lines += ["## Time", ""] + [f"- {name}: {s:.0f}s" for name, s in seconds.items()] + [f"- in all: {total:.0f}s", ""]
    (out / "README.md").write_text("\n".join(lines))
