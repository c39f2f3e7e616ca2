"""The learner notebooks labs/*.ipynb are generated from their single sources
(src/relucourse/labs/sources/*.py, read by relucourse.labs.source) by relucourse.labs.build:
the committed notebooks are up to date, hold stubs and hidden solutions only, and the source
format refuses what it cannot generate correctly."""

from __future__ import annotations

import ast
import json
import types
from pathlib import Path

import pytest

from relucourse.labs import build, exercise, source
from relucourse.labs.source import LabSourceError

ROOT = Path(__file__).resolve().parents[1]
LABS = source.names()


def test_committed_notebooks_are_up_to_date() -> None:
    assert LABS == sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))
    assert build.stale(ROOT / "labs") == [], (
        "a lab notebook differs from its source: edit src/relucourse/labs/sources/<lab>.py, then "
        "run `python -m relucourse.labs.build` from the repository root")


def test_main_writes_and_checks(tmp_path: Path, capsys) -> None:
    assert build.main(["--check", "--out", str(tmp_path)]) == 1  # nothing there yet
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    first = tmp_path / f"{LABS[0]}.ipynb"
    first.write_text(first.read_text().replace("Solution", "Answer"))
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    assert f"{LABS[0]}.ipynb is out of date" in capsys.readouterr().out


def _cells(lab: str) -> list[dict]:
    return json.loads((ROOT / "labs" / f"{lab}.ipynb").read_text())["cells"]


def _function(code: types.CodeType, name: str) -> types.FunctionType:
    """The function ``name`` defined by a compiled cell, without running the cell."""
    (found,) = [c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == name]
    return types.FunctionType(found, {})


@pytest.mark.parametrize("lab", LABS)
def test_learner_notebook_holds_stubs_and_hidden_solutions(lab: str) -> None:
    src = source.load(lab)
    cells = _cells(lab)
    sources = ["".join(c["source"]) for c in cells]
    exercise_cells = [i for i, text in enumerate(sources) if "lab.checked(" in text]
    assert len(exercise_cells) == len(src.learner_code)
    seen = []
    for i in exercise_cells:
        text = sources[i]
        tree = ast.parse(text)
        compiled = compile(text, lab, "exec")
        names = [n.value.args[0].value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Call) and getattr(n.value.func, "attr", "") == "checked"]
        for name in names:
            if src.exercise(name).kind == "function":  # recognised as unwritten, so it falls back
                assert exercise.is_stub(_function(compiled, name)), f"{lab}: {name} is not a stub"
            else:
                assert any(isinstance(n, ast.Assign) and ast.unparse(n) == f"{name} = ..."
                           for n in tree.body), f"{lab}: no `{name} = ...` stub"
        assert "# YOUR CODE" in text and source.BEGIN not in text and source.END not in text
        hidden = sources[i + 1]
        assert cells[i + 1]["cell_type"] == "markdown"
        assert hidden.startswith("<details><summary>Solution</summary>") and hidden.endswith("</details>")
        seen += names
    assert seen == list(src.exercises)


@pytest.mark.parametrize("lab", LABS)
def test_no_code_cell_gives_a_solution_away(lab: str) -> None:
    """Every statement of a solution appears only in hidden Solution blocks (unless the lab also
    uses the same line outside its solutions)."""
    src = source.load(lab)
    solution_lines, other_lines = set(), set()
    for cell in src.cells:
        if cell.kind != "code":
            continue
        inside = False
        for line in cell.lines:
            stripped = line.strip()
            if stripped.startswith(source.BEGIN) or stripped == source.END:
                inside = stripped.startswith(source.BEGIN)
                continue
            if stripped and not stripped.startswith("#"):
                (solution_lines if inside else other_lines).add(stripped)
    code_lines = {line.strip() for c in _cells(lab) if c["cell_type"] == "code"
                  for line in "".join(c["source"]).splitlines()}
    assert not (code_lines & (solution_lines - other_lines))


