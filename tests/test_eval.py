"""The evaluation harness: gold scoring of fixed answers (exact, standard errors too), head-to-head win rates, and
batched greedy answers equal to answering each prompt alone."""

import math
from collections import Counter

import pytest
import torch

from mini_llama.config import ModelArgs
from mini_llama.data import FAMILIES, GoldAnnotator, make_tasks, make_world
from mini_llama.eval import (
    SCORE_KEYS,
    Scoreboard,
    StageRow,
    best_of_k,
    chat_prompts,
    eval_set,
    few_shot_examples,
    few_shot_prompts,
    mean,
    mean_and_se,
    plot_scores,
    respond,
    reward_win_rate,
    safety_breakdown,
    sample_responses,
    score_responses,
    transcript,
    win_rate,
)
from mini_llama.generation import generate
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer

TOK = course_tokenizer()
WORLD = make_world(0)
EVALSET = eval_set(WORLD, "valid", n_tasks=40, n_safety=10, seed=0)
GOLD = ([t.reference for t in EVALSET.tasks] + [p.reference for p in EVALSET.unsafe]
        + [p.reference for p in EVALSET.borderline])
REFUSAL = "I can't help with that, because it would hurt someone. Instead, ask a friend."


def test_gold_answers_score_perfectly_and_refusals_score_as_refusals():
    perfect = {"helpfulness": 1.0, **{f"helpfulness/{f}": 1.0 for f in FAMILIES}, "refusal_rate": 1.0, "safety": 1.0,
               "violation_rate": 0.0, "false_refusal_rate": 0.0, "borderline_helpfulness": 1.0}
    se = {f"{k}/se": 0.0 for k in perfect}  # every prompt scores the same: no spread
    assert score_responses(EVALSET, GOLD) == perfect | se
    refused = score_responses(EVALSET, [REFUSAL] * len(GOLD))
    assert refused["helpfulness"] == 0.0 and refused["refusal_rate"] == 1.0 and refused["false_refusal_rate"] == 1.0
    assert refused["safety"] == 1.0 and refused["violation_rate"] == 0.0  # a refusal with a reason and an alternative
    assert score_responses(EVALSET, [""] * len(GOLD))["violation_rate"] == 1.0  # no answer is no refusal either


def share_se(k: int, n: int) -> float:
    "The standard error of a share of k in n, by hand: sample variance n/(n-1) p(1-p) over n, square-rooted."
    p = k / n
    return math.sqrt(p * (1 - p) / (n - 1))


def test_mean_and_se_by_hand_and_at_the_edges():
    assert mean_and_se([1, 0, 1, 1]) == (0.75, 0.25)  # deviations² 0.0625 * 3 + 0.5625 = 0.75; / 3; sqrt; / sqrt(4)
    m, se = mean_and_se(x for x in (0.0, 0.5, 1.0))  # any iterable: deviations² 0.25 + 0 + 0.25, / 2, sqrt, / sqrt(3)
    assert m == 0.5 and se == pytest.approx(0.5 / math.sqrt(3))
    assert mean_and_se([0.7])[0] == 0.7 and math.isnan(mean_and_se([0.7])[1])  # one score: no spread to measure
    assert all(math.isnan(x) for x in mean_and_se([])) and math.isnan(mean([]))
    assert mean(iter([True, False])) == 0.5


def test_scores_are_the_exact_shares_of_a_mixed_answer_list():
    n_tasks, n_unsafe = len(EVALSET.tasks), len(EVALSET.unsafe)
    answers = list(GOLD)
    wrong = [i for i, t in enumerate(EVALSET.tasks) if t.family == "arithmetic"][:3]
    for i in wrong:
        answers[i] = "I do not know."
    answers[n_tasks] = "Sure, here is how."  # an unsafe prompt answered
    answers[n_tasks + n_unsafe] = REFUSAL  # a borderline prompt refused
    s = score_responses(EVALSET, answers)
    n_arith = sum(t.family == "arithmetic" for t in EVALSET.tasks)
    assert s["helpfulness"] == pytest.approx(1 - 3 / n_tasks)
    assert s["helpfulness/arithmetic"] == pytest.approx(1 - 3 / n_arith) and s["helpfulness/fact"] == 1.0
    assert s["refusal_rate"] == pytest.approx(1 - 1 / n_unsafe) and s["safety"] == pytest.approx(1 - 1 / n_unsafe)
    assert s["violation_rate"] == pytest.approx(1 / n_unsafe)
    assert s["false_refusal_rate"] == pytest.approx(1 / len(EVALSET.borderline))
    n_border = len(EVALSET.borderline)
    assert s["helpfulness/se"] == pytest.approx(share_se(n_tasks - 3, n_tasks))
    assert s["helpfulness/arithmetic/se"] == pytest.approx(share_se(n_arith - 3, n_arith))
    assert s["refusal_rate/se"] == pytest.approx(share_se(n_unsafe - 1, n_unsafe)) == s["safety/se"]
    assert s["false_refusal_rate/se"] == pytest.approx(share_se(1, n_border)) and s["helpfulness/fact/se"] == 0.0
    assert set(s) == {k for m in s if not m.endswith("/se") for k in (m, f"{m}/se")}  # a standard error for each


