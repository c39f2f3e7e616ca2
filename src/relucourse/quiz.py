"""Interview-style quizzes stored as YAML banks and rendered with jupyterquiz.

Banks live in ``relucourse/quizzes/<id>.yaml`` (shipped with the package, so Colab has them):

    id: activations
    title: Activation functions and their derivatives
    chapter: chapters/01_activations        # the page that teaches it (docname, no suffix)
    questions:
      - type: multiple_choice               # or many_choice (several correct)
        question: Which activation ...?
        answers:
          - {answer: ReLU, correct: true, feedback: Yes, because ...}
          - {answer: sigmoid, correct: false, feedback: No, its slope is at most 1/4 ...}
      - type: numeric
        question: What is the largest value of sigmoid'(x)?
        answer_from: relucourse.activations:max_derivative   # computed by the package, not typed
        answer_args: {name: sigmoid}
        tolerance: 0.001
        feedback: ...
      - type: open
        question: Why does ReLU help with vanishing gradients, and when doesn't it?
        model_answer: |
          Markdown text revealed on click.

Multiple-choice and numeric questions give instant feedback with jupyterquiz, which works on the
static site (no kernel), in JupyterLab and in Colab. Open questions reveal a model answer inside an
HTML ``<details>`` block, which works in all three places without JavaScript.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

BANK_DIR = Path(__file__).parent / "quizzes"
QUESTION_TYPES = ("multiple_choice", "many_choice", "numeric", "open")


def bank_ids() -> list[str]:
    return sorted(p.stem for p in BANK_DIR.glob("*.yaml"))


def load_bank(bank_id: str) -> dict[str, Any]:
    path = BANK_DIR / f"{bank_id}.yaml"
    if not path.exists():
        raise ValueError(f"no quiz bank {bank_id!r}; available: {', '.join(bank_ids())}")
    bank = yaml.safe_load(path.read_text())
    validate_bank(bank, source=path.name)
    return bank


def resolve_answer(path: str, args: dict[str, Any] | None = None) -> float:
    """Compute a numeric answer by calling ``"relucourse.module:function"`` with ``args``.

    Only course code can be named, so a quiz bank cannot run arbitrary code.
    """
    module_name, _, func_name = path.partition(":")
    if not module_name.startswith("relucourse") or not func_name:
        raise ValueError(f"answer_from must look like 'relucourse.module:function', got {path!r}")
    func: Callable[..., float] = getattr(importlib.import_module(module_name), func_name)
    return float(func(**(args or {})))


def validate_bank(bank: dict[str, Any], source: str = "bank") -> None:
    """Raise ValueError naming the first problem: missing fields, no correct answer, no feedback."""
    for key in ("id", "title", "chapter", "questions"):
        if key not in bank:
            raise ValueError(f"{source}: missing top-level key {key!r}")
    for i, q in enumerate(bank["questions"], start=1):
        where = f"{source} question {i}"
        qtype = q.get("type")
        if qtype not in QUESTION_TYPES:
            raise ValueError(f"{where}: type {qtype!r} is not one of {', '.join(QUESTION_TYPES)}")
        if not str(q.get("question", "")).strip():
            raise ValueError(f"{where}: empty question text")
        if qtype in ("multiple_choice", "many_choice"):
            answers = q.get("answers") or []
            if len(answers) < 2:
                raise ValueError(f"{where}: needs at least two answers")
            if not any(a.get("correct") for a in answers):
                raise ValueError(f"{where}: no answer is marked correct")
            if qtype == "multiple_choice" and sum(bool(a.get("correct")) for a in answers) != 1:
                raise ValueError(f"{where}: multiple_choice needs exactly one correct answer")
            for a in answers:
                if not str(a.get("feedback", "")).strip():
                    raise ValueError(f"{where}: answer {a.get('answer')!r} has no feedback")
        elif qtype == "numeric":
            if ("answer" in q) == ("answer_from" in q):
                raise ValueError(f"{where}: give exactly one of 'answer' or 'answer_from'")
            if not str(q.get("feedback", "")).strip():
                raise ValueError(f"{where}: numeric question has no feedback")
        elif not str(q.get("model_answer", "")).strip():
            raise ValueError(f"{where}: open question has no model_answer")


def numeric_answer(q: dict[str, Any]) -> float:
    if "answer_from" in q:
        return resolve_answer(q["answer_from"], q.get("answer_args"))
    return float(q["answer"])


def to_jupyterquiz(q: dict[str, Any]) -> dict[str, Any]:
    """One bank question in jupyterquiz's JSON format."""
    if q["type"] == "numeric":
        value = numeric_answer(q)
        tol = float(q.get("tolerance", abs(value) * 0.01 or 1e-3))
        return {
            "question": q["question"],
            "type": "numeric",
            "precision": int(q.get("precision", 4)),
            "answers": [
                {"type": "range", "range": [value - tol, value + tol], "correct": True,
                 "feedback": f"Correct: {value:.4g}. {q['feedback']}"},
                {"type": "default",
                 "feedback": q.get("hint", "Not quite. Re-read the chapter's computed value.")},
            ],
        }
    return {
        "question": q["question"],
        "type": q["type"],
        "answers": [
            {"answer": str(a["answer"]), "correct": bool(a.get("correct")),
             "feedback": str(a["feedback"])}
            for a in q["answers"]
        ],
    }


def open_question_html(q: dict[str, Any], number: int) -> str:
    """An open question with its model answer hidden in ``<details>`` (works without a kernel)."""
    from markdown_it import MarkdownIt

    answer = MarkdownIt("commonmark").render(str(q["model_answer"]))
    return (
        f'<div class="relucourse-open-question"><p><strong>Interview question {number}.</strong> '
        f"{html.escape(str(q['question']))}</p>"
        f"<details><summary>Show a model answer</summary>{answer}</details></div>"
    )


def show(bank_id: str, kinds: tuple[str, ...] = QUESTION_TYPES) -> None:
    """Display a chapter's quiz: interactive questions first, then open interview questions."""
    from IPython.display import HTML, display
    from jupyterquiz import display_quiz

    bank = load_bank(bank_id)
    interactive = [to_jupyterquiz(q) for q in bank["questions"]
                   if q["type"] != "open" and q["type"] in kinds]
    if interactive:
        display_quiz(interactive, shuffle_answers=False)
    open_qs = [q for q in bank["questions"] if q["type"] == "open" and "open" in kinds]
    if open_qs:
        display(HTML("".join(open_question_html(q, i) for i, q in enumerate(open_qs, 1))))
