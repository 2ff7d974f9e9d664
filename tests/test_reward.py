"""Reward models (chapter 09): the score read at the last real token whatever the padding, the ranking loss as the
paper writes it, a batch scored as each sequence alone, bad preference records refused by name, preferences
collected from any chat model, and the score equal to transformers' LlamaForSequenceClassification on the same
weights."""

import dataclasses
import math

import pytest
import torch

from mini_llama import data, reward
from mini_llama import eval as ev
from mini_llama.config import ModelArgs
from mini_llama.generation import left_pad
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer

ARGS = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=96, multiple_of=32, max_seq_len=64)


def small_reward_model(seed=0) -> reward.RewardModel:
    torch.manual_seed(seed)
    rm = reward.RewardModel.from_chat_model(Transformer(ModelArgs(**ARGS)).init_weights())
    torch.nn.init.normal_(rm.output.weight, std=0.5)  # a trained head: rewards that differ from row to row
    return rm.eval()


def random_rows(lengths, seed=0) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(3, ARGS["vocab_size"], (n,), generator=gen).tolist() for n in lengths]


def test_a_reward_model_starts_as_the_chat_model_with_a_head_of_zeros():
    torch.manual_seed(0)
    chat = Transformer(ModelArgs(**ARGS)).init_weights()
    rm = reward.RewardModel.from_chat_model(chat)
    for name, weight in chat.state_dict().items():
        if name != "output.weight":
            assert torch.equal(rm.state_dict()[name], weight), name
    assert rm.output.weight.shape == (1, ARGS["dim"]) and not rm.output.weight.any()
    tokens, real = reward.pad_right(random_rows([5, 9]), ARGS["max_seq_len"])
    assert rm(tokens, real).tolist() == [0.0, 0.0]
    # every pair's loss is then log 2 without a margin: the model cannot tell the two apart yet
    assert reward.ranking_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2)).item() == pytest.approx(math.log(2))


def test_the_score_is_read_at_the_last_real_token_whatever_the_padding():
    rm = small_reward_model()
    rows = random_rows([7, 12, 3])
    alone = torch.stack([rm(torch.tensor([r]), torch.ones(1, len(r), dtype=torch.bool)) for r in rows])[:, 0]
    right, real = reward.pad_right(rows, ARGS["max_seq_len"])
    assert torch.allclose(rm(right, real), alone, atol=1e-5)
    garbage = torch.where(real, right, torch.randint(3, ARGS["vocab_size"], right.shape))  # pads need not be 0
    assert torch.allclose(rm(garbage, real), alone, atol=1e-5)
    left, pads = left_pad(rows)
    left_real = torch.arange(left.shape[1])[None, :] >= pads[:, None]
    assert torch.allclose(rm(left, left_real), alone, atol=1e-5)
    longer = torch.cat([right, torch.zeros(3, 10, dtype=torch.long)], dim=1)  # more padding changes nothing
    assert torch.allclose(rm(longer, torch.cat([real, torch.zeros(3, 10, dtype=torch.bool)], dim=1)), alone, atol=1e-5)
    # and it is the last token's reward: the same rows cut one token short score differently
    assert not torch.allclose(rm(*reward.pad_right([r[:-1] for r in rows], ARGS["max_seq_len"])), alone, atol=1e-3)


def test_a_batch_scores_each_response_as_it_would_alone():
    tokenizer = course_tokenizer()
    torch.manual_seed(0)
    chat = Transformer(ModelArgs(**{**ARGS, "vocab_size": tokenizer.n_words, "max_seq_len": 128})).init_weights()
    rm = reward.RewardModel.from_chat_model(chat)
    torch.nn.init.normal_(rm.output.weight, std=0.5)
    dialogs = [[{"role": "user", "content": q}] for q in ("What is 3 + 4?", "Reverse the word oven.", "Hi.")]
    responses = ["3 + 4 = 7.", "The word oven is spelled o-v-e-n, so backwards it is n-e-v-o.", "Hello!"]
    batch = reward.score(rm, tokenizer, dialogs, responses)
    alone = [reward.score(rm, tokenizer, [d], [r])[0] for d, r in zip(dialogs, responses, strict=True)]
    assert batch == pytest.approx(alone, abs=1e-5) and len(set(batch)) == 3
    assert reward.score(rm, tokenizer, dialogs, responses, batch_size=2) == pytest.approx(batch, abs=1e-5)
    with pytest.raises(ValueError, match="got 3 dialogs and 2 responses"):
        reward.score(rm, tokenizer, dialogs, responses[:2])


