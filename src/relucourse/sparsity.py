"""ReLU sparsity and dying ReLUs: activation penalties, dead-unit tracking, "born dead" networks.

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

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from relucourse import instrument, stats
from relucourse.config import RunConfig
from relucourse.stats import mean_std as mean_std  # chapters call it as sp.mean_std
from relucourse.train import Callback, TrainResult, TrainState

# --------------------------------------------------------------------------------------------
# Training callbacks
# --------------------------------------------------------------------------------------------


class L1ActivationPenalty(Callback):
    """Add ``strength * sum_l mean|a_l|`` to the loss, a_l = output of hidden layer l.

    The mean is over the batch and the layer's units, so ``strength`` does not depend on width.
    Glorot, Bordes & Bengio (2011) use an L1 penalty on activations to encourage sparsity. The
    activations are recorded by forward hooks (``instrument.capture(keep_grad=True)``) that live
    from ``on_train_start`` to ``on_train_end``; ``close()`` removes them early if training stops.
    """

    def __init__(self, strength: float, target: str = "act") -> None:
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        self.strength, self.target = float(strength), target
        self._stack: contextlib.ExitStack | None = None
        self._outputs: dict[str, torch.Tensor] = {}

    def __repr__(self) -> str:  # part of the cache key in experiments.run
        return f"L1ActivationPenalty(strength={self.strength!r}, target={self.target!r})"

    def on_train_start(self, state: TrainState) -> None:
        self.close()
        self._stack = contextlib.ExitStack()
        self._outputs = self._stack.enter_context(
            instrument.capture(state.model, self.target, keep_grad=True))

    def regularizer(self, state: TrainState, x: torch.Tensor) -> torch.Tensor | None:
        if self.strength == 0.0 or not self._outputs:
            return None
        return self.strength * sum(a.abs().mean() for a in self._outputs.values())

    def on_train_end(self, state: TrainState) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks (idempotent)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self._outputs = {}


def _columns(t: torch.Tensor) -> torch.Tensor:
    """(N, units, ...) -> (N', units): spatial positions of a conv layer count as samples."""
    return t if t.dim() == 2 else t.transpose(0, 1).flatten(1).T


def unit_masks(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, Any]]:
    """Per hidden layer: exact-zero fraction, dead units, negative-everywhere units and each unit's
    largest pre-activation over ``x`` (a ReLU unit is dead exactly when that maximum is <= 0).

    Layers are the ``blocks.i`` of ``models.MLP``; pre-activations are read after ``norm`` (an
    Identity without BatchNorm), so they are what ``act`` receives. One forward pass in eval mode.
    """
    outs = instrument.activations(model, x, lambda n, _m: n.endswith((".act", ".norm")))
    result = {}
    for name, a in outs.items():
        if not name.endswith(".act"):
            continue
        layer = name.rsplit(".", 1)[0]
        pre = _columns(outs[f"{layer}.norm"])
        result[layer] = {
            "zero_frac": stats.zero_fraction(a),
            "dead": stats.dead_unit_mask(a).nonzero().flatten().tolist(),
            "negative": (pre < 0).all(dim=0).nonzero().flatten().tolist(),
            "max_pre": [round(v, 6) for v in pre.max(dim=0).values.tolist()],
            "units": int(a.shape[1]),
        }
    return result


class DeadUnitTracker(Callback):
    """Every ``every`` steps (and at step 0), record ``unit_masks`` on the first ``n_probe``
    training samples (None = the whole training set, the definition of "dead").

    Writes ``result.extras["units"] = {"steps": [...], "layers": {layer: [masks per check]}}``.
    Per-unit records let the chapter follow one unit from death to the end of training.
    """

    def __init__(self, every: int = 50, n_probe: int | None = None) -> None:
        self.every, self.n_probe = every, n_probe

    def __repr__(self) -> str:
        return f"DeadUnitTracker(every={self.every}, n_probe={self.n_probe})"

    def _record(self, state: TrainState) -> None:
        x = state.data.x_train if self.n_probe is None else state.data.x_train[: self.n_probe]
        rec = state.result.extras.setdefault("units", {"steps": [], "layers": {}})
        rec["steps"].append(state.step)
        for layer, masks in unit_masks(state.model, x).items():
            rec["layers"].setdefault(layer, []).append(masks)

    def on_train_start(self, state: TrainState) -> None:
        self._record(state)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == state.config.steps:
            self._record(state)


# --------------------------------------------------------------------------------------------
# Reading tracked results
# --------------------------------------------------------------------------------------------


def layer_series(result: TrainResult, key: str = "zero_frac") -> dict[str, list[float]]:
    """Layer -> value per check: ``key`` is "zero_frac", or "dead"/"negative" (as fractions)."""
    layers = result.extras["units"]["layers"]
    if key == "zero_frac":
        return {ly: [m["zero_frac"] for m in ms] for ly, ms in layers.items()}
    return {ly: [len(m[key]) / m["units"] for m in ms] for ly, ms in layers.items()}


def check_steps(result: TrainResult) -> list[int]:
    return list(result.extras["units"]["steps"])


