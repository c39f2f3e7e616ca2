"""Friendly checkers for the After-ReLU lab (labs/06_after_relu_lab.ipynb): SELU from its formula,
a hand-written backward pass checked with ``torch.autograd.gradcheck``, and self-normalisation.

Each checker prints an ``[ok]`` line saying what it verified, or raises ``CheckFailed`` with a hint,
so a learner sees *why*, and CI fails when a reference solution (run while a lab's exercise is
still a stub; written in ``relucourse/labs/sources/06_after_relu_lab.py``) stops passing. Reference
values come from torch (``F.selu`` and autograd through it) and ``relucourse.theory.after_relu``,
never from numbers typed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from relucourse.labs.checks import CheckFailed, call, elementwise, passed
from relucourse.theory.after_relu import SELU_ALPHA, SELU_LAMBDA

TensorFn = Callable[[torch.Tensor], torch.Tensor]
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def _grid(dtype: torch.dtype) -> torch.Tensor:
    """From deep negative saturation to large positive inputs, with exact 0 and huge |x|."""
    return torch.cat([torch.linspace(-20, 20, 801, dtype=torch.float64),
                      torch.tensor([0.0, -1000.0, 1000.0, 88.0, 89.0, 710.0])]).to(dtype)


def _worst(got: torch.Tensor, want: torch.Tensor) -> tuple[float, int]:
    err = (got.double() - want.double()).abs() / want.double().abs().clamp_min(1.0)
    i = int(err.argmax())
    return err[i].item(), i


def check_selu_forward(fn: TensorFn) -> None:
    """``fn(x)`` must equal ``F.selu(x)`` (lambda x for x > 0, lambda alpha (e^x - 1) otherwise) in
    float32 and float64, keep the dtype, leave ``x`` alone and stay finite for huge |x|."""
    for dtype in (torch.float64, torch.float32):
        x = _grid(dtype)
        out = elementwise("your selu_forward", fn, x)
        if not torch.isfinite(out).all():
            bad = x[~torch.isfinite(out)][0].item()
            raise CheckFailed(
                f"{dtype}: your SELU is not finite at x = {bad:g}. torch.where evaluates both "
                "branches: exp(x) overflows for large x even where the x > 0 branch is kept, and "
                "inf * 0 or inf - inf gives nan. Exponentiate only non-positive numbers: "
                "torch.expm1(torch.clamp(x, max=0)).")
        want = F.selu(x)
        err, i = _worst(out, want)
        if err > TOLERANCE[dtype]:
            xi, got, exp = x[i].item(), out[i].item(), want[i].item()
            hints = []
            if xi > 0 and abs(got - xi) < 1e-9 * max(1, abs(xi)):
                hints.append("the positive side is lambda * x, not x")
            if xi < 0 and abs(got - SELU_ALPHA * math.expm1(xi)) < 1e-6:
                hints.append("multiply the negative side by lambda too")
            if xi < 0 and abs(got - SELU_LAMBDA * SELU_ALPHA * math.exp(xi)) < 1e-6:
                hints.append("the negative side is alpha (e^x - 1): it must be 0 at x = 0")
            if abs(xi) < 1 and not hints:
                hints.append(f"check the constants: alpha = {SELU_ALPHA:.10f}, lambda = "
                             f"{SELU_LAMBDA:.10f}")
            raise CheckFailed(f"{dtype}: at x = {xi:g} you return {got:.10g}, SELU is {exp:.10g}"
                              + (f": {'; '.join(hints)}." if hints else "."))
    passed("matches F.selu in float32 and float64 on 807 points from -1000 to 1000, finite "
           "everywhere")


def _autograd_slope(x: torch.Tensor) -> torch.Tensor:
    xg = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.selu(xg).sum(), xg)
    return grad


def check_selu_backward(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(x, grad_out)`` must return grad_out * selu'(x): lambda for x > 0, lambda alpha e^x for
    x < 0 (x = 0 is a kink; either side's value is accepted there), like autograd through
    ``F.selu``, for an upstream gradient that is not all ones, in float32 and float64."""
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float64, torch.float32):
        x = _grid(dtype)
        grad_out = (0.5 + torch.rand(x.shape, generator=gen, dtype=torch.float64)).to(dtype)
        before = (x.clone(), grad_out.clone())
        out = call("your selu_backward", fn, x, grad_out)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape or out.dtype != dtype:
            raise CheckFailed(f"selu_backward(x, grad_out) should return a {dtype} tensor of shape "
                              f"{tuple(x.shape)}, got {getattr(out, 'dtype', type(out).__name__)} "
                              f"{tuple(getattr(out, 'shape', ()))}")
        if not (torch.equal(x, before[0]) and torch.equal(grad_out, before[1])):
            raise CheckFailed("selu_backward changed x or grad_out in place: compute a new tensor")
        if not torch.isfinite(out).all():
            bad = x[~torch.isfinite(out)][0].item()
            raise CheckFailed(f"{dtype}: your gradient is not finite at x = {bad:g}: exponentiate "
                              "only x <= 0 (torch.exp(torch.clamp(x, max=0))).")
        slope = _autograd_slope(x)
        want = grad_out * slope
        off_kink = x != 0
        err, i = _worst(out[off_kink], want[off_kink])
        if err > TOLERANCE[dtype]:
            xi = x[off_kink][i].item()
            got = out[off_kink][i].item()
            plain = slope[off_kink][i].item()
            if abs(got - plain) < 1e-6 * max(1, abs(plain)):
                hint = "multiply the local slope by grad_out (the chain rule)"
            elif xi < 0 and abs(got - grad_out[off_kink][i].item() * SELU_LAMBDA * SELU_ALPHA
                                * math.expm1(xi)) < 1e-6:
                hint = "the slope of alpha (e^x - 1) is alpha e^x, without the - 1"
            elif xi > 0 and abs(got - grad_out[off_kink][i].item()) < 1e-6:
                hint = "the slope for x > 0 is lambda, not 1"
            else:
                hint = "compare with lambda (x > 0) and lambda alpha e^x (x < 0), times grad_out"
            raise CheckFailed(f"{dtype}: at x = {xi:g} you return {got:.10g}, autograd through "
                              f"F.selu gives {want[off_kink][i].item():.10g}: {hint}.")
        at_zero = out[~off_kink].double() / grad_out[~off_kink].double()
        sides = torch.tensor([SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA], dtype=torch.float64)
        if not all(((z - sides).abs() < 1e-6).any() for z in at_zero):
            raise CheckFailed("at x = 0 (the kink) return either side's slope, lambda or lambda "
                              f"alpha; you return {at_zero[0].item():.6g} times grad_out")
    passed("grad_out * selu'(x) agrees with autograd through F.selu in float32 and float64, "
           "including huge |x|")


