"""The book side of the course: notebook helpers, the explorer widgets and the quizzes.

Submodules load on first use (``rc.book.quiz``, ``rc.book.notebooks``), as in ``relucourse`` itself,
so ``import relucourse`` stays fast and imports nothing a chapter does not use.
"""

import importlib


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = module
    return module
