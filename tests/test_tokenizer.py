"""The tokenizer: the from-scratch BPE encoder equals SentencePiece, round trips, Meta's chat format, errors."""

import itertools
import random
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mini_llama.data import iter_documents, make_world
from mini_llama.shelf import course_tokenizer, course_tokenizer_path
from mini_llama.tokenizer import (
    BPETokenizer,
    Tokenizer,
    encode_dialog,
    encode_dialog_for_training,
    read_sentencepiece_model,
    train_tokenizer,
)

DOCS = list(itertools.islice(iter_documents(make_world(0), split="valid", seed=3), 300))
UNICODE = st.text(max_size=60)  # any code point but surrogates: controls, combining marks, emoji, ...
TRICKY = st.text(alphabet=" \t\n\r\x00\x7f0123456789abcXYZ.,-éü\u0301\u200b😀🦙▁日本", max_size=60)
TEXTS = UNICODE | TRICKY | st.sampled_from(DOCS)


@pytest.fixture(scope="module")
def course():
    return Tokenizer(course_tokenizer_path()), BPETokenizer(course_tokenizer_path())


@pytest.fixture(scope="module")
def second(tmp_path_factory):
    "Another BPE model, of another vocabulary size, trained on other TinyWorld text plus some Unicode."
    texts = list(itertools.islice(iter_documents(make_world(1), seed=1), 3000)) + ["naïve café über", "日本語 テキスト"]
    path = train_tokenizer(texts, tmp_path_factory.mktemp("tok") / "second.model", vocab_size=700)
    return Tokenizer(path), BPETokenizer(path)


def test_course_model_has_llama2_settings(course):
    spec = read_sentencepiece_model(course_tokenizer_path())
    assert (spec.model_type, spec.byte_fallback, spec.normalizer) == (2, True, "identity")
    assert spec.add_dummy_prefix and not spec.remove_extra_whitespaces
    tok = course[0]
    assert (tok.n_words, tok.bos_id, tok.eos_id, tok.pad_id) == (2048, 1, 2, -1)
    assert [tok.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]


def test_training_is_deterministic(tmp_path):
    a = train_tokenizer(DOCS, tmp_path / "a.model", 500).read_bytes()
    assert a == train_tokenizer(DOCS, tmp_path / "b.model", 500).read_bytes()
    assert course_tokenizer().n_words == 2048


@settings(max_examples=300, deadline=None)
@given(s=TEXTS, bos=st.booleans(), eos=st.booleans())
def test_from_scratch_equals_sentencepiece_course_model(course, s, bos, eos):
    sp, ours = course
    assert ours.encode(s, bos, eos) == sp.encode(s, bos, eos)


@settings(max_examples=300, deadline=None)
@given(s=TEXTS)
def test_from_scratch_equals_sentencepiece_second_model(second, s):
    sp, ours = second
    assert ours.encode(s) == sp.encode(s, bos=False, eos=False)



@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    "BPE models off Llama 2's settings: user-defined pieces (one a prefix of another), and no byte fallback."
    folder = tmp_path_factory.mktemp("variants")
    kinds = {"user": dict(user_defined_symbols=["<tool>", "<to", "[]"]), "nobytes": dict(byte_fallback=False)}
    return [(Tokenizer(p), BPETokenizer(p)) for p in
            (train_tokenizer(DOCS, folder / f"{name}.model", 400, **kw) for name, kw in kinds.items())]


@settings(max_examples=150, deadline=None)
@given(s=UNICODE | st.text(alphabet=" 0123abc.,é😀日<>[]tol", max_size=40))
def test_from_scratch_equals_sentencepiece_on_user_pieces_and_unknowns(variants, s):
    # without byte fallback a run of unknown characters is one <unk>, as SentencePiece emits it
    for sp, ours in variants:
        assert ours.encode(s) == sp.encode(s, bos=False, eos=False)

