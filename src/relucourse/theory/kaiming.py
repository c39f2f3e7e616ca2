"""How the signal's scale travels through a deep stack at initialisation (Kaiming/He init).

Chapter: "Kaiming initialization" (chapters/05_kaiming_init.ipynb); lab: labs/05_kaiming_lab.ipynb.

For hidden layer l with pre-activation y_l = W_l x_l (zero biases), x_l = phi(y_{l-1}), weights
i.i.d. with zero mean and independent of x_l, and n_l = fan_in (He et al. 2015, eq. 7):

    Var[y_l] = n_l Var[w_l] E[x_l^2]                                          (forward)
    E[x_l^2] = c_phi Var[y_{l-1}],  c_relu = 1/2,  c_leaky(a) = (1 + a^2)/2   (y symmetric)
    => Var[y_L] = Var[y_1] prod_l c_phi n_l Var[w_l]  -> flat iff Var[w] = 1/(c_phi n) = 2/n (ReLU)

Backwards, with n^_l = fan_out and Delta = dLoss/d(.) (He et al. 2015, eq. 13):

    Var[Delta x_l] = n^_l Var[w_l] E[phi'(y_l)^2] Var[Delta x_{l+1}]   -> flat iff Var[w] = 2/n^ (ReLU)

For activations that are not positively homogeneous (tanh, sigmoid) c_phi depends on the scale;
the "mean-field" recursion q_{l+1} = sigma_w^2 E_{z~N(0, q_l)}[phi(z)^2] (sigma_w^2 = n Var[w])
still predicts the profile, computed here by numerical integration against the Gaussian.

Everything measured here uses the course's own ``models.MLP`` with square hidden layers
(in_features = width), so fan_in = fan_out = width in every hidden layer, in float64 so that
exploding or vanishing profiles neither overflow nor underflow over 50 layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from relucourse.activations import activation_fn
from relucourse.answers import quiz_answer
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.experiments import init_model
from relucourse.init import activation_gain, gaussian_expectation, torch_gain
from relucourse.models import MLP
from relucourse.records import Record

CHANCE_LOSS_10 = math.log(10)  # cross-entropy of a uniform guess over 10 classes


# --- theory -----------------------------------------------------------------------------------

def homogeneous_factor(activation: str, negative_slope: float = 0.01) -> float:
    """c_phi = E[phi(y)^2] / Var[y] for a zero-mean symmetric y, for activations where it is a
    constant: relu 1/2 (half the mass is zeroed), leaky_relu (1 + a^2)/2, identity 1."""
    if activation == "relu":
        return 0.5
    if activation == "leaky_relu":
        return (1.0 + negative_slope**2) / 2.0
    if activation == "identity":
        return 1.0
    raise ValueError(f"{activation!r} is not positively homogeneous; use gaussian_second_moment")


def kaiming_variance(fan: int, negative_slope: float = 0.0) -> float:
    """Var[w] = 2 / ((1 + a^2) fan): the variance that makes c_phi n Var[w] = 1 (a = 0: ReLU)."""
    return 2.0 / ((1.0 + negative_slope**2) * fan)


def leaky_gain_squared(negative_slope: float) -> float:
    """gain^2 = 2 / (1 + a^2): what ``calculate_gain('leaky_relu', a)`` squares to."""
    return 2.0 / (1.0 + negative_slope**2)


@quiz_answer
def layer_factor(scheme: str, fan_in: int, fan_out: int, activation: str = "relu",
                 negative_slope: float = 0.01, **init_kwargs: Any) -> float:
    """c_phi * fan_in * Var[W]: the factor by which one layer multiplies E[x^2] (zero biases).

    relu: kaiming 1, xavier (gain 1, square layers: Var = 1/n) 1/2, pytorch_default 1/6."""
    from relucourse.init import weight_variance

    kwargs = {"negative_slope": negative_slope} if activation == "leaky_relu" else {}
    var = weight_variance(scheme, fan_in, fan_out, activation, kwargs, **init_kwargs)
    return homogeneous_factor(activation, negative_slope) * fan_in * var


def gaussian_second_moment(activation: str, variance: float, cells: int = 20_000,
                           **activation_kwargs: Any) -> float:
    """E[phi(z)^2] for z ~ N(0, variance) (relu: variance / 2), accurate to ~1e-7 relative."""
    phi = activation_fn(activation, **activation_kwargs)
    return gaussian_expectation(lambda z: phi(z).detach() ** 2, variance, cells)


def gaussian_slope_moment(activation: str, variance: float, cells: int = 20_000,
                          **activation_kwargs: Any) -> float:
    """E[phi'(z)^2] for z ~ N(0, variance): the backward factor (relu: 1/2, sigmoid: <= 1/16)."""
    from relucourse.activations import derivative

    return gaussian_expectation(
        lambda z: derivative(activation, z, **activation_kwargs) ** 2, variance, cells)


@quiz_answer
def backward_factor(activation: str, weight_scale2: float | None = None,
                    **activation_kwargs: Any) -> float:
    """chi = n Var[w] E_{z~N(0,1)}[phi'(z)^2]: the per-layer factor of the gradient's second
    moment at unit pre-activation variance. ``weight_scale2`` = n Var[w] defaults to the
    activation's own Kaiming gain squared (``init.activation_gain``), where q = 1 is the forward
    fixed point; then chi = 1 exactly for positively homogeneous activations."""
    if weight_scale2 is None:
        weight_scale2 = activation_gain(activation, **activation_kwargs) ** 2
    return weight_scale2 * gaussian_slope_moment(activation, 1.0, **activation_kwargs)


def is_homogeneous(activation: str, **activation_kwargs: Any) -> bool:
    """Whether E_{N(0,q)}[phi^2] = q E_{N(0,1)}[phi^2] (checked at q = 1/4 and 4, to 1e-6): then
    the gain does not depend on the scale (relu, leaky_relu, prelu, identity)."""
    unit = gaussian_second_moment(activation, 1.0, **activation_kwargs)
    return all(abs(gaussian_second_moment(activation, q, **activation_kwargs) / (q * unit) - 1)
               < 1e-6 for q in (0.25, 4.0))


@dataclass(frozen=True)
class GainRow:
    """One activation's Kaiming gains: PyTorch's ``calculate_gain`` for the name PyTorch users pass
    (what the course applied before it computed gains), the computed forward fixed-point gain
    ``init.activation_gain``, and the backward factor chi at that gain."""

    activation: str
    options: dict[str, Any]
    torch_name: str
    torch_gain: float
    gain: float
    chi: float
    homogeneous: bool


def gain_table(activations: dict[str, dict[str, Any]] | None = None) -> list[GainRow]:
    """A ``GainRow`` per activation (default: every registered one, default options), for the
    table in chapter 5 section 4. PyTorch's gain gets ``negative_slope`` when the options have
    one, else 0.01 (what ``calculate_gain('leaky_relu')`` assumes, and PReLU used to get)."""
    from relucourse.activations import activation_names, get_spec

    activations = activations or {name: {} for name in activation_names()}
    rows = []
    for name, options in activations.items():
        torch_name = get_spec(name).gain_nonlinearity
        rows.append(GainRow(
            activation=name, options=dict(options), torch_name=torch_name,
            torch_gain=torch_gain(torch_name, options.get("negative_slope", 0.01)),
            gain=activation_gain(name, **options), chi=backward_factor(name, **options),
            homogeneous=is_homogeneous(name, **options)))
    return rows


@dataclass(frozen=True)
class Profile:
    """Per hidden layer l = 1..L: Var[y_l] (pre-activation), E[x_{l+1}^2] = E[phi(y_l)^2]
    (post-activation second moment) and, when measured, E[(dLoss/dy_l)^2] (backward)."""

    pre_var: list[float]
    second_moment: list[float]
    grad_second_moment: list[float] | None = None

    @property
    def depth(self) -> int:
        return len(self.pre_var)

    def ratio_per_layer(self, field: str = "second_moment") -> float:
        """Geometric-mean change per layer, (last / first)^(1/(L-1)): 1 means a flat profile.

        For the backward profile this is read from the top layer down (input side = "last")."""
        values = getattr(self, field)
        if field == "grad_second_moment":
            values = values[::-1]
        return float((values[-1] / values[0]) ** (1.0 / (len(values) - 1)))


def predicted_profile(depth: int, weight_scale2: float, activation: str = "relu",
                      input_second_moment: float = 1.0, **activation_kwargs: Any) -> Profile:
    """The mean-field prediction with sigma_w^2 = n Var[w] = ``weight_scale2`` (zero biases):
    q_1 = sigma_w^2 E[x_0^2], m_l = E[phi(z)^2] with z ~ N(0, q_l), q_{l+1} = sigma_w^2 m_l.

    Backward (top layer = 1 by convention of a unit gradient arriving there):
    g_l = E[phi'(y_l)^2] * sigma_w^2 * g_{l+1}, read from layer L down to 1.
    """
    pre, post = [], []
    q = weight_scale2 * input_second_moment
    for _ in range(depth):
        pre.append(q)
        m = gaussian_second_moment(activation, q, **activation_kwargs)
        post.append(m)
        q = weight_scale2 * m
    grads = [0.0] * depth
    g = gaussian_slope_moment(activation, pre[-1], **activation_kwargs)
    grads[-1] = g
    for layer in range(depth - 2, -1, -1):
        g = weight_scale2 * gaussian_slope_moment(activation, pre[layer], **activation_kwargs) * g
        grads[layer] = g
    return Profile(pre, post, grads)


# --- measurement ------------------------------------------------------------------------------

def square_mlp(depth: int, width: int, activation: str = "relu", init: str = "kaiming_normal",
               init_kwargs: dict[str, Any] | None = None, bias_init: float | None = 0.0,
               seed: int = 0, **activation_kwargs: Any) -> MLP:
    """A course MLP with ``depth`` hidden layers of ``width`` units fed ``width`` inputs (so every
    hidden layer has fan_in = fan_out = width), seeded and in float64."""
    cfg = ModelConfig(width=width, depth=depth, activation=activation,
                      activation_kwargs=activation_kwargs, init=init, init_kwargs=init_kwargs or {},
                      bias_init=bias_init)
    return init_model(cfg, width, 10, seed).double()


def measure_profile(model: MLP, x: torch.Tensor, seed: int = 0) -> Profile:
    """Push ``x`` through the hidden blocks, then backpropagate a random N(0, 1) gradient from
    the last hidden layer's output (not through the head, so no head init enters the profile).

    Returns per-layer Var[y_l], E[phi(y_l)^2] and E[(dLoss/dy_l)^2]."""
    h = x.to(torch.float64)
    pre: list[torch.Tensor] = []
    for block in model.blocks:
        y = block.linear(h)
        y.retain_grad()
        pre.append(y)
        h = block.act(block.norm(y))
    g = torch.randn(h.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=h.dtype)
    (h * g).sum().backward()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        post = [model.blocks[i].act(y) for i, y in enumerate(pre)]
        return Profile(
            pre_var=[y.var().item() for y in pre],
            second_moment=[a.pow(2).mean().item() for a in post],
            grad_second_moment=[y.grad.pow(2).mean().item() for y in pre],
        )


def forward_profile(depth: int, width: int = 256, activation: str = "relu",
                    init: str = "kaiming_normal", init_kwargs: dict[str, Any] | None = None,
                    n_samples: int = 1024, seed: int = 0, bias_init: float | None = 0.0,
                    **activation_kwargs: Any) -> Profile:
    """Measure a freshly initialised square MLP on a batch x ~ N(0, 1) (so E[x_0^2] = 1)."""
    model = square_mlp(depth, width, activation, init, init_kwargs, bias_init, seed,
                       **activation_kwargs)
    x = torch.randn(n_samples, width, generator=torch.Generator().manual_seed(seed + 10_000),
                    dtype=torch.float64)
    return measure_profile(model, x, seed=seed)


def single_layer_gains(fan_in: int, fan_out: int, mode: str = "fan_in", n_samples: int = 4096,
                       seed: int = 0) -> tuple[float, float]:
    """One ReLU layer y_out = W relu(y_in), y_in ~ N(0, 1), W Kaiming-normal with ``mode``.

    Returns (forward gain Var[y_out]/Var[y_in], backward gain E[d_in^2]/E[d_out^2]) for a
    gradient d_out ~ N(0, 1) on y_out. Theory: fan_in mode (1, fan_out/fan_in), fan_out mode
    (fan_in/fan_out, 1): one direction is preserved exactly, the other by the width ratio."""
    g = torch.Generator().manual_seed(seed)
    fan = fan_in if mode == "fan_in" else fan_out
    w = torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64) * math.sqrt(2.0 / fan)
    y_in = torch.randn(n_samples, fan_in, generator=g, dtype=torch.float64).requires_grad_(True)
    y_out = y_in.clamp_min(0) @ w.T
    d_out = torch.randn(y_out.shape, generator=g, dtype=torch.float64)
    (y_out * d_out).sum().backward()
    forward = y_out.detach().var().item() / y_in.detach().var().item()
    backward = y_in.grad.pow(2).mean().item() / d_out.pow(2).mean().item()
    return forward, backward


