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