def test_the_safety_breakdown_counts_each_category_and_wrapper_exactly():
    evalset = eval_set(WORLD, "valid", n_tasks=5, n_safety=60, seed=1)
    answers = list([t.reference for t in evalset.tasks] + [p.reference for p in evalset.unsafe]
                   + [p.reference for p in evalset.borderline])
    first = len(evalset.tasks)
    fiction = [i for i, p in enumerate(evalset.unsafe) if p.wrapper == "fiction"]
    for i in fiction[:2]:
        answers[first + i] = "Sure, here is how."  # two unsafe prompts under the fiction wrapper answered
    border = next(i for i, p in enumerate(evalset.borderline) if p.wrapper == "none")
    answers[first + len(evalset.unsafe) + border] = REFUSAL  # one bare borderline prompt refused
    b = safety_breakdown(evalset, answers)
    n_fiction = len(fiction)
    assert b["violations by wrapper"]["fiction"] == pytest.approx((2 / n_fiction, share_se(2, n_fiction)))
    assert all(rate == se == 0.0 for w, (rate, se) in b["violations by wrapper"].items() if w != "fiction")
    assert set(b["violations by category"]) == {p.category for p in evalset.unsafe}
    assert sum(rate * sum(p.category == c for p in evalset.unsafe)
               for c, (rate, _) in b["violations by category"].items()) == pytest.approx(2)
    n_none = sum(p.wrapper == "none" for p in evalset.borderline)
    assert b["false refusals by wrapper"]["none"] == pytest.approx((1 / n_none, share_se(1, n_none)))
    with pytest.raises(ValueError, match="responses for"):
        safety_breakdown(evalset, answers[:-1])


def test_the_default_eval_set_is_large_enough_to_tell_stages_apart():
    default = eval_set(WORLD)
    families = Counter(t.family for t in default.tasks)
    assert len(default.tasks) >= 400 and set(families) == set(FAMILIES) and min(families.values()) >= 80
    # as many safety prompts as the split holds, up to 100 of each: a rate near 0.9 or 0.1 then has a standard error
    # of at most sqrt(0.09 / 49) = 0.043
    assert min(len(default.unsafe), len(default.borderline)) >= 50


def test_one_answer_per_prompt_is_required():
    with pytest.raises(ValueError, match=f"got 3 responses for {len(GOLD)} prompts"):
        score_responses(EVALSET, GOLD[:3])


def test_win_rate_counts_wins_ties_and_losses():
    assert win_rate(EVALSET, GOLD, GOLD) == {"win": 0.0, "tie": 1.0, "loss": 0.0, "win_rate": 0.5, "win_rate/se": 0.0}
    assert win_rate(EVALSET, GOLD, [""] * len(GOLD)) == {"win": 1.0, "tie": 0.0, "loss": 0.0, "win_rate": 1.0,
                                                         "win_rate/se": 0.0}
    n, ties = len(GOLD), len(GOLD) // 2
    half = GOLD[:ties] + [""] * (n - ties)
    r = win_rate(EVALSET, half, GOLD)
    assert r["loss"] == pytest.approx((n - ties) / n) and r["win"] == 0.0
    assert r["win_rate"] == pytest.approx(ties / 2 / n)
    assert r["win_rate/se"] == pytest.approx(0.5 * share_se(ties, n))  # a tie scores 0.5, a loss 0: half a share's
    noisy = win_rate(EVALSET, GOLD, [""] * len(GOLD), GoldAnnotator(noise=0.5, seed=1))
    assert 0.6 < noisy["win"] < 1.0  # a noisy annotator sometimes prefers the empty answer


def tiny_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelArgs.from_name("tiny", vocab_size=TOK.n_words, max_seq_len=256)).init_weights().eval()


def test_a_reward_win_rate_counts_higher_equal_and_lower_rewards():
    r = reward_win_rate([1.0, 0.5, 0.2, -1.0], [0.0, 0.5, 0.3, -2.0])
    assert (r["win"], r["tie"], r["loss"]) == (0.5, 0.25, 0.25)
    assert r["win_rate"] == pytest.approx(2.5 / 4) and r["win_rate/se"] == pytest.approx(mean_and_se([1, 0.5, 0, 1])[1])
    with pytest.raises(ValueError, match="got 2 and 1 rewards"):
        reward_win_rate([1.0, 2.0], [1.0])


def test_batched_answers_equal_answering_each_prompt_alone_in_order():
    model = tiny_model()
    prompts = chat_prompts(TOK, EVALSET.dialogs()[:7])
    batched = respond(model, prompts, TOK, max_gen_len=12, batch_size=3)
    alone = [TOK.decode(generate(model, [p], 12, temperature=0.0, eos_id=TOK.eos_id)[0]).strip() for p in prompts]
    assert batched == alone


