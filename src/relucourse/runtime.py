"""The one place that decides *how* the course runs: device, seeds and fast/full mode.

Every notebook starts with ``rc.setup()`` (``session.setup``), which calls ``activate`` here and
prints what was chosen and why, so a reader never has to guess whether a number came from a 2-core
CI runner in fast mode or a GPU at full size. The runtime it activates is the source of truth:
``pick_device()``, ``current_mode()``, ``by_mode()`` and every experiment read it, an explicit
argument overrides it, and nothing else re-decides. Before any ``activate`` they fall back to the
environment variables. This module imports nothing from the rest of the package.

Environment variables (all optional):

* ``RELUCOURSE_FAST``: ``1`` = fast mode (small sizes, used by CI), ``0`` = full mode. Unset: full
  mode on a GPU, fast mode on a CPU-only machine (the banner says so).
* ``RELUCOURSE_DEVICE``: ``auto`` (default: cuda > mps > cpu), ``cuda``, ``mps`` or ``cpu``.
* ``RELUCOURSE_PROGRESS``: ``0`` hides progress bars (the test and build commands set it).
"""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

FAST_ENV = "RELUCOURSE_FAST"
DEVICE_ENV = "RELUCOURSE_DEVICE"
PROGRESS_ENV = "RELUCOURSE_PROGRESS"
VALID_DEVICES = ("auto", "cuda", "mps", "cpu")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

T = TypeVar("T")


def _parse_flag(name: str, default: bool | None) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not understood; use one of {_TRUE + _FALSE}")


def available_devices() -> list[str]:
    """Devices this machine can run on, best first."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``requested`` if given, else the active runtime's, else
    ``RELUCOURSE_DEVICE`` / auto (cuda > mps > cpu).

    An explicit request for a device that is absent raises instead of silently running elsewhere.
    """
    if requested is None and _ACTIVE is not None:
        return _ACTIVE.device
    return resolve_device(requested)


def resolve_device(requested: str | torch.device | None = None) -> torch.device:
    """Resolve a device name from the argument or ``RELUCOURSE_DEVICE`` (ignores the active runtime)."""
    if isinstance(requested, torch.device):
        requested = requested.type
    if requested is not None and not isinstance(requested, str):
        raise ValueError(f"device must be a string or torch.device, got {requested!r}; valid "
                         f"choices: {', '.join(VALID_DEVICES)}")
    name = (requested or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if name not in VALID_DEVICES:
        raise ValueError(f"unknown device {name!r}; valid choices: {', '.join(VALID_DEVICES)}")
    present = available_devices()
    if name == "auto":
        return torch.device(present[0])
    if name not in present:
        raise RuntimeError(
            f"device {name!r} was requested but is not available here; available: "
            f"{', '.join(present)} (or use 'auto')"
        )
    return torch.device(name)


@dataclass(frozen=True)
class Mode:
    """Whether the course runs at CI size (fast) or full size, and why."""

    fast: bool
    reason: str

    @property
    def name(self) -> str:
        return "fast" if self.fast else "full"


def current_mode(device: torch.device | None = None) -> Mode:
    """The active runtime's mode; without one (or for an explicit ``device``), read
    ``RELUCOURSE_FAST``: unset means full size on a GPU and fast size on a CPU."""
    if device is None and _ACTIVE is not None:
        return _ACTIVE.mode
    flag = _parse_flag(FAST_ENV, None)
    if flag is not None:
        return Mode(flag, f"{FAST_ENV}={os.environ[FAST_ENV]}")
    device = device or pick_device()
    if device.type == "cpu":
        return Mode(True, f"auto: no GPU found; set {FAST_ENV}=0 for full size")
    return Mode(False, f"auto: running on {device.type}; set {FAST_ENV}=1 for fast mode")


def is_fast() -> bool:
    return current_mode().fast


def by_mode(fast: T, full: T) -> T:
    """Pick a size for the current mode: ``steps = by_mode(300, 5000)``."""
    return fast if is_fast() else full


_PROGRESS_OFF = 0  # > 0 inside ``no_progress()`` blocks


def show_progress() -> bool:
    """Progress bars are on unless ``RELUCOURSE_PROGRESS=0`` (headless CI and site builds) or
    inside a ``no_progress()`` block."""
    return _PROGRESS_OFF == 0 and bool(_parse_flag(PROGRESS_ENV, True))


@contextmanager
def no_progress() -> Iterator[None]:
    """No progress bars inside the block: a tqdm bar drawn inside a widget's output (an explorer
    redrawing) is closed before JupyterLab renders it and shows "Error displaying widget"."""
    global _PROGRESS_OFF
    _PROGRESS_OFF += 1
    try:
        yield
    finally:
        _PROGRESS_OFF -= 1


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class Runtime:
    """What ``setup`` chose; notebooks keep it as ``rt`` and pass ``rt.device`` along."""

    device: torch.device
    mode: Mode
    seed: int

    @property
    def fast(self) -> bool:
        return self.mode.fast

    def banner(self) -> str:
        from relucourse import __version__

        return (
            f"relucourse {__version__} | mode: {self.mode.name} ({self.mode.reason}) | "
            f"device: {self.device.type} | torch {torch.__version__} | "
            f"python {platform.python_version()} | seed {self.seed}"
        )


_ACTIVE: Runtime | None = None


def activate(seed: int = 0, device: str | torch.device | None = None) -> Runtime:
    """Choose device and mode, seed everything, and make this the runtime everything reads."""
    global _ACTIVE
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    chosen = resolve_device(device)
    _ACTIVE = None  # the mode below is decided for the chosen device, not a previous runtime's
    rt = Runtime(device=chosen, mode=current_mode(chosen), seed=seed)
    seed_everything(seed)
    _ACTIVE = rt
    return rt


def active() -> Runtime | None:
    """The runtime ``activate`` (``rc.setup``) set, or None before any."""
    return _ACTIVE


def deactivate() -> None:
    """Forget the active runtime (tests use it); the environment decides again."""
    global _ACTIVE
    _ACTIVE = None
