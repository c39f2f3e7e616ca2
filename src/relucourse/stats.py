"""Pure tensor -> number statistics the chapters report (no hooks, no models), and the mean ± std
over seeds that every chapter prints.

Conventions: activations are (N, units) or (N, channels, ...); a "unit" is a column (or channel).
Every statistic refuses an empty tensor with a ``ValueError``: a fraction of nothing has no value
(``dead_fraction`` of no samples used to say 1.0, "all dead", and a mean of nothing is nan).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch


def _nonempty(acts: torch.Tensor, statistic: str) -> None:
    if acts.numel() == 0:
        raise ValueError(f"{statistic} of an empty tensor (shape {tuple(acts.shape)}) is undefined; "
                         f"pass at least one sample")


def zero_fraction(acts: torch.Tensor) -> float:
    """Fraction of entries that are exactly 0.0 (ReLU's hard zeros; softplus never gives any)."""
    _nonempty(acts, "zero_fraction")
    return (acts == 0).float().mean().item()


def near_zero_fraction(acts: torch.Tensor, eps: float = 1e-2) -> float:
    """Fraction of entries with |a| < eps: the soft analogue of sparsity."""
    _nonempty(acts, "near_zero_fraction")
    return (acts.abs() < eps).float().mean().item()


def saturation_fraction(acts: torch.Tensor, activation: str = "sigmoid",
                        margin: float = 0.05) -> float:
    """Fraction of entries within ``margin`` of the activation's asymptotes.

    sigmoid: a < margin or a > 1 - margin (derivative < ~margin); tanh: |a| > 1 - margin.
    """
    _nonempty(acts, "saturation_fraction")
    if activation == "sigmoid":
        saturated = (acts < margin) | (acts > 1 - margin)
    elif activation == "tanh":
        saturated = acts.abs() > 1 - margin
    else:
        raise ValueError(f"saturation is defined for 'sigmoid' and 'tanh', not {activation!r}")
    return saturated.float().mean().item()


def _per_unit(acts: torch.Tensor) -> torch.Tensor:
    """(N, units, ...) -> (N', units): spatial positions count as extra samples."""
    if acts.dim() == 2:
        return acts
    return acts.transpose(0, 1).flatten(1).T


def dead_unit_mask(acts: torch.Tensor) -> torch.Tensor:
    """Boolean per unit: True if the unit is exactly zero on every sample given."""
    _nonempty(acts, "dead_unit_mask")  # with no samples every unit would count as dead
    if acts.dim() < 2:
        raise ValueError(f"dead_unit_mask needs (N, units, ...) activations, got shape "
                         f"{tuple(acts.shape)}")
    return (_per_unit(acts) == 0).all(dim=0)


def dead_fraction(acts: torch.Tensor) -> float:
    """Fraction of units that are zero on every sample (dead ReLUs)."""
    _nonempty(acts, "dead_fraction")
    return dead_unit_mask(acts).float().mean().item()


def second_moment(acts: torch.Tensor) -> float:
    """E[a^2] over all entries: the quantity Kaiming init keeps constant across layers."""
    _nonempty(acts, "second_moment")
    return acts.pow(2).mean().item()


def summarize(acts: torch.Tensor) -> dict[str, float]:
    """Mean, std, exact-zero fraction and second moment of one layer's activations."""
    _nonempty(acts, "summarize")
    acts = acts.detach().float()
    return {
        "mean": acts.mean().item(),
        "std": acts.std().item() if acts.numel() > 1 else 0.0,
        "zero_frac": zero_fraction(acts),
        "second_moment": second_moment(acts),
    }


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation over seeds."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        raise ValueError("mean_std of an empty sequence of values is undefined; pass at least one")
    return float(arr.mean()), float(arr.std())
