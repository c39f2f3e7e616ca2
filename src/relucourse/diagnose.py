"""Diagnose activation problems in one call: ``diagnose(cfg)`` or ``diagnose(model, data)``.

Chapter: "Diagnosing activation problems" (chapters/08_diagnostics.ipynb) and its lab
(labs/08_fix_the_network_lab.ipynb). The measurements are the ones Karpathy teaches in makemore
part 3 ("Building makemore Part 3: Activations & Gradients, BatchNorm"), collected per hidden layer
over a short training window by the ``Diagnostics`` probe:

* **saturation**: the fraction of a tanh layer's outputs with |a| > 0.97, or of a sigmoid layer's
  outside [0.03, 0.97]; there the local slope is below about 0.06 (tanh) or 0.03 (sigmoid), so
  little gradient passes;
* **dead units**: units that are exactly zero on every probe input (``stats.dead_unit_mask``);
* **identical units**: every unit of a layer gives the same output on every input, the mark of an
  init that did not break the symmetry (zero or constant weights);
* **histograms** of each layer's outputs and of the loss gradient with respect to them;
* **update:data ratio** ``rms(W_t - W_{t-1}) / rms(W_t)`` of each weight matrix at each step, the
  size of an optimiser step relative to the weights (Karpathy plots the log10 of the same ratio of
  standard deviations, which is equal for zero-mean tensors, and calls about 1e-3 healthy);
* **initial loss** against ln C: a classifier that knows nothing should predict 1/C for every
  class, a cross-entropy of ln C; a much larger loss at step 0 means over-confident logits;
* **gradient norms** ``||dL/dW_l||`` per layer.

The measurements are taken on a fixed probe batch (the first ``n_probe`` training samples) with
a forward and backward pass of their own, in training mode (BatchNorm statistics are restored
afterwards, so the probe does not change the run). ``Diagnosis.summary()`` prints a table and the
problems in plain words; ``Diagnosis.plot()`` draws the panel. The thresholds below decide what is
flagged; each is a rule of thumb, and the chapter shows each flag on a network built to have the
problem and quiet on a healthy one (tests/test_diagnose.py checks the same).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from relucourse import stats
from relucourse.answers import quiz_answer
from relucourse.config import RunConfig, TrainConfig
from relucourse.data import Dataset
from relucourse.probes import Probe, capture, select_modules
from relucourse.records import Record
from relucourse.train import TrainState, train

# --- thresholds (rules of thumb; module constants so a reader can change them) ----------------
TANH_SATURATED = 0.97  # |a| above this: tanh'(a) = 1 - a^2 < 0.06
SIGMOID_MARGIN = 0.03  # a outside [0.03, 0.97]: sigmoid'(a) = a(1 - a) < 0.03
SATURATING = ("sigmoid", "tanh")
MAX_SATURATED = 0.25  # flag a layer with more than this fraction of saturated outputs
MAX_DEAD = 0.2  # flag a layer with more than this fraction of dead units
MAX_GROWTH = 10.0  # flag activations whose rms grows more than this from first to last layer
MAX_GRAD_SPREAD = 100.0  # flag ||dL/dW|| of the first layer > this x (or < 1/this x) the last's
MAX_GRAD_NORM = 100.0  # flag a total gradient norm above this (what clip_norm would cut)
EXCESS_LOSS = 1.0  # flag an initial loss more than this many nats above ln C
GUIDE_RATIO = 1e-3  # Karpathy's guide line for the update:data ratio
MAX_RATIO = 10**-1.5  # flag a layer whose median update:data ratio is above this...
MIN_RATIO = 10**-4.5  # ...or below this
IDENTICAL_TOL = 1e-5  # units closer than this (relative) on every input count as identical

KINDS = ("diverged", "initial_loss", "exploding_activations", "exploding_gradients",
         "vanishing_gradients", "saturated", "dead", "symmetric", "large_updates",
         "small_updates")


@quiz_answer
def expected_initial_loss(num_classes: int) -> float:
    """ln C: the cross-entropy of predicting 1/C for every one of C classes (uniform logits)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return math.log(num_classes)