def test_a_pairs_loss_equals_the_formula_with_each_margin_table():
    chosen, rejected = torch.tensor([2.0, 0.5, -1.0, 0.3]), torch.tensor([1.0, 0.7, -3.0, 0.3])
    ratings = list(data.RATINGS)  # one pair of each level, in the paper's order
    tables = {"none": (0, 0, 0, 0), "small": (1, 2 / 3, 1 / 3, 0), "large": (3, 2, 1, 0)}  # Table 27
    for name, table in tables.items():
        margins = reward.margins_of(ratings, name)
        assert margins.tolist() == pytest.approx(table)
        by_hand = [-math.log(1 / (1 + math.exp(-(c - r - m))))
                   for c, r, m in zip(chosen.tolist(), rejected.tolist(), table, strict=True)]
        assert reward.ranking_loss(chosen, rejected, margins).item() == pytest.approx(sum(by_hand) / 4, rel=1e-6)
    with pytest.raises(ValueError, match="margin is 'huge'; expected one of"):
        reward.margins_of(ratings, "huge")


def record(**changes) -> reward.PreferenceRecord:
    fields = dict(dialog=[{"role": "user", "content": "What is 3 + 4?"}], chosen="3 + 4 = 7.", rejected="8.",
                  rating="significantly better", safety_bin="both safe", kind="helpfulness", gold_gap=1.0)
    return reward.PreferenceRecord(**{**fields, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"rating": "much better"}, "PreferenceRecord.rating is 'much better'; expected one of"),
    ({"rejected": "  "}, "PreferenceRecord.rejected is '  '; expected a non-empty response"),
    ({"chosen": ""}, "PreferenceRecord.chosen is ''; expected a non-empty response"),
    ({"rejected": "3 + 4 = 7."}, "PreferenceRecord.rejected is '3 \\+ 4 = 7.'; expected a response other than"),
    ({"kind": "honesty"}, "PreferenceRecord.kind is 'honesty'; expected one of"),
    ({"safety_bin": "unsafe"}, "PreferenceRecord.safety_bin is 'unsafe'; expected one of"),
])
def test_bad_preference_records_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        record(**changes)


def test_the_ceiling_of_a_label_is_whether_it_agrees_with_the_gold_order():
    assert [record(gold_gap=g).ceiling for g in (0.75, 0.0, -0.25)] == [1.0, 0.5, 0.0]


def test_preferences_are_collected_from_two_samples_labelled_by_the_annotator(monkeypatch):
    world = data.make_world(seed=0)
    tasks = data.make_tasks(world, "train", 3, seed=0)
    samples = {0.7: [tasks[0].reference, "same", "x"], 1.1: ["I don't know.", "same", tasks[2].reference]}
    monkeypatch.setattr(ev, "respond", lambda model, prompts, tok, temperature, seed: samples[temperature])
    records = reward.collect_preferences(None, course_tokenizer(), tasks, "helpfulness", data.GoldAnnotator(),
                                         (0.7, 1.1))
    assert len(records) == 2  # the pair of identical answers is dropped
    assert [r.chosen for r in records] == [tasks[0].reference, tasks[2].reference]
    assert [r.rejected for r in records] == ["I don't know.", "x"]
    assert all(r.rating == "significantly better" and r.gold_gap > 0.5 and r.kind == "helpfulness" for r in records)
    with pytest.raises(ValueError, match="kind is 'fun'; expected one of"):
        reward.collect_preferences(None, course_tokenizer(), tasks, "fun", data.GoldAnnotator())


