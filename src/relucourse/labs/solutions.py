"""Reference solutions to the labs' exercises: the code of each lab's hidden **Solution** blocks.

A lab's exercise cell starts as a stub; ``relucourse.labs.exercise`` checks and uses these references
until the learner writes their own, so every lab runs from top to bottom in CI. The signatures are
the ones the labs ask for. ``tests/test_exercise.py`` checks that each function here is the same
code as the lab's hidden solution, and that each passes its lab's checker.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from relucourse.config import RunConfig
from relucourse.records import Record

# --- labs/02_sigmoid_lab.ipynb -------------------------------------------------------------------


def my_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Task 1: sigma(x) = 1 / (1 + e^-x); for very negative x, 1 / (1 + inf) = 0 is the right limit."""
    return 1 / (1 + torch.exp(-x))


def my_sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    """Task 2: sigma'(x) = sigma(x) (1 - sigma(x))."""
    s = my_sigmoid(x)
    return s * (1 - s)


def predicted_factor(n_var_w: float) -> float:
    """Task 3: the largest per-layer factor on ||delta||, sqrt(n Var[W] / 16), from sigma' <= 1/4."""
    return math.sqrt(n_var_w * (1 / 4) ** 2)


def predicted_ratio(n_var_w: float, depth: int) -> float:
    """Task 3: ||dL/dW_1|| / ||dL/dW_L|| if each of the L - 1 layers in between applies the factor."""
    return predicted_factor(n_var_w) ** (depth - 1)


def my_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Task 3: ||dL/dW_l|| of every hidden layer after one cross-entropy backward, input side first."""
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return [block.linear.weight.grad.norm().item() for block in model.blocks]


# --- labs/03_relu_lab.ipynb ----------------------------------------------------------------------


def count_dead(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> dict[str, int]:
    """Exercise 1: {layer: units exactly 0 on every row of x}, by forward hooks on the '.act' modules."""
    fired = {}
    def make_hook(name):
        def hook(module, inputs, output):
            now = (output > 0).any(dim=0)          # (units,) for an MLP layer
            fired[name] = now if name not in fired else fired[name] | now
        return hook
    handles = [m.register_forward_hook(make_hook(n))
               for n, m in model.named_modules() if n.endswith(".act")]
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start:start + batch_size])
    finally:                                         # never leave hooks behind
        for h in handles:
            h.remove()
    return {name: int((~mask).sum()) for name, mask in fired.items()}


# Exercise 2: Adam learning rates from gentle to too high.
LRS = [1e-3, 1e-2, 3e-2, 1e-1]


def fixed_config(dying: RunConfig) -> RunConfig:
    """Exercise 3: the rate was the cause, so the gentler default rate fixes the dying network."""
    return dying.replace(**{"train.lr": 1e-2})


# --- labs/04_softplus_lab.ipynb ------------------------------------------------------------------


def my_softplus(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1: log(1 + e^x) = max(x, 0) + log(1 + e^-|x|); exp only sees -|x| <= 0."""
    return x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))


def softplus_slope(x: torch.Tensor) -> torch.Tensor:
    """Exercise 2: d softplus / dx at every point of x, by autograd on ``my_softplus``."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(my_softplus(x).sum(), x)
    return grad


def max_gap(beta: float) -> float:
    """Exercise 3: max |softplus_beta(x) - relu(x)|, on a grid that contains x = 0."""
    x = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    return (torch.nn.Softplus(beta=beta)(x) - torch.relu(x)).abs().max().item()


def beta_for_gap(gap: float) -> float:
    """Exercise 3: the smallest beta with log(2) / beta <= gap (the lab asks for gap = 0.01)."""
    return math.log(2) / gap


def steps_to_target(result: Record, target: float) -> int | None:
    """Exercise 4: the first evaluation step with training loss <= target, None if never."""
    for step, loss in zip(result.steps, result.train_loss, strict=True):
        if loss <= target:
            return step
    return None


# --- labs/05_kaiming_lab.ipynb -------------------------------------------------------------------


def relu_factor(scale: float = 2.5, n: int = 1_000_000, seed: int = 0) -> float:
    """Exercise 1: E[relu(y)^2] / Var[y] estimated from ``n`` samples y ~ N(0, scale^2)."""
    g = torch.Generator().manual_seed(seed)
    y = scale * torch.randn(n, generator=g)
    return (torch.relu(y).pow(2).mean() / y.var()).item()


def kaiming_init_(layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in") -> None:
    """Exercise 2: in place, W ~ N(0, 2 / ((1 + a^2) fan)) and b = 0."""
    fan = layer.in_features if mode == "fan_in" else layer.out_features
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan))
    with torch.no_grad():                 # initialisation is not part of the graph
        layer.weight.normal_(0.0, std)    # in place: optimisers keep pointing at this tensor
        if layer.bias is not None:
            layer.bias.zero_()


def second_moments(init_fn: Callable[[nn.Linear], object], depth: int, width: int = 256,
                   n: int = 512, seed: int = 0) -> list[float]:
    """Exercise 3: E[x_l^2] after each ReLU of ``depth`` square layers initialised by ``init_fn``."""
    torch.manual_seed(seed)
    x = torch.randn(n, width, dtype=torch.float64)
    moments = []
    with torch.no_grad():
        for _ in range(depth):
            layer = nn.Linear(width, width).double()
            init_fn(layer)
            x = torch.relu(layer(x))
            moments.append(x.pow(2).mean().item())
    return moments


def init_hidden_layers_(model: nn.Module, init_fn: Callable[[nn.Linear], object]) -> None:
    """Exercise 4: apply ``init_fn`` to every hidden layer's linear map; the head keeps its init."""
    for block in model.blocks:
        init_fn(block.linear)
