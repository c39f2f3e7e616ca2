"""Interview-style quizzes stored as YAML banks and rendered with jupyterquiz.

Banks live in ``relucourse/quizzes/<id>.yaml`` (shipped with the package, so Colab has them):

    id: activations                         # must equal the file name
    title: Activation functions and their derivatives
    chapter: chapters/01_activations        # the page that teaches it (docname, no suffix)
    questions:
      - type: multiple_choice               # or many_choice (several correct)
        question: Which activation ...?
        section: "The functions and their slopes"   # required: a heading of the chapter, as written
        answers:
          - {answer: ReLU, correct: true, feedback: Yes, because ...}
          - {answer: sigmoid, correct: false, feedback: No, its slope is at most 1/4 ...}
      - type: numeric
        question: What is the largest value of sigmoid'(x)?
        section: "The number that matters: the largest slope"
        answer_from: relucourse.activations:max_derivative   # computed by the package, not typed
        answer_args: {name: sigmoid}
        tolerance: 0.001                    # optional: default 1% of the answer
        precision: 4                        # optional: significant digits kept of the reader's entry
        feedback: ...
        hint: ...                           # optional: shown for a wrong entry
      - type: open
        question: Why does ReLU help with vanishing gradients, and when doesn't it?
        section: "What ten layers of slopes do"
        model_answer: |
          Markdown text revealed on click.

Texts are Markdown (inline for questions, answers and feedback; full for model answers) with raw
HTML escaped; ``$...$`` math is passed through untouched for MathJax.

Every question names, in ``section``, the heading (``#``, ``##`` or ``###``, not "Quiz") of the
bank's chapter that teaches it, written as in the notebook (inline code keeps its backticks; they are
ignored when comparing). Each question shows it as a link under its text: to the chapter page and,
on the static site, to the heading's anchor (see :func:`section_anchor`). ``tests/test_quiz.py``
checks that every section is a heading of its chapter notebook.

Multiple-choice and numeric questions give instant feedback with jupyterquiz, which inlines its
JavaScript into every quiz output, so it works on the static site (no kernel), in JupyterLab and in
Colab (where each cell's outputs live in their own iframe). Open questions reveal a model answer
inside an HTML ``<details>`` block, which works in all three places without any JavaScript.
"""

from __future__ import annotations

import html
import importlib
import math
import posixpath
import random
import re
import secrets
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

BANK_DIR = Path(__file__).parent / "quizzes"
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
# Math is protected from Markdown (which would eat backslashes and underscores) and left to MathJax.
MATH = re.compile(r"(\$\$.+?\$\$|\$[^$\n]+?\$|\\\(.+?\\\)|\\\[.+?\\\])", re.DOTALL)
COLAB_BASE = "https://colab.research.google.com/github"


class QuizBankError(ValueError):
    """A quiz bank that breaks the format above; the message names the file and question."""


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


