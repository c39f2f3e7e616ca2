"""``jupyter-book build`` with the notebooks executed in parallel.

Why: Jupyter Book 1.x executes every notebook while Sphinx reads it, one after another, and its
command line does not expose Sphinx's ``-j`` (``jupyter_book.sphinx.build_sphinx`` takes
``jobs`` but the CLI never passes it). With ``-j`` Sphinx reads documents in worker processes,
so two notebooks execute at once on two cores. Every extension the book uses declares itself
parallel-read safe.

Usage (the Makefile's ``book`` and ``test-book``): ``python scripts/build_book.py . -W -n
--keep-going``, any ``jupyter-book build`` arguments. ``BOOK_JOBS`` sets the number of worker
processes (default: the machine's cores, at most 4); ``BOOK_JOBS=1`` is the plain serial build.

Sphinx hands its workers documents in chunks of up to ten, in name order, so on two cores one
worker got chapters 1 to 7 (most of the course's computing) and the other the short rest: the
build took as long as those seven notebooks one after another. ``one_document_per_chunk`` gives
each worker one document at a time, so whichever worker is free takes the next one, and orders
them so that they *start* in ``reading_order``: chapters first (the longest notebooks), then
labs, then the rest. (Sphinx starts its first ``nproc`` tasks in order and every later one last
in, first out, so left alone the last document would start third and the longest chapters last.)

Each kernel gets ``cores // jobs`` torch threads (``OMP_NUM_THREADS``, unless it is set): two
kernels of two threads each on two cores spin-wait on each other's cores, which made the unit
tests twice as slow (see the Makefile's ``test-unit``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from typing import Any


def jobs_from_env() -> int:
    raw = os.environ.get("BOOK_JOBS", "").strip()
    if not raw:
        return max(1, min(os.cpu_count() or 1, 4))
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"BOOK_JOBS must be a positive integer, got {raw!r}")
    return int(raw)


def threads_per_kernel(jobs: int) -> str:
    """``OMP_NUM_THREADS`` for each executing kernel: as set, or the cores shared among jobs."""
    return os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // jobs))


def reading_order(docnames: Sequence[str]) -> list[str]:
    """The order in which the workers should start the documents: chapters (the longest
    notebooks, in name order, so chapter 2 starts at once), then labs, quizzes, and the markdown
    pages last. ``bench_course.py`` executes its notebooks in the same order."""
    group = {"chapters": 0, "labs": 1, "quizzes": 2}
    return sorted(docnames, key=lambda name: (group.get(name.split("/")[0], 3), name))


def one_document_per_chunk(arguments: Sequence[str], nproc: int, maxbatch: int = 10
                           ) -> list[list[str]]:
    """A stand-in for ``sphinx.util.parallel.make_chunks``: every document is its own chunk (one
    worker process reads, and so executes, one notebook). ``ParallelTasks`` starts the first
    ``nproc`` tasks it is given at once and each later one last in, first out (``dict.popitem``),
    so the rest go in reversed: the documents then start in ``reading_order``."""
    order = reading_order(arguments)
    return [[name] for name in order[:nproc] + order[nproc:][::-1]]


def main(argv: list[str]) -> None:
    import jupyter_book.sphinx as jb_sphinx
    import sphinx.builders
    from jupyter_book.cli.main import main as jupyter_book

    jobs = jobs_from_env()
    original = jb_sphinx.build_sphinx

    @functools.wraps(original)
    def build_sphinx(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **{**kwargs, "jobs": jobs})

    jb_sphinx.build_sphinx = build_sphinx
    sphinx.builders.make_chunks = one_document_per_chunk  # the name _read_parallel calls
    os.environ["OMP_NUM_THREADS"] = threads_per_kernel(jobs)  # the kernels inherit it
    print(f"[build_book] jupyter-book build with {jobs} parallel reader(s) (BOOK_JOBS), "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} per kernel")
    jupyter_book(["build", *argv], prog_name="jupyter-book")


if __name__ == "__main__":
    main(sys.argv[1:])
