"""Checkpoint I/O: Meta's shards and Hugging Face's layout, exact round trips, clear errors, and
logits equal to transformers' LlamaForCausalLM in both directions (when transformers is installed)."""

import itertools
import json
import random
import re

import pytest
import torch

from mini_llama import data
from mini_llama.checkpoint import hf_config, load_hf, load_meta, save_hf, save_hf_tokenizer, save_meta
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer, course_tokenizer_path
from mini_llama.tokenizer import encode_dialog, train_tokenizer

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
    loaded = load_meta(tmp_path)
    assert loaded.params == model.params  # max_seq_len 64 included, not the default 4096
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
    expected = (f"{tmp_path / 'consolidated.00.pth'} was refused: it holds pickled objects other than tensors "
                "(Unsupported global: GLOBAL print was not an allowed global by default), and checkpoints are read "
                "with weights_only=True, which never runs code from a file")
    with pytest.raises(ValueError, match=re.escape(expected)):
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


def transformers_quietly():
    transformers = pytest.importorskip("transformers")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def test_meta_round_trip_keeps_every_model_field(tmp_path):
    model = small_model(max_seq_len=128, rope_theta=5e5, ffn_dim_multiplier=1.5, norm_eps=1e-6, max_batch_size=3)
    assert load_meta(save_meta(model, tmp_path)).params == model.params


# the fields of Llama 2's own ModelArgs (llama/model.py); Llama.build passes max_seq_len and max_batch_size itself
META_LLAMA2_FIELDS = {"dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of", "ffn_dim_multiplier",
                      "norm_eps", "max_batch_size", "max_seq_len"}


def test_meta_params_json_is_what_metas_own_loader_builds_from(tmp_path):
    save_meta(small_model(max_seq_len=128, max_batch_size=3), tmp_path)
    params = json.loads((tmp_path / "params.json").read_text())
    # Llama.build(max_seq_len=..., max_batch_size=...) calls ModelArgs(max_seq_len=..., max_batch_size=..., **params):
    # either key in params.json would be passed twice, and any key outside its fields is refused
    assert params.keys() <= META_LLAMA2_FIELDS - {"max_seq_len", "max_batch_size"}
    assert json.loads((tmp_path / "mini_llama.json").read_text()) == {"max_seq_len": 128, "max_batch_size": 3}
    save_meta(small_model(rope_theta=1e6), tmp_path / "code_llama")  # Code Llama's params.json carries rope_theta
    assert json.loads((tmp_path / "code_llama" / "params.json").read_text())["rope_theta"] == 1e6


def test_rope_theta_of_a_transformers_5_config_is_read_and_gives_its_logits(tmp_path):
    transformers = transformers_quietly()
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(**{**hf_config(small_model().params), "rope_theta": 1e6})
    native = transformers.LlamaForCausalLM(cfg).eval()
    native.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["rope_parameters"]["rope_theta"] == 1e6 and "rope_theta" not in written  # transformers 5's place
    loaded = load_hf(tmp_path)
    assert loaded.params.rope_theta == 1e6
    tokens = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (loaded(tokens) - native(tokens).logits).abs().max() <= 1e-4


def edit_config(model_dir, **changes):
    cfg = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**cfg, **changes}))


@pytest.mark.parametrize("field, value, message", [
    ("rope_scaling", {"rope_type": "linear", "factor": 2.0}, "field 'rope_scaling' has rope_type 'linear'"),
    ("rope_scaling", {"type": "dynamic", "factor": 2.0}, "field 'rope_scaling' has rope_type 'dynamic'"),
    ("rope_parameters", {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0},
     "field 'rope_parameters' has rope_type 'llama3'"),
    ("hidden_act", "gelu", "field 'hidden_act' is 'gelu'; expected 'silu'"),
    ("rope_parameters", {"rope_type": "default", "rope_theta": 5e5},
     r"two values of rope_theta, \[10000.0, 500000.0\]"),
])
def test_config_json_that_the_model_cannot_follow_is_refused_by_name(tmp_path, field, value, message):
    save_hf(small_model(), tmp_path)
    edit_config(tmp_path, **{field: value})
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "config.json")) + ".*" + message):
        load_hf(tmp_path)


def test_unscaled_rope_settings_are_accepted(tmp_path):
    save_hf(small_model(rope_theta=5e5), tmp_path)
    edit_config(tmp_path, rope_scaling=None, rope_parameters={"rope_type": "default", "rope_theta": 5e5})
    assert load_hf(tmp_path).params.rope_theta == 5e5


def test_save_hf_of_a_bf16_model_states_bf16_and_transformers_loads_bf16(tmp_path):
    transformers = transformers_quietly()
    model = small_model().to(torch.bfloat16)
    save_hf(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    assert transformers.LlamaForCausalLM.from_pretrained(tmp_path).dtype == torch.bfloat16
    assert_same_weights(load_hf(tmp_path), model)


def damage(path, how):
    raw = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": raw[: len(raw) // 2],
                      "random": random.Random(0).randbytes(4096)}[how])


