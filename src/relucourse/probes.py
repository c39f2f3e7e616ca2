"""Look inside a network: forward hooks for activations, per-layer gradient norms, dead units.

Hooks are temporary (TransformerLens style): ``capture`` registers them for the ``with`` block and
removes them in ``finally``, even if the forward pass raises. Targets are chosen by name suffix
(``"act"`` matches ``blocks.0.act``, ``blocks.1.act``...), by a list of exact names, or by a predicate
on (name, module).

During training, probes are ``train.Callback`` objects that append typed rows to the record
(``records.LayerStat``, ``UnitCheck``, ``ZeroStat``): ``LayerStats`` (Glorot & Bengio's Figure 2,
chapter 2), ``DeadUnits`` (chapter 3), ``ZeroFractions`` (chapter 4) and the
``L1ActivationPenalty`` regulariser (chapter 3). Every probe is a dataclass whose fields are its
parameters, and ``key()`` (class name + parameters) is what the result cache uses, so a probe
defined in a notebook caches as well as a package one: subclass ``Probe`` as a ``@dataclass``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relucourse import stats
from relucourse.records import LayerStat, UnitCheck, ZeroStat
from relucourse.train import Callback, TrainState

Target = str | Iterable[str] | Callable[[str, nn.Module], bool]


def select_modules(model: nn.Module, target: Target = "act") -> dict[str, nn.Module]:
    """Named submodules matching ``target``, in forward order; errors list what exists."""
    named = dict(model.named_modules())
    if isinstance(target, str):
        chosen = {n: m for n, m in named.items() if n == target or n.endswith("." + target)}
    elif callable(target):
        chosen = {n: m for n, m in named.items() if n and target(n, m)}
    else:
        wanted = list(target)
        unknown = [n for n in wanted if n not in named]
        if unknown:
            raise ValueError(f"no module named {unknown[0]!r}; names: {', '.join(n for n in named if n)}")
        chosen = {n: named[n] for n in wanted}
    if not chosen:
        raise ValueError(f"no module matches {target!r}; names: {', '.join(n for n in named if n)}")
    return chosen


@contextmanager
def capture(model: nn.Module, target: Target = "act",
            keep_grad: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the targeted modules during forward passes inside the block.

    The dict maps module name -> output of the most recent call (detached unless ``keep_grad``).
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            outputs[name] = output if keep_grad else output.detach()

        return hook

    try:
        for name, module in select_modules(model, target).items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor, target: Target = "act",
                batch_size: int = 4096) -> dict[str, torch.Tensor]:
    """All targeted layers' outputs on ``x`` (concatenated over batches), in eval mode."""
    was_training = model.training
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    try:
        with capture(model, target) as out:
            for start in range(0, len(x), batch_size):
                model(x[start : start + batch_size])
                for name, value in out.items():
                    chunks.setdefault(name, []).append(value)
    finally:
        model.train(was_training)
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def layer_stats(model: nn.Module, x: torch.Tensor, target: Target = "act",
                step: int = 0) -> list[LayerStat]:
    """Per targeted layer: mean, std, exact-zero fraction and second moment of its outputs on ``x``."""
    return [LayerStat(step=step, layer=name, **stats.summarize(a))
            for name, a in activations(model, x, target).items()]


def dead_units(model: nn.Module, x: torch.Tensor, target: Target = "act") -> dict[str, torch.Tensor]:
    """Per layer, a boolean mask of units that output exactly zero on every row of ``x``."""
    return {name: stats.dead_unit_mask(a) for name, a in activations(model, x, target).items()}


def dead_fraction(model: nn.Module, x: torch.Tensor, target: Target = "act") -> float:
    """Fraction of all targeted units that are dead on ``x``."""
    masks = dead_units(model, x, target)
    total = sum(m.numel() for m in masks.values())
    return sum(int(m.sum()) for m in masks.values()) / max(total, 1)


def gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   target: Target = "linear") -> dict[str, float]:
    """L2 norm of dLoss/dW for each targeted layer's weight, from one cross-entropy backward."""
    modules = select_modules(model, target)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    norms = {name: m.weight.grad.norm().item() for name, m in modules.items()
             if getattr(m, "weight", None) is not None and m.weight.grad is not None}
    model.zero_grad(set_to_none=True)
    return norms


class Probe(Callback):
    """A training callback with a stable cache key. Subclass it as a ``@dataclass``: the fields are
    the probe's parameters, and ``key()`` is the class's qualified name with them."""

    def key(self) -> dict[str, Any]:
        if not dataclasses.is_dataclass(self):
            raise TypeError(f"{type(self).__qualname__} must be a @dataclass so that its parameters "
                            "form its cache key (or override key())")
        params = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return {"probe": f"{type(self).__module__}.{type(self).__qualname__}", "params": params}


