"""What a student sees in a chapter: no tooling, warning, local path or memory address in any committed cell.

nbval's markers belong in cell tags (`nbval-ignore-output`), not in the source a student reads; a warning on stderr,
a path from this machine or an object's address in an output would be noise at best and a changing output at worst.
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb")) + sorted(CHAPTERS.glob("solutions/*.ipynb"))
UNWANTED = {
    "an nbval marker": re.compile(r"NBVAL_"),
    "a warning": re.compile(r"\w*Warning\b"),
    "a local path": re.compile(r"(?<![\w.])/(?:root|home|tmp|Users|private|var/folders)/"),
    "a memory address": re.compile(r"\b0x[0-9a-fA-F]{6,}\b"),
}


def _texts(cell: dict):
    yield "source", "".join(cell.get("source", ""))
    for out in cell.get("outputs", []):
        yield "output", "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
        yield "traceback", "\n".join(out.get("traceback", []))


def _findings(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    found = []
    for i, cell in enumerate(cells):
        for where, text in _texts(cell):
            if cell["cell_type"] == "markdown" and where == "source":
                continue  # prose may name a warning class while teaching
            found += [f"cell {i} {where} shows {what}: {m.group(0)!r}"
                      for what, pattern in UNWANTED.items() for m in [pattern.search(text)] if m]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(CHAPTERS)))
def test_chapter_shows_no_tooling_warning_path_or_address(path):
    findings = _findings(path)
    assert not findings, f"{path.name}:\n" + "\n".join(findings)


def test_every_code_cell_ran_in_order_without_error():
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        counts = [c["execution_count"] for c in code]
        assert None not in counts and counts == sorted(counts), f"{path.name}: re-execute it top to bottom"
        assert not [c for c in code if any(o["output_type"] == "error" for o in c.get("outputs", []))], path.name


def test_the_scan_finds_each_kind_of_noise(tmp_path):
    outputs = [{"output_type": "stream", "name": "stderr",
                "text": "/root/x/tqdm/auto.py:21: TqdmWarning: IProgress not found\n<object at 0x7f3a2b9c10d0>"}]
    cells = [{"cell_type": "code", "source": "# NBVAL_IGNORE_OUTPUT\nx = 1", "outputs": outputs,
              "execution_count": 1, "metadata": {}}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    found = "\n".join(_findings(path))
    for what in UNWANTED:
        assert what in found, f"the scan missed {what}:\n{found}"
