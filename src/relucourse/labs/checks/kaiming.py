"""Friendly checkers for the Kaiming-initialization lab (labs/05_kaiming_lab.ipynb).

Each checker prints an ``[ok]`` line saying what it verified, or raises ``CheckFailed`` with a hint,
so a learner sees *why*, and CI fails when a reference solution (run while a lab's exercise is
still a stub; written in ``relucourse/labs/sources/05_kaiming_lab.py``) stops passing. Reference
values come from
``relucourse.theory.kaiming`` (the chapter's derivation), never from numbers typed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from relucourse.labs.checks import CheckFailed, call, passed
from relucourse.records import Record
from relucourse.theory.kaiming import CHANCE_LOSS_10, homogeneous_factor, kaiming_variance


def check_relu_factor(value: float, tolerance: float = 0.02) -> None:
    """``value`` should estimate E[relu(y)^2] / Var[y] for a zero-mean symmetric y, i.e. 1/2."""
    expected = homogeneous_factor("relu")
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"relu_factor is a number (use .item()), got {value!r}") from err
    if not math.isfinite(value) or abs(value - expected) > tolerance:
        raise CheckFailed(
            f"got {value:.4f}, expected {expected} +- {tolerance}. Draw many y ~ N(0, s^2) "
            "(s != 1 makes a better test), then divide relu(y).pow(2).mean() by y.var().")
    passed(f"E[relu(y)^2] / Var[y] = {value:.4f}: ReLU keeps half of the second moment")


def _draw(init_fn: Callable[..., object], out_f: int, in_f: int, slope: float | None, mode: str,
          dtype: torch.dtype, seed: int) -> nn.Linear:
    """A fresh ``Linear(in_f, out_f)`` in ``dtype`` initialised by ``init_fn``, with
    ``negative_slope=slope, mode=mode``, or with its default arguments when ``slope`` is None."""
    torch.manual_seed(seed)
    layer = nn.Linear(in_f, out_f).to(dtype)
    weight_before, bias_before = layer.weight, layer.bias
    kwargs = {} if slope is None else {"negative_slope": slope, "mode": mode}
    call("your kaiming_init_", init_fn, layer, **kwargs)
    if layer.weight is not weight_before or layer.bias is not bias_before:
        raise CheckFailed("initialise in place (layer.weight.normal_(...) or copy_ under "
                          "torch.no_grad()), do not assign a new Parameter")
    for name, param in (("weight", layer.weight), ("bias", layer.bias)):
        if param.dtype != dtype:
            raise CheckFailed(f"on a {dtype} layer your init left the {name} as {param.dtype}: "
                              "write into the existing tensor (normal_, zero_, copy_) instead of "
                              "replacing .data. Exercise 3 initialises float64 layers.")
        if not param.requires_grad:
            raise CheckFailed(f"after your init the {name} no longer requires grad, so it would "
                              "never train: change values under torch.no_grad() instead.")
    return layer


def check_kaiming_init(init_fn: Callable[..., object]) -> None:
    """``init_fn(layer, negative_slope=0.0, mode="fan_in")`` must set, in place,
    W ~ zero-mean with Var[W] = 2 / ((1 + a^2) fan) (fan = in_features or out_features) and b = 0.

    Shapes are non-square so that mixing up fan_in and fan_out is caught. The last case is what
    later cells do: ``init_fn(layer)`` with the default arguments, on a float64 layer (Exercise 3;
    Exercise 4 uses float32 ones)."""
    cases = [(512, 128, 0.0, "fan_in", torch.float32), (512, 128, 0.0, "fan_out", torch.float32),
             (128, 768, 0.2, "fan_in", torch.float32), (96, 640, 0.2, "fan_out", torch.float32),
             (256, 256, None, "fan_in", torch.float64)]
    for i, (out_f, in_f, slope, mode, dtype) in enumerate(cases):
        layer = _draw(init_fn, out_f, in_f, slope, mode, dtype, seed=100 + i)
        w = layer.weight.detach().double()
        fan = in_f if mode == "fan_in" else out_f
        a = slope or 0.0
        expected = kaiming_variance(fan, a)
        got = w.var().item()
        where = (f"Linear({in_f}, {out_f}), " + ("default arguments" if slope is None else
                                                 f"negative_slope={slope}, mode={mode!r}"))
        if abs(got / expected - 1) > 0.05:
            hints = {kaiming_variance(in_f if mode == "fan_out" else out_f, a): "fan_in and "
                     "fan_out are swapped (nn.Linear's weight is (out_features, in_features))",
                     expected / 2: "the factor 2 for the zeroed half of ReLU's inputs is missing",
                     kaiming_variance(fan, 0.0): "the leaky slope a is ignored: divide by 1 + a^2"}
            hint = next((h for v, h in hints.items() if abs(got / v - 1) < 0.05),
                        "compare your std with sqrt(2 / ((1 + a^2) * fan))")
            raise CheckFailed(f"{where}: Var[W] = {got:.3g}, expected {expected:.3g}: {hint}.")
        if abs(w.mean().item()) > 5 * math.sqrt(expected / w.numel()):
            raise CheckFailed(f"{where}: the weights should have zero mean")
        if layer.bias is not None and layer.bias.detach().abs().max().item() != 0.0:
            raise CheckFailed(f"{where}: set the bias to zero (the derivation assumes b = 0)")
    passed("Var[W] = 2 / ((1 + a^2) fan) with zero bias, for fan_in and fan_out, a = 0 and 0.2, "
           "in float32 and float64")


def check_profiles(kaiming: Sequence[float], lecun: Sequence[float], depth: int) -> None:
    """Per-layer second moments E[x_l^2] of a ReLU stack: ``kaiming`` (Var[W] = 2/n) must stay
    flat, ``lecun`` (Var[W] = 1/n) must halve per layer, each within 5% per layer."""
    for name, values, target in (("Kaiming", kaiming, 1.0), ("Var[W] = 1/n", lecun, 0.5)):
        values = [float(v) for v in values]
        if len(values) != depth:
            raise CheckFailed(f"{name}: expected one value per hidden layer ({depth}), "
                              f"got {len(values)}")
        ratio = (values[-1] / values[0]) ** (1 / (depth - 1))
        if not math.isfinite(ratio) or abs(ratio / target - 1) > 0.05:
            raise CheckFailed(
                f"{name}: the second moment changes by x{ratio:.3f} per layer, expected "
                f"x{target}. Measure E[x^2] = x.pow(2).mean() after each activation, with zero "
                "biases, on a batch x ~ N(0, 1).")
        passed(f"{name}: x{ratio:.3f} per layer over {depth} layers (theory x{target})")


def _reference_inits() -> dict[str, Callable[[nn.Linear], None]]:
    """Var[W] = 2/n (torch's Kaiming) and Var[W] = 1/n, zero biases: inits to test a profiler with,
    independent of the learner's own ``kaiming_init_``."""

    def kaiming(layer: nn.Linear) -> None:
        with torch.no_grad():
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            layer.bias.zero_()

    def lecun(layer: nn.Linear) -> None:
        with torch.no_grad():
            layer.weight.normal_(0.0, 1.0 / math.sqrt(layer.in_features))
            layer.bias.zero_()

    return {"kaiming": kaiming, "lecun": lecun}


def check_second_moments(fn: Callable[..., Sequence[float]], depth: int = 30) -> None:
    """``fn(init_fn, depth)``: E[x_l^2] after each ReLU of a stack initialised with ``init_fn``.
    Run with torch's Kaiming init and with Var[W] = 1/n, it must pass :func:`check_profiles`."""
    inits = _reference_inits()
    profiles = {}
    for name, init_fn in inits.items():
        moments = call("your second_moments", fn, init_fn, depth)
        try:
            profiles[name] = [float(v) for v in moments]
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"second_moments(init_fn, {depth}) should return a list of "
                              f"{depth} numbers: {err}") from err
    print("with torch's kaiming_normal_ and with Var[W] = 1/n:")
    check_profiles(profiles["kaiming"], profiles["lecun"], depth)


