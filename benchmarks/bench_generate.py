"""Greedy decoding throughput: mini_llama's `generate` against transformers' `generate` on the same weights, batch 1
and batch 8, and how close batch 1 comes to the memory-bandwidth floor.

The floor: decoding one token reads every weight once, so tokens/s cannot exceed (streaming-read bandwidth) /
(bytes of weights). The bandwidth is measured in the same run by summing a large tensor.

    python benchmarks/bench_generate.py [--dim 512 --n-layers 8 --new-tokens 64 --threads 1]
"""

import argparse
import statistics
import tempfile
import time

import torch

from mini_llama.checkpoint import load_hf, save_hf
from mini_llama.config import ModelArgs
from mini_llama.generation import generate
from mini_llama.model import Transformer


def read_bandwidth(n_bytes: int = 1 << 30, repeats: int = 5) -> float:
    "Bytes per second of a streaming read (summing an fp32 tensor larger than the caches), best of `repeats`."
    x = torch.ones(n_bytes // 4)
    x.sum()
    best = min(_timed(x.sum) for _ in range(repeats))
    return n_bytes / best


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--n-layers", type=int, default=8)
    parser.add_argument("--n-heads", type=int, default=8)
    parser.add_argument("--n-kv-heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    args = ModelArgs(dim=a.dim, n_layers=a.n_layers, n_heads=a.n_heads, n_kv_heads=a.n_kv_heads,
                     vocab_size=a.vocab_size, multiple_of=32, max_seq_len=a.prompt_len + a.new_tokens + 1)
    with tempfile.TemporaryDirectory() as tmp:
        save_hf(Transformer(args).init_weights(std=0.05), tmp)
        ours = load_hf(tmp).eval()
        theirs = transformers.LlamaForCausalLM.from_pretrained(tmp).eval()
    n_params = sum(p.numel() for p in ours.parameters())
    weight_bytes = 4 * n_params

    def run_ours(prompts):
        return generate(ours, prompts.tolist(), a.new_tokens, temperature=0, eos_id=-1)

    @torch.inference_mode()
    def run_theirs(prompts):
        out = theirs.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=a.new_tokens,
                              min_new_tokens=a.new_tokens, do_sample=False, pad_token_id=0)
        return out[:, prompts.shape[1]:].tolist()

    print(f"shape: dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads / {a.n_kv_heads} kv heads, vocab "
          f"{a.vocab_size}: {n_params / 1e6:.1f}M parameters, {weight_bytes / 1e6:.0f} MB of fp32 weights; prompts of "
          f"{a.prompt_len} tokens, {a.new_tokens} new tokens, greedy; {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, transformers {transformers.__version__}")
    rates = {}
    for bs in (1, 8):
        prompts = torch.randint(3, a.vocab_size, (bs, a.prompt_len), generator=torch.Generator().manual_seed(bs))
        with torch.inference_mode():  # the same model: equal logits (greedy paths may still part at near-ties)
            diff = (ours(prompts) - theirs(prompts).logits).abs().max().item()
        assert diff < 1e-4, f"the two implementations disagree on the prompt's logits by {diff}"
        times = {"mini_llama": [], "transformers": []}
        for _ in range(a.repeats):  # alternate, so that both see the same machine
            times["mini_llama"].append(_timed(run_ours, prompts))
            times["transformers"].append(_timed(run_theirs, prompts))
        for name, t in times.items():
            rates[name, bs] = bs * a.new_tokens / statistics.median(t)
            print(f"batch {bs}  {name:13s} {rates[name, bs]:9,.1f} tokens/s")
        ratio = rates["mini_llama", bs] / rates["transformers", bs]
        print(f"batch {bs}  ratio mini_llama / transformers: {ratio:.2f}x")
    bandwidth = read_bandwidth()
    floor = bandwidth / weight_bytes
    print(f"streaming read bandwidth {bandwidth / 1e9:.1f} GB/s -> floor {floor:,.1f} tokens/s at batch 1; "
          f"mini_llama reaches {rates['mini_llama', 1] / floor:.0%} of it, transformers "
          f"{rates['transformers', 1] / floor:.0%}")


if __name__ == "__main__":
    main()
