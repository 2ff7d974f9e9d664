"""Supervised fine-tuning: the loss is on the assistant's tokens only (eos included), and packed dialogues do not see
one another (block-diagonal mask, positions restarting at each dialogue)."""

import dataclasses

import pytest
import torch

from mini_llama.config import ModelArgs
from mini_llama.data import FAMILIES, make_world, sft_dialogs
from mini_llama.eval import StageRow
from mini_llama.model import Transformer
from mini_llama.pretrain import tinyworld_stream
from mini_llama.sft import (
    IGNORE,
    SFTConfig,
    dialog_example,
    epoch_batches,
    pack_examples,
    sft_aims,
    sft_loss,
    sft_step_loss,
    sft_validation_loss,
    train_sft,
    training_dialogs,
)
from mini_llama.shelf import course_tokenizer
from mini_llama.tokenizer import encode_dialog_for_training
from mini_llama.training import OptimConfig, lr_at, next_token_loss, sequence_logprobs

TOK = course_tokenizer()
DIALOGS = sft_dialogs(make_world(0), "train", 12, seed=0)


def tiny_model(seed=0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs.from_name("tiny", vocab_size=TOK.n_words, max_seq_len=256)).init_weights()


def logits_grad(model, batch) -> torch.Tensor:
    "The gradient of the SFT loss with respect to the output logits, (bs, seq_len, vocab)."
    kept = []

    def keep(module, inputs, out):
        out.retain_grad()
        kept.append(out)

    handle = model.output.register_forward_hook(keep)
    sft_loss(model, batch).backward()
    handle.remove()
    return kept[0].grad


def test_prompt_tokens_carry_no_gradient_and_the_assistants_eos_does():
    multi_turn = next(d for d in DIALOGS if sum(m["role"] == "assistant" for m in d) == 2)
    batch = pack_examples([dialog_example(TOK, multi_turn)], seq_len=256)
    grad = logits_grad(tiny_model(), batch)[0]  # (seq_len, vocab)
    ids, mask = encode_dialog_for_training(TOK, multi_turn)
    n = len(ids) - 1
    supervised = torch.tensor(mask[1:])  # position i predicts token i + 1
    assert torch.all(grad[:n][~supervised] == 0) and torch.all(grad[n:] == 0)  # prompt and padding: exactly zero
    assert torch.all(grad[:n][supervised].abs().sum(-1) > 0)
    eos_targets = [i for i in range(n) if ids[i + 1] == TOK.eos_id]
    assert len(eos_targets) == 2 and all(supervised[i] for i in eos_targets)  # each answer's eos is learned


def test_without_the_mask_every_next_token_is_a_target():
    inputs, targets = dialog_example(TOK, DIALOGS[0], assistant_only=False)
    ids, _ = encode_dialog_for_training(TOK, DIALOGS[0])
    assert inputs == ids[:-1] and targets == ids[1:]
    _, masked = dialog_example(TOK, DIALOGS[0])
    assert 0 < sum(t != IGNORE for t in masked) < len(targets)


def segments(batch):
    "(row, selector) of each packed dialogue, in packing order."
    return [(r, batch.doc_ids[r] == d) for r in range(batch.tokens.shape[0])
            for d in sorted(set(batch.doc_ids[r].tolist()) - {-1})]


def test_a_packed_dialogue_has_the_logits_it_has_alone():
    examples = [dialog_example(TOK, d) for d in DIALOGS[:6]]
    batch = pack_examples(examples, seq_len=256)
    assert batch.tokens.shape[0] < len(examples)  # several dialogues share a row
    model = tiny_model().eval()
    with torch.no_grad():
        packed = model(batch.tokens, mask=batch.attention_mask(), positions=batch.positions)
        for (inputs, _), (r, sel) in zip(examples, segments(batch), strict=True):
            assert batch.tokens[r, sel].tolist() == inputs
            assert batch.positions[r, sel].tolist() == list(range(len(inputs)))  # RoPE restarts at each dialogue
            alone = model(torch.tensor([inputs]))[0]
            torch.testing.assert_close(packed[r, sel], alone, atol=1e-5, rtol=1e-5)


def test_packing_keeps_each_dialogue_whole_and_in_order():
    examples = [dialog_example(TOK, d) for d in DIALOGS]
    batch = pack_examples(examples, seq_len=200)
    rebuilt = [(batch.tokens[r, sel].tolist(), batch.targets[r, sel].tolist()) for r, sel in segments(batch)]
    assert rebuilt == [(list(i), list(t)) for i, t in examples]
    assert torch.all(batch.targets[batch.doc_ids == -1] == IGNORE)


def test_a_dialogue_longer_than_a_row_is_refused_by_its_length():
    long = dialog_example(TOK, DIALOGS[0])
    with pytest.raises(ValueError, match=f"dialogue 0 has {len(long[0])} tokens, more than seq_len=8"):
        pack_examples([long], seq_len=8)


