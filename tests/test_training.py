"""The training layer every stage trains through: the paper's schedule and optimiser, the update step, and the
teacher-forced log-probabilities of given tokens, which generation's own log-probabilities must equal."""

import pytest
import torch

from mini_llama.config import ModelArgs
from mini_llama.generation import generate, positions_and_mask
from mini_llama.model import Transformer
from mini_llama.sft import pack_examples
from mini_llama.training import OptimConfig, lr_at, make_optimizer, next_token_loss, optimizer_step, sequence_logprobs

VOCAB = 96


def tiny_model(seed=0, std=0.1) -> Transformer:
    model = Transformer(ModelArgs.from_name("tiny", vocab_size=VOCAB, max_seq_len=64))
    return model.init_weights(std=std, generator=torch.Generator().manual_seed(seed)).eval()  # peaked distributions


def sequences(lengths, seed=0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, VOCAB, (n,), generator=g).tolist() for n in lengths]


def reference_logprobs(model, seq: list[int]) -> torch.Tensor:
    "log_softmax of one full forward pass, gathered at each next token: (len(seq) - 1,)."
    with torch.no_grad():
        logits = model(torch.tensor([seq]))[0, :-1]
    return torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(seq[1:])[:, None]).squeeze(-1)


def test_schedule_warms_up_then_decays_to_ten_percent():
    cfg = OptimConfig(max_steps=1000, warmup_steps=100, lr=3e-3)
    assert lr_at(0, cfg) == pytest.approx(3e-5)
    assert lr_at(99, cfg) == pytest.approx(3e-3)
    assert lr_at(1000, cfg) == pytest.approx(3e-4)
    after = [lr_at(s, cfg) for s in range(100, 1001)]
    assert all(x >= y for x, y in zip(after, after[1:], strict=False))


def test_optimiser_has_the_papers_hyperparameters():
    opt = make_optimizer(tiny_model(), OptimConfig())
    decayed, plain = opt.param_groups
    assert opt.defaults["betas"] == (0.9, 0.95) and opt.defaults["eps"] == 1e-5
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])


def test_a_non_finite_loss_stops_the_step_before_the_weights_change():
    model, cfg = tiny_model(), OptimConfig(warmup_steps=1)
    rows = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(0))
    optimizer = make_optimizer(model, cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match="the loss is nan at step 7; stopped before updating the weights"):
        optimizer_step(model, optimizer, cfg, 7, lambda: next_token_loss(model, rows) * float("nan"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    loss, lr = optimizer_step(model, optimizer, cfg, 0, lambda: next_token_loss(model, rows))
    assert lr == cfg.lr and loss == pytest.approx(next_token_loss(tiny_model(), rows).item())
    assert not all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_weights_made_infinite_by_the_update_stop_the_run_naming_the_step():
    model, cfg = tiny_model(), OptimConfig(warmup_steps=0, lr=1e37)  # the second update overflows float32
    rows = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(0))
    optimizer = make_optimizer(model, cfg)
    optimizer_step(model, optimizer, cfg, 0, lambda: next_token_loss(model, rows))
    with pytest.raises(FloatingPointError) as err:
        optimizer_step(model, optimizer, cfg, 1, lambda: next_token_loss(model, rows))
    assert str(err.value) == "the weights are not finite after the update at step 1 (learning rate 1e+37)"


@pytest.mark.parametrize("field, value, expected", [
    ("max_steps", 0, "at least 1 optimiser step"),
    ("lr", float("inf"), "a finite learning rate > 0"),
    ("lr", float("nan"), "a finite learning rate > 0"),
    ("lr", 0.0, "a finite learning rate > 0"),
    ("lr", -1e-3, "a finite learning rate > 0"),
    ("warmup_steps", -1, "a number of steps >= 0"),
    ("grad_accum", 0, "at least 1 micro-batch per optimiser step"),
])
def test_a_config_that_cannot_train_is_refused_naming_the_field_and_value(field, value, expected):
    with pytest.raises(ValueError) as err:
        OptimConfig(**{field: value})
    assert str(err.value) == f"OptimConfig.{field} is {value!r}; expected {expected}"


def test_sequence_logprobs_of_a_right_padded_batch_equal_each_sequence_alone():
    model, seqs = tiny_model(), sequences([9, 4, 13, 2])
    width = max(map(len, seqs))
    tokens = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[0 < t < len(s) for t in range(width)] for s in seqs])
    with torch.no_grad():
        lp = sequence_logprobs(model, tokens, mask)
    assert lp.shape == tokens.shape and (lp[~mask] == 0).all()
    for i, s in enumerate(seqs):
        torch.testing.assert_close(lp[i, 1: len(s)], reference_logprobs(model, s), atol=1e-5, rtol=0)


def test_sequence_logprobs_of_left_padded_and_packed_rows_equal_each_sequence_alone():
    model, seqs = tiny_model(), sequences([7, 3, 11])
    pads = torch.tensor([11 - len(s) for s in seqs])
    tokens = torch.tensor([[0] * (11 - len(s)) + s for s in seqs])
    positions, attn_mask = positions_and_mask(pads, 0, 11)  # generation's left padding
    mask = torch.arange(11)[None, :] > pads[:, None]  # every real token but each row's first
    packed = pack_examples([(s, s) for s in seqs], seq_len=32)  # the three end to end in one row, as SFT packs them
    packed_mask = (packed.doc_ids >= 0) & (packed.positions > 0)
    with torch.no_grad():
        left = sequence_logprobs(model, tokens, mask, positions=positions, attn_mask=attn_mask)
        row = sequence_logprobs(model, packed.tokens, packed_mask, packed.positions, packed.attention_mask())[0]
    start = 0
    for i, s in enumerate(seqs):
        want = reference_logprobs(model, s)
        torch.testing.assert_close(left[i, int(pads[i]) + 1:], want, atol=1e-5, rtol=0)
        torch.testing.assert_close(row[start + 1: start + len(s)], want, atol=1e-5, rtol=0)
        start += len(s)


def test_sequence_logprobs_carries_gradients_and_refuses_a_first_token_to_predict():
    model, seqs = tiny_model(), sequences([6])
    tokens, mask = torch.tensor(seqs), torch.tensor([[False] + [True] * 5])
    sequence_logprobs(model, tokens, mask).sum().backward()
    assert model.output.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"mask\[:, 0\] is True"):
        sequence_logprobs(model, tokens, torch.ones_like(mask))


@pytest.mark.parametrize("compile", [False, True])
def test_generated_log_probabilities_equal_sequence_logprobs_of_the_same_tokens(compile):
    model, prompts = tiny_model(), sequences([5, 2, 8], seed=3)
    g = torch.Generator().manual_seed(0)
    tokens, logprobs = generate(model, prompts, 10, temperature=1.0, top_p=1.0, logprobs=True, eos_id=-1,
                                generator=g, compile=compile)
    for prompt, out, lps in zip(prompts, tokens, logprobs, strict=True):
        seq = torch.tensor([prompt + out])
        mask = torch.arange(seq.shape[1])[None, :] >= len(prompt)
        with torch.no_grad():
            want = sequence_logprobs(model, seq, mask)[0, len(prompt):]
        assert len(lps) == 10
        torch.testing.assert_close(torch.tensor(lps), want, atol=1e-4, rtol=0)