class _WrongBackward(torch.autograd.Function):
    """SELU forward with a backward that forgets lambda on the negative side: gradcheck must fail."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return F.selu(x)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad_out * torch.where(x > 0, SELU_LAMBDA, SELU_ALPHA * torch.exp(x.clamp(max=0)))


class _RightBackward(torch.autograd.Function):
    """SELU with a correct hand-written backward: gradcheck must pass."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return F.selu(x)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad_out * torch.where(x > 0, SELU_LAMBDA,
                                      SELU_LAMBDA * SELU_ALPHA * torch.exp(x.clamp(max=0)))


def check_passes_gradcheck(fn: Callable[[Callable[..., torch.Tensor]], bool]) -> None:
    """``fn(apply)`` must return True for a SELU Function with a correct backward and False (not
    raise) for one whose backward is wrong: gradcheck in float64, away from the kink at 0."""
    right = call("your passes_gradcheck", fn, _RightBackward.apply)
    if right is not True:
        raise CheckFailed(
            f"for a correct SELU Function your passes_gradcheck returned {right!r}, expected True. "
            "Use a float64 input with requires_grad=True (finite differences in float32 are too "
            "coarse), keep the points away from x = 0 (the kink breaks finite differences), and "
            "return torch.autograd.gradcheck(...)'s result.")
    try:
        wrong = call("your passes_gradcheck", fn, _WrongBackward.apply)
    except CheckFailed as err:
        if type(err.__cause__).__name__ == "GradcheckError":
            raise CheckFailed(
                "for a SELU Function whose backward is wrong, gradcheck raised instead of returning "
                "False: pass raise_exception=False to torch.autograd.gradcheck.") from err.__cause__
        raise
    if wrong is not False:
        raise CheckFailed(
            f"for a SELU Function whose backward forgets lambda on the negative side, your "
            f"passes_gradcheck returned {wrong!r}, expected False. Pass raise_exception=False to "
            "gradcheck (it raises by default), and make sure your points include negative x.")
    passed("True for a correct backward, False for a wrong one")


