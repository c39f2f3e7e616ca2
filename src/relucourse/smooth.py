"""Softplus, the smooth ReLU: its formulas, its numerics, and the numbers its chapter compares.

Chapter: "Softplus: the smooth ReLU" (chapters/04_softplus.ipynb) and its lab
(labs/04_softplus_lab.ipynb).

Formulas (beta > 0):

    softplus_beta(x)  = log(1 + exp(beta x)) / beta        (Dugas et al. 2001; beta = 1 is "softplus")
    softplus_beta'(x) = sigmoid(beta x)                     (so softplus is the sigmoid's integral)
    softplus_beta(x) - relu(x) = log(1 + exp(-beta |x|)) / beta

The last identity (use relu(x) = x for x > 0 and log(1+e^z) - z = log(1+e^-z)) shows the gap to
ReLU is positive, symmetric in x, decreasing in |x|, and largest at x = 0, where it equals
log(2) / beta. So softplus_beta -> ReLU uniformly as beta -> infinity.

Numerics: the naive ``log(1 + exp(x))`` overflows once exp(x) exceeds the dtype's largest finite
number, i.e. for x > log(finfo.max) (about 88.72 in float32, 709.78 in float64). The stable form

    softplus(x) = max(x, 0) + log1p(exp(-|x|))

only ever exponentiates a non-positive number. PyTorch's ``nn.Softplus(beta, threshold=20)``
instead returns x itself once beta x > threshold, where the dropped term log1p(exp(-beta x))/beta
< exp(-20) ~ 2e-9 is far below float32's resolution at those x.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from relucourse import instrument, stats
from relucourse.activations import derivative
from relucourse.stats import mean_std
from relucourse.train import Callback, TrainResult, TrainState

# --------------------------------------------------------------------------------------------
# The function itself: naive, stable and torch
# --------------------------------------------------------------------------------------------


def softplus_naive(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """The textbook formula log(1 + exp(beta x)) / beta: overflows to inf for large beta x, and
    rounds to exactly 0 once exp(beta x) < half a float epsilon (1 + tiny == 1)."""
    return torch.log(1 + torch.exp(beta * x)) / beta


def softplus_stable(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """max(z, 0) + log1p(exp(-|z|)) with z = beta x, divided by beta: finite for every finite x."""
    z = beta * x
    return (z.clamp_min(0) + torch.log1p(torch.exp(-z.abs()))) / beta


def softplus_gap(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """softplus_beta(x) - relu(x) computed as log1p(exp(-beta |x|)) / beta (no cancellation)."""
    return torch.log1p(torch.exp(-beta * x.abs())) / beta


def max_gap_formula(beta: float) -> float:
    """The largest gap between softplus_beta and ReLU: log(2) / beta, reached at x = 0."""
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    return math.log(2.0) / beta


def max_gap_to_relu(beta: float = 1.0, lo: float = -20.0, hi: float = 20.0,
                    points: int = 400_001) -> float:
    """max over a float64 grid of |softplus_beta(x) - relu(x)|, with softplus from torch's module
    (the registry's "softplus" activation), so it checks the formula rather than restating it."""
    from relucourse.activations import activation_fn

    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    gap = activation_fn("softplus", beta=beta)(x) - torch.relu(x)
    return gap.abs().max().item()


def argmax_gap(beta: float = 1.0, lo: float = -20.0, hi: float = 20.0,
               points: int = 400_001) -> float:
    """Where on the grid the gap to ReLU is largest (0 for every beta)."""
    from relucourse.activations import activation_fn

    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    gap = activation_fn("softplus", beta=beta)(x) - torch.relu(x)
    return x[gap.abs().argmax()].item()


def derivative_vs_sigmoid(beta: float = 1.0, lo: float = -20.0, hi: float = 20.0,
                          points: int = 40_001) -> float:
    """max |d softplus_beta / dx (autograd) - sigmoid(beta x)| on a float64 grid (~1e-16)."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    return (derivative("softplus", x, beta=beta) - torch.sigmoid(beta * x)).abs().max().item()


def overflow_point(dtype: torch.dtype = torch.float32) -> float:
    """log(largest finite number): exp overflows above it (float32: ~88.72, float64: ~709.78)."""
    return math.log(torch.finfo(dtype).max)


def first_nonfinite(fn: Callable[[torch.Tensor], torch.Tensor], lo: float = 0.0,
                    hi: float = 1000.0, points: int = 100_001,
                    dtype: torch.dtype = torch.float32) -> float | None:
    """The smallest x on a grid where ``fn(x)`` is inf or nan, or None if it stays finite."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64).to(dtype)
    bad = ~torch.isfinite(fn(x))
    return x[bad][0].item() if bad.any() else None


def underflow_to_zero(fn: Callable[[torch.Tensor], torch.Tensor], lo: float = -200.0,
                      hi: float = 0.0, points: int = 200_001,
                      dtype: torch.dtype = torch.float32) -> float | None:
    """The largest x on a grid where ``fn(x)`` is exactly 0.0 (a rounding "hard zero"), or None.

    The naive formula loses everything once 1 + exp(x) rounds to 1 (x below about -17 in
    float32); torch's softplus only returns 0 where exp(x) itself underflows (about -104)."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64).to(dtype)
    zero = fn(x) == 0
    return x[zero][-1].item() if zero.any() else None


# --------------------------------------------------------------------------------------------
# Measuring trained networks: hard and soft zeros, speed to a target loss
# --------------------------------------------------------------------------------------------


class ZeroFractionProbe(Callback):
    """At the end of training, record each hidden layer's exact-zero and near-zero fractions.

    Measured on the first ``n_probe`` training samples in eval mode; written to
    ``result.extras["zeros"] = {layer: {"zero_frac": ..., "near_zero_frac": ...}}`` where
    ``near_zero_frac`` counts |a| < ``eps`` (``stats.near_zero_fraction``).
    """

    def __init__(self, n_probe: int = 1000, eps: float = 1e-2, target: str = "act") -> None:
        self.n_probe, self.eps, self.target = n_probe, float(eps), target

    def __repr__(self) -> str:  # part of the cache key in experiments.run
        return f"ZeroFractionProbe(n_probe={self.n_probe}, eps={self.eps!r}, target={self.target!r})"

    def on_train_end(self, state: TrainState) -> None:
        x = state.data.x_train[: self.n_probe]
        state.result.extras["zeros"] = {
            name: {"zero_frac": stats.zero_fraction(a),
                   "near_zero_frac": stats.near_zero_fraction(a, self.eps)}
            for name, a in instrument.activations(state.model, x, self.target).items()
        }


def zero_fractions(result: TrainResult, key: str = "zero_frac") -> float:
    """Mean over hidden layers of a ``ZeroFractionProbe`` fraction (``zero_frac`` or
    ``near_zero_frac``) for one run."""
    layers = result.extras.get("zeros")
    if not layers:
        raise ValueError("this result has no extras['zeros']; train it with ZeroFractionProbe()")
    return float(np.mean([row[key] for row in layers.values()]))


def steps_to_target(result: TrainResult, target: float, metric: str = "train_loss") -> int | None:
    """First evaluation step at which ``metric`` (a loss) is <= ``target``; None if never.

    The training loss is averaged over the ``eval_every`` steps before each evaluation, so the
    answer is a multiple of ``eval_every``: read it as "within that many steps"."""
    for step, value in zip(result.steps, getattr(result, metric), strict=True):
        if value <= target:
            return step
    return None


def summarize(groups: dict[str, list[TrainResult]], target_loss: float) -> dict[str, dict[str, Any]]:
    """Per label (one list of seeds): mean and std of final test accuracy, final training loss,
    steps to ``target_loss`` (``reached`` counts the seeds that got there; unreached seeds count
    as the run length, so the mean is a lower bound), and the exact/near-zero fractions when the
    runs carry a ``ZeroFractionProbe``."""
    out: dict[str, dict[str, Any]] = {}
    for label, results in groups.items():
        raw = [steps_to_target(r, target_loss) for r in results]
        steps = [s if s is not None else r.steps[-1] for s, r in zip(raw, results, strict=True)]
        row: dict[str, Any] = {
            "test_acc": mean_std([r.final_test_acc for r in results]),
            "train_loss": mean_std([r.final_train_loss for r in results]),
            "steps_to_target": mean_std(steps),
            "reached": sum(s is not None for s in raw),
            "seeds": len(results),
        }
        if all("zeros" in r.extras for r in results):
            row["zero_frac"] = mean_std([zero_fractions(r, "zero_frac") for r in results])
            row["near_zero_frac"] = mean_std([zero_fractions(r, "near_zero_frac") for r in results])
        out[label] = row
    return out


def format_table(summary: dict[str, dict[str, Any]]) -> str:
    """The summary as aligned text, mean ± std over seeds."""
    cols = [("test_acc", "test acc", ".3f"), ("train_loss", "final train loss", ".3f"),
            ("steps_to_target", "steps to target", ".0f"), ("zero_frac", "exact zeros", ".3f"),
            ("near_zero_frac", "|a| < eps", ".3f")]
    width = max(len(label) for label in summary) + 2
    lines = [f"{'':{width}}" + "".join(f"{name:>20}" for _, name, _ in cols)]
    for label, row in summary.items():
        cells = []
        for key, _, fmt in cols:
            if key in row:
                m, s = row[key]
                cells.append(f"{m:{fmt}} ± {s:{fmt}}")
            else:
                cells.append("-")
        lines.append(f"{label:{width}}" + "".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)
