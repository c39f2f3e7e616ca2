"""The allow-list of package functions whose results a quiz bank may use as numeric answers.

A quiz bank is data (YAML), yet its ``answer_from: relucourse.module:function`` makes the package
call a function when the quiz is shown. Matching the name against a pattern is not enough: the
package also has functions that write files or run processes (``relucourse.book.notebooks:
write_notebook``, for one), and a typo or a careless edit must not be able to reach them. So a
function is answerable only if its own module marks it::

    from relucourse.answers import quiz_answer

    @quiz_answer
    def max_derivative(name: str, ...) -> float: ...

The mark records ``"module:qualname"`` (where the function is *defined*, so a bank names the
defining module, not a re-export) and returns the function unchanged. The quiz imports the module a
bank names and then looks the name up here (:mod:`relucourse.book.quiz.schema`).

This module imports nothing from ``relucourse``, so any module can use the decorator without an
import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY: dict[str, Callable[..., Any]] = {}


def quiz_answer(fn: F) -> F:
    """Allow quiz banks to name ``fn`` in ``answer_from``; ``fn`` itself is returned unchanged."""
    _REGISTRY[f"{fn.__module__}:{fn.__qualname__}"] = fn
    return fn


def registered() -> Mapping[str, Callable[..., Any]]:
    """A read-only view of ``{"module:qualname": function}`` for every function marked so far.

    Marks are made when their module is imported, so a module that was never imported has none here.
    """
    return MappingProxyType(_REGISTRY)
