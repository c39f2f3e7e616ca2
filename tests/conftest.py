"""Shared pytest fixtures: small, generic and CPU-only, so every test file can use them.

* ``tiny_dataset``: a linearly separable 3-class problem (8 features) as a ``data.Dataset``.
* ``quiet``: progress bars off and the experiments cache in a temporary folder.
* ``agg``: the non-interactive matplotlib backend for one test, with rcParams restored afterwards
  (never set ``MPLBACKEND`` globally: figures would vanish from the built book).
* ``repo_root``: the repository root (for tests that read ``_toc.yml``, notebooks...).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from relucourse.data import Dataset

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_tiny_dataset(n_train: int = 96, n_test: int = 48, features: int = 8, classes: int = 3,
                      seed: int = 0) -> Dataset:
    """Gaussian blobs around well-separated class centres: any MLP should reach ~100% quickly."""
    g = torch.Generator().manual_seed(seed)
    centres = 4.0 * torch.eye(classes, features)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % classes
        x = centres[y] + 0.5 * torch.randn(n, features, generator=g)
        return x.float(), y.long()

    x_tr, y_tr = split(n_train)
    x_te, y_te = split(n_test)
    return Dataset("tiny", x_tr, y_tr, x_te, y_te, classes)


@pytest.fixture
def tiny_dataset() -> Dataset:
    """96 train / 48 test samples, 8 features, 3 separable classes, on the CPU."""
    return make_tiny_dataset()


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No progress bars; ``RELUCOURSE_CACHE`` points at a fresh temporary folder (returned)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    monkeypatch.setenv("RELUCOURSE_CACHE", str(cache))
    return cache


@pytest.fixture
def agg() -> Iterator[None]:
    """Draw with the Agg backend inside one test; close figures and restore rcParams after."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    previous = plt.get_backend()
    plt.switch_backend("Agg")
    with mpl.rc_context():
        yield
    plt.close("all")
    plt.switch_backend(previous)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True)
def _no_active_runtime() -> Iterator[None]:
    """Every test starts and ends without an active runtime (``rc.setup`` sets one), so a test's
    device and mode come from its own environment, never from the test before it."""
    from relucourse import runtime

    runtime.deactivate()
    yield
    runtime.deactivate()