def saturation(acts: torch.Tensor, activation: str) -> float | None:
    """Fraction of saturated outputs of a tanh or sigmoid layer (None for other activations)."""
    if activation == "tanh":
        return stats.saturation_fraction(acts, "tanh", margin=1 - TANH_SATURATED)
    if activation == "sigmoid":
        return stats.saturation_fraction(acts, "sigmoid", margin=SIGMOID_MARGIN)
    return None


def _columns(t: torch.Tensor) -> torch.Tensor:
    """(N, units, ...) -> (N', units): a conv layer's positions count as samples."""
    return t if t.dim() == 2 else t.transpose(0, 1).flatten(1).T


def identical_units(acts: torch.Tensor) -> bool:
    """True if a layer has >= 2 units and all of them give the same output on every input
    (within ``IDENTICAL_TOL`` relative to the largest output), and the outputs are not all zero
    (a layer of zeros is dead, which ``stats.dead_fraction`` reports)."""
    cols = _columns(acts.detach().float())
    if cols.shape[1] < 2:
        return False
    scale = cols.abs().max().item()
    if scale == 0.0:
        return False
    spread = (cols.max(dim=1).values - cols.min(dim=1).values).max().item()
    return spread <= IDENTICAL_TOL * max(scale, 1.0)


def distinct_units(acts: torch.Tensor, rtol: float = IDENTICAL_TOL) -> int:
    """How many different units a layer has: units whose outputs agree on every input (within
    ``rtol`` of the layer's largest output) count once. A layer that broke its symmetry has as
    many as it has units; a constant-initialised one stays at 1."""
    cols = _columns(acts.detach().float())
    scale = max(cols.abs().max().item(), 1.0)
    representatives: list[torch.Tensor] = []
    for j in range(cols.shape[1]):
        col = cols[:, j]
        if not any((col - r).abs().max().item() <= rtol * scale for r in representatives):
            representatives.append(col)
    return len(representatives)


def histogram(values: torch.Tensor, bins: int = 40) -> tuple[list[float], list[float]]:
    """(bin centres, density) of ``values``, over their own range."""
    v = values.detach().float().flatten().cpu()
    lo, hi = v.min().item(), v.max().item()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        v = v[torch.isfinite(v)]
        if v.numel() == 0:
            return [], []
        lo, hi = v.min().item(), v.max().item()
    if hi <= lo:
        hi = lo + 1e-12
    counts = torch.histc(v, bins=bins, min=lo, max=hi)
    width = (hi - lo) / bins
    centres = [lo + (i + 0.5) * width for i in range(bins)]
    density = (counts / (counts.sum() * width)).tolist()
    return centres, density


@dataclass(frozen=True)
class LayerCheck:
    """One hidden layer (``blocks.i``) at one check of ``Diagnostics``."""

    step: int
    layer: str
    rms: float  # sqrt(E[a^2]) of the layer's outputs
    std: float
    saturation: float | None  # tanh / sigmoid only
    dead: float  # fraction of units dead on the probe batch
    identical: bool
    grad_norm: float  # ||dL/dW|| of the layer's weight on the probe batch
    act_grad_std: float  # std of dL/da over the probe batch
    act_hist: tuple[list[float], list[float]]
    grad_hist: tuple[list[float], list[float]]


@dataclass(frozen=True)
class UpdateRatio:
    """rms(W_t - W_{t-1}) / rms(W_t) of one weight matrix after step ``step``."""

    step: int
    layer: str
    ratio: float


