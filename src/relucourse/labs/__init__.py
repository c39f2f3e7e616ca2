"""What the labs need beyond the chapters' modules: ``exercise`` (stubs that fall back to a checked
reference) and ``checks.<subject>`` (friendly checkers of the learner's answers)."""

from relucourse._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, globals())