@settings(max_examples=200, deadline=None)
@given(s=TEXTS)
def test_decode_inverts_encode(course, second, s):
    # identity normalisation keeping every space changes no string, except that a literal ▁ is read as a space
    assume("▁" not in s)
    for sp, ours in (course, second):
        ids = sp.encode(s, bos=True, eos=True)
        assert sp.decode(ids) == s
        assert ours.decode(ids) == s


def id_lists(ours: BPETokenizer):
    "Any ids of the vocabulary, with controls, <unk>, byte pieces and the lone ▁ drawn often: streaming cuts these."
    interesting = sorted({0, ours.bos_id, ours.eos_id, ours.unk_id, *ours.byte_ids.values(),
                          *(i for i, p in enumerate(ours.model.pieces) if p.startswith("▁"))} - {-1})
    return st.lists(st.integers(0, ours.n_words - 1) | st.sampled_from(interesting), max_size=30)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_decode_of_any_id_list_equals_sentencepiece(course, second, variants, data):
    for sp, ours in (course, second, *variants):
        ids = data.draw(id_lists(ours))
        assert ours.decode(ids) == sp.decode(ids)


def test_decode_of_cut_streams_equals_sentencepiece(course):
    sp, ours = course
    space_t, byte = ours.piece_ids["▁t"], ours.byte_ids
    cases = {(byte[0xE4], byte[0x83]): "\ufffd\ufffd",  # a character cut short: one U+FFFD per byte
             (byte[0xE4], ours.bos_id, byte[0xB8], byte[0x80]): "\ufffd\ufffd\ufffd",  # a control splits a run
             (0,): " \u2047 ",  # a leading <unk> keeps its spaces
             (0, space_t): " \u2047  t",
             (byte[0x20], space_t): "  t",  # a leading byte-level space is text, not the dummy prefix
             (ours.bos_id, space_t, space_t): "t t"}  # the dummy prefix: the ▁ of the first visible piece only
    for ids, text in cases.items():
        assert ours.decode(list(ids)) == sp.decode(list(ids)) == text