def check_moments(fn: Callable[..., Sequence[tuple[float, float]]], depth: int = 40) -> None:
    """``fn(act, depth, weight_scale2=1.0, dropout=None)`` must return ``depth`` (mean, variance)
    pairs: with ``F.selu`` and LeCun-normal weights the last ten must be near (0, 1); with
    ``weight_scale2=2`` the variance must run away; with ``dropout=nn.AlphaDropout(0.1)`` they must
    still be near (0, 1)."""
    lecun = _pairs(call("your layer_moments", fn, F.selu, depth), depth, "LeCun normal")
    _near_fixed_point(lecun, "F.selu with LeCun-normal weights (weight_scale2=1)",
                      "Draw W with std sqrt(weight_scale2 / width) and zero bias, apply the "
                      "activation after every layer, and measure x.mean() and x.var() over the "
                      "whole batch.")
    he = _pairs(call("your layer_moments", fn, F.selu, depth, weight_scale2=2.0), depth,
                "weight_scale2=2")
    if not max(v for _, v in he[-10:]) > 5:
        raise CheckFailed(f"with weight_scale2 = 2 the variance should grow far above 1, but your "
                          f"last layers give {he[-1][1]:.3g}: is weight_scale2 used in the std of W "
                          "(std = sqrt(weight_scale2 / width))?")
    alpha = _pairs(call("your layer_moments", fn, F.selu, depth, dropout=torch.nn.AlphaDropout(0.1)),
                   depth, "AlphaDropout")
    _near_fixed_point(alpha, "AlphaDropout(0.1) after each SELU",
                      "apply the dropout module after the activation, in training mode.")
    passed(f"SELU with LeCun-normal weights and with AlphaDropout settles at (0, 1) over {depth} "
           "layers; with weight_scale2 = 2 the variance runs away")


def _pairs(value: Any, depth: int, what: str) -> list[tuple[float, float]]:
    try:
        pairs = [(float(m), float(v)) for m, v in value]
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what}: return a list of (mean, variance) pairs, one per layer: "
                          f"{err}") from err
    if len(pairs) != depth:
        raise CheckFailed(f"{what}: expected {depth} (mean, variance) pairs, got {len(pairs)}")
    return pairs


def _near_fixed_point(pairs: Sequence[tuple[float, float]], what: str, hint: str,
                      mean_tol: float = 0.1, var_tol: float = 0.15) -> None:
    tail = pairs[-10:]
    worst_mean = max(abs(m) for m, _ in tail)
    worst_var = max(abs(v - 1) for _, v in tail)
    if not (worst_mean < mean_tol and worst_var < var_tol):
        raise CheckFailed(f"{what}: the last ten layers should have mean within {mean_tol} of 0 and "
                          f"variance within {var_tol} of 1; yours reach |mean| {worst_mean:.3f}, "
                          f"|variance - 1| {worst_var:.3f}. {hint}")


def check_self_normalisation(moments: Mapping[str, Sequence[tuple[float, float]]]) -> None:
    """The lab's four settings, run with the learner's own SELU: ``"lecun"`` and ``"alpha"`` near
    (0, 1) at the end, ``"he"`` with a runaway variance, ``"dropout"`` with a variance above 1.2."""
    for key in ("lecun", "alpha", "he", "dropout"):
        if key not in moments:
            raise CheckFailed(f"moments needs the setting {key!r}; it has {sorted(moments)}")
    _near_fixed_point(moments["lecun"], "your SELU, LeCun normal", "Is your SELU correct?")
    _near_fixed_point(moments["alpha"], "your SELU with AlphaDropout", "Is the dropout applied "
                      "after the activation, in training mode?")
    if not moments["he"][-1][1] > 5:
        raise CheckFailed("with He's ReLU init the variance should run away")
    if not min(v for _, v in moments["dropout"][-10:]) > 1.2:
        raise CheckFailed("ordinary Dropout(0.1) should settle at a variance well above 1: it keeps "
                          "the mean but rescales the survivors by 1/(1 - p)")
    passed("your SELU self-normalises with LeCun-normal weights and with AlphaDropout; He's ReLU "
           "init and ordinary dropout break it")
