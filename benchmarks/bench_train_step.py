"""Training-step throughput (forward + backward + AdamW, fp32, CPU): mini_llama against transformers' Llama.

Both models hold the same weights: ours is saved with `save_hf`, transformers loads that directory, and ours is
the model `load_hf` returns from it. Steps alternate between the two, after warm-up; the median is reported.

    python benchmarks/bench_train_step.py [--dim 256 --n-layers 4 --seq-len 256 --batch 8 --steps 10]
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


def make_step(model, forward, lr=3e-4):
    "One training step: next-token cross-entropy, backward, AdamW (the paper's betas)."
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1)

    def step(tokens):
        logits = forward(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

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
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    a = parser.parse_args()

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    args = ModelArgs(dim=a.dim, n_layers=a.n_layers, n_heads=a.n_heads, n_kv_heads=a.n_kv_heads,
                     vocab_size=a.vocab_size, multiple_of=32, max_seq_len=a.seq_len + 1)
    with tempfile.TemporaryDirectory() as tmp:
        save_hf(Transformer(args).init_weights(), tmp)
        ours = load_hf(tmp).train()
        theirs = transformers.LlamaForCausalLM.from_pretrained(tmp, attn_implementation="sdpa").train()
    steps = {"mini_llama": make_step(ours, ours),
             "transformers": make_step(theirs, lambda t: theirs(t, use_cache=False).logits)}
    tokens = torch.randint(0, a.vocab_size, (a.batch, a.seq_len + 1))
    times = {name: [] for name in steps}
    for i in range(a.warmup + a.steps):
        for name, step in steps.items():
            start = time.perf_counter()
            step(tokens)
            if i >= a.warmup:
                times[name].append(time.perf_counter() - start)
    n_tokens = a.batch * a.seq_len
    n_params = sum(p.numel() for p in ours.parameters())
    print(f"shape: dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads / {a.n_kv_heads} kv heads, "
          f"vocab {a.vocab_size}, {n_params / 1e6:.1f}M parameters; batch {a.batch} x {a.seq_len} tokens; "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, transformers {transformers.__version__}")
    rate = {name: n_tokens / statistics.median(t) for name, t in times.items()}
    for name, r in rate.items():
        print(f"{name:13s} {r:10,.0f} tokens/s  (median step {n_tokens / r * 1e3:.1f} ms over {a.steps})")
    print(f"ratio mini_llama / transformers: {rate['mini_llama'] / rate['transformers']:.2f}x")


if __name__ == "__main__":
    main()
