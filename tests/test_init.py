"""init: each scheme's empirical Var[W] on a big layer matches ``weight_variance``; Xavier never
takes a hidden gain; every activation's Kaiming gain matches an independent integral (chapter 5)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate
from torch import nn

from relucourse import activations, init
from relucourse.models import MLP

FAN_IN, FAN_OUT = 400, 1000  # 400k weights: the sample variance is within ~0.5% of the target


def layer(fan_in: int = FAN_IN, fan_out: int = FAN_OUT, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(fan_in, fan_out)


@pytest.mark.parametrize("scheme", [s for s in init.INIT_SCHEMES if s != "constant"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_empirical_variance_matches_formula(scheme: str, activation: str) -> None:
    lin = layer()
    init.init_layer_(lin, scheme, activation=activation, std=0.05)
    want = init.weight_variance(scheme, FAN_IN, FAN_OUT, activation=activation, std=0.05)
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


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity", "gelu"])
def test_formulas_in_closed_form(activation: str) -> None:
    g2 = init.activation_gain(activation) ** 2
    wv = init.weight_variance
    # Xavier and LeCun have gain 1 whatever follows them: the activation never enters.
    assert wv("xavier_uniform", 30, 70, activation) == pytest.approx(2 / 100)
    assert wv("xavier_normal", 30, 70, activation) == pytest.approx(2 / 100)
    assert wv("lecun_normal", 30, 70, activation) == pytest.approx(1 / 30)
    assert wv("kaiming_normal", 30, 70, activation) == pytest.approx(g2 / 30)
    assert wv("kaiming_uniform", 30, 70, activation, mode="fan_out") == pytest.approx(g2 / 70)
    assert wv("normal", 30, 70, std=0.2) == pytest.approx(0.04)
    assert wv("constant", 30, 70) == 0.0
    assert wv("kaiming_normal", 100, 7, "relu") == pytest.approx(0.02)  # He et al.: 2 / fan_in


def test_xavier_with_relu_is_half_of_kaiming_on_square_layers() -> None:
    """The bug this design removes: Xavier "with the ReLU gain" equalled Kaiming on square layers."""
    n = 256
    assert init.weight_variance("xavier_normal", n, n, "relu") == pytest.approx(1 / n)
    assert init.weight_variance("kaiming_normal", n, n, "relu") == pytest.approx(2 / n)
    torch.manual_seed(0)
    xav = MLP(n, 10, width=n, depth=2, activation="relu", init="xavier_normal")
    torch.manual_seed(0)
    kai = MLP(n, 10, width=n, depth=2, activation="relu", init="kaiming_normal")
    ratio = kai.blocks[1].linear.weight.var() / xav.blocks[1].linear.weight.var()
    assert ratio.item() == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("scheme", ["xavier_normal", "xavier_uniform", "lecun_normal",
                                    "kaiming_normal"])
def test_explicit_gain(scheme: str) -> None:
    base = init.weight_variance(scheme, FAN_IN, FAN_OUT, gain=1.0)
    assert init.weight_variance(scheme, FAN_IN, FAN_OUT, gain=5 / 3) == pytest.approx(25 / 9 * base)
    lin = layer()
    init.init_layer_(lin, scheme, gain=3.0)
    assert lin.weight.var().item() == pytest.approx(9 * base, rel=0.03)
    torch.manual_seed(0)  # through a config's init_kwargs too
    model = MLP(FAN_IN, 10, width=FAN_IN, depth=2, activation="tanh", init=scheme,
                init_kwargs={"gain": 5 / 3})
    want = init.weight_variance(scheme, FAN_IN, FAN_IN, gain=5 / 3)
    assert model.blocks[1].linear.weight.var().item() == pytest.approx(want, rel=0.03)


@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan"), True, "2"])
def test_bad_gain_is_refused(gain: object) -> None:
    with pytest.raises(ValueError, match="gain"):
        init.weight_variance("xavier_normal", 3, 3, gain=gain)  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", ["pytorch_default", "normal", "constant"])
def test_schemes_without_a_gain_refuse_one(scheme: str) -> None:
    with pytest.raises(ValueError, match="takes no gain"):
        init.init_layer_(layer(3, 3), scheme, gain=2.0)


@pytest.mark.parametrize("scheme", ["kaiming_normal", "kaiming_uniform"])
def test_kaiming_fan_out_mode(scheme: str) -> None:
    lin = layer()
    init.init_layer_(lin, scheme, activation="relu", mode="fan_out")
    assert lin.weight.var().item() == pytest.approx(2 / FAN_OUT, rel=0.03)
    assert init.weight_variance(scheme, FAN_IN, FAN_OUT, mode="fan_out") == pytest.approx(2 / FAN_OUT)


def test_kaiming_uniform_bound() -> None:
    lin = layer()
    init.init_layer_(lin, "kaiming_uniform", activation="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / FAN_IN)
    assert lin.weight.abs().max().item() <= bound * (1 + 1e-9)
    assert lin.weight.abs().max().item() > 0.99 * bound


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0])
def test_leaky_gain(slope: float) -> None:
    assert init.torch_gain("leaky_relu", slope) ** 2 == pytest.approx(2 / (1 + slope**2))
    assert init.activation_gain("leaky_relu", negative_slope=slope) ** 2 == pytest.approx(
        2 / (1 + slope**2), rel=1e-9)
    lin = layer()
    init.init_layer_(lin, "kaiming_normal", activation="leaky_relu",
                     activation_kwargs={"negative_slope": slope})
    want = 2 / ((1 + slope**2) * FAN_IN)
    assert init.weight_variance("kaiming_normal", FAN_IN, FAN_OUT, "leaky_relu",
                                {"negative_slope": slope}) == pytest.approx(want, rel=1e-9)
    assert lin.weight.var().item() == pytest.approx(want, rel=0.03)


@pytest.mark.parametrize("slope", [0.25, 0.5])
def test_prelu_gets_the_gain_of_its_initial_slope(slope: float) -> None:
    """PReLU's slope starts at its ``init`` option (0.25 by default), not leaky ReLU's 0.01."""
    options = {} if slope == 0.25 else {"init": slope}
    want = init.torch_gain("leaky_relu", slope)
    assert init.activation_gain("prelu", **options) == pytest.approx(want, rel=1e-9)
    assert abs(init.activation_gain("prelu", **options) - init.torch_gain("leaky_relu", 0.01)) > 0.01
    torch.manual_seed(0)
    model = MLP(FAN_IN, 10, width=FAN_IN, depth=2, activation="prelu", activation_kwargs=options,
                init="kaiming_normal")
    assert model.blocks[1].linear.weight.var().item() == pytest.approx(want**2 / FAN_IN, rel=0.03)


def _reference_second_moment(name: str) -> float:
    """E_{z~N(0,1)}[phi(z)^2] by scipy's adaptive quadrature (an integrator independent of the
    package's midpoint rule), phi evaluated one float64 point at a time, split at the kink 0."""
    phi = activations.activation_fn(name)

    def integrand(z: float) -> float:
        value = phi(torch.tensor([z], dtype=torch.float64)).item()
        return value**2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    left, _ = integrate.quad(integrand, -40.0, 0.0, epsabs=1e-13, epsrel=1e-11, limit=200)
    right, _ = integrate.quad(integrand, 0.0, 40.0, epsabs=1e-13, epsrel=1e-11, limit=200)
    return left + right


