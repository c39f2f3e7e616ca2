"""After ReLU: leaky ReLU, PReLU, ELU, SELU, GELU, SiLU (swish) and Mish, measured.

Chapter: "After ReLU" (chapters/06_after_relu.ipynb); lab: labs/06_after_relu_lab.ipynb.

Definitions (a: leaky slope, 0.01 by default; PReLU starts at a = 0.25 and learns it; ELU's
alpha = 1; SELU's constants below; Phi the standard normal CDF, s the logistic sigmoid):

    leaky_relu(x) = x (x > 0), a x (x <= 0)            derivative 1 or a
    elu(x)        = x (x > 0), alpha (e^x - 1)          derivative 1 or alpha e^x
    selu(x)       = lambda elu_alpha(x)                 derivative lambda or lambda alpha e^x
    gelu(x)       = x Phi(x)                            derivative Phi(x) + x Phi'(x)
    silu(x)       = x s(x)                              derivative s(x) (1 + x (1 - s(x)))
    mish(x)       = x tanh(softplus(x))                 derivative tanh(sp) + x s(x) (1 - tanh(sp)^2)

``closed_form`` / ``closed_form_derivative`` write these out by hand, so the chapter can check them
against the registry's modules and autograd (``relucourse.activations.derivative``).

Each activation's own Kaiming-style gain is the package's ``init.activation_gain``, which
``init="kaiming_normal"`` applies: the g that keeps a zero-bias layer's pre-activation variance at
1 when its inputs come from unit-variance pre-activations, Var[y_{l+1}] = n Var[W] E[phi(y_l)^2]
= 1 with n Var[W] = g^2, i.e. g = 1 / sqrt(E[phi(z)^2]), z ~ N(0, 1), by numerical integration:
sqrt 2 for ReLU, exactly 1 for SELU (built so that E[selu(z)^2] = 1). Two more numbers per
activation (He et al. 2015; the mean-field recursion of Poole et al. 2016):

* chi = g^2 E[phi'(z)^2] (``theory.kaiming.backward_factor``), what one layer multiplies the
  gradient's second moment by at that gain (1 for the ReLU family);
* ``variance_map_slope``: d/dq of q -> g^2 E[phi(sqrt(q) z)^2] at q = 1. Below 1 the variance
  returns to 1 after a perturbation (a stable fixed point: ELU, SELU); above 1 it drifts away
  (GELU, SiLU, Mish), so at depth their variance wanders off even from the "right" gain.

SELU (Klambauer et al. 2017): with weights of zero mean and n Var[W] = 1 (LeCun normal), the map
from one layer's (mean, variance) to the next has the stable fixed point (0, 1), so per-layer
statistics converge to it from a range of starting values; AlphaDropout keeps it by setting
dropped units to SELU's negative saturation -lambda alpha and then rescaling
(``selu_statistics``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relucourse import experiments
from relucourse.activations import activation_fn, derivative, get_activation
from relucourse.answers import quiz_answer
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.init import activation_gain, gaussian_expectation
from relucourse.theory.kaiming import gaussian_second_moment
from relucourse.theory.zero_centred import beyond_spread  # noqa: F401  (re-exported for ch. 6)

# The activations this chapter compares, ReLU first as the baseline.
FAMILY = ("relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "mish")


def _selu_constants() -> tuple[float, float]:
    """Klambauer et al. (2017), eq. 14: the alpha_01 and lambda_01 that make (0, 1) the fixed point."""
    e, pi = math.e, math.pi
    erfc1 = math.erfc(1 / math.sqrt(2))
    alpha = -math.sqrt(2 / pi) / (erfc1 * math.sqrt(e) - 1)
    lam = (1 - erfc1 * math.sqrt(e)) * math.sqrt(2 * pi) * (
        2 * math.erfc(math.sqrt(2)) * e**2 + pi * erfc1**2 * e - 2 * (2 + pi) * erfc1 * math.sqrt(e)
        + pi + 2) ** -0.5
    return alpha, lam


SELU_ALPHA, SELU_LAMBDA = _selu_constants()  # ~1.6733, ~1.0507


# --- definitions, by hand -------------------------------------------------------------------------

def _options(name: str) -> dict[str, float]:
    return {"leaky_relu": {"a": 0.01}, "prelu": {"a": 0.25}}.get(name, {})


def closed_form(name: str, x: torch.Tensor) -> torch.Tensor:
    """The activation written out from its formula (registry defaults: leaky a = 0.01, PReLU's
    initial a = 0.25, ELU alpha = 1, SELU's constants)."""
    sig = torch.sigmoid(x)
    if name == "relu":
        return torch.where(x > 0, x, torch.zeros_like(x))
    if name in ("leaky_relu", "prelu"):
        return torch.where(x > 0, x, _options(name)["a"] * x)
    if name == "elu":
        return torch.where(x > 0, x, torch.expm1(x))
    if name == "selu":
        return SELU_LAMBDA * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x))
    if name == "gelu":
        return x * 0.5 * torch.erfc(-x / math.sqrt(2))
    if name == "silu":
        return x * sig
    if name == "mish":
        return x * torch.tanh(F.softplus(x))
    raise ValueError(f"no closed form for {name!r}; known: {', '.join(FAMILY)}")


