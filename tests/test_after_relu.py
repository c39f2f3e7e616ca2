"""Tests for relucourse.theory.after_relu (chapter 06) and relucourse.labs.checks.after_relu
(its lab): closed forms against the registry and autograd, gains and fixed points, SELU's
self-normalisation, and checkers that accept the reference and reject wrong answers."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from relucourse import activations as act
from relucourse.init import activation_gain
from relucourse.labs.checks import CheckFailed
from relucourse.labs.checks import after_relu as checks
from relucourse.theory import after_relu as ar

X = torch.cat([torch.linspace(-8, -0.01, 200), torch.linspace(0.01, 8, 200)]).double()


@pytest.mark.parametrize("name", ar.FAMILY)
def test_closed_forms_match_the_registry_and_autograd(name: str) -> None:
    torch.testing.assert_close(ar.closed_form(name, X), act.activation_fn(name)(X).detach(),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(ar.closed_form_derivative(name, X), act.derivative(name, X),
                               rtol=0, atol=1e-12)


def test_closed_form_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="no closed form"):
        ar.closed_form("tanh", X)
    with pytest.raises(ValueError, match="no closed form"):
        ar.closed_form_derivative("tanh", X)


def test_selu_constants_are_torchs() -> None:
    assert ar.SELU_ALPHA == pytest.approx(1.6732632423543772, rel=1e-12)
    assert ar.SELU_LAMBDA == pytest.approx(1.0507009873554805, rel=1e-12)
    assert F.selu(torch.tensor(-100.0, dtype=torch.float64)).item() == pytest.approx(
        ar.selu_negative_saturation(), rel=1e-12)


def test_shapes() -> None:
    s = {n: ar.shape(n, points=24_001) for n in ar.FAMILY}
    assert {n for n, v in s.items() if not v.monotonic} == {"gelu", "silu", "mish"}
    assert {n for n, v in s.items() if v.smooth} == {"elu", "gelu", "silu", "mish"}
    assert s["silu"].minimum == pytest.approx(-0.2785, abs=1e-3)
    assert s["gelu"].minimum == pytest.approx(-0.1700, abs=1e-3)
    assert ar.slope_at_zero("mish") == pytest.approx(0.6, abs=1e-12)
    assert ar.minimum_value("selu") == pytest.approx(ar.selu_negative_saturation(), abs=1e-4)


def test_variance_map_slopes_classify_the_fixed_points() -> None:
    for name in ("relu", "leaky_relu", "prelu"):
        assert ar.variance_map_slope(name) == pytest.approx(1.0, abs=1e-6)
    assert ar.variance_map_slope("elu") < 0.95 and ar.variance_map_slope("selu") < 0.95
    assert all(ar.variance_map_slope(n) > 1.05 for n in ("gelu", "silu", "mish"))
    assert activation_gain("selu") == pytest.approx(1.0, abs=1e-6)


def test_signal_profile_follows_the_mean_field_at_small_depth() -> None:
    profile = ar.signal_profile("relu", depth=3, width=512, n=512, seed=0)
    assert all(0.8 < v < 1.25 for v in profile)
    assert ar.signal_profile("relu", depth=3, width=64, gain=1.0, n=256)[-1] < 0.3  # halving


def test_selu_self_normalises_and_what_breaks_it() -> None:
    lecun = ar.selu_statistics(depth=24, width=128, n=512)
    m, lo, hi, _ = lecun.tail(8)
    assert m < 0.1 and 0.8 < lo and hi < 1.2
    alpha = ar.selu_statistics(depth=24, width=128, n=512, dropout="alpha", p=0.1)
    assert alpha.tail(8)[0] < 0.1 and 0.8 < alpha.tail(8)[1]
    assert ar.selu_statistics(depth=24, width=128, n=512, weight_scale2=2.0).var[-1] > 10
    assert ar.selu_statistics(depth=24, width=128, n=512, dropout="standard").tail(8)[1] > 1.2
    with pytest.raises(ValueError, match="dropout"):
        ar.selu_statistics(dropout="gaussian")


def test_selu_moment_map_fixed_point() -> None:
    mean, var = ar.selu_moment_map(0.0, 1.0)
    assert abs(mean) < 1e-6 and var == pytest.approx(1.0, abs=1e-6)
    assert ar.selu_moment_map(0.0, 1.0, weight_scale2=2.0)[1] > 1.5


def test_depth_configs_use_each_ones_own_gain() -> None:
    from relucourse.experiments import init_model

    cfgs = ar.depth_configs(("gelu", "selu"), (3,), width=256, steps=10, eval_every=5)
    assert set(cfgs) == {"gelu, depth 3", "selu, depth 3"}
    for name in ("gelu", "selu"):
        cfg = cfgs[f"{name}, depth 3"]
        assert cfg.data.val_fraction > 0 and cfg.train.optimizer == "adam"
        model = init_model(cfg.model, 40, 10, seed=0)
        built = ar.measured_gains(model)[1:]
        assert sum(built) / len(built) == pytest.approx(activation_gain(name), rel=0.03)


def test_training_step_runs_and_learns() -> None:
    step = ar.training_step("gelu", width=16, depth=2, batch=32)
    net = next(c.cell_contents for c in step.__closure__
               if isinstance(c.cell_contents, torch.nn.Module))
    assert isinstance(net.blocks[0].act, torch.nn.GELU)
    gen = torch.Generator().manual_seed(0)  # the closure's own fixed batch, drawn the same way
    x, y = torch.randn(32, 16, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    before = torch.nn.functional.cross_entropy(net(x), y).item()
    for _ in range(20):
        step()
    assert torch.nn.functional.cross_entropy(net(x), y).item() < before  # it learns that batch


# --- lab checkers --------------------------------------------------------------------------------

def ref_forward(x: torch.Tensor) -> torch.Tensor:
    return ar.SELU_LAMBDA * torch.where(x > 0, x, ar.SELU_ALPHA * torch.expm1(x.clamp(max=0)))


def ref_backward(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return g * torch.where(x > 0, ar.SELU_LAMBDA,
                           ar.SELU_LAMBDA * ar.SELU_ALPHA * torch.exp(x.clamp(max=0)))


def test_forward_checker_accepts_the_reference_and_explains_mistakes(capsys: Any) -> None:
    checks.check_selu_forward(ref_forward)
    assert "[ok]" in capsys.readouterr().out
    wrong = {
        "lambda \\* x": lambda x: torch.where(x > 0, x, ar.SELU_LAMBDA * ar.SELU_ALPHA
                                            * torch.expm1(x.clamp(max=0))),
        "lambda too": lambda x: torch.where(x > 0, ar.SELU_LAMBDA * x,
                                            ar.SELU_ALPHA * torch.expm1(x.clamp(max=0))),
        "not finite": lambda x: ar.SELU_LAMBDA * (x.clamp(min=0) + ar.SELU_ALPHA
                                                  * torch.expm1(x) * (x <= 0)),  # inf * 0
        "keep the input's dtype": lambda x: ref_forward(x).float(),
    }
    for hint, fn in wrong.items():
        with pytest.raises(CheckFailed, match=hint):
            checks.check_selu_forward(fn)


def test_backward_checker_accepts_the_reference_and_explains_mistakes() -> None:
    checks.check_selu_backward(ref_backward)
    wrong = {
        "chain rule": lambda x, g: ref_backward(x, torch.ones_like(g)),
        "without the - 1": lambda x, g: g * torch.where(
            x > 0, ar.SELU_LAMBDA, ar.SELU_LAMBDA * ar.SELU_ALPHA * torch.expm1(x.clamp(max=0))),
        "lambda, not 1": lambda x, g: g * torch.where(
            x > 0, 1.0, ar.SELU_LAMBDA * ar.SELU_ALPHA * torch.exp(x.clamp(max=0))),
    }
    for hint, fn in wrong.items():
        with pytest.raises(CheckFailed, match=hint):
            checks.check_selu_backward(fn)


def _gradcheck(apply: Any) -> bool:
    x = torch.linspace(-3, 3, 40, dtype=torch.float64)
    x = (x + 0.05).requires_grad_(True)
    return torch.autograd.gradcheck(apply, (x,), raise_exception=False)


def test_gradcheck_checker() -> None:
    checks.check_passes_gradcheck(_gradcheck)
    with pytest.raises(CheckFailed, match="raise_exception=False"):
        checks.check_passes_gradcheck(lambda apply: torch.autograd.gradcheck(
            apply, (torch.linspace(-3, 3, 40, dtype=torch.float64).add(0.05).requires_grad_(),)))
    with pytest.raises(CheckFailed, match="expected False"):
        checks.check_passes_gradcheck(lambda apply: True)
    with pytest.raises(CheckFailed, match="float64"):
        checks.check_passes_gradcheck(lambda apply: False)


def _moments(act_fn: Any, depth: int, width: int = 128, weight_scale2: float = 1.0,
             dropout: Any = None, n: int = 1024, seed: int = 0, scale_bug: bool = False) -> list:
    torch.manual_seed(seed)
    x = torch.randn(n, width)
    out = []
    with torch.no_grad():
        for _ in range(depth):
            std = math.sqrt(1.0 / width) if scale_bug else math.sqrt(weight_scale2 / width)
            x = act_fn(x @ (torch.randn(width, width) * std).T)
            if dropout is not None:
                x = dropout(x)
            out.append((x.mean().item(), x.var().item()))
    return out


def test_moments_checkers() -> None:
    checks.check_moments(_moments, depth=30)
    with pytest.raises(CheckFailed, match="weight_scale2"):
        checks.check_moments(lambda *a, **k: _moments(*a, **k, scale_bug=True), depth=30)
    with pytest.raises(CheckFailed, match="30 \\(mean, variance\\) pairs"):
        checks.check_moments(lambda *a, **k: _moments(*a, **k)[:-1], depth=30)
    settings = {"lecun": _moments(F.selu, 30), "alpha": _moments(F.selu, 30,
                                                                 dropout=torch.nn.AlphaDropout(0.1)),
                "he": _moments(F.selu, 30, weight_scale2=2.0),
                "dropout": _moments(F.selu, 30, dropout=torch.nn.Dropout(0.1))}
    checks.check_self_normalisation(settings)
    with pytest.raises(CheckFailed, match="Dropout"):
        checks.check_self_normalisation({**settings, "dropout": settings["lecun"]})
