"""Friendly checkers for the sigmoid lab (labs/02_sigmoid_lab.ipynb).

Each checker prints an ``[ok]`` line saying what it verified, or raises ``CheckFailed`` with a hint,
so a learner sees *why* an answer is off, and CI fails when a reference solution (run while a lab's
exercise is still a stub; written in ``relucourse/labs/sources/02_sigmoid_lab.py``) stops passing.
The learner's functions are tried on what later cells give them (float32 and float64 tensors, and
autograd through the sigmoid in Task 2). Reference values come from torch (``torch.sigmoid``,
autograd) and ``relucourse.theory.saturation``, never from numbers typed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from relucourse.labs.checks import CheckFailed, autograd_slope, call, elementwise, passed
from relucourse.theory.saturation import sigmoid_depth_bound, sigmoid_layer_factor_bound

TensorFn = Callable[[torch.Tensor], torch.Tensor]

# The largest error accepted per dtype: float64 answers must be float64-accurate (Task 2's cell
# compares autograd with the formula to 1e-12).
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def _grid(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Inputs from deep saturation to the centre, including exact 0 and large |x|."""
    return torch.cat([torch.linspace(-30, 30, 601, dtype=dtype),
                      torch.tensor([0.0, -80.0, 80.0, -800.0, 800.0], dtype=dtype)])


def _precision_hint(dtype: torch.dtype, err: float) -> str:
    if dtype == torch.float64 and err < TOLERANCE[torch.float32]:
        return (" That is float32 precision: part of your computation runs in float32 (a .float(), "
                "or a constant made with dtype=torch.float32).")
    return ""


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what} is a number, got {value!r}") from err


def check_sigmoid(fn: TensorFn) -> None:
    """``fn(x)`` must equal 1 / (1 + exp(-x)) elementwise in float32 and float64 (keeping the
    dtype), without inf/nan for large |x|, without changing ``x``, and autograd must go through it."""
    for dtype in (torch.float64, torch.float32):
        x = _grid(dtype)
        out = elementwise("your sigmoid", fn, x)
        if not torch.isfinite(out).all():
            bad = x[~torch.isfinite(out)][0].item()
            raise CheckFailed(
                f"your sigmoid returns inf/nan at x = {bad:g}. The form exp(x) / (1 + exp(x)) gives "
                "inf / inf = nan for large x; 1 / (1 + exp(-x)) is safe there (for very negative x, "
                "exp(-x) = inf and 1 / (1 + inf) = 0, which is the right limit).")
        expected = torch.sigmoid(x.double())
        diff = (out.double() - expected).abs()
        err = diff.max().item()
        if err > TOLERANCE[dtype]:
            at = x[diff.argmax()].item()
            hint = " (at x = 0 it must be exactly 1/2)" if abs(at) < 1e-12 else ""
            advice = _precision_hint(dtype, err) or \
                " Check the sign inside exp: sigmoid(x) = 1 / (1 + exp(-x))."
            raise CheckFailed(f"{dtype}: your sigmoid is off by {err:.3g} at x = {at:g}{hint}.{advice}")
        if (out < 0).any() or (out > 1).any():
            raise CheckFailed("a sigmoid must stay inside [0, 1]")
    x = torch.linspace(-8, 8, 33, dtype=torch.float64)
    slope = autograd_slope("your sigmoid", fn, x)
    slope_err = (slope - torch.sigmoid(x) * (1 - torch.sigmoid(x))).abs().max().item()
    if not slope_err < TOLERANCE[torch.float64]:
        raise CheckFailed(f"autograd's slope of your sigmoid is off by {slope_err:.3g}: write it with "
                          "torch operations on x, so that autograd sees the formula.")
    passed(f"sigmoid matches torch.sigmoid on {_grid().numel()} points in float32 and float64, "
           "finite even at |x| = 800, and autograd goes through it")


def check_sigmoid_derivative(fn: TensorFn) -> None:
    """``fn(x)`` must equal d sigmoid / dx, compared with autograd on ``torch.sigmoid``, in float32
    and float64 (keeping the dtype)."""
    for dtype in (torch.float32, torch.float64):  # float64 last: the printed peak comes from it
        x = _grid(dtype)
        out = elementwise("your derivative", fn, x)
        xg = x.double().requires_grad_(True)
        (expected,) = torch.autograd.grad(torch.sigmoid(xg).sum(), xg)
        diff = (out.double() - expected).abs()
        err = diff.max().item() if torch.isfinite(out).all() else math.inf
        if err > TOLERANCE[dtype]:
            i = diff.nan_to_num(math.inf).argmax()
            raise CheckFailed(
                f"{dtype}: your derivative is off by {err:.3g} at x = {x[i].item():g} (autograd says "
                f"{expected[i].item():.6g}).{_precision_hint(dtype, err)} Write it with s = sigmoid(x): "
                "s' = s (1 - s), and compute s with a numerically safe sigmoid.")
    peak = out.max().item()
    passed(f"sigmoid' matches autograd on {x.numel()} points in float32 and float64; its largest "
           f"value is {peak:.4f}, at x = {round(x[out.argmax()].item(), 3) + 0.0:g}")


