"""Tests for relucourse.theory.zero_centred (chapter 02b, zero-centred outputs) and the two
activations it introduced (centred_sigmoid, shifted_relu)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relucourse import activations as act
from relucourse.config import ModelConfig
from relucourse.experiments import init_model
from relucourse.theory import zero_centred as zc


def test_sigmoid_4x_is_one_half_plus_half_tanh_2x() -> None:
    assert zc.offset_identity_error() < 1e-15
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    centred = act.activation_fn("centred_sigmoid", scale=4.0)(x)
    torch.testing.assert_close(centred, 0.5 * torch.tanh(2 * x), rtol=0, atol=1e-15)
    torch.testing.assert_close(act.activation_fn("sigmoid", scale=4.0)(x) - centred,
                               torch.full_like(x, 0.5), rtol=0, atol=1e-15)


def test_shifted_relu_is_relu_minus_its_gaussian_mean() -> None:
    x = torch.randn(1000, dtype=torch.float64)
    torch.testing.assert_close(act.activation_fn("shifted_relu")(x),
                               torch.relu(x) - zc.RELU_MEAN_AT_UNIT_VARIANCE)
    assert zc.gaussian_mean("shifted_relu") == pytest.approx(0.0, abs=1e-6)
    assert zc.RELU_MEAN_AT_UNIT_VARIANCE == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-15)


@pytest.mark.parametrize(("name", "kwargs", "mean"), [
    ("relu", {}, 1 / math.sqrt(2 * math.pi)), ("tanh", {}, 0.0), ("sigmoid", {}, 0.5),
    ("centred_sigmoid", {"scale": 4.0}, 0.0)])
def test_gaussian_mean(name: str, kwargs: dict, mean: float) -> None:
    assert zc.gaussian_mean(name, **kwargs) == pytest.approx(mean, abs=1e-6)
    # variance scales relu's mean by the std
    if name == "relu":
        assert zc.gaussian_mean(name, variance=4.0) == pytest.approx(2 * mean, rel=1e-6)


def test_same_sign_rows_counts_rows_of_one_sign_and_skips_zero_rows() -> None:
    g = torch.tensor([[1.0, 2.0, 0.0], [-1.0, -3.0, -1.0], [1.0, -1.0, 2.0], [0.0, 0.0, 0.0]])
    assert zc.same_sign_rows(g) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="every row"):
        zc.same_sign_rows(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="non-empty"):
        zc.same_sign_rows(torch.zeros(3))


def test_per_example_gradients_of_positive_inputs_have_one_sign_per_row() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(16, 10), torch.randint(0, 3, (16,))
    for name, expected in (("sigmoid", 1.0), ("relu", 1.0)):
        model = init_model(ModelConfig(width=12, depth=3, activation=name, init="kaiming_normal"),
                           10, 3, seed=0)
        profile = zc.gradient_sign_profile(model, x, y, batch_size=1, batches=16)
        assert profile[1:] == [expected, expected]
        assert profile[0] < 0.5  # fed by the (signed) data
    model = init_model(ModelConfig(width=12, depth=3, activation="tanh", init="kaiming_normal"),
                       10, 3, seed=0)
    assert max(zc.gradient_sign_profile(model, x, y, 1, 16)[1:]) < 0.2
    with pytest.raises(ValueError, match="rows"):
        zc.gradient_sign_profile(model, x, y, batch_size=8, batches=3)


def test_mean_direction_share() -> None:
    g = torch.Generator().manual_seed(0)
    centred = torch.randn(4000, 8, generator=g)
    assert zc.mean_direction_share(centred) < 0.01
    assert zc.mean_direction_share(centred * 0.1 + 5.0) > 0.99
    with pytest.raises(ValueError):
        zc.mean_direction_share(torch.ones(1, 3))


def test_toy_descent_offset_is_ill_conditioned_and_slower() -> None:
    assert zc.toy_condition_number(0.5) > 5 * zc.toy_condition_number(0.0)
    lrs = [0.3, 1.0, 3.0, 10.0]
    slow, fast = zc.best_descent(0.5, lrs), zc.best_descent(0.0, lrs)
    assert slow.steps_to(1e-6) > 3 * fast.steps_to(1e-6)
    assert slow.same_sign_updates == 1.0 and fast.same_sign_updates < 0.7
    assert slow.path[0] == (-1.0, 1.0) and len(slow.path) == len(slow.losses)
    with pytest.raises(RuntimeError, match="no learning rate"):
        zc.best_descent(0.5, [1e-4], steps=10)


def test_biases_absorb_an_offset_exactly() -> None:
    x = torch.randn(32, 10, dtype=torch.float64)
    a = init_model(ModelConfig(width=16, depth=3, activation="sigmoid", activation_kwargs={"scale": 4.0},
                               init="lecun_normal"), 10, 3, seed=1).double()
    b = init_model(ModelConfig(width=16, depth=3, activation="centred_sigmoid",
                               activation_kwargs={"scale": 4.0}, init="lecun_normal"), 10, 3,
                   seed=1).double()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    zc.absorb_offset_into_biases_(b, 0.5)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=1e-12)


def test_batchnorm_weight_gradient_is_that_of_centred_inputs() -> None:
    gap, total = zc.batchnorm_centring_gap(batch=64, n_in=8, n_out=4, seed=3)
    assert gap < 1e-12 and total < 1e-12


def test_beyond_spread() -> None:
    assert zc.beyond_spread([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert not zc.beyond_spread([1.0, 1.5, 0.5], [1.2, 1.4, 1.0])


def test_new_activations_are_plain_modules_without_state() -> None:
    for name in ("centred_sigmoid", "shifted_relu"):
        module = act.get_activation(name)
        assert isinstance(module, nn.Module) and not list(module.parameters())
        assert act.get_spec(name).description
