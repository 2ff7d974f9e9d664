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


def test_init_weights_scales_the_residual_projections_by_one_over_sqrt_2L():
    args = ModelArgs(dim=256, n_layers=8, n_heads=4, vocab_size=512, multiple_of=32)
    model = Transformer(args).init_weights(std=0.02, generator=torch.Generator().manual_seed(0))
    residual = 0.02 / (2 * args.n_layers) ** 0.5
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            assert torch.equal(p, torch.ones_like(p)), name
        else:
            expected = residual if name.endswith(("wo.weight", "w2.weight")) else 0.02
            assert p.std().item() == pytest.approx(expected, rel=0.05), name
    twin = Transformer(args).init_weights(std=0.02, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values(), strict=True))
