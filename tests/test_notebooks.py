"""The book's sources: every notebook is clean and listed, the configuration agrees with the
package, citations resolve, and environment.yml installs from pyproject's extras."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from relucourse.book import notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("chapters", "labs", "quizzes")
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
BIB_KEY = re.compile(r"^\s*@\w+\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)


def resolve(entry: str) -> Path | None:
    for suffix in ("", ".ipynb", ".md"):
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    return None


CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC_ENTRIES = notebooks.toc_docnames(ROOT)
TOC_PATHS = [p for p in map(resolve, TOC_ENTRIES) if p is not None]
ON_DISK = sorted(p for d in NOTEBOOK_DIRS for p in (ROOT / d).rglob("*.ipynb")
                 if ".ipynb_checkpoints" not in p.parts)
NOTEBOOKS = sorted({p for p in TOC_PATHS if p.suffix == ".ipynb"} | set(ON_DISK))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_toc_docnames_walks_every_entry_in_order(tmp_path: Path) -> None:
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: a/one.ipynb\n        sections:\n          - file: a/one_more.md\n"
        "      - file: a/two\n  - caption: B\n    chapters:\n      - file: b/three\n")
    assert notebooks.toc_docnames(tmp_path) == ["intro", "a/one", "a/one_more", "a/two", "b/three"]


def test_toc_entries_exist() -> None:
    assert TOC_ENTRIES, "_toc.yml lists no files"
    missing = [e for e in TOC_ENTRIES if resolve(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_is_clean(path: Path) -> None:
    assert notebooks.problems(path) == []


@pytest.mark.parametrize("path", ON_DISK, ids=rel)
def test_notebook_is_in_the_toc(path: Path) -> None:
    assert path in TOC_PATHS, f"{rel(path)} is not listed in _toc.yml (so the site never shows it)"


def test_problems_catches_what_it_should(tmp_path: Path) -> None:
    good = notebooks.write_notebook(tmp_path / "good.ipynb", [notebooks.markdown("# T"),
                                                                notebooks.code("x = 1")])
    assert notebooks.problems(good) == []
    raw = json.loads(good.read_text())
    raw["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1"}]
    raw["cells"][2]["execution_count"] = 1
    raw["cells"][1]["source"] = "# NBVAL_IGNORE_OUTPUT"  # markdown: not a code comment, allowed
    raw["cells"].append(notebooks.code("# NBVAL_SKIP\ny = 2"))
    raw["cells"][0]["metadata"]["tags"] = []
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(raw))
    found = notebooks.problems(bad)
    assert len(found) == 4
    assert any("tagged" in f for f in found) and any("saved outputs" in f for f in found)
    assert any("execution count" in f for f in found) and any("NBVAL_" in f for f in found)
    raw["cells"] = raw["cells"][1:]
    bad.write_text(json.dumps(raw))
    assert any("first cell" in f for f in notebooks.problems(bad))


def test_new_notebook_layout() -> None:
    nb = notebooks.new_notebook([notebooks.code("print(1)", tags=["hide-input"])])
    assert nb.cells[0].source == notebooks.COLAB_SETUP_SOURCE
    assert nb.cells[0].metadata["tags"] == ["remove-cell"]
    assert nb.cells[1].metadata["tags"] == ["hide-input"]
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert [c["id"] for c in nb.cells] == ["cell-0", "cell-1"]


def test_repository_url_matches_config() -> None:
    assert notebooks.REPOSITORY_URL == CONFIG["repository"]["url"]
    assert f"git+{notebooks.REPOSITORY_URL}" in notebooks.COLAB_SETUP_SOURCE


def test_colab_setup_does_not_pin_torch() -> None:
    source = notebooks.COLAB_SETUP_SOURCE
    assert not re.search(r"torch\s*(==|>=|<=|~=|<|>)", source)
    install = source[source.index("pip"):]
    assert "torch" not in install, "the Colab cell must not install torch (Colab has its own)"
    assert '"google.colab" in sys.modules' in source  # a no-op outside Colab
    compile(source, "<colab setup>", "exec")


def test_book_execution_is_strict() -> None:
    execute = CONFIG["execute"]
    assert execute["raise_on_error"] is True
    assert execute.get("allow_errors", False) is False
    assert "references.bib" in CONFIG["bibtex_bibfiles"]


def bib_keys() -> list[str]:
    return BIB_KEY.findall((ROOT / "references.bib").read_text())


def cited_keys() -> dict[str, set[str]]:
    """Citation key -> files using it, from the book's markdown pages and notebooks' markdown cells.

    Only pages the book builds count (CONTRIBUTING.md quotes the role syntax as an example).
    """
    pages = {p for p in TOC_PATHS if p.suffix == ".md"}
    pages |= {md for d in NOTEBOOK_DIRS for md in (ROOT / d).rglob("*.md")}
    texts = [(rel(md), md.read_text()) for md in sorted(pages)]
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        texts += [(rel(nb), "".join(c["source"])) for c in cells if c["cell_type"] == "markdown"]
    used: dict[str, set[str]] = {}
    for name, text in texts:
        for group in CITE.findall(text):
            for key in group.split(","):
                if key.strip():
                    used.setdefault(key.strip(), set()).add(name)
    return used


def test_bib_keys_are_unique() -> None:
    keys = bib_keys()
    assert keys, "no entries parsed from references.bib"
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_every_citation_is_in_references_bib() -> None:
    known = set(bib_keys())
    used = cited_keys()
    assert used, "no {cite} roles found at all (the regex may be broken)"
    missing = {key: sorted(files) for key, files in used.items() if key not in known}
    assert not missing, f"cited but not in references.bib: {missing}"


def test_environment_yml_installs_from_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    deps = env["dependencies"]
    plain = [d for d in deps if isinstance(d, str)]
    assert "python=3.11" in plain and "pytorch" in plain and "pip" in plain
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert any(line.startswith("-e .[book,test") for line in pip), pip
    # pyproject stays the single list of Python packages: nothing else is pinned here
    assert len(pip) == 1 and len(plain) == 3
