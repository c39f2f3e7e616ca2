"""Why sparsity might help: Glorot, Bordes & Bengio's (2011) arguments, each as a measurement.

Chapter: "Why sparsity might help" (chapters/03b_why_sparsity.ipynb).

Glorot et al. (2011, section 3.2) list four advantages of sparse codes, and one hypothesis about
optimisation (section 3.3). Each function here measures one of them on the hidden code h = phi(z)
of a trained network (``codes``: every hidden layer's output on a set of inputs):

* linear separability: a linear classifier trained on the code (``linear_probe``);
* efficient variable-size representation: how many units are active per input, and how that
  number varies from input to input and from class to class (``active_counts``,
  ``class_share_of_variance``);
* information disentangling: how much of the code changes when the input changes a little
  (``perturbation_stability``: the active set's Jaccard overlap, and the share of code entries
  that move at all);
* distributed but sparse: each unit active for a fraction of inputs, each input using several
  units, and how many distinct active patterns the inputs produce (``unit_usage``);
* credit through active units: the share of the backward signal dL/dz that reaches units with
  z > 0 (``active_gradient_share``): exactly 1 for ReLU, where inactive units get no gradient.

"Active" means an exact non-zero for ReLU (``active``); softplus and tanh have no exact zeros, so
for them it means z > 0 (softplus(z) > ln 2, tanh(z) > 0), the side where the unit passes signal
with slope >= 1/2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from relucourse.answers import quiz_answer
from relucourse.probes import capture


@torch.no_grad()
def codes(model: nn.Module, x: torch.Tensor, target: str = "linear") -> dict[str, torch.Tensor]:
    """Each hidden layer's pre-activations z (``target="linear"``) or outputs h (``"act"``) on
    ``x``, in eval mode: name -> (N, units)."""
    was_training = model.training
    model.eval()
    try:
        with capture(model, target) as out:
            model(x)
        return {name: value.clone() for name, value in out.items()}
    finally:
        model.train(was_training)


def active(pre: torch.Tensor, activation: str) -> torch.Tensor:
    """Boolean (N, units): which units are active. ReLU: output exactly non-zero (z > 0); softplus
    and tanh (no exact zeros): z > 0."""
    if activation not in ("relu", "softplus", "tanh"):
        raise ValueError(f"active() is defined for relu, softplus and tanh, not {activation!r}")
    return pre > 0


# --- linear separability ----------------------------------------------------------------------

def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor, C: float = 1.0, max_iter: int = 300) -> float:
    """Test accuracy of a multinomial logistic regression (scikit-learn, L2 strength 1/C) fitted
    on ``train_x`` (features standardised with the training split's mean and std)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x.cpu().double().numpy())
    clf = LogisticRegression(C=C, max_iter=max_iter)
    with warnings.catch_warnings():  # a probe that stops at max_iter still measures separability
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(train_x.cpu().double().numpy()), train_y.cpu().numpy())
    return float(clf.score(scaler.transform(test_x.cpu().double().numpy()), test_y.cpu().numpy()))


# --- variable-size representation -------------------------------------------------------------

def active_counts(mask: torch.Tensor) -> torch.Tensor:
    """Number of active units per input, (N,)."""
    return mask.sum(dim=1)


def class_share_of_variance(counts: torch.Tensor, labels: torch.Tensor) -> float:
    """Between-class share of the variance of ``counts`` (eta squared): 0 when every class uses
    the same number of units on average, 1 when the count is fixed within each class."""
    counts = counts.double()
    total = counts.var(unbiased=False)
    if total == 0:
        return 0.0
    grand = counts.mean()
    between = sum((labels == c).double().mean() * (counts[labels == c].mean() - grand) ** 2
                  for c in labels.unique())
    return float(between / total)


