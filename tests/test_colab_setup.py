"""The hidden first cell of every notebook, run for real: it installs the course in Colab only.

CI cannot reach Colab, so these tests run the cell's own source with Colab faked (a
``google.colab`` module in ``sys.modules``) and ``subprocess.run`` recorded, and then build the
package from a git clone exactly as the cell's ``pip install "relucourse @ git+..."`` would, to
prove the wheel a fresh Colab runtime gets has every module and the quiz banks.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import pytest

from relucourse.book import notebooks

ROOT = Path(__file__).resolve().parents[1]


def run_setup_cell(monkeypatch: pytest.MonkeyPatch, *, in_colab: bool, installed: bool) -> list[Any]:
    """Execute COLAB_SETUP_SOURCE; return the argument lists it passed to subprocess.run."""
    calls: list[Any] = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append((args, kw)))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real_find_spec(name, *a) if installed or name != "relucourse"
                                          else None))
    exec(compile(notebooks.COLAB_SETUP_SOURCE, "<colab setup cell>", "exec"), {})
    return calls


def test_setup_cell_does_nothing_outside_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_setup_cell(monkeypatch, in_colab=False, installed=False) == []


def test_setup_cell_installs_from_the_repository_in_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = run_setup_cell(monkeypatch, in_colab=True, installed=False)
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args[:4] == [sys.executable, "-m", "pip", "install"]
    assert f"relucourse @ git+{notebooks.REPOSITORY_URL}" in args
    assert not any("torch" in a for a in args), "Colab keeps its own torch: never install or pin it"
    assert kwargs.get("check") is True, "a failed install must stop the notebook, not pass silently"


def test_setup_cell_skips_the_install_when_the_package_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_setup_cell(monkeypatch, in_colab=True, installed=True) == []


@pytest.mark.slow
def test_git_checkout_builds_a_complete_wheel(tmp_path: Path) -> None:
    """What ``pip install "relucourse @ git+URL"`` builds: a clone of the committed tree."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the course")
    clone = tmp_path / "clone"
    subprocess.run([git, "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone)], check=True)
    # The clone holds what is committed; uncommitted files under src/ would be missing in Colab too.
    package = Path("src") / "relucourse"
    committed = {p.relative_to(clone / package).as_posix()
                 for p in (clone / package).rglob("*.py")}
    on_disk = {p.relative_to(ROOT / package).as_posix() for p in (ROOT / package).rglob("*.py")}
    if on_disk - committed:
        pytest.skip(f"modules not committed yet (Colab would miss them): {sorted(on_disk - committed)}")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(clone)], check=True)
    (wheel,) = (tmp_path / "dist").glob("relucourse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in sorted(committed):
        assert f"relucourse/{module}" in names, f"the wheel lacks relucourse/{module}"
    banks = {p.name for p in (ROOT / package / "book" / "quiz" / "banks").glob("*.yaml")}
    assert banks and all(f"relucourse/book/quiz/banks/{b}" in names for b in banks), "quiz banks missing"
