"""Checks for chapter 01's exercises (the tokenizer): BPE encoding with a merge list, and decoding pieces to text."""

from mini_llama.exercises import exercise, expect, expect_equal
from mini_llama.shelf import course_tokenizer

__all__ = ["check_apply_merges", "check_decode_pieces"]

# the merges chapter 01's naive_bpe learns on its toy corpus, in the order it learns them
TOY_MERGES = [("s", "t"), ("e", "st"), ("▁", "l"), ("▁l", "o"), ("▁lo", "w"), ("▁", "n")]

# (word, merges, expected symbols, what the case tests), the answers worked out by hand
MERGE_CASES = (
    ("▁lowest", TOY_MERGES, ["▁low", "est"], "a word the toy corpus never saw"),
    ("▁newest", TOY_MERGES, ["▁n", "e", "w", "est"], "a training word: its segmentation after the sixth merge"),
    ("▁widest", TOY_MERGES, ["▁", "w", "i", "d", "est"], "a merge needs its exact pair: '▁' + 'w' was never learned"),
    ("▁hi", [], ["▁", "h", "i"], "no merges: the characters"),
    ("aaaaa", [("a", "a")], ["aa", "aa", "a"], "a merge applies to every occurrence, left to right"),
    ("aaaa", [("a", "a"), ("aa", "aa")], ["aaaa"], "a merge can use the result of an earlier one"),
    ("abc", [("b", "c"), ("a", "b")], ["a", "bc"], "merges apply in the order learned, not the order in the word"),
    ("abc", [("a", "b"), ("b", "c")], ["ab", "c"], "the same word, the merges in the other order"),
)

# texts whose pieces cover what decoding must handle: the dummy prefix, runs of spaces, digits, bytes of 2 to 4
# bytes' characters, newlines and tabs; all of them round-trip through the course tokenizer
DECODE_TEXTS = ("Once upon a time, in Lisoar, there was a miller called Rakes. 12 + 345 = 357.", "naïve café",
                "🦙 llama", "Ωμέγα", "  two  spaces ", "def f(x):\n    return x ** 2", "tab\tand\nnewline")


@exercise("Exercise 1 (BPE encoding with a merge list)")
def check_apply_merges(apply_merges) -> None:
    "`apply_merges(word, merges)` must return the symbols of `word` after applying `merges` in order."
    for word, merges, want, why in MERGE_CASES:
        got = apply_merges(word, list(merges))
        expect(isinstance(got, list), f"{word!r} with merges {merges}: got a {type(got).__name__}, expected a list")
        expect_equal(f"{word!r} with merges {merges} ({why})", got, want)


def _first_difference(got: str, want: str) -> int:
    return next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))


@exercise("Exercise 2 (decoding pieces to text)")
def check_decode_pieces(decode_pieces) -> None:
    "`decode_pieces(pieces)` must give back the text the course tokenizer encoded into those pieces (with bos, eos)."
    tok = course_tokenizer()  # trained on first use (seconds), then read from the cache
    for text in DECODE_TEXTS:
        ids = tok.encode(text, bos=True, eos=True)
        pieces = [tok.id_to_piece(i) for i in ids]
        got = decode_pieces(pieces)
        expect(isinstance(got, str), f"pieces of {text!r}: got a {type(got).__name__}, expected a str")
        i = _first_difference(got, text)
        expect(got == text, f"pieces {pieces}: got {got!r}, expected {text!r}; they first differ at character {i} "
                            f"(got {got[i:i + 6]!r}, expected {text[i:i + 6]!r})")
