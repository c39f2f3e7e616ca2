"""The book's local Sphinx extensions (_ext/): one copy of every script per page (the
THEBE_JS_URL error) and an explicit light/dark mode (the "invalid theme mode" error)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sphinx.builders.html._assets import _JavaScript

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "_ext" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dedupe_scripts = load("dedupe_scripts")
default_theme_mode = load("default_theme_mode")


def test_inline_scripts_added_twice_are_kept_once() -> None:
    body = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript(None, body=body), _JavaScript("_static/a.js", **{"async": "async"}),
               _JavaScript("", body=body), _JavaScript("_static/a.js", **{"async": "async"}),
               _JavaScript("_static/a.js")]
    kept = dedupe_scripts.dedupe(scripts)
    assert kept == [scripts[0], scripts[1], scripts[4]]  # other attributes: a different tag


def test_page_context_is_rewritten_and_the_handler_runs_first() -> None:
    body = "var x = 1;"
    ctx = {"script_files": [_JavaScript(None, body=body), _JavaScript("", body=body)]}
    builders_list = ctx["script_files"]
    dedupe_scripts.on_page_context(None, "intro", "page.html", ctx, None)
    assert len(ctx["script_files"]) == 1
    # The builder's own list is edited in place: handlers that run after this one (MathJax's)
    # append to that list, and their scripts must still reach the page.
    assert ctx["script_files"] is builders_list

    class App:
        def connect(self, event: str, handler: object, priority: int = 500) -> None:
            self.hooked = (event, priority)

    app = App()
    dedupe_scripts.setup(app)
    assert app.hooked == ("html-page-context", 1)


def test_an_empty_theme_mode_becomes_auto_and_a_set_one_stays() -> None:
    empty: dict = {"default_mode": ""}
    default_theme_mode.on_page_context(None, "intro", "page.html", empty, None)
    assert empty["default_mode"] == "auto"
    dark = {"default_mode": "dark"}
    default_theme_mode.on_page_context(None, "intro", "page.html", dark, None)
    assert dark["default_mode"] == "dark"
