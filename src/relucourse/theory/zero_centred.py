"""Zero-centred outputs: why a layer fed by all-positive inputs learns in zig-zags.

Chapter: "Zero-centred outputs" (chapters/02b_zero_centred.ipynb).

For a hidden layer y = W h + b, one example's weight gradient is the outer product

    dL/dW = delta h^T,   delta = dL/dy,   so row i is delta_i * h^T.

When every entry of h is positive (sigmoid outputs) or non-negative (ReLU), every non-zero entry of
row i has the sign of delta_i: one example can only push all of a unit's incoming weights up
together or down together, and reaching a weight vector with mixed signs takes a zig-zag of
such steps (LeCun et al. 1998, section 4.3; CS231n). Averaging over a minibatch mixes signs, but
only as far as the inputs' fluctuations beat their mean: ``same_sign_rows`` measures it.

The same fact in second-order terms: the Hessian of a layer's loss with respect to its weights
is shaped by E[h h^T] = mu mu^T + Cov[h]. A large mean mu adds one big eigenvalue (about
|mu|^2, along mu), so gradient descent must take steps small enough for that direction and crawls
along the others; ``mean_direction_share`` measures how much of E[h h^T] that one direction
holds, and ``descent_steps`` runs the two-weight toy problem.

The identity sigmoid(4x) = 1/2 + tanh(2x)/2 makes the offset testable: ``"sigmoid"`` with
``scale=4`` and ``"centred_sigmoid"`` with ``scale=4`` differ by the constant 1/2 only, which the
next layer's bias can absorb in the forward pass but not in the gradient geometry.

BatchNorm after a linear layer makes the weight gradient exactly that of centred inputs: its
backward pass gives a dL/dy that sums to zero over the batch, so
sum_n g_n h_n^T = sum_n g_n (h_n - mean(h))^T (``batchnorm_centring_gap`` checks it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from relucourse.activations import activation_fn
from relucourse.answers import quiz_answer
from relucourse.init import gaussian_expectation
from relucourse.stats import mean_std

# E[relu(z)] for z ~ N(0, 1): the mean a ReLU layer adds to unit-variance pre-activations.
RELU_MEAN_AT_UNIT_VARIANCE = 1.0 / math.sqrt(2.0 * math.pi)


@quiz_answer
def offset_identity_error(scale: float = 4.0, lo: float = -20.0, hi: float = 20.0,
                          points: int = 400_001) -> float:
    """max |sigmoid(scale x) - (1/2 + tanh(scale x / 2) / 2)| on a float64 grid: ~1e-16, i.e. the
    identity sigmoid(4x) = 1/2 + tanh(2x)/2 holds to rounding."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    sig = activation_fn("sigmoid", scale=scale)(x)
    return (sig - (0.5 + 0.5 * torch.tanh(scale * x / 2))).abs().max().item()


@quiz_answer
def gaussian_mean(activation: str, variance: float = 1.0, **activation_kwargs: object) -> float:
    """E[phi(z)] for z ~ N(0, variance) by quadrature (``init.gaussian_expectation``): the mean a
    layer hands to the next at init (relu at variance 1: 1/sqrt(2 pi) ~ 0.399; tanh 0; sigmoid 1/2)."""
    phi = activation_fn(activation, **activation_kwargs)
    with torch.no_grad():
        return gaussian_expectation(phi, variance)


