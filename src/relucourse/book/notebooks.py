"""Authoring and checking the course notebooks (used by authors and by ``tests/test_notebooks.py``).

Every notebook starts with the same Colab setup cell, tagged ``remove-cell`` so the site hides it:
it installs this package from the repository on a fresh Colab runtime (never pinning torch, so
Colab keeps its own CUDA build) and does nothing anywhere else. Notebooks are committed without
outputs; the site build and nbval execute them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import nbformat
import yaml

REPOSITORY_URL = "https://github.com/relucourse/relu-vs-sigmoid"  # must match _config.yml

COLAB_SETUP_SOURCE = f"""\
# Colab setup: installs the course package from its repository; does nothing elsewhere.
# torch is not pinned, so Colab keeps its own (GPU) build.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("relucourse") is None:
    package = "relucourse @ git+{REPOSITORY_URL}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)"""

SETUP_TAGS = ["remove-cell"]


def code(source: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def markdown(source: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def new_notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A notebook with the Colab setup cell first, a python3 kernelspec and no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [code(COLAB_SETUP_SOURCE, SETUP_TAGS), *cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def write_notebook(path: str | Path, cells: list[nbformat.NotebookNode]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells), path)
    return path


def problems(path: str | Path) -> list[str]:
    """What is wrong with a committed notebook (empty list when it is clean)."""
    path = Path(path)
    raw: dict[str, Any] = json.loads(path.read_text())
    found = []
    cells = raw.get("cells", [])
    if not cells or "".join(cells[0].get("source", [])) != COLAB_SETUP_SOURCE:
        found.append(f"{path.name}: first cell is not the standard Colab setup cell")
    elif cells[0].get("metadata", {}).get("tags") != SETUP_TAGS:
        found.append(f"{path.name}: Colab setup cell must be tagged {SETUP_TAGS}")
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"{path.name}: cell {i} has saved outputs (commit notebooks stripped)")
        if cell.get("execution_count") is not None:
            found.append(f"{path.name}: cell {i} has an execution count (commit notebooks stripped)")
        src = "".join(cell.get("source", []))
        if "# NBVAL_" in src:
            found.append(f"{path.name}: cell {i} uses a '# NBVAL_' comment; use a cell tag instead")
    return found


def headings(nb: Mapping[str, Any]) -> list[str]:
    """The text of every Markdown heading of a parsed notebook (``json.load`` or ``nbformat.read``).

    Texts are in order and as written: inline code keeps its backticks. Only top-level headings
    count, as only they become sections (with anchors) on the site: a ``#`` line inside a fenced
    block (code, or a MyST directive such as an admonition) or a block quote is not a heading.
    Quiz banks name these headings in their ``section`` keys (see :mod:`relucourse.book.quiz`).
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark")
    found = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        tokens = parser.parse(source if isinstance(source, str) else "".join(source))
        for opening, inline in pairwise(tokens):
            if opening.type == "heading_open" and opening.level == 0:
                found.append(inline.content.strip())
    return found


def toc_docnames(root: str | Path) -> list[str]:
    """Every page of the book in ``root/_toc.yml``, in book order (the ``root`` page first), as
    docnames without suffix (``"chapters/01_activations"``), however deeply the entries nest."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root") and isinstance(value, str):
                    found.append(value.removesuffix(".ipynb").removesuffix(".md"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8")))
    return found
