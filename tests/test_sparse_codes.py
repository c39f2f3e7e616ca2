"""Tests for relucourse.theory.sparse_codes (chapter 03b, why sparsity might help)."""

from __future__ import annotations

import math

import pytest
import torch

from relucourse.config import ModelConfig
from relucourse.experiments import init_model
from relucourse.theory import sparse_codes as sc


def _model(activation: str, seed: int = 0):
    return init_model(ModelConfig(width=16, depth=2, activation=activation, init="kaiming_normal"),
                      6, 3, seed=seed)


def test_codes_are_pre_and_post_activations_per_layer() -> None:
    model, x = _model("relu"), torch.randn(20, 6)
    pre, post = sc.codes(model, x), sc.codes(model, x, "act")
    assert list(pre) == ["blocks.0.linear", "blocks.1.linear"]
    for z, h in zip(pre.values(), post.values(), strict=True):
        torch.testing.assert_close(torch.relu(z), h)
    assert model.training  # restored


def test_active_is_z_positive_and_refuses_other_activations() -> None:
    z = torch.tensor([[-1.0, 0.0, 2.0]])
    assert sc.active(z, "tanh").tolist() == [[False, False, True]]
    with pytest.raises(ValueError, match="relu, softplus and tanh"):
        sc.active(z, "gelu")


def test_linear_probe_separates_separable_data_and_not_noise() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (400,), generator=g)
    x = torch.randn(400, 5, generator=g) + 4 * y[:, None].float()
    assert sc.linear_probe(x[:300], y[:300], x[300:], y[300:]) > 0.95
    noise = torch.randn(400, 5, generator=g)
    assert sc.linear_probe(noise[:300], y[:300], noise[300:], y[300:]) < 0.7


def test_class_share_of_variance() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    assert sc.class_share_of_variance(torch.tensor([1, 1, 5, 5]), labels) == pytest.approx(1.0)
    assert sc.class_share_of_variance(torch.tensor([1, 5, 1, 5]), labels) == pytest.approx(0.0)
    assert sc.class_share_of_variance(torch.tensor([3, 3, 3, 3]), labels) == 0.0
    assert sc.class_means(torch.tensor([1, 1, 5, 5]), labels) == [1.0, 5.0]


def test_perturbation_stability_of_relu_codes() -> None:
    model, x = _model("relu"), torch.randn(200, 6)
    same = sc.perturbation_stability(model, x, "relu", noise=0.0)
    for s in same.values():
        assert s.jaccard == 1.0 and s.flipped == 0.0 and s.entries_changed == 0.0
    moved = sc.perturbation_stability(model, x, "relu", noise=0.1)
    for s in moved.values():
        assert 0.5 < s.jaccard < 1.0 and s.entries_changed < 0.8  # the zeros stay zero
    dense = sc.perturbation_stability(_model("tanh"), x, "tanh", noise=0.1)
    assert all(s.entries_changed > 0.99 for s in dense.values())


def test_unit_usage() -> None:
    mask = torch.tensor([[1, 0, 1], [1, 1, 0], [1, 0, 1], [1, 1, 0]], dtype=torch.bool)
    usage = sc.unit_usage(mask, torch.tensor([0, 1, 0, 1]))
    assert usage.active_fraction == pytest.approx(8 / 12)
    assert usage.units_per_input_min == 2
    assert usage.dead_or_always == pytest.approx(1 / 3)       # unit 0 fires on every input
    assert usage.distinct_patterns == pytest.approx(0.5)
    assert usage.selectivity == pytest.approx((0.5 + 1.0 + 1.0) / 3)


def test_pattern_capacity() -> None:
    assert sc.pattern_capacity_log2(64, 1) == pytest.approx(6.0)
    assert sc.pattern_capacity_log2(10, 5) == pytest.approx(math.log2(252))


def test_relu_puts_all_credit_on_active_units() -> None:
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    assert all(s > 1 - 1e-6 for s in sc.active_gradient_share(_model("relu"), x, y, "relu"))
    soft = sc.active_gradient_share(_model("softplus"), x, y, "softplus")
    assert all(0.5 < s < 1.0 for s in soft)
    tanh = sc.active_gradient_share(_model("tanh"), x, y, "tanh")
    assert all(0.2 < s < 0.8 for s in tanh)
