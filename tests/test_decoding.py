"""The CPU decoding engine: its copy of the weights gives the plain model's logits, in both layouts; it is kept while
the weights stay, made again when they change, and never made off the CPU."""

import pytest
import torch

from mini_llama import decoding
from mini_llama.config import ModelArgs
from mini_llama.generation import generate
from mini_llama.model import Transformer


def tiny_model(seed=0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs.from_name("tiny", **overrides)).init_weights().eval()


@torch.no_grad()
def decode_in_steps(model, tokens, prompt: int, step) -> torch.Tensor:
    "The prompt at once, then one token at a time through the KV caches, each step through `step`."
    model.setup_caches(max_batch_size=tokens.shape[0], max_seq_len=tokens.shape[1])
    steps = [step(tokens[:, :prompt], start_pos=0)]
    steps += [step(tokens[:, t: t + 1], start_pos=t) for t in range(prompt, tokens.shape[1])]
    model.clear_caches()
    return torch.cat(steps, 1)


def on_copy(model, compiled=False):
    copy = decoding.DecodingCopy.of(model, compiled)
    return copy, lambda tokens, **kw: decoding.forward_step(model, copy, tokens, **kw)


@pytest.mark.parametrize("n_kv_heads", [1, 2, 4])
def test_the_decoding_copy_gives_the_plain_logits(n_kv_heads):
    model = tiny_model(n_kv_heads=n_kv_heads)
    tokens = torch.randint(0, model.vocab_size, (2, 16))
    copy, step = on_copy(model)
    wqkv, wo, w13, w2 = copy.blocks[0]
    attn, ffn = model.layers[0].attention, model.layers[0].feed_forward
    assert torch.equal(wqkv, torch.cat([attn.wq.weight, attn.wk.weight, attn.wv.weight]).T)
    assert torch.equal(w13, torch.cat([ffn.w1.weight, ffn.w3.weight]).T) and torch.equal(w2, ffn.w2.weight.T)
    assert torch.equal(wo, attn.wo.weight.T) and torch.equal(copy.output, model.output.weight.T)
    assert all(w.is_contiguous() for w in (wqkv, wo, w13, w2, copy.output))
    torch.testing.assert_close(decode_in_steps(model, tokens, 6, step), decode_in_steps(model, tokens, 6, model),
                               atol=1e-5, rtol=0)


def test_the_compiled_layout_gives_the_plain_logits():
    model = tiny_model(n_kv_heads=2)
    tokens = torch.randint(0, model.vocab_size, (1, 12))  # one row: the compiled layout's reduction form
    copy, step = on_copy(model, compiled=True)
    wqkv, wo, _, w2 = copy.blocks[0]
    attn = model.layers[0].attention
    assert torch.equal(wqkv, torch.cat([attn.wq.weight, attn.wk.weight, attn.wv.weight]))  # (out, in)
    assert torch.equal(wo, attn.wo.weight) and torch.equal(copy.output, model.output.weight)
    torch.testing.assert_close(decode_in_steps(model, tokens, 4, step), decode_in_steps(model, tokens, 4, model),
                               atol=1e-5, rtol=0)


def update(model, tokens):
    "A training step: every weight written in place."
    torch.nn.functional.cross_entropy(model(tokens)[0, :-1], tokens[0, 1:]).backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()


def test_the_copy_is_made_when_the_same_weights_decode_again_and_kept_while_they_stay():
    model = tiny_model()
    tokens = torch.randint(0, model.vocab_size, (1, 12))
    assert decoding.decoding_copy(model) is None  # weights never decoded: the model itself
    kept = decoding.decoding_copy(model)  # the same weights a second time: a copy, kept
    assert kept is not None and decoding.decoding_copy(model) is kept
    before = decode_in_steps(model, tokens, 4, decoding.step_function(model))
    update(model, tokens)
    assert decoding.decoding_copy(model) is None and model not in decoding._copies  # stale: freed, not remade
    after = decode_in_steps(model, tokens, 4, decoding.step_function(model))  # now the second sight: a copy
    assert model in decoding._copies and decoding._copies[model] is not kept
    with torch.no_grad():
        torch.testing.assert_close(after, model(tokens), atol=1e-5, rtol=0)  # the new weights, not the stale copy
    assert (after - before).abs().max() > 1e-2
    assert decoding.decoding_copy(model, compiled=True).compiled  # a compiled step gets its copy at once
    decoding.drop_decoding_copy(model)
    assert model not in decoding._copies


def test_weights_that_change_before_every_generation_never_pay_for_a_copy():
    model = tiny_model()
    tokens = torch.randint(0, model.vocab_size, (1, 12))
    for _ in range(3):  # PPO's pattern: generate, update, generate...
        generate(model, tokens.tolist(), 4, temperature=0, eos_id=-1)
        assert model not in decoding._copies
        update(model, tokens)


def test_no_copy_off_the_cpu_or_without_a_cache():
    model = tiny_model()
    assert decoding.step_function(model, use_cache=False) is model  # the naive loop runs the model itself
    model.to("meta")  # stands for a GPU here: no copy is made off the CPU
    assert decoding.step_function(model) is model
    assert model not in decoding._copies
