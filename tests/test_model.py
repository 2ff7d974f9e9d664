"""The assembled model: official sizes on the meta device, cached decoding, positions and masks, errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_llama.attention import causal_mask
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer, count_parameters

RELEASED = {"llama2-7b": 6_738_415_616, "llama2-13b": 13_015_864_320, "llama2-70b": 68_976_648_192}


def tiny_model(seed=0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs.from_name("tiny", **overrides)).init_weights().eval()


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_official_configs_on_meta_device_have_the_released_parameter_counts(name):
    with torch.device("meta"):
        model = Transformer(ModelArgs.from_name(name))
    assert model.output.weight.device.type == "meta"
    assert count_parameters(model) == RELEASED[name]


def test_state_dict_uses_meta_names_and_holds_no_buffers():
    keys = set(tiny_model().state_dict())
    assert {"tok_embeddings.weight", "norm.weight", "output.weight", "layers.0.attention.wq.weight",
            "layers.1.feed_forward.w3.weight", "layers.1.attention_norm.weight", "layers.0.ffn_norm.weight"} <= keys
    assert not any("freqs" in k or "cache" in k for k in keys)


@settings(max_examples=15, deadline=None)
@given(bs=st.integers(1, 3), seqlen=st.integers(2, 20), prompt=st.integers(1, 19),
       n_kv_heads=st.sampled_from([1, 2, 4]))
def test_cached_decoding_equals_full_forward(bs, seqlen, prompt, n_kv_heads):
    prompt = min(prompt, seqlen - 1)
    model = tiny_model(n_kv_heads=n_kv_heads)
    tokens = torch.randint(0, model.vocab_size, (bs, seqlen))
    with torch.no_grad():
        full = model(tokens)
        model.setup_caches(max_batch_size=bs, max_seq_len=seqlen)
        steps = [model(tokens[:, :prompt], start_pos=0)]
        steps += [model(tokens[:, t: t + 1], start_pos=t) for t in range(prompt, seqlen)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_explicit_positions_equal_start_pos_and_shift_like_rope():
    model = tiny_model()
    tokens = torch.randint(0, model.vocab_size, (2, 12))
    with torch.no_grad():
        default = model(tokens)
        explicit = model(tokens, positions=torch.arange(12).expand(2, 12))
    torch.testing.assert_close(explicit, default, atol=0, rtol=0)


def test_packed_documents_with_block_mask_and_restarting_positions_equal_each_alone():
    model = tiny_model()
    a, b = torch.randint(0, model.vocab_size, (1, 7)), torch.randint(0, model.vocab_size, (1, 5))
    packed = torch.cat([a, b], dim=1)
    doc = torch.tensor([0] * 7 + [1] * 5)
    mask = (doc[:, None] == doc[None, :]) & causal_mask(12, 12)  # (seqlen, seqlen) block-diagonal causal
    positions = torch.cat([torch.arange(7), torch.arange(5)])[None]
    with torch.no_grad():
        together = model(packed, mask=mask, positions=positions)
        torch.testing.assert_close(together[:, :7], model(a), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(together[:, 7:], model(b), atol=1e-5, rtol=1e-5)


def test_bfloat16_model_keeps_complex_rotations_and_float32_logits():
    model = tiny_model().to(torch.bfloat16)
    assert model.freqs_cis.is_complex()
    logits = model(torch.randint(0, model.vocab_size, (1, 8)))
    assert logits.dtype == torch.float32
    with torch.no_grad():
        ref = tiny_model()(torch.zeros(1, 8, dtype=torch.long))
        low = model(torch.zeros(1, 8, dtype=torch.long))
    assert (low - ref).abs().max() < 0.1  # bf16 keeps ~3 significant digits


def test_cache_errors_name_the_values():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_seq_len=1000"):
        model.setup_caches(max_batch_size=1, max_seq_len=1000)
    model.setup_caches(max_batch_size=1, max_seq_len=8)
    with pytest.raises(ValueError, match="max_seq_len=8"), torch.no_grad():
        model(torch.zeros(1, 9, dtype=torch.long), start_pos=0)
    model.clear_caches()
    assert model.caches is None


def decode_in_steps(model, tokens, prompt: int, plain: bool = False, compiled: bool = False):
    """The prompt at once, then one token at a time through the cache; plain=True drops the decoding copy first,
    compiled=True lays it out for compiled steps (run eagerly here: the same arithmetic)."""
    model.setup_caches(max_batch_size=tokens.shape[0], max_seq_len=tokens.shape[1], compiled=compiled)
    if plain:
        model.decode_output = None
        for layer in model.layers:
            layer.decode_weights = None
    steps = [model(tokens[:, :prompt], start_pos=0)]
    steps += [model(tokens[:, t: t + 1], start_pos=t) for t in range(prompt, tokens.shape[1])]
    return torch.cat(steps, 1)


@pytest.mark.parametrize("n_kv_heads", [1, 2, 4])
def test_decoding_copy_of_the_weights_gives_the_plain_logits_and_is_freed(n_kv_heads):
    model = tiny_model(n_kv_heads=n_kv_heads)
    tokens = torch.randint(0, model.vocab_size, (2, 16))
    assert model.decode_output is None and all(layer.decode_weights is None for layer in model.layers)
    with torch.no_grad():
        fused = decode_in_steps(model, tokens, prompt=6)
        wqkv, wo, w13, w2 = model.layers[0].decode_weights
        attn, ffn = model.layers[0].attention, model.layers[0].feed_forward
        assert torch.equal(wqkv, torch.cat([attn.wq.weight, attn.wk.weight, attn.wv.weight]).T)
        assert torch.equal(w13, torch.cat([ffn.w1.weight, ffn.w3.weight]).T) and torch.equal(w2, ffn.w2.weight.T)
        assert torch.equal(wo, attn.wo.weight.T) and torch.equal(model.decode_output, model.output.weight.T)
        assert all(w.is_contiguous() for w in (wqkv, wo, w13, w2, model.decode_output))
        model.clear_caches()
        assert model.decode_output is None and all(layer.decode_weights is None for layer in model.layers)
        plain = decode_in_steps(model, tokens, prompt=6, plain=True)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=0)


def test_compiled_layout_of_the_decoding_copy_gives_the_plain_logits():
    model = tiny_model(n_kv_heads=2)
    tokens = torch.randint(0, model.vocab_size, (1, 12))  # one row: the compiled layout's reduction form
    with torch.no_grad():
        plain = decode_in_steps(model, tokens, prompt=4, plain=True)
        model.clear_caches()
        rows = decode_in_steps(model, tokens, prompt=4, compiled=True)
        wqkv, wo, w13, w2 = model.layers[0].decode_weights
        attn, ffn = model.layers[0].attention, model.layers[0].feed_forward
        assert torch.equal(wqkv, torch.cat([attn.wq.weight, attn.wk.weight, attn.wv.weight]))  # (out, in)
        assert torch.equal(w13, torch.cat([ffn.w1.weight, ffn.w3.weight])) and torch.equal(w2, ffn.w2.weight)
        assert torch.equal(wo, attn.wo.weight) and torch.equal(model.decode_output, model.output.weight)
        model.clear_caches(keep_decoding=True)
        columns = decode_in_steps(model, tokens, prompt=4)  # the other layout: the copy is made again
        assert torch.equal(model.layers[0].decode_weights[0], wqkv.T)
    torch.testing.assert_close(rows, plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(columns, plain, atol=1e-5, rtol=0)


def test_decoding_copy_is_kept_between_generations_and_made_again_after_the_weights_change():
    model = tiny_model()
    tokens = torch.randint(0, model.vocab_size, (1, 12))
    with torch.no_grad():
        before = decode_in_steps(model, tokens, prompt=4)
        model.clear_caches(keep_decoding=True)  # as generation does
        kept = model.layers[0].decode_weights
        torch.testing.assert_close(decode_in_steps(model, tokens, prompt=4), before, atol=0, rtol=0)
        assert model.layers[0].decode_weights is kept  # the same weights: no second copy made
        model.clear_caches(keep_decoding=True)
    twin = Transformer(model.params)
    twin.load_state_dict(model.state_dict())
    full = model(tokens)  # a training step in between: without a cache the copy held is not used, bit for bit
    assert torch.equal(full, twin(tokens))
    torch.nn.functional.cross_entropy(full[0, :-1], tokens[0, 1:]).backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    with torch.no_grad():
        after = decode_in_steps(model, tokens, prompt=4)
        assert model.layers[0].decode_weights is not kept
        model.clear_caches(keep_decoding=True)
        full = model(tokens)  # the plain path on the new weights
    torch.testing.assert_close(after, full, atol=1e-5, rtol=0)
    assert (after - before).abs().max() > 1e-2


def test_no_decoding_copy_off_the_cpu():
    model = tiny_model()
    model.setup_caches(max_batch_size=1, max_seq_len=8)
    model.clear_caches(keep_decoding=True)
    assert model.decode_output is not None
    model.to("meta")  # stands for a GPU here: the copy held is of the CPU weights, and none is made off the CPU
    model.setup_caches(max_batch_size=1, max_seq_len=8)
    assert model.decode_output is None and all(layer.decode_weights is None for layer in model.layers)
    assert model(torch.zeros(1, 3, dtype=torch.long, device="meta"), start_pos=0).shape == (1, 3, model.vocab_size)
