"""Lazy submodule access for the package and its subpackages (PEP 562).

``rc.plots`` or ``rc.theory.saturation`` imports that module on first use, so ``import relucourse``
stays fast and changes no global state.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


def submodule_getattr(package: str, namespace: dict[str, Any]) -> Callable[[str], ModuleType]:
    """A module-level ``__getattr__`` that imports ``<package>.<name>`` on first access."""

    def __getattr__(name: str) -> ModuleType:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            module = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute or submodule {name!r}") from None
        namespace[name] = module
        return module

    return __getattr__
