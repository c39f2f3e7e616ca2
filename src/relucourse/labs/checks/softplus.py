"""Friendly checkers for the softplus lab (labs/04_softplus_lab.ipynb).

Each checker prints an ``[ok]`` line saying what it verified, or raises ``CheckFailed`` with a hint,
so a learner sees *why*, and CI fails when a reference solution (run while a lab's exercise is
still a stub; written in ``relucourse/labs/sources/04_softplus_lab.py``) stops passing. Reference
values come from torch and ``relucourse.theory.softplus``, never from numbers typed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from relucourse.labs.checks import CheckFailed, autograd_slope, call, elementwise, passed
from relucourse.records import Record
from relucourse.theory.softplus import max_gap_formula

# Inputs chosen to hit every regime: huge negative (exp underflows), moderate, and huge positive
# (exp(x) overflows float32 above ~88.7, float64 above ~709.8).
PROBE_POINTS = (-1000.0, -200.0, -90.0, -30.0, -5.0, -1.0, 0.0, 0.5, 3.0, 20.0, 50.0, 88.0, 89.0,
                100.0, 710.0, 1000.0)
# Largest |slope - sigmoid(x)| accepted: torch's own softplus returns x above x = 20, so its slope
# there is 1, off by e^-20 ~ 2e-9 in float64 (not a mistake).
SLOPE_TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-8}


def _points(dtype: torch.dtype) -> torch.Tensor:
    grid = torch.linspace(-120.0, 120.0, 4801, dtype=torch.float64)
    return torch.cat([grid, torch.tensor(PROBE_POINTS, dtype=torch.float64)]).to(dtype)


def _without_zero(x: torch.Tensor) -> torch.Tensor:
    """``x`` without exact zeros. At x = 0 autograd's slope of max(x, 0) + log1p(exp(-|x|)) depends on
    the subgradients PyTorch picks for the kink of max and |x| (it gives 1, not sigmoid(0) = 1/2),
    while the function itself is smooth there; everywhere else it is the true derivative."""
    return x[x != 0]


def check_stable_softplus(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``fn(x)`` must equal log(1 + e^x) (beta = 1) in float32 and float64 (keeping the dtype),
    stay finite for every finite input, including x = 1000 where exp(x) is inf in both dtypes,
    and have autograd's slope sigmoid(x) there too (Exercise 2 differentiates it)."""
    for dtype, rtol in ((torch.float32, 1e-5), (torch.float64, 1e-9)):
        x = _points(dtype)
        got = elementwise("your softplus", fn, x)
        bad = ~torch.isfinite(got)
        if bad.any():
            raise CheckFailed(
                f"{dtype}: not finite at x = {x[bad][0].item():g}. Never exponentiate a large "
                "positive number: write softplus(x) = max(x, 0) + log1p(exp(-|x|)).")
        # logaddexp(x, 0) = log(e^x + e^0), exact in float64 (torch's softplus drops ~e^-20 above
        # its threshold, which float64 would notice).
        want = torch.logaddexp(x.to(torch.float64), torch.zeros((), dtype=torch.float64)).to(dtype)
        # atol: one unit in the last place of tiny values near exp's underflow is not a mistake.
        close = torch.isclose(got.to(torch.float64), want.to(torch.float64), rtol=rtol,
                              atol=float(torch.finfo(dtype).tiny))
        if not close.all():
            i = (~close).nonzero()[0].item()
            hint = ("for very negative x use log1p: log(1 + tiny) rounds to 0" if x[i] < 0 else
                    "check the max(x, 0) part and the sign inside exp(-|x|)")
            raise CheckFailed(
                f"{dtype}: at x = {x[i].item():g} you return {got[i].item():.10g}, log(1 + e^x) "
                f"is {want[i].item():.10g}; {hint}.")
        xs = _without_zero(x)
        slope = autograd_slope("your softplus", fn, xs)
        bad = ~torch.isfinite(slope)
        if bad.any():
            raise CheckFailed(
                f"{dtype}: autograd's slope of your softplus is {slope[bad][0].item()} at x = "
                f"{xs[bad][0].item():g}. A branch you discard still has a gradient: in "
                "torch.where(x > 20, x, log1p(exp(x))), exp(x) = inf gives nan through the unused "
                "branch. Write it so that exp only sees -|x|: max(x, 0) + log1p(exp(-|x|)).")
        err = (slope.double() - torch.sigmoid(xs.double())).abs().max().item()
        if not err < SLOPE_TOLERANCE[dtype]:
            raise CheckFailed(f"{dtype}: autograd's slope of your softplus is off from sigmoid(x) by "
                              f"{err:.3g}: compute it with torch operations on x itself.")
    passed(f"matches log(1 + e^x) in float32 and float64 on {len(_points(torch.float32))} points "
           "from -1000 to 1000, stays finite where exp(x) overflows, and autograd's slope is "
           "sigmoid(x) there")


