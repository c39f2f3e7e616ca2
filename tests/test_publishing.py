"""The GitHub Pages workflow builds the book with the README's command and publishes _build/html."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def load() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_runs_on_every_push_to_main() -> None:
    assert load()["on"]["push"]["branches"] == ["main"]


def test_builds_with_make_book_and_publishes_its_output() -> None:
    steps = load()["jobs"]["build"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(re.match(r"make book(\s|$)", r) for r in runs), runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^book: env\n\tRELUCOURSE_FAST=\$\$\{RELUCOURSE_FAST:-0\} RELUCOURSE_STATIC=1 "
                     r"\$\(JB_BUILD\) \. -W -n --keep-going", makefile,
                     re.MULTILINE), "make book must stay the strict JB1 build the workflow relies on"
    assert re.search(r"^JB_BUILD := \$\(BIN\)/python scripts/build_book.py$", makefile, re.MULTILINE)
    script = (ROOT / "scripts" / "build_book.py").read_text()
    assert 'jupyter_book(["build", *argv]' in script  # the same JB1 command, run with -j
    assert "_build/html" in makefile


def test_deploys_the_built_site_to_pages() -> None:
    jobs = load()["jobs"]
    assert jobs["deploy"]["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in jobs["deploy"]["steps"])
    assert load()["permissions"]["pages"] == "write"


def test_readme_documents_both_routes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert ".github/workflows/book.yml" in readme and "ghp-import" in readme
