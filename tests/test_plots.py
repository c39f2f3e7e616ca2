"""plots: the course style, stable colours, and the number of lines each helper draws."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from relucourse import plots
from relucourse.records import Record

pytestmark = pytest.mark.usefixtures("agg")


def test_use_style_sets_an_opaque_white_background() -> None:
    mpl.rcParams["figure.facecolor"] = (0, 0, 0, 0)  # transparent: unreadable on a dark theme
    plots.use_style()
    for key in ("figure.facecolor", "axes.facecolor", "savefig.facecolor"):
        assert to_rgba(mpl.rcParams[key]) == (1.0, 1.0, 1.0, 1.0), key
    fig, ax = plt.subplots()
    assert fig.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
    cycle = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    assert cycle == plots.OKABE_ITO


def test_color_for_is_stable() -> None:
    assert plots.color_for("relu") == plots.color_for("relu", index=5) == "#0072B2"
    assert plots.color_for("sigmoid") == "#D55E00"
    assert plots.color_for("something else", 2) == plots.OKABE_ITO[2]
    assert plots.color_for("x", len(plots.OKABE_ITO) + 1) == plots.OKABE_ITO[1]
    assert len(set(plots.OKABE_ITO)) == len(plots.OKABE_ITO) == 8


def test_finish_sets_title_labels_and_legend() -> None:
    _, ax = plt.subplots()
    plots.finish(ax, "T", "x label", "y label")
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "x label", "y label")
    assert ax.get_legend() is None  # nothing labelled: no empty legend box
    ax.plot([0, 1], [0, 1], label="line")
    plots.finish(ax, "T2", "x", "y")
    assert ax.get_legend() is not None
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["line"]
    _, ax2 = plt.subplots()
    ax2.plot([0, 1], label="line")
    assert plots.finish(ax2, "T", "x", "y", legend=False).get_legend() is None


def fake(steps: list[int], acc: list[float], activation: str = "") -> Record:
    return Record(steps=steps, train_loss=[1.0] * len(steps), test_loss=[1.0] * len(steps),
                  test_acc=acc, activation=activation)


def test_curves_draws_one_line_and_band_per_group() -> None:
    groups = {
        "relu, depth 8": [fake([1, 2, 3], [0.1, 0.5, 0.9], "relu"),
                          fake([1, 2, 3], [0.3, 0.5, 0.7], "relu")],
        "sigmoid, depth 8": [fake([1, 2, 3], [0.1, 0.2, 0.3], "sigmoid")],
        "custom": [fake([1, 2, 3], [0.2, 0.2, 0.2])] * 3,
    }
    ax = plots.curves(groups)
    lines = ax.get_lines()
    assert len(lines) == 3
    assert len(ax.collections) == 3  # one ± std band per group
    assert [ln.get_label() for ln in lines] == ["relu, depth 8 (n=2)", "sigmoid, depth 8 (n=1)",
                                                 "custom (n=3)"]
    assert lines[0].get_color() == plots.color_for("relu")
    assert lines[1].get_color() == plots.color_for("sigmoid")
    # colours come from the records' activation, never from the label text
    relabelled = plots.curves({"sigmoid": groups["relu, depth 8"]})
    assert relabelled.get_lines()[0].get_color() == plots.color_for("relu")
    assert list(lines[0].get_ydata()) == pytest.approx([0.2, 0.5, 0.8])
    assert ax.get_xlabel() == "training step" and ax.get_ylabel() == "test accuracy"
    assert "mean ± std" in ax.get_title()
    ax2 = plots.curves(groups, metric="train_loss", title="losses")
    assert ax2.get_title() == "losses" and ax2.get_ylabel() == "training loss"


def test_mean_band_width_is_one_std() -> None:
    _, ax = plt.subplots()
    plots.mean_band(ax, [0, 1], [[0.0, 1.0], [2.0, 3.0]], "r")
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.0) and band[:, 1].max() == pytest.approx(3.0)


def test_layer_profile() -> None:
    values = {"relu, kaiming": [1.0, 2.0, 4.0], "tanh": [1.0, 0.5, 0.25], "sigmoid": [1, 0.1, 0.01]}
    ax = plots.layer_profile(values, "gradient norm", "Gradient norm per layer")
    assert len(ax.get_lines()) == 3
    assert ax.get_yscale() == "log"
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert ax.get_title() == "Gradient norm per layer" and ax.get_ylabel() == "gradient norm"
    assert ax.get_xlabel().startswith("layer")
    assert plots.layer_profile(values, "v", "t", log=False).get_yscale() == "linear"


def test_every_registered_activation_has_its_own_colour() -> None:
    from relucourse.activations import activation_names

    colours = plots.ACTIVATION_COLORS
    missing = [a for a in activation_names() if a not in colours]
    assert not missing, f"give these activations a colour in plots.ACTIVATION_COLORS: {missing}"
    assert len(set(colours.values())) == len(colours), "two activations share a colour"
    assert "#F0E442" not in colours.values()  # yellow on white is unreadable


@pytest.mark.parametrize("n", [1, 2, 3])
def test_panels_are_stacked_at_the_column_width(n: int) -> None:
    fig, axes = plots.panels(n)
    try:
        axes = [axes] if n == 1 else axes
        assert len(axes) == n == len(fig.axes)
        assert fig.get_figwidth() == plots.COLUMN_IN
        assert len({round(ax.get_position().x0, 3) for ax in axes}) == 1  # one column
    finally:
        plt.close(fig)


def test_a_long_title_is_wrapped_to_its_axes_and_keeps_the_figure_in_the_column() -> None:
    plots.use_style()
    fig, ax = plots.panels(1)
    try:
        title = "Training loss, tuned lr per activation (mean ± std over seeds (0, 1, 2)), " * 2
        plots.finish(ax, title.strip(), "step", "loss")
        assert "\n" in ax.get_title() and ax.get_title().replace("\n", " ") == title.strip()
        fig.canvas.draw()
        tight = fig.get_tightbbox(fig.canvas.get_renderer())
        assert tight.width <= plots.COLUMN_IN + 0.05  # the title does not widen the figure
        assert plots.wrap_title("short", ax) == "short"
        maths = "selu at its own gain, " * 3 + r"$n\,\mathrm{Var}[W] = 1.75$ (seed 0)"
        lines = plots.wrap_title(maths, ax).split("\n")
        assert len(lines) > 1 and all(line.count("$") % 2 == 0 for line in lines)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2", True])
def test_panels_refuses_a_bad_count(bad: object) -> None:
    with pytest.raises(ValueError, match="panels: n must be a positive integer"):
        plots.panels(bad)  # type: ignore[arg-type]
