"""Frozen experiment configs with a stable fingerprint (the on-disk cache key).

A run is fully described by ``RunConfig(data, model, train)``; two equal configs always give the
same fingerprint, across processes and machines, so a cached result can be reused safely.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, and how much of it (``n_train=None`` keeps the whole training split)."""

    name: str = "mnist1d"
    n_train: int | None = None
    seed: int = 0  # data seed (which samples/subset), kept apart from the model seed


@dataclass(frozen=True)
class ModelConfig:
    """An MLP (or small CNN) architecture; ``depth`` counts hidden layers."""

    arch: str = "mlp"
    width: int = 64
    depth: int = 4
    activation: str = "relu"
    activation_kwargs: dict[str, Any] = field(default_factory=dict)
    init: str = "pytorch_default"
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    bias_init: float | None = 0.0  # None keeps PyTorch's default bias
    batchnorm: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule; ``seed`` seeds the model init and batch order."""

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 128
    steps: int = 1000
    eval_every: int = 50
    seed: int = 0


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def fingerprint(self) -> str:
        return fingerprint(self)

    def replace(self, **changes: Any) -> RunConfig:
        """Change nested fields with dotted names: ``cfg.replace(**{"model.depth": 10})``."""
        parts: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if section not in parts or not name:
                raise ValueError(f"use 'data.x', 'model.x' or 'train.x', not {key!r}")
            parts[section][name] = value
        return RunConfig(
            data=dataclasses.replace(self.data, **parts["data"]),
            model=dataclasses.replace(self.model, **parts["model"]),
            train=dataclasses.replace(self.train, **parts["train"]),
        )


def to_jsonable(obj: Any) -> Any:
    """Dataclasses/dicts/tuples to plain JSON types, with sorted keys for stability."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__,
                **{f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    raise TypeError(f"cannot fingerprint a {type(obj).__name__}: {obj!r}")


def fingerprint(*objs: Any) -> str:
    """A short SHA-256 of the objects' JSON form."""
    payload = json.dumps([to_jsonable(o) for o in objs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
