"""Checks for chapter 08's exercises (supervised fine-tuning): the assistant mask of a dialogue, and the loss on the
learned targets only."""

import torch
import torch.nn.functional as F

from mini_llama.exercises import exercise, expect, expect_close, expect_equal
from mini_llama.sft import IGNORE
from mini_llama.tokenizer import encode_dialog_for_training

__all__ = ["check_dialog_mask", "check_masked_loss"]

# (what the case shows, the dialogue)
_DIALOGS = [
    ("one question, one answer", [{"role": "user", "content": "What is 3 + 4?"},
                                  {"role": "assistant", "content": "3 + 4 = 7."}]),
    ("two turns", [{"role": "user", "content": "Who owns Talound?"},
                   {"role": "assistant", "content": "Talound belongs to Rikath."},
                   {"role": "user", "content": "Reverse the word 'cat'."},
                   {"role": "assistant", "content": "The word 'cat' reversed is tac."}]),
    ("a system message and two turns", [{"role": "system", "content": "Always answer in capital letters."},
                                        {"role": "user", "content": "Plezee is a purple turtle. What colour is Plezee?"},
                                        {"role": "assistant", "content": "PLEZEE IS A PURPLE TURTLE."},
                                        {"role": "user", "content": "Compute 30 + 2."},
                                        {"role": "assistant", "content": "30 + 2 = 32."}]),
]


@exercise("Exercise 1 (the assistant mask of a dialogue)")
def check_dialog_mask(dialog_mask, tokenizer) -> None:
    """`dialog_mask(tokenizer, dialog)` returns (ids, mask) for a dialogue ending with the assistant's answer: its ids
    in Llama 2's chat format and a mask True exactly on the assistant's tokens and the eos closing each answer."""
    for what, dialog in _DIALOGS:
        want_ids, want_mask = encode_dialog_for_training(tokenizer, dialog)
        got_ids, got_mask = dialog_mask(tokenizer, [dict(m) for m in dialog])
        got_ids, got_mask = [int(i) for i in got_ids], [bool(m) for m in got_mask]
        if got_ids != want_ids:
            shorter = min(len(got_ids), len(want_ids))
            p = next((i for i in range(shorter) if got_ids[i] != want_ids[i]), shorter)
            expect(False, f"{what}: the ids differ first at position {p}: got {tokenizer.decode(got_ids[p:p + 8])!r}"
                          f"..., expected {tokenizer.decode(want_ids[p:p + 8])!r}... ({len(got_ids)} ids, expected "
                          f"{len(want_ids)}); each exchange is bos [INST] question [/INST] answer eos")
        expect_equal(f"{what}: mask length", len(got_mask), len(want_mask))
        for p, (got, want) in enumerate(zip(got_mask, want_mask, strict=True)):
            if got != want:
                piece = tokenizer.id_to_piece(want_ids[p])
                hint = ("the eos that closes an answer is learned, or the model never learns to stop"
                        if want_ids[p] == tokenizer.eos_id else
                        "the prompt (system message, question, chat tags) is not the model's to write"
                        if not want else "every token of the answer is learned")
                expect(False, f"{what}: the mask at position {p} (piece {piece!r}) is {got}, expected {want}: {hint}")


def _loss_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 11, generator=gen) * 3
    uneven = torch.tensor([[IGNORE, IGNORE, 4, 7, 1, IGNORE], [IGNORE, 2, 9, IGNORE, IGNORE, IGNORE]])
    one_row = torch.tensor([[IGNORE, IGNORE, IGNORE, IGNORE, 5, 3], [IGNORE] * 6])
    return [("rows with different numbers of learned targets", logits, uneven),
            ("a row with no learned target", logits, one_row),
            ("every target learned", logits, torch.randint(0, 11, (2, 6), generator=gen))]


@exercise("Exercise 2 (the loss on the learned targets only)")
def check_masked_loss(masked_loss) -> None:
    """`masked_loss(logits, targets)`: logits (bs, seq_len, vocab), targets (bs, seq_len) with IGNORE where no loss;
    the mean cross-entropy over the targets that are not IGNORE, a scalar tensor."""
    for what, logits, targets in _loss_cases():
        want = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        got = masked_loss(logits.clone(), targets.clone())
        expect(isinstance(got, torch.Tensor), f"{what}: got a {type(got).__name__}, expected a scalar tensor")
        got = got.reshape(()) if got.numel() == 1 else got
        learned = int((targets != IGNORE).sum())
        if got.shape == () and abs(got.item() - want.item()) > 1e-4:
            expect(False, f"{what}: got {got.item():.4f}, expected {want.item():.4f}: the mean over the "
                          f"{learned} learned targets of all {targets.numel()}, each counted once (not a mean of "
                          f"the rows' means, and an ignored target adds nothing to the sum or the count)")
        expect_close(what, got, want, atol=1e-4, rtol=1e-4)
