"""Reading quiz banks, checking them against the format, and computing their numeric answers.

Everything that can be wrong with a bank is found here, when it is loaded, so a broken bank fails
its test (and the book build) with a message that names the file, the question, the field, the bad
value and what would be valid, instead of showing a quiz that cannot be answered. The format is
described in :mod:`relucourse.book.quiz`.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from relucourse.answers import registered
from relucourse.book.quiz import links

BANK_DIR = Path(__file__).parent / "banks"
QUESTION_TYPES = ("multiple_choice", "many_choice", "numeric", "open")
# Keys each question type may use: a typo such as ``answer_arg`` is an error, not silently ignored.
ALLOWED_KEYS = {
    "multiple_choice": {"type", "question", "section", "answers"},
    "many_choice": {"type", "question", "section", "answers"},
    "numeric": {"type", "question", "section", "answer", "answer_from", "answer_args", "tolerance",
                "precision", "feedback", "hint"},
    "open": {"type", "question", "section", "model_answer"},
}
ANSWER_KEYS = {"answer", "correct", "feedback"}
# "relucourse" or "relucourse.sub.module", a colon, then a function name.
ANSWER_FROM = re.compile(r"^relucourse(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
# Choice texts must be strings: YAML reads a bare yes/no as a bool, 0.25 as a float and ~ as null.
_CHOICE_TEXT = "a non-empty string (quote numbers, yes/no and null in YAML)"


class QuizBankError(ValueError):
    """A quiz bank that breaks the format; the message names the file, question and field."""


def bank_ids() -> list[str]:
    """Every bank shipped with the package, sorted (the quiz index page shows them in this order)."""
    return sorted(p.stem for p in BANK_DIR.glob("*.yaml"))


def load_bank(bank_id: str) -> dict[str, Any]:
    """Read and validate one bank; an unknown id lists the ids that exist."""
    path = BANK_DIR / f"{bank_id}.yaml"
    if not path.is_file():
        raise ValueError(f"no quiz bank {bank_id!r}; available: {', '.join(bank_ids()) or 'none'}")
    try:
        bank = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise QuizBankError(f"{path.name}: not valid YAML: {err}") from err
    validate_bank(bank, source=path.name)
    if bank["id"] != bank_id:
        raise QuizBankError(f"{path.name}: id is {bank['id']!r} but must equal the file name {bank_id!r}")
    return bank


# --- answers computed by the package ------------------------------------------------------------

def answer_function(path: str) -> Callable[..., Any]:
    """The function ``"relucourse.module:function"`` names, if :mod:`relucourse.answers` allows it.

    The module is imported (which is what registers its ``@quiz_answer`` functions) and the name is
    then looked up in the registry; nothing the bank names is called here. Raises ``ValueError``
    saying what is wrong and which names are registered.
    """
    if not isinstance(path, str) or not ANSWER_FROM.match(path):
        raise ValueError(f"answer_from must look like 'relucourse.module:function', got {path!r}")
    module_name, _, func_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is None or not (module_name == err.name or module_name.startswith(f"{err.name}.")):
            raise  # the module exists but one of its own imports is broken: a bug, not a bank error
        raise ValueError(f"answer_from {path!r}: there is no module {module_name}; "
                         f"{_registered_choices()}") from None
    allowed = registered()
    if path not in allowed:
        if not callable(getattr(module, func_name, None)):
            raise ValueError(f"answer_from {path!r}: {module_name} has no function {func_name!r}; "
                             f"{_registered_choices()}")
        raise ValueError(f"answer_from {path!r} is not a registered quiz answer (mark it with "
                         f"@relucourse.answers.quiz_answer in the module that defines it); "
                         f"{_registered_choices()}")
    return allowed[path]


def _registered_choices() -> str:
    names = sorted(registered())
    return f"registered (in the modules imported so far): {', '.join(names) or 'none'}"


def resolve_answer(path: str, args: dict[str, Any] | None = None) -> float:
    """Compute a numeric answer by calling the registered ``"relucourse.module:function"`` with ``args``.

    Only functions marked ``@quiz_answer`` can be named, so a quiz bank cannot run any other code,
    and the answer key always agrees with the number the chapter computes with the same function.
    """
    value = float(answer_function(path)(**(args or {})))
    if not math.isfinite(value):
        raise ValueError(f"answer_from {path!r} with {args!r} returned {value}, not a finite number")
    return value


def numeric_answer(q: dict[str, Any]) -> float:
    """The exact answer of a numeric question (computed by the package when ``answer_from``)."""
    if "answer_from" in q:
        return resolve_answer(q["answer_from"], q.get("answer_args"))
    if not _is_finite_number(q.get("answer")):
        raise QuizBankError(f"numeric question {str(q.get('question'))[:40]!r}: answer "
                            f"{q.get('answer')!r} is not a finite number")
    return float(q["answer"])


# --- validation ---------------------------------------------------------------------------------

def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _is_finite_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def validate_bank(bank: Any, source: str = "bank") -> None:
    """Raise :class:`QuizBankError` naming the first problem (file, question number, what is wrong).

    Besides the structure, this imports the module each ``answer_from`` names and checks the
    function is registered in :mod:`relucourse.answers`, so a bank naming any other function is
    refused before anything is called. The registered functions themselves are called when the
    quiz is shown (and by ``tests/test_quiz.py`` for every bank).
    """
    if not isinstance(bank, dict):
        raise QuizBankError(f"{source}: a bank must be a mapping with id, title, chapter, questions")
    for key in ("id", "title", "chapter", "questions"):
        if key not in bank:
            raise QuizBankError(f"{source}: missing top-level key {key!r}")
    for key in ("id", "title", "chapter"):
        if not _text(bank[key]):
            raise QuizBankError(f"{source}: {key!r} must be a non-empty string")
    if bank["chapter"].endswith((".ipynb", ".md", ".html")):
        raise QuizBankError(f"{source}: chapter {bank['chapter']!r} must be a docname without suffix")
    questions = bank["questions"]
    if not isinstance(questions, list) or not questions:
        raise QuizBankError(f"{source}: 'questions' must be a non-empty list")
    _check_links(source, "title", bank["title"])
    for i, q in enumerate(questions, start=1):
        where = f"{source} question {i}"
        _validate_question(q, where)
        for field, text in _texts(q):
            _check_links(where, field, text)


def _validate_question(q: Any, where: str) -> None:
    if not isinstance(q, dict):
        raise QuizBankError(f"{where}: must be a mapping with a 'type' and a 'question'")
    qtype = q.get("type")
    if qtype not in QUESTION_TYPES:
        raise QuizBankError(f"{where}: type {qtype!r} is not one of {', '.join(QUESTION_TYPES)}")
    unknown = set(q) - ALLOWED_KEYS[qtype]
    if unknown:
        raise QuizBankError(f"{where}: unknown key(s) {sorted(unknown)} for a {qtype} question; "
                            f"allowed: {sorted(ALLOWED_KEYS[qtype])}")
    if not _text(q.get("question")):
        raise QuizBankError(f"{where}: empty question text")
    if "section" not in q:
        raise QuizBankError(f"{where}: missing 'section' (the heading of the chapter that teaches it)")
    if not _text(q["section"]):
        raise QuizBankError(f"{where}: 'section' must be a non-empty string naming a chapter heading, "
                            f"got {q['section']!r}")
    if qtype in ("multiple_choice", "many_choice"):
        _validate_choices(q, where)
    elif qtype == "numeric":
        _validate_numeric(q, where)
    elif not _text(q.get("model_answer")):
        raise QuizBankError(f"{where}: open question has no model_answer (got "
                            f"{q.get('model_answer')!r}); valid: a non-empty Markdown string")


def _validate_choices(q: dict[str, Any], where: str) -> None:
    answers = q.get("answers")
    if not isinstance(answers, list) or len(answers) < 2:
        raise QuizBankError(f"{where}: needs a list of at least two answers")
    for j, a in enumerate(answers, start=1):
        if not isinstance(a, dict) or set(a) - ANSWER_KEYS:
            raise QuizBankError(f"{where} answer {j}: must be a mapping with keys {sorted(ANSWER_KEYS)}")
        if "answer" not in a:
            raise QuizBankError(f"{where} answer {j}: missing 'answer'; valid: {_CHOICE_TEXT}")
        if not _text(a["answer"]):
            raise QuizBankError(f"{where} answer {j}: 'answer' is {a['answer']!r}; valid: {_CHOICE_TEXT}")
        if not isinstance(a.get("correct"), bool):
            got = f"got {a['correct']!r}" if "correct" in a else "missing"
            raise QuizBankError(f"{where} answer {j}: 'correct' must be true or false, {got}; "
                                f"valid: true, false")
        if not _text(a.get("feedback")):
            raise QuizBankError(f"{where}: answer {a.get('answer')!r} has no feedback")
    n_correct = sum(a["correct"] for a in answers)
    if n_correct == 0:
        raise QuizBankError(f"{where}: no answer is marked correct")
    if q["type"] == "multiple_choice" and n_correct != 1:
        raise QuizBankError(f"{where}: multiple_choice needs exactly one correct answer "
                            f"(found {n_correct}; use many_choice for several)")


def _validate_numeric(q: dict[str, Any], where: str) -> None:
    if ("answer" in q) == ("answer_from" in q):
        raise QuizBankError(f"{where}: give exactly one of 'answer' or 'answer_from'")
    if "answer_from" in q:
        if not isinstance(q["answer_from"], str) or not ANSWER_FROM.match(q["answer_from"]):
            raise QuizBankError(f"{where}: answer_from must look like 'relucourse.module:function', "
                                f"got {q['answer_from']!r}")
        try:
            answer_function(q["answer_from"])  # imports the module, calls nothing
        except ValueError as err:
            raise QuizBankError(f"{where}: {err}") from None
    if "answer" in q and not _is_finite_number(q["answer"]):
        raise QuizBankError(f"{where}: answer must be a finite number, got {q['answer']!r}; valid: an "
                            f"int or float (not a string, bool or null), or answer_from instead")
    if "answer_args" in q and not isinstance(q["answer_args"], dict):
        raise QuizBankError(f"{where}: answer_args must be a mapping of keyword arguments")
    if "tolerance" in q and not (_is_finite_number(q["tolerance"]) and q["tolerance"] > 0):
        raise QuizBankError(f"{where}: tolerance must be a positive number, got {q['tolerance']!r}")
    precision = q.get("precision", 4)
    if not isinstance(precision, int) or isinstance(precision, bool) or precision < 0:
        raise QuizBankError(f"{where}: precision must be an integer >= 0 (0 = no rounding)")
    if not _text(q.get("feedback")):
        raise QuizBankError(f"{where}: numeric question has no feedback")
    if "hint" in q and not _text(q["hint"]):
        raise QuizBankError(f"{where}: hint must be a non-empty string when given")


def _texts(value: Any, field: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a question with its field path (``answers[2].feedback``), for link checks."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for j, item in enumerate(value, start=1):
            yield from _texts(item, f"{field}[{j}]")


def _check_links(where: str, field: str, text: Any) -> None:
    bad = links.bad_links(text) if isinstance(text, str) else []
    if bad:
        raise QuizBankError(f"{where}: {field} links to {bad[0]!r}, which is not allowed; "
                            f"valid: {links.VALID_LINKS}")
