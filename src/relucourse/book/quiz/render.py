"""Turning bank questions into HTML and into jupyterquiz's JSON, with links to their sections.

Texts are rendered here, in Python, so what a reader sees does not depend on the renderer of the
place the notebook is opened in: Markdown with raw HTML escaped (a ``<`` in a question is text),
``$...$`` maths converted to MathML (``latex2mathml``), which browsers draw themselves, so quiz
maths is typeset offline on the site, in JupyterLab and in Colab (jupyterquiz would otherwise
fetch MathJax from a CDN and leave raw TeX offline), links only to ``http(s)`` and in-book
targets, and no Markdown link syntax left over for jupyterquiz's own link rendering in the
browser (:mod:`.links`).
Nothing here displays anything; :mod:`.display` does.
"""

from __future__ import annotations

import html
import posixpath
import re
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from relucourse.book.quiz import links
from relucourse.book.quiz.schema import QUESTION_TYPES, QuizBankError, load_bank, numeric_answer

# Math is protected from Markdown (which would eat backslashes and underscores), then made MathML.
MATH = re.compile(r"(\$\$.+?\$\$|\$[^$]+?\$|\\\(.+?\\\)|\\\[.+?\\\])", re.DOTALL)  # may span lines
# The book's MathJax macros (_config.yml, mathjax3_config), which latex2mathml does not know.
MACROS = {"Var": r"\operatorname{Var}", "E": r"\mathbb{E}"}
_LINKING = re.compile(r"\\(href|url)(?![A-Za-z])")
_MACRO = re.compile(r"\\(" + "|".join(MACROS) + r")(?![A-Za-z])")
COLAB_BASE = "https://colab.research.google.com/github"


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # html=False: a "<" in a question is text, never markup. Links to other targets than the
    # bank format allows stay text (and are then made inert by links.neutralise).
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = links.is_allowed
    return md


def to_mathml(span: str) -> str:
    """One TeX span (``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``) as a MathML ``<math>``."""
    from latex2mathml.converter import convert

    if _LINKING.search(span):  # latex2mathml turns \href into a MathML href attribute: a live link
        raise QuizBankError(f"maths may not contain links ({span!r}); put links in the text")
    display = span.startswith(("$$", "\\["))
    body = span[2:-2] if span.startswith(("$$", "\\(", "\\[")) else span[1:-1]
    body = _MACRO.sub(lambda m: MACROS[m.group(1)], body)
    try:
        return convert(body, display="block" if display else "inline")
    except Exception as err:  # latex2mathml raises several kinds; say which span, never hide it
        raise QuizBankError(f"cannot typeset the maths {span!r} ({type(err).__name__}: {err})") from err


def _with_math(text: str, render: Callable[[str], str]) -> str:
    """Render ``text`` with its math spans swapped for inert placeholders, then put them back as
    MathML."""
    spans: list[str] = []

    def stash(match: re.Match[str]) -> str:
        spans.append(to_mathml(match.group(0)))
        return f"RCQMATH{len(spans) - 1}X"

    rendered = links.neutralise(render(MATH.sub(stash, text)))
    return re.sub(r"RCQMATH(\d+)X", lambda m: spans[int(m.group(1))], rendered)


def render_inline(text: str) -> str:
    """Inline Markdown to HTML, raw HTML escaped, ``$math$`` as MathML."""
    return _with_math(str(text).strip(), _markdown().renderInline)


def render_block(text: str) -> str:
    """Block Markdown to HTML (paragraphs, lists), raw HTML escaped, math as MathML."""
    return _with_math(str(text).strip(), _markdown().render)


def to_jupyterquiz(q: dict[str, Any], reference: str = "") -> dict[str, Any]:
    """One bank question in jupyterquiz's JSON format (texts already rendered to safe HTML).

    ``reference`` is HTML appended to the question text (:func:`show` passes the section link).

    Numeric answers are accepted in ``[value - tol, value + tol)``; jupyterquiz first rounds the
    reader's entry to ``precision`` significant digits, so the rounded exact answer must stay inside
    that range (checked here, so a bank cannot ship an unanswerable question).
    """
    question = render_inline(q["question"]) + links.neutralise(reference)
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
            "question": question,
            "type": "numeric",
            "precision": precision,
            "answers": [
                {"type": "range", "range": [lo, hi], "correct": True,
                 "feedback": f"Correct: {value:.4g}. {render_inline(q['feedback'])}"},
                {"type": "default", "feedback": render_inline(hint)},
            ],
        }
    return {
        "question": question,
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


# --- links to the chapter and its sections --------------------------------------------------------

def chapter_href(bank: dict[str, Any], page_dir: str = "quizzes", anchor: str = "") -> str:
    """Where a link to the bank's chapter should point, seen from a page in ``page_dir``.

    The site (``RELUCOURSE_STATIC=1``) links the built ``.html`` page, with ``#anchor`` when one is
    given; Colab opens the chapter's notebook in Colab, and JupyterLab opens the ``.ipynb`` next to
    this one (neither has Sphinx's anchors, so there the link opens the top of the chapter).
    """
    from relucourse.book.explorer import is_static
    from relucourse.book.notebooks import REPOSITORY_URL

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
