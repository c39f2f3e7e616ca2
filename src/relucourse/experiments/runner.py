"""The one experiment path: ``fit`` seeds, builds and trains; ``run`` and ``sweep`` cache it.

``fit(cfg, probes=...)`` returns ``(model, record)`` and is the only place in the package that
seeds, builds and trains a model, so every chapter's numbers come from one code path. Models that
are only measured at initialisation (never trained) are built by ``init_model``, the first half of
``fit``. ``run`` is ``fit`` behind the on-disk cache (``experiments.cache``) and returns just the
record; ``sweep`` runs each config once per seed, through ``run`` (``engine="loop"``) or the batched
engine (``engine="batched"``, ``experiments.batched``), which yields the same records; it lives in
``experiments.sweeps`` so that the batched engine can build on this module without an import cycle.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from relucourse.config import ModelConfig, RunConfig, TrainConfig
from relucourse.data import Dataset, load_dataset
from relucourse.experiments import cache
from relucourse.models import build_model
from relucourse.records import Record
from relucourse.runtime import pick_device, seed_everything
from relucourse.train import Callback, train

# A sweep's probes: one list used (copied) for every run, or a factory called with each label.
ProbeSpec = Sequence[Callback] | Callable[[str], Sequence[Callback]]

def load_data(cfg: RunConfig, device: torch.device) -> Dataset:
    """The dataset ``cfg.data`` describes, on ``device``."""
    return load_dataset(cfg.data.name, device=device, n_train=cfg.data.n_train, seed=cfg.data.seed,
                        val_fraction=cfg.data.val_fraction)


def init_model(model: ModelConfig, in_features: int, num_classes: int, seed: int,
               input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Seed, then build the model ``model`` describes: the initial state ``fit`` trains from."""
    seed_everything(seed)
    return build_model(model, in_features, num_classes, input_shape=input_shape)


def training_step(model: ModelConfig, in_features: int, num_classes: int, batch_size: int,
                  train: TrainConfig, input_shape: tuple[int, ...] | None = None,
                  device: str | torch.device = "cpu", seed: int = 0) -> Callable[[], None]:
    """A closure running one training step (forward, cross-entropy, backward, optimiser step) of
    the model ``model`` describes, built by ``init_model`` and stepped by ``train``'s optimiser, on
    a fixed random batch (inputs N(0, 1), random labels). For timing what a step costs: the
    chapters compare activations by it (chapter 2's cost section, chapters 6 and 7)."""
    from relucourse.train import make_optimizer

    net = init_model(model, in_features, num_classes, seed, input_shape=input_shape).to(device)
    optimizer = make_optimizer(net, train)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, in_features, generator=g).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        optimizer.step()

    return step


def fit(cfg: RunConfig, probes: Sequence[Callback] = (), device: str | torch.device | None = None,
        label: str = "", data: Dataset | None = None,
        progress: bool | None = None) -> tuple[nn.Module, Record]:
    """Seed, build and train the model ``cfg`` describes; returns the trained model and its record.

    ``data`` may be passed to reuse a dataset already on the device (it must be the one
    ``cfg.data`` describes); by default it is loaded from ``cfg.data``. ``progress`` overrides
    ``RELUCOURSE_PROGRESS`` for this run's progress bar.
    """
    dev = pick_device(device) if data is None else data.device
    data = data if data is not None else load_data(cfg, dev)
    model = init_model(cfg.model, data.n_features, data.num_classes, cfg.train.seed,
                       input_shape=data.input_shape)
    record = train(model, data, cfg.train, callbacks=probes, label=label, progress=progress)
    record.activation = cfg.model.activation
    return model, record


def run(cfg: RunConfig, probes: Sequence[Callback] = (), device: str | torch.device | None = None,
        label: str = "", use_cache: bool = True) -> Record:
    """``fit``'s record, or the cached record of the very same run (config, probes, source)."""
    dev = pick_device(device)
    folder = cache.cache_dir() if use_cache else None
    key = cache.cache_key(cfg, probes, dev) if folder is not None else ""
    if folder is not None:
        cache.ensure_writable(folder)
        if (cached := cache.load(folder, key)) is not None:
            cached.label = label or cached.label
            return cached
    _, record = fit(cfg, probes, dev, label)
    if folder is not None:
        cache.store(folder, key, cfg, record)
    return record


def probes_for(spec: ProbeSpec | None, label: str) -> list[Callback]:
    """Fresh probes for one run of a sweep (so no state is shared between runs)."""
    if spec is None:
        return []
    if callable(spec):
        return list(spec(label))
    return [copy.deepcopy(p) for p in spec]
