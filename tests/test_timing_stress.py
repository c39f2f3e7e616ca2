"""Stress test of the course's timing claims: every notebook cell tagged ``timing-claim`` runs 10
times while two busy processes load both cores, and its asserts must hold every time.

Not part of ``make test`` (about two minutes): run ``make test-stress``. The claims are ratios of
interleaved medians with wide margins (``timing.interleaved``), which is what lets them survive.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = 10
IMPORT = re.compile(r"^(import \S+( as \w+)?|from \S+ import .+)$")


def timing_cells() -> list[tuple[str, int, str, str]]:
    """(notebook, cell index, import lines of the notebook, cell source) per tagged cell."""
    found = []
    for path in sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "labs").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        imports = "\n".join(line for c in nb.cells if c.cell_type == "code"
                            for line in c.source.splitlines()
                            if IMPORT.match(line) and "google.colab" not in line)
        for i, cell in enumerate(nb.cells):
            if "timing-claim" in cell.metadata.get("tags", []):
                found.append((path.name, i, imports, cell.source))
    return found


@pytest.fixture
def loaded_cores() -> Iterator[None]:
    """Two busy-looping processes (one per core of CI's 2-core machine), killed afterwards."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_some_cells_are_tagged() -> None:
    names = {name for name, *_ in timing_cells()}
    assert {"02_sigmoid_saturation.ipynb", "03_relu_sparsity.ipynb"} <= names


@pytest.mark.stress
@pytest.mark.parametrize(("notebook", "index", "imports", "source"), timing_cells(),
                         ids=[f"{n}:{i}" for n, i, *_ in timing_cells()])
def test_timing_claim_holds_under_load(loaded_cores: None, monkeypatch: pytest.MonkeyPatch,
                                       notebook: str, index: int, imports: str,
                                       source: str) -> None:
    monkeypatch.setenv("RELUCOURSE_FAST", "1")
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    matplotlib.use("Agg")
    failures = []
    for run in range(RUNS):
        namespace: dict = {}
        exec(compile(imports, f"{notebook}:imports", "exec"), namespace)
        namespace["rc"].setup(seed=0, quiet=True)
        try:
            exec(compile(source, f"{notebook}:cell {index}", "exec"), namespace)
        except AssertionError as err:
            failures.append(f"run {run}: {err!r}")
        finally:
            namespace["plt"].close("all")
    assert not failures, f"{len(failures)}/{RUNS} runs failed under load: {failures}"
    assert os.cpu_count()
