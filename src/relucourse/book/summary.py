"""A chapter's closing "Key results" list, written from the numbers its cells computed.

Why: a summary typed into Markdown goes stale the moment an experiment changes, and it would be
the one place where a number on the page was never checked. Each line here is an f-string over
variables that earlier cells computed and asserted, so the closer repeats what was measured in
this run, in this mode, and nothing else.

Use it under a Markdown heading ``## Key results`` (the heading stays in the page's table of
contents), in a cell tagged ``hide-input``::

    rc.book.summary.key_results(
        f"sigmoid's backward gain at n·Var[W] = 1: {chi[1]:.3f} per layer",
        f"ReLU reached 80 % test accuracy in {steps:,} steps",
    )
"""

from __future__ import annotations

from collections.abc import Sequence


def markdown(lines: Sequence[str]) -> str:
    """The bullet list as Markdown; every line must be a non-empty string."""
    if not lines:
        raise ValueError("key_results: give at least one result line")
    for i, line in enumerate(lines):
        if not isinstance(line, str) or not line.strip():
            raise ValueError(f"key_results: line {i} must be a non-empty string, got {line!r}")
    return "\n".join(f"- {line.strip()}" for line in lines)


def key_results(*lines: str) -> None:
    """Display the lines as a Markdown bullet list (printed as text outside IPython)."""
    text = markdown(lines)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython ships with the book extras
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
