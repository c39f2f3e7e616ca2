"""relucourse: the shared package behind the course "Why ReLU replaced sigmoid".

Notebooks import it as ``import relucourse as rc`` and start with ``rt = rc.setup()``.
Importing changes no global state: ``setup`` is what seeds and applies the plot style.
Submodules load on first use (``rc.plots``, ``rc.instrument``...), so importing stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.runtime import by_mode, pick_device, seed_everything, setup

__version__ = "0.1.0"

__all__ = [
    "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "by_mode", "pick_device",
    "seed_everything", "setup",
]


def __getattr__(name: str) -> Any:
    """Import ``relucourse.<name>`` on first access (PEP 562), e.g. ``rc.plots``."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"relucourse.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"relucourse.{name}":
            raise
        raise AttributeError(f"module 'relucourse' has no attribute or submodule {name!r}") from None
    globals()[name] = module
    return module
