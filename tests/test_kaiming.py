"""Tests for relucourse.theory.kaiming and relucourse.labs.checks.kaiming (chapter 05, Kaiming init)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relucourse import init as rc_init
from relucourse.labs.checks import kaiming as checks
from relucourse.records import Record
from relucourse.theory import kaiming as v


@pytest.mark.parametrize("variance", [0.01, 1.0, 7.5])
def test_relu_keeps_half_of_the_second_moment(variance: float) -> None:
    assert v.gaussian_second_moment("relu", variance) == pytest.approx(variance / 2, rel=1e-9)
    assert v.gaussian_slope_moment("relu", variance) == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0])
def test_leaky_factor_gain_and_quadrature_agree(slope: float) -> None:
    c = v.homogeneous_factor("leaky_relu", slope)
    assert c == pytest.approx((1 + slope**2) / 2)
    assert v.gaussian_second_moment("leaky_relu", 2.0, negative_slope=slope) == pytest.approx(
        2.0 * c, rel=1e-9)
    assert v.leaky_gain_squared(slope) == pytest.approx(
        nn.init.calculate_gain("leaky_relu", slope) ** 2, rel=1e-12)
    assert v.kaiming_variance(300, slope) == pytest.approx(
        rc_init.weight_variance("kaiming_normal", 300, 50, "leaky_relu",
                                {"negative_slope": slope}), rel=1e-9)


def test_homogeneous_factor_rejects_tanh() -> None:
    with pytest.raises(ValueError, match="not positively homogeneous"):
        v.homogeneous_factor("tanh")


def test_gaussian_moments_of_smooth_activations() -> None:
    # sigmoid'(0) = 1/4, so at a tiny variance E[sigmoid'^2] -> 1/16; tanh^2 <= z^2.
    assert v.gaussian_slope_moment("sigmoid", 1e-8) == pytest.approx(1 / 16, rel=1e-6)
    assert v.gaussian_second_moment("tanh", 1.0) < 1.0
    assert v.gaussian_second_moment("identity", 3.0) == pytest.approx(3.0, rel=1e-9)


@pytest.mark.parametrize(("scale2", "ratio"), [(2.0, 1.0), (1.0, 0.5), (2 / 3, 1 / 3)])
def test_predicted_relu_profile_is_geometric(scale2: float, ratio: float) -> None:
    p = v.predicted_profile(12, scale2)
    assert p.pre_var[0] == pytest.approx(scale2)
    assert p.ratio_per_layer() == pytest.approx(ratio, rel=1e-9)
    assert p.ratio_per_layer("pre_var") == pytest.approx(ratio, rel=1e-9)
    assert p.ratio_per_layer("grad_second_moment") == pytest.approx(ratio, rel=1e-9)


@pytest.mark.parametrize(("init", "kwargs", "ratio"), [
    ("kaiming_normal", {}, 1.0),
    ("kaiming_normal", {"scale": 2**-0.5}, 0.5),
    ("kaiming_uniform", {"scale": 1.1}, 1.21),
    ("pytorch_default", {}, 1 / 6),
])
def test_measured_relu_profile_matches_theory(init: str, kwargs: dict, ratio: float) -> None:
    p = v.forward_profile(30, 256, init=init, init_kwargs=kwargs, n_samples=512, seed=0)
    assert p.depth == 30
    for field in ("pre_var", "second_moment", "grad_second_moment"):
        assert p.ratio_per_layer(field) == pytest.approx(ratio, rel=0.05)


def test_forward_profile_is_seeded() -> None:
    a = v.forward_profile(5, 32, n_samples=64, seed=3)
    b = v.forward_profile(5, 32, n_samples=64, seed=3)
    c = v.forward_profile(5, 32, n_samples=64, seed=4)
    assert a == b and a != c


@pytest.mark.parametrize(("activation", "scale2"), [("tanh", 1.0), ("tanh", 25 / 9),
                                                   ("sigmoid", 1.0), ("leaky_relu", 2.0)])
def test_mean_field_predicts_measured_profiles(activation: str, scale2: float) -> None:
    depth, width = 20, 256
    theory = v.predicted_profile(depth, scale2, activation)
    measured = v.forward_profile(depth, width, activation, init="normal",
                                 init_kwargs={"std": math.sqrt(scale2 / width)}, n_samples=512)
    for field in ("pre_var", "second_moment", "grad_second_moment"):
        assert measured.ratio_per_layer(field) == pytest.approx(theory.ratio_per_layer(field),
                                                                rel=0.05)
    if activation != "leaky_relu":  # saturating units settle at a fixed point of the recursion
        assert measured.second_moment[-1] == pytest.approx(theory.second_moment[-1], rel=0.15)


@pytest.mark.parametrize(("mode", "expected"), [("fan_in", (1.0, 4.0)), ("fan_out", (0.25, 1.0))])
def test_fan_in_preserves_forward_and_fan_out_backward(mode: str, expected: tuple) -> None:
    forward, backward = v.single_layer_gains(128, 512, mode)
    assert forward == pytest.approx(expected[0], rel=0.05)
    assert backward == pytest.approx(expected[1], rel=0.05)


def test_xavier_choice_is_var_one_over_n_on_square_layers() -> None:
    fields = v.INIT_CHOICES["Xavier (gain 1)"]
    model = v.square_mlp(3, 400, init=fields["init"], init_kwargs=fields.get("init_kwargs"))
    for block in model.blocks:
        assert block.linear.weight.var().item() == pytest.approx(1 / 400, rel=0.02)


def test_init_comparison_can_carve_a_validation_split() -> None:
    cfgs = v.init_comparison(depth=4, steps=10, val_fraction=0.1)
    assert {c.data.val_fraction for c in cfgs.values()} == {0.1}


def test_gain_table_covers_every_activation_and_chi_is_one_for_homogeneous_ones() -> None:
    from relucourse.activations import activation_names

    rows = {r.activation: r for r in v.gain_table()}
    assert list(rows) == list(activation_names())
    for r in rows.values():
        assert r.gain == pytest.approx(rc_init.activation_gain(r.activation), rel=1e-12)
        if r.homogeneous:
            assert r.chi == pytest.approx(1.0, abs=2e-4)   # relu_leaky_backward: 1 + 1e-4
    assert {n for n, r in rows.items() if r.homogeneous} >= {"relu", "leaky_relu", "prelu",
                                                             "identity"}
    assert not any(rows[n].homogeneous for n in ("tanh", "sigmoid", "softplus", "gelu"))
    assert rows["tanh"].chi > 1.1 and rows["softplus"].chi < 0.5 and rows["sigmoid"].chi < 0.2
    assert rows["prelu"].torch_gain == pytest.approx(rc_init.torch_gain("leaky_relu", 0.01))


def test_backward_factor_at_a_given_scale() -> None:
    assert v.backward_factor("relu", 2.0) == pytest.approx(1.0, rel=1e-9)
    assert v.backward_factor("relu", 1.0) == pytest.approx(0.5, rel=1e-9)
    # tanh at n Var[w] = 1: E[tanh'(z)^2] < 1, so the gradient shrinks a little per layer
    assert 0.4 < v.backward_factor("tanh", 1.0) < 1.0
    assert v.backward_factor("tanh", 25 / 9) > 1.0


def test_init_comparison_configs() -> None:
    cfgs = v.init_comparison(depth=30, steps=100)
    assert list(cfgs) == list(v.INIT_CHOICES)
    default = cfgs["PyTorch default"]
    assert default.model.bias_init is None and default.model.depth == 30
    assert {c.train.optimizer for c in cfgs.values()} == {"sgd"}
    assert {c.train.momentum for c in cfgs.values()} == {0.0}
    assert len({c.fingerprint() for c in cfgs.values()}) == 3


def test_plateau_exit_step() -> None:
    r = Record(steps=[10, 20, 30], train_loss=[2.30, 2.27, 2.0])
    assert v.plateau_exit_step(r) == 30
    assert v.plateau_exit_step(r, margin=0.01) == 20
    assert v.plateau_exit_step(Record(steps=[10], train_loss=[2.3])) is None


# --- checkers ---------------------------------------------------------------------------------

def _good_init(layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in") -> None:
    fan = layer.in_features if mode == "fan_in" else layer.out_features
    with torch.no_grad():
        layer.weight.normal_(0.0, math.sqrt(2.0 / ((1 + negative_slope**2) * fan)))
        layer.bias.zero_()


def _swapped_fans(layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in") -> None:
    _good_init(layer, negative_slope, "fan_out" if mode == "fan_in" else "fan_in")


def _lecun(layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in") -> None:
    _good_init(layer, negative_slope, mode)
    with torch.no_grad():
        layer.weight.mul_(2**-0.5)


def _keeps_bias(layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in") -> None:
    fan = layer.in_features if mode == "fan_in" else layer.out_features
    nn.init.kaiming_normal_(layer.weight, a=negative_slope, mode=mode, nonlinearity="leaky_relu")
    del fan


def test_check_kaiming_init_accepts_correct_and_torch_versions(capsys) -> None:
    checks.check_kaiming_init(_good_init)

    def torch_version(layer, negative_slope=0.0, mode="fan_in"):
        nn.init.kaiming_normal_(layer.weight, a=negative_slope, mode=mode,
                                nonlinearity="leaky_relu")
        nn.init.zeros_(layer.bias)

    checks.check_kaiming_init(torch_version)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("fn", "message"), [(_swapped_fans, "swapped"), (_lecun, "factor 2"),
                                             (_keeps_bias, "bias")])
def test_check_kaiming_init_names_the_mistake(fn, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        checks.check_kaiming_init(fn)


def test_check_relu_factor_and_profiles() -> None:
    checks.check_relu_factor(0.5)
    with pytest.raises(AssertionError):
        checks.check_relu_factor(1.0)
    flat = [1.0] * 10
    halving = [0.5**i for i in range(10)]
    checks.check_profiles(flat, halving, 10)
    with pytest.raises(AssertionError, match="Kaiming"):
        checks.check_profiles(halving, halving, 10)


def test_check_stall() -> None:
    stuck = Record(steps=[50, 100], train_loss=[2.303, 2.302], label="default")
    learning = Record(steps=[50, 100], train_loss=[2.0, 1.5])
    checks.check_stall([stuck], [learning], plateau_steps=100)
    with pytest.raises(AssertionError, match="left the chance level"):
        checks.check_stall([learning], [learning], plateau_steps=100)
    with pytest.raises(AssertionError, match="Kaiming"):
        checks.check_stall([stuck], [stuck], plateau_steps=100)


def test_deep_relu_net_stalls_with_default_init_and_trains_with_kaiming() -> None:
    """The chapter's Fig. 3 claim in miniature (one seed, few steps, exact reruns)."""
    from relucourse.experiments import run

    cfgs = v.init_comparison(depth=30, steps=150, eval_every=50)
    default = run(cfgs["PyTorch default"], use_cache=False)
    kaiming = run(cfgs["Kaiming (fan_in)"], use_cache=False)
    assert all(abs(loss - v.CHANCE_LOSS_10) < 0.01 for loss in default.train_loss)
    assert kaiming.final_train_loss < v.CHANCE_LOSS_10 - 0.1
    assert run(cfgs["Kaiming (fan_in)"], use_cache=False).train_loss == kaiming.train_loss


@pytest.mark.parametrize(("scheme", "kwargs", "factor"), [
    ("kaiming_normal", {}, 1.0), ("xavier_normal", {}, 0.5), ("lecun_normal", {}, 0.5),
    ("xavier_normal", {"gain": 2**0.5}, 1.0),
    ("pytorch_default", {}, 1 / 6), ("kaiming_uniform", {"scale": 1.1}, 1.21)])
def test_layer_factor(scheme: str, kwargs: dict, factor: float) -> None:
    assert v.layer_factor(scheme, 256, 256, **kwargs) == pytest.approx(factor, rel=1e-12)