@pytest.mark.parametrize("name", activations.activation_names())
def test_every_activations_gain_matches_a_numerical_integral(name: str) -> None:
    """g^2 E[phi(z)^2] = 1 for z ~ N(0, 1), for every registered activation (added ones too)."""
    g = init.activation_gain(name)
    assert g**2 * _reference_second_moment(name) == pytest.approx(1.0, rel=1e-7)


@pytest.mark.parametrize("name", activations.activation_names())
def test_gain_keeps_unit_variance_in_a_wide_layer(name: str) -> None:
    """Measured: pre-activations of variance 1, through phi and a Kaiming layer, have variance 1."""
    torch.manual_seed(0)
    lin = nn.Linear(2000, 2000).double()
    init.init_layer_(lin, "kaiming_normal", activation=name)
    z = torch.randn(512, 2000, dtype=torch.float64)
    with torch.no_grad():
        y = lin(activations.activation_fn(name)(z))
    assert (y.pow(2).mean()).item() == pytest.approx(1.0, rel=0.05)


def test_homogeneous_gains_are_pytorchs() -> None:
    for name, torch_name in (("relu", "relu"), ("identity", "linear"), ("leaky_relu", "leaky_relu")):
        assert init.activation_gain(name) == pytest.approx(init.torch_gain(torch_name), rel=1e-9)


def test_smooth_relus_no_longer_get_relus_gain() -> None:
    for name in ("softplus", "elu", "gelu", "silu"):
        assert abs(init.activation_gain(name) / math.sqrt(2) - 1) > 0.05, name
    # beta moves softplus' gain towards ReLU's sqrt 2 as the bend sharpens
    sharp = [init.activation_gain("softplus", beta=b) for b in (1.0, 4.0, 50.0)]
    assert sharp[0] < sharp[1] < sharp[2] < math.sqrt(2)
    assert sharp[2] == pytest.approx(math.sqrt(2), rel=0.01)


def test_gain_is_computed_without_touching_the_rng() -> None:
    init._GAINS.clear()
    torch.manual_seed(7)
    init.activation_gain("gelu")
    after = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(3), after)


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


def test_conv_fan_in_counts_the_kernel() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 256, kernel_size=3)
    init.init_layer_(conv, "kaiming_normal", activation="relu")
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