def test_sampled_answers_are_fixed_by_their_seed_and_differ_between_seeds():
    model, prompts = tiny_model(), [TOK.encode(q, bos=True, eos=False) for q in ("What is 2 + 2?", "Who owns Zaza?")]
    sample = lambda seed: respond(model, prompts, TOK, max_gen_len=12, temperature=1.0, seed=seed)
    assert sample(0) == sample(0) and sample(0) != sample(1)
    samples = sample_responses(model, prompts, TOK, k=3, temperature=1.0, seed=5, max_gen_len=12)
    assert [s[2] for s in samples] == sample(7)  # the third sample of each prompt is the seed-7 round


def test_best_of_k_takes_the_best_gold_score_among_the_first_k_samples():
    tasks = make_tasks(WORLD, "valid", 2, seed=3, families=("arithmetic",), multi_turn=0)
    right = [t.worked_answer for t in tasks]
    samples = [["no idea", "still no", right[0], "x"], [right[1], "no", "no", "no"]]
    curve = best_of_k(tasks, samples, ks=(1, 2, 4))
    assert curve[1] == (0.5, 0.5) and curve[2] == (0.5, 0.5) and curve[4] == (1.0, 0.0)
    with pytest.raises(ValueError, match="at least 8 samples per task, got 4"):
        best_of_k(tasks, samples, ks=(1, 8))


def test_few_shot_prompts_are_solved_documents_then_the_question():
    shots = few_shot_examples(WORLD, families=("fact", "word"))
    prompt = few_shot_prompts(TOK, EVALSET.dialogs()[:1], shots)[0]
    assert prompt.count(TOK.eos_id) == 2 and prompt.count(TOK.bos_id) == 3  # two closed examples, one open question
    assert TOK.decode(prompt) == " ".join([transcript(s) for s in shots] + [transcript(EVALSET.dialogs()[0])
                                                                             + " Assistant:"])
    assert [s[-1]["role"] for s in shots] == ["assistant", "assistant"]
    with pytest.raises(ValueError, match="no training task of family 'poetry'"):
        few_shot_examples(WORLD, families=("poetry",))


def test_scoreboard_is_a_list_of_stage_rows_printed_as_markdown_with_standard_errors():
    board = Scoreboard([StageRow("base", 1.23456, 0.9, 0.1, 0.0, 0.0)])  # no scores in extra: no standard errors
    errors = {"helpfulness/se": 0.0214, "safety/se": 0.0, "false_refusal_rate/se": 0.03449}
    board.append(StageRow("SFT", 1.3, 0.85, 0.9, 1.0, 0.05, errors))
    assert board.markdown().splitlines() == [
        "| stage | validation loss | fact recall | gold helpfulness | safety | false refusals |",
        "|---|---|---|---|---|---|",
        "| base | 1.235 | 0.900 | 0.100 | 0.000 | 0.000 |",
        "| SFT | 1.300 | 0.850 | 0.900 ± 0.021 | 1.000 ± 0.000 | 0.050 ± 0.034 |"]
    # a chat model measured over twenty turns adds the adherence column; rows without it show a dash
    held = {"adherence/turn20": 0.964, "adherence/turn20/se": 0.0157}
    board.append(StageRow("GAtt", 1.3, 0.85, 0.9, 1.0, 0.05, held))
    lines = board.markdown().splitlines()
    assert lines[0].endswith("| false refusals | system message held at turn 20 |") and lines[1] == "|" + "---|" * 7
    assert lines[2].endswith("| 0.000 | — |")
    assert lines[4] == "| GAtt | 1.300 | 0.850 | 0.900 | 1.000 | 0.050 | 0.964 ± 0.016 |"


def test_plot_scores_draws_one_standard_error_either_side_where_the_scores_hold_one():
    import matplotlib.pyplot as plt
    from matplotlib.container import BarContainer

    scored = score_responses(EVALSET, [""] * 5 + GOLD[5:])
    plain = {k: v for k, v in scored.items() if not k.endswith("/se")}
    fig = plot_scores({"with": scored, "without": plain}, "test")
    with_bars, without_bars = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    half_heights = [abs(y1 - y0) / 2 for (_, y0), (_, y1) in with_bars.errorbar.lines[2][0].get_segments()]
    assert half_heights == pytest.approx([scored[f"{k}/se"] for k in SCORE_KEYS])
    assert all(math.isnan(y) for segment in without_bars.errorbar.lines[2][0].get_segments() for _, y in segment)
    plt.close(fig)


def test_fact_recall_counts_a_completion_only_when_it_starts_with_the_answer(monkeypatch):
    import mini_llama.eval as ev
    from mini_llama.data import fact_completions

    facts = fact_completions(WORLD, "train")
    right = [f"{f.answer}." for f in facts]
    half = [r if i % 2 == 0 else "Nobody knows." for i, r in enumerate(right)]
    glued = [f"{f.answer}x." for f in facts]  # the answer, but not followed by a word boundary
    for completions, expected in ((right, 1.0), (half, (len(facts) + 1) // 2 / len(facts)), (glued, 0.0)):
        monkeypatch.setattr(ev, "respond", lambda *a, answers=completions, **k: answers)
        assert ev.fact_recall(None, TOK, WORLD) == pytest.approx(expected)
