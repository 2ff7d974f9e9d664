"""Greedy decoding throughput: mini_llama's `generate` against transformers' `generate` on the same weights, batch 1
and batch 8, each as it comes and compiled (`compile=True`; theirs with a static cache and `torch.compile`), and how
close batch 1 comes to the memory-bandwidth floor.

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
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="batch sizes to measure")
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
        ours_compiled = load_hf(tmp).eval()  # its own decoding copy, laid out for compiled steps
        theirs = transformers.LlamaForCausalLM.from_pretrained(tmp).eval()
        theirs_compiled = transformers.LlamaForCausalLM.from_pretrained(tmp).eval()
    theirs_compiled.forward = torch.compile(theirs_compiled.forward)  # with a static cache, as their docs advise
    n_params = sum(p.numel() for p in ours.parameters())
    weight_bytes = 4 * n_params

    def run_ours(prompts):
        return generate(ours, prompts.tolist(), a.new_tokens, temperature=0, eos_id=-1)

    def run_compiled(prompts):
        return generate(ours_compiled, prompts.tolist(), a.new_tokens, temperature=0, eos_id=-1, compile=True)

    @torch.inference_mode()
    def run_theirs(prompts, model=theirs, **kwargs):
        out = model.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=a.new_tokens,
                             min_new_tokens=a.new_tokens, do_sample=False, pad_token_id=0, **kwargs)
        return out[:, prompts.shape[1]:].tolist()

    def run_theirs_compiled(prompts):
        return run_theirs(prompts, theirs_compiled, cache_implementation="static")

    print(f"shape: dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads / {a.n_kv_heads} kv heads, vocab "
          f"{a.vocab_size}: {n_params / 1e6:.1f}M parameters, {weight_bytes / 1e6:.0f} MB of fp32 weights; prompts of "
          f"{a.prompt_len} tokens, {a.new_tokens} new tokens, greedy; {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, transformers {transformers.__version__}")
    rates = {}
    for bs in a.batch_sizes:
        prompts = torch.randint(3, a.vocab_size, (bs, a.prompt_len), generator=torch.Generator().manual_seed(bs))
        with torch.inference_mode():  # the same model: equal logits (greedy paths may still part at near-ties)
            diff = (ours(prompts) - theirs(prompts).logits).abs().max().item()
        assert diff < 1e-4, f"the two implementations disagree on the prompt's logits by {diff}"
        run_ours(prompts)  # eager: a first generation decodes on the model, later ones on its decoding copy (06b)
        for name, run in (("mini_llama", run_compiled), ("transformers", run_theirs_compiled)):
            # graphs for this batch shape, made once and then reused (and kept on disk by inductor between runs)
            print(f"batch {bs}  compilation and first run, {name}: {_timed(run, prompts):.1f}s")
        assert run_compiled(prompts) == run_ours(prompts), "compiled greedy decoding parted from eager decoding"
        runs = {"mini_llama": run_ours, "mini_llama compiled": run_compiled, "transformers": run_theirs,
                "transformers compiled": run_theirs_compiled}
        times = {name: [] for name in runs}
        for _ in range(a.repeats):  # alternate, so that all see the same machine
            for name, run in runs.items():
                times[name].append(_timed(run, prompts))
        for name, t in times.items():
            rates[name, bs] = bs * a.new_tokens / statistics.median(t)
            print(f"batch {bs}  {name:22s} {rates[name, bs]:9,.1f} tokens/s")
        for ours_name, theirs_name in (("mini_llama", "transformers"), ("mini_llama compiled", "transformers"),
                                       ("mini_llama compiled", "transformers compiled")):
            print(f"batch {bs}  ratio {ours_name} / {theirs_name}: "
                  f"{rates[ours_name, bs] / rates[theirs_name, bs]:.2f}x")
    bandwidth = read_bandwidth()
    floor = bandwidth / weight_bytes
    print(f"streaming read bandwidth {bandwidth / 1e9:.1f} GB/s -> floor {floor:,.1f} tokens/s at batch 1; reached: "
          + ", ".join(f"{name} {rates[name, 1] / floor:.0%}" for name in times))


if __name__ == "__main__":
    main()
