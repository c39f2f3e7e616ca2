"""Honest wall-clock timing on CPU and GPU: warm-up, device sync, median of repeats.

Used by the sigmoid chapter's cost section and by ``benchmarks/``. GPU kernels run asynchronously,
so every measurement synchronises the device before reading the clock; the median over repeats
resists the odd slow run. Compare timings only within one run on one machine (report ratios).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from relucourse.activations import get_activation


def synchronize(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Median and spread (min, max) of ``repeats`` timed calls, in seconds."""

    median_s: float
    min_s: float
    max_s: float
    repeats: int


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
    return Timing(statistics.median(samples), min(samples), max(samples), repeats)


def activation_step(name: str, numel: int, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, **kwargs: object) -> Callable[[], None]:
    """A closure running forward + backward of one activation over ``numel`` elements."""
    act = get_activation(name, **kwargs)
    x = torch.randn(numel, device=device, dtype=dtype, requires_grad=True)
    grad_out = torch.ones_like(x)

    def step() -> None:
        x.grad = None
        act(x).backward(grad_out)

    return step


def activation_cost(name: str, numel: int, device: torch.device | str = "cpu",
                    repeats: int = 10, **kwargs: object) -> Timing:
    """Forward + backward time of one activation on a vector of ``numel`` random values."""
    return measure(activation_step(name, numel, device, **kwargs), device, repeats=repeats)
