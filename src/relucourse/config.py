"""Frozen experiment configs with a stable fingerprint (the on-disk cache key).

A run is fully described by ``RunConfig(data, model, train)``; two equal configs always give the
same fingerprint, across processes and machines, so a cached result can be reused safely.

Every config is validated when it is built (``__post_init__``), so a bad value fails at the line
that wrote it, not minutes later inside the loop (``batch_size=-1`` once made the loop spin forever).
Each refusal is a ``ValueError`` naming the dotted field, the value and what is valid, e.g.
``train.batch_size=-1 is invalid: must be an int >= 1``. The rules are listed in CONTRIBUTING.md
("What is validated"). Validation only reads values: fingerprints of valid configs are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The optimisers ``train.make_optimizer`` builds; extend both together.
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop")
# Learning-rate schedules ``train.make_scheduler`` builds.
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "step")
# Fields added after the first release carry this metadata: at their default they are left out of
# the fingerprint, so configs that do not use them keep their old fingerprints (and cache hits).
ADDED = {"omit_default": True}
# Seeds feed random.seed, np.random.seed (mod 2**32) and torch.manual_seed: in [0, 2**32) every
# seed is a distinct stream in all three (negative or larger seeds alias other seeds).
SEED_LIMIT = 2**32


def _refuse(name: str, value: Any, rule: str) -> ValueError:
    return ValueError(f"{name}={value!r} is invalid: {rule}")


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but True as a width or seed is always a mistake.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    # Exactly the number types ``to_jsonable`` can fingerprint (np.float64 is a float subclass).
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    """An int in [lo, hi) (or >= lo when hi is None)."""
    rule = f"must be an int >= {lo}" if hi is None else f"must be an int in [{lo}, {hi})"
    if not _is_int(value):
        raise _refuse(name, value, f"{rule} (got {type(value).__name__})")
    if value < lo or (hi is not None and value >= hi):
        raise _refuse(name, value, rule)


def _check_real(name: str, value: Any, lo: float | None = None, lo_open: bool = False,
                hi: float | None = None) -> None:
    """A finite int or float, > lo (lo_open) or >= lo when lo is given, and < hi when hi is."""
    rule = "must be a finite number"
    if lo is not None:
        rule += f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        rule += f"{' and' if lo is not None else ''} < {hi:g}"
    if not _is_real(value):
        raise _refuse(name, value, f"{rule} (got {type(value).__name__})")
    if (not math.isfinite(value) or (lo is not None and (value < lo or (lo_open and value == lo)))
            or (hi is not None and value >= hi)):
        raise _refuse(name, value, rule)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise _refuse(name, value, f"must be one of {', '.join(choices)}")


def _check_options(name: str, value: Any) -> None:
    """A dict with str keys whose values can be fingerprinted (JSON-like)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _refuse(name, value, "must be a dict with str keys")
    try:
        to_jsonable(value)
    except TypeError as err:
        raise _refuse(name, value, f"values must be JSON-like (numbers, str, bool, None, lists, "
                                   f"dicts): {err}") from None


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, and how much of it (``n_train=None`` keeps the whole training split)."""

    name: str = "mnist1d"
    n_train: int | None = None
    seed: int = 0  # data seed (which samples/subset), kept apart from the model seed
    # Held out of the training split for choosing hyper-parameters (experiments.tune).
    val_fraction: float = field(default=0.0, metadata=ADDED)

    def __post_init__(self) -> None:
        from relucourse.data import DATASETS

        _check_choice("data.name", self.name, DATASETS)
        if self.n_train is not None:  # the upper bound depends on the dataset: checked at load
            _check_int("data.n_train", self.n_train, 1)
        _check_int("data.seed", self.seed, 0, SEED_LIMIT)
        _check_real("data.val_fraction", self.val_fraction, 0.0, hi=0.5)


def _check_activation_kwargs(activation: str, kwargs: dict[str, Any]) -> None:
    """Option names the activation's factory accepts, read from its signature (nothing is built).

    A module class's ``**kwargs`` (``nn.Tanh``, ``nn.Identity``) takes no real option, so it counts
    as none; a plain function's ``**kwargs`` accepts anything.
    """
    from relucourse.activations import get_spec

    if "inplace" in kwargs:  # hooks must see true post-activation values (activations.py)
        raise _refuse("model.activation_kwargs", kwargs,
                      "activations are never in place; drop 'inplace'")
    factory = get_spec(activation).factory
    params = inspect.signature(factory).parameters.values()
    if not isinstance(factory, type) and any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name != "inplace"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise _refuse("model.activation_kwargs", kwargs,
                      f"{activation!r} takes no option {', '.join(map(repr, unknown))}; its "
                      f"options: {', '.join(accepted) or 'none'}")


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
    # MLP only: LayerNorm as the blocks' norm, and identity shortcuts x + block(x) (models.MLP).
    layernorm: bool = field(default=False, metadata=ADDED)
    residual: bool = field(default=False, metadata=ADDED)
    # CNN only: the convolutions' (odd) kernel size, and how the last feature map reaches the head.
    kernel_size: int = field(default=3, metadata=ADDED)
    readout: str = field(default="avgpool", metadata=ADDED)

    def __post_init__(self) -> None:
        # Imported here so that importing config stays light (and models can import config).
        from relucourse.activations import activation_names
        from relucourse.init import INIT_SCHEMES
        from relucourse.models import ARCHITECTURES, READOUTS

        _check_choice("model.arch", self.arch, ARCHITECTURES)
        _check_int("model.width", self.width, 1)
        _check_int("model.depth", self.depth, 1)
        _check_choice("model.activation", self.activation, activation_names())
        _check_options("model.activation_kwargs", self.activation_kwargs)
        _check_activation_kwargs(self.activation, self.activation_kwargs)
        _check_choice("model.init", self.init, INIT_SCHEMES)
        _check_options("model.init_kwargs", self.init_kwargs)
        if self.bias_init is not None:
            _check_real("model.bias_init", self.bias_init)
        if not isinstance(self.batchnorm, bool):
            raise _refuse("model.batchnorm", self.batchnorm, "must be True or False")
        for name in ("layernorm", "residual"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise _refuse(f"model.{name}", value, "must be True or False")
            if value and self.arch != "mlp":
                raise _refuse(f"model.{name}", value, "an MLP option (arch='mlp')")
        if self.layernorm and self.batchnorm:
            raise _refuse("model.layernorm", self.layernorm,
                          "choose one normalisation: batchnorm or layernorm, not both")
        _check_int("model.kernel_size", self.kernel_size, 1)
        if self.kernel_size % 2 == 0:
            raise _refuse("model.kernel_size", self.kernel_size,
                          "must be odd (the convolutions are same-padded)")
        _check_choice("model.readout", self.readout, READOUTS)
        if self.arch != "cnn" and (self.kernel_size != 3 or self.readout != "avgpool"):
            name, value = (("model.kernel_size", self.kernel_size) if self.kernel_size != 3
                           else ("model.readout", self.readout))
            raise _refuse(name, value, "a CNN option (arch='cnn')")


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
    nesterov: bool = field(default=False, metadata=ADDED)  # SGD with momentum only
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata=ADDED)  # Adam
    alpha: float = field(default=0.99, metadata=ADDED)  # RMSprop's squared-gradient decay
    schedule: str = field(default="constant", metadata=ADDED)  # or cosine (to 0), step
    step_size: int | None = field(default=None, metadata=ADDED)  # schedule="step": every k steps
    gamma: float = field(default=0.1, metadata=ADDED)  # schedule="step": lr *= gamma
    clip_norm: float | None = field(default=None, metadata=ADDED)  # clip the gradient's norm

    def __post_init__(self) -> None:
        _check_choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _check_real("train.lr", self.lr, 0.0, lo_open=True)
        # momentum >= 1 never forgets a gradient: the velocity grows without bound.
        _check_real("train.momentum", self.momentum, 0.0, hi=1.0)
        _check_real("train.weight_decay", self.weight_decay, 0.0)
        _check_int("train.batch_size", self.batch_size, 1)
        _check_int("train.steps", self.steps, 1)
        _check_int("train.eval_every", self.eval_every, 1)
        _check_int("train.seed", self.seed, 0, SEED_LIMIT)
        if self.optimizer == "adam" and self.momentum != 0:  # Adam would silently ignore it
            raise _refuse("train.momentum", self.momentum,
                          "momentum is an SGD/RMSprop setting; use 0.0 with optimizer 'adam' "
                          "(its betas play that role)")
        if not isinstance(self.nesterov, bool):
            raise _refuse("train.nesterov", self.nesterov, "must be True or False")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise _refuse("train.nesterov", self.nesterov,
                          "Nesterov momentum needs optimizer='sgd' and momentum > 0")
        if (not isinstance(self.betas, tuple | list) or len(self.betas) != 2
                or not all(_is_real(b) and 0.0 <= b < 1.0 for b in self.betas)):
            raise _refuse("train.betas", self.betas, "must be two numbers in [0, 1)")
        if self.optimizer != "adam" and tuple(self.betas) != (0.9, 0.999):
            raise _refuse("train.betas", self.betas, "betas are an Adam setting")
        _check_real("train.alpha", self.alpha, 0.0, hi=1.0)
        if self.optimizer != "rmsprop" and self.alpha != 0.99:
            raise _refuse("train.alpha", self.alpha, "alpha is an RMSprop setting")
        _check_choice("train.schedule", self.schedule, SCHEDULES)
        if self.schedule == "step":
            if self.step_size is None:
                raise _refuse("train.step_size", None, "schedule='step' needs a step_size >= 1")
            _check_int("train.step_size", self.step_size, 1)
        elif self.step_size is not None:
            raise _refuse("train.step_size", self.step_size, "only used with schedule='step'")
        _check_real("train.gamma", self.gamma, 0.0, lo_open=True, hi=1.0 + 1e-12)
        if self.clip_norm is not None:
            _check_real("train.clip_norm", self.clip_norm, 0.0, lo_open=True)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for name, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise _refuse(name, value, f"must be a {cls.__name__}")
        if self.model.batchnorm and self.model.arch == "mlp":
            # BatchNorm1d normalises over the batch: one sample per batch has no variance.
            rule = "BatchNorm in an MLP needs at least 2 samples per batch"
            if self.train.batch_size < 2:
                raise _refuse("train.batch_size", self.train.batch_size, rule)
            if self.data.n_train is not None and self.data.n_train < 2:
                raise _refuse("data.n_train", self.data.n_train, rule)

    def fingerprint(self) -> str:
        return fingerprint(self)

    def replace(self, **changes: Any) -> RunConfig:
        """Change nested fields with dotted names: ``cfg.replace(**{"model.depth": 10})``."""
        parts: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if section not in parts or not name:
                raise ValueError(f"use 'data.x', 'model.x' or 'train.x', not {key!r}")
            names = [f.name for f in dataclasses.fields(getattr(self, section))]
            if name not in names:
                raise ValueError(f"unknown field {key!r}; {section} fields: {', '.join(names)}")
            parts[section][name] = value
        return RunConfig(
            data=dataclasses.replace(self.data, **parts["data"]),
            model=dataclasses.replace(self.model, **parts["model"]),
            train=dataclasses.replace(self.train, **parts["train"]),
        )


def _omitted(f: dataclasses.Field, value: Any) -> bool:
    """A field added later (``ADDED``) that still has its default is left out of the JSON form."""
    return bool(f.metadata.get("omit_default")) and value == f.default


def to_jsonable(obj: Any) -> Any:
    """Dataclasses/dicts/tuples to plain JSON types, with sorted keys for stability."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__,
                **{f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                   if not _omitted(f, getattr(obj, f.name))}}
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
