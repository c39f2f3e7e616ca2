"""Weight initialisation schemes, each with the variance it targets.

Chapter: "Kaiming initialization" (chapters/05_kaiming_init.ipynb).

For a layer y = W x + b with fan_in inputs and fan_out outputs, gain g from
``torch.nn.init.calculate_gain`` (1 linear, 5/3 tanh, sqrt(2) relu, sqrt(2/(1+a^2)) leaky):

    pytorch_default  W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), b ~ same  -> Var[W] = 1/(3 fan_in)
                     (Glorot & Bengio's "standard" init: fan_in * Var[W] = 1/3)
    xavier_uniform   W ~ U(-a, a), a = g sqrt(6/(fan_in+fan_out))       -> Var[W] = 2 g^2/(fan_in+fan_out)
    xavier_normal    W ~ N(0, 2 g^2/(fan_in+fan_out))
    kaiming_normal   W ~ N(0, g^2/fan)      fan = fan_in (forward) or fan_out (backward)
    kaiming_uniform  W ~ U(-a, a), a = g sqrt(3/fan)                    -> Var[W] = g^2/fan
    normal           W ~ N(0, std^2) with an explicit ``std``
    constant         W = value (every unit identical: shows why symmetry must be broken)

``scale`` multiplies the weights afterwards (Var scales by scale^2), for "what if the init is off by
a factor" experiments. Biases are set to ``bias`` unless it is None (then PyTorch's default stays).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from relucourse.answers import quiz_answer

INIT_SCHEMES = (
    "pytorch_default",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "constant",
)


def _check_scheme(scheme: str) -> None:
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; valid schemes: {', '.join(INIT_SCHEMES)}")


def _check_mode(mode: str) -> None:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"unknown mode {mode!r}; valid modes: fan_in, fan_out")


@quiz_answer
def gain(nonlinearity: str, negative_slope: float = 0.01) -> float:
    """``calculate_gain`` with the leaky slope passed through."""
    if nonlinearity == "leaky_relu":
        return nn.init.calculate_gain("leaky_relu", negative_slope)
    return nn.init.calculate_gain(nonlinearity)  # type: ignore[arg-type]


@quiz_answer
def weight_variance(
    scheme: str,
    fan_in: int,
    fan_out: int,
    nonlinearity: str = "relu",
    negative_slope: float = 0.01,
    mode: str = "fan_in",
    std: float = 0.01,
    scale: float = 1.0,
) -> float:
    """The Var[W] each scheme aims for (the formulas in this module's docstring)."""
    _check_scheme(scheme)
    _check_mode(mode)
    g2 = gain(nonlinearity, negative_slope) ** 2
    fan = fan_in if mode == "fan_in" else fan_out
    base = {
        "pytorch_default": 1.0 / (3 * fan_in),
        "xavier_uniform": 2 * g2 / (fan_in + fan_out),
        "xavier_normal": 2 * g2 / (fan_in + fan_out),
        "kaiming_normal": g2 / fan,
        "kaiming_uniform": g2 / fan,
        "normal": std**2,
        "constant": 0.0,
    }[scheme]
    return base * scale**2


@torch.no_grad()
def init_layer_(
    layer: nn.Linear | nn.Conv1d | nn.Conv2d,
    scheme: str = "pytorch_default",
    nonlinearity: str = "relu",
    negative_slope: float = 0.01,
    mode: str = "fan_in",
    bias: float | None = 0.0,
    std: float = 0.01,
    value: float = 0.1,
    scale: float = 1.0,
) -> None:
    """Initialise one Linear/Conv layer in place."""
    _check_scheme(scheme)
    _check_mode(mode)
    w = layer.weight
    g = gain(nonlinearity, negative_slope)
    if scheme == "pytorch_default":
        layer.reset_parameters()
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(w, gain=g)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(w, gain=g)
    elif scheme in ("kaiming_normal", "kaiming_uniform"):
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
        bound_std = g / math.sqrt(fan_in if mode == "fan_in" else fan_out)
        if scheme == "kaiming_normal":
            nn.init.normal_(w, 0.0, bound_std)
        else:
            nn.init.uniform_(w, -math.sqrt(3.0) * bound_std, math.sqrt(3.0) * bound_std)
    elif scheme == "normal":
        nn.init.normal_(w, 0.0, std)
    elif scheme == "constant":
        nn.init.constant_(w, value)
    if scale != 1.0:
        w.mul_(scale)
    if layer.bias is not None and bias is not None:
        nn.init.constant_(layer.bias, bias)


def init_model_(model: nn.Module, scheme: str = "pytorch_default", **kwargs: object) -> nn.Module:
    """Apply ``init_layer_`` to every Linear/Conv layer of ``model``; returns the model."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            init_layer_(module, scheme, **kwargs)  # type: ignore[arg-type]
    return model
