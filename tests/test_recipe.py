"""The main job: every stage measured by the same harness, a scoreboard printed and a report written, the aims read
from the shelf."""

import dataclasses

import pytest

from mini_llama import eval as ev
from mini_llama import gatt, recipe, shelf
from mini_llama.data import make_world


def test_the_course_stages_are_on_the_shelf_in_order():
    assert list(shelf.STAGES)[:3] == ["tokenizer", "base", "SFT"]
    assert recipe.measured_stages()[:2] == ["base", "SFT"]


def test_the_recipe_scores_every_stage_prints_the_scoreboard_and_writes_the_report(tmp_path, capsys, monkeypatch):
    evalset = ev.eval_set(make_world(seed=0), "valid")
    references = [t.reference for t in evalset.tasks] + ["I can't help with that."] * len(evalset.unsafe)
    references += ["Sure."] * len(evalset.borderline)

    def gold_or_silent(model, prompts, tokenizer, **kw):
        # the SFT stage answers with the gold references, the base model with nothing: known scores
        return references if model == "SFT" else [""] * len(prompts)

    monkeypatch.setattr(ev, "respond", gold_or_silent)
    monkeypatch.setattr(ev, "fact_recall", lambda *a, **k: 0.0)
    monkeypatch.setattr(ev, "validation_loss", lambda *a, **k: 1.0)
    held = {f"adherence/turn{t}": 1 / t for t in gatt.ADHERENCE_TURNS} | {
        f"adherence/turn{t}/se": 0.01 for t in gatt.ADHERENCE_TURNS}
    monkeypatch.setattr(gatt, "adherence_report", lambda model, tok, world: held if model == "SFT" else {})
    load = shelf.load  # each model stands as its name (only its answers matter here); the tokenizer is real
    monkeypatch.setattr(shelf, "load", lambda name, *a, **k: load(name) if name == "tokenizer" else name)
    board, passed = recipe.run(tmp_path, ["base", "SFT"])
    expected = ev.score_responses(evalset, references)
    assert [row.stage for row in board] == ["base (few-shot)", "SFT"]
    assert board[1].helpfulness == pytest.approx(expected["helpfulness"]) and board[1].helpfulness > 0.9
    assert board[0].helpfulness == 0.0 and board[1].extra == expected | held  # every score, standard errors too
    assert "adherence/turn20" not in board[0].extra  # the few-shot base model is not asked to hold a system message
    printed, report = capsys.readouterr().out, (tmp_path / "README.md").read_text()
    assert board.markdown() in printed and board.markdown() in report
    assert (f"| SFT | 1.000 | 0.000 | {board[1].helpfulness:.3f} ± {expected['helpfulness/se']:.3f} |" in report
            and "| 0.050 ± 0.010 |\n" in report)  # the last column: adherence at turn 20
    # the paper's figures: Table 30 from this run, the paper's own row beside it, and the plane of the chat models
    assert "| SFT | 0.500 ± 0.010 | 0.250 ± 0.010 | 0.167 ± 0.010 | 0.050 ± 0.010 |" in report
    assert "| Llama 2-Chat before GAtt (the paper's Table 30) | 1.000 | 0.100 | 0.000 | 0.000 |" in report
    assert "![plane](plane.png)" in report and (tmp_path / "plane.png").stat().st_size > 10_000
    assert "judges.png" not in report  # no reward models measured, no proxy judge to draw
    copied = [name for _, _, name in recipe.CHAPTER_FIGURES if (tmp_path / "figures" / name).exists()]
    assert copied == [name for _, _, name in recipe.CHAPTER_FIGURES]  # this is a checkout: every chapter's figure
    assert all(f"(figures/{name})" in report for name in copied)
    assert f"| helpfulness | 0.000 ± 0.000 | {board[1].helpfulness:.3f} ± " in report and "/se |" not in report
    r = ev.win_rate(evalset, references, [""] * len(references))
    assert f"- SFT against base (few-shot): wins {r['win']:.1%}" in report
    assert f"(win rate {r['win_rate']:.1%} ± {r['win_rate/se']:.1%})" in report
    assert f"- met: SFT gold helpfulness {board[1].helpfulness:.3f} >= 0.75" in report
    # gold answers refuse every unsafe prompt: too safe for the SFT stage, which must leave the safety stages work
    assert "- NOT MET: violation rate 0.000 on held-out unsafe prompts within (0.1, 0.5)" in report and not passed
    assert report.startswith("# mini_llama: the recipe on TinyWorld\n\n![scoreboard](scoreboard.png)\n")  # figure first
    assert (tmp_path / "scoreboard.png").stat().st_size > 10_000


