"""init: each scheme's empirical Var[W] on a big layer matches ``weight_variance`` (chapter 5)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relucourse import init

FAN_IN, FAN_OUT = 400, 1000  # 400k weights: the sample variance is within ~0.5% of the target


def layer(fan_in: int = FAN_IN, fan_out: int = FAN_OUT, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(fan_in, fan_out)


@pytest.mark.parametrize("scheme", [s for s in init.INIT_SCHEMES if s != "constant"])
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh", "linear"])
def test_empirical_variance_matches_formula(scheme: str, nonlinearity: str) -> None:
    lin = layer()
    init.init_layer_(lin, scheme, nonlinearity=nonlinearity, std=0.05)
    want = init.weight_variance(scheme, FAN_IN, FAN_OUT, nonlinearity=nonlinearity, std=0.05)
    assert lin.weight.var().item() == pytest.approx(want, rel=0.03)
    assert abs(lin.weight.mean().item()) < 0.05 * math.sqrt(want)


def test_pytorch_default_is_glorots_standard_init() -> None:
    assert FAN_IN * init.weight_variance("pytorch_default", FAN_IN, FAN_OUT) == pytest.approx(1 / 3)
    lin = layer()
    init.init_layer_(lin, "pytorch_default", bias=None)
    assert FAN_IN * lin.weight.var().item() == pytest.approx(1 / 3, rel=0.03)
    bound = 1 / math.sqrt(FAN_IN)
    assert lin.weight.abs().max().item() <= bound
    assert lin.bias.abs().max().item() <= bound and lin.bias.abs().max().item() > 0


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh", "sigmoid", "linear"])
def test_formulas_in_closed_form(nonlinearity: str) -> None:
    g2 = nn.init.calculate_gain(nonlinearity) ** 2
    wv = init.weight_variance
    assert wv("xavier_uniform", 30, 70, nonlinearity) == pytest.approx(2 * g2 / 100)
    assert wv("xavier_normal", 30, 70, nonlinearity) == pytest.approx(2 * g2 / 100)
    assert wv("kaiming_normal", 30, 70, nonlinearity) == pytest.approx(g2 / 30)
    assert wv("kaiming_uniform", 30, 70, nonlinearity, mode="fan_out") == pytest.approx(g2 / 70)
    assert wv("normal", 30, 70, std=0.2) == pytest.approx(0.04)
    assert wv("constant", 30, 70) == 0.0
    assert wv("kaiming_normal", 100, 7, "relu") == pytest.approx(0.02)  # He et al.: 2 / fan_in


@pytest.mark.parametrize("scheme", ["kaiming_normal", "kaiming_uniform"])
def test_kaiming_fan_out_mode(scheme: str) -> None:
    lin = layer()
    init.init_layer_(lin, scheme, nonlinearity="relu", mode="fan_out")
    assert lin.weight.var().item() == pytest.approx(2 / FAN_OUT, rel=0.03)
    assert init.weight_variance(scheme, FAN_IN, FAN_OUT, mode="fan_out") == pytest.approx(2 / FAN_OUT)


def test_kaiming_uniform_bound() -> None:
    lin = layer()
    init.init_layer_(lin, "kaiming_uniform", nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / FAN_IN)
    assert lin.weight.abs().max().item() <= bound
    assert lin.weight.abs().max().item() > 0.99 * bound


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0])
def test_leaky_gain(slope: float) -> None:
    assert init.gain("leaky_relu", slope) ** 2 == pytest.approx(2 / (1 + slope**2))
    lin = layer()
    init.init_layer_(lin, "kaiming_normal", nonlinearity="leaky_relu", negative_slope=slope)
    want = 2 / ((1 + slope**2) * FAN_IN)
    assert init.weight_variance("kaiming_normal", FAN_IN, FAN_OUT, "leaky_relu", slope) == pytest.approx(want)
    assert lin.weight.var().item() == pytest.approx(want, rel=0.03)


@pytest.mark.parametrize("scale", [0.5, 3.0])
@pytest.mark.parametrize("scheme", ["kaiming_normal", "xavier_uniform", "pytorch_default"])
def test_scale_multiplies_variance_by_scale_squared(scheme: str, scale: float) -> None:
    base, scaled = layer(seed=1), layer(seed=1)
    torch.manual_seed(5)
    init.init_layer_(base, scheme)
    torch.manual_seed(5)
    init.init_layer_(scaled, scheme, scale=scale)
    torch.testing.assert_close(scaled.weight, base.weight * scale)
    assert init.weight_variance(scheme, FAN_IN, FAN_OUT, scale=scale) == pytest.approx(
        scale**2 * init.weight_variance(scheme, FAN_IN, FAN_OUT))


def test_constant_and_bias_handling() -> None:
    lin = layer(20, 30)
    init.init_layer_(lin, "constant", value=0.25, bias=-1.5)
    assert torch.equal(lin.weight, torch.full_like(lin.weight, 0.25))
    assert torch.equal(lin.bias, torch.full_like(lin.bias, -1.5))
    init.init_layer_(lin, "kaiming_normal")  # bias=0.0 by default
    assert torch.equal(lin.bias, torch.zeros_like(lin.bias))
    kept = lin.bias.clone().fill_(0.7)
    lin.bias.data.copy_(kept)
    init.init_layer_(lin, "xavier_normal", bias=None)  # None keeps whatever bias is there
    assert torch.equal(lin.bias, kept)
    no_bias = nn.Linear(20, 30, bias=False)
    init.init_layer_(no_bias, "kaiming_normal", bias=0.3)  # nothing to set, no error
    assert no_bias.bias is None


def test_conv_fan_in_counts_the_kernel() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 256, kernel_size=3)
    init.init_layer_(conv, "kaiming_normal", nonlinearity="relu")
    assert conv.weight.var().item() == pytest.approx(2 / (32 * 9), rel=0.03)


def test_init_model_touches_every_layer() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Conv1d(2, 3, 3), nn.Linear(6, 2))
    init.init_model_(model, "constant", value=0.5, bias=0.0)
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv1d):
            assert torch.all(m.weight == 0.5) and torch.all(m.bias == 0)


def test_unknown_scheme_lists_valid_ones() -> None:
    for call in (lambda: init.init_layer_(layer(3, 3), "he"),
                 lambda: init.weight_variance("he", 3, 3)):
        with pytest.raises(ValueError, match="'he'") as err:
            call()
        for scheme in init.INIT_SCHEMES:
            assert scheme in str(err.value)


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        init.init_layer_(layer(3, 3), "kaiming_normal", mode="fan_avg")
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        init.weight_variance("kaiming_normal", 3, 3, mode="fan_avg")
