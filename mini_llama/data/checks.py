"""Gold checkers' shared rules: how an answer is read out of a free-form response.

Plain module, taught by no chapter. A response may say more than the answer, but its *last* candidate counts: "The
capital is not Lisoar, it is Mellin" answers Mellin. An empty response, the question repeated, or a refusal
contains no right final answer and scores 0.
"""

import re

WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*|\d+")


def words(text: str) -> list[str]:
    "Words and numbers in order; hyphenated words (s-p-e-l-l) stay whole."
    return WORD.findall(text)


def last_of(text: str, candidates: set[str]) -> str | None:
    "The last word of `text` (case-insensitive) that is one of `candidates`, or None."
    lower = {c.lower(): c for c in candidates}
    found = [lower[w.lower()] for w in words(text) if w.lower() in lower]
    return found[-1] if found else None


def last_phrase(text: str, candidates: set[str]) -> str | None:
    "Like `last_of` for candidates of several words ('red fox'): the one that ends last in `text`."
    text = " " + " ".join(words(text)).lower() + " "
    ends = {c: text.rfind(" " + c.lower() + " ") for c in candidates}
    best = max(ends, key=lambda c: (ends[c], len(c)), default=None)
    return best if best is not None and ends[best] >= 0 else None


def final_token(text: str) -> str | None:
    "The last word or number of `text`, lower-cased."
    found = words(text)
    return found[-1].lower() if found else None
