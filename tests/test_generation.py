"""Generation: the cache changes nothing, batches change nothing, top-p draws from the nucleus, errors, chat CLI."""

import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_llama.checkpoint import save_hf
from mini_llama.config import ModelArgs
from mini_llama.generation import (
    chat_completion,
    fit_dialog,
    generate,
    generate_stream,
    next_token,
    sample_top_p,
)
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer, course_tokenizer_path
from mini_llama.tokenizer import encode_dialog

VOCAB = 2048  # the course tokenizer's


def tiny(seed=0, **kw) -> Transformer:
    torch.manual_seed(seed)
    args = ModelArgs.from_name("tiny", vocab_size=VOCAB, max_seq_len=96, **kw)
    return Transformer(args).init_weights(std=0.1).eval()  # larger weights: peaked, non-trivial distributions


def prompts_of(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, VOCAB, (n,), generator=g).tolist() for n in lengths]


@settings(max_examples=10, deadline=None)
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=4), n_kv_heads=st.sampled_from([1, 2, 4]))
def test_cache_gives_the_tokens_of_the_naive_loop_single_and_ragged(lengths, n_kv_heads):
    model, prompts = tiny(n_kv_heads=n_kv_heads), prompts_of(lengths)
    cached = generate(model, prompts, 10, temperature=0, use_cache=True, eos_id=-1)
    assert cached == generate(model, prompts, 10, temperature=0, use_cache=False, eos_id=-1)
    assert all(len(c) == 10 for c in cached)


@settings(max_examples=10, deadline=None)
@given(lengths=st.lists(st.integers(1, 12), min_size=2, max_size=5))
def test_each_prompt_of_a_ragged_batch_decodes_as_alone(lengths):
    model, prompts = tiny(), prompts_of(lengths, seed=1)
    tokens, logprobs = generate(model, prompts, 8, temperature=0, logprobs=True, eos_id=-1)
    for p, t, lp in zip(prompts, tokens, logprobs, strict=True):
        alone_t, alone_lp = generate(model, [p], 8, temperature=0, logprobs=True, eos_id=-1)
        assert t == alone_t[0]
        assert max(abs(a - b) for a, b in zip(lp, alone_lp[0], strict=True)) < 1e-5


def test_compiled_decoding_gives_the_tokens_and_log_probabilities_of_eager_decoding():
    model = tiny(n_kv_heads=2)
    for prompts in (prompts_of([7]), prompts_of([3, 9, 5], seed=2)):  # one sequence, then a ragged batch
        eager_t, eager_lp = generate(model, prompts, 12, temperature=0, logprobs=True, eos_id=-1)
        compiled_t, compiled_lp = generate(model, prompts, 12, temperature=0, logprobs=True, eos_id=-1, compile=True)
        assert compiled_t == eager_t
        assert max(abs(a - b) for row, twin in zip(compiled_lp, eager_lp, strict=True)
                   for a, b in zip(row, twin, strict=True)) < 1e-4
    assert list(generate_stream(model, prompts[1], 12, temperature=0, eos_id=-1, compile=True)) == eager_t[1]


def test_each_sequence_stops_at_its_own_eos():
    model, prompts = tiny(), prompts_of([3, 7, 5])
    free = generate(model, prompts, 12, temperature=0, eos_id=-1)
    eos = free[1][4]  # make row 1's fifth token the end of its sequence
    stopped = generate(model, prompts, 12, temperature=0, eos_id=eos)
    for row, out in zip(free, stopped, strict=True):
        expected = row[: row.index(eos)] if eos in row else row
        assert out == expected
    assert stopped[1] == free[1][:4]
    assert list(generate_stream(model, prompts[1], 12, temperature=0, eos_id=eos)) == free[1][:4]


def test_top_p_draws_only_from_the_nucleus_with_renormalised_frequencies():
    probs = torch.tensor([0.35, 0.25, 0.15, 0.1, 0.08, 0.04, 0.02, 0.01])
    n = 40_000
    draws = sample_top_p(probs.expand(n, -1).clone(), 0.8, torch.Generator().manual_seed(0)).squeeze(-1)
    freq = torch.bincount(draws, minlength=8).double() / n
    nucleus = torch.tensor([True, True, True, True, False, False, False, False])  # 0.35+0.25+0.15 < 0.8 <= +0.1
    expected = torch.where(nucleus, probs, 0).double() / probs[nucleus].sum()
    assert freq[~nucleus].sum() == 0
    # 5 standard errors of a frequency estimated from n draws: a seeded test that fails only on a real bias
    assert ((freq - expected).abs() <= 5 * (expected * (1 - expected) / n).sqrt()).all()