def closed_form_derivative(name: str, x: torch.Tensor) -> torch.Tensor:
    """The derivative written out by hand (at a kink, the right-hand side's value for x > 0 is
    used for x > 0 only: x = 0 takes the left formula)."""
    sig = torch.sigmoid(x)
    one = torch.ones_like(x)
    if name == "relu":
        return torch.where(x > 0, one, torch.zeros_like(x))
    if name in ("leaky_relu", "prelu"):
        return torch.where(x > 0, one, _options(name)["a"] * one)
    if name == "elu":
        return torch.where(x > 0, one, torch.exp(x))
    if name == "selu":
        return SELU_LAMBDA * torch.where(x > 0, one, SELU_ALPHA * torch.exp(x))
    if name == "gelu":
        return 0.5 * torch.erfc(-x / math.sqrt(2)) + x * torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi)
    if name == "silu":
        return sig * (1 + x * (1 - sig))
    if name == "mish":
        t = torch.tanh(F.softplus(x))
        return t + x * sig * (1 - t**2)
    raise ValueError(f"no closed form for {name!r}; known: {', '.join(FAMILY)}")


@dataclass(frozen=True)
class Shape:
    """Facts about one activation's curve, all measured on a float64 grid (``shape``)."""

    name: str
    minimum: float  # the lowest value on the grid (ELU/SELU approach -alpha / -lambda alpha)
    argmin: float  # where it is (the left end of the grid when the curve keeps decreasing)
    slope_at_zero: float  # autograd's value at x = 0 (a convention where there is a kink)
    max_slope: float
    min_slope: float  # < 0: the curve is not monotonic
    slope_jump: float  # largest change of the slope between neighbouring grid points (kinks)
    formula_error: float  # max |module - closed_form| on the grid
    derivative_error: float  # max |autograd - closed_form_derivative| off the kink at 0

    @property
    def monotonic(self) -> bool:
        return self.min_slope >= 0

    @property
    def smooth(self) -> bool:
        """No kink: the slope never jumps by more than the grid's own step could explain."""
        return self.slope_jump < 1e-3


