"""relucourse: the shared package behind the course "Why ReLU replaced sigmoid".

Notebooks import it as ``import relucourse as rc`` and start with ``rt = rc.setup()``, which sets
the active runtime (device, fast/full mode, seed) that everything else reads. Importing changes no
global state. Submodules load on first use (``rc.plots``, ``rc.theory.saturation``...).

Layout (imports flow one way, top to bottom):

* core: ``runtime``, ``config``, ``activations``, ``init``, ``data``, ``models``, ``records``,
  ``train``, ``probes``, ``stats``, ``timing``, ``plots``, ``session`` (``setup``);
* ``experiments``: ``fit`` (the one path that seeds, builds and trains), ``run`` / ``sweep``
  (cached), the result ``cache`` and the ``batched`` engine;
* ``theory``: closed forms and at-init measurements per subject (``saturation``, ``dead_relu``,
  ``softplus``, ``kaiming``);
* ``labs``: the lab ``exercise`` helpers and ``checks.<subject>``;
* ``book``: ``quiz``, ``explorer``, ``notebooks`` (authoring checks).
"""

from __future__ import annotations

from relucourse._lazy import submodule_getattr
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.runtime import by_mode, pick_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "by_mode", "fit", "pick_device", "run",
    "seed_everything", "setup", "sweep", "tune",
]

_LAZY_NAMES = {"setup": ("relucourse.session", "setup"), "fit": ("relucourse.experiments", "fit"),
               "run": ("relucourse.experiments", "run"), "sweep": ("relucourse.experiments", "sweep"),
               "tune": ("relucourse.experiments", "tune")}
_submodule = submodule_getattr(__name__, globals())


def __getattr__(name: str) -> object:
    """``rc.setup`` / ``rc.fit`` / ``rc.run`` / ``rc.sweep`` / ``rc.tune``, and submodules."""
    if name in _LAZY_NAMES:
        import importlib

        module, attr = _LAZY_NAMES[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    return _submodule(name)
