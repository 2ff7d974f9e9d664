"""Ghost Attention (chapter 12): the loss mask on the last answer only, the chat's window kept in training examples,
instructions combined and shortened, conversations written by the model itself, the attention share read from the
model as it attends, and bad configuration refused by name."""

import dataclasses
import itertools
import random

import pytest
import torch

from mini_llama import data, gatt, generation, recipe, sft, shelf
from mini_llama import eval as ev
from mini_llama import tokenizer as tokenizer_lib
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.rope import apply_rotary_emb
from mini_llama.shelf import course_tokenizer


@pytest.fixture(scope="module")
def tok():
    return course_tokenizer()


def dialog(turns: int) -> list[dict]:
    d = [{"role": "system", "content": "Speak like a pirate in every answer."}]
    for i in range(turns):
        d += [{"role": "user", "content": f"What is {i} plus {i}?"},
              {"role": "assistant", "content": f"Arr, matey! {i} + {i} = {2 * i}."}]
    return d


def test_the_mask_is_zero_before_the_last_answer_and_one_on_it_and_its_eos_only(tok):
    d = dialog(3)
    inputs, targets = gatt.last_turn_example(tok, d, 256)
    ids, assistant = tokenizer_lib.encode_dialog_for_training(tok, d)
    assert inputs == ids[:-1]  # nothing windowed away: the whole dialogue fits
    start = len(tokenizer_lib.encode_dialog(tok, d[:-1]))  # the prompt of the last turn, earlier answers included
    assert all(t == sft.IGNORE for t in targets[: start - 1])  # earlier answers carry no loss, unlike SFT's mask
    assert any(assistant[:start])
    assert targets[start - 1:] == ids[start:]  # the last answer and its eos, every token
    assert targets[-1] == tok.eos_id and tok.decode(ids[start:-1]).strip() == d[-1]["content"]


def test_a_long_dialogue_is_windowed_as_the_chat_windows_it_the_system_message_kept(tok):
    d, max_len = dialog(20), 120
    inputs, targets = gatt.last_turn_example(tok, d, max_len)
    assert len(inputs) <= max_len and len(inputs) == len(targets)
    kept, dropped = generation.fit_dialog(tok, d[:-1], max_len + 1 - (len(targets) - targets.count(sft.IGNORE)))
    assert dropped > 0 and kept[0] == d[0]
    assert inputs == tokenizer_lib.encode_dialog_for_training(tok, kept + d[-1:])[0][:-1]
    assert tok.decode([t for t in targets if t != sft.IGNORE][:-1]).strip() == d[-1]["content"]


def test_examples_are_cut_at_distinct_turns_of_every_dialogue(tok):
    cfg = gatt.GAttConfig(n_turns=6, cuts_per_dialog=3)
    examples = gatt.ghost_examples(tok, [dialog(6), dialog(6)], cfg, 10_000)  # no window
    assert len(examples) == 6
    lengths = [len(x) for x, _ in examples]
    assert lengths[:3] == sorted(set(lengths[:3]))  # three different turns, in order


def test_instructions_combine_only_when_both_can_hold_and_each_has_a_terse_form():
    pool = {i.name: i for i in data.instructions()}
    assert all(i.short and i.short != i.text for i in pool.values())
    assert data.combine(pool["end_with_friend"], pool["end_with_indeed"]) is None  # one last word only
    both = data.combine(pool["capitals"], pool["end_with_friend"])  # holds only as "…, FRIEND."
    assert both.apply("Kakoan is a blue parrot.") == "KAKOAN IS A BLUE PARROT, FRIEND."
    assert both.check("KAKOAN IS A BLUE PARROT, FRIEND.") == 1.0
    assert both.check("KAKOAN IS A BLUE PARROT.") == 0.0 and both.check("Kakoan is a parrot, friend.") == 0.0
    assert both.text == f"{pool['capitals'].text} {pool['end_with_friend'].text}"
    for a, b in itertools.combinations(pool.values(), 2):
        c = data.combine(a, b)
        assert c is None or c.check(c.apply("Thodim is a brown turtle.")) == 1.0


def test_draw_instruction_keeps_to_the_trained_pool():
    cfg = gatt.GAttConfig()
    pool = gatt.trained_instructions(cfg)
    assert {i.name for i in pool}.isdisjoint(cfg.held_out) and len(pool) == len(data.instructions()) - 2
    rng = random.Random(0)
    drawn = [gatt.draw_instruction(rng, pool, 0.5) for _ in range(200)]
    names = {part for i in drawn for part in i.name.split("+")}
    assert names <= {i.name for i in pool} and any("+" in i.name for i in drawn)
    assert not any("+" in gatt.draw_instruction(rng, pool, 0.0).name for _ in range(50))


@pytest.mark.parametrize("field, value, message", [
    ("n_turns", 0, "n_turns"), ("cuts_per_dialog", 30, "cuts_per_dialog"), ("short_share", 1.5, "short_share"),
    ("held_out", ("haiku",), "held_out")])