@pytest.mark.parametrize("how", ["empty", "truncated", "random"])
def test_damaged_weights_files_are_named(tmp_path, how):
    save_meta(small_model(), tmp_path / "meta")
    pth = tmp_path / "meta" / "consolidated.00.pth"
    damage(pth, how)
    with pytest.raises(ValueError, match=re.escape(f"{pth} is not a readable PyTorch file (")
                       + ("it is empty" if how == "empty" else r"[\d,]+ bytes")
                       + re.escape("): expected the zip archive torch.save writes; truncated or corrupt?")):
        load_meta(tmp_path / "meta")
    save_hf(small_model(), tmp_path / "hf")
    st = tmp_path / "hf" / "model.safetensors"
    damage(st, how)
    with pytest.raises(ValueError, match=re.escape(f"{st} is not a readable safetensors file (")
                       + ("it is empty" if how == "empty" else r"[\d,]+ bytes")
                       + r"\): Error while deserializing header: .*; truncated or corrupt\?"):
        load_hf(tmp_path / "hf")


def test_pth_holding_something_else_than_a_state_dict_is_named(tmp_path):
    save_meta(small_model(), tmp_path)
    torch.save([torch.zeros(2)], tmp_path / "consolidated.00.pth")
    expected = f"{tmp_path / 'consolidated.00.pth'} holds list, expected a state dict"
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_meta(tmp_path)


def test_params_json_of_a_wrong_type_or_not_json_names_the_field_and_value(tmp_path):
    save_meta(small_model(), tmp_path)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({**json.loads(params.read_text()), "dim": "64"}))
    with pytest.raises(ValueError, match=re.escape(f'{params}: field \'dim\' is "64" (a string); expected an integer')):
        load_meta(tmp_path)
    params.write_text(json.dumps({"dim": 64, "n_layers": True}))
    expected = f"{params}: field 'n_layers' is true (true or false); expected an integer"
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_meta(tmp_path)
    params.write_text('{"dim": 64,')
    expected = (f"{params} is not valid JSON (Expecting property name enclosed in double quotes: "
                "line 1 column 12 (char 11)); expected a JSON object")
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_meta(tmp_path)


def test_config_json_without_a_field_and_index_without_weight_map_are_named(tmp_path):
    save_hf(small_model(), tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["hidden_size"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'config.json'} has no 'hidden_size' field; "
                                                   "expected an integer")):
        load_hf(tmp_path)
    save_hf(small_model(), tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 1}}))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'model.safetensors.index.json'} has no "
                                                   "'weight_map' field; expected an object")):
        load_hf(tmp_path)


def course_tokenizer_for_transformers(tmp_path):
    transformers = transformers_quietly()
    return transformers.AutoTokenizer.from_pretrained(save_hf_tokenizer(course_tokenizer_path(), tmp_path))


def test_exported_tokenizer_encodes_and_decodes_as_sentencepiece(tmp_path):
    theirs, ours = course_tokenizer_for_transformers(tmp_path), course_tokenizer()
    awkward = ["", " ", "  two  spaces", "trailing ", "a\tb\nc", "ünïcödé ☃ 🎉", "12345 + 678 = 13023", "x" * 40]
    texts = awkward + list(itertools.islice(data.iter_documents(data.make_world(seed=0), split="valid"), 300))
    for text in texts:
        ids = ours.encode(text, bos=True, eos=False)
        assert theirs(text)["input_ids"] == ids, text
        assert theirs.decode(ids, skip_special_tokens=True) == ours.decode(ids), text


@pytest.mark.parametrize("dialog", [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Always act as a pirate."}, {"role": "user", "content": " What is 2 + 3? "}],
    [{"role": "system", "content": "Style: pirate."}, {"role": "user", "content": "What is 2 + 3?"},
     {"role": "assistant", "content": " Arr, 5. "}, {"role": "user", "content": "Spell 'goat'."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}],
])
def test_exported_chat_template_renders_encode_dialog(tmp_path, dialog):
    theirs = course_tokenizer_for_transformers(tmp_path)
    rendered = theirs.apply_chat_template(dialog, tokenize=False)
    assert theirs(rendered, add_special_tokens=False)["input_ids"] == encode_dialog(course_tokenizer(), dialog)


def test_exported_chat_template_refuses_roles_out_of_turn(tmp_path):
    theirs = course_tokenizer_for_transformers(tmp_path)
    with pytest.raises(Exception, match="roles alternate user, assistant"):
        theirs.apply_chat_template([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
                                   tokenize=False)


def test_tokenizer_with_other_settings_than_llama2s_is_refused_by_name(tmp_path):
    texts = [f"the {w} sat on the mat number {i}" for i, w in enumerate(["cat", "dog", "goat"] * 50)]
    model = train_tokenizer(texts, tmp_path / "squeezed.model", vocab_size=300, remove_extra_whitespaces=True)
    with pytest.raises(ValueError, match="remove_extra_whitespaces=True; the conversion is written for Llama 2's"):
        save_hf_tokenizer(model, tmp_path / "hf")