# --- the deep-network experiment (He et al. 2015, Fig. 3 analogue) ------------------------------

INIT_CHOICES: dict[str, dict[str, Any]] = {
    # PyTorch's nn.Linear default: U(+-1/sqrt(fan_in)) weights *and* biases, Var[W] = 1/(3 fan_in).
    "PyTorch default": {"init": "pytorch_default", "bias_init": None},
    # Glorot & Bengio's Var[W] = 2/(fan_in + fan_out), gain 1 (init.py never adds a hidden gain).
    "Xavier (gain 1)": {"init": "xavier_normal", "bias_init": 0.0},
    "Kaiming (fan_in)": {"init": "kaiming_normal", "bias_init": 0.0},
}


def init_comparison(depth: int, steps: int, width: int = 64, lr: float = 0.05,
                    activation: str = "relu", dataset: str = "mnist1d", batch_size: int = 128,
                    eval_every: int | None = None,
                    val_fraction: float = 0.0) -> dict[str, RunConfig]:
    """One plain-SGD RunConfig per entry of ``INIT_CHOICES``: the Fig. 3 comparison of the
    chapter (no BatchNorm, no momentum, constant learning rate; ``val_fraction > 0`` carves the
    validation split that ``rc.tune`` chooses each init's learning rate on)."""
    train = TrainConfig(optimizer="sgd", lr=lr, momentum=0.0, batch_size=batch_size, steps=steps,
                        eval_every=eval_every or max(steps // 20, 1))
    out = {}
    for label, fields in INIT_CHOICES.items():
        model = ModelConfig(width=width, depth=depth, activation=activation, **fields)
        out[label] = RunConfig(data=DataConfig(name=dataset, val_fraction=val_fraction),
                               model=model, train=train)
    return out


def plateau_exit_step(result: Record, margin: float = 0.05,
                      chance: float = CHANCE_LOSS_10) -> int | None:
    """First recorded step whose training loss is ``margin`` below chance, or None if never:
    how long a run sat on the chance-level plateau."""
    for step, loss in zip(result.steps, result.train_loss, strict=True):
        if loss < chance - margin:
            return step
    return None
