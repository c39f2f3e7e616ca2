"""Tests for the lab checkers (relucourse.labs.checks): they accept right answers, and they try the
learner's code on what later cells give it (float64 inputs, autograd, real counts), so that a
mistake fails at its own exercise with a hint (``CheckFailed``) rather than later with a bare assert."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import relucourse as rc
from relucourse.labs import checks as base
from relucourse.labs.checks import CheckFailed
from relucourse.labs.checks import dead_relu as dead_checks
from relucourse.labs.checks import kaiming as kaiming_checks
from relucourse.labs.checks import saturation as checks
from relucourse.labs.checks import softplus as softplus_checks
from relucourse.theory import saturation as G


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-x))


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))


def _kaiming(layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in") -> None:
    fan = layer.in_features if mode == "fan_in" else layer.out_features
    with torch.no_grad():
        layer.weight.normal_(0.0, math.sqrt(2.0 / ((1 + negative_slope**2) * fan)))
        layer.bias.zero_()


def test_passing_checks_print_plain_text_markers(capsys) -> None:
    checks.check_sigmoid(_sigmoid)
    softplus_checks.check_stable_softplus(_softplus)
    kaiming_checks.check_kaiming_init(_kaiming)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 3 and all(line.startswith("[ok] ") for line in lines)
    assert out.isascii(), "no emoji: they render as empty boxes without an emoji font"


def test_call_reports_the_learners_exception() -> None:
    with pytest.raises(CheckFailed, match="your thing raised KeyError") as info:
        base.call("your thing", lambda: {}["x"])
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(CheckFailed, match="not a skipped exercise"):
        base.call("your thing", lambda: (_ for _ in ()).throw(NotImplementedError))
    with pytest.raises(CheckFailed, match="inner hint"):  # a checker's own failure passes through
        base.call("your thing", lambda: (_ for _ in ()).throw(CheckFailed("inner hint")))


# --- lab 2: the sigmoid ----------------------------------------------------------------------------


def test_check_sigmoid_accepts_correct_versions() -> None:
    checks.check_sigmoid(_sigmoid)
    checks.check_sigmoid(torch.sigmoid)

    def out_of_place_steps(x):  # in-place on its own new tensor, which autograd does not need
        out = 1 + torch.exp(-x)
        return out.reciprocal_()

    checks.check_sigmoid(out_of_place_steps)


def _float32_only(x):
    return 1 / (1 + torch.exp(-x.float()))


def _float32_inside(x):
    return (1 / (1 + torch.exp(-x.float()))).to(x.dtype)


def _in_place_on_input(x):
    return x.neg_().exp_().add_(1).reciprocal_()


def _in_place_autograd_needs(x):
    t = torch.exp(-x)
    t.add_(1)  # exp's backward needs its output, changed here
    return 1 / t


def _cuts_the_graph(x):
    return torch.tensor((1 / (1 + torch.exp(-x))).tolist(), dtype=x.dtype)


def _not_implemented_on_one_path(x):
    if x.dtype == torch.float64:
        raise NotImplementedError
    return 1 / (1 + torch.exp(-x))


@pytest.mark.parametrize(("fn", "message"), [
    (lambda x: 1 / (1 + torch.exp(x)), "sign inside exp"),
    (lambda x: torch.exp(x) / (1 + torch.exp(x)), "inf / inf"),
    (lambda x: (1 / (1 + torch.exp(-x))).sum(), "shape"),
    (lambda x: x.numpy(), "torch.Tensor"),
    (_float32_only, "returns torch.float32: keep the input's dtype"),   # fails at Task 1 ...
    (_float32_inside, "float32 precision"),                             # ... not in Task 2's assert
    (_in_place_on_input, "changed its input in place"),
    (_in_place_autograd_needs, "autograd cannot differentiate your sigmoid: it changes a tensor in place"),
    (_cuts_the_graph, "not connected to x"),
    (_not_implemented_on_one_path, "raised NotImplementedError.*not a skipped exercise"),
    (lambda x: 1 / 0, "raised ZeroDivisionError"),
])
def test_check_sigmoid_rejects_with_hint(fn, message: str) -> None:
    with pytest.raises(CheckFailed, match=message):
        checks.check_sigmoid(fn)


def test_a_float32_sigmoid_would_have_failed_task_2s_own_assert() -> None:
    """Why check_sigmoid rejects it: the lab's Task 2 cell compares autograd through my_sigmoid with
    the formula to 1e-12 in float64, which a float32 computation misses."""
    x = torch.linspace(-8, 8, 17, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(_float32_inside(x).sum(), x)
    s = torch.sigmoid(x.detach())
    assert (slope - s * (1 - s)).abs().max().item() > 1e-12


def test_check_sigmoid_derivative() -> None:
    checks.check_sigmoid_derivative(lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    with pytest.raises(CheckFailed, match="s' = s"):
        checks.check_sigmoid_derivative(lambda x: torch.sigmoid(x) * (1 + torch.sigmoid(x)))
    with pytest.raises(CheckFailed, match="keep the input's dtype"):
        checks.check_sigmoid_derivative(lambda x: (torch.sigmoid(x) * (1 - torch.sigmoid(x))).float())


def test_check_factor_prediction_hints() -> None:
    checks.check_factor_prediction(math.sqrt(1 / 48))
    checks.check_factor_prediction(torch.tensor(math.sqrt(1 / 48)))  # a 0-d tensor is a number
    with pytest.raises(CheckFailed, match="slope alone"):
        checks.check_factor_prediction(0.25)
    with pytest.raises(CheckFailed, match="square root"):
        checks.check_factor_prediction(1 / 48)
    with pytest.raises(CheckFailed, match="positive"):
        checks.check_factor_prediction(float("nan"))


def test_check_measured_profile() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(512, 40, generator=g), torch.randint(0, 10, (512,), generator=g)
    norms = G.init_gradient_profile("sigmoid", 6, x, y, seeds=(0, 1, 2))
    factor = checks.check_measured_profile(norms, 6)
    assert factor == pytest.approx(G.per_layer_factor(norms))
    with pytest.raises(CheckFailed, match="ordered"):
        checks.check_measured_profile(norms[::-1], 6)
    with pytest.raises(CheckFailed, match="one gradient norm per hidden layer"):
        checks.check_measured_profile(norms[:3], 6)
    with pytest.raises(CheckFailed, match="well above"):
        checks.check_measured_profile([1e-2, 0.1, 0.3, 0.6, 0.9, 1.0], 6)


def test_check_ratio_prediction_hints() -> None:
    checks.check_ratio_prediction(math.sqrt(1 / 48) ** 7, 8)
    with pytest.raises(CheckFailed, match="there are 7"):
        checks.check_ratio_prediction(math.sqrt(1 / 48) ** 8, 8)
    with pytest.raises(CheckFailed, match="layer L / layer 1"):
        checks.check_ratio_prediction(math.sqrt(48) ** 7, 8)
    with pytest.raises(CheckFailed, match="positive"):
        checks.check_ratio_prediction(-1.0, 8)


def test_check_gradient_norms_hints() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 12, generator=g), torch.randint(0, 10, (64,), generator=g)
    model = G.make_mlp("sigmoid", 4, 12, 10, width=16, seed=0)

    def norms(m, xb, yb, zero=True, reverse=False):
        if zero:
            m.zero_grad()
        torch.nn.functional.cross_entropy(m(xb), yb).backward()
        out = [b.linear.weight.grad.norm().item() for b in m.blocks]
        return out[::-1] if reverse else out

    checks.check_gradient_norms(norms, model, x, y)
    with pytest.raises(CheckFailed, match="zero_grad"):
        checks.check_gradient_norms(lambda *a: norms(*a, zero=False), model, x, y)
    with pytest.raises(CheckFailed, match="reverse order"):
        checks.check_gradient_norms(lambda *a: norms(*a, reverse=True), model, x, y)
    with pytest.raises(CheckFailed, match="one norm per hidden layer"):
        checks.check_gradient_norms(lambda *a: norms(*a)[:2], model, x, y)
    with pytest.raises(CheckFailed, match="list of numbers"):
        checks.check_gradient_norms(lambda *a: 3.0, model, x, y)


# --- lab 3: dead units -----------------------------------------------------------------------------


def _relu_mlp() -> tuple[nn.Module, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return G.make_mlp("relu", 4, 12, 10, width=16, bias_init=0.0, seed=0), torch.randn(256, 12, generator=g)


def _dead_masks(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return rc.probes.dead_units(model, x)


def test_check_dead_counter_accepts_ints_and_integer_tensors() -> None:
    model, x = _relu_mlp()
    dead_checks.check_dead_counter(lambda m, xx: {k: int(v.sum()) for k, v in _dead_masks(m, xx).items()},
                                   model, x)
    dead_checks.check_dead_counter(lambda m, xx: {k: v.sum() for k, v in _dead_masks(m, xx).items()},
                                   model, x)


@pytest.mark.parametrize(("count_dead", "message"), [
    # fractions are named as such, not truncated to 0 and reported as wrong counts
    (lambda m, xx: {k: v.float().mean().item() for k, v in _dead_masks(m, xx).items()},
     "look like fractions of each layer's units"),
    (lambda m, xx: {k: v.float().mean() for k, v in _dead_masks(m, xx).items()},
     "look like fractions of each layer's units"),
    (lambda m, xx: _dead_masks(m, xx), "tensor of shape"),  # the masks themselves
    (lambda m, xx: {k: 0 for k in _dead_masks(m, xx)}, "dead counts differ"),
    (lambda m, xx: {k.removesuffix(".act"): 0 for k in _dead_masks(m, xx)}, "'.act'"),
    (lambda m, xx: sum(int(v.sum()) for v in _dead_masks(m, xx).values()), "dict layer -> count"),
    (lambda m, xx: {k: "none" for k in _dead_masks(m, xx)}, "an int"),
])
def test_check_dead_counter_rejects_with_hint(count_dead, message: str) -> None:
    model, x = _relu_mlp()
    with pytest.raises(CheckFailed, match=message):
        dead_checks.check_dead_counter(count_dead, model, x)


def test_check_dead_counter_finds_leftover_hooks() -> None:
    model, x = _relu_mlp()

    def leaky(m, xx):
        fired = {}
        for name, module in m.named_modules():
            if name.endswith(".act"):
                module.register_forward_hook(
                    lambda mod, i, out, n=name: fired.__setitem__(n, (out > 0).any(0)))
        with torch.no_grad():
            m(xx)
        return {n: int((~f).sum()) for n, f in fired.items()}

    with pytest.raises(CheckFailed, match="finally"):
        dead_checks.check_dead_counter(leaky, model, x)


def test_check_fix_config_reports_a_failing_measurement() -> None:
    base_cfg = rc.RunConfig()

    def measure(cfg):
        raise ValueError("unknown activation 'relux'")

    with pytest.raises(CheckFailed, match="training FIXED raised ValueError: unknown activation"):
        dead_checks.check_fix_config(base_cfg.replace(**{"train.lr": 0.5}), base_cfg, [(0.7, 0.2)],
                                     measure)


# --- lab 4: softplus -------------------------------------------------------------------------------


def test_check_stable_softplus_accepts_correct_versions() -> None:
    softplus_checks.check_stable_softplus(_softplus)
    softplus_checks.check_stable_softplus(lambda x: torch.logaddexp(x, torch.zeros_like(x)))
    softplus_checks.check_stable_softplus(torch.nn.functional.softplus)


@pytest.mark.parametrize(("fn", "message"), [
    # forward values are right, but autograd gives nan through the discarded branch: Exercise 2
    # would fail on it, so Exercise 1 says why
    (lambda x: torch.where(x > 20, x, torch.log1p(torch.exp(x))), "branch you discard"),
    (lambda x: _softplus(x.float()), "returns torch.float32: keep the input's dtype"),
    (lambda x: x.clamp_min_(0) + torch.log1p(torch.exp(-x.abs())), "changed its input in place"),
    (lambda x: torch.tensor(_softplus(x).tolist(), dtype=x.dtype), "not connected to x"),
    (lambda x: torch.log(1 + torch.exp(x)), "not finite"),
    (lambda x: x.clamp_min(0) + torch.log(1 + torch.exp(-x.abs())), "log1p"),
])
def test_check_stable_softplus_rejects_with_hint(fn, message: str) -> None:
    with pytest.raises(CheckFailed, match=message):
        softplus_checks.check_stable_softplus(fn)


def test_check_softplus_derivative_covers_large_inputs() -> None:
    def slope(x, softplus=_softplus):
        x = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(softplus(x).sum(), x)[0]

    softplus_checks.check_softplus_derivative(slope)
    with pytest.raises(CheckFailed, match="sigmoid"):  # nan above x = 89, outside [-15, 15]
        softplus_checks.check_softplus_derivative(
            lambda x: slope(x, lambda t: torch.where(t > 20, t, torch.log1p(torch.exp(t)))))
    with pytest.raises(CheckFailed, match="tensor shaped like x"):
        softplus_checks.check_softplus_derivative(lambda x: slope(x).tolist())


def test_check_max_gap_measures_at_the_sharp_beta_too() -> None:
    def gap(beta, points=200_001):
        x = torch.linspace(-10, 10, points, dtype=torch.float64)
        return (torch.nn.Softplus(beta=beta)(x) - torch.relu(x)).abs().max()

    softplus_checks.check_max_gap(gap)  # a 0-d tensor is a number
    # An even number of points misses x = 0 by half a step (1e-4 here): close enough for beta <= 10,
    # but 0.25% off at the beta the lab measures next.
    with pytest.raises(CheckFailed, match=r"beta = 69.3\d*: you measured"):
        softplus_checks.check_max_gap(lambda beta: gap(beta, points=200_000))
    with pytest.raises(CheckFailed, match="return a number"):
        softplus_checks.check_max_gap(lambda beta: [gap(beta)])


def test_check_steps_to_target_reports_a_crash() -> None:
    with pytest.raises(CheckFailed, match="your steps_to_target raised AttributeError"):
        softplus_checks.check_steps_to_target(lambda result, target: result.losses[0])


# --- lab 5: Kaiming init ---------------------------------------------------------------------------


def _replaces_data(layer, negative_slope=0.0, mode="fan_in"):
    fan = layer.in_features if mode == "fan_in" else layer.out_features
    std = math.sqrt(2 / ((1 + negative_slope**2) * fan))
    layer.weight.data = torch.randn(layer.out_features, layer.in_features) * std  # float32 always
    layer.bias.data.zero_()


def _freezes(layer, negative_slope=0.0, mode="fan_in"):
    _kaiming(layer, negative_slope, mode)
    layer.weight.requires_grad_(False)


def _no_defaults(layer, negative_slope, mode):
    _kaiming(layer, negative_slope, mode)


def _new_parameter(layer, negative_slope=0.0, mode="fan_in"):
    _kaiming(layer, negative_slope, mode)
    layer.weight = nn.Parameter(layer.weight.detach().clone())


@pytest.mark.parametrize(("fn", "message"), [
    (_replaces_data, "float64 layer your init left the weight as torch.float32"),  # Exercise 3's layers
    (_freezes, "no longer requires grad"),
    (_no_defaults, "raised TypeError"),  # later cells call init_fn(layer)
    (_new_parameter, "in place"),
])
def test_check_kaiming_init_tries_what_later_cells_do(fn, message: str) -> None:
    with pytest.raises(CheckFailed, match=message):
        kaiming_checks.check_kaiming_init(fn)


def test_check_second_moments_and_init_hidden_layers_report_crashes() -> None:
    with pytest.raises(CheckFailed, match="your second_moments raised TypeError"):
        kaiming_checks.check_second_moments(lambda init_fn: [1.0])
    with pytest.raises(CheckFailed, match="your init_hidden_layers_ raised AttributeError"):
        kaiming_checks.check_init_hidden_layers(lambda model, init_fn: model.layers)