def beyond_spread(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when two groups of runs (one value per seed) have means that differ by more than the
    sum of their standard deviations, i.e. their mean ± std intervals do not overlap: what the
    course calls a difference that "exceeds the seed-to-seed spread"."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    return abs(ma - mb) > sa + sb


# --- the sign of the weight gradient's rows -------------------------------------------------------

def same_sign_rows(grad: torch.Tensor) -> float:
    """Fraction of the rows of a weight gradient (out, in) whose non-zero entries all share one
    sign. Rows that are entirely zero (a dead unit: delta_i = 0) have no sign and are left out."""
    if grad.dim() != 2 or grad.numel() == 0:
        raise ValueError(f"same_sign_rows needs a non-empty (out, in) gradient, got shape "
                         f"{tuple(grad.shape)}")
    zero = grad == 0
    signed = ~zero.all(dim=1)
    if not signed.any():
        raise ValueError("every row of the gradient is zero: no row has a sign")
    one_sign = ((grad > 0) | zero).all(dim=1) | ((grad < 0) | zero).all(dim=1)
    return (one_sign & signed).sum().item() / signed.sum().item()


def gradient_sign_profile(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                          batches: int = 32) -> list[float]:
    """For each hidden layer's ``linear`` (``model.blocks[i].linear``, layer 1 first), the mean of
    ``same_sign_rows`` over ``batches`` consecutive minibatches of ``batch_size`` rows of ``x``:
    one cross-entropy backward per minibatch (``batch_size=1``: per-example gradients).

    Layer 1 is fed by the data, every later layer by the previous layer's activation."""
    if batch_size < 1 or batches < 1 or batch_size * batches > len(x):
        raise ValueError(f"need 1 <= batch_size * batches <= {len(x)} rows, got "
                         f"{batch_size} x {batches}")
    layers = [block.linear for block in model.blocks]
    totals = [0.0] * len(layers)
    was_training = model.training
    model.train()
    try:
        for b in range(batches):
            rows = slice(b * batch_size, (b + 1) * batch_size)
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            for i, layer in enumerate(layers):
                totals[i] += same_sign_rows(layer.weight.grad)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return [t / batches for t in totals]


# --- the second-moment matrix of a layer's inputs ------------------------------------------------

def mean_direction_share(h: torch.Tensor) -> float:
    """|mean(h)|^2 / trace(E[h h^T]) for inputs h of shape (N, n): the share of the inputs' second
    moment that lies along their mean. Near 1, one direction dominates E[h h^T] (and the Hessian it
    shapes); near 0 for zero-mean inputs."""
    if h.dim() != 2 or len(h) < 2:
        raise ValueError(f"mean_direction_share needs (N >= 2, n) inputs, got {tuple(h.shape)}")
    h = h.detach().double()
    return (h.mean(0).pow(2).sum() / h.pow(2).mean(0).sum()).item()


def condition_number(h: torch.Tensor) -> float:
    """lambda_max / lambda_min of E[h h^T] = h^T h / N: how ill-conditioned a least-squares fit on
    these inputs is (gradient descent needs about this many steps per e-fold)."""
    h = h.detach().double()
    eig = torch.linalg.eigvalsh(h.T @ h / len(h))
    return (eig[-1] / eig[0]).item()


# --- the two-weight toy problem ------------------------------------------------------------------

@dataclass(frozen=True)
class Descent:
    """Full-batch gradient descent on a two-weight least-squares problem (``descent``)."""

    offset: float
    lr: float
    path: list[tuple[float, float]]  # the weights after each step, starting point first
    losses: list[float]
    moment: tuple[tuple[float, float], tuple[float, float]]  # E[h h^T]: loss = (w-w*)^T M (w-w*)/2
    # Share of per-example updates (at the start) whose two components share a sign: 1 when
    # every input is positive.
    same_sign_updates: float

    def steps_to(self, tolerance: float) -> int | None:
        """First step whose loss is <= ``tolerance`` (None if never)."""
        return next((i for i, loss in enumerate(self.losses) if loss <= tolerance), None)


def _toy_inputs(offset: float, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return offset + (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5)


TOY_TARGET = (1.0, -1.0)  # mixed signs: exactly what one-sign updates cannot move towards directly


def descent(offset: float, lr: float, steps: int = 200, n: int = 256, seed: int = 0,
            start: tuple[float, float] = (-1.0, 1.0)) -> Descent:
    """Fit w to targets w*.h with loss mean((w.h - w*.h)^2)/2, inputs h = offset + U(-1/2, 1/2)^2
    (offset 1/2: inputs in (0, 1) like sigmoid outputs; offset 0: centred), by full-batch GD."""
    h = _toy_inputs(offset, n, seed)
    target = h @ torch.tensor(TOY_TARGET, dtype=torch.float64)
    w = torch.tensor(start, dtype=torch.float64)
    # Each example's own update direction at the starting point: -residual * h.
    per_example = (h @ w - target).unsqueeze(1) * h
    same = ((per_example > 0).all(1) | (per_example < 0).all(1)).double().mean().item()
    path, losses = [tuple(w.tolist())], []
    for _ in range(steps + 1):
        residual = h @ w - target
        losses.append(0.5 * residual.pow(2).mean().item())
        w = w - lr * (h.T @ residual) / n
        path.append(tuple(w.tolist()))
    m = (h.T @ h / n).tolist()
    return Descent(offset, lr, path[:-1], losses, (tuple(m[0]), tuple(m[1])), same)


def best_descent(offset: float, lrs: Sequence[float], tolerance: float = 1e-6, steps: int = 2000,
                 **kwargs: object) -> Descent:
    """The fastest of ``descent(offset, lr)`` over ``lrs`` to reach ``tolerance`` (each offset gets
    its own learning rate, as in the chapter's fair comparisons); diverged runs never win."""
    runs = [descent(offset, lr, steps, **kwargs) for lr in lrs]  # type: ignore[arg-type]
    reached = [r for r in runs if r.steps_to(tolerance) is not None]
    if not reached:
        raise RuntimeError(f"offset {offset}: no learning rate in {list(lrs)} reached loss "
                           f"{tolerance} within {steps} steps")
    return min(reached, key=lambda r: r.steps_to(tolerance))  # type: ignore[arg-type,return-value]


@quiz_answer
def toy_condition_number(offset: float, n: int = 256, seed: int = 0) -> float:
    """Condition number of E[h h^T] for the toy inputs h = offset + U(-1/2, 1/2)^2 (offset 1/2:
    about 7; offset 0: about 1)."""
    return condition_number(_toy_inputs(offset, n, seed))


# --- biases absorb an offset in the forward pass ------------------------------------------------

@torch.no_grad()
def absorb_offset_into_biases_(model: nn.Module, offset: float) -> nn.Module:
    """Add ``offset * W.sum(1)`` to the bias of every layer fed by an activation (hidden layers
    2..L and the head), in place: an MLP whose activation is phi computes, after this, exactly what
    the same weights compute with phi + offset. So sigmoid(4x) and tanh(2x)/2 networks (offset 1/2),
    or ReLU and shifted ReLU networks, represent the same functions: the offset is a
    reparametrisation, and only how gradient descent moves through the weights differs."""
    layers = [block.linear for block in model.blocks[1:]] + [model.head]
    for layer in layers:
        layer.bias.add_(offset * layer.weight.sum(dim=1))
    return model


# --- BatchNorm centres what the weight gradient sees ---------------------------------------------

def batchnorm_centring_gap(batch: int = 256, n_in: int = 64, n_out: int = 32,
                           seed: int = 0) -> tuple[float, float]:
    """A Linear(n_in, n_out) followed by BatchNorm1d, fed all-positive inputs h (ReLU of a normal
    draw), with a random upstream gradient. Returns (max |dL/dW - g^T (h - mean h)|, max |sum_n g_n|)
    where g = dL/d(linear output) from autograd: both ~1e-15 (float64), i.e. the weight gradient is
    exactly the one centred inputs would give, because BatchNorm's backward sums to zero."""
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(n_in, n_out).double()
    norm = nn.BatchNorm1d(n_out).double().train()
    h = torch.relu(torch.randn(batch, n_in, generator=gen, dtype=torch.float64))
    upstream = torch.randn(batch, n_out, generator=gen, dtype=torch.float64)
    y = linear(h)
    y.retain_grad()
    (norm(y) * upstream).sum().backward()
    g = y.grad
    centred = g.T @ (h - h.mean(0))
    return (linear.weight.grad - centred).abs().max().item(), g.sum(0).abs().max().item()
