"""Benchmark 3: execute every notebook in _toc.yml and print how long each one takes.

Fast mode on a CPU (one thread, as CI runs them), full mode on a GPU or with ``--full``. Each
notebook runs twice with a fresh, empty RELUCOURSE_CACHE, like CI (nbval, then the site build):
"cold" trains everything, "warm" should mostly read the experiments cache. Uses nbclient in the
current environment's ``python3`` kernel; a failing notebook is reported and the rest still run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
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


def execute(path: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="OMP threads in fast mode (CI uses 1)")
    args = p.parse_args(argv)
    device = rc.pick_device(args.device)
    full = args.full or (device.type != "cpu" and not args.quick)
    print(banner(f"course: every notebook in _toc.yml, {'full' if full else 'fast'} mode", device))
    notebooks = toc_notebooks()
    if args.quick:
        notebooks = notebooks[:1]
    # The kernel inherits this process's environment.
    cache = tempfile.mkdtemp(prefix="relucourse-bench-cache-")
    os.environ.update({"RELUCOURSE_FAST": "0" if full else "1", "RELUCOURSE_CACHE": cache,
                       "RELUCOURSE_PROGRESS": "0", "RELUCOURSE_STATIC": "1"})
    if args.device:
        os.environ["RELUCOURSE_DEVICE"] = args.device
    if not full:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(f"cache: {cache} (fresh) | OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
          f" | torch sees CUDA: {torch.cuda.is_available()}")
    print(f"{'notebook':<36} {'cold s':>8} {'warm s':>8}")
    totals = [0.0, 0.0]
    timeout = 3600 if full else 900
    for path in notebooks:
        row = []
        for i in range(2):
            try:
                t = execute(path, timeout)
                totals[i] += t
                row.append(f"{t:>8.1f}")
            except Exception as err:  # report and go on: one broken notebook is itself a result
                row.append(f"{'FAILED':>8}")
                first_line = (str(err).splitlines() or [""])[0][:150]
                print(f"  {path.name}: {type(err).__name__}: {first_line}")
        print(f"{str(path.relative_to(ROOT)):<36} {row[0]} {row[1]}")
    shutil.rmtree(cache, ignore_errors=True)
    print(f"{'total (succeeded)':<36} {totals[0]:>8.1f} {totals[1]:>8.1f}")
    print("cold = fresh cache; warm = same notebook again, reusing the experiments cache.")


if __name__ == "__main__":
    main()
