"""Registry of the activation functions the course compares.

Chapter: "Activation functions and their derivatives" (chapters/01_activations.ipynb).

Every module here is out-of-place (never ``inplace=True``) so forward hooks see the true
post-activation values. Each entry also names the ``torch.nn.init.calculate_gain`` nonlinearity a
PyTorch user would pass for it (``gain_nonlinearity``, kept for comparison only): the course's
Kaiming init computes every activation's own gain instead (``init.activation_gain``, chapter 5).

Formulas:
    sigmoid(x)  = 1 / (1 + exp(-x)),           sigmoid'(x) = s(1 - s) <= 1/4
    tanh(x)     = 2 sigmoid(2x) - 1,            tanh'(x) = 1 - tanh(x)^2 <= 1
    relu(x)     = max(0, x),                    relu'(x) in {0, 1}
    softplus(x) = log(1 + exp(beta x)) / beta,  softplus'(x) = sigmoid(beta x)
    selu(x)     = lambda (x if x > 0 else alpha (e^x - 1)),  mish(x) = x tanh(softplus(x))
(the modern family is compared in chapters/06_after_relu.ipynb)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from relucourse.answers import quiz_answer


class ScaledSigmoid(nn.Module):
    """sigmoid(scale * x): with scale=4 the slope at 0 is 1, the "just rescale it" objection."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.scale * x)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class _ReLULeakyBackward(torch.autograd.Function):
    """Forward is an exact ReLU; backward lets a small gradient through negative inputs."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, negative_slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        slope = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, ctx.negative_slope))
        return grad_out * slope, None


class ReLULeakyBackward(nn.Module):
    """"Forward ReLU, backward leaky": keeps hard zeros but lets dead units receive gradient."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLULeakyBackward.apply(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class CentredSigmoid(nn.Module):
    """sigmoid(scale * x) - 1/2 = tanh(scale * x / 2) / 2: the sigmoid without its +1/2 offset.

    With scale=4 it is (1/2) tanh(2x), which differs from sigmoid(4x) by the constant 1/2 only, so
    the pair isolates what zero-centring changes (chapters/02b_zero_centred.ipynb)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.scale * x) - 0.5

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class ShiftedReLU(nn.Module):
    """max(0, x) - shift. The default shift 1/sqrt(2 pi) = E[relu(z)] for z ~ N(0, 1), so on
    unit-variance inputs the output has mean 0: ReLU centred, kinks and slopes unchanged."""

    def __init__(self, shift: float = 0.3989422804014327) -> None:
        super().__init__()
        self.shift = float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(0) - self.shift

    def extra_repr(self) -> str:
        return f"shift={self.shift}"


class ShiftedSoftplus(nn.Module):
    """softplus_beta(x) - log(2)/beta: the same bend and slope sigmoid(beta x), without the output
    offset (it is 0 at x = 0, like ReLU). The control that separates a wide bend from a lifted
    output (chapters/04_softplus.ipynb; SchNet's "shifted softplus" is the beta = 1 case)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(x, beta=self.beta) - math.log(2.0) / self.beta

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


@dataclass(frozen=True)
class ActivationSpec:
    """One registered activation: how to build it, and the ``calculate_gain`` name PyTorch users
    give it (the init does not read it: ``init.activation_gain`` computes the gain)."""

    name: str
    factory: Callable[..., nn.Module]
    gain_nonlinearity: str
    description: str


def _spec(name: str, factory: Callable[..., nn.Module], gain: str, description: str) -> None:
    ACTIVATIONS[name] = ActivationSpec(name, factory, gain, description)


ACTIVATIONS: dict[str, ActivationSpec] = {}
_spec("sigmoid", ScaledSigmoid, "sigmoid", "logistic sigmoid 1/(1+e^-x); slope 1/4 at 0")
_spec("tanh", nn.Tanh, "tanh", "hyperbolic tangent; zero-centred sigmoid, slope 1 at 0")
_spec("relu", nn.ReLU, "relu", "max(0, x); exact zeros for x < 0")
_spec("leaky_relu", lambda negative_slope=0.01: nn.LeakyReLU(negative_slope), "leaky_relu",
      "max(a x, x) with a small slope a for x < 0")
_spec("prelu", lambda init=0.25: nn.PReLU(init=init), "leaky_relu",
      "leaky ReLU whose negative slope is learned")
_spec("softplus", lambda beta=1.0, shifted=False: ShiftedSoftplus(beta) if shifted
      else nn.Softplus(beta=beta), "relu",
      "log(1+e^(beta x))/beta; a smooth ReLU with no exact zeros (shifted=True: minus log(2)/beta)")
_spec("elu", lambda alpha=1.0: nn.ELU(alpha=alpha), "relu", "x for x>0, alpha(e^x-1) otherwise")
_spec("gelu", nn.GELU, "relu", "x * Phi(x), used in transformers")
_spec("silu", nn.SiLU, "relu", "x * sigmoid(x) (swish)")
_spec("relu_leaky_backward", ReLULeakyBackward, "relu",
      "ReLU forward, leaky-ReLU gradient backward (custom autograd.Function)")
_spec("identity", nn.Identity, "linear", "no nonlinearity (a deep linear network)")
# PyTorch's calculate_gain("selu") = 3/4 gives up self-normalisation on purpose (its documentation
# says to use "linear", gain 1, for SNNs); init.activation_gain("selu") computes exactly 1.
_spec("selu", nn.SELU, "selu",
      "lambda x for x>0, lambda alpha (e^x-1) otherwise (lambda~1.0507, alpha~1.6733); "
      "self-normalising with LeCun-normal init")
_spec("mish", nn.Mish, "relu", "x * tanh(softplus(x)); smooth, non-monotonic")
_spec("centred_sigmoid", CentredSigmoid, "sigmoid",
      "sigmoid(scale x) - 1/2 = tanh(scale x / 2) / 2; the sigmoid without its offset")
_spec("shifted_relu", ShiftedReLU, "relu",
      "max(0, x) - shift (default 1/sqrt(2 pi): mean 0 on unit-variance inputs)")
# Softsign approaches its asymptotes polynomially, not exponentially (Glorot & Bengio 2010
# compare it with tanh); PyTorch's calculate_gain has no entry for it, tanh's is the closest.
_spec("softsign", nn.Softsign, "tanh", "x/(1+|x|); tanh-like with polynomial tails, slope 1 at 0")


def activation_names() -> tuple[str, ...]:
    return tuple(ACTIVATIONS)


def get_spec(name: str) -> ActivationSpec:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(activation_names())}"
        ) from None


