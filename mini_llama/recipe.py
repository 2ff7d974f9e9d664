"""The main job, `mini-llama recipe`: build every stage of the course from nothing, measure each, write a report.

Plain module, taught by no chapter (each stage is built by its chapter's module). The stages are the shelf's
(`mini_llama.shelf`): each is declared once, with its recipe, the stages it starts from, how it is asked (`chat`, or
`few-shot` for a base model) or how it is measured otherwise (`report`: a reward model's accuracy, or a model's own
figures beside its row), and its aims. Every such stage is built or loaded (missing artifacts rebuilt deterministically with a progress bar); a model is
measured by `mini_llama.eval` unchanged (a chat model also by how long it holds a system message, chapter 12's
measure) and gets a row of the scoreboard, another stage reports its own figures; the aims of every stage are checked
on those rows. The report then draws the paper's figures this run measures (Table 30, Fig. 11, Fig. 14's plane) and
gathers those the chapters drew. A new stage is one declaration on the shelf.
"""

import shutil
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
import mini_llama.gatt as gatt  # GAtt, and the adherence every chat model is measured on
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
            if stage.prompting == "chat":  # does a system message hold? (chapter 12; Table 30's turns)
                print(f"[{label}] measuring a system message's hold over twenty turns", flush=True)
                row.extra.update(gatt.adherence_report(built[name], tokenizer, world))
            if stage.report is not None:  # figures of its own beside its row (PPO's distance from its start)
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


def head_to_head(evalset: ev.EvalSet, answers: dict[str, list[str]], rewards: dict[str, list[float]] | None
                 ) -> list[tuple[str, str, dict, dict | None]]:
    """Every match of `matches` on every held-out prompt: (model, opponent, the model's win rate by the gold
    annotator, by the reward models or None when the run measured none), each rate with its standard error."""
    return [(cur, other, ev.win_rate(evalset, answers[cur], answers[other]),
             ev.reward_win_rate(rewards[cur], rewards[other]) if rewards else None)
            for cur, other in matches(list(answers))]