def test_each_reward_model_mixes_in_the_other_kind_of_data_at_its_share():
    help_records = [record(chosen=f"{i} or so.") for i in range(90)]
    safe_records = [record(kind="safety", chosen=f"no {i}.") for i in range(50)]
    records = {"helpfulness": help_records, "safety": safe_records}
    pairs = reward.training_pairs(records, reward.RewardConfig(kind="safety", other_share=0.1))
    assert len(pairs) == 50 + 6 and sum(p.kind == "helpfulness" for p in pairs) == 6  # 50 / 0.9 * 0.1 = 5.6
    cfg = reward.RewardConfig(kind="helpfulness", other_share=0.25, n_pairs=60)
    pairs = reward.training_pairs(records, cfg)
    assert sum(p.kind == "helpfulness" for p in pairs) == 60 and sum(p.kind == "safety" for p in pairs) == 20
    assert pairs == reward.training_pairs(records, cfg)  # the same draw every time
    with pytest.raises(ValueError, match="RewardConfig.other_share is 1.0; expected a share in"):
        reward.RewardConfig(other_share=1.0)


def test_training_lowers_the_ranking_loss_of_the_pairs_it_sees():
    tokenizer = course_tokenizer()
    torch.manual_seed(0)
    chat = Transformer(ModelArgs(**{**ARGS, "vocab_size": tokenizer.n_words, "max_seq_len": 128})).init_weights()
    rm = reward.RewardModel.from_chat_model(chat)
    # a difference a small random model learns at once: a polite answer against a rude one
    pairs = [record(chosen=f"Thank you, the answer is {a}.", rejected=f"Go away, the answer is {a}.",
                    dialog=[{"role": "user", "content": f"What is {a} + 0?"}]) for a in range(32)]
    cfg = reward.RewardConfig(batch_size=8, margin="none")
    before = reward.pair_loss(rm, tokenizer, pairs, "none").item()
    history = reward.train_reward_model(rm, tokenizer, pairs * 4, dataclasses.replace(cfg), progress=False)
    assert len(history) == 16 and before == pytest.approx(math.log(2))
    assert reward.pair_loss(rm, tokenizer, pairs, "none").item() < 0.5 * before and not rm.training


def test_the_reward_equals_transformers_sequence_classification_on_the_same_weights():
    transformers = pytest.importorskip("transformers")
    from mini_llama.checkpoint import hf_config, to_hf_state_dict

    rm = small_reward_model()
    hf_state = to_hf_state_dict(rm)
    hf_state["score.weight"] = hf_state.pop("lm_head.weight")  # the head of a sequence classifier has this name
    cfg = {**hf_config(rm.params), "architectures": ["LlamaForSequenceClassification"], "num_labels": 1,
           "pad_token_id": 0}
    hf = transformers.LlamaForSequenceClassification(transformers.LlamaConfig(**cfg)).eval()
    hf.load_state_dict(hf_state, strict=False)
    rows = random_rows([7, 12, 3])
    tokens, real = reward.pad_right(rows, ARGS["max_seq_len"])  # pad id 0, which no row uses
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=real.long()).logits[:, 0]
    assert torch.allclose(rm(tokens, real), theirs, atol=1e-5)


def test_a_packed_pair_scores_as_its_two_rows_alone():
    rm = small_reward_model()
    prompts = random_rows([9, 4, 6], seed=1)
    answers = random_rows([5, 3, 8, 2, 1, 6], seed=2)
    chosen = [prompts[0] + answers[0], prompts[1] + answers[1], prompts[2] + answers[2]]
    rejected = [prompts[0] + answers[3], prompts[1] + answers[1][:1], prompts[2] + answers[5]]  # one a prefix
    got_chosen, got_rejected = reward.pair_rewards(rm, chosen, rejected)
    alone = lambda rows: torch.cat([rm(torch.tensor([r]), torch.ones(1, len(r), dtype=torch.bool)) for r in rows])  # noqa: E731
    assert torch.allclose(got_chosen, alone(chosen), atol=1e-5)
    assert torch.allclose(got_rejected, alone(rejected), atol=1e-5)
    batch = reward.pack_pairs(chosen, rejected)
    assert batch.tokens.shape[1] == max(len(c) + len(r) - reward.shared_prefix(c, r)
                                        for c, r in zip(chosen, rejected, strict=True))
    assert reward.shared_prefix([1, 2, 3], [1, 2, 4]) == 2 and reward.shared_prefix([1, 2], [1, 2, 3]) == 1
