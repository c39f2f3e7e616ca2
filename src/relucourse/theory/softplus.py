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

import torch

from relucourse.activations import derivative
from relucourse.answers import quiz_answer

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


@quiz_answer
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


@quiz_answer
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
# The output offset, and what it does to the signal at initialisation (chapter section 2)
# --------------------------------------------------------------------------------------------


def mean_share(activation: str, **activation_kwargs: object) -> float:
    """E[phi(z)]^2 / E[phi(z)^2] for z ~ N(0, 1): the share of a layer's output second moment that
    is its mean. With zero-mean weights, the next layer's pre-activation gets n Var[w] E[phi]^2 of
    input-independent variance from it (a random offset per unit, the same for every input), so a
    large share is signal that carries nothing about the input. relu: 1/pi ~ 0.32; softplus:
    ~0.71; softplus - log 2 ("shifted"): ~0.05; tanh: 0."""
    from relucourse.activations import activation_fn
    from relucourse.init import gaussian_expectation

    phi = activation_fn(activation, **activation_kwargs)
    with torch.no_grad():
        mean = gaussian_expectation(phi)
        second = gaussian_expectation(lambda z: phi(z) ** 2)
    return mean**2 / second
