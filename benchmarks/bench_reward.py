"""Reward-model training throughput (pairs/s, fp32, CPU): mini_llama.reward against TRL's RewardTrainer.

Both sides train the same reward model on the same synthetic preference pairs: a course-shaped chat model, randomly
initialised with a seed, becomes a `RewardModel` (`from_chat_model`: the chat model's body, a head of zeros); ours is
that model, TRL's is the directory `save_hf` writes from it, loaded by `AutoModelForSequenceClassification` with
`num_labels=1`, our head copied into `score.weight`. Each pair is a prompt of --prompt-len tokens followed by a
chosen response of --chosen-len tokens and a rejected one of --rejected-len tokens; every step takes --batch pairs
scored in one forward pass (TRL: the chosen and the rejected rows padded on the right to the longer; ours: each pair
packed in one row, the prompt once, `reward.pair_rewards`), no margin, AdamW with the paper's betas, clipping at 1.0,
a constant learning rate.

TRL lives in a virtual environment of its own, beside the project's (torch pinned as in the project, then `trl`,
then `pip install -e . --no-deps` and mini_llama's light dependencies), so run this with that environment's Python:

    .venv-trl/bin/python benchmarks/bench_reward.py [--dim 128 --n-layers 4 --batch 16 --steps 20 --warmup 3]
"""

import argparse
import dataclasses
import statistics
import tempfile
import time

import torch

from mini_llama import reward, training
from mini_llama.checkpoint import save_hf
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer

PAD = 0  # the padding id on both sides; the synthetic rows never use it (HF finds each row's last token by it)


def synthetic_pairs(n: int, prompt_len: int, chosen_len: int, rejected_len: int, vocab_size: int, seed: int):
    "n pairs of token rows (prompt + chosen, prompt + rejected), ids in [1, vocab_size): the same for both sides."
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n):
        prompt = torch.randint(1, vocab_size, (prompt_len,), generator=g).tolist()
        chosen = torch.randint(1, vocab_size, (chosen_len,), generator=g).tolist()
        rejected = torch.randint(1, vocab_size, (rejected_len,), generator=g).tolist()
        pairs.append((prompt + chosen, prompt + rejected))
    return pairs


def row_pair_loss(rm: reward.RewardModel, batch: list[tuple[list[int], list[int]]]) -> torch.Tensor:
    """`reward.pair_loss` on rows already tokenized (it takes text and a tokenizer; this is the same computation from
    the token rows on): each pair packed in one row, the prompt once (`reward.pair_rewards`), all scored in one
    forward pass, the ranking loss without a margin."""
    chosen, rejected = reward.pair_rewards(rm, [c for c, _ in batch], [r for _, r in batch])
    return reward.ranking_loss(chosen, rejected, torch.zeros(len(batch)))


def train_ours(rm, pairs, a, n_steps):
    "mini_llama's training path: `training.optimizer_step` (AdamW, clipping, the finiteness checks) per batch."
    optim = training.OptimConfig(max_steps=n_steps, lr=a.lr, warmup_steps=0, min_lr_ratio=1.0, betas=(0.9, 0.95),
                                 eps=1e-5, weight_decay=0.1, grad_clip=1.0)
    optimizer = training.make_optimizer(rm, optim)
    rm.train()
    times, losses = [], []
    for step in range(n_steps):
        batch = pairs[step * a.batch:(step + 1) * a.batch]
        start = time.perf_counter()
        loss, _ = training.optimizer_step(rm, optimizer, optim, step, lambda b=batch: row_pair_loss(rm, b))
        times.append(time.perf_counter() - start)
        losses.append(loss)
    return times, losses


def word_level_tokenizer(vocab_size: int):
    "A tokenizer whose vocabulary holds the model's ids: RewardTrainer asks one for its pad token (it never encodes)."
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": PAD} | {f"t{i}": i for i in range(1, vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t1"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="t1", unk_token="t1")


