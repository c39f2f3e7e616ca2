"""Read a lab's single source, ``relucourse/labs/sources/<lab>.py``: the solved lab, from which
``relucourse.labs.build`` generates the learner notebook ``labs/<lab>.ipynb`` (stubs, with the
solutions hidden under **Solution**) and ``labs.exercise.Lab`` runs the references.

Each exercise's reference solution is written once, there (as scikit-learn-mooc generates student
notebooks from tagged solution cells). The sources ship inside the package, so a lab opened on
Colab finds its references after ``pip install``.

The format is a subset of jupytext's "percent" format, so a source is valid Python (ruff lints it):

* ``# %%`` starts a code cell and ``# %% [markdown]`` a markdown cell, whose lines are comments
  (``# text``; ``#`` for a blank line); either may end with ``tags=["..."]``, copied to the
  notebook. Whatever comes before the first ``# %%`` (the file's docstring) is not in the lab.
* In a code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are a solution:
  either the whole body of a top-level function after its docstring (the learner gets
  ``# YOUR CODE`` and ``raise NotImplementedError`` there), or top-level statements (the learner gets
  ``name = ...`` for each exercise they assign, with the assignment's trailing comment, and none
  of the helper statements). ``### BEGIN SOLUTION: hint`` makes that ``# YOUR CODE: hint``.
* An exercise is named by the call that checks it, in the same cell:
  ``name = lab.checked("name", name, check, ...)``, where the lab's first cell made
  ``lab = rc.labs.exercise.Lab("<lab>", globals())``. Each solution must hold exactly the exercises
  its cell checks.
* A markdown cell tagged ``solution`` right after an exercise cell holds the notes of that cell's
  hidden Solution block; the solution code goes where a line ``<!-- solution code -->`` stands, or
  before the notes.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_SLOT = "<!-- solution code -->"
SOLUTION_TAG = "solution"
SOURCES = "relucourse.labs.sources"
_HEADER = re.compile(r"# %%(?P<markdown>\s+\[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*")


class LabSourceError(ValueError):
    """A lab source breaks the format above; the message names the file and line."""


@dataclass(frozen=True)
class Cell:
    kind: str  # "code" or "markdown"
    lines: tuple[str, ...]  # markdown: without the comment prefix
    tags: tuple[str, ...]
    first_line: int  # line of lines[0] in the file (1-based)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Exercise:
    """One exercise: its name, the reference ``code`` (the whole ``def`` of a function, or the
    statements of a value's solution) and the checker expression its cell calls."""

    name: str
    kind: str  # "function" or "value"
    cell: int
    path: str
    first_line: int  # line of code's first line in the file, so tracebacks point into the source
    code: str
    check: str

    def run(self, namespace: dict[str, Any]) -> Any:
        """Run the reference code in ``namespace`` (changed in place) and return the answer."""
        exec(compile("\n" * (self.first_line - 1) + self.code, self.path, "exec"), namespace)
        return namespace[self.name]


@dataclass
class LabSource:
    name: str
    path: str
    cells: list[Cell]
    exercises: dict[str, Exercise] = field(default_factory=dict)
    learner_code: dict[int, str] = field(default_factory=dict)  # exercise cell -> its stub version
    solution_code: dict[int, str] = field(default_factory=dict)  # exercise cell -> code shown hidden
    notes: dict[int, str] = field(default_factory=dict)  # exercise cell -> its Solution notes

    def exercise(self, name: str) -> Exercise:
        if name not in self.exercises:
            raise LabSourceError(f"{self.path}: no exercise {name!r}; the exercises are "
                                 f"{', '.join(self.exercises)}")
        return self.exercises[name]


def names() -> list[str]:
    """The labs that have a source, in order."""
    files = resources.files(SOURCES).iterdir()
    return sorted(f.name.removesuffix(".py") for f in files
                  if f.name.endswith(".py") and f.name != "__init__.py")


def load(name: str) -> LabSource:
    """Parse the source of lab ``name`` (e.g. ``"02_sigmoid_lab"``)."""
    file = resources.files(SOURCES) / f"{name}.py"
    if not file.is_file():
        raise LabSourceError(f"no lab source {name!r}; the labs are {', '.join(names())}")
    return parse(file.read_text(encoding="utf-8"), name, str(file))


def parse(text: str, name: str, path: str = "<lab source>") -> LabSource:
    src = LabSource(name, path, _split(text, path))
    last_exercise_cell: int | None = None
    for i, cell in enumerate(src.cells):
        if cell.kind == "markdown":
            if SOLUTION_TAG in cell.tags:
                if last_exercise_cell != i - 1:
                    raise LabSourceError(f"{path}:{cell.first_line}: a markdown cell tagged "
                                         f"{SOLUTION_TAG!r} must follow an exercise cell")
                src.notes[i - 1] = cell.text
            continue
        if _exercise_cell(src, i, cell):
            last_exercise_cell = i
    _check_lab_name(src)
    return src


# --- cells ---------------------------------------------------------------------------------------


def _split(text: str, path: str) -> list[Cell]:
    raw: list[tuple[str, tuple[str, ...], int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# %%"):
            match = _HEADER.fullmatch(line)
            if match is None:
                raise LabSourceError(f"{path}:{number}: cannot read the cell header {line!r}")
            tags = tuple(json.loads(match["tags"])) if match["tags"] else ()
            raw.append(("markdown" if match["markdown"] else "code", tags, number + 1, []))
        elif raw:
            raw[-1][3].append(line)
    cells = []
    for kind, tags, first, lines in raw:
        while lines and not lines[0].strip():
            lines.pop(0)
            first += 1
        while lines and not lines[-1].strip():
            lines.pop()
        if kind == "markdown":
            lines = [_uncomment(line, path, first + k) for k, line in enumerate(lines)]
        cells.append(Cell(kind, tuple(lines), tags, first))
    return cells


def _uncomment(line: str, path: str, number: int) -> str:
    if line.strip() in ("", "#"):
        return ""
    if not line.startswith("# "):
        raise LabSourceError(f"{path}:{number}: a markdown line must start with '# '")
    return line[2:]


# --- exercise cells ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Region:
    begin: int  # index of the BEGIN line in the cell's lines
    end: int  # index of the END line
    indent: str
    hint: str


def _regions(cell: Cell, path: str) -> list[_Region]:
    found, opened = [], None
    for k, line in enumerate(cell.lines):
        stripped = line.strip()
        where = f"{path}:{cell.first_line + k}"
        if stripped.startswith(BEGIN):
            if opened is not None:
                raise LabSourceError(f"{where}: {BEGIN} inside another solution")
            opened = (k, line[: len(line) - len(line.lstrip())], stripped[len(BEGIN):].lstrip(": "))
        elif stripped == END:
            if opened is None:
                raise LabSourceError(f"{where}: {END} without {BEGIN}")
            begin, indent, hint = opened
            if line[: len(line) - len(line.lstrip())] != indent:
                raise LabSourceError(f"{where}: {END} is not indented like its {BEGIN}")
            if not any(s.strip() for s in cell.lines[begin + 1:k]):
                raise LabSourceError(f"{where}: empty solution")
            found.append(_Region(begin, k, indent, hint))
            opened = None
    if opened is not None:
        raise LabSourceError(f"{path}:{cell.first_line + opened[0]}: {BEGIN} is never closed")
    return found


def _checked_calls(tree: ast.Module, path: str, cell: Cell) -> dict[str, str]:
    """name -> checker expression, for each ``name = <lab>.checked("name", name, check, ...)``."""
    calls = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "checked"):
            continue
        where = f"{path}:{cell.first_line + node.lineno - 1}"
        args = node.args
        if len(args) < 3 or not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)):
            raise LabSourceError(f"{where}: write checked(\"name\", name, check, ...)")
        name = args[0].value
        if not (isinstance(args[1], ast.Name) and args[1].id == name):
            raise LabSourceError(f"{where}: checked({name!r}, ...) must be passed {name} itself")
        calls[name] = ast.unparse(args[2])
    for node in tree.body:  # each call rebinds its exercise: name = lab.checked("name", name, ...)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "checked":
            target = node.targets[0]
            if len(node.targets) != 1 or not isinstance(target, ast.Name) \
                    or target.id != node.value.args[0].value:
                raise LabSourceError(f"{path}:{cell.first_line + node.lineno - 1}: assign "
                                     "checked(\"name\", ...) back to name")
        elif any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "checked" for n in ast.walk(node)):
            raise LabSourceError(f"{path}:{cell.first_line + node.lineno - 1}: a checked(...) "
                                 "call must be a statement of its own, name = lab.checked(...)")
    return calls


