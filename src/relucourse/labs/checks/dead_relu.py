"""Friendly checkers for the dead-ReLU lab (labs/03_relu_lab.ipynb).

Each checker prints an ``[ok]`` line saying what it verified, or raises ``CheckFailed`` with a hint,
so a learner sees *why*, and CI fails when a reference solution (run while a lab's exercise is
still a stub; written in ``relucourse/labs/sources/03_relu_lab.py``) stops passing.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from relucourse import probes
from relucourse.config import RunConfig
from relucourse.labs.checks import CheckFailed, call, passed


def _damaged_copy(model: nn.Module, n_kill: int = 5) -> nn.Module:
    """A copy of ``model`` where the first ``n_kill`` units of each hidden layer get a bias of
    -1e3, so they are certainly dead: a counter that always says 0 cannot pass."""
    import copy

    damaged = copy.deepcopy(model)
    with torch.no_grad():
        for name, module in damaged.named_modules():
            if name.endswith(".linear") and getattr(module, "bias", None) is not None:
                module.bias[:n_kill] = -1e3
    return damaged


def _counts(got: dict[str, Any], label: str) -> dict[str, int]:
    """The learner's per-layer values as whole numbers of units, or ``CheckFailed`` saying what
    they look like instead (a fraction is not truncated to 0 and reported as a wrong count)."""
    values = {}
    for layer, value in got.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise CheckFailed(f"on {label}: {layer!r} maps to a tensor of shape "
                                  f"{tuple(value.shape)}; return one number per layer, the count of "
                                  "its dead units (for example int(dead.sum()))")
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise CheckFailed(f"on {label}: {layer!r} maps to {value!r}; return the number of dead "
                              "units of each layer, an int")
        values[layer] = value
    fractional = {k: v for k, v in values.items() if v != int(v)}
    if fractional and all(0 <= v <= 1 for v in values.values()):
        raise CheckFailed(
            f"on {label}: {fractional} look like fractions of each layer's units, but count_dead "
            "returns how many units are dead (int(dead.sum()), not dead.float().mean()): the later "
            "cells add the counts up and divide by the number of units themselves.")
    if fractional:
        raise CheckFailed(f"on {label}: numbers of dead units are whole numbers, got {fractional}")
    return {k: int(v) for k, v in values.items()}


def check_dead_counter(count_dead: Callable[[nn.Module, torch.Tensor], dict[str, int]],
                       model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Compare ``count_dead(model, x)`` (layer -> number of dead units) with
    ``probes.dead_units`` on ``model`` and on a copy with some units killed on purpose."""
    for label, net in (("your model", model), ("a copy with 5 units per layer killed",
                                                _damaged_copy(model))):
        expected = {name: int(mask.sum()) for name, mask in probes.dead_units(net, x).items()}
        got = call("count_dead", count_dead, net, x)
        if not isinstance(got, dict):
            raise CheckFailed(f"count_dead should return a dict layer -> count, got "
                              f"{type(got).__name__}")
        if set(got) != set(expected):
            raise CheckFailed(f"on {label}: expected layers {sorted(expected)}, got {sorted(got)}."
                              " Hook every module whose name ends in '.act'.")
        counts = _counts(got, label)
        wrong = {k: (counts[k], v) for k, v in expected.items() if counts[k] != v}
        if wrong:
            raise CheckFailed(
                f"on {label}: (yours, expected) dead counts differ: {wrong}. A unit is dead only if "
                "it is exactly 0 on EVERY row of x: combine batches with a logical AND (or OR the "
                "'fired' masks).")
        leftover = [n for n, m in net.named_modules() if m._forward_hooks]
        if leftover:
            raise CheckFailed(f"hooks are still registered on {leftover}: remove them in a "
                              "`finally` block so later forward passes are not slowed down.")
        passed(f"{label}: dead units per layer {counts} match rc.probes.dead_units")
    return got


