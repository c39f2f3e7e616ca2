"""Run a lab checker on the learner's answer, or on the course's reference while it is unwritten.

Why: the labs must run top to bottom in CI (nbval executes every cell), yet a learner who opens a
lab must not find the answer already written in the exercise cell. So an exercise cell holds a
stub (a function whose body is only ``raise NotImplementedError``, or ``value = ...``) and ends with

    my_sigmoid = lab.checked("my_sigmoid", my_sigmoid, checks.check_sigmoid)

where the lab's first cell made ``lab = rc.labs.exercise.Lab("02_sigmoid_lab", globals())``.
While the stub is unwritten, ``checked`` prints one ``[skipped]`` line saying so, checks the
reference instead (CI keeps verifying it) and returns it, so the later cells run on the reference.
Once the learner writes their own, it is checked and returned; a wrong answer raises the
checker's ``CheckFailed`` with its hint. Nothing falls back silently, and only the unchanged stub
falls back: code of the learner's that raises ``NotImplementedError`` is an error like any other.

The references come from the lab's single source, ``relucourse/labs/sources/<lab>.py``, the
solved lab from which ``relucourse.labs.build`` generates the learner notebook: ``Lab.reference``
runs the solution region of one exercise (see ``relucourse.labs.source``) in a copy of the
notebook's namespace, so it sees the lab's earlier variables (``DYING``, ``n_var_w``...) and cannot
change them. The source ships inside the package, so this works on Colab too.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any, TypeVar

from relucourse.labs.checks import CheckFailed
from relucourse.labs.source import LabSource, load

T = TypeVar("T")

SKIPPED = "[skipped]"


def _stub() -> None:
    raise NotImplementedError


_STUB_CODE: CodeType = _stub.__code__


def fallback_note(name: str) -> str:
    """The one line printed when an exercise still holds its stub."""
    return (f"{SKIPPED} {name}: not written yet, so the lab goes on with the course's reference "
            "solution. Write yours in this cell and rerun it.")


def is_stub(answer: Any) -> bool:
    """True if ``answer`` is a function whose body is only ``raise NotImplementedError``.

    Its bytecode is compared with such a function's, so a docstring, comments, the signature and
    default values do not matter, while any code of the learner's does, even code that raises
    ``NotImplementedError`` on some path.
    """
    code = getattr(answer, "__code__", None)
    return (isinstance(code, CodeType) and code.co_code == _STUB_CODE.co_code
            and code.co_names == _STUB_CODE.co_names)


def is_unwritten(answer: Any) -> bool:
    """The stub of a value (``...``) or of a function (:func:`is_stub`)."""
    return answer is Ellipsis or is_stub(answer)


def checked(check: Callable[..., Any], answer: T, name: str, get_reference: Callable[[], T],
            *args: Any, **kwargs: Any) -> T:
    """``check(answer, *args, **kwargs)`` and return ``answer``; if ``answer`` is still its stub,
    print :func:`fallback_note`, check ``get_reference()`` the same way and return it instead.

    A failed check raises ``CheckFailed`` with the checker's hint; so does a
    ``NotImplementedError`` that reaches this far from code that is not the stub.
    """
    if is_unwritten(answer):
        print(fallback_note(name))
        reference = get_reference()
        check(reference, *args, **kwargs)  # the reference must pass too: CI catches a broken one
        return reference
    try:
        check(answer, *args, **kwargs)
    except NotImplementedError as err:  # a checker that ran the learner's code without `call`
        raise CheckFailed(f"{name} raised NotImplementedError, but it is not the unwritten stub: "
                          "finish every path through your code.") from err
    return answer


class Lab:
    """One lab's reference solutions, for the exercises a learner has not written yet.

    ``namespace`` is the notebook's ``globals()``: references are run in a copy of it, taken when
    one is needed, so they see what the lab defined up to that cell.
    """

    def __init__(self, name: str, namespace: dict[str, Any]) -> None:
        self.name = name
        self.namespace = namespace
        self.source: LabSource = load(name)

    def reference(self, exercise: str) -> Any:
        """The reference answer of ``exercise``, run from the lab's source."""
        return self.source.exercise(exercise).run(dict(self.namespace))

    def checked(self, exercise: str, answer: T, check: Callable[..., Any], *args: Any,
                **kwargs: Any) -> T:
        """:func:`checked` with this lab's reference for ``exercise``."""
        self.source.exercise(exercise)  # an unknown name fails now, not only on fallback
        return checked(check, answer, exercise, lambda: self.reference(exercise), *args, **kwargs)