@dataclass
class Diagnostics(Probe):
    """Collects what ``diagnose`` reports during training: every ``every`` steps (and at step 0
    and the last step) a ``LayerCheck`` per hidden layer on the first ``n_probe`` training
    samples; after every step the update:data ratio of each hidden layer's weight and the head's.

    The measurements live on the probe (``checks``, ``updates``, ``probe_losses``), not in the
    record: read them through ``Diagnosis`` (``diagnose`` builds one).
    """

    every: int = 10
    n_probe: int = 512
    bins: int = 40
    activation: str = ""  # for the saturation measure; "" = not a saturating activation
    checks: list[LayerCheck] = field(default_factory=list, init=False, repr=False, compare=False)
    updates: list[UpdateRatio] = field(default_factory=list, init=False, repr=False,
                                       compare=False)
    probe_losses: list[tuple[int, float]] = field(default_factory=list, init=False, repr=False,
                                                  compare=False)
    grad_totals: list[tuple[int, float]] = field(default_factory=list, init=False, repr=False,
                                                 compare=False)
    _previous: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False,
                                               compare=False)

    @staticmethod
    def _weights(model: nn.Module) -> dict[str, nn.Module]:
        return select_modules(model, lambda n, m: (n.endswith(".linear") or n == "head")
                              and getattr(m, "weight", None) is not None)

    def _snapshot(self, model: nn.Module) -> None:
        self._previous = {n: m.weight.detach().clone() for n, m in self._weights(model).items()}

    def _check(self, state: TrainState) -> None:
        model = state.model
        x = state.data.x_train[: self.n_probe]
        y = state.data.y_train[: self.n_probe]
        buffers = {n: b.clone() for n, b in model.named_buffers()}  # BatchNorm running stats
        model.zero_grad(set_to_none=True)
        try:
            with capture(model, lambda n, _m: n.endswith(".act"), keep_grad=True) as outs:
                loss = F.cross_entropy(model(x), y)
                acts = dict(outs)
            for a in acts.values():
                if a.requires_grad:
                    a.retain_grad()
            loss.backward()
        finally:
            with torch.no_grad():
                for n, b in model.named_buffers():
                    b.copy_(buffers[n])
        weights = self._weights(model)
        grads = [m.weight.grad for m in weights.values() if m.weight.grad is not None]
        total = torch.sqrt(sum(g.pow(2).sum() for g in grads)).item() if grads else 0.0
        self.probe_losses.append((state.step, loss.item()))
        self.grad_totals.append((state.step, total))
        for name, a in acts.items():
            layer = name.rsplit(".", 1)[0]
            linear = weights.get(f"{layer}.linear")
            g = linear.weight.grad if linear is not None else None
            a_grad = a.grad if a.grad is not None else torch.zeros_like(a)
            a = a.detach()
            self.checks.append(LayerCheck(
                step=state.step, layer=layer, rms=a.pow(2).mean().sqrt().item(),
                std=a.std().item() if a.numel() > 1 else 0.0,
                saturation=saturation(a, self.activation), dead=stats.dead_fraction(a),
                identical=identical_units(a),
                grad_norm=g.norm().item() if g is not None else 0.0,
                act_grad_std=a_grad.std().item() if a_grad.numel() > 1 else 0.0,
                act_hist=histogram(a, self.bins), grad_hist=histogram(a_grad, self.bins)))
        model.zero_grad(set_to_none=True)

    def on_train_start(self, state: TrainState) -> None:
        self.checks, self.updates, self.probe_losses, self.grad_totals = [], [], [], []
        self._check(state)
        self._snapshot(state.model)

    def on_step_end(self, state: TrainState) -> None:
        with torch.no_grad():
            for name, m in self._weights(state.model).items():
                w = m.weight.detach()
                rms_w = w.pow(2).mean().sqrt().item()
                rms_dw = (w - self._previous[name]).pow(2).mean().sqrt().item()
                ratio = rms_dw / rms_w if rms_w > 0 else float("nan")
                self.updates.append(UpdateRatio(state.step, name.removesuffix(".linear"), ratio))
        self._snapshot(state.model)
        if state.step % self.every == 0 or state.step == state.config.steps:
            self._check(state)


@dataclass(frozen=True)
class Flag:
    """One problem ``diagnose`` found: its kind (one of ``KINDS``), the layers, and plain words."""

    kind: str
    layers: tuple[str, ...]
    message: str


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


