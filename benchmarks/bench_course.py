"""Benchmark 3: execute every notebook in _toc.yml and print how long each one takes.

Fast mode on a CPU (one thread, as CI runs them), full mode on a GPU or with ``--full``. Each
notebook runs twice with a fresh, empty RELUCOURSE_CACHE, like CI (nbval, then the site build):
"cold" trains everything, "warm" should mostly read the experiments cache. Uses nbclient in the
current environment's ``python3`` kernel; a failing notebook is reported and the rest still run.

``--jobs N`` executes N notebooks at once, as the parallel site build does (``BOOK_JOBS``); the
cold pass's wall time is then the time the whole course takes, and it is printed beside the sum of
the per-notebook times. ``--cells K`` lists the K slowest cells of the cold pass (where the time
goes), and ``--json FILE`` writes every cell's time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import torch
from common import banner, parser
from nbclient import NotebookClient

import relucourse as rc

ROOT = Path(__file__).resolve().parent.parent


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """Every entry of _toc.yml (root included) that is a notebook, in book order."""
    files = rc.book.notebooks.toc_docnames(root)
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


class TimedClient(NotebookClient):
    """An nbclient that records each code cell's wall time (index -> seconds)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cell_times: dict[int, float] = {}

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):  # type: ignore[override]
        start = time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        finally:
            if cell.cell_type == "code":
                self.cell_times[cell_index] = time.perf_counter() - start


def execute(path: Path, timeout: int) -> tuple[float, dict[int, float], str | None]:
    """(seconds, per-cell seconds, error or None) for one top-to-bottom run of ``path``."""
    nb = nbformat.read(path, as_version=4)
    client = TimedClient(nb, timeout=timeout, kernel_name="python3",
                         resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as err:  # report and go on: one broken notebook is itself a result
        # CellExecutionError's text ends with the cell's exception line: keep that.
        lines = [ln for ln in str(err).splitlines() if ln.strip()]
        error = f"{type(err).__name__}: {(lines or [''])[-1][:300]}"
    return time.perf_counter() - start, client.cell_times, error


def first_line(nb_path: Path, index: int) -> str:
    cell = nbformat.read(nb_path, as_version=4).cells[index]
    lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")]
    return (lines[0] if lines else "")[:60]


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None,
                   help="OMP threads per notebook (default: 1 in fast mode or with --jobs > 1; "
                        "torch's default otherwise)")
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks executed at once (default: 1 in fast mode, as CI's nbval "
                        "pass; in full mode the cores, at most 4, as the site build)")
    p.add_argument("--cells", type=int, default=0, help="list the K slowest cells (cold pass)")
    p.add_argument("--cold-only", action="store_true", help="skip the warm pass")
    p.add_argument("--json", default=None, help="write per-cell times to this file")
    p.add_argument("--cache", default=None,
                   help="use (and keep) this experiments cache folder instead of a fresh, "
                        "temporary one; it must be empty for a cold measurement")
    p.add_argument("notebooks", nargs="*", help="only these (paths as in _toc.yml, no suffix)")
    args = p.parse_args(argv)
    device = rc.pick_device(args.device)
    full = args.full or (device.type != "cpu" and not args.quick)
    print(banner(f"course: every notebook in _toc.yml, {'full' if full else 'fast'} mode", device))
    notebooks = toc_notebooks()
    if args.notebooks:
        wanted = {n.removesuffix(".ipynb") for n in args.notebooks}
        unknown = wanted - {str(nb.relative_to(ROOT).with_suffix("")) for nb in notebooks}
        if unknown:
            raise SystemExit(f"notebooks={sorted(unknown)} are not in _toc.yml")
        notebooks = [nb for nb in notebooks if str(nb.relative_to(ROOT).with_suffix("")) in wanted]
    if args.quick:
        notebooks = notebooks[:1]
    if args.jobs is None:
        args.jobs = max(1, min(os.cpu_count() or 1, 4)) if full else 1
    threads = args.threads or (1 if (not full or args.jobs > 1) else None)
    # The kernel inherits this process's environment.
    cache = args.cache or tempfile.mkdtemp(prefix="relucourse-bench-cache-")
    if args.cache:
        Path(cache).mkdir(parents=True, exist_ok=True)
    fresh = not any(Path(cache).iterdir())
    os.environ.update({"RELUCOURSE_FAST": "0" if full else "1", "RELUCOURSE_CACHE": cache,
                       "RELUCOURSE_PROGRESS": "0", "RELUCOURSE_STATIC": "1"})
    if args.device:
        os.environ["RELUCOURSE_DEVICE"] = args.device
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    state = "fresh" if fresh else "NOT EMPTY: not a cold run"
    print(f"cache: {cache} ({state}) | OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
          f" | jobs {args.jobs} | torch sees CUDA: {torch.cuda.is_available()}")
    timeout = 3600 if full else 900
    passes = 1 if args.cold_only else 2
    results: list[list[tuple[float, dict[int, float], str | None]]] = [[] for _ in notebooks]
    walls = []
    # Executed in the order the site build starts them (scripts/build_book.py's reading_order:
    # chapters, then labs, then quizzes, each in name order), the next one to the first free job.
    order = sorted(range(len(notebooks)), key=lambda i: str(notebooks[i].relative_to(ROOT)))
    for _ in range(passes):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            done = pool.map(lambda i: execute(notebooks[i], timeout), order)
            for i, res in zip(order, done, strict=True):
                results[i].append(res)
        walls.append(time.perf_counter() - start)
    print(f"{'notebook':<36} {'cold s':>8}" + (f" {'warm s':>8}" if passes == 2 else ""))
    totals = [0.0] * passes
    for path, runs in zip(notebooks, results, strict=True):
        cols = []
        for i, (t, _, err) in enumerate(runs):
            if err:
                cols.append(f"{'FAILED':>8}")
                print(f"  {path.name}: {err}")
            else:
                totals[i] += t
                cols.append(f"{t:>8.1f}")
        print(f"{str(path.relative_to(ROOT)):<36} " + " ".join(cols))
    if not args.cache:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"{'total (succeeded)':<36} " + " ".join(f"{t:>8.1f}" for t in totals))
    print(f"{'wall time, ' + str(args.jobs) + ' at once':<36} "
          + " ".join(f"{w:>8.1f}" for w in walls))
    print("cold = fresh cache; warm = same notebook again, reusing the experiments cache.")
    cells = [(t, path, i) for path, runs in zip(notebooks, results, strict=True)
             for i, t in runs[0][1].items()]
    if args.cells:
        print(f"\nslowest {args.cells} cells (cold):")
        for t, path, i in sorted(cells, reverse=True)[:args.cells]:
            print(f"{t:>8.1f} s  {path.relative_to(ROOT).with_suffix('')} [{i}] "
                  f"{first_line(path, i)}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"notebook": str(p.relative_to(ROOT)), "cell": i, "seconds": t} for t, p, i in cells],
            indent=1))


if __name__ == "__main__":
    main()
