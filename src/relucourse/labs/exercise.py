"""Run a lab checker on the learner's answer, or on the course's reference while it is a stub.

Why: the labs must run top to bottom in CI (nbval executes every cell), yet a learner who opens a
lab must not find the answer already written in the exercise cell. So an exercise cell holds a
stub (``raise NotImplementedError`` in a function body, or ``value = ...``) and ends with

    my_sigmoid = rc.labs.exercise.checked(rc.labs.checks.saturation.check_sigmoid, my_sigmoid,
                                     rc.labs.solutions.my_sigmoid, "Task 1")

While the stub is unwritten, the helper prints one line saying so, checks the reference from
``relucourse.labs.solutions`` instead (CI keeps verifying it) and returns it, so the later cells run on
the reference. Once the learner writes their own, it is checked and returned; a wrong answer raises
the checker's ``AssertionError`` with its hint. Nothing falls back silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def fallback_note(what: str) -> str:
    """The one line printed when an exercise still holds its stub."""
    return (f"⏭ {what}: not written yet, so the lab goes on with the course's reference solution. "
            "Write yours in this cell and rerun it.")


def is_stub_error(err: BaseException) -> bool:
    """True if ``err`` is, or was caused by, the stub's ``NotImplementedError``.

    Checkers may wrap the learner's exception (``raise AssertionError(...) from err``), so the
    whole cause chain is searched.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, NotImplementedError):
            return True
        seen.add(id(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def _fall_back(check: Callable[..., Any], reference: T, what: str, args: tuple, kwargs: dict) -> T:
    print(fallback_note(what))
    check(reference, *args, **kwargs)  # the reference must pass too: CI catches a broken one
    return reference


def checked(check: Callable[..., Any], learner: T, reference: T, what: str, *args: Any,
            **kwargs: Any) -> T:
    """``check(learner, *args, **kwargs)`` and return ``learner``; if ``learner`` is still the stub
    (it raises ``NotImplementedError``), print :func:`fallback_note`, check ``reference`` and
    return it. Any other failure, such as the checker's hint, propagates."""
    try:
        check(learner, *args, **kwargs)
    except Exception as err:
        if not is_stub_error(err):
            raise
        return _fall_back(check, reference, what, args, kwargs)
    return learner


def checked_value(check: Callable[..., Any], value: Any, reference: T, what: str, *args: Any,
                  **kwargs: Any) -> Any:
    """The same for an answer that is a value (a number, a list, a config): the stub is ``...``.

    ``check(value, *args, **kwargs)`` and return ``value``; if ``value is ...``, print
    :func:`fallback_note`, check ``reference`` and return it.
    """
    if value is Ellipsis:
        return _fall_back(check, reference, what, args, kwargs)
    check(value, *args, **kwargs)
    return value