@dataclass
class Diagnosis:
    """What ``diagnose`` measured and the problems it flags (``flags``, ``kinds``)."""

    activation: str
    num_classes: int
    checks: list[LayerCheck]
    updates: list[UpdateRatio]
    probe_losses: list[tuple[int, float]]
    grad_totals: list[tuple[int, float]]
    record: Record
    flags: list[Flag] = field(default_factory=list)

    # --- readers ----------------------------------------------------------------------------

    @property
    def ln_c(self) -> float:
        return expected_initial_loss(self.num_classes)

    @property
    def initial_loss(self) -> float:
        """Cross-entropy on the probe batch before any step."""
        return self.probe_losses[0][1]

    @property
    def layers(self) -> list[str]:
        seen: list[str] = []
        for c in self.checks:
            if c.layer not in seen:
                seen.append(c.layer)
        return seen

    @property
    def check_steps(self) -> list[int]:
        return sorted({c.step for c in self.checks})

    def at(self, step: int) -> list[LayerCheck]:
        """The layer checks at ``step`` (0 = before training; -1 = the last check)."""
        steps = self.check_steps
        step = steps[step] if step < 0 else step
        return [c for c in self.checks if c.step == step]

    def series(self, name: str) -> dict[str, list[float]]:
        """Layer -> a ``LayerCheck`` field (``"saturation"``, ``"dead"``, ``"rms"``...) per check."""
        out: dict[str, list[float]] = {}
        for c in self.checks:
            value = getattr(c, name)
            out.setdefault(c.layer, []).append(float("nan") if value is None else float(value))
        return out

    def update_ratios(self) -> dict[str, tuple[list[int], list[float]]]:
        """Layer (and ``head``) -> (steps, update:data ratios)."""
        out: dict[str, tuple[list[int], list[float]]] = {}
        for u in self.updates:
            steps, values = out.setdefault(u.layer, ([], []))
            steps.append(u.step)
            values.append(u.ratio)
        return out

    def median_update_ratio(self) -> dict[str, float]:
        """Layer -> median update:data ratio over the window (NaN where undefined)."""
        out = {}
        for layer, (_, values) in self.update_ratios().items():
            finite = [v for v in values if math.isfinite(v)]
            out[layer] = float(np.median(finite)) if finite else float("nan")
        return out

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.flags]

    def flagged(self, kind: str) -> bool:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        return kind in self.kinds

    @property
    def healthy(self) -> bool:
        return not self.flags

    # --- text ---------------------------------------------------------------------------------

    def table(self) -> str:
        """Per hidden layer, at the last check: rms, saturation, dead, ||dL/dW||, update ratio."""
        ratios = self.median_update_ratio()
        last = self.at(-1)
        step = last[0].step if last else 0
        head = (f"{'layer (step ' + str(step) + ')':20s}{'rms':>9s}{'saturated':>11s}{'dead':>7s}"
                f"{'identical':>11s}{'|dL/dW|':>11s}{'update:data':>13s}")
        rows = [head]
        for c in last:
            sat = "-" if c.saturation is None else _pct(c.saturation)
            r = ratios.get(c.layer, float("nan"))
            rows.append(f"{c.layer:20s}{c.rms:9.3g}{sat:>11s}{_pct(c.dead):>7s}"
                        f"{'yes' if c.identical else 'no':>11s}{c.grad_norm:11.3g}{r:13.2e}")
        return "\n".join(rows)

    def summary(self, flags: bool = True) -> str:
        """The table, the initial loss against ln C, and (``flags=True``) each problem in plain
        words; the lab prints the measurements alone, for the learner to read."""
        lines = [self.table(), "",
                 f"initial loss {self.initial_loss:.3f} (ln C = {self.ln_c:.3f} for "
                 f"{self.num_classes} classes); total gradient norm at step 0 "
                 f"{self.grad_totals[0][1]:.3g}; final training loss "
                 f"{self.record.final_train_loss:.3f} after {self.record.steps[-1]} steps"]
        if not flags:
            return "\n".join(lines)
        if not self.flags:
            lines.append("No problem flagged.")
        for f in self.flags:
            lines.append(f"PROBLEM ({f.kind}): {f.message}")
        return "\n".join(lines)

    def plot(self, title: str = "", flags: bool = True) -> Any:
        """The diagnostics panel (a matplotlib figure); see ``plot_diagnosis``."""
        return plot_diagnosis(self, title, flags=flags)


# --- flags ------------------------------------------------------------------------------------


