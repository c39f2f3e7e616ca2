"""Tests for relucourse.theory.saturation and relucourse.records (chapter 02, sigmoid saturation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import relucourse as rc
from relucourse import records as T
from relucourse.probes import LayerStats
from relucourse.records import Record
from relucourse.theory import saturation as G
from relucourse.train import TrainConfig, train


def _batch(n: int = 256, features: int = 16, classes: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g), torch.randint(0, classes, (n,), generator=g)


@pytest.mark.parametrize("fan_in", [40, 256, 1024])
def test_default_linear_init_has_n_var_one_third(fan_in: int) -> None:
    assert G.default_linear_n_var(fan_in, fan_out=256) == pytest.approx(1 / 3, abs=0.02)
    assert G.uniform_n_var(1.0) == pytest.approx(1 / 3, rel=1e-12)
    assert G.uniform_n_var(math.sqrt(3)) == pytest.approx(1.0, rel=1e-12)


def test_sigmoid_bounds_closed_form() -> None:
    assert G.sigmoid_layer_factor_bound(1 / 3) == pytest.approx(math.sqrt(1 / 48), rel=1e-12)
    assert G.sigmoid_layer_factor_bound(16.0) == pytest.approx(1.0)
    assert G.sigmoid_depth_bound(1) == 1.0
    assert G.sigmoid_depth_bound(5) == pytest.approx(48.0**-2, rel=1e-12)
    with pytest.raises(ValueError):
        G.sigmoid_layer_factor_bound(0.0)
    with pytest.raises(ValueError):
        G.sigmoid_depth_bound(0)


def test_layer_gradient_norms_match_manual_backward() -> None:
    x, y = _batch()
    model = G.make_mlp("sigmoid", 4, 16, 4, width=32, seed=3)
    norms = G.layer_gradient_norms(model, x, y)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    manual = [b.linear.weight.grad.norm().item() for b in model.blocks]
    assert norms == pytest.approx(manual, rel=1e-6)
    assert len(norms) == 4


def test_init_profile_is_seeded_and_geometric_mean() -> None:
    x, y = _batch()
    a = G.init_gradient_profile("tanh", 3, x, y, width=16, seeds=(0, 1))
    b = G.init_gradient_profile("tanh", 3, x, y, width=16, seeds=(0, 1))
    assert a == b
    singles = [G.init_gradient_profile("tanh", 3, x, y, width=16, seeds=(s,)) for s in (0, 1)]
    assert a == pytest.approx(np.sqrt(np.prod(singles, axis=0)).tolist(), rel=1e-9)


def test_sigmoid_vanishes_at_the_bound_and_relu_does_not() -> None:
    """The chapter's central measurement: sigmoid's per-layer factor is just under sqrt(1/48)."""
    x, y = _batch(512, 40, 10)
    profiles = G.gradient_profiles(["sigmoid", "relu"], [10], x, y, width=64)
    sig, relu = profiles[("sigmoid", 10)], profiles[("relu", 10)]
    bound = G.sigmoid_layer_factor_bound(1 / 3)
    assert 0.8 * bound < G.per_layer_factor(sig) < 1.05 * bound
    assert G.first_to_last(sig) < 1e-5
    assert 0.1 < G.first_to_last(relu) < 10


def test_per_layer_factor_skips_layer_one() -> None:
    norms = [123.0, 1e-4, 1e-3, 1e-2]
    assert G.per_layer_factor(norms) == pytest.approx(0.1)
    assert G.first_to_last(norms) == pytest.approx(12300.0)
    with pytest.raises(ValueError):
        G.per_layer_factor([1.0, 2.0])


def test_layer_series_and_means_from_a_probe(tiny_dataset, quiet) -> None:
    model = G.make_mlp("sigmoid", 3, tiny_dataset.n_features, 3, width=8, seed=0)
    cfg = TrainConfig(lr=0.5, batch_size=8, steps=20, eval_every=10, seed=0)
    result = train(model, tiny_dataset, cfg, callbacks=[LayerStats(every=10, n_probe=32)])
    series = result.layer_series()
    assert [s.layer for s in series] == ["blocks.0.act", "blocks.1.act", "blocks.2.act"]
    assert all(s.steps == [0, 10, 20] for s in series)
    initial = T.layer_means([result], 0)
    assert len(initial) == 1 and len(initial[0]) == 3
    assert T.layer_means([result], -1)[0][-1] == pytest.approx(series[-1].mean[-1])
    assert all(0 < m < 1 for m in initial[0])


def test_layer_series_needs_stats() -> None:
    with pytest.raises(ValueError, match="LayerStats"):
        Record().layer_series()


def test_plot_layer_trajectories(agg) -> None:
    rows = [T.LayerStat(step=s, layer=f"blocks.{i}.act", mean=0.5 - 0.01 * s * i, std=0.1,
                        zero_frac=0.0, second_moment=0.26) for s in (0, 10) for i in range(2)]
    ax = rc.plots.layer_trajectories(Record(layer_stats=rows), "title")
    assert ax.get_title() == "title"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["layer 1", "layer 2"]


# --- the mean-field backward gain (chapter 2, "Is there a scale where sigmoid's backward gain is 1?")

def test_gaussian_expectations_match_closed_forms_and_a_finer_grid() -> None:
    q = [0.01, 1.0, 7.0, 50.0]
    assert G.gaussian_expectations(lambda z: z**2, q) == pytest.approx(q, rel=1e-9)
    relu = lambda z: torch.relu(z)  # noqa: E731
    assert G.gaussian_expectations(lambda z: relu(z) ** 2, q) == pytest.approx([v / 2 for v in q],
                                                                               rel=1e-9)
    step = lambda z: (z > 0).double()  # noqa: E731  ReLU's slope: a jump at 0, a cell edge
    assert G.gaussian_expectations(step, q) == pytest.approx([0.5] * 4, abs=1e-12)
    s2 = lambda z: torch.sigmoid(z) ** 2  # noqa: E731
    coarse, fine = G.gaussian_expectations(s2, q), G.gaussian_expectations(s2, q, cells=60_000)
    assert coarse == pytest.approx(fine, rel=1e-9)


@pytest.mark.parametrize(("n_var", "chi", "std"), [(1.0, 0.056, 0.51), (16.0, 0.40, 2.42),
                                                    (100.0, 0.99, 6.65), (150.0, 1.20, 8.24)])
def test_sigmoid_mean_field_matches_the_review(n_var: float, chi: float, std: float) -> None:
    field = G.mean_field("sigmoid", n_var)
    assert field.chi == pytest.approx(chi, abs=0.005)
    assert field.pre_std == pytest.approx(std, abs=0.01)
    assert field.chi <= n_var / 16  # the slope bound


def test_sigmoid_fixed_point_is_a_fixed_point_and_unique() -> None:
    for n_var in (1.0, 150.0):
        q = G.fixed_points("sigmoid", [n_var])[0]
        image = n_var * G.gaussian_expectations(lambda z: torch.sigmoid(z) ** 2, [q])[0]
        assert image == pytest.approx(q, rel=1e-9)
        for q0 in (1e-3, 1e3):  # from below or above, the iteration reaches the same point
            assert G.fixed_points("sigmoid", [n_var], q0=q0)[0] == pytest.approx(q, rel=1e-9)


def test_sigmoid_mean_field_agrees_with_monte_carlo() -> None:
    field = G.mean_field("sigmoid", 16.0)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2_000_000, generator=g, dtype=torch.float64) * field.pre_std
    s = torch.sigmoid(z)
    assert 16.0 * (s * (1 - s)).pow(2).mean().item() == pytest.approx(field.chi, rel=0.01)
    assert 16.0 * s.pow(2).mean().item() == pytest.approx(field.q_star, rel=0.01)


def test_relu_and_tanh_gains_are_exact() -> None:
    for n_var in (0.5, 1.0, 2.0, 3.0, 10.0):
        assert G.mean_field("relu", n_var).chi == pytest.approx(n_var / 2, rel=1e-12)
    assert G.mean_field("relu", 1.0).q_star == 0.0  # the signal dies out below 2 ...
    assert G.mean_field("relu", 3.0).q_star == math.inf  # ... and grows above
    assert G.mean_field("relu", 2.0, q0=0.7).q_star == pytest.approx(0.7)  # every q is fixed
    tanh = G.mean_field("tanh", [0.5, 1.0, 2.0])
    assert [f.q_star for f in tanh[:2]] == [0.0, 0.0]
    assert tanh[0].chi == pytest.approx(0.5, abs=1e-9) and tanh[1].chi == pytest.approx(1.0, abs=1e-9)
    assert tanh[2].q_star > 0 and tanh[2].chi > 1


def test_fixed_point_curve_matches_the_root_search() -> None:
    q = np.logspace(-1.5, 2.5, 40)
    n_var, chi = G.fixed_point_curve("sigmoid", q)
    assert np.all(np.diff(n_var) > 0) and np.all(np.diff(chi) > 0)  # one fixed point per scale
    fields = G.mean_field("sigmoid", n_var[::8].tolist())
    assert [f.q_star for f in fields] == pytest.approx(q[::8].tolist(), rel=1e-8)
    assert [f.chi for f in fields] == pytest.approx(chi[::8].tolist(), rel=1e-8)
    t_var, _ = G.fixed_point_curve("tanh", np.logspace(-3, 1, 20))
    assert np.all(np.diff(t_var) > 0) and t_var[0] > 1  # tanh's q* > 0 only above n Var[W] = 1
    with pytest.raises(ValueError):
        G.fixed_point_curve("sigmoid", [0.0])


def test_unit_gain_scale() -> None:
    n_var = G.unit_gain_n_var("sigmoid")
    assert 90 < n_var < 115
    assert G.backward_gain("sigmoid", n_var) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        G.unit_gain_n_var("relu")  # chi = 1 at every q* when n Var[W] = 2: no crossing in q*


def test_slope_second_moment_bounds() -> None:
    assert G.slope_second_moment("sigmoid", 1e-8) == pytest.approx(1 / 16, rel=1e-6)
    assert G.slope_second_moment("sigmoid", 1.0) < 1 / 16
    assert G.slope_second_moment("relu", 3.7) == pytest.approx(0.5, abs=1e-12)
    assert G.slope_second_moment("tanh", 1e-8) == pytest.approx(1.0, rel=1e-6)


def test_deep_signal_measures_the_mean_field_gain() -> None:
    x = torch.randn(128, 24, generator=torch.Generator().manual_seed(0))
    for activation, n_var in (("sigmoid", 16.0), ("relu", 2.0)):
        sig = G.deep_signal(activation, n_var, x, depth=6, width=256, seed=1)
        assert sig.depth == 6 and len(sig.backward_gain) == 5
        assert sig.mean_gain() == pytest.approx(G.mean_field(activation, n_var).chi, rel=0.1)
    assert sig.input_dependent[0] > 0.95  # independent random inputs: almost all input-dependent
    assert math.isnan(sig.saturated[0])   # saturation is defined for sigmoid and tanh only
    unit = G.deep_signal("sigmoid", G.unit_gain_n_var("sigmoid"), x, depth=6, width=256, seed=1)
    assert min(unit.saturated[1:]) > 0.5 and abs(np.mean(unit.mean_output) - 0.5) < 0.1
    assert unit.input_dependent[-1] < 0.2 < 0.9 < unit.input_dependent[0]


# --- training at depth (section 4) and the cost of an accuracy (section 6)

def test_depth_config_and_plateau_length() -> None:
    cfg = G.depth_config("sigmoid", 3, "adam", batchnorm=True)
    assert cfg.model.depth == 3 and cfg.model.batchnorm and cfg.train.optimizer == "adam"
    assert cfg.data.val_fraction > 0 and cfg.train.momentum == 0.0
    assert G.depth_config("relu", 2).train.momentum == 0.9
    assert G.lr_grid("sgd") == sorted(G.lr_grid("sgd"))
    rec = Record(steps=[10, 20, 30], val_acc=[0.1, 0.25, 0.5])
    assert G.plateau_length(rec) == 20 and G.steps_to_accuracy(rec, 0.4) == 30
    assert G.steps_to_accuracy(rec, 0.6) is None
    assert G.model_n_var(cfg.model.__class__(width=64, depth=3, activation="relu",
                                             init="kaiming_normal")) == pytest.approx(2.0, rel=0.1)
