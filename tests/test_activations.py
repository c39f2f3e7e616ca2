"""activations: every registered activation keeps shapes, never works in place, and its autograd
derivative matches the textbook formula (chapter 1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relucourse import activations as act
from relucourse import plots

NAMES = act.activation_names()
# Points away from the kinks at 0 (ReLU family), in float64 for tight finite differences.
X = torch.cat([torch.linspace(-6, -0.05, 60), torch.linspace(0.05, 6, 60)]).double()
# Forward is ReLU but backward is leaky on purpose: a finite difference of the forward cannot match.
NOT_A_TRUE_DERIVATIVE = {"relu_leaky_backward"}


def test_registry_has_the_course_activations() -> None:
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "gelu", "silu"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_shape_kept_and_never_in_place(name: str) -> None:
    module = act.get_activation(name)
    assert not getattr(module, "inplace", False)
    x = torch.randn(5, 7, 3)
    before = x.clone()
    y = module(x)
    assert y.shape == x.shape
    assert torch.equal(x, before), "the input was modified"
    if name != "identity":  # nn.Identity returns its input object by design
        assert y is not x and y.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("name", NAMES)
def test_fresh_module_per_call(name: str) -> None:
    a, b = act.get_activation(name), act.get_activation(name)
    assert a is not b
    assert isinstance(a, nn.Module)


@pytest.mark.parametrize("name", NAMES)
def test_gain_name_is_known_to_torch(name: str) -> None:
    nn.init.calculate_gain(act.get_spec(name).gain_nonlinearity, 0.01)


@pytest.mark.parametrize("name", NAMES)
def test_every_activation_has_a_fixed_colour(name: str) -> None:
    assert name in plots.ACTIVATION_COLORS


@pytest.mark.parametrize("name", [n for n in NAMES if n not in NOT_A_TRUE_DERIVATIVE])
def test_derivative_matches_finite_difference(name: str) -> None:
    f = act.activation_fn(name)  # follows X's float64 (PReLU's slope too)
    h = 1e-6
    numeric = (f(X + h) - f(X - h)) / (2 * h)
    got = act.derivative(name, X)
    assert got.shape == X.shape and got.dtype == X.dtype
    torch.testing.assert_close(got, numeric.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_activation_fn_follows_a_float64_input(name: str) -> None:
    """Like ``derivative``: PReLU's float32 slope used to make float64 inputs fail."""
    f = act.activation_fn(name)
    y = f(X)
    assert y.dtype == torch.float64 and y.device == X.device and y.shape == X.shape
    torch.testing.assert_close(y, act.get_activation(name).double()(X), rtol=0, atol=0)
    # the float64 call rounds nothing through float32, and float32 still works afterwards
    y32 = f(X.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32, act.get_activation(name)(X.float()), rtol=0, atol=0)
    assert torch.equal(f(X), y)


def test_activation_fn_passes_options_and_leaves_integer_inputs_alone() -> None:
    assert act.activation_fn("prelu", init=0.5)(torch.tensor([-2.0], dtype=torch.float64)).item() == -1.0
    assert act.activation_fn("relu")(torch.tensor([-2, 3])).tolist() == [0, 3]


def _sig(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-x))


# rtol 1e-7: LeakyReLU applies its slope at float32 precision even on float64 inputs.
KNOWN = {
    "sigmoid": ({}, lambda x: _sig(x) * (1 - _sig(x))),
    "tanh": ({}, lambda x: 1 - torch.tanh(x) ** 2),
    "relu": ({}, lambda x: (x > 0).double()),
    "softplus": ({"beta": 2.0}, lambda x: _sig(2.0 * x)),
    "leaky_relu": ({"negative_slope": 0.1}, lambda x: torch.where(x > 0, 1.0, 0.1).double()),
    "elu": ({"alpha": 1.5}, lambda x: torch.where(x > 0, 1.0, 1.5 * torch.exp(x)).double()),
    "silu": ({}, lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "identity": ({}, lambda x: torch.ones_like(x)),
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_derivative_matches_known_formula(name: str) -> None:
    kwargs, formula = KNOWN[name]
    torch.testing.assert_close(act.derivative(name, X, **kwargs), formula(X), rtol=1e-7, atol=1e-12)


def test_sigmoid_max_derivative_is_a_quarter_at_zero() -> None:
    assert act.max_derivative("sigmoid") == pytest.approx(0.25, abs=1e-12)
    grid = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    assert grid[act.derivative("sigmoid", grid).argmax()].item() == pytest.approx(0.0, abs=1e-12)
    assert act.max_derivative("tanh") == pytest.approx(1.0, abs=1e-12)
    # scale 4 restores a unit slope at the origin
    assert act.max_derivative("sigmoid", scale=4.0) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_max_derivative_runs_for_every_activation(name: str) -> None:
    assert act.max_derivative(name, points=1001) > 0


def test_relu_leaky_backward_forward_is_exact_relu_and_backward_leaky() -> None:
    x = torch.randn(1000, dtype=torch.float64)
    module = act.get_activation("relu_leaky_backward", negative_slope=0.05)
    assert torch.equal(module(x), torch.relu(x))
    assert (module(x) == 0).sum() == (x <= 0).sum()
    grad = act.derivative("relu_leaky_backward", x, negative_slope=0.05)
    assert torch.equal(grad[x > 0], torch.ones_like(x[x > 0]))
    assert torch.equal(grad[x < 0], torch.full_like(x[x < 0], 0.05))
    # the upstream gradient is multiplied, not replaced
    xr = x.clone().requires_grad_(True)
    (module(xr) * 3.0).sum().backward()
    torch.testing.assert_close(xr.grad, 3.0 * grad)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="'swishy'") as err:
        act.get_activation("swishy")
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(("name", "kwargs"), [("relu", {"beta": 2}), ("sigmoid", {"slope": 1}),
                                               ("softplus", {"alpha": 1})])
def test_bad_kwargs_name_the_activation(name: str, kwargs: dict) -> None:
    with pytest.raises(TypeError, match=f"activation '{name}'"):
        act.get_activation(name, **kwargs)


def test_kwargs_reach_the_module() -> None:
    assert act.get_activation("leaky_relu", negative_slope=0.3).negative_slope == 0.3
    assert act.get_activation("softplus", beta=5.0).beta == 5.0
    assert act.get_activation("sigmoid", scale=4.0).scale == 4.0
    assert "scale=4.0" in repr(act.get_activation("sigmoid", scale=4.0))
