"""The book side of the course: notebook helpers, the explorer widgets and the quizzes.

Submodules load on first use (``rc.book.quiz``, ``rc.book.notebooks``), as in ``relucourse`` itself,
so ``import relucourse`` stays fast and imports nothing a chapter does not use.
"""

from relucourse._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, globals())
