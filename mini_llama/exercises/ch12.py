"""Checks for chapter 12's exercises (Ghost Attention): the loss mask on the last answer only, and what happens after
a conversation's first slip."""

from mini_llama import sft
from mini_llama import tokenizer as tokenizer_lib
from mini_llama.exercises import exercise, expect, expect_equal
from mini_llama.gatt import last_turn_example

__all__ = ["check_ghost_targets", "check_after_first_slip"]


def _dialogs() -> list[list[dict]]:
    one = [{"role": "system", "content": "Style: pirate."}, {"role": "user", "content": "What is 2 plus 3?"},
           {"role": "assistant", "content": "Arr, matey! 2 + 3 = 5."}]
    three = one + [{"role": "user", "content": "Spell the word 'goat'."},
                   {"role": "assistant", "content": "Arr! The word goat is spelled g-o-a-t."},
                   {"role": "user", "content": "What colour is Thodim?"},
                   {"role": "assistant", "content": "Arr, Thodim is a brown turtle."}]
    return [one, three, three[1:]]


@exercise("Exercise 1 (GAtt's loss mask)")
def check_ghost_targets(ghost_targets, tokenizer) -> None:
    """`ghost_targets(tokenizer, dialog)`: the dialog's (inputs, targets) as chapter 08's `sft.dialog_example` makes
    them, but with the loss (a target other than sft.IGNORE) on the last answer and its eos only."""
    for dialog in _dialogs():
        what = f"a dialogue of {sum(m['role'] == 'user' for m in dialog)} turn(s)"
        want = last_turn_example(tokenizer, dialog, 10_000)
        got = ghost_targets(tokenizer, dialog)
        expect(isinstance(got, tuple) and len(got) == 2, f"{what}: got {got!r:.80}, expected (inputs, targets)")
        inputs, targets = list(got[0]), list(got[1])
        expect_equal(f"{what}: the inputs", inputs, want[0])
        expect_equal(f"{what}: the number of targets", len(targets), len(want[1]))
        if targets == sft.dialog_example(tokenizer, dialog)[1] and targets != want[1]:
            expect(False, f"{what}: that is SFT's mask, the loss on every answer; GAtt keeps it on the last only")
        ids = tokenizer_lib.encode_dialog_for_training(tokenizer, dialog)[0]
        if targets == [t if w != sft.IGNORE else sft.IGNORE for t, w in zip(ids[:-1], want[1], strict=True)]:
            expect(False, f"{what}: the targets are the inputs; a target is the next token (ids shifted by one)")
        if targets[-1] == sft.IGNORE and targets[:-1] == want[1][:-1]:
            expect(False, f"{what}: the eos after the last answer is a target too: it teaches the model to stop")
        expect_equal(f"{what}: the targets", targets, want[1])


def _slip_cases() -> list[tuple[str, list[list[float]], float | None]]:
    return [("a slip at the first turn", [[0.0, 1.0, 1.0]], 1.0),
            ("one conversation that never slips", [[1.0, 1.0, 1.0]], None),
            ("a slip at turn 2, then obeys once in two turns", [[1.0, 0.0, 1.0, 0.0]], 0.5),
            ("two conversations", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]], 0.5),
            ("a slip at the last turn only", [[1.0, 1.0, 0.0]], None),
            ("partial scores: below 1 is a slip", [[1.0, 0.5, 1.0, 1.0]], 1.0)]


@exercise("Exercise 2 (after the first slip)")
def check_after_first_slip(after_first_slip) -> None:
    """`after_first_slip(scores)`: over conversations' turn-by-turn adherence (scores[i][t] in [0, 1]), the share of
    turns after each conversation's first slip (its first score below 1) that obey (score 1); None when no turn comes
    after a slip."""
    for what, scores, want in _slip_cases():
        got = after_first_slip([list(s) for s in scores])
        if want is None:
            expect(got is None, f"{what}: got {got!r}, expected None: no turn comes after a slip")
            continue
        expect(isinstance(got, (int, float)), f"{what}: got {got!r}, expected a share")
        if abs(got - want) > 1e-9:
            share_all = sum(s == 1.0 for conv in scores for s in conv) / sum(len(conv) for conv in scores)
            hint = " (that is the share of all turns that obey)" if abs(got - share_all) < 1e-9 else ""
            expect(False, f"{what}: got {got:.3f}, expected {want:.3f}{hint}")
