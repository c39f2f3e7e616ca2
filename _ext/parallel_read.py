"""A Sphinx extension that lets the book read (and so execute) its notebooks in parallel.

Why: ``scripts/build_book.py`` runs Sphinx with ``-j``, but Sphinx falls back to a serial read
(with a warning, an error under ``-W``) when any extension leaves ``parallel_read_safe`` unset.
Two extensions that Jupyter Book loads leave it unset:

* ``sphinx_multitoc_numbering`` (sphinx-external-toc always loads it) replaces
  ``TocTreeCollector.assign_section_numbers``, which Sphinx calls in the main process after the
  parallel readers' environments are merged: safe.
* ``sphinx_jupyterbook_latex`` does its work only for a LaTeX builder (its ``builder-inited``
  handler and transforms return at once otherwise): marked safe only when the builder is not
  LaTeX.

Only these, and only when they have not declared anything themselves, are marked.
"""

from __future__ import annotations

from typing import Any

SAFE_WHEN_UNDECLARED = ("sphinx_multitoc_numbering",)
SAFE_UNLESS_LATEX = ("sphinx_jupyterbook_latex",)


def mark_safe(app: Any) -> None:
    names = SAFE_WHEN_UNDECLARED
    if getattr(app.builder, "format", "") != "latex":
        names += SAFE_UNLESS_LATEX
    for name in names:
        extension = app.extensions.get(name)
        if extension is not None and extension.parallel_read_safe is None:
            extension.parallel_read_safe = True


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", mark_safe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