def test_sampling_draws_from_the_softmax_of_the_logits_divided_by_the_temperature():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    n = 40_000
    for temperature in (0.5, 2.0):
        draws = next_token(logits.expand(n, -1).clone(), temperature, 1.0, torch.Generator().manual_seed(0))
        freq = torch.bincount(draws, minlength=5).double() / n
        expected = torch.softmax(logits.double() / temperature, dim=-1)
        # 5 standard errors of a frequency estimated from n draws: a seeded test that fails only on a real bias
        assert ((freq - expected).abs() <= 5 * (expected * (1 - expected) / n).sqrt()).all(), temperature


def test_temperature_sampling_is_seeded():
    model, prompts = tiny(), prompts_of([4, 6])
    a = generate(model, prompts, 10, temperature=1.0, top_p=0.95, generator=torch.Generator().manual_seed(3))
    b = generate(model, prompts, 10, temperature=1.0, top_p=0.95, generator=torch.Generator().manual_seed(3))
    assert a == b and a != generate(model, prompts, 10, temperature=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt_tokens=[[1] * 96]), "96 tokens.*max_seq_len=96"),
    (dict(prompt_tokens=[[1, 2], []]), "prompt 1 is empty"),
    (dict(prompt_tokens=[[1, 5000]]), "token id 5000.*2048"),
    (dict(temperature=-0.5), "temperature must be >= 0.*-0.5"),
    (dict(top_p=0.0), r"top_p must be in \(0, 1\], got 0.0"),
    (dict(top_p=1.5), "got 1.5"),
    (dict(max_gen_len=0), "max_gen_len must be >= 1, got 0"),
    (dict(prompt_tokens=[[1, 2], [1, 2.5]]), r"^prompt 1 holds 2\.5 \(float\), which is not a token id: expected an "
                                             r"integer$"),
    (dict(prompt_tokens=[[1, "3"]]), r"^prompt 0 holds '3' \(str\), which is not a token id: expected an integer$"),
    (dict(prompt_tokens=[[1, True]]), r"^prompt 0 holds True \(bool\), which is not a token id: expected an integer$"),
    (dict(temperature=float("nan")), r"^temperature must be >= 0 \(0 is greedy\), got nan$"),
    (dict(top_p=float("nan")), r"^top_p must be in \(0, 1\], got nan$"),
])
def test_bad_arguments_are_errors_naming_the_value(kwargs, message):
    args = dict(prompt_tokens=[[1, 2, 3]], max_gen_len=4, temperature=0.6, top_p=0.9) | kwargs
    with pytest.raises(ValueError, match=message):
        generate(tiny(), **args)


def test_chat_completion_and_the_context_policy():
    model, tok = tiny(), course_tokenizer()
    dialog = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who owns Bostand?"}]
    [answer] = chat_completion(model, tok, [dialog], temperature=0, max_gen_len=6)
    ids = generate(model, [encode_dialog(tok, dialog)], 6, temperature=0, eos_id=tok.eos_id)[0]
    assert answer == {"role": "assistant", "content": tok.decode(ids).strip()}
    turns = [{"role": r, "content": "many words " * 20} for r in ("user", "assistant")] * 4
    fitted, dropped = fit_dialog(tok, dialog[:1] + turns + dialog[1:], max_prompt_len=80)
    assert dropped == 4 and fitted == dialog
    with pytest.raises(ValueError, match="at most 10 fit"):
        fit_dialog(tok, dialog, max_prompt_len=10)


def test_chat_cli_streams_answers_and_explains_a_full_context(tmp_path):
    save_hf(tiny(), tmp_path)
    (tmp_path / "tokenizer.model").write_bytes(course_tokenizer_path().read_bytes())
    script = "Who owns Bostand?\n" + "word " * 200 + "\nAnd where does Rakes live?\n"

    def chat(*flags):
        result = subprocess.run([sys.executable, "-m", "mini_llama.cli", "chat", "--checkpoint", str(tmp_path),
                                 "--system", "Be brief.", "--temperature", "0", "--max-gen-len", "8", *flags],
                                input=script, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout

    out = chat()
    assert out.count("llama> ") == 2  # two answers: the over-long message was refused, not answered
    assert "at most 88 fit: say it in fewer words" in out
    assert chat("--compile") == out  # the same greedy answers, decoded through torch.compile