def check_softplus_derivative(grad_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``grad_fn(x)`` (autograd's d softplus / dx at each point) must equal sigmoid(x), in float32
    and float64, out to |x| = 1000."""
    for dtype in (torch.float64, torch.float32):
        x = _without_zero(torch.cat([torch.linspace(-15.0, 15.0, 3001, dtype=dtype),
                                     torch.tensor(PROBE_POINTS, dtype=dtype)]))
        got = call("your softplus_slope", grad_fn, x.clone())
        if not isinstance(got, torch.Tensor) or got.shape != x.shape:
            raise CheckFailed("return one derivative per input point, as a tensor shaped like x")
        err = (got.detach().to(torch.float64) - torch.sigmoid(x.double())).abs().max().item()
        if not err < SLOPE_TOLERANCE[dtype]:
            raise CheckFailed(
                f"{dtype}: max |your derivative - sigmoid(x)| = {err:.3g}. Make a copy of x with "
                "requires_grad_(True), compute F.softplus(x).sum(), then torch.autograd.grad(...).")
    passed(f"d softplus/dx = sigmoid(x) from -1000 to 1000 in float32 and float64 (max error {err:.1e})")


def check_max_gap(gap_fn: Callable[[float], float]) -> None:
    """``gap_fn(beta)``, a measured max |softplus_beta - relu|, must match log(2)/beta, also at the
    sharp beta = log(2) / 0.01 that the lab measures next."""
    sharp = max_gap_formula(1.0) / 0.01
    for beta in (0.5, 1.0, 3.0, 10.0, sharp):
        got = call("your max_gap", gap_fn, beta)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise CheckFailed(f"max_gap should return a number (use .item()), got {type(got).__name__}")
        want = max_gap_formula(beta)
        if not math.isclose(got, want, rel_tol=1e-3):
            raise CheckFailed(
                f"beta = {beta}: you measured {got:.6g}, the formula log(2)/beta gives {want:.6g}. "
                "Use a grid that contains x = 0, and torch.nn.Softplus(beta=beta).")
    passed(f"the measured max gap equals log(2)/beta for beta in 0.5, 1, 3, 10 and {sharp:.1f}")


def check_beta_for_gap(beta: float, gap: float = 0.01, rel_tol: float = 0.02) -> None:
    """``beta``: the smallest sharpness for which softplus_beta stays within ``gap`` of ReLU
    everywhere (answers within ``rel_tol`` above it, such as a rounded value, are accepted)."""
    if not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        raise CheckFailed(f"beta is a positive number, got {beta!r}")
    smallest = max_gap_formula(1.0) / gap  # the gap log(2)/beta shrinks as 1/beta
    if max_gap_formula(beta) > gap * (1 + 1e-9):
        raise CheckFailed(f"at beta = {beta:g} softplus_beta is still {max_gap_formula(beta):.4g} "
                          f"above ReLU at x = 0 (more than {gap:g}); solve log(2)/beta <= {gap:g}.")
    if beta > smallest * (1 + rel_tol):
        raise CheckFailed(f"beta = {beta:g} works, but so does a smaller beta: which is the "
                          f"smallest with log(2)/beta <= {gap:g}?")
    passed(f"beta = {beta:.4g}: the largest gap log(2)/beta = {max_gap_formula(beta):.4g} <= {gap:g}, "
           "and no much smaller beta would do")


def _fake(losses: list[float], every: int = 50) -> Record:
    steps = [every * (i + 1) for i in range(len(losses))]
    return Record(steps=steps, train_loss=losses, test_loss=losses, test_acc=[0.0] * len(losses))


def check_steps_to_target(fn: Callable[[Record, float], int | None]) -> None:
    """``fn(result, target)`` must return the first evaluation step whose training loss is
    <= target, or None when the run never gets there."""
    cases = [(_fake([2.3, 1.2, 0.6, 0.4, 0.45, 0.2]), 0.5),
             (_fake([2.3, 1.2, 0.5, 0.7]), 0.5),  # equal to the target counts
             (_fake([2.3, 2.2, 2.1]), 0.5),  # never reached
             (_fake([0.1, 0.05], every=25), 0.3)]  # reached at the first evaluation
    for result, target in cases:
        got, want = call("your steps_to_target", fn, result, target), result.steps_to(target)
        if got != want:
            raise CheckFailed(
                f"losses {result.train_loss} at steps {result.steps}, target {target}: expected "
                f"{want}, got {got}. Return the step (not the index) of the first loss <= target.")
    passed(f"steps_to_target agrees with the reference on {len(cases)} cases, including a run "
           "that never reaches the target")