def check_factor_prediction(predicted: float, n_var_w: float = 1.0 / 3.0) -> None:
    """A prediction of the per-layer gradient factor for sigmoid with n Var[W] = ``n_var_w``."""
    bound = sigmoid_layer_factor_bound(n_var_w)
    predicted = _number(predicted, "a per-layer factor")
    if not math.isfinite(predicted) or predicted <= 0:
        raise CheckFailed(f"a per-layer factor is a positive number, got {predicted!r}")
    if abs(predicted / bound - 1) > 0.05:
        hint = ""
        if abs(predicted - 0.25) < 0.01:
            hint = " That is sigmoid's slope alone; the weights multiply in sqrt(n Var[W]) too."
        elif abs(predicted - n_var_w / 16) < 0.01:
            hint = " That is the factor on the squared norm; take its square root."
        raise CheckFailed(f"predicted {predicted:.4g}, but the bound is {bound:.4g}.{hint} "
                          "Per layer ||delta|| scales by sqrt(n Var[W] E[sigmoid'(z)^2]) and "
                          "sigmoid' <= 1/4.")
    passed(f"per-layer factor at most sqrt(n Var[W] / 16) = {bound:.4f}")


def check_ratio_prediction(predicted: float, depth: int, n_var_w: float = 1.0 / 3.0) -> None:
    """A prediction of ||dL/dW_1|| / ||dL/dW_L|| for ``depth`` sigmoid layers, every layer applying
    the per-layer bound (layer 1 differs a little in practice: it sees the data)."""
    bound = sigmoid_depth_bound(depth, n_var_w)
    predicted = _number(predicted, "a ratio of gradient norms")
    if not math.isfinite(predicted) or predicted <= 0:
        raise CheckFailed(f"a ratio of gradient norms is a positive number, got {predicted!r}")
    if abs(predicted / bound - 1) > 0.05:
        factor = sigmoid_layer_factor_bound(n_var_w)
        hint = ""
        if abs(predicted / factor**depth - 1) < 0.05:
            hint = f" That is {depth} factors; from layer {depth} down to layer 1 there are {depth - 1}."
        elif abs(predicted * bound - 1) < 0.05:
            hint = " That is layer L / layer 1; the question asks for layer 1 / layer L."
        raise CheckFailed(f"predicted {predicted:.4g}, but the bound compounds to {bound:.4g}.{hint}"
                          " Multiply the per-layer factor once per layer between the two.")
    passed(f"layer 1 / layer {depth} at most (per-layer factor)^{depth - 1} = {bound:.3g}")


def check_gradient_norms(fn: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], Sequence[float]],
                         model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """``fn(model, x, y)`` must return ||dL/dW_l|| of every hidden layer (``model.blocks[i].linear``),
    input side first, from one cross-entropy backward; calling it twice must give the same norms."""
    from relucourse.theory.saturation import layer_gradient_norms

    expected = layer_gradient_norms(model, x, y)
    runs = []
    for _ in range(2):
        got = call("your gradient norms", fn, model, x, y)
        try:
            got = [float(g) for g in got]
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"return a list of numbers, one per hidden layer, got {got!r}") from err
        if len(got) != len(expected):
            raise CheckFailed(f"expected one norm per hidden layer ({len(expected)}), got "
                              f"{len(got)}; leave the head out (model.blocks[i].linear only)")
        runs.append(got)
    close = lambda a, b: all(abs(u / v - 1) < 1e-5 for u, v in zip(a, b, strict=True))  # noqa: E731
    if close(runs[0], expected) and not close(runs[1], expected):
        raise CheckFailed("a second call gives different norms: .grad accumulates across "
                          "backward calls, so call model.zero_grad() first")
    if not close(runs[0], expected):
        hint = (" They are in reverse order: input side (blocks.0) first."
                if close(runs[0][::-1], expected) else
                " Use the weight's gradient (block.linear.weight.grad), its L2 norm, and a mean "
                "cross-entropy over the whole batch.")
        raise CheckFailed(f"your norms {[f'{g:.3g}' for g in runs[0]]} differ from "
                          f"{[f'{g:.3g}' for g in expected]}.{hint}")
    passed(f"gradient norms of all {len(expected)} hidden layers match the package's measurement")


def check_measured_profile(norms: Sequence[float], depth: int, n_var_w: float = 1.0 / 3.0,
                           slack: float = 1.25) -> float:
    """Compare a measured per-layer gradient profile of a sigmoid MLP with the bound.

    ``norms`` are ||dL/dW_l|| for l = 1..depth. Returns the measured per-layer factor (layers 2..L).
    The bound holds in expectation; ``slack`` leaves room for finite-width fluctuations.
    """
    from relucourse.theory.saturation import per_layer_factor

    if len(norms) != depth:
        raise CheckFailed(f"expected one gradient norm per hidden layer ({depth}), "
                          f"got {len(norms)}")
    if norms[0] >= norms[-1]:
        raise CheckFailed("the first layer's gradient should be the smallest for sigmoid at "
                          "init; are the norms ordered input side first (blocks.0 first)?")
    factor = per_layer_factor(norms)
    bound = sigmoid_layer_factor_bound(n_var_w)
    if factor > slack * bound:
        raise CheckFailed(f"measured per-layer factor {factor:.4f} is well above the bound "
                          f"{bound:.4f}; check the init (PyTorch default) and the activation")
    passed(f"measured per-layer factor {factor:.4f}, bound {bound:.4f} (it holds on average over "
           "initialisations; one network may exceed it a little)")
    print(f"   over {depth} layers "
          f"the bound compounds to {sigmoid_depth_bound(depth, n_var_w):.2e}, "
          f"measured layer 1 / layer {depth} = {norms[0] / norms[-1]:.2e}")
    return factor
