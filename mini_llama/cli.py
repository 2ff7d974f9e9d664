"""The `mini-llama` command line. Plain module, taught by no chapter: each subcommand calls the package.

    mini-llama recipe     run the course's chapters in order and say where their figures went
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mini-llama", description="Llama 2, rebuilt: the course's command line")
    sub = parser.add_subparsers(dest="command", required=True)
    recipe = sub.add_parser("recipe", help="run the course's chapters in order and list the figures they made")
    recipe.add_argument("--out", default=str(ROOT / "reports" / "chapters"),
                        help="folder for the executed notebooks (default: reports/chapters in the checkout)")
    recipe.set_defaults(run=run_recipe)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