def resolve_answer(path: str, args: dict[str, Any] | None = None) -> float:
    """Compute a numeric answer by calling ``"relucourse.module:function"`` with ``args``.

    Only course code can be named, so a quiz bank cannot run arbitrary code, and the answer key
    always agrees with the number the chapter computes with the same function.
    """
    if not isinstance(path, str) or not ANSWER_FROM.match(path):
        raise ValueError(f"answer_from must look like 'relucourse.module:function', got {path!r}")
    module_name, _, func_name = path.partition(":")
    func: Callable[..., Any] | None = getattr(importlib.import_module(module_name), func_name, None)
    if not callable(func):
        raise ValueError(f"answer_from {path!r}: {module_name} has no function {func_name!r}")
    value = float(func(**(args or {})))
    if not math.isfinite(value):
        raise ValueError(f"answer_from {path!r} with {args!r} returned {value}, not a finite number")
    return value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def validate_bank(bank: Any, source: str = "bank") -> None:
    """Raise :class:`QuizBankError` naming the first problem (file, question number, what is wrong).

    Checks the structure only; numeric ``answer_from`` functions are called when the quiz is shown
    (and by ``tests/test_quiz.py`` for every bank).
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
    for i, q in enumerate(questions, start=1):
        _validate_question(q, f"{source} question {i}")


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
        answers = q.get("answers")
        if not isinstance(answers, list) or len(answers) < 2:
            raise QuizBankError(f"{where}: needs a list of at least two answers")
        for j, a in enumerate(answers, start=1):
            if not isinstance(a, dict) or set(a) - ANSWER_KEYS:
                raise QuizBankError(f"{where} answer {j}: must be a mapping with keys {sorted(ANSWER_KEYS)}")
            if not _text(str(a.get("answer", ""))):
                raise QuizBankError(f"{where} answer {j}: empty answer text")
            if not isinstance(a.get("correct", False), bool):
                raise QuizBankError(f"{where} answer {j}: 'correct' must be true or false, "
                                    f"got {a['correct']!r}")
            if not _text(a.get("feedback")):
                raise QuizBankError(f"{where}: answer {a.get('answer')!r} has no feedback")
        n_correct = sum(bool(a.get("correct")) for a in answers)
        if n_correct == 0:
            raise QuizBankError(f"{where}: no answer is marked correct")
        if qtype == "multiple_choice" and n_correct != 1:
            raise QuizBankError(f"{where}: multiple_choice needs exactly one correct answer "
                                f"(found {n_correct}; use many_choice for several)")
    elif qtype == "numeric":
        if ("answer" in q) == ("answer_from" in q):
            raise QuizBankError(f"{where}: give exactly one of 'answer' or 'answer_from'")
        if "answer_from" in q and not ANSWER_FROM.match(str(q["answer_from"])):
            raise QuizBankError(f"{where}: answer_from must look like 'relucourse.module:function', "
                                f"got {q['answer_from']!r}")
        if "answer" in q and not _is_finite_number(q["answer"]):
            raise QuizBankError(f"{where}: answer must be a finite number, got {q['answer']!r}")
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
    elif not _text(q.get("model_answer")):
        raise QuizBankError(f"{where}: open question has no model_answer")


def _is_finite_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def numeric_answer(q: dict[str, Any]) -> float:
    """The exact answer of a numeric question (computed by the package when ``answer_from``)."""
    if "answer_from" in q:
        return resolve_answer(q["answer_from"], q.get("answer_args"))
    return float(q["answer"])


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # html=False: a "<" in a question is text, never markup.
    return MarkdownIt("commonmark", {"html": False})


def _with_math(text: str, render: Callable[[str], str], mathjax_delimiters: bool) -> str:
    """Render ``text`` with its math spans swapped for inert placeholders, then put them back."""
    spans: list[str] = []

    def stash(match: re.Match[str]) -> str:
        part = match.group(0)
        if mathjax_delimiters:  # $..$ -> \(..\): what Sphinx's MathJax looks for outside jupyterquiz
            if part.startswith("$$"):
                part = r"\[" + part[2:-2] + r"\]"
            elif part.startswith("$"):
                part = r"\(" + part[1:-1] + r"\)"
        spans.append(html.escape(part, quote=False))
        return f"RCQMATH{len(spans) - 1}X"

    rendered = render(MATH.sub(stash, text))
    return re.sub(r"RCQMATH(\d+)X", lambda m: spans[int(m.group(1))], rendered)


def render_inline(text: str) -> str:
    """Inline Markdown to HTML, raw HTML escaped, ``$math$`` kept for jupyterquiz's MathJax step."""
    return _with_math(str(text).strip(), _markdown().renderInline, mathjax_delimiters=False)


def render_block(text: str) -> str:
    """Block Markdown to HTML (paragraphs, lists), raw HTML escaped, math as ``\\(...\\)``."""
    return _with_math(str(text).strip(), _markdown().render, mathjax_delimiters=True)


def to_jupyterquiz(q: dict[str, Any], reference: str = "") -> dict[str, Any]:
    """One bank question in jupyterquiz's JSON format (texts already rendered to safe HTML).

    ``reference`` is HTML appended to the question text (:func:`show` passes the section link).

    Numeric answers are accepted in ``[value - tol, value + tol)``; jupyterquiz first rounds the
    reader's entry to ``precision`` significant digits, so the rounded exact answer must stay inside
    that range (checked here, so a bank cannot ship an unanswerable question).
    """
    if q["type"] == "numeric":
        value = numeric_answer(q)
        tol = float(q.get("tolerance", abs(value) * 0.01 or 1e-3))
        precision = int(q.get("precision", 4))
        lo, hi = value - tol, value + tol
        rounded = float(f"{value:.{precision}g}") if precision > 0 else value
        if not lo <= rounded < hi:
            raise QuizBankError(f"numeric question {q['question'][:40]!r}: the answer {value:.6g} "
                                f"rounded to {precision} digits ({rounded:g}) falls outside the "
                                f"tolerance {tol:g}; raise precision or tolerance")
        hint = q.get("hint", "Not quite. Re-read the chapter's computed value.")
        return {
            "question": render_inline(q["question"]) + reference,
            "type": "numeric",
            "precision": precision,
            "answers": [
                {"type": "range", "range": [lo, hi], "correct": True,
                 "feedback": f"Correct: {value:.4g}. {render_inline(q['feedback'])}"},
                {"type": "default", "feedback": render_inline(hint)},
            ],
        }
    return {
        "question": render_inline(q["question"]) + reference,
        "type": q["type"],
        "answers": [
            {"answer": render_inline(str(a["answer"])), "correct": bool(a.get("correct")),
             "feedback": render_inline(a["feedback"])}
            for a in q["answers"]
        ],
    }


