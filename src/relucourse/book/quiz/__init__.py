"""Interview-style quizzes stored as YAML banks and rendered with jupyterquiz.

Banks live in ``relucourse/book/quiz/banks/<id>.yaml`` (shipped with the package, so Colab has them):

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
        answer_args: {name: sigmoid}        # (or ``answer: 0.25``: a finite number, never both)
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

What a bank may hold is checked when it is loaded (:mod:`.schema`), with a :class:`QuizBankError`
naming the file, question, field, bad value and what would be valid:

* ``answer_from`` names a function marked ``@quiz_answer`` (:mod:`relucourse.answers`) in the module
  that defines it; any other function, however importable, is refused before anything is called.
* Answers are typed per kind: a numeric question has exactly one of ``answer`` (a finite number, not
  a string, bool or null) and ``answer_from``; every option of a choice question has an ``answer``
  string (quote ``yes``, ``no``, numbers and ``null`` in YAML) and ``correct: true`` or ``false``.
* Links in any text go to ``http(s)://`` pages or to relative in-book targets (``#anchor``,
  ``../chapters/<page>.html#anchor``); ``javascript:``, ``data:`` and other schemes are refused, and
  leftover link syntax is made inert before jupyterquiz sees it (:mod:`.links`).

Every question names, in ``section``, the heading (``#``, ``##`` or ``###``, not "Quiz") of the
bank's chapter that teaches it, written as in the notebook (inline code keeps its backticks; they are
ignored when comparing). Each question shows it as a link under its text: to the chapter page and,
on the static site, to the heading's anchor (see :func:`section_anchor`). ``tests/test_quiz.py``
checks that every section is a heading of its chapter notebook.

Multiple-choice and numeric questions give instant feedback with jupyterquiz, which inlines its
JavaScript into every quiz output, so it works on the static site (no kernel), in JupyterLab and in
Colab (where each cell's outputs live in their own iframe). Open questions reveal a model answer
inside an HTML ``<details>`` block, which works in all three places without any JavaScript.

The package is split by job: :mod:`.schema` reads, validates and computes answers, :mod:`.links`
says which links are allowed, :mod:`.render` turns questions into HTML and jupyterquiz's JSON, and
:mod:`.display` shows them with IPython. This module re-exports the public names, so notebooks call
``rc.book.quiz.show("activations")``. (``BANK_DIR`` lives in :mod:`.schema`; patch it there.)
"""

from __future__ import annotations

from relucourse.book.quiz.display import patch_quiz_js, show, show_all
from relucourse.book.quiz.render import (
    chapter_href,
    heading_html,
    open_question_html,
    render_block,
    render_inline,
    section_anchor,
    section_html,
    to_jupyterquiz,
)
from relucourse.book.quiz.schema import (
    ALLOWED_KEYS,
    QUESTION_TYPES,
    QuizBankError,
    answer_function,
    bank_ids,
    load_bank,
    numeric_answer,
    resolve_answer,
    validate_bank,
)

__all__ = [
    "ALLOWED_KEYS", "QUESTION_TYPES", "QuizBankError", "answer_function", "bank_ids", "chapter_href",
    "heading_html", "load_bank", "numeric_answer", "open_question_html", "patch_quiz_js",
    "render_block", "render_inline", "resolve_answer", "section_anchor", "section_html", "show",
    "show_all", "to_jupyterquiz", "validate_bank",
]