def _exercise_cell(src: LabSource, i: int, cell: Cell) -> bool:
    """Record the exercises of code cell ``i``, its stub version and its hidden code; False if the
    cell holds no exercise."""
    path = src.path
    regions = _regions(cell, path)
    tree = ast.parse(cell.text, filename=path)
    calls = _checked_calls(tree, path, cell)
    if not regions and not calls:
        return False
    stub: list[str] = []
    shown: list[str] = []
    covered: list[str] = []
    position = 0
    for region in regions:
        stub += cell.lines[position:region.begin]
        position = region.end + 1
        if region.indent:
            lines, shown_code, exercise = _function(src, i, cell, tree, region, calls)
            exercises = [exercise]
        else:
            lines, shown_code, exercises = _values(src, i, cell, region, calls)
        stub += lines
        shown.append(shown_code)
        covered += [e.name for e in exercises]
        for e in exercises:
            if e.name in src.exercises:
                raise LabSourceError(f"{path}:{cell.first_line + region.begin}: {e.name} is "
                                     "already an exercise of this lab")
            src.exercises[e.name] = e
    stub += cell.lines[position:]
    unsolved = [n for n in calls if n not in covered]
    if unsolved:
        raise LabSourceError(f"{path}:{cell.first_line}: this cell checks {', '.join(unsolved)} but "
                             f"has no {BEGIN} ... {END} for it")
    src.learner_code[i] = "\n".join(stub)
    src.solution_code[i] = "\n\n".join(shown)
    return True