def open_question_html(q: dict[str, Any], number: int, reference: str = "") -> str:
    """An open question with its model answer hidden in ``<details>`` (works without a kernel).

    ``reference`` is HTML appended to the question text (:func:`show` passes the section link).
    """
    return (
        f'<div class="relucourse-open-question"><p><strong>Interview question {number}.</strong> '
        f"{render_inline(q['question'])}{reference}</p>"
        f"<details><summary>Show a model answer</summary>{render_block(q['model_answer'])}</details></div>"
    )


def chapter_href(bank: dict[str, Any], page_dir: str = "quizzes", anchor: str = "") -> str:
    """Where a link to the bank's chapter should point, seen from a page in ``page_dir``.

    The site (``RELUCOURSE_STATIC=1``) links the built ``.html`` page, with ``#anchor`` when one is
    given; Colab opens the chapter's notebook in Colab, and JupyterLab opens the ``.ipynb`` next to
    this one (neither has Sphinx's anchors, so there the link opens the top of the chapter).
    """
    from relucourse.explorer import is_static
    from relucourse.notebooks import REPOSITORY_URL

    chapter = bank["chapter"]
    if "google.colab" in sys.modules:
        return f"{COLAB_BASE}/{REPOSITORY_URL.removeprefix('https://github.com/')}/blob/main/{chapter}.ipynb"
    page = posixpath.relpath(chapter, page_dir)
    if is_static():
        return f"{page}.html" + (f"#{anchor}" if anchor else "")
    return f"{page}.ipynb"


# The transliteration tables of docutils.nodes.make_id, for letters that NFKD does not decompose
# (docutils builds the site but is not a dependency of the package).
_ID_DIGRAPHS = {0xDF: "sz", 0xE6: "ae", 0x153: "oe", 0x238: "db", 0x239: "qp"}
_ID_LETTERS = dict(zip(map(ord, "øđħıłŧƀƃƈƌƒƙƚƞƥƫƭƴƶǥȥȴȵȶȷȼȿɀɇɉɋɍɏ"), "odhiltbbcdfklnpttyzgzlntjcszejqry",
                       strict=True))