def find_problems(d: Diagnosis) -> list[Flag]:
    """The flags of a diagnosis, in ``KINDS`` order; each message says what was measured, what
    it means and the usual fixes."""
    flags: list[Flag] = []
    record = d.record
    if record.diverged:
        flags.append(Flag("diverged", (), f"the training loss stopped being finite at step "
                          f"{record.diverged_at}: lower the learning rate, clip the gradient norm "
                          "(train.clip_norm) or shrink the init."))
    if not math.isfinite(d.initial_loss) or d.initial_loss > d.ln_c + EXCESS_LOSS:
        flags.append(Flag("initial_loss", ("head",), (
            f"the initial loss is {d.initial_loss:.3g}, far above ln C = {d.ln_c:.3f} (what "
            "uniform predictions give): the logits start large and confidently wrong. Scale the "
            "init (or the last layer) down so the network starts out unsure.")))
    first = d.at(0)
    if len(first) >= 2:
        checks = [d.at(s) for s in d.check_steps]
        growth = [cs[-1].rms / cs[0].rms if cs[0].rms > 0 else float("inf") for cs in checks]
        worst = max(growth)
        if worst > MAX_GROWTH:
            flags.append(Flag("exploding_activations", (first[-1].layer,), (
                f"the activations grow with depth: the last hidden layer's rms is {worst:.3g}x "
                "the first's. Each layer multiplies the signal by more than 1: use a smaller "
                "init (Kaiming's Var[W] = 2/fan_in for ReLU) or a normalisation layer.")))
        # ||dL/dW|| of the first hidden layer over the last's, at each check (0/0 is skipped)
        spreads = [cs[0].grad_norm / cs[-1].grad_norm if cs[-1].grad_norm > 0 else float("inf")
                   for cs in checks if cs[0].grad_norm > 0 or cs[-1].grad_norm > 0]
        big_total = max((t for _, t in d.grad_totals if math.isfinite(t)), default=0.0)
        spread = max(spreads, default=float("nan"))
        if spread > MAX_GRAD_SPREAD or big_total > MAX_GRAD_NORM:
            why = []
            if spread > MAX_GRAD_SPREAD:
                why.append(f"the first layer's ||dL/dW|| is up to {spread:.3g}x the last layer's "
                           "(the gradient grows on its way back)")
            if big_total > MAX_GRAD_NORM:
                why.append(f"the total gradient norm reaches {big_total:.3g}")
            flags.append(Flag("exploding_gradients", (first[0].layer,), (
                f"the gradients are large: {' and '.join(why)}. Clip the gradient norm "
                "(train.clip_norm), lower the learning rate, shrink the init, or add "
                "normalisation.")))
        finite = [s for s in spreads if math.isfinite(s)]
        if finite and min(finite) < 1 / MAX_GRAD_SPREAD:
            flags.append(Flag("vanishing_gradients", (first[0].layer,), (
                f"the gradient fades towards the input: the first layer's ||dL/dW|| is "
                f"{min(finite):.2g}x the last layer's, so the early layers barely learn. "
                "Saturating activations and too-small inits cause this; ReLU-family activations, "
                "a matched init or normalisation fix it.")))
    last = d.at(-1)
    sat = [c for c in last if c.saturation is not None and c.saturation > MAX_SATURATED]
    if sat:
        worst = max(sat, key=lambda c: c.saturation or 0.0)
        flags.append(Flag("saturated", tuple(c.layer for c in sat), (
            f"{len(sat)} of {len(last)} {d.activation} layers are saturated (up to "
            f"{_pct(worst.saturation or 0.0)} of {worst.layer}'s outputs within "
            f"{SIGMOID_MARGIN if d.activation == 'sigmoid' else round(1 - TANH_SATURATED, 2)} of "
            "an asymptote), where the slope is near zero and little gradient passes. Shrink "
            "the pre-activations (a smaller init, normalisation, a smaller learning rate) or use "
            "a non-saturating activation.")))
    dead = [c for c in last if c.dead > MAX_DEAD]
    if dead:
        worst = max(dead, key=lambda c: c.dead)
        flags.append(Flag("dead", tuple(c.layer for c in dead), (
            f"{len(dead)} of {len(last)} layers have dead units (up to {_pct(worst.dead)} of "
            f"{worst.layer}'s units output 0 on every probe input, so they get no gradient "
            "again). Causes: a too-high learning rate or negative biases; fixes: a lower rate, "
            "zero biases, or a leaky activation.")))
    sym = [c for c in last if c.identical]
    if sym:
        flags.append(Flag("symmetric", tuple(c.layer for c in sym), (
            f"every unit of {', '.join(c.layer for c in sym)} computes the same output: the init "
            "gave them identical weights (zero or constant init) and gradient descent keeps them "
            "identical, so the layer is as good as one unit. Use a random init.")))
    medians = d.median_update_ratio()
    hidden = [layer for layer in medians if layer != "head"]
    high = [layer for layer in hidden if medians[layer] > MAX_RATIO]
    low = [layer for layer in hidden if medians[layer] < MIN_RATIO]
    if high:
        flags.append(Flag("large_updates", tuple(high), (
            f"the update:data ratio of {', '.join(high)} is around "
            f"{max(medians[layer] for layer in high):.1e}, far above the ~1e-3 guide: each step "
            "changes the weights by a large fraction. The learning rate is probably too high.")))
    if low:
        flags.append(Flag("small_updates", tuple(low), (
            f"the update:data ratio of {', '.join(low)} is around "
            f"{min(medians[layer] for layer in low):.1e}, far below the ~1e-3 guide: these "
            "weights barely move. The learning rate is too low for them, or their gradient "
            "vanished.")))
    return flags


