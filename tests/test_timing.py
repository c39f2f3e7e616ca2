"""timing: warm-up and repeat counts, ordered statistics, positive activation costs, and
interleaved timing with its ratio report (for claims that must hold on a busy machine)."""

from __future__ import annotations

import time

import pytest
import torch

from relucourse import timing


def test_measure_calls_warmup_plus_repeats() -> None:
    calls: list[int] = []
    t = timing.measure(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7
    assert t.repeats == 5
    assert 0.0 <= t.min_s <= t.median_s <= t.max_s < 1.0


def test_measure_sees_slow_calls() -> None:
    t = timing.measure(lambda: time.sleep(0.002), warmup=0, repeats=3)
    assert t.min_s >= 0.0019


def test_measure_rejects_no_repeats() -> None:
    with pytest.raises(ValueError, match="repeats"):
        timing.measure(lambda: None, repeats=0)


@pytest.mark.parametrize("name", ["relu", "sigmoid"])
def test_activation_cost_positive(name: str) -> None:
    t = timing.activation_cost(name, 10_000, repeats=3)
    assert t.median_s > 0 and t.repeats == 3


@pytest.mark.parametrize(("name", "kwargs"), [("identity", {}), ("relu", {}), ("softplus", {"beta": 2.0})])
def test_activation_step_runs_backward_and_resets_the_gradient(name: str, kwargs: dict) -> None:
    step = timing.activation_step(name, 1000, **kwargs)
    first = step().clone()
    second = step()
    # the gradient is reset each call: two calls give one call's gradient, not the sum of two
    assert torch.equal(first, second)
    if name == "identity":
        assert torch.equal(second, torch.ones(1000))
    elif name == "relu":  # 0 or 1, about half of each on N(0, 1) inputs
        assert set(second.unique().tolist()) <= {0.0, 1.0} and 400 < second.sum().item() < 600
    else:  # softplus' derivative is sigmoid(beta x), strictly inside (0, 1)
        assert 0 < second.min().item() and second.max().item() < 1


def test_synchronize_waits_only_for_the_device_given(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(("cuda", device)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(("mps", None)))
    timing.synchronize("cpu")
    timing.synchronize(torch.device("cpu"))
    assert calls == []  # nothing to wait for on the CPU
    timing.synchronize("cuda:0")
    timing.synchronize("mps")
    assert calls == [("cuda", torch.device("cuda:0")), ("mps", None)]


def test_interleaved_alternates_call_by_call_and_rotates_the_order() -> None:
    order: list[str] = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abc"}
    t = timing.interleaved(fns, repeats=4, warmup=1, min_sample_s=0)
    assert order[:3] == ["a", "b", "c"]  # warm-up round
    assert order[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert set(t) == {"a", "b", "c"}
    for timed in t.values():
        assert timed.repeats == 4 and 0 <= timed.min_s <= timed.median_s <= timed.max_s


def test_interleaved_ranks_a_slow_call_above_a_fast_one() -> None:
    t = timing.interleaved({"sleep 2 ms": lambda: time.sleep(0.002), "no-op": lambda: None},
                           repeats=5, warmup=1)
    assert t["sleep 2 ms"].min_s >= 0.0019
    assert t["no-op"].median_s < t["sleep 2 ms"].median_s
    assert timing.ratio(t, "sleep 2 ms", "no-op") > 1 > timing.ratio(t, "no-op", "sleep 2 ms")


def test_interleaved_shares_a_slow_spell() -> None:
    """A slow spell (here: every call of round 2 and 3 sleeps) hits every callable alike."""
    rounds = {"n": 0}

    def spell() -> None:
        if 2 <= rounds["n"] // 2 < 4:
            time.sleep(0.003)

    def a() -> None:
        spell()
        rounds["n"] += 1

    def b() -> None:
        spell()
        rounds["n"] += 1

    t = timing.interleaved({"a": a, "b": b}, repeats=6, warmup=0, min_sample_s=0)
    assert t["a"].max_s >= 0.0029 and t["b"].max_s >= 0.0029  # both saw the spell
    assert t["a"].median_s < 0.0029 and t["b"].median_s < 0.0029  # 2 slow calls of 6: not the median


def test_short_calls_are_batched_into_samples_long_enough_for_a_busy_machine() -> None:
    t = timing.interleaved({"sleep 1 ms": lambda: time.sleep(0.001), "no-op": lambda: None},
                           repeats=3, min_sample_s=0.02)
    assert 5 <= t["sleep 1 ms"].calls_per_sample <= 20  # about 20 ms / 1 ms (sleeps overshoot)
    assert t["no-op"].calls_per_sample > 1000
    assert 0.0009 < t["sleep 1 ms"].median_s < 0.004  # still a per-call time
    assert "3 samples of" in timing.ratio_report(t, "sleep 1 ms", "no-op")


def test_interleaved_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one"):
        timing.interleaved({})
    with pytest.raises(ValueError, match="repeats=0"):
        timing.interleaved({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="warmup=-1"):
        timing.interleaved({"a": lambda: None}, warmup=-1)
    with pytest.raises(ValueError, match="min_sample_s=-1"):
        timing.interleaved({"a": lambda: None}, min_sample_s=-1)


def test_ratio_report_prints_the_medians_and_their_ratio() -> None:
    t = {"sigmoid": timing.Timing(0.0012, 0.0011, 0.0019, 10),
         "relu": timing.Timing(0.0006, 0.0005, 0.0008, 10)}
    report = timing.ratio_report(t, "sigmoid", "relu")
    assert report.splitlines() == [
        "sigmoid: median 1.200 ms (min 1.100 ms, max 1.900 ms, 10 calls)",
        "relu: median 0.600 ms (min 0.500 ms, max 0.800 ms, 10 calls)",
        "sigmoid / relu = 2.00x (medians)",
    ]
    assert timing.ratio(t, "sigmoid", "relu") == pytest.approx(2.0)
    assert "relu / sigmoid = 0.50x" in timing.ratio_report(t, "relu", "sigmoid")
    # the fastest samples instead: 1.1 / 0.5
    assert timing.ratio(t, "sigmoid", "relu", stat="min") == pytest.approx(2.2)
    assert timing.ratio_report(t, "sigmoid", "relu", stat="min").splitlines()[-1] == (
        "sigmoid / relu = 2.20x (fastest samples)")
    with pytest.raises(ValueError, match="stat='mean' is invalid: must be one of median, min"):
        timing.ratio(t, "sigmoid", "relu", stat="mean")


def test_ratio_of_a_zero_median_and_unknown_names() -> None:
    t = {"a": timing.Timing(0.001, 0.001, 0.001, 1), "zero": timing.Timing(0.0, 0.0, 0.0, 1)}
    assert timing.ratio(t, "a", "zero") == float("inf")
    assert "a / zero = infx" in timing.ratio_report(t, "a", "zero")
    with pytest.raises(ValueError, match="no timing named 'b'; timed: a, zero"):
        timing.ratio_report(t, "a", "b")


def test_ratio_report_on_measured_timings() -> None:
    t = timing.interleaved({"sleep": lambda: time.sleep(0.002), "none": lambda: None}, repeats=3)
    report = timing.ratio_report(t, "sleep", "none")
    assert report.startswith("sleep: median ") and "\nnone: median " in report
    assert f"sleep / none = {timing.ratio(t, 'sleep', 'none'):.2f}x" in report


def test_threads_sets_the_count_for_the_block_and_restores_it() -> None:
    before = torch.get_num_threads()
    with timing.threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), timing.threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before  # restored after an error too
