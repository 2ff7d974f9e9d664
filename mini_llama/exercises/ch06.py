"""Checks for chapter 06 (generation): top-p filtering of a distribution, and greedy decoding through the KV cache.

Plain module, taught by no chapter: `mini_llama.exercises` explains how a check reports.
"""

import torch

import mini_llama.generation as generation
from mini_llama.config import ModelArgs
from mini_llama.exercises import ExerciseError, exercise, expect, expect_close, expect_equal
from mini_llama.model import Transformer

__all__ = ["check_top_p_filter", "check_greedy_with_cache", "top_p_reference"]


def top_p_reference(probs: torch.Tensor, p: float) -> torch.Tensor:
    """`sample_top_p`'s rule as a distribution: sorted by probability, a token is kept while the mass of the tokens
    before it is at most p; the kept ones renormalised. (bs, vocab) -> (bs, vocab)."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    kept_sorted = torch.where(mass_before > p, 0.0, sorted_probs)
    kept = torch.zeros_like(probs).scatter(-1, order, kept_sorted)
    return kept / kept.sum(-1, keepdim=True)


# (name, probabilities of one or more rows, p): exact binary fractions, so "mass before == p" is exact
TOP_P_CASES = [
    ("sorted, p = 0.9", [[0.5, 0.25, 0.125, 0.0625, 0.0625]], 0.9),
    ("unsorted, p = 0.6", [[0.125, 0.5, 0.0625, 0.25, 0.0625]], 0.6),
    ("mass before the third token exactly p = 0.75 (it is kept)", [[0.5, 0.25, 0.125, 0.125]], 0.75),
    ("tiny p: the most likely token alone", [[0.25, 0.375, 0.25, 0.125]], 1e-6),
    ("p = 1: every token", [[0.5, 0.25, 0.125, 0.125]], 1.0),
    ("a batch of two rows, each its own nucleus", [[0.5, 0.25, 0.125, 0.125], [0.125, 0.125, 0.25, 0.5]], 0.5),
    ("ties across the cut: either tied token may be kept", [[0.5, 0.25, 0.25]], 0.6),
]


@exercise("Exercise 1 (top-p filtering)")
def check_top_p_filter(top_p_filter) -> None:
    """`top_p_filter(probs (bs, vocab), p) -> (bs, vocab)`: the distribution top-p samples from."""
    for name, rows, p in TOP_P_CASES:
        probs = torch.tensor(rows, dtype=torch.float64)
        got = top_p_filter(probs.clone(), p)
        want = top_p_reference(probs, p)
        what = f"case '{name}', probs {rows}, p={p}"
        expect(isinstance(got, torch.Tensor), f"{what}: got a {type(got).__name__}, expected a torch.Tensor")
        expect_equal(f"{what}: the shape", tuple(got.shape), tuple(want.shape))
        got = got.double()
        expect(bool((got >= 0).all()), f"{what}: negative probabilities {got.tolist()}")
        expect_close(f"{what}: the sums of the rows (renormalised?)", got.sum(-1), torch.ones(len(rows)))
        kept_counts = (got > 0).sum(-1).tolist()
        expect_equal(f"{what}: the number of tokens kept in each row", kept_counts, (want > 0).sum(-1).tolist())
        # a kept token keeps its probability relative to the others: out = probs / (mass kept)
        scale = probs / got.where(got > 0, torch.nan)
        same_scale = [bool(torch.allclose(s[~s.isnan()], s[~s.isnan()][0])) for s in scale]
        expect(all(same_scale), f"{what}: the kept tokens are not the input's probabilities rescaled by one factor "
                                f"per row: got {got.tolist()}")
        for row, (g, w, pr) in enumerate(zip(got, want, probs, strict=True)):
            # which tied token is kept is the sort's choice: compare the kept probabilities, not their places
            expect(bool(pr[g > 0].min() >= pr[g == 0].max()) if (g == 0).any() else True,
                   f"{what}, row {row}: a dropped token is more likely than a kept one: got {g.tolist()}")
            expect_close(f"{what}, row {row}: the kept probabilities, largest first",
                         g.sort(descending=True).values, w.sort(descending=True).values)


def small_model() -> Transformer:
    "A seeded random model small enough to decode in milliseconds."
    args = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=128, multiple_of=16, max_seq_len=64)
    return Transformer(args).init_weights(std=0.1, generator=torch.Generator().manual_seed(0)).eval()


@exercise("Exercise 2 (greedy decoding through the KV cache)")
def check_greedy_with_cache(greedy_with_cache) -> None:
    """`greedy_with_cache(model, prompt: list[int], n: int) -> list[int]`: n greedy tokens, each step on the new
    token alone, equal to chapter 06's naive loop."""
    model = small_model()
    fed = []  # the number of tokens each forward call runs on

    def count_tokens(module, args, kwargs):
        fed.append((args[0] if args else kwargs["tokens"]).shape[1])

    hook = model.register_forward_pre_hook(count_tokens, with_kwargs=True)
    try:
        for prompt, n in (([1, 17, 42, 99, 5], 12), ([1], 8), ([1, 3, 3, 3, 3, 3, 3, 3, 3], 20)):
            want = generation.generate(model, [prompt], n, temperature=0, use_cache=False, eos_id=-1)[0]
            fed.clear()
            got = greedy_with_cache(model, list(prompt), n)
            model.clear_caches()
            what = f"prompt {prompt}, n={n}"
            expect(isinstance(got, list), f"{what}: got a {type(got).__name__}, expected a list of ints")
            expect_equal(f"{what}: the number of generated tokens", len(got), n)
            wrong = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if int(g) != w]
            if wrong:
                i = wrong[0]
                raise ExerciseError(f"{what}: token {i} is {got[i]}, the naive loop's is {want[i]} (wrong start_pos, "
                                    f"or a step that did not see the token before it?)")
            expect_equal(f"{what}: tokens run through the model in all (the prompt once, then each new token "
                         f"but the last once)", sum(fed), len(prompt) + n - 1)
    finally:
        hook.remove()
        model.clear_caches()
