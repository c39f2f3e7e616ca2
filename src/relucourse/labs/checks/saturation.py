"""Friendly checkers for the sigmoid lab (labs/02_sigmoid_lab.ipynb).

Each checker prints a ✅ line saying what it verified, or raises ``AssertionError`` with a hint, so a
learner sees *why* an answer is off, and CI fails when a reference solution
(``relucourse.labs.solutions``, run while a lab's exercise is still a stub) stops passing.
Reference values come from torch (``torch.sigmoid``, autograd) and ``relucourse.theory.saturation``, never
from numbers typed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from relucourse.theory.saturation import sigmoid_depth_bound, sigmoid_layer_factor_bound

TensorFn = Callable[[torch.Tensor], torch.Tensor]


def _grid(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Inputs from deep saturation to the centre, including exact 0 and large |x|."""
    return torch.cat([torch.linspace(-30, 30, 601, dtype=dtype),
                      torch.tensor([0.0, -80.0, 80.0, -800.0, 800.0], dtype=dtype)])


def _call(fn: TensorFn, x: torch.Tensor, what: str) -> torch.Tensor:
    try:
        out = fn(x.clone())
    except Exception as err:  # the learner's code: report, do not crash with a bare traceback
        raise AssertionError(f"{what} raised {type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor):
        raise AssertionError(f"{what} should return a torch.Tensor, got {type(out).__name__}")
    if out.shape != x.shape:
        raise AssertionError(f"{what} should keep the input's shape {tuple(x.shape)}, "
                             f"got {tuple(out.shape)}")
    return out


def check_sigmoid(fn: TensorFn) -> None:
    """``fn(x)`` must equal 1 / (1 + exp(-x)) elementwise, without inf/nan for large |x|."""
    x = _grid()
    out = _call(fn, x, "your sigmoid")
    if not torch.isfinite(out).all():
        bad = x[~torch.isfinite(out)][0].item()
        raise AssertionError(
            f"your sigmoid returns inf/nan at x = {bad:g}. The form exp(x) / (1 + exp(x)) gives "
            "inf / inf = nan for large x; 1 / (1 + exp(-x)) is safe there (for very negative x, "
            "exp(-x) = inf and 1 / (1 + inf) = 0, which is the right limit).")
    expected = torch.sigmoid(x)
    err = (out.double() - expected).abs().max().item()
    if err > 1e-6:
        at = x[(out.double() - expected).abs().argmax()].item()
        hint = " (at x = 0 it must be exactly 1/2)" if abs(at) < 1e-12 else ""
        raise AssertionError(f"your sigmoid is off by {err:.3g} at x = {at:g}{hint}. "
                             "Check the sign inside exp: sigmoid(x) = 1 / (1 + exp(-x)).")
    if (out < 0).any() or (out > 1).any():
        raise AssertionError("a sigmoid must stay inside [0, 1]")
    print(f"✅ sigmoid matches torch.sigmoid on {x.numel()} points (max error {err:.1e}), "
          "finite even at |x| = 800")


def check_sigmoid_derivative(fn: TensorFn) -> None:
    """``fn(x)`` must equal d sigmoid / dx, compared with autograd on ``torch.sigmoid``."""
    x = _grid()
    out = _call(fn, x, "your derivative")
    xg = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.sigmoid(xg).sum(), xg)
    diff = (out.double() - expected).abs()
    err = diff.max().item() if torch.isfinite(out).all() else math.inf
    if err > 1e-6:
        at = x[diff.nan_to_num(math.inf).argmax()].item()
        raise AssertionError(
            f"your derivative is off by {err:.3g} at x = {at:g} (autograd says "
            f"{expected[x == at][0].item():.6g}). Write it with s = sigmoid(x): s' = s (1 - s), "
            "and compute s with a numerically safe sigmoid.")
    peak = out.max().item()
    print(f"✅ sigmoid' matches autograd on {x.numel()} points (max error {err:.1e}); "
          f"its largest value is {peak:.4f}, at x = {x[out.argmax()].item():g}")


def check_factor_prediction(predicted: float, n_var_w: float = 1.0 / 3.0) -> None:
    """A prediction of the per-layer gradient factor for sigmoid with n Var[W] = ``n_var_w``."""
    bound = sigmoid_layer_factor_bound(n_var_w)
    if not math.isfinite(predicted) or predicted <= 0:
        raise AssertionError(f"a per-layer factor is a positive number, got {predicted!r}")
    if abs(predicted / bound - 1) > 0.05:
        hint = ""
        if abs(predicted - 0.25) < 0.01:
            hint = " That is sigmoid's slope alone; the weights multiply in sqrt(n Var[W]) too."
        elif abs(predicted - n_var_w / 16) < 0.01:
            hint = " That is the factor on the squared norm; take its square root."
        raise AssertionError(f"predicted {predicted:.4g}, but the bound is {bound:.4g}.{hint} "
                             "Per layer ||delta|| scales by sqrt(n Var[W] E[sigmoid'(z)^2]) and "
                             "sigmoid' <= 1/4.")
    print(f"✅ per-layer factor at most sqrt(n Var[W] / 16) = {bound:.4f}")


