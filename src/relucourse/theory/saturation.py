"""How the gradient shrinks on its way down a deep network at initialisation.

Chapter: "Sigmoid saturation and vanishing gradients" (chapters/02_sigmoid_saturation.ipynb) and
its lab (labs/02_sigmoid_lab.ipynb). The module also holds that chapter's cost measurement (what the
exp costs per step); the per-layer activation trajectories during training are read from records
(``records.Record.layer_series``) and drawn by ``plots.layer_trajectories``.

Backpropagation through hidden layer l of an MLP, z_l = W_l h_{l-1} + b_l and h_l = phi(z_l):

    delta_{l-1} = phi'(z_{l-1}) * (W_l^T delta_l),        dL/dW_l = delta_l h_{l-1}^T.

At initialisation W_l has i.i.d. entries of variance Var[W] and fan-in n, so each layer multiplies
E||delta||^2 by about n Var[W] E[phi'(z)^2]. Since sigmoid' <= 1/4 everywhere, for sigmoid

    per-layer factor on ||delta||  <=  sqrt(n Var[W] / 16),

which is sqrt(1/48) ~ 0.144 with PyTorch's default nn.Linear init (n Var[W] = 1/3). Sigmoid's outputs
stay near 1/2, so ||h_{l-1}|| does not shrink to compensate and ||dL/dW_l|| itself shrinks by that
factor per layer. For tanh and ReLU the forward activations shrink by a similar factor as the
backward signal, and the weight-gradient norms stay roughly level across layers
(Glorot & Bengio 2010, section 4.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from relucourse.answers import quiz_answer
from relucourse.config import ModelConfig, TrainConfig
from relucourse.experiments import init_model, training_step
from relucourse.probes import gradient_norms
from relucourse.timing import Timing, activation_step, interleaved


def default_linear_n_var(fan_in: int, fan_out: int = 256, seed: int = 0) -> float:
    """fan_in * Var[W] of a freshly built ``nn.Linear``, measured (not computed from a formula).

    PyTorch draws W ~ U(-1/sqrt(n), 1/sqrt(n)) with n = fan_in, whose variance is (1/sqrt(n))^2 / 3,
    so the result is close to 1/3: Glorot & Bengio's "standard" initialisation.
    """
    torch.manual_seed(seed)
    layer = nn.Linear(fan_in, fan_out)
    return fan_in * layer.weight.detach().double().var().item()


@quiz_answer
def uniform_n_var(bound_times_sqrt_n: float = 1.0) -> float:
    """n Var[W] for W ~ U(-a/sqrt(n), a/sqrt(n)): a^2 / 3 (a = 1 is PyTorch's default, 1/3)."""
    return bound_times_sqrt_n**2 / 3.0


@quiz_answer
def sigmoid_layer_factor_bound(n_var_w: float = 1.0 / 3.0) -> float:
    """Upper bound on how much one sigmoid layer scales the backward signal: sqrt(n Var[W] / 16).

    Uses sigmoid' <= 1/4, so E[sigmoid'(z)^2] <= 1/16 whatever the pre-activations are.
    """
    if n_var_w <= 0:
        raise ValueError(f"n_var_w must be positive, got {n_var_w}")
    return math.sqrt(n_var_w / 16.0)


def sigmoid_depth_bound(depth: int, n_var_w: float = 1.0 / 3.0) -> float:
    """Bound on ||dL/dW_1|| / ||dL/dW_L|| for ``depth`` sigmoid layers: factor^(depth - 1)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return sigmoid_layer_factor_bound(n_var_w) ** (depth - 1)


def make_mlp(activation: str, depth: int, in_features: int, num_classes: int, width: int = 64,
             init: str = "pytorch_default", bias_init: float | None = 0.0, seed: int = 0,
             **kwargs: Any) -> nn.Module:
    """The course MLP at initialisation, seeded and built by ``experiments.init_model``; extra
    keyword arguments are ``ModelConfig`` fields (activation_kwargs, init_kwargs...)."""
    cfg = ModelConfig(width=width, depth=depth, activation=activation, init=init,
                      bias_init=bias_init, **kwargs)
    return init_model(cfg, in_features, num_classes, seed)


def layer_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """||dL/dW_l|| for every hidden layer l = 1..L (input side first), one cross-entropy backward.

    The head is left out: the plots count hidden layers only, so depth L gives L points.
    """
    norms = gradient_norms(model, x, y, target="linear")
    return [norms[f"blocks.{i}.linear"] for i in range(len(norms))]


def init_gradient_profile(activation: str, depth: int, x: torch.Tensor, y: torch.Tensor,
                          width: int = 64, init: str = "pytorch_default",
                          bias_init: float | None = 0.0, seeds: Sequence[int] = (0, 1, 2),
                          num_classes: int | None = None, **kwargs: Any) -> list[float]:
    """Per-layer weight-gradient norms at initialisation, geometric mean over ``seeds``.

    The geometric mean suits quantities that vary over orders of magnitude (log-scale plots).
    """
    classes = num_classes or int(y.max().item()) + 1
    logs = []
    for seed in seeds:
        model = make_mlp(activation, depth, x[0].numel(), classes, width=width, init=init,
                         bias_init=bias_init, seed=seed, **kwargs)
        logs.append(np.log(layer_gradient_norms(model, x, y)))
    return np.exp(np.mean(logs, axis=0)).tolist()


def gradient_profiles(activations: Sequence[str], depths: Sequence[int], x: torch.Tensor,
                      y: torch.Tensor, **kwargs: Any) -> dict[tuple[str, int], list[float]]:
    """``init_gradient_profile`` for every (activation, depth) pair."""
    return {(a, d): init_gradient_profile(a, d, x, y, **kwargs) for a in activations for d in depths}


def first_to_last(norms: Sequence[float]) -> float:
    """||dL/dW_1|| / ||dL/dW_L||: how much weaker the gradient is at the input side."""
    return float(norms[0] / norms[-1])


def per_layer_factor(norms: Sequence[float]) -> float:
    """Geometric-mean ratio between consecutive layers, measured from layer 2 up to layer L.

    Layer 1 is skipped: its input is the data, not a previous layer's activations, so its gradient
    norm carries a different ||h_0||. Needs at least 3 layers.
    """
    if len(norms) < 3:
        raise ValueError(f"need at least 3 layers to measure a per-layer factor, got {len(norms)}")
    return float((norms[1] / norms[-1]) ** (1.0 / (len(norms) - 2)))


# --------------------------------------------------------------------------------------------
# The mean-field backward gain (chapter section "Is there a scale that gives sigmoid unit gain?")
# --------------------------------------------------------------------------------------------
# With zero biases and W_l of i.i.d. entries of variance Var[W], a wide network's pre-activations
# are Gaussian with second moment q_l, and (Poole et al. 2016; Schoenholz et al. 2017)
#
#     q_{l+1} = n Var[W] E_{z~N(0, q_l)}[phi(z)^2]                         (forward)
#     chi     = n Var[W] E_{z~N(0, q*)}[phi'(z)^2]                         (backward gain)
#
# where q* is the fixed point the forward recursion settles on and chi is the factor by which one
# layer multiplies E||delta||^2 there (chi = 1: the backward signal neither vanishes nor explodes).
# For ReLU E[relu'(z)^2] = 1/2 whatever q, so chi = n Var[W] / 2 exactly; for tanh, q* = 0 when
# n Var[W] <= 1 and chi = n Var[W] there. Sigmoid's outputs are never 0 (E[sigmoid(z)] = 1/2 for
# symmetric z), so q* >= n Var[W] / 4 > 0 for every scale, and chi grows with the scale.

# Integration grid: midpoint rule on [-12 sd, 12 sd] with an even number of cells, so z = 0 is a
# cell edge (ReLU's kink and its slope's jump are then integrated exactly).
CELLS = 6_000  # spacing 0.004 sd: ~30 points across sigmoid's slope at sd = 8 (n Var[W] = 150)
Q_MIN, Q_MAX = 1e-12, 1e12  # q* below / above these reads as 0 / inf (no finite fixed point)


def _unit_grid(cells: int = CELLS) -> tuple[torch.Tensor, torch.Tensor]:
    edges = torch.linspace(-12.0, 12.0, 2 * (cells // 2) + 1, dtype=torch.float64)
    u = (edges[1:] + edges[:-1]) / 2
    weights = torch.exp(-u**2 / 2)
    return u, weights / weights.sum()  # normalised: E[1] = 1 exactly


def gaussian_expectations(fn: Callable[[torch.Tensor], torch.Tensor], variances: Sequence[float],
                          cells: int = CELLS) -> np.ndarray:
    """E_{z ~ N(0, q)}[fn(z)] for every q in ``variances`` (one vectorised midpoint rule).

    ``fn`` maps a float64 tensor to a tensor of the same shape. Accurate to about 1e-8 for smooth
    functions and for ReLU's kink; for very steep functions (sigmoid at sd > ~100) the grid stops
    resolving the slope's bump, which is far outside the scales used in the course.
    """
    u, w = _unit_grid(cells)
    sd = torch.as_tensor(np.sqrt(np.asarray(variances, dtype=np.float64)))
    out = []
    for chunk in torch.split(sd, 64):  # 64 x cells values at a time
        values = fn(chunk[:, None] * u[None, :])
        out.append((values * w).sum(dim=1))
    return torch.cat(out).numpy()


def _moments(activation: str, kwargs: dict[str, Any]) -> tuple[Callable, Callable]:
    from relucourse.activations import activation_fn, derivative

    phi = activation_fn(activation, **kwargs)
    return (lambda z: phi(z).detach() ** 2,
            lambda z: derivative(activation, z, **kwargs) ** 2)


@quiz_answer
def slope_second_moment(activation: str = "sigmoid", variance: float = 1.0,
                        **activation_kwargs: Any) -> float:
    """E[phi'(z)^2] for z ~ N(0, variance): what one layer's slopes do to E||delta||^2 before the
    weights (sigmoid: <= 1/16, approached as variance -> 0; ReLU: 1/2; tanh: <= 1)."""
    _, dphi2 = _moments(activation, activation_kwargs)
    return float(gaussian_expectations(dphi2, [variance])[0])


def fixed_points(activation: str, n_vars: Sequence[float], q0: float = 1.0,
                 **activation_kwargs: Any) -> np.ndarray:
    """The forward fixed point q* of q -> n Var[W] E_{z~N(0,q)}[phi(z)^2] reached from q0, for
    each scale in ``n_vars`` (zero biases). 0.0 when the signal dies out (tanh with
    n Var[W] <= 1, ReLU below 2), inf when it grows without bound (ReLU above 2); at ReLU's
    n Var[W] = 2 every q is a fixed point and q0 is returned.

    The map is increasing in q for these activations, so from q0 the iterates move monotonically
    to the nearest fixed point in the direction of q0's image; that point is bracketed on a
    log-spaced grid of q and refined by bisection in log q.
    """
    n_vars = np.asarray(n_vars, dtype=np.float64)
    if (n_vars <= 0).any() or q0 <= 0:
        raise ValueError(f"n_vars and q0 must be positive, got {n_vars.tolist()} and {q0}")
    phi2, _ = _moments(activation, activation_kwargs)
    image = lambda q: gaussian_expectations(phi2, q)  # noqa: E731  E[phi^2] at each q
    grid = np.logspace(np.log10(Q_MIN), np.log10(Q_MAX), 241)
    gap = n_vars[:, None] * image(grid)[None, :] - grid[None, :]  # map(q) - q
    start = n_vars * image([q0])[0] - q0
    out = np.empty_like(n_vars)
    lo, hi = np.empty_like(n_vars), np.empty_like(n_vars)
    todo = np.zeros(len(n_vars), dtype=bool)
    for i, g0 in enumerate(start):
        if abs(g0) <= 1e-9 * q0:
            out[i] = q0
            continue
        if g0 > 0:  # iterates grow: the first grid point above q0 where the map falls below q
            above = np.nonzero((grid > q0) & (gap[i] <= 0))[0]
            if not len(above):
                out[i] = math.inf
                continue
            k = above[0]
            lo[i], hi[i] = (grid[k - 1] if grid[k - 1] > q0 else q0), grid[k]
        else:  # iterates shrink: the last grid point below q0 where the map is above q
            below = np.nonzero((grid < q0) & (gap[i] >= 0))[0]
            if not len(below):
                out[i] = 0.0
                continue
            k = below[-1]
            lo[i], hi[i] = grid[k], (grid[k + 1] if grid[k + 1] < q0 else q0)
        todo[i] = True
    if todo.any():  # in both cases map(q) - q is >= 0 at lo and <= 0 at hi
        a, b, nv = np.log(lo[todo]), np.log(hi[todo]), n_vars[todo]
        for _ in range(40):  # 40 halvings of a bracket at most ~1.3x wide: ~1e-13 relative
            mid = (a + b) / 2
            above = nv * image(np.exp(mid)) - np.exp(mid) > 0
            a, b = np.where(above, mid, a), np.where(above, b, mid)
        out[todo] = np.exp((a + b) / 2)
    return out


@dataclass(frozen=True)
class MeanField:
    """The mean-field state of a deep stack at one scale: the fixed point and its backward gain."""

    activation: str
    n_var: float
    q_star: float  # second moment of the pre-activations at the fixed point (0: dies, inf: grows)
    chi: float  # n Var[W] E[phi'(z)^2] at q*: one layer's factor on E||delta||^2

    @property
    def pre_std(self) -> float:
        """Standard deviation of the pre-activations at the fixed point, sqrt(q*)."""
        return math.sqrt(self.q_star)


def mean_field(activation: str, n_vars: Sequence[float] | float, q0: float = 1.0,
               **activation_kwargs: Any) -> list[MeanField] | MeanField:
    """q* and chi for each scale n Var[W] (one ``MeanField``, or a list for a sequence).

    chi is evaluated at q* clipped to [1e-12, 1e12]: the limit for a signal that dies out (tanh:
    chi -> n Var[W]) or grows (ReLU: n Var[W] / 2 at every q).
    """
    scalar = np.ndim(n_vars) == 0
    nv = np.atleast_1d(np.asarray(n_vars, dtype=np.float64))
    q = fixed_points(activation, nv, q0, **activation_kwargs)
    _, dphi2 = _moments(activation, activation_kwargs)
    slopes = gaussian_expectations(dphi2, np.clip(q, Q_MIN, Q_MAX))
    out = [MeanField(activation, float(n), float(qs), float(n * s))
           for n, qs, s in zip(nv, q, slopes, strict=True)]
    return out[0] if scalar else out


@quiz_answer
def backward_gain(activation: str = "sigmoid", n_var: float = 1.0) -> float:
    """chi = n Var[W] E[phi'(z)^2] at the forward fixed point (zero biases); 1 = unit gain."""
    return mean_field(activation, n_var).chi


def fixed_point_curve(activation: str, q: Sequence[float],
                      **activation_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """The curve (n Var[W], chi) traced by the fixed point itself, for each q* in ``q``.

    q is the fixed point at the scale n Var[W] = q / E[phi(z)^2] (z ~ N(0, q)), and there
    chi = q E[phi'(z)^2] / E[phi(z)^2]: two integrals per q instead of a root search per scale,
    which is how the chapter draws chi against n Var[W]. Where n Var[W] increases with q (sigmoid
    and tanh here; checked in tests/test_saturation.py) each scale has one fixed point and this is
    the one ``fixed_points`` finds.
    """
    q = np.asarray(q, dtype=np.float64)
    if (q <= 0).any():
        raise ValueError("every q must be positive")
    phi2, dphi2 = _moments(activation, activation_kwargs)
    m, s = gaussian_expectations(phi2, q), gaussian_expectations(dphi2, q)
    return q / m, q * s / m


@quiz_answer
def unit_gain_n_var(activation: str = "sigmoid", q_lo: float = 1e-3, q_hi: float = 1e4) -> float:
    """The scale n Var[W] at which chi = 1 (sigmoid: about 100), found on ``fixed_point_curve``
    by bisection in log q* (chi increases along it). tanh reaches chi = 1 only in the limit
    q* -> 0 (n Var[W] = 1) and ReLU at n Var[W] = 2 for every q*: both raise here."""
    chi = lambda q: fixed_point_curve(activation, [q])[1][0] - 1  # noqa: E731
    a, b = math.log(q_lo), math.log(q_hi)
    if not chi(q_lo) < 0 < chi(q_hi):
        raise ValueError(f"chi does not cross 1 for q* between {q_lo} and {q_hi} for {activation}")
    for _ in range(50):
        mid = (a + b) / 2
        a, b = (mid, b) if chi(math.exp(mid)) < 0 else (a, mid)
    return float(fixed_point_curve(activation, [math.exp((a + b) / 2)])[0][0])

@dataclass(frozen=True)
class DeepSignal:
    """At-init measurements, layer by layer (1 = closest to the input), of a wide random stack
    z_l = W_l h_{l-1}, h_l = phi(z_l) with W_l ~ N(0, n Var[W] / fan_in) and zero biases.

    ``input_dependent`` is the share of the pre-activations' second moment that changes from one
    input to another, mean_units Var_x[z_i] / mean_units E_x[z_i^2]: the rest is a per-unit
    constant that carries no information about the input (for sigmoid it comes from the +1/2
    offset of every unit's output: z_i = sum_j W_ij (1/2 + (h_j - 1/2))). ``saturated`` is the
    fraction of (input, unit) outputs within 0.05 of an asymptote (``stats.saturation_fraction``;
    sigmoid and tanh only, NaN otherwise). ``backward_gain`` is E||delta_{l-1}||^2 / E||delta_l||^2
    for a random delta entering the top layer: the measured counterpart of ``MeanField.chi``.
    """

    activation: str
    n_var: float
    width: int
    pre_std: list[float]
    mean_output: list[float]
    saturated: list[float]
    input_dependent: list[float]
    backward_gain: list[float]  # one per layer below the top: gain from layer l+1 down to l

    @property
    def depth(self) -> int:
        return len(self.pre_std)

    def mean_gain(self, skip: int = 2) -> float:
        """Geometric mean of the per-layer backward gains, skipping the ``skip`` layers nearest
        the input (where the pre-activations have not yet reached the fixed point)."""
        g = np.asarray(self.backward_gain[skip:])
        return float(np.exp(np.log(g).mean()))


def deep_signal(activation: str, n_var: float, x: torch.Tensor, depth: int = 10, width: int = 512,
                seed: int = 0, **activation_kwargs: Any) -> DeepSignal:
    """Push the inputs ``x`` (samples x features) through a random stack and measure, per layer,
    the pre-activation spread, the outputs' mean, saturation and input-dependent share, and the
    backward gain (see ``DeepSignal``); float64, one seed."""
    from relucourse.activations import activation_fn, derivative
    from relucourse.stats import saturation_fraction

    phi = activation_fn(activation, **activation_kwargs)
    g = torch.Generator().manual_seed(seed)
    h = x.detach().to("cpu", torch.float64).flatten(1)
    weights, pres = [], []
    pre_std, mean_out, saturated, dependent = [], [], [], []
    for _ in range(depth):
        w = torch.randn(width, h.shape[1], generator=g, dtype=torch.float64)
        w *= math.sqrt(n_var / h.shape[1])
        z = h @ w.T
        h = phi(z)
        weights.append(w)
        pres.append(z)
        pre_std.append(z.pow(2).mean().sqrt().item())
        mean_out.append(h.mean().item())
        saturated.append(saturation_fraction(h, activation) if activation in ("sigmoid", "tanh")
                         else float("nan"))
        dependent.append((z.var(dim=0, unbiased=False).mean() / z.pow(2).mean()).item())
    delta = torch.randn(pres[-1].shape, generator=g, dtype=torch.float64)
    gains = []
    for layer in range(depth - 1, 0, -1):  # from layer l+1 = depth down to layer 1
        below = derivative(activation, pres[layer - 1], **activation_kwargs) * (delta @ weights[layer])
        gains.append((below.pow(2).sum() / delta.pow(2).sum()).item())
        delta = below
    return DeepSignal(activation, float(n_var), width, pre_std, mean_out, saturated, dependent,
                      gains[::-1])


# --------------------------------------------------------------------------------------------
# Training at increasing depth, with tuned learning rates (chapter section 4) and the cost of
# reaching an accuracy (section 6)
# --------------------------------------------------------------------------------------------

# The learning-rate grids ``tune`` searches (fast mode, full mode): log-spaced by about 3x. (Full
# mode once also tried 3e-4 for Adam; at 2,000 and 3,000 steps no network chose it.)
LR_GRIDS = {"sgd": ([0.01, 0.03, 0.1, 0.3, 1.0], [0.01, 0.03, 0.1, 0.3, 1.0]),
            "adam": ([1e-3, 3e-3, 1e-2, 3e-2, 1e-1], [1e-3, 3e-3, 1e-2, 3e-2, 1e-1])}
CHANCE_ACC = 0.1  # 10 balanced classes (MNIST-1D)


def lr_grid(optimizer: str = "sgd") -> list[float]:
    """The chapter's learning-rate grid for ``optimizer`` in the current mode."""
    from relucourse.runtime import by_mode

    return list(by_mode(*LR_GRIDS[optimizer]))


def depth_config(activation: str, depth: int, optimizer: str = "sgd", **model_fields: Any):
    """The chapter's network for training at depth: an MLP of width 32, the course's Kaiming init
    (each activation's own gain, ``init.activation_gain``) and zero biases, on MNIST-1D with a 10%
    validation split; SGD with momentum 0.9 or Adam, minibatches of 128, 300 steps (2,000 in full
    mode). ``model_fields`` override ``ModelConfig`` fields (``batchnorm``, ``activation_kwargs``).
    The learning rate is a placeholder: ``tune`` chooses it."""
    from relucourse.config import DataConfig, RunConfig, TrainConfig
    from relucourse.runtime import by_mode

    model = ModelConfig(**{"width": 32, "depth": depth, "activation": activation,
                           "init": "kaiming_normal", "bias_init": 0.0, **model_fields})
    train = TrainConfig(optimizer=optimizer, lr=LR_GRIDS[optimizer][0][1],
                        momentum=0.9 if optimizer == "sgd" else 0.0, batch_size=128,
                        steps=by_mode(300, 2000), eval_every=by_mode(20, 50))
    return RunConfig(data=DataConfig(name="mnist1d", val_fraction=0.1), model=model, train=train)


def depths() -> tuple[int, ...]:
    """The depths section 4 trains (fast mode, full mode)."""
    from relucourse.runtime import by_mode

    return by_mode((2, 4, 8), (2, 4, 6, 8, 10))


def model_n_var(model: ModelConfig, in_features: int = 40, num_classes: int = 10,
                seed: int = 0) -> float:
    """fan_in x Var[W] of the second hidden layer of the model ``model`` describes, measured on
    its initial weights (a hidden-to-hidden layer: its fan-in is the width)."""
    weight = init_model(model, in_features, num_classes, seed).blocks[1].linear.weight.detach()
    return weight.shape[1] * weight.double().var().item()


def steps_to_accuracy(record: Any, target: float, metric: str = "val_acc") -> int | None:
    """First evaluation step at which ``metric`` (an accuracy) is >= ``target``; None if never
    (or if the run diverged first)."""
    for step, value in zip(record.steps, getattr(record, metric), strict=True):
        if value >= target:
            return step
    return None


def plateau_length(record: Any, threshold: float = 2 * CHANCE_ACC) -> int | None:
    """How long a run sat on the chance-level plateau: the first evaluation step at which the
    validation accuracy reaches ``threshold`` (twice chance by default); None if it never did."""
    return steps_to_accuracy(record, threshold, "val_acc")


@dataclass(frozen=True)
class TimeToAccuracy:
    """Time to a target accuracy = time per step x steps to reach it, for each activation.

    ``steps``: mean over seeds of the steps each tuned run took to reach ``target`` validation
    accuracy (every seed must reach it). ``step_time``: one training step of that network, timed
    interleaved (4 x ``repeats`` samples). ``run_time``: whole runs from initialisation to the
    target step, timed interleaved (``repeats`` samples): the direct measurement that the
    decomposition predicts.
    """

    target: float
    steps: dict[str, float]
    lr: dict[str, float]
    step_time: dict[str, Timing]
    run_time: dict[str, Timing]
    run_steps: dict[str, int]

    def step_ratio(self, a: str, b: str) -> float:
        return self.step_time[a].median_s / self.step_time[b].median_s

    def steps_ratio(self, a: str, b: str) -> float:
        return self.steps[a] / self.steps[b]

    def predicted_ratio(self, a: str, b: str) -> float:
        """(time per step ratio) x (steps ratio): the decomposition's time-to-accuracy ratio."""
        return self.step_ratio(a, b) * self.steps_ratio(a, b)

    def measured_ratio(self, a: str, b: str) -> float:
        """Ratio of whole runs timed from init to the target step (``run_time``)."""
        return self.run_time[a].median_s / self.run_time[b].median_s

    def report(self, a: str = "sigmoid", b: str = "relu") -> str:
        lines = [f"target: validation accuracy {self.target:g}"]
        for name in (a, b):
            lines.append(f"  {name:8s} lr {self.lr[name]:g}: {self.steps[name]:7.1f} steps (mean over "
                         f"seeds) x {1e3 * self.step_time[name].median_s:.3f} ms per step; a run of "
                         f"{self.run_steps[name]} steps took {1e3 * self.run_time[name].median_s:.1f} ms")
        lines.append(f"  {a} / {b}: time per step {self.step_ratio(a, b):.2f}x, steps to target "
                     f"{self.steps_ratio(a, b):.2f}x, product {self.predicted_ratio(a, b):.2f}x; "
                     f"whole runs measured {self.measured_ratio(a, b):.2f}x")
        return "\n".join(lines)


def _closures(cfg: Any, steps: int, data: Any, seed: int = 0) -> tuple[Callable[[], None],
                                                                       Callable[[], None]]:
    """Two closures for ``cfg`` on ``data``'s minibatches, as the training loop runs them: one
    training step of a model built once (forward, cross-entropy, backward, update), and a whole
    run of ``steps`` steps from a fresh initialisation (no evaluation)."""
    from relucourse.train import make_optimizer

    def start() -> tuple[nn.Module, torch.optim.Optimizer, Any]:
        model = init_model(cfg.model, data.n_features, data.num_classes, seed).to(data.device)
        batches = data.batches(cfg.train.batch_size, torch.Generator().manual_seed(seed))
        return model, make_optimizer(model, cfg.train), batches

    def step(model: nn.Module, opt: torch.optim.Optimizer, batches: Any) -> None:
        idx = next(batches)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
        opt.step()

    state = start()

    def one_step() -> None:
        step(*state)

    def whole_run() -> None:
        fresh = start()
        for _ in range(steps):
            step(*fresh)

    return one_step, whole_run


def time_to_accuracy(cfgs: dict[str, Any], target: float, seeds: Sequence[int] = (0, 1, 2),
                     repeats: int = 5, quiet: bool = True) -> TimeToAccuracy:
    """Tune each config's learning rate (``lr_grid`` of its optimiser, on validation loss), count
    the steps its runs take to ``target`` validation accuracy, time one training step of each
    interleaved, and time whole runs from init to the (seed-mean) target step interleaved.

    ``cfgs`` maps an activation name to its config. Raises ``ValueError`` when a seed never
    reaches the target (choose a lower one).
    """
    from relucourse.experiments import tune
    from relucourse.experiments.runner import load_data
    from relucourse.runtime import pick_device

    optimizers = {c.train.optimizer for c in cfgs.values()}
    if len(optimizers) != 1:
        raise ValueError(f"compare one optimiser at a time, got {sorted(optimizers)}")
    tuned = tune(cfgs, grid={"train.lr": lr_grid(optimizers.pop())}, seeds=seeds, quiet=quiet)
    steps, lrs = {}, {}
    for name, records in tuned.items():
        reached = [steps_to_accuracy(r, target) for r in records]
        if None in reached:
            raise ValueError(f"{name}: {reached.count(None)} of {len(reached)} seeds never reach "
                             f"validation accuracy {target}; choose a lower target")
        steps[name] = float(np.mean(reached))
        lrs[name] = tuned.params(name)["train.lr"]
    device = pick_device()
    first = next(iter(cfgs.values()))
    data = load_data(first, device)
    tuned_cfgs = {n: c.replace(**{"train.lr": lrs[n]}) for n, c in cfgs.items()}
    step_fns, run_fns, run_steps = {}, {}, {}
    for name, cfg in tuned_cfgs.items():
        run_steps[name] = max(1, round(steps[name]))
        step_fns[name], run_fns[name] = _closures(cfg, run_steps[name], data)
    # Single steps are short and cheap: many samples, so that a slow spell on a busy machine
    # cannot move their median; whole runs are long, so a few samples each.
    step_time = interleaved(step_fns, repeats=4 * repeats, warmup=2, device=device)
    run_time = interleaved(run_fns, repeats=repeats, warmup=1, device=device)
    return TimeToAccuracy(target, steps, lrs, step_time, run_time, run_steps)


# --------------------------------------------------------------------------------------------
# What sigmoid costs per step (chapter section "What does the exp cost?")
# --------------------------------------------------------------------------------------------
# What sigmoid costs compared with ReLU: alone on a big tensor, and inside a training step.
#
# Chapter: "Sigmoid saturation and vanishing gradients", section "What does the exp cost?"
# (chapters/02_sigmoid_saturation.ipynb).
#
# sigmoid needs an exp per element forward (and a multiply-add backward, s(1-s)); ReLU needs a
# comparison. On its own the activation is memory-bound on a GPU and exp-bound on a CPU, so sigmoid
# can be measurably slower. But in an MLP step the matmuls cost O(batch * width^2) per layer against
# O(batch * width) for the activation, so the activation's share, and with it the sigmoid/ReLU
# ratio of the whole step, shrinks as the layers get wider. Timings come from ``timing.measure``
# (warm-up, device sync, median); only ratios measured in one run on one machine are compared.


def train_step(activation: str, width: int, depth: int, batch: int,
               device: torch.device | str = "cpu", in_features: int = 256,
               num_classes: int = 10, seed: int = 0) -> Callable[[], None]:
    """A closure running one SGD step (forward, cross-entropy, backward, update) of a course MLP."""
    return training_step(ModelConfig(width=width, depth=depth, activation=activation), in_features,
                         num_classes, batch, TrainConfig(optimizer="sgd", lr=1e-3), device=device,
                         seed=seed)


@dataclass(frozen=True)
class CostComparison:
    """Median times of sigmoid and ReLU, alone and in MLP training steps of several widths."""

    device: str
    numel: int
    act: dict[str, Timing]
    steps: dict[int, dict[str, Timing]]  # width -> activation -> timing

    @property
    def act_ratio(self) -> float:
        """sigmoid time / ReLU time, forward + backward of the activation alone."""
        return self.act["sigmoid"].median_s / self.act["relu"].median_s

    def step_ratio(self, width: int) -> float:
        """sigmoid time / ReLU time for a whole MLP training step at ``width``."""
        return self.steps[width]["sigmoid"].median_s / self.steps[width]["relu"].median_s

    @property
    def widths(self) -> list[int]:
        return sorted(self.steps)

    def all_positive(self) -> bool:
        timings = [*self.act.values(), *(t for w in self.steps.values() for t in w.values())]
        return all(t.min_s > 0 for t in timings)

    def table(self) -> str:
        """A plain-text table: milliseconds per call and the sigmoid / ReLU ratio."""
        rows = [f"{'(' + self.device + ', median ms)':34s}{'sigmoid':>10s}{'relu':>10s}{'ratio':>8s}"]

        def row(name: str, t: dict[str, Timing], ratio: float) -> str:
            return (f"{name:34s}{1e3 * t['sigmoid'].median_s:10.3f}{1e3 * t['relu'].median_s:10.3f}"
                    f"{ratio:8.2f}")

        rows.append(row(f"activation alone, {self.numel:,} values", self.act, self.act_ratio))
        for w in self.widths:
            rows.append(row(f"MLP training step, width {w}", self.steps[w], self.step_ratio(w)))
        return "\n".join(rows)


def compare(numel: int, widths: tuple[int, ...] = (64, 256, 1024), depth: int = 4,
            batch: int = 256, device: torch.device | str = "cpu", repeats: int = 7) -> CostComparison:
    """Time sigmoid vs ReLU on a tensor of ``numel`` elements and in MLP steps of each width.

    Each pair (the activations alone; the two steps at one width) is timed on its own, interleaved
    call by call (``timing.interleaved``), so a slow spell on a shared machine hits both members of
    a pair rather than one, and a wide layer's step does not sit between the two small calls it is
    compared with (timed together, the 1024-wide steps evicted the caches of the activation-alone
    calls and made their ratio swing from 0.9 to 3 under load). Each entry is the median of
    ``repeats`` samples.
    """
    names = ("sigmoid", "relu")
    act = interleaved({n: activation_step(n, numel, device) for n in names}, repeats=repeats,
                      warmup=2, device=device)
    steps = {w: interleaved({n: train_step(n, w, depth, batch, device) for n in names},
                            repeats=repeats, warmup=2, device=device) for w in widths}
    return CostComparison(torch.device(device).type, numel, act, steps)