# --- the one call ---------------------------------------------------------------------------------


def _activation_of(model: nn.Module) -> str:
    from relucourse.activations import ScaledSigmoid

    name = getattr(model, "activation", None)
    if isinstance(name, str):
        return name
    for m in model.modules():
        if isinstance(m, nn.Sigmoid | ScaledSigmoid):
            return "sigmoid"
        if isinstance(m, nn.Tanh):
            return "tanh"
    return ""


def diagnose(target: RunConfig | nn.Module, data: Dataset | None = None,
             train_cfg: TrainConfig | None = None, steps: int | None = None, every: int = 10,
             n_probe: int = 512, activation: str | None = None,
             device: str | torch.device | None = None, show: bool = False) -> Diagnosis:
    """Train briefly with the ``Diagnostics`` probe and report per layer what it measured.

    ``target`` is a ``RunConfig`` (built and trained by ``experiments.fit``; ``steps`` overrides
    ``train.steps``) or a model, which is copied (the model passed in is left untouched) and
    trained on ``data`` with ``train_cfg`` (default: the package's ``TrainConfig()``, SGD at lr
    0.1, with ``steps`` or 100 steps). ``show=True`` prints the summary and draws the panel.
    """
    if isinstance(target, RunConfig):
        from relucourse.experiments import fit, load_data
        from relucourse.runtime import pick_device

        cfg = target if steps is None else target.replace(**{"train.steps": steps})
        cfg = cfg.replace(**{"train.eval_every": min(cfg.train.eval_every, every)})
        data = data if data is not None else load_data(cfg, pick_device(device))
        probe = Diagnostics(every=every, n_probe=n_probe,
                            activation=activation or cfg.model.activation)
        _, record = fit(cfg, probes=[probe], data=data, progress=False)
        num_classes = data.num_classes
    elif isinstance(target, nn.Module):
        if data is None:
            raise ValueError("diagnose(model, data): pass the Dataset to train and probe on")
        tcfg = train_cfg or TrainConfig(steps=100)
        if steps is not None:
            tcfg = TrainConfig(**{**_fields(tcfg), "steps": steps})
        tcfg = TrainConfig(**{**_fields(tcfg), "eval_every": min(tcfg.eval_every, every)})
        probe = Diagnostics(every=every, n_probe=n_probe,
                            activation=activation if activation is not None
                            else _activation_of(target))
        model = copy.deepcopy(target)
        record = train(model, data, tcfg, callbacks=[probe], progress=False)
        record.activation = probe.activation
        num_classes = data.num_classes
    else:
        raise TypeError(f"diagnose takes a RunConfig or an nn.Module, not {type(target).__name__}")
    d = Diagnosis(probe.activation, num_classes, probe.checks, probe.updates,
                  probe.probe_losses, probe.grad_totals, record)
    d.flags = find_problems(d)
    if show:
        print(d.summary())
        import matplotlib.pyplot as plt

        d.plot()
        plt.show()
    return d


def _fields(cfg: TrainConfig) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


# --- the panel --------------------------------------------------------------------------------


