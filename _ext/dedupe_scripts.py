"""A Sphinx extension that drops duplicate <script> tags from every page.

Why: under Jupyter Book 1.x, sphinx-thebe's ``env-before-read-docs`` handler runs twice, so each
page got its inline ``const THEBE_JS_URL = ...`` script twice, and the browser logged
"Identifier 'THEBE_JS_URL' has already been declared" on every page. Keeping the first of each
identical script (same file, same inline body, same attributes) removes the error without
touching what the scripts do.
"""

from __future__ import annotations

from typing import Any


def script_key(script: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What makes two script entries the same: the file name and every attribute (inline body
    too). An inline script's file name is None or "" depending on who added it: both mean none."""
    attributes = getattr(script, "attributes", {}) or {}
    name = getattr(script, "filename", None) if hasattr(script, "filename") else str(script)
    return name or "", tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def dedupe(scripts: list[Any]) -> list[Any]:
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kept = []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def on_page_context(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                    doctree: Any) -> None:
    # In place: the list is the builder's own, and handlers that run later (sphinx.ext.mathjax
    # among them) append their scripts to it. A new list here would silently drop MathJax.
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        scripts[:] = dedupe(scripts)


def setup(app: Any) -> dict[str, Any]:
    # html-page-context is emitted with emit_firstresult: handlers after one that returns a
    # template name never run, so this one goes first (the duplicates exist long before).
    app.connect("html-page-context", on_page_context, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