def test_digits_are_single_tokens_and_unseen_text_falls_back_to_bytes(course):
    sp, _ = course
    assert [sp.id_to_piece(i) for i in sp.encode("2024", bos=False, eos=False)] == ["▁", "2", "0", "2", "4"]
    pieces = [sp.id_to_piece(i) for i in sp.encode("🦙", bos=False, eos=False)]
    assert pieces == ["▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]


def meta_chat(tok, dialog):
    "Meta's chat_completion formatting, transcribed: system folded into the first user turn, then the pairs."
    B_INST, E_INST, B_SYS, E_SYS = "[INST]", "[/INST]", "<<SYS>>\n", "\n<</SYS>>\n\n"
    if dialog[0]["role"] == "system":
        dialog = [{"role": dialog[1]["role"], "content": B_SYS + dialog[0]["content"] + E_SYS + dialog[1]["content"]}]\
            + dialog[2:]
    tokens = []
    for prompt, answer in zip(dialog[::2], dialog[1::2], strict=False):
        tokens += tok.encode(f"{B_INST} {prompt['content'].strip()} {E_INST} {answer['content'].strip()} ",
                             bos=True, eos=True)
    return tokens + tok.encode(f"{B_INST} {dialog[-1]['content'].strip()} {E_INST}", bos=True, eos=False)


SYSTEM = {"role": "system", "content": "Always answer like a pirate."}
TURNS = [{"role": "user", "content": " What is 2 + 2? "}, {"role": "assistant", "content": "It is 4. "},
         {"role": "user", "content": "And 3 * 3?"}, {"role": "assistant", "content": "9, matey."},
         {"role": "user", "content": "Where does Rakes live?"}]


@pytest.mark.parametrize("dialog", [TURNS[:1], [SYSTEM] + TURNS[:1], TURNS, [SYSTEM] + TURNS])
def test_chat_encoding_equals_meta_formatting(course, dialog):
    tok = course[0]
    assert encode_dialog(tok, dialog) == meta_chat(tok, dialog)


@pytest.mark.parametrize("dialog", [TURNS[:2], [SYSTEM] + TURNS[:4]])
def test_training_mask_selects_the_answers_and_their_eos(course, dialog):
    tok = course[0]
    ids, mask = encode_dialog_for_training(tok, dialog)
    assert len(ids) == len(mask)
    answers = [m["content"].strip() for m in dialog if m["role"] == "assistant"]
    # each masked run is one answer, its trailing space and its eos
    runs, run = [], []
    for i, m in zip(ids, mask, strict=True):
        if m:
            run.append(i)
        elif run:
            runs.append(run)
            run = []
    runs.append(run)
    assert [r[-1] for r in runs] == [tok.eos_id] * len(answers)
    assert [tok.decode(r[:-1]) for r in runs] == [a + " " for a in answers]
    # the prompt of the last turn, encoded for generation, is exactly what precedes the last answer
    first_answer = mask.index(True)
    turns_before = dialog[: len(dialog) - 1]
    assert encode_dialog(tok, turns_before) == ids[: len(ids) - len(runs[-1])][-len(encode_dialog(tok, turns_before)):]
    assert first_answer > 0


@pytest.mark.parametrize("dialog, message", [
    ([], "empty"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "turn 1 is 'user', expected 'assistant'"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "last message must be the user's"),
    ([{"role": "bot", "content": "a"}], "role 'bot'"),
    ([{"role": "user", "content": "hi <</SYS>> there"}], "special tag '<</SYS>>'"),
    ([{"role": "system", "content": "be brief"}], "followed by a user message"),
    ([{"role": "user", "text": "hi"}], "keys 'role' and 'content'"),
    ([{"role": "user", "content": None}], "message 0 has content None of type NoneType; expected a str"),
    ([{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
     r"message 1 has content \[\{'type': 'text', 'text': 'hi'\}\] of type list; expected a str"),
])
def test_broken_dialogs_are_errors(course, dialog, message):
    with pytest.raises(ValueError, match=message):
        encode_dialog(course[0], dialog)


def test_training_dialog_must_end_with_an_answer(course):
    with pytest.raises(ValueError, match="must end with the assistant's answer"):
        encode_dialog_for_training(course[0], TURNS[:3])


def test_bad_inputs_name_the_value(course, tmp_path):
    sp, ours = course
    for tok in course:
        with pytest.raises(ValueError, match="token id 5000"):
            tok.decode([1, 5000])
    with pytest.raises(FileNotFoundError, match="nowhere.model"):
        Tokenizer(tmp_path / "nowhere.model")
    with pytest.raises(ValueError, match="vocab_size=100"):
        train_tokenizer(DOCS, tmp_path / "x.model", 100)
    for tok in course:
        for value, name in ((["not", "a", "string"], "list"), (None, "NoneType"), (3, "int")):
            with pytest.raises(TypeError, match=f"encode takes a str, got {name}"):
                tok.encode(value, bos=False, eos=False)


@pytest.mark.parametrize("damage", [lambda raw: b"", lambda raw: raw[: len(raw) // 2],
                                    lambda raw: random.Random(0).randbytes(4096)], ids=["empty", "truncated", "random"])
def test_damaged_tokenizer_model_is_named(tmp_path, damage):
    path = tmp_path / "tokenizer.model"
    path.write_bytes(damage(course_tokenizer_path().read_bytes()))
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a readable SentencePiece model (")
                       + r"[\d,]+ bytes: .*\); expected a tokenizer.model written by SentencePiece's trainer"):
        Tokenizer(path)


def test_from_scratch_encoder_refuses_normalisation_rules_it_does_not_run(tmp_path):
    path = train_tokenizer(DOCS, tmp_path / "nfkc.model", 500, normalization_rule_name="nmt_nfkc")
    assert read_sentencepiece_model(path).charsmap_size > 0
    with pytest.raises(NotImplementedError, match="'nmt_nfkc'"):
        BPETokenizer(path)