@dataclasses.dataclass(frozen=True)
class JudgeRecipe:
    seed: int = 0


def test_a_stage_that_is_not_asked_reports_its_own_figures_and_aims(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shelf, "STAGES", dict(shelf.STAGES))  # the declaration below is this test's alone
    shelf.declare(shelf.Stage("judge", JudgeRecipe(), build=None, parents=("tokenizer",), prompting=None,
                              report=lambda built: {"accuracy/all": 0.75, "reported on": built == "judge"},
                              aims=lambda rows: [("the judge is right 3 times in 4", rows["judge"]["accuracy/all"]
                                                  >= 0.75)]))
    load = shelf.load
    monkeypatch.setattr(shelf, "load", lambda name, *a, **k: load(name) if name == "tokenizer" else name)
    assert "judge" in recipe.measured_stages() and "preferences" not in recipe.measured_stages()
    board, passed = recipe.run(tmp_path, ["judge"])
    report = (tmp_path / "README.md").read_text()
    assert len(board) == 0 and passed
    assert "| figure | judge |" in report and "| accuracy/all | 0.750 |" in report
    assert "| reported on | 1.000 |" in report  # the report was given the stage's artifact
    assert "- met: the judge is right 3 times in 4" in report and "## Scoreboard" not in report
    assert "- judge: " in report and "(None)" not in report  # its build time, under its own name
    assert "| accuracy/all | 0.750 |" in capsys.readouterr().out


def test_each_model_meets_the_one_before_it_and_the_sft_model_judged_by_both_judges_when_measured():
    names = ["base (few-shot)", "SFT", "PPO", "GAtt", "safety"]
    assert recipe.matches(names) == [("SFT", "base (few-shot)"), ("PPO", "SFT"), ("GAtt", "PPO"), ("GAtt", "SFT"),
                                     ("safety", "GAtt"), ("safety", "SFT")]
    evalset = ev.eval_set(make_world(seed=0), "valid", n_tasks=8, n_safety=4)
    gold = [t.reference for t in evalset.tasks] + [p.reference for p in (*evalset.unsafe, *evalset.borderline)]
    answers = {"SFT": gold, "PPO": [""] * len(gold)}
    board = ev.Scoreboard(ev.StageRow(n, 0.0, 0.0, 0.0, 0.0, 0.0, ev.score_responses(evalset, a))
                          for n, a in answers.items())
    rewards = {"SFT": [0.0] * len(gold), "PPO": [1.0] * (len(gold) - 1) + [0.0]}  # a judge the empty answers fool
    games = recipe.head_to_head(evalset, answers, rewards)
    lines = "\n".join(recipe.model_details(board, evalset, answers, games))
    gold_rate = ev.win_rate(evalset, [""] * len(gold), gold)
    proxy_rate = ev.reward_win_rate(rewards["PPO"], rewards["SFT"])
    assert gold_rate["win_rate"] == 0.0 and proxy_rate["win_rate"] == pytest.approx(1 - 0.5 / len(gold))
    assert (f"- PPO against SFT: wins 0.0%, ties 0.0%, losses 100.0% (win rate 0.0% ± 0.0%); by the reward models, "
            f"win rate {proxy_rate['win_rate']:.1%} ± {proxy_rate['win_rate/se']:.1%}") in lines
    assert "the proxy flatters" in lines
    no_judge = recipe.head_to_head(evalset, answers, None)
    assert [game[3] for game in no_judge] == [None]
    assert "no reward models" in "\n".join(recipe.model_details(board, evalset, answers, no_judge))
    figure = recipe.plot_judges(games)  # Fig. 11's shape: the one stage against SFT, by each judge
    by_judge = {c.get_label(): list(c.lines[0].get_ydata()) for c in figure.axes[0].containers}
    assert by_judge == {"gold annotator": [0.0], "reward models (the proxy)": [proxy_rate["win_rate"]]}


@pytest.mark.parametrize("all_met, check, status", [(False, True, 1), (False, False, 0), (True, True, 0)])
def test_check_makes_an_unmet_aim_the_commands_exit_status(tmp_path, monkeypatch, all_met, check, status):
    from mini_llama import cli

    monkeypatch.setattr(recipe, "run", lambda out: (ev.Scoreboard(), all_met))
    assert cli.main(["recipe", "--out", str(tmp_path), *(["--check"] if check else [])]) == status