def section_anchor(heading: str) -> str:
    """The id Sphinx gives the section of a Markdown heading: docutils' ``make_id`` of its text.

    Backticks of inline code are dropped (the built title has none); then the text is lowercased,
    transliterated to ASCII, runs of other characters become one ``-``, and leading digits and
    hyphens and trailing hyphens are stripped, so ``"4.1 Dead fraction vs learning rate"`` becomes
    ``"dead-fraction-vs-learning-rate"``. (Two headings with the same id on one page would get
    numbered ids instead; the tests check the banks' sections are unique in their chapter.)
    """
    text = heading.replace("`", "").lower().translate(_ID_DIGRAPHS).translate(_ID_LETTERS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", " ".join(text.split()))
    return re.sub(r"^[-0-9]+|-+$", "", text)


def section_html(bank: dict[str, Any], q: dict[str, Any], page_dir: str = "quizzes") -> str:
    """The question's chapter reference: its ``section`` heading, linking to that part of the chapter."""
    href = chapter_href(bank, page_dir, anchor=section_anchor(q["section"]))
    # Inline styles (Colab's output iframes get no site CSS): a block of its own under the question
    # text, and a link in the colour of its surroundings, which stays readable on jupyterquiz's dark
    # question card and in either theme.
    return (f'<span class="relucourse-section" style="display:block;font-size:0.8em;margin-top:0.3em">'
            f'Chapter: <a href="{html.escape(href)}" style="color:inherit;text-decoration:underline">'
            f"{render_inline(q['section'])}</a></span>")


def heading_html(bank_id: str, page_dir: str = "quizzes") -> str:
    """A heading for one bank on the quiz index page, linking to the chapter that teaches it."""
    bank = load_bank(bank_id)
    counts = {k: sum(q["type"] == k for q in bank["questions"]) for k in QUESTION_TYPES}
    n_quick = len(bank["questions"]) - counts["open"]
    return (
        f'<h2 class="relucourse-quiz-heading" id="quiz-{html.escape(bank_id)}">'
        f"{html.escape(bank['title'])}</h2>"
        f'<p>From <a class="relucourse-chapter-link" href="{html.escape(chapter_href(bank, page_dir))}">'
        f"{html.escape(bank['chapter'])}</a>: {n_quick} quick question(s) and "
        f"{counts['open']} interview question(s).</p>"
    )


def show(bank_id: str, kinds: tuple[str, ...] = QUESTION_TYPES, page_dir: str | None = None) -> None:
    """Display a chapter's quiz: interactive questions first, then open interview questions.

    Each question links to the section of the chapter that teaches it, as seen from a page in
    ``page_dir`` (default: the chapter's own folder, since chapters show their own quiz).
    """
    from IPython.display import HTML, display

    unknown = set(kinds) - set(QUESTION_TYPES)
    if unknown:
        raise ValueError(f"unknown question kinds {sorted(unknown)}; use some of {QUESTION_TYPES}")
    bank = load_bank(bank_id)
    if page_dir is None:
        page_dir = posixpath.dirname(bank["chapter"]) or "."

    interactive = [to_jupyterquiz(q, section_html(bank, q, page_dir)) for q in bank["questions"]
                   if q["type"] != "open" and q["type"] in kinds]
    if interactive:
        _display_quiz(interactive)
    open_qs = [q for q in bank["questions"] if q["type"] == "open" and "open" in kinds]
    if open_qs:
        display(HTML("".join(open_question_html(q, i, section_html(bank, q, page_dir))
                             for i, q in enumerate(open_qs, 1))))


def show_all(page_dir: str = "quizzes") -> list[str]:
    """The quiz index page: a contents list, then each bank under a heading linking to its chapter.

    Banks are found at run time, so a new chapter's bank appears without editing the page.
    Returns the bank ids shown.
    """
    from IPython.display import HTML, display

    ids = bank_ids()
    items = "".join(f'<li><a href="#quiz-{html.escape(b)}">{html.escape(load_bank(b)["title"])}</a></li>'
                    for b in ids)
    display(HTML(f'<ul class="relucourse-quiz-contents">{items}</ul>'))
    for bank_id in ids:
        display(HTML(heading_html(bank_id, page_dir)))
        show(bank_id, page_dir=page_dir)
    return ids


def _display_quiz(questions: list[dict[str, Any]]) -> None:
    """jupyterquiz's ``display_quiz`` with an unpredictable container id, the RNG left alone, and
    its MathJax bug guarded.

    jupyterquiz names its container with Python's global ``random``, which ``rc.setup`` seeds: two
    pages (or two open notebooks in one JupyterLab window) showing quizzes after the same seed would
    get the same element id, and every quiz would consume draws that change the course's later
    seeded results. So it draws from a fresh seed and the global state is restored afterwards.
    ``load_js=True`` inlines the quiz code into every output, which the static site and Colab's
    per-cell iframes need.

    The outputs are captured and re-displayed with one JavaScript fix (see :func:`patch_quiz_js`);
    outside IPython nothing is captured and jupyterquiz's own output goes through unchanged.
    """
    from IPython.display import display
    from IPython.utils.capture import capture_output
    from jupyterquiz import display_quiz

    state = random.getstate()
    random.seed(secrets.randbits(64))
    try:
        with capture_output(stdout=False, stderr=False, display=True) as captured:
            display_quiz(questions, shuffle_answers=False, load_js=True)
    finally:
        random.setstate(state)
    for output in captured.outputs:
        data = dict(output.data)
        if "application/javascript" in data:
            data["application/javascript"] = patch_quiz_js(data["application/javascript"])
        display(data, raw=True, metadata=output.metadata)


# jupyterquiz re-typesets math after drawing a quiz and after every answer, reading
# ``MathJax.version[0]`` whenever a global ``MathJax`` exists. Where that object is only a
# configuration (Sphinx defines it before the library loads; offline reading of the site, a blocked
# CDN) or has no ``version`` (JupyterLab 4), every click threw a TypeError after showing its
# feedback. With an empty version string no typesetting branch matches and nothing throws.
_MATHJAX_VERSION = "MathJax.version;"
_MATHJAX_VERSION_SAFE = "(MathJax.version || '');"


def patch_quiz_js(script: str) -> str:
    """Make jupyterquiz's MathJax calls safe; a no-op when a jupyterquiz release reads it otherwise."""
    return script.replace(_MATHJAX_VERSION, _MATHJAX_VERSION_SAFE)