def get_activation(name: str, **kwargs: Any) -> nn.Module:
    """Build a fresh activation module: ``get_activation("leaky_relu", negative_slope=0.1)``."""
    spec = get_spec(name)
    try:
        return spec.factory(**kwargs)
    except TypeError as err:
        raise TypeError(f"bad options {kwargs} for activation {name!r}: {err}") from None


def activation_fn(name: str, **kwargs: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as a plain function of a tensor, for plots and derivative checks.

    Like ``derivative``, it follows the input's dtype and device: PReLU's learned slope is a
    float32 parameter, so one module is kept per (device, dtype) seen (all start from the same
    fresh module, so a float64 call never sees a slope rounded through float32).
    """
    module = get_activation(name, **kwargs)
    copies: dict[tuple[torch.device, torch.dtype], nn.Module] = {}

    def fn(x: torch.Tensor) -> torch.Tensor:
        if not (x.is_floating_point() or x.is_complex()):  # Module.to takes no integer dtypes
            return module(x)
        key = (x.device, x.dtype)
        if key not in copies:
            copies[key] = copy.deepcopy(module).to(device=x.device, dtype=x.dtype)
        return copies[key](x)

    return fn


def derivative(name: str, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """d activation / dx at each point of ``x``, computed by autograd (no hand-written formulas)."""
    x = x.detach().clone().requires_grad_(True)
    # Match x's dtype/device: PReLU's learned slope is a float32 parameter and would not mix with
    # the float64 grids used for exact derivative checks (max_derivative).
    module = get_activation(name, **kwargs).to(device=x.device, dtype=x.dtype)
    y = module(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return grad.detach()


@quiz_answer
def max_derivative(name: str, lo: float = -10.0, hi: float = 10.0, points: int = 200_001,
                   **kwargs: Any) -> float:
    """Largest derivative of an activation on a fine grid (sigmoid: 0.25, at x = 0)."""
    return derivative(name, torch.linspace(lo, hi, points, dtype=torch.float64), **kwargs).max().item()
