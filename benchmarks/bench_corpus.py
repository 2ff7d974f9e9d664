"""TinyWorld corpus generation throughput, beside the tokenizer that consumes it, measured in the same run.

Pretraining streams documents through the tokenizer; generation must not be the slower of the two. The peer is
SentencePiece encoding the same documents with the course tokenizer.

    python benchmarks/bench_corpus.py [--documents 100000]
"""

import argparse
import itertools
import time

from mini_llama.data import iter_documents, make_world
from mini_llama.shelf import course_tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    a = parser.parse_args()
    world, tok = make_world(0), course_tokenizer()
    start = time.perf_counter()
    docs = list(itertools.islice(iter_documents(world), a.documents))
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    n_tokens = sum(len(tok.encode(d, bos=True, eos=True)) for d in docs)
    encode_s = time.perf_counter() - start
    n_chars = sum(len(d) for d in docs)
    print(f"{a.documents:,} documents, {n_chars:,} characters, {n_tokens:,} tokens (course tokenizer, with bos/eos)")
    print(f"generation     {n_chars / generate_s:12,.0f} chars/s {n_tokens / generate_s:12,.0f} tokens/s")
    print(f"sentencepiece  {n_chars / encode_s:12,.0f} chars/s {n_tokens / encode_s:12,.0f} tokens/s")
    print(f"ratio generation / tokenization: {encode_s / generate_s:.2f}x")


if __name__ == "__main__":
    main()
