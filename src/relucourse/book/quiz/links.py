"""Which link targets a quiz text may hold, and how link syntax is made inert for jupyterquiz.

Banks may link only to ``http(s)://`` pages and to relative in-book targets (``#anchor``,
``../chapters/01_activations.html#...``); anything else (``javascript:``, ``data:``, ``file:``,
``mailto:``, protocol-relative ``//host``, root-absolute ``/path``) is refused when a bank is
validated (:mod:`.schema`).

Refusing is not enough on its own, because jupyterquiz renders Markdown links itself, in the
browser: its ``jaxify`` (``js/helpers.js``) turns every ``[text](target)`` in a question, answer or
feedback into ``<a href="target">``, with no check of the target. Our server-side Markdown leaves a
link it refuses as literal text, and code spans, maths and ``\\[escaped\\](brackets)`` also reach
the browser as literal ``[..](..)``; each would become a live link there. So :func:`neutralise`
rewrites the ``(`` after every ``]`` as the character reference ``&#40;``: the page shows the same
character, but jaxify's pattern no longer matches. Real links are unaffected, since they were
already rendered to ``<a>`` tags by markdown-it (:mod:`.render`).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

SAFE_SCHEMES = ("http", "https")
VALID_LINKS = ("http:// or https:// URLs, or relative in-book links such as #anchor or "
               "../chapters/<page>.html#anchor")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Browsers drop ASCII tabs and newlines anywhere in a URL and trim spaces and control characters, so
# "java\tscript:" is still javascript:; compare without them.
_IGNORED = re.compile(r"[\x00-\x20\x7f]")
# What jupyterquiz's jaxify turns into a link (the same regular expression, as JavaScript runs it).
_JAXIFY_LINK = re.compile(r"\[(.*?)\]\((.*?)\)")


def is_allowed(url: str) -> bool:
    """True for ``http(s)`` URLs and relative in-book links (paths and ``#anchors``)."""
    compact = _IGNORED.sub("", html.unescape(url))
    if compact.startswith(("/", "\\")):
        return False  # //host leaves the book (browsers read \ as /); so does /path under a URL prefix
    scheme = _SCHEME.match(compact)
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


@lru_cache(maxsize=1)
def _permissive_markdown() -> Any:
    from markdown_it import MarkdownIt

    # Every link parsed as a link, whatever its target, so validation sees what a writer meant
    # (the default parser silently leaves javascript: links as text).
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = lambda url: True
    return md


def link_targets(text: str) -> list[str]:
    """Every link or image target in ``text``: Markdown's own (inline, reference, autolink) and
    those jupyterquiz's ``jaxify`` would make from literal ``[..](..)`` text."""
    targets: list[str] = []
    stack = list(_permissive_markdown().parse(text))
    while stack:
        token = stack.pop()
        if token.type in ("link_open", "image"):
            targets.append(str(token.attrGet("href") or token.attrGet("src") or ""))
        stack.extend(token.children or [])
    targets.extend(m.group(2).strip().lstrip("<") for m in _JAXIFY_LINK.finditer(text))
    return targets


def bad_links(text: str) -> list[str]:
    """The link targets in ``text`` that :func:`is_allowed` refuses, in no particular order."""
    return [t for t in link_targets(text) if not is_allowed(t)]


def neutralise(rendered_html: str) -> str:
    """``rendered_html`` with no ``](`` left for jupyterquiz to turn into a link (see above)."""
    return rendered_html.replace("](", "]&#40;")