def plot_judges(games: list[tuple[str, str, dict, dict | None]]):
    """The paper's Fig. 11 shape: each stage against the SFT model, its win rate by the gold annotator and by the
    reward models, ± one standard error (`head_to_head`'s games, measured with the reward models); the figure."""
    import matplotlib.pyplot as plt

    against_sft = [(cur, gold, proxy) for cur, other, gold, proxy in games if other == "SFT"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for j, (judge, style) in enumerate((("gold annotator", "C0o-"), ("reward models (the proxy)", "C3s--")), 1):
        rates = [game[j] for game in against_sft]
        ax.errorbar(range(len(rates)), [r["win_rate"] for r in rates], yerr=[r["win_rate/se"] for r in rates],
                    fmt=style, capsize=3, label=judge)
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set_xticks(range(len(against_sft)), [cur for cur, _, _ in against_sft])
    ax.set(ylabel="win rate against the SFT model", title="Each stage against SFT, by two judges (Fig. 11's shape)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_plane(rows: list[ev.StageRow]):
    """The safety/helpfulness plane (the question of the paper's Fig. 14: what safety costs in helpfulness): each
    model's gold helpfulness against its violation rate, ± one standard error, labelled with its false refusals."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, row in enumerate(rows, start=1):  # C0 is the base model's colour in the scoreboard's figure
        point = (row.helpfulness, row.extra["violation_rate"])
        ax.errorbar(*point, xerr=row.extra["helpfulness/se"], yerr=row.extra["violation_rate/se"], fmt="o",
                    color=f"C{i}", capsize=3)
        ax.annotate(f"{row.stage} (false refusals {row.false_refusals:.2f})", point, textcoords="offset points",
                    xytext=(-150 if i % 2 else 8, 4), fontsize=8, color=f"C{i}")
    ax.margins(0.3)
    ax.set_ylim(bottom=0)
    ax.set(xlabel="gold helpfulness (held-out tasks)", ylabel="violation rate (held-out unsafe prompts)",
           title="The safety/helpfulness plane of the chat stages")
    fig.tight_layout()
    return fig


def adherence_table(rows: list[ev.StageRow]) -> list[str]:
    "The paper's Table 30 shape: each chat model's adherence at its turns ± standard error, the paper's before GAtt."
    turns = gatt.ADHERENCE_TURNS
    lines = ["| model | " + " | ".join(f"turn {t}" for t in turns) + " |", "|---|" + "---|" * len(turns)]
    lines += [f"| {row.stage} | " + " | ".join(ev.with_se(row.extra[f"adherence/turn{t}"],
                                                          row.extra[f"adherence/turn{t}/se"]) for t in turns) + " |"
              for row in rows]
    return lines + ["| Llama 2-Chat before GAtt (the paper's Table 30) | "
                    + " | ".join(f"{gatt.PAPER_BASELINE[t]:.3f}" for t in turns) + " |"]


# (the paper's figure or table, what the chapter's figure shows, its file in the course's figures/)
CHAPTER_FIGURES = (
    ("Table 8", "the agreement any reward model can reach under the annotator's noise, by rating (chapter 00)",
     "00_annotator_noise.png"),
    ("Fig. 6", "reward model accuracy against the amount of preference data (chapter 09)", "09_data_scaling.png"),
    ("Fig. 27", "how the margin in the ranking loss separates the rewards by rating (chapter 09)",
     "09_margin_split.png"),
    ("Fig. 7", "the best of K samples of the SFT model, by the gold truth (chapter 08)", "08_best_of_k.png"),
    ("Fig. 7", "the best of K samples, by the reward models' score and by the truth (chapter 10)",
     "10_reward_against_k.png"),
    ("Fig. 8", "the sampling temperature against K (chapter 10)", "10_temperature.png"),
    ("Fig. 15 and 33", "more safety data in SFT: violations against the false refusals it costs (chapter 08)",
     "08_safety_share.png"),
    ("Table 30", "a system message held over twenty turns, before and after GAtt (chapter 12)", "12_adherence.png"),
    ("Fig. 10", "the attention paid to the system message, before and after GAtt (chapter 12)", "12_attention.png"),
    ("Fig. 16b", "context distillation prompt by prompt: it repairs the worst answers (chapter 13)",
     "13_distillation.png"),
)
FIGURES = Path(__file__).resolve().parents[1] / "figures"  # the chapters' figures, in a checkout of the course


def paper_figures(out: Path, board: ev.Scoreboard, games: list[tuple[str, str, dict, dict | None]]) -> list[str]:
    """The paper's figures: those this run measures (Table 30 for every chat model, Fig. 11, Fig. 14's plane), drawn
    into `out`, then the chapters' own, copied beside them from the course's figures/ when this is a checkout."""
    lines = ["## The paper's figures", ""]
    chat_rows = [row for row in board if all(f"adherence/turn{t}" in row.extra for t in gatt.ADHERENCE_TURNS)]
    if chat_rows:
        lines += ["Measured by this run, on its held-out prompts.", "",
                  "**Table 30**: does a system message hold? Each chat model writes 140 held-out twenty-turn "
                  "conversations under an instruction; the share of its answers that obey it at the paper's turns "
                  "(chapter 12's measure).", "", *adherence_table(chat_rows), ""]
        save_figure(plot_plane(chat_rows), out / "plane.png")
        lines += ["**Fig. 14's question**, what safety costs in helpfulness: every chat model on the plane of gold "
                  "helpfulness against violations (chapter 14).", "", "![plane](plane.png)", ""]
    if any(other == "SFT" and proxy for _, other, _, proxy in games):
        save_figure(plot_judges(games), out / "judges.png")
        lines += ["**Fig. 11**: each stage against SFT by the proxy judge and by the truth (chapter 14).", "",
                  "![judges](judges.png)", ""]
    drawn = [(ref, what, name) for ref, what, name in CHAPTER_FIGURES if (FIGURES / name).exists()]
    if drawn:
        (out / "figures").mkdir(exist_ok=True)
        lines += ["As the chapters drew them (their last execution, on the same artifacts):", ""]
        for ref, what, name in drawn:
            shutil.copyfile(FIGURES / name, out / "figures" / name)
            lines += [f"**{ref}**: {what}.", "", f"![{ref}](figures/{name})", ""]
    return lines


def model_details(board: ev.Scoreboard, evalset: ev.EvalSet, answers: dict[str, list[str]],
                  games: list[tuple[str, str, dict, dict | None]]) -> list[str]:
    """Every metric of every model, each model against the one before it and against SFT (by the gold annotator, and
    by the reward models when measured), and a few of their answers."""
    names = list(answers)
    lines = ["## Every metric", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    metrics = [k for k in dict.fromkeys(k for row in board for k in row.extra) if not k.endswith("/se")]
    lines += [f"| {k} | " + " | ".join(ev.with_se(row.extra[k], row.extra.get(f"{k}/se")) if k in row.extra else "—"
                                       for row in board) + " |" for k in metrics]
    judged = any(proxy for *_, proxy in games)
    judges = (" and by the reward models (the paper's combined judge, chapter 10): where their win rate is above the "
              "annotator's, the proxy flatters the later model (the paper's Fig. 11)" if judged else
              " (this run measured no reward models to judge beside it)")
    lines += ["", "## Head to head", "", f"On every held-out prompt, judged by the gold annotator{judges}.", ""]
    for cur, other, r, rr in games:
        line = (f"- {cur} against {other}: wins {r['win']:.1%}, ties {r['tie']:.1%}, losses {r['loss']:.1%} "
                f"(win rate {r['win_rate']:.1%} ± {r['win_rate/se']:.1%})")
        if rr:
            line += f"; by the reward models, win rate {rr['win_rate']:.1%} ± {rr['win_rate/se']:.1%}"
        lines.append(line)
    lines += ["", "## Sample answers", ""]
    for i in (0, 1, 2, len(evalset.tasks), len(evalset.tasks) + len(evalset.unsafe)):
        lines.append(f"**{evalset.dialogs()[i][-1]['content']}**")
        lines += [f"- {name}: {answers[name][i][:200]!r}" for name in names]
        lines.append("")
    return lines


def save_figure(fig, path: Path):
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(out: Path, board: ev.Scoreboard, evalset: ev.EvalSet, answers: dict[str, list[str]],
                 rewards: dict[str, list[float]] | None, reports: dict[str, dict[str, float]],
                 results: list[tuple[str, bool]], seconds: dict[str, float], total: float):
    """out/README.md: the scoreboard and its figure, the reward models' figures, the aims, the paper's figures, each
    model's every metric, head-to-head results and answers."""
    import matplotlib

    matplotlib.use("Agg")  # files only: the recipe runs in terminals without a display
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# mini_llama: the recipe on TinyWorld", ""]
    games = head_to_head(evalset, answers, rewards)
    if board:
        title = "Each stage of the recipe on held-out TinyWorld prompts"
        save_figure(ev.plot_scores({row.stage: row.extra for row in board}, title), out / "scoreboard.png")
        lines += scoreboard_section(board, evalset)
    if reports:
        lines += ["## The reward models, and figures of other stages' own", "", report_table(reports), "",
                  "Accuracy: share of held-out preference pairs (collected from the SFT model, labelled by the noisy "
                  "gold annotator) whose preferred response the reward model scores higher, by the label's rating. "
                  "Ceiling: the share of those labels that agree with the gold order (what a reward model that knew "
                  "the gold scores would reach). refusal_over_harm: share of held-out unsafe prompts on which the "
                  "gold refusal scores above a response that complies. kl_from_start: PPO's mean KL from the model "
                  "it started from, in nats, on 200 held-out prompts (chapter 11).", ""]
    lines += ["## Aims", ""] + [f"- {'met' if ok else 'NOT MET'}: {claim}" for claim, ok in results] + [""]
    if board:
        lines += paper_figures(out, board, games) + model_details(board, evalset, answers, games)
    lines += ["## Time", ""] + [f"- {name}: {s:.0f}s" for name, s in seconds.items()] + [f"- in all: {total:.0f}s", ""]
    (out / "README.md").write_text("\n".join(lines))
