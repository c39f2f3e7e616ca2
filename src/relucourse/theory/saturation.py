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
from relucourse.config import ModelConfig
from relucourse.experiments import init_model
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
    cfg = ModelConfig(width=width, depth=depth, activation=activation)
    model = init_model(cfg, in_features, num_classes, seed).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_features, generator=g).to(device)
    y = torch.randint(0, num_classes, (batch,), generator=g).to(device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


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

    After a warm-up, everything is timed interleaved, call by call (``timing.interleaved``), so a
    slow spell on a shared machine hits all of them rather than one; each entry is the median of
    ``repeats`` calls.
    """
    names = ("sigmoid", "relu")
    fns: dict[str, Callable[[], object]] = {
        f"{n} alone": activation_step(n, numel, device) for n in names}
    for w in widths:
        fns.update({f"{n} width {w}": train_step(n, w, depth, batch, device) for n in names})
    timed = interleaved(fns, repeats=repeats, warmup=2, device=device)
    return CostComparison(torch.device(device).type, numel,
                          {n: timed[f"{n} alone"] for n in names},
                          {w: {n: timed[f"{n} width {w}"] for n in names} for w in widths})