SMALL = '''"""A tiny lab."""

# %% [markdown]
# # Tiny lab
#
# Text.

# %% tags=["hide-input"]
import math

lab = rc.labs.exercise.Lab("tiny", globals())

# %%
def double(x: float) -> float:
    """Twice x."""
    ### BEGIN SOLUTION
    return 2 * x  # the answer
    ### END SOLUTION


double = lab.checked("double", double, check_double)

### BEGIN SOLUTION: the square root of two
helper = 2.0
ROOT2 = math.sqrt(helper)  # about 1.414
### END SOLUTION

ROOT2 = lab.checked("ROOT2", ROOT2, check_root)
print(ROOT2)

# %% [markdown] tags=["solution"]
# Why:
#
# <!-- solution code -->
#
# That is all.
'''


def test_a_small_source_becomes_stub_and_hidden_solution() -> None:
    src = source.parse(SMALL, "tiny", "tiny.py")
    assert list(src.exercises) == ["double", "ROOT2"]
    cells = build.learner_cells(src)
    assert [c.cell_type for c in cells] == ["markdown", "code", "code", "markdown"]
    assert cells[0].source == "# Tiny lab\n\nText."
    assert cells[1].metadata["tags"] == ["hide-input"]
    assert cells[2].source == '''def double(x: float) -> float:
    """Twice x."""
    # YOUR CODE
    raise NotImplementedError


double = lab.checked("double", double, check_double)

# YOUR CODE: the square root of two
ROOT2 = ...  # about 1.414

ROOT2 = lab.checked("ROOT2", ROOT2, check_root)
print(ROOT2)'''
    assert cells[3].source == '''<details><summary>Solution</summary>

Why:

```python
def double(x: float) -> float:
    return 2 * x  # the answer

helper = 2.0
ROOT2 = math.sqrt(helper)  # about 1.414
```

That is all.
</details>'''
    assert "tags" not in cells[3].metadata


def test_references_run_at_their_source_lines() -> None:
    src = source.parse(SMALL, "tiny", "tiny.py")
    double, root2 = src.exercise("double"), src.exercise("ROOT2")
    assert (double.kind, double.first_line, double.check) == ("function", 14, "check_double")
    assert (root2.kind, root2.first_line) == ("value", 24)  # the line after BEGIN SOLUTION
    namespace = {"math": __import__("math")}
    assert double.run(namespace)(3) == 6 and namespace["double"].__code__.co_firstlineno == 14
    assert root2.run(namespace) == pytest.approx(2**0.5) and namespace["helper"] == 2.0


CELL = '''lab = rc.labs.exercise.Lab("tiny", globals())

# %%
{body}
'''


@pytest.mark.parametrize(("body", "message"), [
    ("def f(x):\n    ### BEGIN SOLUTION\n    return x\n", "never closed"),
    ("def f(x):\n    return x\n    ### END SOLUTION\n", "without"),
    ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\n\n"
     "f = lab.checked('f', f, check)", "whole body"),
    ("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n", "never checked"),
    ("x = lab.checked('x', x, check)", "no ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\ny = 1\n### END SOLUTION\nx = lab.checked('x', x, check)", "assigns none"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\ny = lab.checked('x', x, check)", "back to name"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nx = lab.checked('x', y, check)", "passed x itself"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nprint(lab.checked('x', x, check))", "of its own"),
    ("### BEGIN SOLUTION\n### END SOLUTION\n", "empty solution"),
])
def test_the_source_format_refuses_what_it_cannot_generate(body: str, message: str) -> None:
    with pytest.raises(LabSourceError, match=message):
        source.parse("# %%\n" + CELL.format(body=body), "tiny", "tiny.py")


def test_source_errors_name_the_file_and_line() -> None:
    text = "# %%\nx = 1\n# %% [markdown]\nnot a comment\n"
    with pytest.raises(LabSourceError, match=r"tiny\.py:4: a markdown line must start with '# '"):
        source.parse(text, "tiny", "tiny.py")
    with pytest.raises(LabSourceError, match="cell header"):
        source.parse("# %% [raw]\nx\n", "tiny", "tiny.py")
    with pytest.raises(LabSourceError, match="must follow an exercise cell"):
        source.parse("# %%\nx = 1\n# %% [markdown] tags=[\"solution\"]\n# Notes.\n", "tiny", "tiny.py")
    wrong_name = SMALL.replace('Lab("tiny"', 'Lab("other"')
    with pytest.raises(LabSourceError, match=r"exactly one rc.labs.exercise.Lab\('tiny'"):
        source.parse(wrong_name, "tiny", "tiny.py")
