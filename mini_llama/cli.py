"""The `mini-llama` command line. Plain module, taught by no chapter: each subcommand calls the package.

    mini-llama recipe     build every stage of the course from nothing, print the scoreboard, write a report
    mini-llama chat       talk to a checkpoint in Llama 2's chat format, streaming its answers
    mini-llama pretrain   pretrain a model on TinyWorld or text files, alone or under torchrun (FSDP or DDP)
"""

import argparse
import io
import itertools
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_recipe(args) -> int:
    """Build every stage on TinyWorld, print the scoreboard, write the report. An aim not met is a finding, printed and
    reported, not a failure of the command, unless --check asks for exit status 1 then."""
    from mini_llama import recipe

    _, all_met = recipe.run(Path(args.out))
    return 1 if args.check and not all_met else 0


def load_checkpoint(path: Path):
    "A model from a Meta (params.json) or Hugging Face (config.json) checkpoint folder."
    from mini_llama.checkpoint import load_hf, load_meta

    if (path / "params.json").exists():
        return load_meta(path)
    if (path / "config.json").exists():
        return load_hf(path)
    sys.exit(f"{path} holds no checkpoint: expected params.json (Meta's layout) or config.json (Hugging Face's)")


def run_chat(args) -> int:
    "A multi-turn chat on stdin/stdout; Ctrl-C ends it with one line and exit status 130, as a shell expects."
    try:
        return chat_session(args)
    except KeyboardInterrupt:
        print("\n[interrupted: chat ended]", file=sys.stderr, flush=True)
        return 130


def chat_session(args) -> int:
    "The chat itself: the oldest exchanges are dropped when the context is full."
    path = Path(args.checkpoint)
    tokenizer_path = Path(args.tokenizer) if args.tokenizer else path / "tokenizer.model"
    # the files are checked before torch is imported and the model loaded, which takes seconds to minutes
    if not path.is_dir():
        sys.exit(f"--checkpoint {path}: no such folder")
    if not tokenizer_path.is_file():
        sys.exit(f"no tokenizer at {tokenizer_path}: put tokenizer.model in the checkpoint folder or pass --tokenizer")
    import torch

    from mini_llama.generation import fit_dialog, generate_stream
    from mini_llama.tokenizer import Tokenizer, encode_dialog

    try:
        model, tok = load_checkpoint(path).eval(), Tokenizer(tokenizer_path)
    except (ValueError, FileNotFoundError) as err:  # a damaged or foreign file: its error names it
        sys.exit(f"mini-llama chat: {err}")
    if args.max_gen_len >= model.params.max_seq_len:
        sys.exit(f"--max-gen-len {args.max_gen_len} leaves no room for a prompt in the model's context of "
                 f"{model.params.max_seq_len} tokens")
    # a line that is not UTF-8 is read with its bad bytes escaped (lone surrogates) and refused, not fatal
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")
    generator = torch.Generator().manual_seed(args.seed)
    dialog = [{"role": "system", "content": args.system}] if args.system else []
    max_prompt = model.params.max_seq_len - args.max_gen_len
    print(f"mini-llama chat: {path} ({sum(p.numel() for p in model.parameters()):,} parameters, context "
          f"{model.params.max_seq_len} tokens). An empty line or end of input quits.", flush=True)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            break
        if not line:
            break
        if not is_utf8(line):
            print("[that line is not valid UTF-8 text and was not sent: type it again]", flush=True)
            continue
        try:
            dialog, dropped = fit_dialog(tok, dialog + [{"role": "user", "content": line}], max_prompt)
        except ValueError as err:
            print(f"[{err}: say it in fewer words]", flush=True)  # the conversation so far is kept
            continue
        if dropped:
            print(f"[context full: the {dropped} oldest exchange(s) were dropped]", flush=True)
        ids, shown = [], ""
        print("llama> ", end="", flush=True)
        for token in generate_stream(model, encode_dialog(tok, dialog), args.max_gen_len, args.temperature,
                                     args.top_p, eos_id=tok.eos_id, generator=generator, compile=args.compile):
            ids.append(token)
            text = tok.decode(ids)
            if not text.endswith("\ufffd"):  # wait for the rest of a character split across byte tokens
                print(text[len(shown):], end="", flush=True)
                shown = text
        print(flush=True)
        dialog.append({"role": "assistant", "content": tok.decode(ids).strip()})
    return 0


