"Chapter 01's exercise checks accept a right answer, name what is wrong in a wrong one, and wait for an open one."

import pytest

from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch01 import check_apply_merges, check_decode_pieces
from mini_llama.tokenizer import SPACE


def apply_merges(word, merges):
    "Each merge in the order learned, on every adjacent occurrence of its pair, left to right."
    symbols = list(word)
    for a, b in merges:
        out, i = [], 0
        while i < len(symbols):
            if symbols[i: i + 2] == [a, b]:
                out.append(a + b)
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        symbols = out
    return symbols


def merge_first_pair_in_word(word, merges):
    "Wrong: repeatedly merges the leftmost pair that is any merge, ignoring the order the merges were learned in."
    symbols, known = list(word), set(merges)
    while True:
        i = next((i for i in range(len(symbols) - 1) if (symbols[i], symbols[i + 1]) in known), None)
        if i is None:
            return symbols
        symbols[i: i + 2] = [symbols[i] + symbols[i + 1]]


def merge_once(word, merges):
    "Wrong: each merge joins only the first occurrence of its pair."
    symbols = list(word)
    for a, b in merges:
        i = next((i for i in range(len(symbols) - 1) if symbols[i: i + 2] == [a, b]), None)
        if i is not None:
            symbols[i: i + 2] = [a + b]
    return symbols


def decode_pieces(pieces, keep_prefix=False, bytes_one_by_one=False):
    "Byte pieces gathered and decoded as UTF-8, controls dropped, ▁ as a space, the dummy prefix removed."
    raw = bytearray()
    for piece in pieces:
        if piece in ("<s>", "</s>"):
            continue
        if piece.startswith("<0x") and bytes_one_by_one:
            raw += chr(int(piece[3:5], 16)).encode()  # wrong: each byte as its own character
        elif piece.startswith("<0x"):
            raw.append(int(piece[3:5], 16))
        else:
            raw += piece.replace(SPACE, " ").encode()
    text = raw.decode()
    return text if keep_prefix else text.removeprefix(" ")


def not_solved(*args):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    check_apply_merges(apply_merges)
    check_decode_pieces(decode_pieces)
    assert capsys.readouterr().out.splitlines() == ["Exercise 1 (BPE encoding with a merge list): correct",
                                                    "Exercise 2 (decoding pieces to text): correct"]


def test_merges_out_of_order_are_named():
    with pytest.raises(ExerciseError, match=r"'abc' .*in the order learned.*got \['ab', 'c'\], expected \['a', 'bc'\]"):
        check_apply_merges(merge_first_pair_in_word)


def test_merge_on_first_occurrence_only_is_named():
    with pytest.raises(ExerciseError, match=r"'aaaaa' .*every occurrence.*got \['aa', 'a', 'a', 'a'\]"):
        check_apply_merges(merge_once)


def test_dummy_prefix_kept_is_named():
    with pytest.raises(ExerciseError, match=r"got ' Once upon.*first differ at character 0"):
        check_decode_pieces(lambda pieces: decode_pieces(pieces, keep_prefix=True))


def test_bytes_decoded_one_by_one_are_named():
    with pytest.raises(ExerciseError, match=r"expected 'naïve café'; they first differ at character 2"):
        check_decode_pieces(lambda pieces: decode_pieces(pieces, bytes_one_by_one=True))


def test_open_exercises_say_not_solved(capsys):
    check_apply_merges(not_solved)
    check_decode_pieces(not_solved)
    out = capsys.readouterr().out
    assert out.count("not solved yet (replace the `raise NotImplementedError` with your answer)") == 2
