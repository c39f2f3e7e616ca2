"""Weight initialisation schemes, each named for what it does, with the variance it targets.

Chapter: "Kaiming initialization" (chapters/05_kaiming_init.ipynb), section 4 has the gain table.

For a layer y = W x + b with fan_in inputs and fan_out outputs (a conv layer's fans include the
kernel size), and a gain g:

    pytorch_default  W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), b ~ same  -> Var[W] = 1/(3 fan_in)
                     (Glorot & Bengio's "standard" init: fan_in * Var[W] = 1/3)
    xavier_uniform   W ~ U(-a, a), a = g sqrt(6/(fan_in+fan_out))       -> Var[W] = 2 g^2/(fan_in+fan_out)
    xavier_normal    W ~ N(0, 2 g^2/(fan_in+fan_out))
    lecun_normal     W ~ N(0, g^2/fan_in)
    kaiming_normal   W ~ N(0, g^2/fan)      fan = fan_in (``mode="fan_in"``) or fan_out
    kaiming_uniform  W ~ U(-a, a), a = g sqrt(3/fan)                    -> Var[W] = g^2/fan
    normal           W ~ N(0, std^2) with an explicit ``std``
    constant         W = value (every unit identical: shows why symmetry must be broken)

Which gain. ``xavier_*`` and ``lecun_normal`` use g = 1 (Glorot & Bengio 2010; LeCun et al. 1998),
whatever the activation, unless a gain is passed explicitly (``gain=`` here, or
``init_kwargs={"gain": g}`` in a ``ModelConfig``). So "Xavier" with ReLU is Xavier: Var[W] = 1/n
on square layers, half of Kaiming's. (PyTorch's ``xavier_normal_`` takes a gain argument and its
documentation suggests ``calculate_gain(nonlinearity)``; the course never applies it silently.)

``kaiming_*`` use the activation's own gain, computed, never tabulated (``activation_gain``):

    g_phi^2 = 1 / E_{z ~ N(0, 1)}[phi(z)^2]                                   (one integral)

This is He et al.'s (2015) forward condition n Var[W] E[x^2] = Var[y] with x = phi(y), zero biases
and zero-mean weights, written as a fixed point: with n Var[W] = g^2 the variance map of the
mean-field recursion q_{l+1} = g^2 E_{z ~ N(0, q_l)}[phi(z)^2] has q = 1 as a fixed point. For a
positively homogeneous phi (relu, leaky_relu, prelu, identity), E_{N(0,q)}[phi^2] = q E_{N(0,1)}[phi^2],
so every q is a fixed point and g_phi is exactly PyTorch's ``calculate_gain`` (sqrt 2 for relu,
sqrt(2/(1+a^2)) for slope a: PReLU gets its *initial* slope, 0.25 by default). For any other phi
(tanh, sigmoid, softplus, ELU, GELU, SiLU...) the answer depends on the scale q at which it is
asked; the course asks at q = 1, the scale of standardised inputs. Two honest limits, both shown
in chapter 5: (1) the backward factor at that fixed point, chi = g^2 E_{N(0,1)}[phi'(z)^2], is 1
only for homogeneous phi (tanh: about 1.18, gradients grow; softplus: about 0.32, they shrink);
(2) like He et al., the course uses the same gain in the first layer, whose inputs are data, not
phi outputs. PyTorch's own values for tanh (5/3) and sigmoid (1) are heuristics; for softplus,
ELU, GELU and SiLU it has none, and code that passes "relu" for them gets sqrt 2.

``scale`` multiplies the weights afterwards (Var scales by scale^2), for "what if the init is off by
a factor" experiments. Biases are set to ``bias`` unless it is None (then PyTorch's default stays).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from relucourse.answers import quiz_answer

INIT_SCHEMES = (
    "pytorch_default",
    "xavier_uniform",
    "xavier_normal",
    "lecun_normal",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "constant",
)
# Schemes whose gain is the activation's own (activation_gain); the others default to gain 1.
ACTIVATION_GAIN_SCHEMES = ("kaiming_normal", "kaiming_uniform")
GAIN_SCHEMES = ("xavier_uniform", "xavier_normal", "lecun_normal", *ACTIVATION_GAIN_SCHEMES)


def _check_scheme(scheme: str) -> None:
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; valid schemes: {', '.join(INIT_SCHEMES)}")


def _check_mode(mode: str) -> None:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"unknown mode {mode!r}; valid modes: fan_in, fan_out")


def _check_gain(gain: float | None) -> None:
    if gain is not None and (isinstance(gain, bool) or not isinstance(gain, int | float)
                             or not math.isfinite(gain) or gain <= 0):
        raise ValueError(f"gain={gain!r} is invalid: must be a finite number > 0 (or None)")


# --- gains ------------------------------------------------------------------------------------

def gaussian_expectation(values: Callable[[torch.Tensor], torch.Tensor], variance: float = 1.0,
                         cells: int = 20_000) -> float:
    """E[f(z)] for z ~ N(0, variance) by the midpoint rule on [-12 sd, 12 sd], in float64.

    An even number of cells puts z = 0 on a cell edge, never on a midpoint, so ReLU's kink and
    its derivative's jump at 0 are integrated piecewise; the midpoint rule's error, about h^2/24
    times the jumps of (f density)' (h = 24 sd / cells), stays below ~1e-7 relative for the
    course's activations (tests/test_init.py compares every gain with scipy's adaptive quadrature)."""
    if not variance > 0:
        raise ValueError(f"variance must be > 0, got {variance}")
    sd = math.sqrt(variance)
    edges = torch.linspace(-12.0, 12.0, 2 * (cells // 2) + 1, dtype=torch.float64)
    u = (edges[1:] + edges[:-1]) / 2
    density = torch.exp(-u**2 / 2) / math.sqrt(2 * math.pi) * (edges[1] - edges[0])
    return float((values(u * sd) * density).sum())


_GAINS: dict[str, float] = {}


@quiz_answer
def activation_gain(activation: str, **activation_kwargs: Any) -> float:
    """The gain ``kaiming_*`` use for a registered activation: 1 / sqrt(E_{z~N(0,1)}[phi(z)^2]).

    Computed by ``gaussian_expectation`` from the activation module itself (so PReLU's initial
    slope and softplus' beta are whatever its options say), cached per (name, options). relu:
    sqrt 2; leaky_relu(a): sqrt(2/(1+a^2)); identity: 1. See the module docstring for why this
    fixed-point definition, and what it does not promise for non-homogeneous activations."""
    from relucourse.activations import activation_fn

    key = json.dumps([activation, activation_kwargs], sort_keys=True, default=repr)
    if key not in _GAINS:
        phi = activation_fn(activation, **activation_kwargs)
        with torch.no_grad():
            second_moment = gaussian_expectation(lambda z: phi(z) ** 2)
        if not second_moment > 0:
            raise ValueError(f"{activation!r} has E[phi(z)^2] = {second_moment}: no gain can "
                             "restore a signal it removes")
        _GAINS[key] = 1.0 / math.sqrt(second_moment)
    return _GAINS[key]


@quiz_answer
def torch_gain(nonlinearity: str, negative_slope: float = 0.01) -> float:
    """PyTorch's ``calculate_gain`` table (with the leaky slope passed through), for comparison:
    1 linear/sigmoid, 5/3 tanh, sqrt 2 relu, sqrt(2/(1+a^2)) leaky_relu, 3/4 selu."""
    if nonlinearity == "leaky_relu":
        return nn.init.calculate_gain("leaky_relu", negative_slope)
    return nn.init.calculate_gain(nonlinearity)  # type: ignore[arg-type]


def resolve_gain(scheme: str, activation: str = "relu",
                 activation_kwargs: dict[str, Any] | None = None,
                 gain: float | None = None) -> float:
    """The gain ``scheme`` uses: ``gain`` when given; else the activation's own gain for
    ``kaiming_*`` and 1 for ``xavier_*`` and ``lecun_normal`` (1 too for the gain-free schemes)."""
    _check_scheme(scheme)
    _check_gain(gain)
    if gain is not None:
        if scheme not in GAIN_SCHEMES:
            raise ValueError(f"init scheme {scheme!r} takes no gain; schemes with a gain: "
                             f"{', '.join(GAIN_SCHEMES)}")
        return float(gain)
    if scheme in ACTIVATION_GAIN_SCHEMES:
        return activation_gain(activation, **(activation_kwargs or {}))
    return 1.0


# --- variances and layers ---------------------------------------------------------------------

@quiz_answer
def weight_variance(
    scheme: str,
    fan_in: int,
    fan_out: int,
    activation: str = "relu",
    activation_kwargs: dict[str, Any] | None = None,
    gain: float | None = None,
    mode: str = "fan_in",
    std: float = 0.01,
    scale: float = 1.0,
) -> float:
    """The Var[W] each scheme aims for (the formulas in this module's docstring)."""
    _check_mode(mode)
    g2 = resolve_gain(scheme, activation, activation_kwargs, gain) ** 2
    fan = fan_in if mode == "fan_in" else fan_out
    base = {
        "pytorch_default": 1.0 / (3 * fan_in),
        "xavier_uniform": 2 * g2 / (fan_in + fan_out),
        "xavier_normal": 2 * g2 / (fan_in + fan_out),
        "lecun_normal": g2 / fan_in,
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
    activation: str = "relu",
    activation_kwargs: dict[str, Any] | None = None,
    gain: float | None = None,
    mode: str = "fan_in",
    bias: float | None = 0.0,
    std: float = 0.01,
    value: float = 0.1,
    scale: float = 1.0,
) -> None:
    """Initialise one Linear/Conv layer in place; ``activation`` is the one that *follows* the
    layer's inputs (it only matters for ``kaiming_*`` without an explicit ``gain``)."""
    _check_mode(mode)
    g = resolve_gain(scheme, activation, activation_kwargs, gain)
    w = layer.weight
    if scheme == "pytorch_default":
        layer.reset_parameters()
    elif scheme != "constant" and scheme != "normal":
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
        sd = math.sqrt(weight_variance(scheme, fan_in, fan_out, gain=g, mode=mode))
        if scheme.endswith("_uniform"):
            nn.init.uniform_(w, -math.sqrt(3.0) * sd, math.sqrt(3.0) * sd)
        else:
            nn.init.normal_(w, 0.0, sd)
    elif scheme == "normal":
        nn.init.normal_(w, 0.0, std)
    else:
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