def shape(name: str, lo: float = -12.0, hi: float = 12.0, points: int = 240_001) -> Shape:
    """Measure ``name``'s curve and slope on a float64 grid that contains 0 (odd ``points``)."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    y = activation_fn(name)(x).detach()
    d = derivative(name, x)
    off_kink = x != 0
    zero = torch.zeros(1, dtype=torch.float64)
    i = int(y.argmin())
    return Shape(
        name=name, minimum=y[i].item(), argmin=x[i].item(),
        slope_at_zero=derivative(name, zero).item(), max_slope=d.max().item(),
        min_slope=d.min().item(), slope_jump=(d[1:] - d[:-1]).abs().max().item(),
        formula_error=(y - closed_form(name, x)).abs().max().item(),
        derivative_error=(d - closed_form_derivative(name, x))[off_kink].abs().max().item())


@quiz_answer
def minimum_value(name: str) -> float:
    """The lowest value of the activation (on [-12, 12]): GELU ~ -0.17, SiLU ~ -0.278, Mish ~ -0.31."""
    return shape(name).minimum


@quiz_answer
def slope_at_zero(name: str) -> float:
    """phi'(0) by autograd: 1/2 for GELU and SiLU, 0.6 for Mish, lambda alpha ~ 1.758 for SELU."""
    return derivative(name, torch.zeros(1, dtype=torch.float64)).item()


# --- gains ---------------------------------------------------------------------------------------
# The gain itself is the package's: ``init.activation_gain`` (what ``kaiming_*`` apply), and chi is
# ``theory.kaiming.backward_factor``; this chapter adds the stability of the fixed point.


def variance_map_slope(name: str, h: float = 1e-4, **activation_kwargs: Any) -> float:
    """d/dq [g^2 E[phi(sqrt(q) z)^2]] at q = 1, g = ``init.activation_gain``: < 1 stable (the
    variance returns to 1 after a perturbation), > 1 unstable (it drifts away), 1 for the
    positively homogeneous ReLU family (every scale is a fixed point)."""
    g2 = activation_gain(name, **activation_kwargs) ** 2
    up = gaussian_second_moment(name, 1.0 + h, **activation_kwargs)
    down = gaussian_second_moment(name, 1.0 - h, **activation_kwargs)
    return g2 * (up - down) / (2 * h)


def measured_gains(model: nn.Module) -> list[float]:
    """std(W) * sqrt(fan_in) of every hidden layer (``model.blocks[i].linear``): the gain the
    model was actually built with (each within a few percent of the intended one)."""
    return [b.linear.weight.detach().double().std().item() * math.sqrt(b.linear.in_features)
            for b in model.blocks]


def signal_profile(name: str, depth: int = 30, width: int = 256, gain: float | None = None,
                   n: int = 1024, seed: int = 0, **activation_kwargs: Any) -> list[float]:
    """Var[y_l] of each layer's pre-activation y_l = W_l phi(y_{l-1}) through ``depth`` square
    zero-bias layers with W ~ N(0, gain^2 / width) (default: ``init.activation_gain``), from
    y_0 ~ N(0, 1), in float64. Mean-field theory: 1 in every layer."""
    g = activation_gain(name, **activation_kwargs) if gain is None else gain
    gen = torch.Generator().manual_seed(seed)
    act = get_activation(name, **activation_kwargs).double()
    y = torch.randn(n, width, generator=gen, dtype=torch.float64)
    out = []
    with torch.no_grad():
        for _ in range(depth):
            w = torch.randn(width, width, generator=gen, dtype=torch.float64) * (g / math.sqrt(width))
            y = act(y) @ w.T
            out.append(y.var().item())
    return out


# --- SELU's self-normalisation ---------------------------------------------------------------------

@dataclass(frozen=True)
class LayerMoments:
    """Mean and variance of each layer's output (over all samples and units), layer 1 first."""

    mean: list[float]
    var: list[float]

    def tail(self, layers: int = 10) -> tuple[float, float, float, float]:
        """(max |mean|, min var, max var, mean var) over the last ``layers`` layers."""
        m, v = self.mean[-layers:], self.var[-layers:]
        return max(abs(a) for a in m), min(v), max(v), sum(v) / len(v)


DROPOUTS = ("none", "alpha", "standard")


@quiz_answer
def selu_negative_saturation() -> float:
    """-lambda alpha ~ -1.7581: SELU's limit for x -> -inf, and the value AlphaDropout sets dropped
    units to."""
    return -SELU_LAMBDA * SELU_ALPHA


