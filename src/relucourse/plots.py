"""One plotting style for the whole course; functions take result records, never models.

Readability rules: labelled axes, a title, a legend; the Okabe-Ito colour-blind-safe palette with a
fixed colour per activation across every chapter; an opaque white figure background so figures stay
readable when the site is in dark mode.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.font_manager import FontProperties

from relucourse.records import Record

# Okabe & Ito (2008), "Color Universal Design": distinguishable with all common colour-vision types.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

ACTIVATION_COLORS = {
    # Every activation has its own colour (sigmoid and tanh were two similar oranges), and none is
    # Okabe-Ito's yellow, which is hard to see on the white figure background.
    "sigmoid": "#D55E00",  # vermillion
    "tanh": "#CC79A7",  # reddish purple
    "relu": "#0072B2",  # blue
    "leaky_relu": "#56B4E9",  # sky blue
    "prelu": "#117733",  # Tol green
    "softplus": "#009E73",  # bluish green
    "elu": "#E69F00",  # orange
    "gelu": "#000000",
    "silu": "#AA4499",  # Tol purple
    "relu_leaky_backward": "#88CCEE",  # Tol cyan
    "identity": "#777777",
    # Paul Tol's colour-blind-safe "muted" scheme, for activations beyond Okabe-Ito's eight.
    "selu": "#882255",  # wine
    "mish": "#44AA99",  # teal
    "centred_sigmoid": "#999933",  # olive: sigmoid's offset-free twin
    "shifted_relu": "#332288",  # indigo: ReLU's centred twin
    "softsign": "#CC6677",  # Tol rose
}
LINESTYLES = ["-", "--", ":", "-."]

# The site's content column is about 680 px wide (sphinx-book-theme at a 1280 px window): a
# figure this wide at this dpi is shown at its natural size, so its text is as large as the
# style says (tests/test_site_browser.py measures it). Wider figures are shrunk, text with them.
DPI = 110
COLUMN_IN = 6.1
# 10.5 pt at 110 dpi is 16 px, the body text of the site.
FONT_PT = 10.5

STYLE: dict[str, Any] = {
    "font.size": FONT_PT,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": DPI,
    "figure.figsize": (COLUMN_IN, 3.6),
    "figure.constrained_layout.use": True,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11.5,
    "axes.labelsize": FONT_PT,
    "legend.fontsize": 9.5,
    "legend.framealpha": 0.9,
    "lines.linewidth": 2.0,
    "text.color": "black",
    "axes.labelcolor": "black",
    "xtick.color": "black",
    "ytick.color": "black",
}


def use_style() -> None:
    """Apply the course style to matplotlib (``rc.setup``, i.e. ``session.setup``, calls this)."""
    mpl.rcParams.update(STYLE)


def color_for(name: str, index: int = 0) -> str:
    """The activation's fixed colour, or the palette's ``index``-th colour for anything else."""
    return ACTIVATION_COLORS.get(name, OKABE_ITO[index % len(OKABE_ITO)])


def panels(n: int = 1, row_height: float = 3.0, **subplot_kw: Any) -> tuple[plt.Figure, Any]:
    """A figure for the content column with ``n`` panels stacked one per row, each the full width.

    Returns ``(fig, ax)`` for one panel and ``(fig, [ax, ...])`` otherwise, so
    ``fig, (a, b) = panels(2)`` works. Why stacked: side by side, each panel gets half the
    column, so its title, ticks and legend either shrink or run into its neighbour's; a wide
    figure would be shrunk to fit the column instead, its text with it.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"panels: n must be a positive integer, got {n!r}")
    height = 3.6 if n == 1 else row_height * n
    fig, axes = plt.subplots(n, 1, figsize=(COLUMN_IN, height), squeeze=False, **subplot_kw)
    flat = list(axes.ravel())
    return (fig, flat[0]) if n == 1 else (fig, flat)