def _function(src: LabSource, i: int, cell: Cell, tree: ast.Module, region: _Region,
              calls: dict[str, str]) -> tuple[list[str], str, Exercise]:
    where = f"{src.path}:{cell.first_line + region.begin}"
    begin, end = region.begin + 1, region.end + 1  # ast line numbers are 1-based
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.lineno < begin]
    if not defs or defs[-1].end_lineno < begin:
        raise LabSourceError(f"{where}: an indented solution must be the body of a top-level "
                             "function")
    node = defs[-1]
    body = node.body
    docstring = body[0] if body and isinstance(body[0], ast.Expr) \
        and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str) else None
    code = [s for s in body if s is not docstring]
    if not code or code[0].lineno <= begin or code[-1].end_lineno >= end \
            or (docstring is not None and docstring.end_lineno >= begin):
        raise LabSourceError(f"{where}: the solution must be the whole body of {node.name} after "
                             "its docstring (the stub replaces all of it)")
    if node.name not in calls:
        raise LabSourceError(f"{where}: {node.name} is solved here but never checked: add "
                             f"{node.name} = lab.checked({node.name!r}, {node.name}, check)")
    hint = f"# YOUR CODE: {region.hint}" if region.hint else "# YOUR CODE"
    stub = [region.indent + hint, region.indent + "raise NotImplementedError"]
    skip = set(range(docstring.lineno, docstring.end_lineno + 1)) if docstring else set()
    skip |= {begin, end}
    last = max(node.end_lineno, end)
    shown = "\n".join(cell.lines[n - 1] for n in range(node.lineno, last + 1) if n not in skip)
    exercise = Exercise(node.name, "function", i, src.path, cell.first_line + node.lineno - 1,
                        "\n".join(cell.lines[node.lineno - 1:node.end_lineno]), calls[node.name])
    return stub, shown.rstrip(), exercise


def _values(src: LabSource, i: int, cell: Cell, region: _Region,
            calls: dict[str, str]) -> tuple[list[str], str, list[Exercise]]:
    where = f"{src.path}:{cell.first_line + region.begin}"
    inner = "\n".join(cell.lines[region.begin + 1:region.end])
    tree = ast.parse(inner, filename=src.path)
    comments = {tok.start[0]: (tok.start[1], tok.string)
                for tok in tokenize.generate_tokens(io.StringIO(inner + "\n").readline)
                if tok.type == tokenize.COMMENT}
    assigned: dict[str, str] = {}  # exercise -> its stub line, in order of assignment
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id in calls:
                col, comment = comments.get(node.end_lineno, (-1, ""))
                tail = f"  {comment}" if comment and col >= node.end_col_offset else ""
                assigned[target.id] = f"{target.id} = ...{tail}"
    if not assigned:
        raise LabSourceError(f"{where}: this solution assigns none of the exercises its cell "
                             f"checks ({', '.join(calls) or 'none'})")
    hint = f"# YOUR CODE: {region.hint}" if region.hint else "# YOUR CODE"
    first = cell.first_line + region.begin + 1
    exercises = [Exercise(n, "value", i, src.path, first, inner, calls[n]) for n in assigned]
    return [hint, *assigned.values()], inner.rstrip(), exercises


def _check_lab_name(src: LabSource) -> None:
    """The source makes ``Lab("<its own name>", ...)`` if it has exercises."""
    if not src.exercises:
        return
    named = [node.args[0].value for cell in src.cells if cell.kind == "code"
             for node in ast.walk(ast.parse(cell.text))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Lab"
             and node.args and isinstance(node.args[0], ast.Constant)]
    if named != [src.name]:
        raise LabSourceError(f"{src.path}: make the lab's references with exactly one "
                             f"rc.labs.exercise.Lab({src.name!r}, globals()), found {named}")
