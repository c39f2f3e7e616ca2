"""Look inside a network: forward hooks for activations, per-layer gradient norms, dead units.

Hooks are temporary (TransformerLens style): ``capture`` registers them for the ``with`` block and
removes them in ``finally``, even if the forward pass raises. Targets are chosen by name suffix
(``"act"`` matches ``blocks.0.act``, ``blocks.1.act``...), by a list of exact names, or by a predicate
on (name, module). Also usable during training through ``LayerStatsProbe`` (a train Callback).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relucourse import stats
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


def layer_stats(model: nn.Module, x: torch.Tensor, target: Target = "act") -> list[dict[str, Any]]:
    """Per targeted layer: name, mean, std, exact-zero fraction, second moment."""
    return [{"layer": name, **stats.summarize(a)} for name, a in activations(model, x, target).items()]


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


class LayerStatsProbe(Callback):
    """Every ``every`` steps, record per-layer activation stats on a fixed probe batch.

    Writes ``result.extras["layer_stats"]``: a list of {"step", "layer", "mean", "std", ...}.
    Pass ``per_unit_dead=True`` to also record each layer's dead fraction on that batch.
    """

    def __init__(self, every: int = 50, n_probe: int = 512, target: str = "act",
                 per_unit_dead: bool = False) -> None:
        self.every, self.n_probe, self.target = every, n_probe, target
        self.per_unit_dead = per_unit_dead

    def __repr__(self) -> str:  # part of the cache key in experiments.run
        return (f"LayerStatsProbe(every={self.every}, n_probe={self.n_probe}, "
                f"target={self.target!r}, per_unit_dead={self.per_unit_dead})")

    def _record(self, state: TrainState) -> None:
        x = state.data.x_train[: self.n_probe]
        rows = state.result.extras.setdefault("layer_stats", [])
        for name, a in activations(state.model, x, self.target).items():
            row = {"step": state.step, "layer": name, **stats.summarize(a)}
            if self.per_unit_dead:
                row["dead_frac"] = stats.dead_fraction(a)
            rows.append(row)

    def on_train_start(self, state: TrainState) -> None:
        self._record(state)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0:
            self._record(state)