def selu_statistics(depth: int = 32, width: int = 256, weight_scale2: float = 1.0,
                    dropout: str = "none", p: float = 0.1, n: int = 1024, seed: int = 0,
                    input_mean: float = 0.0, input_var: float = 1.0,
                    activation: str = "selu") -> LayerMoments:
    """Per-layer mean and variance of x_l = drop(act(W_l x_{l-1})) through ``depth`` square
    zero-bias layers, W ~ N(0, weight_scale2 / width) (1: LeCun normal, 2: Kaiming's ReLU gain),
    inputs x_0 ~ N(input_mean, input_var), in float64 and in training mode (dropout active).

    ``dropout``: ``"none"``, ``"alpha"`` (``nn.AlphaDropout(p)``) or ``"standard"``
    (``nn.Dropout(p)``: zeros and a 1/(1-p) rescale)."""
    if dropout not in DROPOUTS:
        raise ValueError(f"dropout={dropout!r} is invalid: must be one of {', '.join(DROPOUTS)}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the dropout masks
    act = get_activation(activation).double()
    drop: nn.Module = {"none": nn.Identity(), "alpha": nn.AlphaDropout(p),
                       "standard": nn.Dropout(p)}[dropout].train()
    x = input_mean + math.sqrt(input_var) * torch.randn(n, width, generator=gen,
                                                        dtype=torch.float64)
    means, variances = [], []
    with torch.no_grad():
        for _ in range(depth):
            w = torch.randn(width, width, generator=gen, dtype=torch.float64)
            x = drop(act(x @ (w * math.sqrt(weight_scale2 / width)).T))
            means.append(x.mean().item())
            variances.append(x.var().item())
    return LayerMoments(means, variances)


def selu_moment_map(mean: float, var: float, weight_scale2: float = 1.0) -> tuple[float, float]:
    """Klambauer et al.'s map g: (mean, var) of a layer's SELU outputs -> those of the next, for
    zero-mean weights with n Var[W] = ``weight_scale2`` (so the pre-activation is N(0,
    weight_scale2 (var + mean^2)) by the central limit theorem, since sum w = 0 on average)."""
    q = weight_scale2 * (var + mean**2)
    selu = get_activation("selu").double()
    with torch.no_grad():
        m1 = gaussian_expectation(selu, q)
        m2 = gaussian_expectation(lambda z: selu(z) ** 2, q)
    return m1, m2 - m1**2


# --- the fair comparison across depth ------------------------------------------------------------

def depth_configs(activations: Sequence[str], depths: Sequence[int], width: int, steps: int,
                  eval_every: int, val_fraction: float = 0.1, lr: float = 1e-3,
                  batch_size: int = 128) -> dict[str, RunConfig]:
    """One Adam RunConfig per (activation, depth) on MNIST-1D, each hidden layer Kaiming-normal
    with the activation's own gain (``init.activation_gain``), zero biases, no normalisation; labels
    ``"<activation>, depth <d>"``. The learning rate is a placeholder for ``rc.tune``'s grid."""
    out = {}
    for depth in depths:
        for name in activations:
            model = ModelConfig(width=width, depth=depth, activation=name, bias_init=0.0,
                                init="kaiming_normal")
            train = TrainConfig(optimizer="adam", lr=lr, batch_size=batch_size, steps=steps,
                                eval_every=eval_every)
            out[f"{name}, depth {depth}"] = RunConfig(
                data=DataConfig(name="mnist1d", val_fraction=val_fraction), model=model, train=train)
    return out


# --- cost of one training step ----------------------------------------------------------------------

def training_step(name: str, width: int = 512, depth: int = 4, batch: int = 256,
                  device: torch.device | str = "cpu", seed: int = 0) -> Callable[[], None]:
    """A closure that runs one SGD step (forward, cross-entropy, backward, update) of a
    ``depth`` x ``width`` MLP with activation ``name`` on a fixed random batch
    (``experiments.training_step``)."""
    return experiments.training_step(ModelConfig(width=width, depth=depth, activation=name),
                                     width, 10, batch, TrainConfig(optimizer="sgd", lr=1e-3),
                                     device=device, seed=seed)
