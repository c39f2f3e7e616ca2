"""Per-layer activation statistics over training, as in Glorot & Bengio (2010), Figure 2.

Chapter: "Sigmoid saturation and vanishing gradients" (chapters/02_sigmoid_saturation.ipynb).

``instrument.LayerStatsProbe`` (or the batched engine's equivalent) writes rows
``{"step", "layer", "mean", "std", ...}`` into ``result.extras["layer_stats"]``. Here those rows
become one time series per layer, and a figure in the paper's style: for each hidden layer the mean
activation over a fixed probe batch, with a band of +/- one standard deviation (taken over units
and samples). Glorot & Bengio saw the top hidden layer of a sigmoid network driven toward 0 early in
training while the lower layers stayed near 1/2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from relucourse.plots import OKABE_ITO, finish
from relucourse.train import TrainResult


@dataclass(frozen=True)
class LayerSeries:
    """One layer's activation mean and spread at each recorded step."""

    layer: str
    steps: list[int]
    mean: list[float]
    std: list[float]


def layer_series(result: TrainResult) -> list[LayerSeries]:
    """The ``layer_stats`` rows of ``result`` as one series per layer, in forward order."""
    rows = result.extras.get("layer_stats")
    if not rows:
        raise ValueError("this result has no extras['layer_stats']; train it with "
                         "instrument.LayerStatsProbe (or the batched engine with that probe)")
    by_layer: dict[str, list[dict[str, float]]] = {}
    for row in rows:
        by_layer.setdefault(str(row["layer"]), []).append(row)
    out = []
    for name, layer_rows in by_layer.items():
        layer_rows = sorted(layer_rows, key=lambda r: r["step"])
        out.append(LayerSeries(name, [int(r["step"]) for r in layer_rows],
                               [float(r["mean"]) for r in layer_rows],
                               [float(r["std"]) for r in layer_rows]))
    return out


def final_means(results: Sequence[TrainResult]) -> np.ndarray:
    """(runs, layers) array of each layer's mean activation at the last recorded step."""
    return np.array([[s.mean[-1] for s in layer_series(r)] for r in results])


def initial_means(results: Sequence[TrainResult]) -> np.ndarray:
    """(runs, layers) array of each layer's mean activation at step 0 (before training)."""
    return np.array([[s.mean[0] for s in layer_series(r)] for r in results])


def plot_layer_trajectories(result: TrainResult, title: str, ax: plt.Axes | None = None,
                            ylabel: str = "activation value") -> plt.Axes:
    """Mean (line) and +/- one std (band) of each hidden layer's activation over training."""
    if ax is None:
        _, ax = plt.subplots()
    for i, series in enumerate(layer_series(result)):
        mean, std = np.asarray(series.mean), np.asarray(series.std)
        color = OKABE_ITO[i % len(OKABE_ITO)]
        index = series.layer.split(".")[1] if series.layer.startswith("blocks.") else series.layer
        label = f"layer {int(index) + 1}" if index.isdigit() else series.layer
        ax.plot(series.steps, mean, color=color, label=label)
        ax.fill_between(series.steps, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    return finish(ax, title, "training step (minibatch updates)", ylabel)