def final_fraction(result: TrainResult, key: str = "dead", index: int = -1) -> float:
    """Fraction of *all* hidden units (or mean exact-zero fraction) at check ``index``."""
    layers = result.extras["units"]["layers"].values()
    if key == "zero_frac":
        return float(np.mean([ms[index]["zero_frac"] for ms in layers]))
    total = sum(ms[index]["units"] for ms in layers)
    return sum(len(ms[index][key]) for ms in layers) / total


def unit_history(result: TrainResult, layer: str, unit: int, key: str = "dead") -> list[bool]:
    """Whether ``unit`` of ``layer`` was dead (or negative everywhere) at each check."""
    return [unit in m[key] for m in result.extras["units"]["layers"][layer]]


def deaths_and_revivals(result: TrainResult) -> dict[str, Any]:
    """Units that died during training and stayed dead, and units that came back to life.

    ``permanent``: (layer, unit, step of death) for units alive at step 0, dead from some check to
    the end. ``revived``: (layer, unit) for units dead at some check and alive at a later one.
    """
    steps = check_steps(result)
    permanent, revived = [], []
    for layer, ms in result.extras["units"]["layers"].items():
        for unit in range(ms[0]["units"]):
            hist = [unit in m["dead"] for m in ms]
            if any(hist[i] and not all(hist[i:]) for i in range(len(hist))):
                revived.append((layer, unit))
            if not hist[0] and hist[-1]:
                first = max(i for i in range(len(hist)) if not hist[i]) + 1
                permanent.append((layer, unit, steps[first]))
    return {"permanent": permanent, "revived": revived}


# --------------------------------------------------------------------------------------------
# Sweeps (cached through experiments.run)
# --------------------------------------------------------------------------------------------


def run_seeds(cfgs: dict[str, RunConfig], seeds: Sequence[int] = (0, 1, 2),
              probes: Callable[[str], list[Callback]] | None = None,
              ) -> dict[str, list[TrainResult]]:
    """Like ``experiments.sweep`` but ``probes(label)`` builds fresh callbacks per run, so a
    sweep can vary a callback setting (e.g. the L1 strength), which is then part of the cache key.
    """
    from relucourse.experiments import run

    out: dict[str, list[TrainResult]] = {}
    for label, cfg in cfgs.items():
        out[label] = [run(cfg.replace(**{"train.seed": s}), probes=probes(label) if probes else (),
                          label=f"{label} (seed {s})") for s in seeds]
    return out


def vary(base: RunConfig, field: str, values: Sequence[Any],
         label: Callable[[Any], str] | None = None) -> dict[str, RunConfig]:
    """``{label(v): base with field=v}`` for a one-dimensional sweep, e.g. over ``train.lr``."""
    label = label or (lambda v: f"{field.split('.')[-1]}={v}")
    return {label(v): base.replace(**{field: v}) for v in values}


def init_zero_fraction(width: int = 64, depth: int = 4, in_features: int = 40, n: int = 1000,
                       seeds: int = 8) -> float:
    """Average exact-zero fraction of all hidden ReLU outputs at init (Kaiming normal, zero bias)
    on standard-normal inputs, over ``seeds`` networks. Symmetric weights make it 1/2 in
    expectation, in every layer (chapter section 1)."""
    from relucourse.models import MLP

    fracs = []
    for s in range(seeds):
        g = torch.Generator().manual_seed(s)
        torch.manual_seed(s)
        model = MLP(in_features, 10, width=width, depth=depth, init="kaiming_normal", bias_init=0.0)
        x = torch.randn(n, in_features, generator=g)
        fracs += [stats.zero_fraction(a) for a in instrument.activations(model, x).values()]
    return float(np.mean(fracs))


# --------------------------------------------------------------------------------------------
# Born dead at initialisation
# --------------------------------------------------------------------------------------------


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


def is_born_dead(model: nn.Module, x: torch.Tensor) -> bool:
    """True when some hidden layer of ``model`` outputs exactly 0 for every row of ``x``."""
    return any(bool((a == 0).all()) for a in instrument.activations(model, x, "act").values())


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
                   seed: int = 0) -> dict[str, float]:
    """Median seconds of an (n x n) @ (n x n) product ``a @ b`` where ``a`` plays the activations.

    * ``dense``: no zeros; ``dense_with_zeros``: ``zero_frac`` of ``a`` set to exact 0, same
      dense kernel (it multiplies the zeros like any other number, so the time should not move);
    * ``sparse_csr``: the zeroed ``a`` stored in CSR format, conversion done beforehand (the best
      case for a fixed sparsity pattern, as with pruned *weights*);
    * ``sparse_csr_convert``: conversion included, the honest cost for *activations*, whose zero
      pattern changes with every input.
    """
    import warnings

    from relucourse.timing import measure

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    a_zeroed = a * (torch.rand(n, n, generator=g) >= zero_frac)
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        a_csr = a_zeroed.to_sparse_csr()
        return {
            "dense": measure(lambda: a @ b, repeats=repeats).median_s,
            "dense_with_zeros": measure(lambda: a_zeroed @ b, repeats=repeats).median_s,
            "sparse_csr": measure(lambda: a_csr @ b, repeats=repeats).median_s,
            "sparse_csr_convert": measure(lambda: a_zeroed.to_sparse_csr() @ b,
                                          repeats=repeats).median_s,
            "zero_frac": stats.zero_fraction(a_zeroed),
        }