def plot_diagnosis(d: Diagnosis, title: str = "", layers: Sequence[str] | None = None,
                   flags: bool = True) -> Any:
    """Eight panels, two per row (sized for the site's column): activation histograms at the
    first and last check, gradient histograms at the last check; saturation or dead % per layer
    over training; the update:data ratio (log scale, with Karpathy's 1e-3 guide line);
    ||dL/dW|| per layer at the first and last check; the training loss against ln C; and
    (``flags=True``) the flags raised."""
    import matplotlib.pyplot as plt

    from relucourse.plots import COLUMN_IN, OKABE_ITO, finish

    layers = list(layers or d.layers)
    color = {layer: OKABE_ITO[i % len(OKABE_ITO)] for i, layer in enumerate(layers)}
    label = {layer: f"layer {int(layer.split('.')[-1]) + 1}" if layer.split(".")[-1].isdigit()
             else layer for layer in layers}
    fig, grid = plt.subplots(4, 2, figsize=(COLUMN_IN, 11.0))
    axes = grid.reshape(2, 4)  # the same reading order as the 2 x 4 layout it replaced
    steps = d.check_steps
    for ax, step, what in ((axes[0, 0], steps[0], "act_hist"), (axes[0, 1], steps[-1], "act_hist"),
                           (axes[0, 2], steps[-1], "grad_hist")):
        for c in d.at(step):
            if c.layer in color:
                x, density = getattr(c, what)
                ax.plot(x, density, color=color[c.layer], label=label[c.layer], linewidth=1.5)
        shown = "outputs $a$" if what == "act_hist" else r"gradients $\partial L/\partial a$"
        finish(ax, f"{shown} at step {step}",
               "activation value $a$" if what == "act_hist" else r"$\partial L/\partial a$",
               "density", legend=(ax is axes[0, 0]))
    ax = axes[0, 3]
    key = "saturation" if d.activation in SATURATING else "dead"
    for layer, values in d.series(key).items():
        if layer in color:
            ax.plot(steps, [100 * v for v in values], marker="o", markersize=3,
                    color=color[layer], label=label[layer])
    limit = MAX_SATURATED if key == "saturation" else MAX_DEAD
    ax.axhline(100 * limit, color="gray", linestyle="--", linewidth=1, label="flag above")
    ax.set_ylim(-3, 103)
    finish(ax, f"{'saturated outputs' if key == 'saturation' else 'dead units'} per layer",
           "training step", "% of the layer", legend=False)
    ax = axes[1, 0]
    for layer, (s, values) in d.update_ratios().items():
        if layer in color or layer == "head":
            v = np.asarray(values, dtype=float)
            ax.plot(s, np.log10(np.where(v > 0, v, np.nan)), color=color.get(layer, "black"),
                    linewidth=1.2, label=label.get(layer, layer))
    ax.axhline(math.log10(GUIDE_RATIO), color="gray", linestyle="--", linewidth=1,
               label="1e-3 guide")
    finish(ax, "update:data ratio (black: head)", "training step",
           r"$\log_{10}$ rms$(\Delta W)$ / rms$(W)$", legend=False)
    ax = axes[1, 1]
    x = np.arange(1, len(layers) + 1)
    for step, style in ((steps[0], "--"), (steps[-1], "-")):
        norms = {c.layer: c.grad_norm for c in d.at(step)}
        ax.plot(x, [norms.get(layer, np.nan) for layer in layers], style, marker="o",
                color="black", label=f"step {step}")
    if any(c.grad_norm > 0 for c in d.checks):  # all zero (a dead network): keep it linear
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    finish(ax, "weight-gradient norm per layer", "hidden layer (1 = input side)",
           r"$\|\partial L/\partial W_\ell\|$")
    ax = axes[1, 2]
    r = d.record
    ax.plot([0] + r.steps, [d.initial_loss] + r.train_loss, color="black", label="training loss")
    ax.axhline(d.ln_c, color="gray", linestyle="--", linewidth=1, label=r"$\ln C$")
    finish(ax, "training loss", "training step", "cross-entropy")
    ax = axes[1, 3]
    ax.axis("off")
    if flags:
        words = "\n".join(f"- {f.kind}" for f in d.flags) or "no problem flagged"
        ax.text(0.0, 1.0, "flags:\n" + words, va="top", ha="left", family="monospace",
                fontsize=10, transform=ax.transAxes)
    fig.suptitle(title or f"diagnose: {d.activation or 'network'}")
    return fig