@dataclass
class LayerStats(Probe):
    """Every ``every`` steps (and at step 0), each targeted layer's activation statistics on the
    first ``n_probe`` training samples (``records.LayerStat``; ``per_unit_dead`` adds each layer's
    dead fraction on that batch and, for the ``act`` layers of ``models.MLP``, the fraction of
    units whose pre-activation is negative on all of it, as ``unit_checks`` defines them)."""

    every: int = 50
    n_probe: int = 512
    target: str = "act"
    per_unit_dead: bool = False

    def _record(self, state: TrainState) -> None:
        x = state.data.x_train[: self.n_probe]
        wanted = self.target == "act" and self.per_unit_dead
        outs = activations(state.model, x, lambda n, _m: n.endswith((".act", ".norm"))) \
            if wanted else activations(state.model, x, self.target)
        for name, a in outs.items():
            if wanted and not name.endswith(".act"):
                continue
            dead = stats.dead_fraction(a) if self.per_unit_dead else None
            negative = None
            norm = f"{name.rsplit('.', 1)[0]}.norm"  # what the activation receives
            if wanted and norm in outs:
                negative = (_columns(outs[norm]) < 0).all(dim=0).double().mean().item()
            state.result.layer_stats.append(
                LayerStat(step=state.step, layer=name, dead_frac=dead, negative_frac=negative,
                          **stats.summarize(a)))

    def on_train_start(self, state: TrainState) -> None:
        self._record(state)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0:
            self._record(state)


def _columns(t: torch.Tensor) -> torch.Tensor:
    """(N, units, ...) -> (N', units): spatial positions of a conv layer count as samples."""
    return t if t.dim() == 2 else t.transpose(0, 1).flatten(1).T


def unit_checks(model: nn.Module, x: torch.Tensor, step: int = 0) -> list[UnitCheck]:
    """Per hidden layer: exact-zero fraction, dead units, negative-everywhere units and each unit's
    largest pre-activation over ``x`` (a ReLU unit is dead exactly when that maximum is <= 0).

    Layers are the ``blocks.i`` of ``models.MLP``; pre-activations are read after ``norm`` (an
    Identity without BatchNorm), so they are what ``act`` receives. One forward pass in eval mode.
    """
    outs = activations(model, x, lambda n, _m: n.endswith((".act", ".norm")))
    checks = []
    for name, a in outs.items():
        if not name.endswith(".act"):
            continue
        layer = name.rsplit(".", 1)[0]
        pre = _columns(outs[f"{layer}.norm"])
        checks.append(UnitCheck(
            step=step, layer=layer, units=int(pre.shape[1]), zero_frac=stats.zero_fraction(a),
            dead=tuple(stats.dead_unit_mask(a).nonzero().flatten().tolist()),
            negative=tuple((pre < 0).all(dim=0).nonzero().flatten().tolist()),
            max_pre=tuple(round(v, 6) for v in pre.max(dim=0).values.tolist())))
    return checks


@dataclass
class DeadUnits(Probe):
    """Every ``every`` steps (and at step 0 and the last step), ``unit_checks`` on the first
    ``n_probe`` training samples (None = the whole training set, the definition of "dead").
    Per-unit records let chapter 3 follow one unit from death to the end of training."""

    every: int = 50
    n_probe: int | None = None

    def _record(self, state: TrainState) -> None:
        x = state.data.x_train if self.n_probe is None else state.data.x_train[: self.n_probe]
        state.result.units.extend(unit_checks(state.model, x, state.step))

    def on_train_start(self, state: TrainState) -> None:
        self._record(state)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == state.config.steps:
            self._record(state)


@dataclass
class ZeroFractions(Probe):
    """At the end of training, each hidden layer's exact-zero and near-zero (|a| < ``eps``)
    fractions on the first ``n_probe`` training samples, in eval mode (``records.ZeroStat``)."""

    n_probe: int = 1000
    eps: float = 1e-2
    target: str = "act"

    def on_train_end(self, state: TrainState) -> None:
        x = state.data.x_train[: self.n_probe]
        state.result.zeros.extend(
            ZeroStat(layer=name, zero_frac=stats.zero_fraction(a),
                     near_zero_frac=stats.near_zero_fraction(a, self.eps))
            for name, a in activations(state.model, x, self.target).items())


@dataclass
class L1ActivationPenalty(Probe):
    """Add ``strength * sum_l mean|a_l|`` to the loss, a_l = output of hidden layer l.

    The mean is over the batch and the layer's units, so ``strength`` does not depend on width.
    Glorot, Bordes & Bengio (2011) use an L1 penalty on activations to encourage sparsity. The
    activations are recorded by forward hooks (``capture(keep_grad=True)``) that live from
    ``on_train_start`` to ``on_train_end``; ``close()`` removes them early if training stops.
    """

    strength: float = 0.0
    target: str = "act"
    _stack: contextlib.ExitStack | None = field(default=None, init=False, repr=False, compare=False)
    _outputs: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False,
                                              compare=False)

    def __post_init__(self) -> None:
        if not self.strength >= 0:
            raise ValueError(f"strength must be >= 0, got {self.strength}")
        self.strength = float(self.strength)

    def on_train_start(self, state: TrainState) -> None:
        self.close()
        self._stack = contextlib.ExitStack()
        self._outputs = self._stack.enter_context(capture(state.model, self.target, keep_grad=True))

    def regularizer(self, state: TrainState, x: torch.Tensor) -> torch.Tensor | None:
        if self.strength == 0.0 or not self._outputs:
            return None
        return self.strength * sum(a.abs().mean() for a in self._outputs.values())

    def on_train_end(self, state: TrainState) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks (idempotent)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self._outputs = {}