def check_init_hidden_layers(fn: Callable[[nn.Module, Callable[[nn.Linear], object]], object]) -> None:
    """``fn(model, init_fn)`` must call ``init_fn`` once on every hidden layer's ``nn.Linear``
    (``model.blocks[i].linear``) of an MLP, and not on its head."""
    from relucourse.models import MLP

    model = MLP(8, 3, width=16, depth=5, activation="relu")
    calls: list[object] = []
    call("your init_hidden_layers_", fn, model, calls.append)
    hidden = [block.linear for block in model.blocks]
    if any(c is model.head for c in calls):
        raise CheckFailed("the head is not a hidden layer: leave it with PyTorch's default "
                          "(initialise model.blocks[i].linear only)")
    if any(not isinstance(c, nn.Linear) for c in calls):
        raise CheckFailed("call init_fn on each block's nn.Linear (block.linear), not on "
                          f"{type(next(c for c in calls if not isinstance(c, nn.Linear))).__name__}")
    reached = sum(any(c is layer for c in calls) for layer in hidden)
    if reached != len(hidden) or len(calls) != len(hidden):
        raise CheckFailed(f"init_fn reached {reached} of the {len(hidden)} hidden layers in "
                          f"{len(calls)} calls: loop over model.blocks, once per block")
    passed(f"init_fn applied once to each of the {len(hidden)} hidden layers, head left alone")


def check_stall(stalled: Sequence[Record], trained: Sequence[Record],
                plateau_steps: int, margin: float = 0.05) -> None:
    """``stalled`` runs must sit within ``margin`` of chance loss ln 10 for their first
    ``plateau_steps`` steps; every ``trained`` run must end at least ``4 * margin`` below it."""
    chance = CHANCE_LOSS_10
    for r in stalled:
        early = [loss for s, loss in zip(r.steps, r.train_loss, strict=True) if s <= plateau_steps]
        if not early or min(early) < chance - margin:
            raise CheckFailed(f"{r.label or 'a stalled run'}: its loss left the chance level "
                              f"{chance:.3f} early (min {min(early or [0.0]):.3f}). Is it deep "
                              "enough, with PyTorch's default init?")
    finals = [r.final_train_loss for r in trained]
    if not finals or max(finals) > chance - 4 * margin:
        raise CheckFailed(f"final losses of the Kaiming runs: {finals}; each should be below "
                          f"{chance - 4 * margin:.2f}. Did your init reach every hidden layer?")
    passed(f"default init: stuck at ln 10 = {chance:.3f} for {plateau_steps} steps; Kaiming: "
           f"final loss {min(finals):.3f} to {max(finals):.3f}")
