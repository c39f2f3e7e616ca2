"""Honest wall-clock timing on CPU and GPU: warm-up, device sync, median of repeats.

Used by the sigmoid chapter's cost section and by ``benchmarks/``. GPU kernels run asynchronously,
so every measurement synchronises the device before reading the clock; the median over repeats
resists the odd slow run. Compare timings only within one run on one machine (report ratios).

For a claim that must hold on a busy machine (CI's two shared cores), time the contenders with
``interleaved``: it alternates them call by call, so a slow spell slows all of them alike and their
ratio survives it. Print ``ratio_report`` before asserting, so a failure shows the measured values::

    t = interleaved({"sigmoid": activation_step("sigmoid", n), "relu": activation_step("relu", n)})
    print(ratio_report(t, "sigmoid", "relu"))
    assert ratio(t, "sigmoid", "relu") > 1.0
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch

from relucourse.activations import get_activation


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch threads, then restore the previous count. A multi-threaded
    kernel waits for its slowest thread, so on a loaded machine one thread times more steadily."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synchronize(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Median and spread (min, max) of ``repeats`` timed samples, in seconds per call (a sample
    may average ``calls_per_sample`` back-to-back calls, see ``interleaved``)."""

    median_s: float
    min_s: float
    max_s: float
    repeats: int
    calls_per_sample: int = 1


def measure(fn: Callable[[], object], device: torch.device | str = "cpu", warmup: int = 3,
            repeats: int = 10) -> Timing:
    """Time ``fn()`` after ``warmup`` untimed calls; the device is synchronised around each call."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return _timing(samples)


def _timing(samples: list[float], calls_per_sample: int = 1) -> Timing:
    return Timing(statistics.median(samples), min(samples), max(samples), len(samples),
                  calls_per_sample)


# Shorter samples are at the mercy of the scheduler: on a loaded machine one preemption costs a
# whole time slice (several ms), more than a small matmul takes. Each sample of ``interleaved``
# repeats its callable until it lasts at least this long, so a slice lands in every sample alike.
MIN_SAMPLE_S = 0.05


def interleaved(fns: Mapping[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
                device: torch.device | str = "cpu",
                min_sample_s: float = MIN_SAMPLE_S) -> dict[str, Timing]:
    """Time several callables alternately, call by call: round r times every ``fn`` once.

    The order rotates each round (a, b, c / b, c, a / ...), so no callable always runs first
    (right after the previous round's caches and clocks) or last. ``warmup`` untimed rounds run
    first and set, per callable, how many calls make one sample of at least ``min_sample_s``
    (a sample's time is divided by that number, so every timing is per call). The device is
    synchronised around every sample. Returns name -> ``Timing``.
    """
    if not fns:
        raise ValueError("interleaved needs at least one callable")
    if repeats < 1:
        raise ValueError(f"repeats={repeats} is invalid: must be >= 1")
    if warmup < 0:
        raise ValueError(f"warmup={warmup} is invalid: must be >= 0")
    if not min_sample_s >= 0:
        raise ValueError(f"min_sample_s={min_sample_s} is invalid: must be >= 0")
    names = list(fns)
    single = {name: math.inf for name in names}
    for _ in range(max(warmup, 1) if min_sample_s > 0 else warmup):
        for name in names:
            start = time.perf_counter()
            fns[name]()
            synchronize(device)
            single[name] = min(single[name], time.perf_counter() - start)
    number = {name: max(1, math.ceil(min_sample_s / max(single[name], 1e-9))) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn, n = fns[name], number[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            synchronize(device)
            samples[name].append((time.perf_counter() - start) / n)
    return {name: _timing(samples[name], number[name]) for name in names}


def _pick(timings: Mapping[str, Timing], name: str) -> Timing:
    if name not in timings:
        raise ValueError(f"no timing named {name!r}; timed: {', '.join(timings)}")
    return timings[name]


STATS = ("median", "min")


def _stat(timing: Timing, stat: str) -> float:
    if stat not in STATS:
        raise ValueError(f"stat={stat!r} is invalid: must be one of {', '.join(STATS)}")
    return timing.median_s if stat == "median" else timing.min_s


def ratio(timings: Mapping[str, Timing], num: str, den: str, stat: str = "median") -> float:
    """median(num) / median(den); inf when the denominator's is 0 (a clock too coarse).

    ``stat="min"`` divides the fastest samples instead: on a machine busy with other work a
    sample is only ever slowed down, so the fastest one is the least disturbed (as ``timeit``
    advises); with a few samples per callable, medians of short operations on two loaded cores
    were seen to swing by a factor 5 (chapter 6's stress test), their minima far less. (An
    operation whose own speed changes from run to run still moves: Mish alone measured 1.1 to
    10 times SiLU by its fastest samples on one Intel Xeon.)
    """
    top, bottom = _stat(_pick(timings, num), stat), _stat(_pick(timings, den), stat)
    return top / bottom if bottom > 0 else math.inf


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def ratio_report(timings: Mapping[str, Timing], num: str, den: str, stat: str = "median") -> str:
    """One line per timing (median, min-max, repeats), then ``num / den`` of the medians (or of
    the minima, ``stat="min"``), e.g.::

        sigmoid: median 1.204 ms (min 1.150 ms, max 1.873 ms, 10 calls)
        relu: median 0.611 ms (min 0.590 ms, max 0.802 ms, 10 calls)
        sigmoid / relu = 1.97x (medians)
    """
    def count(t: Timing) -> str:
        if t.calls_per_sample == 1:
            return f"{t.repeats} calls"
        return f"{t.repeats} samples of {t.calls_per_sample} calls"

    lines = [f"{name}: median {_ms(_pick(timings, name).median_s)} (min {_ms(timings[name].min_s)}, "
             f"max {_ms(timings[name].max_s)}, {count(timings[name])})" for name in (num, den)]
    lines.append(f"{num} / {den} = {ratio(timings, num, den, stat):.2f}x "
                 f"({'medians' if stat == 'median' else 'fastest samples'})")
    return "\n".join(lines)


def activation_step(name: str, numel: int, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, **kwargs: object) -> Callable[[], torch.Tensor]:
    """A closure running forward + backward of one activation over ``numel`` elements.

    Each call resets the input's gradient first and returns it, so it holds d act / dx of one call.
    """
    act = get_activation(name, **kwargs)
    x = torch.randn(numel, device=device, dtype=dtype, requires_grad=True)
    grad_out = torch.ones_like(x)

    def step() -> torch.Tensor:
        x.grad = None
        act(x).backward(grad_out)
        assert x.grad is not None
        return x.grad

    return step


def activation_cost(name: str, numel: int, device: torch.device | str = "cpu",
                    repeats: int = 10, **kwargs: object) -> Timing:
    """Forward + backward time of one activation on a vector of ``numel`` random values."""
    return measure(activation_step(name, numel, device, **kwargs), device, repeats=repeats)