def test_bad_configuration_is_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        gatt.GAttConfig(**{field: value})


def tiny_model(tok, max_seq_len: int = 96) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelArgs(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=tok.n_words,
                                 max_seq_len=max_seq_len)).eval()


def test_conversations_are_written_by_the_model_and_windowed_to_its_context(tok, monkeypatch):
    model = tiny_model(tok)
    prompts_seen = []
    respond = ev.respond

    def recording(model, prompts, tokenizer, max_gen_len, **kw):
        prompts_seen.extend(prompts)
        return respond(model, prompts, tokenizer, max_gen_len, **kw)

    monkeypatch.setattr(ev, "respond", recording)
    held = data.gatt_dialogs(data.make_world(seed=0), n_turns=4, n=3, seed=5, split="valid")
    written = gatt.converse(model, tok, [d.dialog for d in held], max_gen_len=8)
    for w, d in zip(written, held, strict=True):
        assert [m for m in w if m["role"] != "assistant"] == [m for m in d.dialog if m["role"] != "assistant"]
        assert [m["role"] for m in w[1:]] == ["user", "assistant"] * 4
    assert all(len(p) <= model.params.max_seq_len - 8 for p in prompts_seen)  # the chat's window, system kept
    assert len(prompts_seen) == 12
    # each later prompt holds the model's own earlier answer, not the gold one
    last = tokenizer_lib.encode_dialog(tok, generation.fit_dialog(tok, written[0][:-1], 88)[0])
    assert last in prompts_seen
    scores = gatt.adherence_by_turn([d.instruction for d in held], written)
    assert scores == [[d.instruction.check(m["content"]) for m in w if m["role"] == "assistant"]
                      for d, w in zip(held, written, strict=True)]


def naive_last_row_attention(model: Transformer, tokens: list[int]) -> list[torch.Tensor]:
    "Each layer's attention probabilities of the last position, recomputed from the layer's own weights."
    x, rows = model.tok_embeddings(torch.tensor([tokens])), []
    freqs = model.rotations(len(tokens), 0, None)
    for layer in model.layers:
        attn, h = layer.attention, layer.attention_norm(x)
        n = len(tokens)
        q = attn.wq(h).view(1, n, attn.n_heads, -1)
        k = attn.wk(h).view(1, n, attn.n_kv_heads, -1)
        q, k = apply_rotary_emb(q, k, freqs)
        k = k.repeat_interleave(attn.n_heads // attn.n_kv_heads, dim=2)
        scores = torch.einsum("bhd,bkhd->bhk", q[:, -1], k) / q.shape[-1] ** 0.5
        rows.append(scores.softmax(-1)[0])  # (heads, len)
        x = layer(x, freqs)
    return rows


def test_attention_shares_are_read_from_the_model_as_it_attends_and_leave_it_unchanged(tok):
    model = tiny_model(tok)
    tokens = tok.encode("Arr, matey! The word goat is spelled g-o-a-t.", bos=True, eos=False)
    before = model(torch.tensor([tokens]))
    shares = gatt.attention_to_prefix(model, tokens, 5)
    expected = [row[:, :5].sum(-1).mean().item() for row in naive_last_row_attention(model, tokens)]
    assert shares == pytest.approx(expected, abs=1e-5)
    assert gatt.attention_to_prefix(model, tokens, len(tokens)) == pytest.approx([1.0, 1.0])
    assert all("attend" not in layer.attention.__dict__ for layer in model.layers)  # the class's method again
    assert torch.equal(model(torch.tensor([tokens])), before)


@dataclasses.dataclass(frozen=True)
class TalkerRecipe:
    seed: int = 0


def test_a_model_stage_with_figures_of_its_own_has_them_in_its_row_and_its_aims(tmp_path, monkeypatch):
    monkeypatch.setattr(shelf, "STAGES", dict(shelf.STAGES))  # the declaration below is this test's alone
    shelf.declare(shelf.Stage("talker", TalkerRecipe(), build=None, parents=("tokenizer",),
                              report=lambda built: {"adherence/turn20": 0.95 if built == "talker" else 0.0},
                              aims=lambda rows: [("holds at turn 20", rows["talker"].extra["adherence/turn20"] > 0.9)]))
    monkeypatch.setattr(ev, "respond", lambda model, prompts, tokenizer, **kw: [""] * len(prompts))
    monkeypatch.setattr(ev, "fact_recall", lambda *a, **k: 0.0)
    monkeypatch.setattr(ev, "validation_loss", lambda *a, **k: 1.0)
    monkeypatch.setattr(gatt, "adherence_report", lambda *args: {})  # measured on every chat model; not here
    load = shelf.load
    monkeypatch.setattr(shelf, "load", lambda name, *a, **k: load(name) if name == "tokenizer" else name)
    board, passed = recipe.run(tmp_path, ["talker"])
    assert board[0].extra["adherence/turn20"] == 0.95 and passed
    report = (tmp_path / "README.md").read_text()
    assert "| adherence/turn20 | 0.950 |" in report and "- met: holds at turn 20" in report