def train_trl(model_dir, rm, pairs, a, n_steps):
    "TRL's RewardTrainer for n_steps on the same pairs (pre-tokenized); each step's time from a callback."
    from transformers import AutoModelForSequenceClassification, PrinterCallback, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    import datasets  # Hugging Face's (ruff sorts it as first-party: the checkout has a datasets/ folder)

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, pad_token_id=PAD,
                                                               attn_implementation="sdpa", dtype=torch.float32)
    with torch.no_grad():
        model.score.weight.copy_(rm.output.weight)  # the head: not in the causal-LM layout save_hf writes
    # the pre-tokenized form TRL >= 1.0 reads: whole rows (prompt + response) as chosen_ids / rejected_ids
    data = datasets.Dataset.from_dict({"chosen_ids": [c for c, _ in pairs], "rejected_ids": [r for _, r in pairs]})

    class StepClock(TrainerCallback):
        "Each step's wall time: from one step's end to the next (the first from its start), data loading included."

        def __init__(self):
            self.begin, self.ends = None, []

        def on_step_begin(self, args, state, control, **kwargs):
            if self.begin is None:
                self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    class LossKeeper(RewardTrainer):
        "RewardTrainer keeping each step's loss (detached: no synchronisation added)."

        losses = []

        def compute_loss(self, *args, **kwargs):
            out = super().compute_loss(*args, **kwargs)
            self.losses.append((out[0] if isinstance(out, tuple) else out).detach())
            return out

    clock = StepClock()
    # TRL defaults to checkpointing activations; transformers 5 calls that option activation_checkpointing and
    # keeps gradient_checkpointing as an alias that warns when set
    names = {f.name for f in dataclasses.fields(RewardConfig)}
    no_checkpointing = {"activation_checkpointing" if "activation_checkpointing" in names
                        else "gradient_checkpointing": False}
    with tempfile.TemporaryDirectory() as out:
        cfg = RewardConfig(
            output_dir=out, per_device_train_batch_size=a.batch, max_steps=n_steps, num_train_epochs=1,
            learning_rate=a.lr, adam_beta1=0.9, adam_beta2=0.95, adam_epsilon=1e-5, weight_decay=0.1,
            max_grad_norm=1.0, lr_scheduler_type="constant", warmup_steps=0,
            optim="adamw_torch",  # torch's AdamW as ours uses it (TRL's default is the fused kernel)
            bf16=False, fp16=False, **no_checkpointing,  # TRL's defaults are bf16 and checkpointing: fp32 here
            train_sampling_strategy="sequential",  # the pairs in our order: the same batches, comparable losses
            max_length=None, center_rewards_coefficient=None, disable_dropout=True,
            eval_strategy="no", save_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True,
            dataloader_num_workers=0, use_cpu=True, seed=a.seed,
        )
        trainer = LossKeeper(model=model, args=cfg, train_dataset=data,
                             processing_class=word_level_tokenizer(a.vocab_size), callbacks=[clock])
        trainer.remove_callback(PrinterCallback)  # with tqdm off, it prints the run's summary at the end
        trainer.train()
    if getattr(model, "is_activation_checkpointing" if hasattr(model, "is_activation_checkpointing")
               else "is_gradient_checkpointing", False):
        raise RuntimeError("TRL's model trained with activation checkpointing: not the same work as ours")
    ends = [clock.begin] + clock.ends
    return [t - s for s, t in zip(ends, ends[1:], strict=False)], [x.item() for x in trainer.losses]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-heads", type=int, default=8)
    parser.add_argument("--n-kv-heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16, help="preference pairs per step")
    parser.add_argument("--prompt-len", type=int, default=48)
    parser.add_argument("--chosen-len", type=int, default=24)
    parser.add_argument("--rejected-len", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps, after the warm-up")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()

    import transformers
    import trl

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(a.seed)
    args = ModelArgs(dim=a.dim, n_layers=a.n_layers, n_heads=a.n_heads, n_kv_heads=a.n_kv_heads,
                     vocab_size=a.vocab_size, multiple_of=32, max_seq_len=a.max_seq_len)
    n_steps = a.warmup + a.steps
    pairs = synthetic_pairs(n_steps * a.batch, a.prompt_len, a.chosen_len, a.rejected_len, a.vocab_size, a.seed)
    rm = reward.RewardModel.from_chat_model(Transformer(args).init_weights())
    with tempfile.TemporaryDirectory() as tmp:
        save_hf(rm, tmp)
        # TRL's model is loaded before ours trains: both start from the same weights
        results = {"TRL": train_trl(tmp, rm, pairs, a, n_steps), "mini_llama": train_ours(rm, pairs, a, n_steps)}

    n_params = sum(p.numel() for p in rm.parameters())
    print(f"shape: dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads / {a.n_kv_heads} kv heads, vocab "
          f"{a.vocab_size}, {n_params / 1e6:.2f}M parameters; batch {a.batch} pairs per step, rows of "
          f"{a.prompt_len} + {a.chosen_len} (chosen) and {a.prompt_len} + {a.rejected_len} (rejected) tokens; "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"trl {trl.__version__}")
    rate = {}
    for name in ("mini_llama", "TRL"):
        times, losses = results[name]
        timed = times[a.warmup:]
        rate[name] = a.batch / statistics.median(timed)
        print(f"{name:11s} {rate[name]:9,.1f} pairs/s  (median step {1e3 * statistics.median(timed):.1f} ms over "
              f"{len(timed)}; loss {losses[0]:.4f} at the first step, {losses[-1]:.4f} at the last)")
    gap = max(abs(x - y) for x, y in zip(results["mini_llama"][1], results["TRL"][1], strict=True))
    print(f"the two sides' losses, step by step (same batches), differ by at most {gap:.1e}")
    print(f"ratio mini_llama / TRL: {rate['mini_llama'] / rate['TRL']:.2f}x")


if __name__ == "__main__":
    main()
