"""Showing quizzes in a notebook: one chapter's bank (:func:`show`) or the quiz index page (:func:`show_all`).

Multiple-choice and numeric questions go through jupyterquiz, which inlines its JavaScript into
every quiz output, so they work on the static site (no kernel), in JupyterLab and in Colab (where
each cell's outputs live in their own iframe). Open questions are plain HTML with the model answer
in a ``<details>`` block, which works in all three places without any JavaScript. This is the only
part of the quiz that needs IPython, and the only one that touches jupyterquiz's output.
"""

from __future__ import annotations

import html
import posixpath
import random
import secrets
from typing import Any

from relucourse.book.quiz.render import heading_html, open_question_html, section_html, to_jupyterquiz
from relucourse.book.quiz.schema import QUESTION_TYPES, bank_ids, load_bank


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
