"""Lab checkers, one module per subject (the subject names of ``relucourse.theory``)."""

from relucourse._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, globals())