def wrap_title(title: str, ax: plt.Axes) -> str:
    """``title`` broken into lines that fit over ``ax`` (a long title would otherwise widen the
    saved figure past the column, and the browser would shrink all of its text)."""
    fig = ax.get_figure()
    width_in = ax.get_position().width * fig.get_figwidth()
    size = FontProperties(size=mpl.rcParams["axes.titlesize"]).get_size_in_points()
    per_line = max(20, int(width_in * 72 / (0.5 * size)))
    if len(title) <= per_line:
        return title
    # Never break inside $...$ (mathtext split over two lines is shown as raw text): its spaces
    # are held by a placeholder while wrapping.
    parts = title.split("$")
    held = "$".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    lines = textwrap.wrap(held, per_line, break_long_words=False, break_on_hyphens=False)
    return "\n".join(line.replace("\0", " ") for line in lines)


def finish(ax: plt.Axes, title: str, xlabel: str, ylabel: str, legend: bool = True) -> plt.Axes:
    """Every course plot ends here: title, axis labels, legend when there are labelled lines."""
    ax.set_title(wrap_title(title, ax))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    handles = ax.get_legend_handles_labels()[0]
    if legend and handles:
        ax.legend(ncols=2 if len(handles) > 5 else 1)  # a long single column covers the data
    return ax


def mean_band(ax: plt.Axes, x: Sequence[float], runs: Sequence[Sequence[float]], label: str,
              color: str | None = None, linestyle: str = "-") -> None:
    """Mean line with a +/- one-standard-deviation band over runs (seeds)."""
    arr = np.asarray(runs, dtype=float)
    mean = arr.mean(axis=0)
    std = arr.std(axis=0) if len(arr) > 1 else np.zeros_like(mean)
    (line,) = ax.plot(x, mean, label=f"{label} (n={len(arr)})", color=color, linestyle=linestyle)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def curves(groups: dict[str, Sequence[Record]], metric: str = "test_acc",
           ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """Training curves: ``groups`` maps a label to a list of records (one per seed).

    A group's colour is its activation's (``record.activation``); labels are only displayed.
    """
    if ax is None:
        _, ax = plt.subplots()
    for i, (label, records) in enumerate(groups.items()):
        steps = records[0].steps
        mean_band(ax, steps, [getattr(r, metric) for r in records], label,
                  color=color_for(records[0].activation, i),
                  linestyle=LINESTYLES[(i // len(OKABE_ITO)) % 4])
    nice = {"test_acc": "test accuracy", "train_loss": "training loss", "test_loss": "test loss"}
    return finish(ax, title or f"{nice.get(metric, metric)} (mean ± std over seeds)",
                  "training step", nice.get(metric, metric))


def layer_profile(values_by_label: dict[str, Sequence[float]], ylabel: str, title: str,
                  log: bool = True, ax: plt.Axes | None = None,
                  activations: dict[str, str] | None = None) -> plt.Axes:
    """One value per layer (gradient norm, variance...) for several configurations.

    ``activations`` maps a label to its activation, which gives the line its colour; labels
    without one take the palette's colours in order. Labels are never parsed.
    """
    if ax is None:
        _, ax = plt.subplots()
    activations = activations or {}
    for i, (label, values) in enumerate(values_by_label.items()):
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label,
                color=color_for(activations.get(label, ""), i),
                linestyle=LINESTYLES[(i // len(OKABE_ITO)) % 4])
    if log:
        ax.set_yscale("log")
    return finish(ax, title, "layer (1 = closest to the input)", ylabel)


def layer_trajectories(record: Record, title: str, ax: plt.Axes | None = None,
                       ylabel: str = "activation value") -> plt.Axes:
    """Mean (line) and +/- one std (band) of each hidden layer's activation over training, as in
    Glorot & Bengio (2010), Figure 2 (chapter 2). Needs a record trained with ``probes.LayerStats``."""
    if ax is None:
        _, ax = plt.subplots()
    for i, series in enumerate(record.layer_series()):
        mean, std = np.asarray(series.mean), np.asarray(series.std)
        color = OKABE_ITO[i % len(OKABE_ITO)]
        index = series.layer.split(".")[1] if series.layer.startswith("blocks.") else series.layer
        label = f"layer {int(index) + 1}" if index.isdigit() else series.layer
        ax.plot(series.steps, mean, color=color, label=label)
        ax.fill_between(series.steps, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    return finish(ax, title, "training step (minibatch updates)", ylabel)