def check_lr_choice(lrs: Sequence[float]) -> None:
    """Learning rates for the sweep: at least three distinct, positive, finite numbers."""
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence):
        raise CheckFailed(f"LRS should be a list of learning rates, got {type(lrs).__name__}")
    if len(lrs) < 3 or len(set(lrs)) != len(lrs):
        raise CheckFailed(f"give at least three different learning rates, got {list(lrs)}")
    if not all(isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0 for lr in lrs):
        raise CheckFailed(f"learning rates are positive numbers, got {list(lrs)}")
    passed(f"{len(lrs)} learning rates from {min(lrs):g} to {max(lrs):g}")


def check_lr_sweep(lrs: Sequence[float], dead_fractions: Sequence[float]) -> None:
    """The learning-rate sweep should span a gentle and a too-high rate, and show death rising."""
    if len(lrs) != len(dead_fractions) or len(lrs) < 3:
        raise CheckFailed("give at least three learning rates and one dead fraction for each")
    order = sorted(range(len(lrs)), key=lambda i: lrs[i])
    low, high = dead_fractions[order[0]], dead_fractions[order[-1]]
    if not high > low:
        raise CheckFailed(f"the largest rate kills {high:.2f} vs {low:.2f} at the smallest; "
                          "extend the range upwards (Adam: try 0.1).")
    if max(dead_fractions) < 0.3:
        raise CheckFailed("no rate killed even 30% of the units; include a rate of ~0.1 for Adam.")
    passed(f"dead fraction rises from {low:.2f} (lr={lrs[order[0]]:g}) "
           f"to {high:.2f} (lr={lrs[order[-1]]:g})")


def check_fixed(dying: Sequence[tuple[float, float]], fixed: Sequence[tuple[float, float]],
                max_dead: float = 0.1, min_gain: float = 0.2) -> None:
    """``dying`` and ``fixed``: (dead fraction, test accuracy) per seed. The fix must leave fewer
    than ``max_dead`` of the units dead on average and gain ``min_gain`` of test accuracy."""
    mean = lambda vals: sum(vals) / len(vals)  # noqa: E731
    d_dead, d_acc = mean([d for d, _ in dying]), mean([a for _, a in dying])
    f_dead, f_acc = mean([d for d, _ in fixed]), mean([a for _, a in fixed])
    if f_dead >= max_dead:
        raise CheckFailed(f"still {f_dead:.0%} of units dead (target < {max_dead:.0%}).")
    if f_acc < d_acc + min_gain:
        raise CheckFailed(f"accuracy {f_acc:.3f} vs {d_acc:.3f} for the dying network: fewer dead "
                          "units is not enough, the network must also learn.")
    passed(f"fixed: dead {d_dead:.0%} -> {f_dead:.0%}, test accuracy {d_acc:.3f} -> {f_acc:.3f}")


def _settings(cfg: RunConfig) -> dict[str, Any]:
    """``{"section.field": value}`` for every field of a RunConfig (the names ``replace`` takes)."""
    return {f"{section}.{f.name}": getattr(getattr(cfg, section), f.name)
            for section in ("data", "model", "train")
            for f in dataclasses.fields(getattr(cfg, section))}


def check_fix_config(fixed: RunConfig, dying_cfg: RunConfig,
                     dying: Sequence[tuple[float, float]],
                     measure: Callable[[RunConfig], Sequence[tuple[float, float]]],
                     max_dead: float = 0.1, min_gain: float = 0.2) -> None:
    """``fixed``, a change of ``dying_cfg``, must pass :func:`check_fixed` once ``measure`` has
    trained it: ``measure(cfg)`` gives (dead fraction, test accuracy) per seed, and ``dying`` is
    ``measure(dying_cfg)``."""
    if not isinstance(fixed, RunConfig):
        raise CheckFailed(f"FIXED should be a RunConfig, such as DYING.replace(**{{...}}), got "
                          f"{type(fixed).__name__}")
    before, after = _settings(dying_cfg), _settings(fixed)
    changed = {k: (before[k], v) for k, v in after.items() if v != before[k]}
    if not changed:
        raise CheckFailed("FIXED is the dying configuration unchanged: change one or two "
                          "settings with DYING.replace(**{\"section.field\": value})")
    print("FIXED changes " + ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()))
    check_fixed(dying, call("training FIXED", measure, fixed), max_dead=max_dead, min_gain=min_gain)