def class_means(counts: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Mean active count of each class, in class order."""
    return [counts[labels == c].double().mean().item() for c in labels.unique()]


# --- disentangling: stability under small input changes ---------------------------------------

@dataclass(frozen=True)
class Stability:
    """How one layer's code responds to a small input perturbation (``perturbation_stability``)."""

    jaccard: float  # mean over inputs of |A(x) & A(x')| / |A(x) | A(x')| (active sets)
    flipped: float  # share of units whose active/inactive state changed
    entries_changed: float  # share of code entries h that moved at all (|dh| > 1e-6 |h|max)
    relative_change: float  # ||h(x') - h(x)|| / ||h(x)|| over the whole batch (Frobenius norms)


def perturbation_stability(model: nn.Module, x: torch.Tensor, activation: str, noise: float,
                           seed: int = 0) -> dict[str, Stability]:
    """Per hidden layer: compare the code of ``x`` with that of ``x + noise * N(0, 1)``."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x2 = x + noise * torch.randn(x.shape, generator=gen).to(x.device)
    pre1, pre2 = codes(model, x), codes(model, x2)
    act1, act2 = codes(model, x, "act"), codes(model, x2, "act")
    out = {}
    for (name, z1), z2, h1, h2 in zip(pre1.items(), pre2.values(), act1.values(), act2.values(),
                                      strict=True):
        a1, a2 = active(z1, activation), active(z2, activation)
        union = (a1 | a2).sum(1).double()
        inter = (a1 & a2).sum(1).double()
        jac = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
        scale = 1e-6 * h1.abs().max().clamp_min(1e-12)
        out[name.removesuffix(".linear")] = Stability(
            jaccard=jac.mean().item(), flipped=(a1 != a2).double().mean().item(),
            entries_changed=((h2 - h1).abs() > scale).double().mean().item(),
            relative_change=((h2 - h1).norm() / h1.norm().clamp_min(1e-12)).item())
    return out


# --- distributed but sparse --------------------------------------------------------------------

@dataclass(frozen=True)
class Usage:
    """How the code spreads over units and inputs (``unit_usage``)."""

    active_fraction: float  # mean share of units active per input (1 - sparsity)
    units_per_input_min: int  # the fewest active units any input uses
    dead_or_always: float  # share of units active on no input or on every input
    selectivity: float  # mean over units of the largest share of its activity one class holds
    distinct_patterns: float  # distinct active sets / inputs (1: every input its own pattern)


def unit_usage(mask: torch.Tensor, labels: torch.Tensor) -> Usage:
    """Summaries of a boolean (N, units) activity mask over inputs with ``labels``."""
    rate = mask.double().mean(0)
    per_class = torch.stack([mask[labels == c].double().sum(0) for c in labels.unique()])
    fired = per_class.sum(0)
    select = torch.where(fired > 0, per_class.max(0).values / fired.clamp_min(1), torch.zeros_like(fired))
    live = fired > 0
    patterns = {tuple(row) for row in mask.cpu().numpy().astype(np.uint8).tolist()}
    return Usage(
        active_fraction=mask.double().mean().item(),
        units_per_input_min=int(mask.sum(1).min().item()),
        dead_or_always=((rate == 0) | (rate == 1)).double().mean().item(),
        selectivity=select[live].mean().item() if live.any() else float("nan"),
        distinct_patterns=len(patterns) / len(mask))


@quiz_answer
def pattern_capacity_log2(units: int, active_units: int) -> float:
    """log2 of the number of distinct active sets with exactly ``active_units`` of ``units`` on:
    log2 C(units, k). A local (one-hot) code has only ``units`` patterns (log2 units)."""
    return (math.lgamma(units + 1) - math.lgamma(active_units + 1)
            - math.lgamma(units - active_units + 1)) / math.log(2)


# --- credit through the active units -----------------------------------------------------------

def active_gradient_share(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          activation: str) -> list[float]:
    """Per hidden layer: sum of (dL/dz)^2 over units with z > 0, divided by the sum over all
    units, for one cross-entropy backward on (x, y). ReLU: exactly 1 (inactive units get
    dL/dz = 0); a smooth activation also sends gradient through its inactive side."""
    was_training = model.training
    model.eval()
    pre: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        pre.append(output)

    handles = [b.linear.register_forward_hook(keep) for b in model.blocks]
    try:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        shares = []
        for z in pre:
            g2 = z.grad.pow(2)
            on = active(z.detach(), activation)
            shares.append((g2[on].sum() / g2.sum()).item())
        return shares
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
