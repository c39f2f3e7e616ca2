"""The book's local Sphinx extensions (_ext/) and its build script (scripts/build_book.py).

One copy of every script per page (the THEBE_JS_URL error), an explicit light/dark mode (the
"invalid theme mode" error), the parallel read, and the number of notebooks executed at once."""

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


parallel_read = load("parallel_read")


class Extension:
    def __init__(self, safe: bool | None) -> None:
        self.parallel_read_safe = safe


class App:
    def __init__(self, builder_format: str, **extensions: Extension) -> None:
        self.builder = type("Builder", (), {"format": builder_format})()
        self.extensions = extensions


def test_undeclared_extensions_are_marked_parallel_safe_and_declared_ones_kept() -> None:
    app = App("html", sphinx_multitoc_numbering=Extension(None),
              sphinx_jupyterbook_latex=Extension(None), other=Extension(None),
              declared=Extension(False))
    parallel_read.mark_safe(app)
    assert app.extensions["sphinx_multitoc_numbering"].parallel_read_safe is True
    assert app.extensions["sphinx_jupyterbook_latex"].parallel_read_safe is True
    assert app.extensions["other"].parallel_read_safe is None  # only the two it knows about
    latex = App("latex", sphinx_jupyterbook_latex=Extension(None))
    parallel_read.mark_safe(latex)
    assert latex.extensions["sphinx_jupyterbook_latex"].parallel_read_safe is None
    refused = App("html", sphinx_multitoc_numbering=Extension(False))
    parallel_read.mark_safe(refused)
    assert refused.extensions["sphinx_multitoc_numbering"].parallel_read_safe is False


def load_script():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_book_jobs_default_to_the_cores_and_a_bad_value_is_named(monkeypatch) -> None:
    import pytest

    build_book = load_script()
    monkeypatch.delenv("BOOK_JOBS", raising=False)
    assert 1 <= build_book.jobs_from_env() <= 4
    monkeypatch.setenv("BOOK_JOBS", "3")
    assert build_book.jobs_from_env() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("BOOK_JOBS", bad)
        with pytest.raises(SystemExit, match="BOOK_JOBS must be a positive integer"):
            build_book.jobs_from_env()


def test_each_kernel_gets_its_share_of_the_cores(monkeypatch) -> None:
    build_book = load_script()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(build_book.os, "cpu_count", lambda: 4)
    assert build_book.threads_per_kernel(2) == "2"
    assert build_book.threads_per_kernel(4) == "1"
    assert build_book.threads_per_kernel(8) == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a value already set is kept
    assert build_book.threads_per_kernel(2) == "3"


def _started(docs: list[str]) -> float:
    import time

    started = time.monotonic()
    time.sleep(0.2)  # long enough that both workers are busy while the rest wait
    return started


def test_each_worker_reads_one_document_at_a_time_chapters_first() -> None:
    """Sphinx's own chunking gives two workers chunks of ten; ours gives each one document, and
    Sphinx's real ``ParallelTasks`` then *starts* them in ``reading_order``."""
    import sphinx.builders
    from sphinx.util.parallel import ParallelTasks

    build_book = load_script()
    docs = sorted(["bibliography", "intro", "performance", "quizzes/index", "labs/02_lab",
                   "labs/03_lab", "chapters/01_a", "chapters/02_b", "chapters/03_c"])
    assert [len(c) for c in sphinx.builders.make_chunks(docs, 2)] == [4, 4, 1]
    want = build_book.reading_order(docs)
    assert want[:3] == ["chapters/01_a", "chapters/02_b", "chapters/03_c"]
    assert want[-3:] == ["bibliography", "intro", "performance"]
    chunks = build_book.one_document_per_chunk(docs, 2)
    assert sorted(c[0] for c in chunks) == docs and all(len(c) == 1 for c in chunks)
    starts: dict[str, float] = {}
    tasks = ParallelTasks(2)
    for chunk in chunks:
        tasks.add_task(_started, chunk, lambda c, t: starts.__setitem__(c[0], t))
    tasks.join()
    # both workers free up together, so documents start in pairs, a few ms apart in either
    # order; a later pair starts a task's length (0.2 s) later
    assert all(starts[a] <= starts[b] + 0.1 for a, b in zip(want, want[1:], strict=False))
