"""The `mini-llama` command line. Plain module, taught by no chapter: each subcommand calls the package.

    mini-llama recipe     run the course's chapters in order and say where their figures went
    mini-llama chat       talk to a checkpoint in Llama 2's chat format, streaming its answers
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_recipe(args) -> int:
    "Execute every chapter top to bottom (outputs go to `--out`, the committed notebooks stay as they are)."
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        sys.exit("mini-llama recipe runs the chapters with nbclient: pip install -e '.[dev]'")
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]*.ipynb"))
    if not chapters:
        sys.exit(f"no chapters found in {ROOT / 'chapters'}; run from a checkout of mini_llama")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    for nb_path in chapters:
        t0 = time.time()
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        nbformat.write(nb, out / nb_path.name)
        print(f"{nb_path.name:32s} ran in {time.time() - t0:5.1f}s -> {out / nb_path.name}", flush=True)
    figures = sorted(p for p in (ROOT / "figures").glob("*.png") if p.stat().st_mtime >= started)
    print(f"\n{len(figures)} figures written to {ROOT / 'figures'}:")
    for fig in figures:
        print(f"  {fig}")
    return 0


def load_checkpoint(path: Path):
    "A model from a Meta (params.json) or Hugging Face (config.json) checkpoint folder."
    from mini_llama.checkpoint import load_hf, load_meta

    if (path / "params.json").exists():
        return load_meta(path)
    if (path / "config.json").exists():
        return load_hf(path)
    sys.exit(f"{path} holds no checkpoint: expected params.json (Meta's layout) or config.json (Hugging Face's)")


def run_chat(args) -> int:
    "A multi-turn chat on stdin/stdout; the oldest exchanges are dropped when the context is full."
    import torch

    from mini_llama.generation import fit_dialog, generate_stream
    from mini_llama.tokenizer import Tokenizer, encode_dialog

    path = Path(args.checkpoint)
    tokenizer_path = Path(args.tokenizer) if args.tokenizer else path / "tokenizer.model"
    if not tokenizer_path.exists():
        sys.exit(f"no tokenizer at {tokenizer_path}: put tokenizer.model in the checkpoint folder or pass --tokenizer")
    model, tok = load_checkpoint(path).eval(), Tokenizer(tokenizer_path)
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
                                     args.top_p, eos_id=tok.eos_id, generator=generator):
            ids.append(token)
            text = tok.decode(ids)
            if not text.endswith("\ufffd"):  # wait for the rest of a character split across byte tokens
                print(text[len(shown):], end="", flush=True)
                shown = text
        print(flush=True)
        dialog.append({"role": "assistant", "content": tok.decode(ids).strip()})
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mini-llama", description="Llama 2, rebuilt: the course's command line")
    sub = parser.add_subparsers(dest="command", required=True)
    recipe = sub.add_parser("recipe", help="run the course's chapters in order and list the figures they made")
    recipe.add_argument("--out", default=str(ROOT / "reports" / "chapters"),
                        help="folder for the executed notebooks (default: reports/chapters in the checkout)")
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
    chat.add_argument("--temperature", type=float, default=0.6, help="0 is greedy (default 0.6)")
    chat.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling threshold (default 0.9)")
    chat.add_argument("--max-gen-len", type=int, default=128, help="most tokens per answer (default 128)")
    chat.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    chat.set_defaults(run=run_chat)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
