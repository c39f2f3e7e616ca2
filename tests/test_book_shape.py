"""The chapters read as a book: an opener, a computed closer, folded plotting code, 88 columns.

* Every chapter opens with "What you will learn" right after its title.
* Every chapter closes with "## Key results" followed by a cell that calls
  ``rc.book.summary.key_results`` with f-strings, so its numbers are the computed (asserted) ones.
* A chapter cell that draws a figure is folded (``hide-input``: the site shows a toggle), and a
  folded cell defines no experiment: the lines that say what was run stay on the page.
* No code line in any notebook is longer than 88 characters (the content column); labs are
  generated from ``src/relucourse/labs/sources``, so their notebooks are checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# The papers page is a results table rather than a lesson: no opener or closer of its own.
LESSONS = [p for p in CHAPTERS if p.stem != "papers"]
NOTEBOOKS = sorted([*CHAPTERS, *(ROOT / "labs").glob("*.ipynb"), *(ROOT / "quizzes").glob("*.ipynb")])
MAX_COLUMNS = 88
DRAWS = re.compile(r"plt\.(subplots|figure|show)\(|rc\.plots\.|\bplots\.(curves|layer_)")
DEFINES_EXPERIMENT = re.compile(r"\b(RunConfig|ModelConfig|TrainConfig)\(|rc\.(sweep|tune|fit|run)\(")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_chapter_opens_with_what_you_will_learn(path: Path) -> None:
    markdown = [source(c) for c in cells(path) if c["cell_type"] == "markdown"]
    first = markdown[0]
    assert first.lstrip().startswith("# "), f"{path.name}: the first Markdown cell is not the title"
    opener = "\n".join(markdown[:2])
    assert re.search(r"^\*\*What you will learn\*\*|^#+ What you will learn", opener, re.M), (
        f"{path.name}: no 'What you will learn' in the title cell or the one after it")
    bullets = re.findall(r"^\s*[-*] \S", opener.split("What you will learn", 1)[1], re.M)
    assert len(bullets) >= 2, f"{path.name}: 'What you will learn' lists fewer than 2 points"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_chapter_closes_with_computed_key_results(path: Path) -> None:
    all_cells = cells(path)
    heads = [i for i, c in enumerate(all_cells)
             if c["cell_type"] == "markdown" and re.search(r"^## Key results", source(c), re.M)]
    assert heads, f"{path.name}: no '## Key results' heading"
    after = [c for c in all_cells[heads[-1] + 1:] if c["cell_type"] == "code"]
    assert after, f"{path.name}: nothing computes the key results"
    closer = source(after[0])
    assert "key_results(" in closer, f"{path.name}: the cell after 'Key results' does not call it"
    assert re.search(r"\bf\"[^\"]*\{", closer), f"{path.name}: the key results use no computed value"
    assert "hide-input" in tags(after[0]), f"{path.name}: the key-results cell is not folded"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_figure_cells_are_folded_and_define_no_experiment(path: Path) -> None:
    unfolded, mixed = [], []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code" or "remove-cell" in tags(cell):
            continue
        text = source(cell)
        if DRAWS.search(text) and "hide-input" not in tags(cell):
            unfolded.append(i)
        if "hide-input" in tags(cell) and DEFINES_EXPERIMENT.search(text):
            mixed.append(i)
    assert not unfolded, f"{path.name}: cells {unfolded} draw a figure but are not tagged hide-input"
    assert not mixed, f"{path.name}: folded cells {mixed} define an experiment: split them"


def long_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > MAX_COLUMNS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_code_fits_the_column(path: Path) -> None:
    found = [(i, line) for i, c in enumerate(cells(path)) if c["cell_type"] == "code"
             for line in long_lines(source(c))]
    assert not found, f"{path.name}: {len(found)} code lines over {MAX_COLUMNS} columns: {found[:3]}"