def check_ratio_prediction(predicted: float, depth: int, n_var_w: float = 1.0 / 3.0) -> None:
    """A prediction of ||dL/dW_1|| / ||dL/dW_L|| for ``depth`` sigmoid layers, every layer applying
    the per-layer bound (layer 1 differs a little in practice: it sees the data)."""
    bound = sigmoid_depth_bound(depth, n_var_w)
    if not math.isfinite(predicted) or predicted <= 0:
        raise AssertionError(f"a ratio of gradient norms is a positive number, got {predicted!r}")
    if abs(predicted / bound - 1) > 0.05:
        factor = sigmoid_layer_factor_bound(n_var_w)
        hint = ""
        if abs(predicted / factor**depth - 1) < 0.05:
            hint = f" That is {depth} factors; from layer {depth} down to layer 1 there are {depth - 1}."
        elif abs(predicted * bound - 1) < 0.05:
            hint = " That is layer L / layer 1; the question asks for layer 1 / layer L."
        raise AssertionError(f"predicted {predicted:.4g}, but the bound compounds to {bound:.4g}.{hint}"
                             " Multiply the per-layer factor once per layer between the two.")
    print(f"✅ layer 1 / layer {depth} at most (per-layer factor)^{depth - 1} = {bound:.3g}")


def check_gradient_norms(fn: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], Sequence[float]],
                         model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """``fn(model, x, y)`` must return ||dL/dW_l|| of every hidden layer (``model.blocks[i].linear``),
    input side first, from one cross-entropy backward; calling it twice must give the same norms."""
    from relucourse.theory.saturation import layer_gradient_norms

    expected = layer_gradient_norms(model, x, y)
    runs = []
    for _ in range(2):
        try:
            got = fn(model, x, y)
        except Exception as err:  # the learner's code: report, do not crash with a bare traceback
            raise AssertionError(f"your gradient norms raised {type(err).__name__}: {err}") from err
        got = [float(g) for g in got]
        if len(got) != len(expected):
            raise AssertionError(f"expected one norm per hidden layer ({len(expected)}), got "
                                 f"{len(got)}; leave the head out (model.blocks[i].linear only)")
        runs.append(got)
    close = lambda a, b: all(abs(u / v - 1) < 1e-5 for u, v in zip(a, b, strict=True))  # noqa: E731
    if close(runs[0], expected) and not close(runs[1], expected):
        raise AssertionError("a second call gives different norms: .grad accumulates across "
                             "backward calls, so call model.zero_grad() first")
    if not close(runs[0], expected):
        hint = (" They are in reverse order: input side (blocks.0) first."
                if close(runs[0][::-1], expected) else
                " Use the weight's gradient (block.linear.weight.grad), its L2 norm, and a mean "
                "cross-entropy over the whole batch.")
        raise AssertionError(f"your norms {[f'{g:.3g}' for g in runs[0]]} differ from "
                             f"{[f'{g:.3g}' for g in expected]}.{hint}")
    print(f"✅ gradient norms of all {len(expected)} hidden layers match the package's measurement")


def check_measured_profile(norms: Sequence[float], depth: int, n_var_w: float = 1.0 / 3.0,
                           slack: float = 1.25) -> float:
    """Compare a measured per-layer gradient profile of a sigmoid MLP with the bound.

    ``norms`` are ||dL/dW_l|| for l = 1..depth. Returns the measured per-layer factor (layers 2..L).
    The bound holds in expectation; ``slack`` leaves room for finite-width fluctuations.
    """
    from relucourse.theory.saturation import per_layer_factor

    if len(norms) != depth:
        raise AssertionError(f"expected one gradient norm per hidden layer ({depth}), "
                             f"got {len(norms)}")
    if norms[0] >= norms[-1]:
        raise AssertionError("the first layer's gradient should be the smallest for sigmoid at "
                             "init; are the norms ordered input side first (blocks.0 first)?")
    factor = per_layer_factor(norms)
    bound = sigmoid_layer_factor_bound(n_var_w)
    if factor > slack * bound:
        raise AssertionError(f"measured per-layer factor {factor:.4f} is well above the bound "
                             f"{bound:.4f}; check the init (PyTorch default) and the activation")
    print(f"✅ measured per-layer factor {factor:.4f}, bound {bound:.4f} (it holds on average over "
          "initialisations; one network may exceed it a little)")
    print(f"   over {depth} layers "
          f"the bound compounds to {sigmoid_depth_bound(depth, n_var_w):.2e}, "
          f"measured layer 1 / layer {depth} = {norms[0] / norms[-1]:.2e}")
    return factor
