"""Tests for relucourse.labs.checks.saturation: the sigmoid lab's checkers accept right answers, reject wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from relucourse.labs.checks import saturation as checks
from relucourse.theory import saturation as G


def test_check_sigmoid_accepts_reference(capsys) -> None:
    checks.check_sigmoid(lambda x: 1 / (1 + torch.exp(-x)))
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(("fn", "message"), [
    (lambda x: 1 / (1 + torch.exp(x)), "sign inside exp"),
    (lambda x: torch.exp(x) / (1 + torch.exp(x)), "inf / inf"),
    (lambda x: (1 / (1 + torch.exp(-x))).sum(), "shape"),
    (lambda x: x.numpy(), "torch.Tensor"),
])
def test_check_sigmoid_rejects_with_hint(fn, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        checks.check_sigmoid(fn)


def test_check_sigmoid_derivative() -> None:
    checks.check_sigmoid_derivative(lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    with pytest.raises(AssertionError, match="s' = s"):
        checks.check_sigmoid_derivative(lambda x: torch.sigmoid(x) * (1 + torch.sigmoid(x)))


def test_check_factor_prediction_hints() -> None:
    checks.check_factor_prediction(math.sqrt(1 / 48))
    with pytest.raises(AssertionError, match="slope alone"):
        checks.check_factor_prediction(0.25)
    with pytest.raises(AssertionError, match="square root"):
        checks.check_factor_prediction(1 / 48)
    with pytest.raises(AssertionError, match="positive"):
        checks.check_factor_prediction(float("nan"))


def test_check_measured_profile() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(512, 40, generator=g), torch.randint(0, 10, (512,), generator=g)
    norms = G.init_gradient_profile("sigmoid", 6, x, y, seeds=(0, 1, 2))
    factor = checks.check_measured_profile(norms, 6)
    assert factor == pytest.approx(G.per_layer_factor(norms))
    with pytest.raises(AssertionError, match="ordered"):
        checks.check_measured_profile(norms[::-1], 6)
    with pytest.raises(AssertionError, match="one gradient norm per hidden layer"):
        checks.check_measured_profile(norms[:3], 6)
    with pytest.raises(AssertionError, match="well above"):
        checks.check_measured_profile([1e-2, 0.1, 0.3, 0.6, 0.9, 1.0], 6)


def test_check_ratio_prediction_hints() -> None:
    checks.check_ratio_prediction(math.sqrt(1 / 48) ** 7, 8)
    with pytest.raises(AssertionError, match="there are 7"):
        checks.check_ratio_prediction(math.sqrt(1 / 48) ** 8, 8)
    with pytest.raises(AssertionError, match="layer L / layer 1"):
        checks.check_ratio_prediction(math.sqrt(48) ** 7, 8)
    with pytest.raises(AssertionError, match="positive"):
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
    with pytest.raises(AssertionError, match="zero_grad"):
        checks.check_gradient_norms(lambda *a: norms(*a, zero=False), model, x, y)
    with pytest.raises(AssertionError, match="reverse order"):
        checks.check_gradient_norms(lambda *a: norms(*a, reverse=True), model, x, y)
    with pytest.raises(AssertionError, match="one norm per hidden layer"):
        checks.check_gradient_norms(lambda *a: norms(*a)[:2], model, x, y)
