"""Writes the small samples committed in `datasets/samples/`: a few records of every TinyWorld data set.

Plain module, taught by no chapter. `python -m mini_llama.data.samples datasets/samples` regenerates them;
`tests/test_data.py` checks that the committed files equal what the generator makes.
"""

import itertools
import json
import random
import sys
from pathlib import Path

from mini_llama.data.annotator import GoldAnnotator
from mini_llama.data.corpus import fact_completions, iter_documents
from mini_llama.data.dialogs import sft_dialogs
from mini_llama.data.instructions import gatt_dialogs
from mini_llama.data.safety import borderline_prompts, unsafe_prompts
from mini_llama.data.tasks import make_tasks
from mini_llama.data.world import make_world


def sample_records(seed: int = 0, n: int = 24) -> dict[str, list[dict]]:
    "n records of each data set, as JSON-ready dicts."
    world = make_world(seed)
    tasks = make_tasks(world, "train", n, seed=seed)
    rng = random.Random(seed)
    annotator = GoldAnnotator(noise=0.1, seed=seed)
    preferences = []
    for task in tasks:  # the gold answer against the answer to another task, in a random order
        other = rng.choice(tasks).reference
        a, b = (task.reference, other) if rng.random() < 0.5 else (other, task.reference)
        p = annotator.compare(task, a, b)
        preferences.append({"prompt": task.dialog, "response_a": a, "response_b": b, "preferred": p.preferred,
                            "rating": p.rating, "safety_bin": p.safety_bin})
    return {
        "corpus": [{"text": d} for d in itertools.islice(iter_documents(world), n)],
        "facts": [{"prefix": f.prefix, "answer": f.answer} for f in fact_completions(world)[:n]],
        "tasks": [{"family": t.family, "dialog": t.dialog, "reference": t.reference} for t in tasks],
        "safety": [{"kind": p.kind, "category": p.category, "wrapper": p.wrapper, "dialog": p.dialog,
                    "reference": p.reference}
                   for p in unsafe_prompts(world, "train", n // 2, seed) + borderline_prompts(world, "train", n // 2, seed)],
        "preferences": preferences,
        "sft": [{"messages": d} for d in sft_dialogs(world, "train", n, seed=seed)],
        "gatt": [{"instruction": d.instruction.name, "messages": d.dialog}
                 for d in gatt_dialogs(world, n_turns=3, n=n // 3, seed=seed)],
    }


def render(records: list[dict]) -> str:
    "JSON lines, keys in order, non-ASCII kept."
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_samples(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in sample_records().items():
        path = folder / f"{name}.jsonl"
        path.write_text(render(records), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_samples(sys.argv[1] if len(sys.argv) > 1 else "datasets/samples"):
        print(p)
