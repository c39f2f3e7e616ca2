"""stats: exact values of the pure statistics on hand-made tensors (chapters 2, 3 and 5)."""

from __future__ import annotations

import math
import re

import pytest
import torch

from relucourse import stats


def test_zero_fraction_counts_exact_zeros_only() -> None:
    a = torch.tensor([0.0, 1.0, -0.0, -2.0, 1e-30, 0.0, 3.0, 4.0])
    assert stats.zero_fraction(a) == 3 / 8
    assert stats.zero_fraction(torch.nn.functional.softplus(torch.randn(1000))) == 0.0


def test_near_zero_fraction() -> None:
    a = torch.tensor([0.005, -0.009, 0.02, 1.0, 0.0])
    assert stats.near_zero_fraction(a) == pytest.approx(3 / 5)  # float32 mean
    assert stats.near_zero_fraction(a, eps=0.1) == pytest.approx(4 / 5)


def test_saturation_fraction() -> None:
    s = torch.tensor([0.01, 0.5, 0.96, 0.94, 0.049, 0.051, 0.999, 0.3])
    assert stats.saturation_fraction(s, "sigmoid") == 4 / 8  # 0.01, 0.96, 0.049, 0.999
    assert stats.saturation_fraction(s, "sigmoid", margin=0.1) == 6 / 8
    t = torch.tensor([-0.99, 0.2, 0.96, -0.5])
    assert stats.saturation_fraction(t, "tanh") == 2 / 4
    with pytest.raises(ValueError, match="'relu'"):
        stats.saturation_fraction(t, "relu")


def test_dead_units_dense() -> None:
    a = torch.tensor([[0.0, 1.0, 0.0, 0.0],
                      [0.0, 2.0, 3.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0]])
    assert stats.dead_unit_mask(a).tolist() == [True, False, False, True]
    assert stats.dead_fraction(a) == 0.5


def test_dead_units_conv_shaped() -> None:
    # (N=2, C=3, L=4): channel 1 is zero everywhere; channel 2 is non-zero at one position only
    a = torch.zeros(2, 3, 4)
    a[:, 0] = 1.0
    a[1, 2, 3] = 0.5
    assert stats.dead_unit_mask(a).tolist() == [False, True, False]
    assert stats.dead_fraction(a) == pytest.approx(1 / 3)
    img = torch.zeros(5, 4, 3, 3)  # (N, C, H, W)
    img[2, 3, 1, 2] = 1.0
    assert stats.dead_unit_mask(img).tolist() == [True, True, True, False]


def test_second_moment_and_summary() -> None:
    a = torch.tensor([[0.0, 2.0], [-2.0, 0.0]])
    assert stats.second_moment(a) == 2.0
    s = stats.summarize(a)
    assert s == {"mean": 0.0, "std": pytest.approx((8 / 3) ** 0.5), "zero_frac": 0.5,
                 "second_moment": 2.0}
    assert stats.summarize(torch.tensor([3.0]))["std"] == 0.0
    assert stats.summarize(torch.tensor([1, 0], dtype=torch.float16))["zero_frac"] == 0.5


def test_mean_std_over_seeds() -> None:
    mean, std = stats.mean_std(v for v in (0.5, 0.7, 0.9))   # any iterable, e.g. a generator
    assert mean == pytest.approx(0.7) and std == pytest.approx(math.sqrt(0.08 / 3))  # population std
    assert stats.mean_std([0.3]) == (0.3, 0.0)


EMPTY = [torch.empty(0), torch.empty(0, 4), torch.empty(5, 0), torch.empty(0, 3, 2)]
TENSOR_STATS = {
    "zero_fraction": stats.zero_fraction,
    "near_zero_fraction": stats.near_zero_fraction,
    "saturation_fraction": stats.saturation_fraction,
    "second_moment": stats.second_moment,
    "summarize": stats.summarize,
    "dead_fraction": stats.dead_fraction,
    "dead_unit_mask": stats.dead_unit_mask,
}


@pytest.mark.parametrize("name", sorted(TENSOR_STATS))
@pytest.mark.parametrize("empty", EMPTY, ids=lambda t: f"shape{tuple(t.shape)}")
def test_every_statistic_refuses_an_empty_tensor(name: str, empty: torch.Tensor) -> None:
    """A fraction of nothing has no value: dead_fraction(empty) used to say 1.0 ("all dead")."""
    want = f"{name} of an empty tensor (shape {tuple(empty.shape)})"
    with pytest.raises(ValueError, match="^" + re.escape(want)):
        TENSOR_STATS[name](empty)


def test_dead_units_of_no_samples_is_not_all_dead() -> None:
    with pytest.raises(ValueError, match="dead_fraction of an empty tensor"):
        stats.dead_fraction(torch.empty(0, 16))
    assert stats.dead_fraction(torch.zeros(1, 16)) == 1.0  # one sample is enough to judge
    assert stats.dead_fraction(torch.ones(1, 16)) == 0.0


def test_dead_unit_mask_needs_units() -> None:
    for fn in (stats.dead_unit_mask, stats.dead_fraction):
        with pytest.raises(ValueError, match=r"needs \(N, units, \.\.\.\) activations, got shape \(3,\)"):
            fn(torch.zeros(3))


@pytest.mark.parametrize("values", [[], (), iter([])])
def test_mean_std_of_no_values_is_an_error(values) -> None:
    with pytest.raises(ValueError, match="mean_std of an empty sequence"):
        stats.mean_std(values)
