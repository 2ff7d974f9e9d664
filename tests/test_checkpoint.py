"""Checkpoint I/O: Meta's shards and Hugging Face's layout, exact round trips, clear errors, and
logits equal to transformers' LlamaForCausalLM in both directions (when transformers is installed)."""

import json

import pytest
import torch

from mini_llama.checkpoint import hf_config, load_hf, load_meta, save_hf, save_meta
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer

GQA = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=96, multiple_of=32, max_seq_len=64)


def small_model(seed=0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs(**{**GQA, **overrides})).init_weights().eval()


def assert_same_weights(a: Transformer, b: Transformer):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("n_shards", [1, 2])
@pytest.mark.parametrize("n_kv_heads", [4, 2])
def test_meta_round_trip_through_shards(tmp_path, n_shards, n_kv_heads):
    model = small_model(n_kv_heads=n_kv_heads)
    save_meta(model, tmp_path, n_shards=n_shards)
    assert len(list(tmp_path.glob("consolidated.*.pth"))) == n_shards
    assert json.loads((tmp_path / "params.json").read_text())["vocab_size"] == -1
    loaded = load_meta(tmp_path, max_seq_len=64)  # like Meta's params.json, ours leaves the context to the caller
    assert loaded.params == model.params
    assert_same_weights(loaded, model)


def test_meta_shards_are_split_as_model_parallel_layers(tmp_path):
    model = small_model()
    save_meta(model, tmp_path, n_shards=2)
    shard = torch.load(tmp_path / "consolidated.01.pth", weights_only=True)
    full = model.state_dict()
    torch.testing.assert_close(shard["layers.0.attention.wq.weight"], full["layers.0.attention.wq.weight"][32:])
    w2 = "layers.1.feed_forward.w2.weight"
    torch.testing.assert_close(shard[w2], full[w2][:, 96:])
    torch.testing.assert_close(shard["tok_embeddings.weight"], full["tok_embeddings.weight"][:, 32:])
    torch.testing.assert_close(shard["norm.weight"], full["norm.weight"])


def test_real_shards_carry_rope_freqs_which_is_dropped(tmp_path):
    model = small_model()
    save_meta(model, tmp_path, n_shards=2)
    for path in tmp_path.glob("consolidated.*.pth"):  # as in Meta's released files
        shard = torch.load(path, weights_only=True)
        shard["rope.freqs"] = torch.randn(8)
        torch.save(shard, path)
    assert_same_weights(load_meta(tmp_path), model)


def test_mismatched_meta_checkpoint_names_tensor_and_shapes(tmp_path):
    save_meta(small_model(), tmp_path)
    with pytest.raises(ValueError, match=r"'tok_embeddings.weight' has shape \(96, 64\).*expects \(96, 128\)"):
        load_meta(tmp_path, dim=128, n_heads=8)
    shard = torch.load(tmp_path / "consolidated.00.pth", weights_only=True)
    del shard["layers.1.feed_forward.w3.weight"]
    torch.save(shard, tmp_path / "consolidated.00.pth")
    with pytest.raises(ValueError, match=r"missing tensor 'layers.1.feed_forward.w3.weight'.*\(192, 64\)"):
        load_meta(tmp_path)


def test_bad_params_json_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="params.json"):
        load_meta(tmp_path)
    save_meta(small_model(), tmp_path)
    (tmp_path / "params.json").write_text(json.dumps({"dim": 64, "n_layers": 2, "n_heads": 4, "colour": "red"}))
    with pytest.raises(ValueError, match="unknown keys.*colour"):
        load_meta(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf(tmp_path)


def test_loads_refuse_pickled_code(tmp_path):
    save_meta(small_model(), tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("this ran",))

    torch.save({"evil": Evil()}, tmp_path / "consolidated.00.pth")
    with pytest.raises(Exception, match="[Ww]eights only"):
        load_meta(tmp_path)


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_hf_round_trip_is_exact(tmp_path, n_kv_heads):
    model = small_model(n_kv_heads=n_kv_heads)
    assert_same_weights(load_hf(save_hf(model, tmp_path)), model)


def test_hf_config_of_official_models_reproduces_their_ffn_size():
    from mini_llama.checkpoint import args_from_hf_config
    from mini_llama.layers import ffn_hidden_dim

    for name, size in (("llama2-7b", 11008), ("llama2-13b", 13824), ("llama2-70b", 28672)):
        cfg = hf_config(ModelArgs.from_name(name))
        assert cfg["intermediate_size"] == size
        args = args_from_hf_config(cfg)
        assert ffn_hidden_dim(args.dim, args.multiple_of, args.ffn_dim_multiplier) == size


def test_hf_checkpoint_with_wrong_shape_names_it(tmp_path):
    from safetensors.torch import load_file, save_file

    save_hf(small_model(), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(64, 64)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"'model.layers.0.self_attn.k_proj.weight' has shape \(64, 64\).*\(32, 64\)"):
        load_hf(tmp_path)


def test_logits_equal_transformers_both_directions_with_gqa(tmp_path):
    transformers = pytest.importorskip("transformers")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    tokens = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(0))

    ours = small_model()  # ours -> HF
    theirs = transformers.LlamaForCausalLM.from_pretrained(save_hf(ours, tmp_path / "ours")).eval()
    with torch.no_grad():
        assert (ours(tokens) - theirs(tokens).logits).abs().max() <= 1e-4

    torch.manual_seed(1)  # HF -> ours
    native = transformers.LlamaForCausalLM(transformers.LlamaConfig(**hf_config(ours.params))).eval()
    native.save_pretrained(tmp_path / "native")
    with torch.no_grad():
        assert (load_hf(tmp_path / "native")(tokens) - native(tokens).logits).abs().max() <= 1e-4
