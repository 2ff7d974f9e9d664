"""Encoding throughput: the from-scratch BPE encoder (pure Python) against SentencePiece (C++), same text, same run.

    python benchmarks/bench_tokenizer.py [--documents 3000]
"""

import argparse
import itertools
import time

from mini_llama.data import iter_documents, make_world
from mini_llama.shelf import course_tokenizer_path
from mini_llama.tokenizer import BPETokenizer, Tokenizer


def chars_per_second(encode, texts, repeats=3) -> float:
    "The best of `repeats` passes over `texts`, in characters encoded per second."
    n_chars, best = sum(len(t) for t in texts), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for t in texts:
            encode(t)
        best = min(best, time.perf_counter() - start)
    return n_chars / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=3000)
    a = parser.parse_args()
    texts = list(itertools.islice(iter_documents(make_world(0), split="valid"), a.documents))
    sp, scratch = Tokenizer(course_tokenizer_path()), BPETokenizer(course_tokenizer_path())
    assert all(scratch.encode(t) == sp.encode(t, bos=False, eos=False) for t in texts[:200])
    n_tokens = sum(len(sp.encode(t, bos=False, eos=False)) for t in texts)
    n_chars = sum(len(t) for t in texts)
    rates = {"from scratch": chars_per_second(scratch.encode, texts),
             "sentencepiece": chars_per_second(lambda t: sp.encode(t, bos=False, eos=False), texts)}
    print(f"{a.documents} TinyWorld documents, {n_chars:,} characters, {n_tokens:,} tokens (course tokenizer, 2048)")
    for name, rate in rates.items():
        print(f"{name:14s} {rate:12,.0f} chars/s {rate * n_tokens / n_chars:12,.0f} tokens/s")
    print(f"ratio from scratch / sentencepiece: {rates['from scratch'] / rates['sentencepiece']:.3f}x")


if __name__ == "__main__":
    main()