def is_utf8(line: str) -> bool:
    "Whether `line`, read with surrogateescape, came from valid UTF-8 (an escaped byte is a lone surrogate)."
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def finite_number(text: str) -> float:
    "An argparse type: a finite float, else a message naming the value."
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def temperature(text: str) -> float:
    value = finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; expected a number >= 0 (0 is greedy)")
    return value


def top_p(text: str) -> float:
    value = finite_number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def token_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is below 1; expected at least one token")
    return value


def run_pretrain(args) -> int:
    """Pretrain; what stops the run (a refused setting or folder, a non-finite loss or weights, Ctrl-C) ends with one
    line, not a traceback: Ctrl-C with exit status 130, as a shell expects, and where to continue from."""
    try:
        return pretrain_run(args)
    except KeyboardInterrupt as stop:
        print(f"\nmini-llama pretrain: {stop or 'interrupted'}; continue with --resume", file=sys.stderr, flush=True)
        return 130
    except (ValueError, FloatingPointError, FileExistsError, FileNotFoundError, BlockingIOError) as err:
        sys.exit(f"mini-llama pretrain: {err}")


def pretrain_run(args) -> int:
    "Build the model and the packed streams, shard them across torchrun's processes if any, and train."
    from mini_llama.pretrain import PackedStream, TrainConfig, train
    from mini_llama.training import OptimConfig

    # the settings are checked first: before torch sets up processes or the tokenizer is built
    cfg = TrainConfig(OptimConfig(max_steps=args.steps, lr=args.lr, warmup_steps=args.warmup_steps,
                                  grad_accum=args.grad_accum), batch_size=args.batch_size, seq_len=args.seq_len)
    import torch

    from mini_llama import distributed
    from mini_llama.config import ModelArgs
    from mini_llama.data import iter_documents, load_text_files, make_world
    from mini_llama.model import Transformer
    from mini_llama.shelf import course_tokenizer

    if args.data == "tinyworld":
        world = make_world(args.seed)
        documents = {split: (lambda split=split: iter_documents(world, split=split, seed=args.seed))
                     for split in ("train", "valid")}
    else:
        texts = load_text_files(args.data.split(","))
        if len(texts) < 2:
            raise ValueError(f"--data {args.data} gives {len(texts)} document(s); expected at least 2, one to train "
                             f"on and one held out for validation")
        n_valid = max(1, len(texts) // 20)  # the last 5 % of the documents are held out
        documents = {"train": lambda: itertools.cycle(texts[:-n_valid]), "valid": lambda: itertools.cycle(texts[-n_valid:])}
    rank, world_size = distributed.setup()
    tok = course_tokenizer()
    params = ModelArgs.from_name(args.config, vocab_size=tok.n_words, max_seq_len=max(args.seq_len, 64))
    with distributed.device():  # built where it trains: a 7B model never passes through the CPU's memory whole
        model = Transformer(params).init_weights(generator=torch.Generator(distributed.device()).manual_seed(args.seed))
    model = distributed.wrap_model(model, args.strategy, args.activation_checkpointing, args.compile)
    stream = lambda split: PackedStream(documents[split], tok, args.seq_len)  # noqa: E731
    # every rank trains and evaluates (FSDP needs them all); rank 0 writes the metrics and the checkpoints
    history = train(model, cfg, distributed.shard_stream(stream("train"), rank, world_size), args.out,
                    valid_stream=stream("valid"), resume=args.resume, progress=distributed.is_main(),
                    recipe={"data": args.data, "seed": args.seed})  # a resume on other data or seed is refused
    if distributed.is_main() and history:
        print(f"step {history[-1]['step']}: loss {history[-1]['loss']:.4f}; metrics and checkpoints in {args.out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mini-llama", description="Llama 2, rebuilt: the course's command line")
    sub = parser.add_subparsers(dest="command", required=True)
    recipe = sub.add_parser(
        "recipe", help="build every stage on TinyWorld from nothing, print the scoreboard and write a report",
        description="Builds (or loads from the artifact cache, .cache/ or $MINI_LLAMA_CACHE) every stage of the "
                    "course, from the tokenizer to the safety model, measures each on held-out TinyWorld prompts with "
                    "the gold checkers, prints a scoreboard (a row per stage) and whether each aim of the recipe is "
                    "met, and writes OUT/README.md with its figure.")
    recipe.add_argument("--out", default=str(ROOT / "reports" / "recipe"),
                        help="folder for the report (default: reports/recipe in the checkout)")
    recipe.add_argument("--check", action="store_true", help="exit with status 1 when any aim is not met")
    recipe.set_defaults(run=run_recipe)
    chat = sub.add_parser(
        "chat", help="talk to a checkpoint in Llama 2's chat format",
        description="Multi-turn chat with streamed answers. When the conversation would pass the model's context "
                    "(max_seq_len minus --max-gen-len tokens for the prompt), the oldest user/assistant exchanges "
                    "are dropped, never the system message; a single message too long for the context is refused.")
    chat.add_argument("--checkpoint", required=True, help="a folder with params.json + consolidated.*.pth (Meta) "
                      "or config.json + model.safetensors (Hugging Face), and tokenizer.model")
    chat.add_argument("--tokenizer", help="tokenizer.model, if not in the checkpoint folder")
    chat.add_argument("--system", help="a system message for the whole conversation")
    # the numbers are checked as they are parsed, before the model loads
    chat.add_argument("--temperature", type=temperature, default=0.6, help="0 is greedy (default 0.6)")
    chat.add_argument("--top-p", type=top_p, default=0.9, help="nucleus sampling threshold, in (0, 1] (default 0.9)")
    chat.add_argument("--max-gen-len", type=token_count, default=128, help="most tokens per answer (default 128)")
    chat.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    chat.add_argument("--compile", action="store_true", help="decode through torch.compile: faster answers after "
                      "seconds of compilation before the first (needs a C++ compiler)")
    chat.set_defaults(run=run_chat)
    pre = sub.add_parser(
        "pretrain", help="pretrain a model with the paper's optimisation recipe (alone or under torchrun)",
        description="Next-token pretraining with AdamW (betas 0.9/0.95, eps 1e-5, weight decay 0.1), gradient "
                    "clipping at 1.0, linear warm-up then cosine decay to 10 %% of the peak learning rate "
                    "(Touvron et al. 2023, section 2.2). Documents are packed bos ... eos into rows of --seq-len. "
                    "Metrics go to OUT/metrics.jsonl, the checkpoint (model, optimiser, step, data position, recipe) "
                    "to OUT/checkpoint.pt, the one before it to OUT/checkpoint.prev.pt; an OUT that holds a run is refused "
                    "without --resume, and one in use by another run at once. Under `torchrun --nproc_per_node=N` "
                    "each process trains on its share of the global batch (N x --batch-size rows), sharded by "
                    "--strategy.")
    pre.add_argument("--config", default="tiny", help="a model preset: the course's `tiny` or an official one "
                     "such as `llama2-7b` (vocabulary size from the course tokenizer; default tiny)")
    pre.add_argument("--data", default="tinyworld", help="`tinyworld` (the course's generated corpus, default) or "
                     "comma-separated text files, one document each")
    pre.add_argument("--out", default="runs/pretrain", help="folder for metrics and checkpoint (default runs/pretrain)")
    pre.add_argument("--steps", type=int, default=1000, help="optimiser steps (default 1000)")
    pre.add_argument("--batch-size", type=int, default=16, help="rows per micro-batch and process (default 16)")
    pre.add_argument("--seq-len", type=int, default=256, help="tokens per row (default 256)")
    pre.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimiser step (default 1)")
    pre.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3; the paper: 3e-4)")
    pre.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up steps (default 100)")
    pre.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default 0)")
    pre.add_argument("--resume", action="store_true", help="continue exactly from OUT/checkpoint.pt (one file of "
                     "whole tensors, written by rank 0, also under FSDP: resume with any number of processes)")
    pre.add_argument("--strategy", choices=["fsdp", "ddp"], default="fsdp",
                     help="under torchrun: shard parameters, gradients and optimiser state (fsdp, default) or "
                          "replicate the model and all-reduce gradients (ddp)")
    pre.add_argument("--activation-checkpointing", action="store_true",
                     help="recompute each block's activations in the backward pass instead of storing them")
    pre.add_argument("--compile", action="store_true", help="torch.compile each transformer block")
    pre.set_defaults(run=run_pretrain)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
