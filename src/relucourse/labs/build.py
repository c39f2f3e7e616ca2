"""Generate the learner notebooks ``labs/<lab>.ipynb`` from their single sources.

    python -m relucourse.labs.build            # from the repository root: rewrite labs/*.ipynb
    python -m relucourse.labs.build --check    # exit 1 if a committed notebook is out of date

Edit ``src/relucourse/labs/sources/<lab>.py`` (format: ``relucourse.labs.source``), never the
notebook, then run the first command; ``tests/test_lab_build.py`` fails while a notebook differs
from what its source generates. Each exercise cell becomes its stub version followed by a markdown
cell with the hidden solution (``<details><summary>Solution</summary>``: the solution code and the
source's ``solution`` notes). Notebooks come out without outputs, with the Colab setup cell first
(``relucourse.book.notebooks.new_notebook``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

from relucourse.book import notebooks
from relucourse.labs.source import CODE_SLOT, SOLUTION_TAG, LabSource, load, names


def hidden_solution(code: str, notes: str | None) -> str:
    """The markdown of a hidden Solution block: ``code`` in a python block, in ``notes`` at its
    ``<!-- solution code -->`` line, or before them."""
    block = f"```python\n{code}\n```"
    if notes is None:
        body = block
    elif CODE_SLOT in notes.splitlines():
        body = "\n".join(block if line == CODE_SLOT else line for line in notes.splitlines())
    else:
        body = f"{block}\n\n{notes}"
    return f"<details><summary>Solution</summary>\n\n{body}\n</details>"


def learner_cells(src: LabSource) -> list[nbformat.NotebookNode]:
    """The learner notebook's cells (without the Colab setup cell, which ``write_notebook`` adds)."""
    cells = []
    for i, cell in enumerate(src.cells):
        tags = [t for t in cell.tags if t != SOLUTION_TAG] or None
        if cell.kind == "markdown":
            if SOLUTION_TAG not in cell.tags:  # solution notes go into the hidden block
                cells.append(notebooks.markdown(cell.text, tags))
        elif i in src.learner_code:
            cells.append(notebooks.code(src.learner_code[i], tags))
            cells.append(notebooks.markdown(hidden_solution(src.solution_code[i], src.notes.get(i))))
        else:
            cells.append(notebooks.code(cell.text, tags))
    return cells


def build(name: str, out_dir: str | Path) -> Path:
    """Write the learner notebook of lab ``name`` into ``out_dir``."""
    return notebooks.write_notebook(Path(out_dir) / f"{name}.ipynb", learner_cells(load(name)))


def stale(out_dir: str | Path) -> list[str]:
    """The labs whose notebook in ``out_dir`` is missing or differs from a fresh build."""
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        return [name for name in names()
                if not (out_dir / f"{name}.ipynb").is_file()
                or build(name, tmp).read_bytes() != (out_dir / f"{name}.ipynb").read_bytes()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="labs", help="folder of the notebooks (default: labs)")
    parser.add_argument("--check", action="store_true", help="only report out-of-date notebooks")
    args = parser.parse_args(argv)
    if args.check:
        old = stale(args.out)
        for name in old:
            print(f"{args.out}/{name}.ipynb is out of date: run python -m relucourse.labs.build")
        return 1 if old else 0
    for name in names():
        print(f"wrote {build(name, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