def test_each_epoch_shows_every_dialogue_once_in_a_new_order():
    examples = [dialog_example(TOK, d) for d in DIALOGS]
    cfg = SFTConfig(epochs=2, batch_size=2, seq_len=256)
    batches = epoch_batches(examples, cfg)
    seen = [tuple(b.tokens[r, sel].tolist()) for b in batches for r, sel in segments(b)]
    first, second = seen[: len(examples)], seen[len(examples):]
    assert sorted(first) == sorted(second) == sorted(tuple(i) for i, _ in examples)
    assert first != second


def test_sft_training_is_bit_reproducible_and_lowers_the_loss():
    cfg = SFTConfig(epochs=2, batch_size=2, seq_len=256, optim=OptimConfig(lr=3e-3, warmup_steps=2))
    runs = []
    for _ in range(2):
        model = tiny_model()
        history = train_sft(model, TOK, DIALOGS, cfg, progress=False)
        runs.append((history, model.state_dict()))
    (h1, s1), (h2, s2) = runs
    assert h1 == h2 and all(torch.equal(s1[k], s2[k]) for k in s1)
    assert h1[-1]["loss"] < h1[0]["loss"]
    tcfg = dataclasses.replace(cfg.optim, max_steps=len(h1))  # the training layer's schedule over both epochs
    assert [h["lr"] for h in h1] == [lr_at(step, tcfg) for step in range(len(h1))]


def test_a_step_adds_the_next_rows_of_pretraining_text_under_the_next_token_loss():
    model = tiny_model().eval()
    batch = epoch_batches([dialog_example(TOK, d) for d in DIALOGS], SFTConfig(epochs=1, batch_size=2))[0]
    stream, twin = (tinyworld_stream(make_world(0), "train", TOK, 256) for _ in range(2))
    with torch.no_grad():
        assert torch.equal(sft_step_loss(model, batch, stream, 2),
                           sft_loss(model, batch) + next_token_loss(model, twin.next_batch(2)))
        assert torch.equal(sft_step_loss(model, batch, None, 0), sft_loss(model, batch))
    assert torch.equal(stream.next_batch(1), twin.next_batch(1))  # the step took exactly its two rows


def test_validation_loss_is_the_mean_over_the_assistants_tokens_only():
    model = tiny_model().eval()
    ids_masks = [encode_dialog_for_training(TOK, d) for d in DIALOGS[:4]]
    logprobs = []
    with torch.no_grad():
        for ids, mask in ids_masks:  # each dialogue alone: the log-probability of each assistant token (and its eos)
            lp = sequence_logprobs(model, torch.tensor([ids]), torch.tensor([mask]))
            logprobs += lp[0, torch.tensor(mask)].tolist()
    expected = -sum(logprobs) / len(logprobs)
    assert sft_validation_loss(model, TOK, DIALOGS[:4]) == pytest.approx(expected, abs=1e-4)
    with torch.no_grad():
        every = [sequence_logprobs(model, torch.tensor([ids]), torch.arange(len(ids))[None] > 0)[0, 1:]
                 for ids, _ in ids_masks]
    every_token = -torch.cat(every).mean().item()
    assert abs(every_token - expected) > 0.01  # the two differ here, so the test can tell them apart


def stage_row(stage: str, helpfulness: float, families: dict, violation: float, false_refusals: float) -> StageRow:
    extra = {f"helpfulness/{f}": families[f] for f in FAMILIES} | {"violation_rate": violation}
    return StageRow(stage, 0.5, 0.9, helpfulness, 1 - violation, false_refusals, extra)


def test_the_sft_aims_read_helpfulness_every_family_and_both_sides_of_safety():
    good = dict.fromkeys(FAMILIES, 0.8)
    rows = {"base": stage_row("base", 0.1, dict.fromkeys(FAMILIES, 0.1), 1.0, 0.0),
            "SFT": stage_row("SFT", 0.8, good, 0.2, 0.05)}
    assert all(met for _, met in sft_aims(rows))
    rows["SFT"] = stage_row("SFT", 0.8, good | {"word": 0.4}, 0.05, 0.2)  # a weak family, too safe, too refusing
    failed = [claim for claim, met in sft_aims(rows) if not met]
    assert len(failed) == 3 and "weakest: word, 0.400" in failed[0]
    assert "violation rate 0.050" in failed[1] and "false-refusal rate 0.200" in failed[2]


def test_the_safety_share_decides_how_many_safety_dialogues_there_are():
    def refusals(share: float) -> int:
        dialogs = training_dialogs(SFTConfig(n_dialogs=600, safety_share=share))
        return sum(d[-1]["content"].startswith("I can't help with that") for d in dialogs)
    assert refusals(0.0) == 0 < refusals(0.15) < refusals(0.3)
