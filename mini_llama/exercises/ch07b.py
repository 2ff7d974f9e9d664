"""Checks for chapter 07b's exercises (pretraining): packing documents into rows, and the days a run takes."""

import torch

import mini_llama.model as model_lib
from mini_llama.config import ModelArgs
from mini_llama.exercises import exercise, expect, expect_equal
from mini_llama.pretrain import PackedStream

__all__ = ["check_pack_rows", "check_training_days"]


class _IdsTokenizer:
    "A stand-in tokenizer whose documents are already token ids: encode only adds bos and eos."
    bos_id, eos_id = 1, 2

    def encode(self, ids: list[int], bos: bool, eos: bool) -> list[int]:
        return [self.bos_id] * bos + list(ids) + [self.eos_id] * eos


def _packed(docs: list[list[int]], seq_len: int, n_rows: int) -> torch.Tensor:
    "The chapter's answer: PackedStream over the documents."
    return PackedStream(lambda: iter(docs), _IdsTokenizer(), seq_len).next_batch(n_rows)


# (what the case shows, documents of ids >= 3, seq_len, n_rows)
_PACK_CASES = [
    ("short documents, several a row", [[10, 11], [12], [13, 14, 15], [16, 17], [18]], 6, 2),
    ("a document longer than a row, continued in the next rows", [list(range(10, 30)), [40, 41]], 5, 4),
    ("documents of every length", [list(range(100, 100 + n)) for n in (7, 1, 12, 3, 9, 4, 15, 2)], 8, 6),
]


@exercise("Exercise 1 (packing documents into rows)")
def check_pack_rows(pack_rows) -> None:
    """`pack_rows(docs, seq_len, n_rows, bos_id, eos_id)` returns the first n_rows rows of seq_len + 1 tokens of the
    documents (lists of ids) written end to end, each as bos, its ids, eos: what `PackedStream` gives."""
    tok = _IdsTokenizer()
    for what, docs, seq_len, n_rows in _PACK_CASES:
        case = f"{what} (seq_len={seq_len}, n_rows={n_rows})"
        got = pack_rows([list(d) for d in docs], seq_len, n_rows, tok.bos_id, tok.eos_id)
        got = torch.as_tensor(got)
        want = _packed(docs, seq_len, n_rows)
        if got.ndim == 2 and got.shape == (n_rows, seq_len):
            expect(False, f"{case}: got rows of {seq_len} tokens, expected {seq_len + 1}: a row holds the inputs "
                          f"row[:-1] and the targets row[1:], so seq_len + 1 tokens")
        expect_equal(f"{case}: shape", tuple(got.shape), tuple(want.shape))
        wrong = (got != want).nonzero()
        if len(wrong):
            r, c = (int(i) for i in wrong[0])
            hint = ""
            if tok.eos_id in want[r].tolist() and tok.eos_id not in got.flatten().tolist():
                hint = ": no eos anywhere; each document ends with eos, so the model learns where documents end"
            elif 0 in got[r].tolist():
                hint = ": a 0 in the row looks like padding; packing continues the next document instead"
            expect(False, f"{case}: row {r} differs first at position {c}: got {got[r].tolist()}, expected "
                          f"{want[r].tolist()}{hint}")


# (preset, training tokens, GPUs, peak FLOP/s of one GPU, model FLOPs utilisation)
_DAYS_CASES = [("llama2-7b", 2e12, 8, 989e12, 0.40), ("llama2-70b", 2e12, 64, 989e12, 0.40),
               ("llama2-13b", 1e12, 512, 312e12, 0.45)]
_DAYS_HINTS = {1 / 3: "a token costs 6 FLOPs a parameter (2 forward, 4 backward), not 2",
               24.0: "that is hours, not days", 1440.0: "that is minutes, not days"}


@exercise("Exercise 2 (how many days a pretraining run takes)")
def check_training_days(training_days) -> None:
    """`training_days(args, n_tokens, n_gpus, peak_flops, mfu)`: the days to train the model of `args` on n_tokens at
    6 FLOPs a parameter a token, on n_gpus GPUs each doing mfu * peak_flops useful FLOP/s."""
    for name, n_tokens, n_gpus, peak, mfu in _DAYS_CASES:
        case = f"{name}, {n_tokens:.0e} tokens on {n_gpus} GPUs at {mfu:.0%} of {peak:.3g} FLOP/s"
        with torch.device("meta"):  # shapes only
            n_params = model_lib.count_parameters(model_lib.Transformer(ModelArgs.from_name(name)))
        want = 6 * n_params * n_tokens / (n_gpus * mfu * peak) / 86400
        got = training_days(ModelArgs.from_name(name), n_tokens, n_gpus, peak, mfu)
        expect(isinstance(got, (int, float)), f"{case}: got a {type(got).__name__}, expected a number of days")
        if abs(got - want) > 1e-6 * want:
            ratio = got / want
            hint = next((h for r, h in _DAYS_HINTS.items() if abs(ratio - r) < 1e-3 * r), "")
            if abs(ratio - n_gpus) < 1e-3 * n_gpus:
                hint = "the work is shared by all the GPUs: divide by n_gpus"
            expect(False, f"{case}: got {got:.4g} days, expected {want:.4g} ({ratio:.3g} times it)"
                          + (f": {hint}" if hint else ""))
