"""Pretraining throughput and model FLOPs utilisation (MFU): chapter 07's step against transformers' Llama.

One step is what `mini_llama.pretrain.train` does: next-token loss, backward, gradient clipping at 1.0 and AdamW with
the paper's hyper-parameters (`make_optimizer`). transformers' LlamaForCausalLM of the same shape and the same weights
(written with `save_hf`) takes the same step. MFU is 6 * N * tokens/s (N the parameters, a forward and a backward
pass; attention's own FLOPs left out) over a peak measured in this run: a large fp32 `torch.mm`, timed.

    python benchmarks/bench_pretrain.py [--dim 256 --n-layers 4 --seq-len 256 --batch 8 --steps 6]
"""

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from mini_llama.checkpoint import load_hf, save_hf
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.pretrain import TrainConfig, make_optimizer


def matmul_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    "FLOP/s of the best of `repeats` (n x n) @ (n x n) fp32 products: the peak the MFU is measured against."
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_step(model, forward, cfg: TrainConfig):
    "Chapter 07's optimiser step for any model whose `forward(tokens)` returns logits."
    opt = make_optimizer(model, cfg)

    def step(rows):
        logits = forward(rows[:, :-1])  # (bs, seq_len, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-heads", type=int, default=8)
    parser.add_argument("--n-kv-heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    a = parser.parse_args()

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    args = ModelArgs(dim=a.dim, n_layers=a.n_layers, n_heads=a.n_heads, n_kv_heads=a.n_kv_heads,
                     vocab_size=a.vocab_size, multiple_of=32, max_seq_len=a.seq_len + 1)
    cfg = TrainConfig(batch_size=a.batch, seq_len=a.seq_len)
    with tempfile.TemporaryDirectory() as tmp:
        save_hf(Transformer(args).init_weights(), tmp)
        ours = load_hf(tmp).train()
        theirs = transformers.LlamaForCausalLM.from_pretrained(tmp, attn_implementation="sdpa").train()
    steps = {"mini_llama": make_step(ours, ours, cfg),
             "transformers": make_step(theirs, lambda t: theirs(t, use_cache=False).logits, cfg)}
    rows = torch.randint(0, a.vocab_size, (a.batch, a.seq_len + 1))
    times = {name: [] for name in steps}
    for i in range(a.warmup + a.steps):
        for name, step in steps.items():  # alternate, so that both see the same machine load
            t = _timed(lambda step=step: step(rows))
            if i >= a.warmup:
                times[name].append(t)
    peak = matmul_peak_flops()
    n_params, n_tokens = sum(p.numel() for p in ours.parameters()), a.batch * a.seq_len
    print(f"shape: dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads / {a.n_kv_heads} kv heads, vocab "
          f"{a.vocab_size}, {n_params / 1e6:.1f}M parameters; batch {a.batch} x {a.seq_len}; "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    rate = {name: n_tokens / statistics.median(t) for name, t in times.items()}
    for name, r in rate.items():
        print(f"{name:13s} {r:10,.0f} tokens/s   MFU {6 * n_params * r / peak:6.1%}")
    print(f"ratio mini_llama / transformers: {rate['mini_llama'] / rate['transformers']:.2f}x")


if __name__ == "__main__":
    main()
