"""Lab checkers, one module per subject (the subject names of ``relucourse.theory``), and what they
share: the ``CheckFailed`` exception whose message is the hint, ``call`` to run the learner's code,
and ``passed`` for the line a passing check prints.

Printed lines use plain-text markers (``[ok]``, and ``[skipped]`` in ``labs.exercise``), not emoji:
without an emoji font a symbol such as a "skip" sign renders as an empty box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relucourse._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, globals())

OK = "[ok]"


class CheckFailed(AssertionError):
    """A lab answer did not pass its check; the message is the hint for the learner.

    A subclass of ``AssertionError``, so a failed check still stops a notebook (and nbval).
    """


def passed(message: str) -> None:
    """Print the one line saying what a passing check verified."""
    print(f"{OK} {message}")


def call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, the learner's code: an exception becomes ``CheckFailed`` saying
    which answer raised what, instead of a bare traceback from inside the checker.

    ``NotImplementedError`` gets its own hint: an unwritten stub never gets here (``labs.exercise``
    recognises it and uses the reference), so it was raised by code the learner wrote.
    """
    try:
        return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError as err:
        raise CheckFailed(
            f"{what} raised NotImplementedError{f': {err}' if str(err) else ''}. Your code is "
            "in place of the stub, so this is an error in it, not a skipped exercise: finish every "
            "path through it. (To use the course's reference instead, put the stub back: a body "
            "of only `raise NotImplementedError`.)") from err
    except Exception as err:
        raise CheckFailed(f"{what} raised {type(err).__name__}: {err}") from err


def elementwise(what: str, fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn(x)`` for an elementwise tensor function: a tensor of ``x``'s shape *and dtype* (a
    float32-only answer fails here, with a hint, not later in float64 code), leaving ``x`` as it was.
    """
    import torch

    before = x.clone()
    out = call(what, fn, x)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what} should return a torch.Tensor, got {type(out).__name__}")
    if out.shape != x.shape:
        raise CheckFailed(f"{what} should keep the input's shape {tuple(x.shape)}, "
                          f"got {tuple(out.shape)}")
    if out.dtype != x.dtype:
        raise CheckFailed(
            f"for {x.dtype} input {what} returns {out.dtype}: keep the input's dtype (no .float() "
            "or .double(), no constants made with an explicit dtype). Later cells call it on "
            f"{x.dtype} tensors and compare to that precision.")
    if not torch.equal(x, before):
        raise CheckFailed(f"{what} changed its input in place (x.neg_(), x.exp_(), x *= ...): "
                          "compute a new tensor and leave x alone; the caller still needs it.")
    return out


def _in_place(err: BaseException | None) -> bool:
    return isinstance(err, RuntimeError) and ("in-place" in str(err) or "inplace" in str(err))


def autograd_slope(what: str, fn: Callable[[Any], Any], x: Any) -> Any:
    """d fn / dx at every point of ``x`` by autograd through ``fn`` (``fn`` elementwise): fails
    with a hint if ``fn`` cuts the graph or changes, in place, a tensor autograd needs."""
    import torch

    xg = x.detach().clone().requires_grad_(True)
    in_place = (f"autograd cannot differentiate {what}: it changes a tensor in place that the "
                "backward pass needs (x.exp_(), t.add_(1), t += 1...). Write it with out-of-place "
                "operations (torch.exp(-x), 1 + t): later cells differentiate through it.")
    try:
        out = call(what, fn, xg)
    except CheckFailed as err:
        if _in_place(err.__cause__):
            raise CheckFailed(f"{in_place} (PyTorch: {err.__cause__})") from err.__cause__
        raise
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        raise CheckFailed(f"autograd cannot differentiate {what}: its result is not connected to x "
                          "(.detach(), .item(), .numpy() or torch.tensor(...) inside it cut the "
                          "graph). Use torch operations on x itself: later cells differentiate it.")
    try:
        (grad,) = torch.autograd.grad(out.sum(), xg)
    except RuntimeError as err:
        if _in_place(err):
            raise CheckFailed(f"{in_place} (PyTorch: {err})") from err
        raise CheckFailed(f"autograd through {what} failed: {err}") from err
    return grad
