"""What sigmoid costs compared with ReLU: alone on a big tensor, and inside a training step.

Chapter: "Sigmoid saturation and vanishing gradients", section "What does the exp cost?"
(chapters/02_sigmoid_saturation.ipynb).

sigmoid needs an exp per element forward (and a multiply-add backward, s(1-s)); ReLU needs a
comparison. On its own the activation is memory-bound on a GPU and exp-bound on a CPU, so sigmoid
can be measurably slower. But in an MLP step the matmuls cost O(batch * width^2) per layer against
O(batch * width) for the activation, so the activation's share, and with it the sigmoid/ReLU
ratio of the whole step, shrinks as the layers get wider. Timings come from ``timing.measure``
(warm-up, device sync, median); only ratios measured in one run on one machine are compared.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from relucourse.models import MLP
from relucourse.runtime import seed_everything
from relucourse.timing import Timing, activation_step, measure


def train_step(activation: str, width: int, depth: int, batch: int,
               device: torch.device | str = "cpu", in_features: int = 256,
               num_classes: int = 10, seed: int = 0) -> Callable[[], None]:
    """A closure running one SGD step (forward, cross-entropy, backward, update) of a course MLP."""
    seed_everything(seed)
    model = MLP(in_features, num_classes, width=width, depth=depth, activation=activation).to(device)
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

    After a warm-up, the two activations are timed alternately, call by call, so a slow spell on
    a shared machine hits both rather than one; each entry is the median of ``repeats`` calls.
    """
    names = ("sigmoid", "relu")
    fns: dict[tuple[str, int], Callable[[], None]] = {
        (n, 0): activation_step(n, numel, device) for n in names}
    for w in widths:
        fns.update({(n, w): train_step(n, w, depth, batch, device) for n in names})
    for fn in fns.values():
        measure(fn, device, warmup=2, repeats=1)
    samples: dict[tuple[str, int], list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            samples[key].append(measure(fn, device, warmup=0, repeats=1).median_s)

    def timing(key: tuple[str, int]) -> Timing:
        v = samples[key]
        return Timing(statistics.median(v), min(v), max(v), len(v))

    return CostComparison(torch.device(device).type, numel, {n: timing((n, 0)) for n in names},
                          {w: {n: timing((n, w)) for n in names} for w in widths})
