"""timing: warm-up and repeat counts, ordered statistics, positive activation costs."""

from __future__ import annotations

import pytest

from relucourse import timing


def test_measure_calls_warmup_plus_repeats() -> None:
    calls: list[int] = []
    t = timing.measure(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7
    assert t.repeats == 5
    assert 0.0 <= t.min_s <= t.median_s <= t.max_s < 1.0


def test_measure_sees_slow_calls() -> None:
    import time

    t = timing.measure(lambda: time.sleep(0.002), warmup=0, repeats=3)
    assert t.min_s >= 0.0019


def test_measure_rejects_no_repeats() -> None:
    with pytest.raises(ValueError, match="repeats"):
        timing.measure(lambda: None, repeats=0)


@pytest.mark.parametrize("name", ["relu", "sigmoid"])
def test_activation_cost_positive(name: str) -> None:
    t = timing.activation_cost(name, 10_000, repeats=3)
    assert t.median_s > 0 and t.repeats == 3


def test_activation_step_runs_backward() -> None:
    step = timing.activation_step("softplus", 100, beta=2.0)
    step()
    step()  # repeatable: the gradient is reset each call


def test_synchronize_cpu_is_a_no_op() -> None:
    timing.synchronize("cpu")
