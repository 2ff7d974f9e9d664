"""Pretraining throughput and model FLOPs utilisation (MFU): chapter 07a's step against transformers' Llama.

One step is what `mini_llama.pretrain.train` does: next-token loss (`next_token_loss`: bf16 autocast on a GPU, fp32
master weights), backward, gradient clipping at 1.0 and AdamW with the paper's hyper-parameters (`make_optimizer`).
transformers' LlamaForCausalLM of the same shape and the same weights takes the same step under the same autocast.
MFU is 6 * N * tokens/s (N the parameters, a forward and a backward pass; attention's own FLOPs left out) over a peak
measured in this run: a large `torch.mm` (fp32 on the CPU, bf16 on a GPU), timed.

    python benchmarks/bench_pretrain.py [--dim 256 --n-layers 4 --seq-len 256 --batch 8 --steps 6]
    python benchmarks/bench_pretrain.py --config llama2-7b --n-layers 4 --seq-len 4096 --batch 1 --device cuda --compile
"""

import argparse
import statistics
import time

import torch

from mini_llama.checkpoint import hf_config, to_hf_state_dict
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.training import OptimConfig, make_optimizer, next_token_loss


def matmul_peak_flops(device: torch.device, repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` square products, the peak the MFU is measured against: fp32 2048s on the CPU,
    bf16 8192s on a GPU (the precision its training matrix multiplies run in under autocast)."""
    n, dtype = (2048, torch.float32) if device.type == "cpu" else (8192, torch.bfloat16)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = min(_timed(lambda: torch.mm(a, b), device) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()  # kernels run asynchronously: wait for them before reading the clock
    return time.perf_counter() - start


class LogitsOnly(torch.nn.Module):
    "transformers' model behind the `forward(tokens) -> logits` that `next_token_loss` calls."

    def __init__(self, hf_model):
        super().__init__()
        self.hf_model = hf_model

    def forward(self, tokens):
        return self.hf_model(tokens, use_cache=False).logits


def make_step(model, cfg: OptimConfig, compile: bool = False):
    "Chapter 07a's optimiser step for any model whose `forward(tokens)` returns logits (compiled if asked)."
    opt = make_optimizer(model, cfg)
    forward = torch.compile(model) if compile else model

    def step(rows):
        next_token_loss(forward, rows).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="an official shape (llama2-7b, ...) instead of --dim/--n-heads/...; "
                                          "--n-layers still applies, so that a few of its layers fit")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-heads", type=int, default=8)
    parser.add_argument("--n-kv-heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time both models under torch.compile")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    a = parser.parse_args()

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    device = torch.device(a.device)
    torch.manual_seed(0)
    shape = dict(dim=a.dim, n_heads=a.n_heads, n_kv_heads=a.n_kv_heads, vocab_size=a.vocab_size, multiple_of=32)
    args = (ModelArgs.from_name(a.config, n_layers=a.n_layers, max_seq_len=a.seq_len + 1) if a.config else
            ModelArgs(n_layers=a.n_layers, max_seq_len=a.seq_len + 1, **shape))
    cfg = OptimConfig()
    ours = Transformer(args).init_weights().to(device).train()
    # the same weights in transformers' layout (q and k rows permuted for its rotate-half RoPE)
    hf_cfg = transformers.LlamaConfig(**hf_config(args), attn_implementation="sdpa")
    theirs = transformers.LlamaForCausalLM(hf_cfg).to(device)
    theirs.load_state_dict(to_hf_state_dict(ours))
    theirs = LogitsOnly(theirs.train())
    rows = torch.randint(0, args.vocab_size, (a.batch, a.seq_len + 1), device=device)
    with torch.no_grad():  # the same model: fp32 logits agree before anything is timed
        torch.testing.assert_close(ours(rows[:, :-1]), theirs(rows[:, :-1]), atol=2e-3, rtol=2e-3)
    steps = {"mini_llama": make_step(ours, cfg), "transformers": make_step(theirs, cfg)}
    if a.compile:
        steps |= {"mini_llama + compile": make_step(ours, cfg, compile=True),
                  "transformers + compile": make_step(theirs, cfg, compile=True)}
    times = {name: [] for name in steps}
    for i in range(a.warmup + a.steps):
        for name, step in steps.items():  # alternate, so that all see the same machine load
            t = _timed(lambda step=step: step(rows), device)
            if i >= a.warmup:
                times[name].append(t)
    peak = matmul_peak_flops(device)
    n_params, n_tokens = sum(p.numel() for p in ours.parameters()), a.batch * a.seq_len
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"shape: {a.config or 'custom'}, dim {args.dim}, {args.n_layers} layers, {args.n_heads} heads / "
          f"{args.n_kv_heads} kv heads, vocab {args.vocab_size}, {n_params / 1e6:.1f}M parameters; batch {a.batch} x "
          f"{a.seq_len}; {where}, torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"measured {'fp32' if device.type == 'cpu' else 'bf16'} matmul peak: {peak / 1e12:.3f} TFLOP/s")
    rate = {name: n_tokens / statistics.median(t) for name, t in times.items()}
    for name, r in rate.items():
        print(f"{name:23s} {r:12,.0f} tokens/s   MFU {6 * n_params * r / peak:6.1%}")
    for suffix in ("", " + compile") if a.compile else ("",):
        print(f"ratio mini_llama{suffix} / transformers{suffix}: "
              f"{rate['mini_llama' + suffix] / rate['transformers' + suffix]:.2f}x")


if __name__ == "__main__":
    main()
