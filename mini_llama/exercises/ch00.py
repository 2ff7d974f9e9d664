"""Checks for chapter 00's exercises (the overview): a model's size and its KV cache's, counted from `ModelArgs`."""

import functools

import torch

from mini_llama.attention import kv_cache_bytes
from mini_llama.config import ModelArgs
from mini_llama.exercises import exercise, expect
from mini_llama.model import Transformer, count_parameters

__all__ = ["check_parameter_count", "check_kv_cache_bytes"]

# the released models and the course's `tiny`: with and without GQA, with and without ffn_dim_multiplier
MODELS = ("llama2-7b", "llama2-13b", "llama2-70b", "tiny")


def _describe(args: ModelArgs) -> str:
    return (f"dim={args.dim}, n_layers={args.n_layers}, n_heads={args.n_heads}, n_kv_heads={args.n_kv_heads}, "
            f"vocab_size={args.vocab_size}, multiple_of={args.multiple_of}, "
            f"ffn_dim_multiplier={args.ffn_dim_multiplier}")


def _expect_count(what: str, got, want: int) -> None:
    "`got` is the int `want`; the message gives the difference and the ratio, which often name the mistake."
    expect(isinstance(got, int) and not isinstance(got, bool),
           f"{what}: got {got!r} of type {type(got).__name__}, expected an int")
    expect(got == want, f"{what}: got {got:,}, expected {want:,} (off by {got - want:+,}; "
                        f"got / expected = {got / want:.4g})")


@functools.cache  # building 70B, even on the meta device, takes seconds
def _built_count(name: str) -> int:
    "Parameters of the named model itself, built on the meta device (shapes only, no memory)."
    with torch.device("meta"):
        return count_parameters(Transformer(ModelArgs.from_name(name)))


@exercise("Exercise 1 (parameter count)")
def check_parameter_count(n_parameters) -> None:
    "`n_parameters(args)` must equal the parameters of the Transformer built from `args`, for each model of MODELS."
    for name in MODELS:
        args = ModelArgs.from_name(name)
        _expect_count(f"{name} ({_describe(args)})", n_parameters(args), _built_count(name))


@exercise("Exercise 2 (KV-cache bytes)")
def check_kv_cache_bytes(cache_bytes) -> None:
    "`cache_bytes(args, seq_len, batch_size)` must equal the bytes of a full bf16 KV cache."
    cases = (("llama2-7b", 4096, 1), ("llama2-70b", 4096, 1), ("llama2-13b", 1024, 8), ("tiny", 128, 2))
    for name, seq_len, batch_size in cases:
        args = ModelArgs.from_name(name)
        _expect_count(f"{name} (n_layers={args.n_layers}, n_heads={args.n_heads}, n_kv_heads={args.n_kv_heads}, "
                      f"head_dim={args.head_dim}) at seq_len={seq_len}, batch_size={batch_size}",
                      cache_bytes(args, seq_len, batch_size), kv_cache_bytes(args, seq_len, batch_size))
