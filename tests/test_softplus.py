"""Tests for relucourse.theory.softplus and relucourse.labs.checks.softplus (chapter 04, softplus)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from relucourse import probes, records
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.labs.checks import softplus as smooth_checks
from relucourse.models import MLP
from relucourse.records import Record
from relucourse.theory import softplus as smooth
from relucourse.train import train


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0, 10.0])
def test_max_gap_is_log2_over_beta_at_zero(beta: float) -> None:
    assert smooth.max_gap_to_relu(beta) == pytest.approx(math.log(2) / beta, rel=1e-12)
    assert smooth.max_gap_formula(beta) == math.log(2) / beta
    assert smooth.argmax_gap(beta) == pytest.approx(0.0, abs=1e-12)


def test_max_gap_rejects_nonpositive_beta() -> None:
    with pytest.raises(ValueError, match="beta"):
        smooth.max_gap_formula(0.0)


@pytest.mark.parametrize("beta", [0.5, 1.0, 4.0])
def test_gap_identity_matches_difference(beta: float) -> None:
    x = torch.linspace(-30, 30, 6001, dtype=torch.float64)
    diff = smooth.softplus_stable(x, beta) - torch.relu(x)
    # x - relu(x) cancels for large x, so the difference is only good to ~30 * 2^-52 absolute.
    assert torch.allclose(smooth.softplus_gap(x, beta), diff, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_autograd_derivative_is_sigmoid(beta: float) -> None:
    # beta * x stays below torch's threshold of 20 on [-6, 6], so the match is to rounding.
    assert smooth.derivative_vs_sigmoid(beta, lo=-6.0, hi=6.0) < 1e-15


def test_stable_matches_torch_and_naive_overflows() -> None:
    x = torch.tensor([-200.0, -20.0, -1.0, 0.0, 1.0, 20.0, 88.0, 89.0, 1000.0])
    stable = smooth.softplus_stable(x)
    assert torch.isfinite(stable).all()
    assert torch.allclose(stable, F.softplus(x), rtol=1e-6, atol=0)
    naive = smooth.softplus_naive(x)
    assert torch.isinf(naive[-2:]).all() and torch.isfinite(naive[:-2]).all()
    assert naive[1].item() == 0.0  # 1 + e^-20 rounds to 1 in float32: a rounding "hard zero"


@pytest.mark.parametrize(("dtype", "point"), [(torch.float32, 88.7228), (torch.float64, 709.7827)])
def test_overflow_point_and_first_nonfinite(dtype: torch.dtype, point: float) -> None:
    assert smooth.overflow_point(dtype) == pytest.approx(point, abs=1e-4)
    first = smooth.first_nonfinite(smooth.softplus_naive, hi=1000.0, points=100_001, dtype=dtype)
    assert first is not None and point < first <= point + 0.02
    assert smooth.first_nonfinite(smooth.softplus_stable, hi=1000.0, dtype=dtype) is None
    assert smooth.first_nonfinite(F.softplus, hi=1000.0, dtype=dtype) is None


def test_underflow_to_zero_naive_vs_stable() -> None:
    naive = smooth.underflow_to_zero(smooth.softplus_naive)
    stable = smooth.underflow_to_zero(smooth.softplus_stable)
    # naive: 1 + e^x == 1 once e^x < 2^-24, i.e. x < -24 log 2 = -16.64
    assert naive == pytest.approx(-24 * math.log(2), abs=0.01)
    assert stable is not None and stable < -85.0


def _result(losses: list[float], accs: list[float] | None = None, every: int = 10) -> Record:
    steps = [every * (i + 1) for i in range(len(losses))]
    return Record(steps=steps, train_loss=losses, test_loss=losses,
                       test_acc=accs or [0.5] * len(losses))


def test_steps_to_target_exact() -> None:
    r = _result([2.0, 1.0, 0.4, 0.6, 0.1])
    assert r.steps_to(0.5) == 30
    assert r.steps_to(0.1) == 50
    assert r.steps_to(0.05) is None
    assert r.steps_to(1.0, metric="test_loss") == 20


def test_summarize_means_and_unreached_seeds() -> None:
    groups = {"a": [_result([1.0, 0.2], [0.5, 0.8]), _result([1.0, 0.9], [0.5, 0.6])]}
    row = records.group_summary(groups, target_loss=0.5)["a"]
    assert row["reached"] == 1 and row["seeds"] == 2
    assert row["steps_to_target"] == (20.0, 0.0)  # the unreached seed counts as the run length
    assert row["test_acc"] == pytest.approx((0.7, 0.1))
    assert "zero_frac" not in row
    assert "steps to target" in records.format_summary(records.group_summary(groups, 0.5))


def test_zero_fractions_requires_probe() -> None:
    with pytest.raises(ValueError, match="ZeroFractions"):
        _result([1.0]).zero_fraction()


@pytest.mark.parametrize(("activation", "has_zeros"), [("relu", True), ("softplus", False),
                                                       ("tanh", False)])
def test_zero_fraction_probe_on_trained_mlp(tiny_dataset, activation: str, has_zeros: bool) -> None:
    torch.manual_seed(0)
    model = MLP(8, 3, width=16, depth=2, activation=activation, init="kaiming_normal")
    probe = probes.ZeroFractions(n_probe=64, eps=1e-2)
    result = train(model, tiny_dataset, TrainConfig(steps=20, eval_every=10, batch_size=32),
                   callbacks=[probe], progress=False)
    assert [z.layer for z in result.zeros] == ["blocks.0.act", "blocks.1.act"]
    zero = result.zero_fraction("zero_frac")
    near = result.zero_fraction("near_zero_frac")
    assert (zero > 0.2) if has_zeros else (zero == 0.0)
    assert near >= zero  # every exact zero is also near zero
    assert "eps=0.01" in repr(probe)


def test_probe_runs_through_experiments_cache(quiet) -> None:
    from relucourse.experiments import run

    cfg = RunConfig(DataConfig(name="digits"), ModelConfig(width=16, depth=2, activation="softplus"),
                    TrainConfig(steps=10, eval_every=5))
    first = run(cfg, probes=[probes.ZeroFractions(n_probe=50)])
    second = run(cfg, probes=[probes.ZeroFractions(n_probe=50)])
    assert second.zeros == first.zeros and len(first.zeros) == 2
    assert second.zero_fraction() == 0.0


def test_checkers_accept_references_and_reject_mistakes() -> None:
    smooth_checks.check_stable_softplus(smooth.softplus_stable)
    smooth_checks.check_stable_softplus(F.softplus)
    with pytest.raises(AssertionError, match="not finite"):
        smooth_checks.check_stable_softplus(smooth.softplus_naive)
    with pytest.raises(AssertionError, match="log1p"):
        smooth_checks.check_stable_softplus(
            lambda x: x.clamp_min(0) + torch.log(1 + torch.exp(-x.abs())))

    def grad(x: torch.Tensor) -> torch.Tensor:
        x = x.clone().requires_grad_(True)
        return torch.autograd.grad(F.softplus(x).sum(), x)[0]

    smooth_checks.check_softplus_derivative(grad)
    with pytest.raises(AssertionError, match="sigmoid"):
        smooth_checks.check_softplus_derivative(lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    smooth_checks.check_max_gap(smooth.max_gap_to_relu)
    with pytest.raises(AssertionError, match="log"):
        smooth_checks.check_max_gap(lambda beta: 1.0 / beta)
    smooth_checks.check_steps_to_target(lambda r, target: r.steps_to(target))
    with pytest.raises(AssertionError, match="expected"):
        smooth_checks.check_steps_to_target(
            lambda r, t: next((i for i, v in enumerate(r.train_loss) if v <= t), None))


# --- the shifted softplus control and the offset's share (chapter section 2) -------------------

@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_shifted_softplus_is_softplus_minus_log2_over_beta(beta: float) -> None:
    from relucourse.activations import activation_fn, derivative, get_activation

    x = torch.linspace(-30, 30, 2001, dtype=torch.float64)
    shifted = activation_fn("softplus", beta=beta, shifted=True)
    torch.testing.assert_close(shifted(x), F.softplus(x, beta=beta) - math.log(2) / beta)
    assert shifted(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-15)
    torch.testing.assert_close(derivative("softplus", x, beta=beta, shifted=True),
                               torch.sigmoid(beta * x), atol=1e-8, rtol=0)  # threshold 20: e^-20
    assert "beta=" in repr(get_activation("softplus", beta=beta, shifted=True))
    cfg = ModelConfig(activation="softplus", activation_kwargs={"beta": beta, "shifted": True})
    assert cfg.activation_kwargs["shifted"] is True


def test_mean_share() -> None:
    assert smooth.mean_share("relu") == pytest.approx(1 / math.pi, rel=1e-6)  # (1/2pi) / (1/2)
    assert smooth.mean_share("tanh") < 1e-12
    plain, shifted = smooth.mean_share("softplus"), smooth.mean_share("softplus", shifted=True)
    assert plain > 2 * smooth.mean_share("relu") and shifted < 0.1
    assert smooth.mean_share("softplus", beta=4.0) < plain
