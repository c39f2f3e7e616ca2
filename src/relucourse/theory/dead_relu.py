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

import dataclasses
import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from relucourse import probes, stats
from relucourse.answers import quiz_answer
from relucourse.config import ModelConfig
from relucourse.experiments import init_model
from relucourse.records import Record
from relucourse.timing import Timing, interleaved, threads


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
    return born_dead_curve([depth], width, trials, n_inputs, in_features, seed)[0]


def born_dead_curve(depths: Sequence[int], width: int, trials: int = 2000, n_inputs: int = 1,
                    in_features: int = 10, seed: int = 0) -> list[float]:
    """``born_dead_monte_carlo`` at every depth in ``depths``, from one set of ``trials`` networks
    of the largest depth: a network's first d layers are a random depth-d network, so one pass
    gives the whole curve (instead of one pass per depth; the estimates are then correlated
    across depths, each still unbiased)."""
    if not depths or min(depths) < 1:
        raise ValueError(f"depths={list(depths)!r} is invalid: must be non-empty, each >= 1")
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(trials, n_inputs, in_features, generator=g, dtype=torch.float64)
    dead = torch.zeros(trials, dtype=torch.bool)
    by_depth: dict[int, float] = {}
    fan_in = in_features
    for layer in range(1, max(depths) + 1):
        w = torch.randn(trials, fan_in, width, generator=g, dtype=torch.float64)
        h = torch.relu(torch.bmm(h, w * (2.0 / fan_in) ** 0.5))
        dead |= (h == 0).flatten(1).all(dim=1)
        fan_in = width
        if layer in depths:
            by_depth[layer] = dead.double().mean().item()
    return [by_depth[d] for d in depths]


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
    shared machine slows all of them alike and their ratios stay meaningful; and on one torch
    thread, because a multi-threaded product waits for its slowest thread: on a loaded 2-core
    Intel Xeon, with two threads, the product with zeros measured 2.3 times the dense one in the
    stress test, and on one thread the two agreed within 10 %.
    """
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    a_zeroed = a * (torch.rand(n, n, generator=g) >= zero_frac)
    with warnings.catch_warnings(), threads(1):  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        a_csr = a_zeroed.to_sparse_csr()
        return interleaved({
            "dense": lambda: a @ b,
            "dense_with_zeros": lambda: a_zeroed @ b,
            "sparse_csr": lambda: a_csr @ b,
            "sparse_csr_convert": lambda: a_zeroed.to_sparse_csr() @ b,
        }, repeats=repeats)


# --------------------------------------------------------------------------------------------
# Dead units from probes.LayerStats (the batched engine's probe)
# --------------------------------------------------------------------------------------------

FULL_TRAINING_SET = 1_000_000  # an n_probe above any training-set size: the whole set is probed


def dead_probe(every: int) -> probes.LayerStats:
    """``probes.LayerStats`` on the *whole* training set with per-layer dead fractions: the
    chapter's definition of dead (exactly 0 on every training input), in a probe the batched
    engine can reproduce, so sweeps over learning rates and biases train many models at once."""
    return probes.LayerStats(every=every, n_probe=FULL_TRAINING_SET, per_unit_dead=True)


def layer_stat_series(record: Record, field: str = "dead_frac") -> tuple[list[int], dict[str, list[float]]]:
    """(steps, {layer: values}) of one ``LayerStat`` field (``dead_frac``, ``zero_frac``...) from a
    record trained with ``dead_probe``; NaN values when the run diverged."""
    if not record.layer_stats:
        raise ValueError("this record has no layer_stats; train it with dead_relu.dead_probe(...)")
    steps = sorted({row.step for row in record.layer_stats})
    series: dict[str, list[float]] = {}
    for row in sorted(record.layer_stats, key=lambda r: r.step):
        value = getattr(row, field)
        series.setdefault(row.layer, []).append(float("nan") if value is None or record.diverged
                                                else float(value))
    return steps, series


def dead_fraction(record: Record, index: int = -1, field: str = "dead_frac") -> float:
    """Mean over hidden layers of ``field`` at recorded step ``index`` (-1: the end of training;
    0: at initialisation). For the course's MLPs every hidden layer has the same width, so the mean
    of the per-layer dead fractions is the fraction of all hidden units that are dead. NaN for a
    diverged run: a diverged network is never summarised as "0% dead"."""
    if record.diverged:
        return float("nan")
    _, series = layer_stat_series(record, field)
    return float(np.mean([values[index] for values in series.values()]))


# --------------------------------------------------------------------------------------------
# What a small positive bias changes at initialisation (chapter section 4.3)
# --------------------------------------------------------------------------------------------


@quiz_answer
def firing_probability(bias: float, sigma: float = 1.0) -> float:
    """P(w.x + b > 0) when w.x is N(0, sigma^2): Phi(b / sigma), about 1/2 + b / (sigma sqrt(2 pi))
    for small b (bias 0.01, sigma 1: 0.50399)."""
    return 0.5 * (1.0 + math.erf(bias / (sigma * math.sqrt(2.0))))


def first_layer_firing(model_cfg: ModelConfig, x: torch.Tensor, biases: Sequence[float],
                       seeds: Sequence[int] = (0, 1, 2, 3)) -> dict[float, dict[str, float]]:
    """For each bias b, the first hidden layer of ``model_cfg`` (built with bias b) at
    initialisation on inputs ``x``, averaged over ``seeds``:

    * ``fires``: the fraction of (unit, input) pairs with a positive output;
    * ``predicted``: that fraction computed from the *zero-bias* pre-activations z = w.x of the
      same weights (the bias adds b to every z, so a unit fires iff w.x > -b): P(z > -b);
    * ``gaussian``: P(z > 0) + b / (sigma sqrt(2 pi)), the first-order estimate for a symmetric
      z of spread sigma (each unit's own standard deviation of z over the inputs);
    * ``sigma``: the mean of those spreads.

    The weights do not depend on b (a constant bias draws no random numbers), so each seed's
    networks differ only by the bias."""
    out: dict[float, dict[str, float]] = {}
    x = x.double()
    for b in biases:
        fires, predicted, gaussian, sigma = [], [], [], []
        for s in seeds:
            with_b = init_model(dataclasses.replace(model_cfg, bias_init=b), x.shape[1], 10,
                                seed=s).double()
            linear = with_b.blocks[0].linear
            with torch.no_grad():
                z = x @ linear.weight.T                       # the zero-bias pre-activation
                y = with_b.blocks[0].act(linear(x))
            sd = z.std(dim=0)
            fires.append((y > 0).double().mean().item())
            predicted.append((z > -b).double().mean().item())
            gaussian.append((z > 0).double().mean().item()
                            + (b / (sd * math.sqrt(2 * math.pi))).mean().item())
            sigma.append(sd.mean().item())
        out[b] = {"fires": float(np.mean(fires)), "predicted": float(np.mean(predicted)),
                  "gaussian": float(np.mean(gaussian)), "sigma": float(np.mean(sigma))}
    return out


# --------------------------------------------------------------------------------------------
# In-place ReLU and autograd (chapter section 8)
# --------------------------------------------------------------------------------------------


def inplace_relu_demo() -> dict[str, object]:
    """Three small autograd experiments with in-place ReLU (float64, fixed seed):

    * ``after_linear_ok``: ``nn.ReLU(inplace=True)`` after ``nn.Linear`` gives the same gradients
      as the out-of-place ReLU (the linear layer's backward needs its *input* and weight, not its
      output, so overwriting the output is harmless);
    * ``after_sigmoid_error``: the error message when ``torch.relu_`` overwrites the output of
      ``torch.sigmoid``, which autograd saved because sigmoid's derivative is s (1 - s);
    * ``hook_saw_zeros``: a forward hook on the Linear stores its output; after an in-place ReLU the
      stored tensor has been rectified too (the hook saw pre-activations, keeps post-activations).
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    grads = {}
    for inplace in (False, True):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(inplace=inplace), nn.Linear(4, 1)).double()
        net(x).sum().backward()
        grads[inplace] = torch.cat([p.grad.flatten() for p in net.parameters()])
    after_linear_ok = bool(torch.equal(grads[False], grads[True]))

    w = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    message = ""
    try:
        h = torch.sigmoid(x @ w - 0.5)   # sigmoid saves its output for backward
        torch.relu_(h)                     # ... which this overwrites in place
        h.sum().backward()
    except RuntimeError as err:
        message = str(err)

    seen: list[torch.Tensor] = []
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(inplace=True)).double()
    handle = net[0].register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.no_grad():
            net(x)
            pre = net[0](x)
    finally:
        handle.remove()
    hook_saw_zeros = bool((seen[0] >= 0).all() and (pre < 0).any())
    return {"after_linear_ok": after_linear_ok, "after_sigmoid_error": message,
            "hook_saw_zeros": hook_saw_zeros}
