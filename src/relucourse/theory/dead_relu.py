"""ReLU sparsity and dying ReLUs, the theory side: zeros at init, "born dead" networks, and what
hard zeros could save in multiply-adds (the probes that track dead units during training are in
``probes``: ``DeadUnits``, ``L1ActivationPenalty``; their records are read by ``records.Record``).

Chapter: "ReLU sparsity and dying ReLU" (chapters/03_relu_sparsity.ipynb) and its lab
(labs/03_relu_lab.ipynb).

Definitions used throughout (all measured on the *training set*, in eval mode):

* sparsity of a layer = fraction of its outputs that are exactly 0.0 (``stats.zero_fraction``);
* a unit is **dead** when it outputs exactly 0 on every training input (``stats.dead_unit_mask``);
  then every gradient reaching its incoming weights is exactly 0 as well;
* a unit is **negative everywhere** when its pre-activation is < 0 on every training input. For
  ReLU this is the same as dead; for leaky ReLU / ELU such a unit still outputs (small) non-zero
  values and still receives gradient, which is why those variants cannot die in the ReLU sense.

"Born dead" (Lu et al. 2019): for one fixed input x != 0, zero biases, and weights drawn
independently from any continuous distribution symmetric about 0, each unit of the first hidden
layer is positive with probability 1/2, independently of the others. Given that layer l-1 is not
all zero, the same holds for layer l (each row of W_l gives a symmetric pre-activation). A layer of
width N is therefore all zero with probability 2^-N, and once one is, every later layer is too. So
for L hidden layers of width N

    P(dead at x) = 1 - (1 - 2^-N)^L                                               (exact)

which tends to 1 as L grows with N fixed, and stays small only if 2^N >> L. Being dead on a whole
*set* of inputs needs death at each of them, so the same expression is an upper bound on the
probability that the network is constant on a data set. Lu et al. prove that the probability of a
symmetric-initialised deep ReLU network being born dead tends to 1 with depth; the expression above
is our exact single-input form, not a transcription of their bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from relucourse import probes, stats
from relucourse.answers import quiz_answer
from relucourse.config import ModelConfig
from relucourse.experiments import init_model
from relucourse.timing import Timing, interleaved


@quiz_answer
def init_zero_fraction(width: int = 64, depth: int = 4, in_features: int = 40, n: int = 1000,
                       seeds: int = 8) -> float:
    """Average exact-zero fraction of all hidden ReLU outputs at init (Kaiming normal, zero bias)
    on standard-normal inputs, over ``seeds`` networks. Symmetric weights make it 1/2 in
    expectation, in every layer (chapter section 1)."""
    cfg = ModelConfig(width=width, depth=depth, activation="relu", init="kaiming_normal",
                      bias_init=0.0)
    fracs = []
    for s in range(seeds):
        model = init_model(cfg, in_features, 10, seed=s)
        x = torch.randn(n, in_features, generator=torch.Generator().manual_seed(s))
        fracs += [stats.zero_fraction(a) for a in probes.activations(model, x).values()]
    return float(np.mean(fracs))


# --------------------------------------------------------------------------------------------
# Born dead at initialisation
# --------------------------------------------------------------------------------------------


@quiz_answer
def born_dead_probability(depth: int, width: int) -> float:
    """P(some hidden layer is all zero at one input) = 1 - (1 - 2^-width)^depth (see module doc)."""
    return 1.0 - (1.0 - 2.0 ** (-width)) ** depth


def born_dead_monte_carlo(depth: int, width: int, trials: int = 2000, n_inputs: int = 1,
                          in_features: int = 10, seed: int = 0) -> float:
    """Fraction of ``trials`` random zero-bias ReLU MLPs that are dead on all ``n_inputs`` inputs.

    Vectorised over trials (one batched matmul per layer). Weights are Gaussian with He's variance
    2/fan_in (any symmetric law gives the same probability; this scale only keeps magnitudes
    stable), inputs are standard normal, float64 so no unit is zeroed by underflow.
    """
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(trials, n_inputs, in_features, generator=g, dtype=torch.float64)
    dead = torch.zeros(trials, dtype=torch.bool)
    fan_in = in_features
    for _ in range(depth):
        w = torch.randn(trials, fan_in, width, generator=g, dtype=torch.float64)
        h = torch.relu(torch.bmm(h, w * (2.0 / fan_in) ** 0.5))
        dead |= (h == 0).flatten(1).all(dim=1)
        fan_in = width
    return dead.double().mean().item()


@quiz_answer
def width_for(depth: int, max_probability: float) -> int:
    """Smallest width N with 1 - (1 - 2^-N)^depth <= max_probability (about log2(depth/p))."""
    n = 1
    while born_dead_probability(depth, n) > max_probability:
        n += 1
    return n


# --------------------------------------------------------------------------------------------
# Sparsity as computation
# --------------------------------------------------------------------------------------------


def skippable_macs(layer_sizes: Sequence[int], zero_fracs: Sequence[float]) -> dict[str, float]:
    """Multiply-adds per sample of an MLP, and how many a zero-skipping kernel could avoid.

    ``layer_sizes`` = [in, h_1, ..., h_L, out]; ``zero_fracs[l]`` = exact-zero fraction of hidden
    layer l+1. The matmul after hidden layer l costs h_l * h_{l+1} multiply-adds, and every zero
    input makes a whole column of them unnecessary: skippable = sum_l s_l h_l h_{l+1}. The input
    layer's features are not sparse, so its product is never skippable.
    """
    if len(zero_fracs) != len(layer_sizes) - 2:
        raise ValueError("need one zero fraction per hidden layer")
    products = [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=False)]
    skippable = sum(s * p for s, p in zip(zero_fracs, products[1:], strict=True))
    total = float(sum(products))
    return {"total": total, "skippable": float(skippable), "fraction": skippable / total}


def matmul_timings(n: int = 512, zero_frac: float = 0.5, repeats: int = 10,
                   seed: int = 0) -> dict[str, Timing]:
    """Timings of an (n x n) @ (n x n) product ``a @ b`` where ``a`` plays the activations.

    * ``dense``: no zeros; ``dense_with_zeros``: ``zero_frac`` of ``a`` set to exact 0, same
      dense kernel (it multiplies the zeros like any other number, so the time should not move);
    * ``sparse_csr``: the zeroed ``a`` stored in CSR format, conversion done beforehand (the best
      case for a fixed sparsity pattern, as with pruned *weights*);
    * ``sparse_csr_convert``: conversion included, the honest cost for *activations*, whose zero
      pattern changes with every input.

    The four are timed interleaved, call by call (``timing.interleaved``), so a busy spell on a
    shared machine slows all of them alike and their ratios stay meaningful.
    """
    import warnings

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    a_zeroed = a * (torch.rand(n, n, generator=g) >= zero_frac)
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        a_csr = a_zeroed.to_sparse_csr()
        return interleaved({
            "dense": lambda: a @ b,
            "dense_with_zeros": lambda: a_zeroed @ b,
            "sparse_csr": lambda: a_csr @ b,
            "sparse_csr_convert": lambda: a_zeroed.to_sparse_csr() @ b,
        }, repeats=repeats)
