"""A Sphinx extension that gives every page the theme's "auto" light/dark mode explicitly.

Why: Jupyter Book 1.x leaves pydata-sphinx-theme's ``default_mode`` empty, so on a first visit the
browser logged "Got invalid theme mode: . Resetting to auto." The theme then falls back to
"auto" (follow the reader's system setting); this sets that value up front, so the page behaves
the same and logs nothing.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MODE = "auto"


def on_page_context(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                    doctree: Any) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = DEFAULT_MODE


def setup(app: Any) -> dict[str, Any]:
    # First, like dedupe_scripts: html-page-context stops at the first handler returning a value.
    app.connect("html-page-context", on_page_context, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
