"""Train a whole sweep of same-shaped MLPs at once: stacked parameters and batched matmuls.

The chapters train many small models (activations x inits x depths x seeds). One small MLP leaves
a GPU (or even a CPU core) mostly idle, and a Python loop over models pays the per-step overhead
once per model. Here M members share one training loop: every weight is stored stacked as
``(M, out, in)`` and a hidden layer is one batched matmul,

    h_m <- act(h_m W_m^T + b_m)   for all m at once   (``torch.baddbmm``),

so the per-step overhead is paid once for the whole sweep. Used by ``experiments.sweep(...,
engine="batched")`` and measured against the loop in ``benchmarks/bench_engine.py``.

What makes a member identical (within float tolerance) to ``experiments.run`` of its config:

* **init**: each member is built by ``experiments.runner.init_model`` (seed, then build), exactly as
  ``fit`` does, and its parameters are stacked (``torch.func.stack_module_state``);
* **batch order**: per-model, not shared: member m draws its own epoch permutations from a
  generator seeded with its ``train.seed``, the very calls ``Dataset.batches`` makes;
* **loss**: the objective is sum_m L_m, and since dL/dtheta_m only involves L_m, each member gets
  exactly its own gradient;
* **optimiser**: ``train.make_optimizer`` over the stacked tensors. SGD (momentum, Nesterov,
  weight decay), Adam and RMSprop are elementwise, so one optimiser over stacked tensors keeps
  per-model state and gives every member its own update; the schedule scales every member's
  learning rate alike, and ``clip_norm`` clips each member by its own gradient norm. Members
  share the ``TrainConfig`` except ``seed`` and ``lr``: since every supported optimiser's step is
  proportional to the learning rate, the stack steps with one rate and rescales each member's
  step by its own ratio (so an LR grid x seeds trains as one stack, which is what makes
  ``tune`` cheap);
* **divergence**: a member whose training loss is not finite at an evaluation is cut there and
  marked ``diverged_at``, exactly where the loop stops it (the others are unaffected: no
  member's loss depends on another's parameters).

Only the matmuls' summation order differs from the one-model path, hence "within float tolerance".

Hot loop: data stay on the device, batches are gathered by indexing, and nothing is read back to
the host until training ends (losses and accuracies are accumulated as device tensors). Every
``Instrumentation.every`` steps a separate no-grad forward pass on a fixed probe batch records
per-layer activation statistics (and optionally weight-gradient norms) for every member, with no
hooks on the training forward pass. ``compile=True`` (torch.compile) and ``bf16=True`` (bfloat16
autocast) are CUDA-only options; elsewhere they print a note and use the plain float32 path.

**Normalisation and shortcuts** (``batchnorm``, ``layernorm``, ``residual``) work per member as
``models.MLP`` builds them: BatchNorm normalises each member over its own minibatch (torch's own
``batch_norm`` kernel, one channel per member and unit) and keeps each member's running statistics,
which evaluation and the probe pass use, as ``model.eval()`` does in the loop; LayerNorm
normalises each row with the member's own affine parameters; a shortcut adds the block's input.

**Activations as groups**: members may differ in activation (and its options). Each activation is
applied to its own contiguous slice of the stack (``train_many`` orders the members by group and
gives the results back in the order it was given), so one stack can hold a whole family of
activations x learning rates x seeds, and the per-step overhead is paid once for all of them.
PReLU has a learned slope, a parameter the other activations lack, so PReLU members stack only
with PReLU members.

Probes: ``probes.LayerStats`` (the periodic probe pass above) and ``probes.ZeroFractions`` (one
probe pass after training), each on the activations. Not supported (a clear ``ValueError`` says
so): CNNs, other probes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relucourse.activations import get_activation
from relucourse.config import ModelConfig, RunConfig, TrainConfig, fingerprint
from relucourse.data import Dataset
from relucourse.experiments import cache
from relucourse.experiments.runner import ProbeSpec, init_model, load_data, probes_for
from relucourse.records import EngineInfo, GradNorm, LayerStat, Record, ZeroStat
from relucourse.runtime import pick_device, show_progress
from relucourse.train import Callback, make_optimizer, make_scheduler, note_divergence

ENGINE_NAME = "batched"
# Fields that may differ between members of one stack: the initial values, and the activation
# (applied group by group, see StackedMLP; PReLU only with PReLU, see _model_shape).
PER_MEMBER_MODEL_FIELDS = ("init", "init_kwargs", "bias_init", "activation", "activation_kwargs")
# Train fields that may differ: the seed (batch order) and the learning rate (see _shared_train).
PER_MEMBER_TRAIN_FIELDS = ("seed", "lr")
SUPPORTED = ("arch='mlp' (batchnorm, layernorm and residual included), any registered activation "
             "(mixed in one stack; prelu only with prelu), any init scheme and bias_init, "
             "optimizers sgd (momentum, Nesterov, weight decay), adam and rmsprop, any schedule "
             "and clip_norm")
BN_MOMENTUM, NORM_EPS = 0.1, 1e-5  # nn.BatchNorm1d's and nn.LayerNorm's defaults (models.MLP)


def _note(message: str) -> None:
    print(f"[relucourse.experiments.batched] {message}")


@dataclass(frozen=True)
class Instrumentation:
    """Per-layer statistics recorded every ``every`` steps (and at step 0) for each member.

    Rows go to ``record.layer_stats`` as ``probes.LayerStats`` writes them (layer names
    ``blocks.i.act``; mean, std, zero_frac, second_moment, and dead_frac when ``per_unit_dead``),
    measured on the first ``n_probe`` training samples. ``grad_norms=True`` also fills
    ``record.grad_norms``: ||dL/dW|| of each hidden layer and the head at those steps.
    """

    every: int = 50
    n_probe: int = 512
    per_unit_dead: bool = True
    grad_norms: bool = False


@dataclass(frozen=True)
class EndZeros:
    """``probes.ZeroFractions`` for a stack: at the end of training, each hidden layer's
    exact-zero and near-zero (|a| < ``eps``) fractions on the first ``n_probe`` training samples,
    in eval mode, into ``record.zeros``."""

    n_probe: int = 1000
    eps: float = 1e-2


def check_stackable(cfgs: Sequence[RunConfig]) -> None:
    """Raise a ``ValueError`` naming the problem unless ``cfgs`` can train as one stack."""
    if not cfgs:
        raise ValueError("train_many needs at least one config")
    first = cfgs[0]
    for cfg in cfgs:
        m = cfg.model
        if m.arch != "mlp":
            raise ValueError(f"the batched engine trains MLPs only, not arch={m.arch!r}; "
                             f"supported: {SUPPORTED}")
        if cfg.data != first.data:
            raise ValueError("all members of one stack must share the data config")
        if _shared_train(cfg.train) != _shared_train(first.train):
            raise ValueError("all members of one stack must share the train config except "
                             f"{', '.join(PER_MEMBER_TRAIN_FIELDS)} ({cfg.train} vs {first.train})")
        if _model_shape(m) != _model_shape(first.model):
            raise ValueError("all members of one stack must share the model config except "
                             f"{', '.join(PER_MEMBER_MODEL_FIELDS)} ({m} vs {first.model})")


def _model_shape(model: ModelConfig) -> dict[str, Any]:
    """The model fields every member of a stack must share (all but ``PER_MEMBER_MODEL_FIELDS``),
    and whether it is a PReLU (its learned slope is a parameter the others do not have)."""
    shape = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)
             if f.name not in PER_MEMBER_MODEL_FIELDS}
    shape["learned_activation"] = model.activation == "prelu"
    return shape


def activation_key(model: ModelConfig) -> str:
    """Members with the same key are one activation group of a stack."""
    return fingerprint(model.activation, model.activation_kwargs)


def stack_key(cfg: RunConfig) -> str:
    """Configs with the same key can share one stack (``sweep`` groups by it)."""
    return fingerprint(cfg.data, _model_shape(cfg.model), _shared_train(cfg.train))


def _shared_train(train: TrainConfig) -> TrainConfig:
    """The train config with its per-member fields set to placeholders (what members share)."""
    return dataclasses.replace(train, seed=0, lr=1.0)


def build_members(cfgs: Sequence[RunConfig], n_features: int, num_classes: int,
                  device: torch.device) -> dict[str, torch.Tensor]:
    """Each member's MLP built as ``experiments.fit`` builds it, parameters stacked on dim 0.

    Keys are the MLP's parameter names (``blocks.0.linear.weight``, ``head.bias``...); values are
    leaf tensors of shape (M, *shape) that require grad.
    """
    return build_stack(cfgs, n_features, num_classes, device)[0]


def build_stack(cfgs: Sequence[RunConfig], n_features: int, num_classes: int,
                device: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                               list[bool]]:
    """``build_members``' parameters, the stacked buffers (BatchNorm's running statistics;
    ``num_batches_tracked`` is left out: with a fixed momentum nothing reads it), and which
    blocks have a shortcut (``models.MLP.skip``, the same for every member)."""
    models = [init_model(cfg.model, n_features, num_classes, cfg.train.seed) for cfg in cfgs]
    params, buffers = torch.func.stack_module_state(models)
    return ({name: p.detach().to(device).requires_grad_(True) for name, p in params.items()},
            {name: b.to(device) for name, b in buffers.items()
             if not name.endswith("num_batches_tracked")},
            list(models[0].skip))


def activation_groups(cfgs: Sequence[RunConfig]) -> list[tuple[int, int, str, dict[str, Any]]]:
    """(start, stop, activation, options) for each run of equal activations in ``cfgs``."""
    groups: list[tuple[int, int, str, dict[str, Any]]] = []
    start = 0
    for _, run in itertools.groupby(cfgs, key=lambda cfg: activation_key(cfg.model)):
        stop = start + len(list(run))
        m = cfgs[start].model
        groups.append((start, stop, m.activation, m.activation_kwargs))
        start = stop
    return groups


class StackedMLP:
    """Forward pass of M stacked MLPs; ``x`` is (M, B, F) (own batches) or (B, F) (shared).

    ``groups`` lists (start, stop, activation name, activation options) slices of the stack, in
    order and covering it; ``skips`` says which blocks add their input (``models.MLP.skip``);
    ``norm`` is "batchnorm", "layernorm" or None; ``buffers`` holds the stacked BatchNorm running
    statistics, updated in place by training-mode passes. ``training`` (set by the caller)
    chooses batch statistics and their update (True) or the running statistics (False), as
    ``nn.Module.train``/``eval`` do in the loop.
    """

    def __init__(self, params: dict[str, torch.Tensor], depth: int,
                 groups: Sequence[tuple[int, int, str, dict[str, Any]]],
                 skips: Sequence[bool] = (), norm: str | None = None,
                 buffers: dict[str, torch.Tensor] | None = None) -> None:
        self.params, self.depth, self.norm = params, depth, norm
        self.skips = list(skips) or [False] * depth
        self.buffers = buffers or {}
        self.training = True
        self.prelu = all(name == "prelu" for _, _, name, _ in groups)
        if not self.prelu and any(name == "prelu" for _, _, name, _ in groups):
            raise ValueError("PReLU members stack only with PReLU members")
        # Elementwise activations work on (M, B, W) as they do on (B, W); PReLU's learned slope
        # is per member, so it is applied by hand below (torch's prelu gives slope a at x = 0 too).
        self.groups = [(start, stop, None if self.prelu else get_activation(name, **kwargs))
                       for start, stop, name, kwargs in groups]

    def _linear(self, h: torch.Tensor, name: str) -> torch.Tensor:
        w, b = self.params[f"{name}.weight"], self.params[f"{name}.bias"]
        if h.dim() == 3:
            return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        return torch.matmul(h, w.transpose(1, 2)) + b.unsqueeze(1)

    def _normalise(self, h: torch.Tensor, i: int) -> torch.Tensor:
        weight, bias = self.params[f"blocks.{i}.norm.weight"], self.params[f"blocks.{i}.norm.bias"]
        m, b, w = h.shape
        if self.norm == "layernorm":
            return F.layer_norm(h, (w,), eps=NORM_EPS) * weight.unsqueeze(1) + bias.unsqueeze(1)
        # BatchNorm: every (member, unit) is one channel over that member's batch rows.
        mean = self.buffers[f"blocks.{i}.norm.running_mean"]
        var = self.buffers[f"blocks.{i}.norm.running_var"]
        flat = h.transpose(0, 1).reshape(b, m * w)
        out = F.batch_norm(flat, mean.view(-1), var.view(-1), weight.reshape(-1),
                           bias.reshape(-1), self.training, BN_MOMENTUM, NORM_EPS)
        return out.view(b, m, w).transpose(0, 1)

    def _activate(self, h: torch.Tensor, i: int) -> torch.Tensor:
        if self.prelu:
            slope = self.params[f"blocks.{i}.act.weight"].view(-1, 1, 1)
            return torch.where(h > 0, h, slope * h)
        if len(self.groups) == 1:
            return self.groups[0][2](h)  # type: ignore[misc]
        # split, not h[start:stop]: a slice's backward fills a zero tensor of the whole stack's
        # size per group, split's is one cat (measured: those zero-fills alone were 12% of the
        # CPU time of a 60-member, 10-layer stack with three activations).
        parts = h.split([stop - start for start, stop, _ in self.groups])
        return torch.cat([act(part) for part, (_, _, act) in zip(parts, self.groups, strict=True)])  # type: ignore[misc]

    def hidden(self, x: torch.Tensor, pres: list[torch.Tensor] | None = None
               ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every block's activation output, (M, B, width) each (what ``probes.LayerStats``
        records as ``blocks.i.act``), and the last block's output after its shortcut. A list
        passed as ``pres`` receives each block's pre-activation (what the activation gets)."""
        outs, h = [], x
        for i in range(self.depth):
            z = self._linear(h, f"blocks.{i}.linear")
            if self.norm is not None:
                z = self._normalise(z, i)
            if pres is not None:
                pres.append(z)
            a = self._activate(z, i)
            outs.append(a)
            h = h + a if self.skips[i] else a
        return outs, h

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(self.hidden(x)[1], "head")

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode inside the block (BatchNorm reads its running statistics), as
        ``model.eval()`` in the loop's evaluation and probes; training mode again after it."""
        self.training = False
        try:
            yield
        finally:
            self.training = True


def _member_losses(model: StackedMLP, x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member mean cross-entropy and number of correct predictions, each of shape (M,)."""
    logits = model(x)
    m, b, c = logits.shape
    losses = F.cross_entropy(logits.reshape(m * b, c).float(), y.reshape(m * b),
                             reduction="none").view(m, b).mean(1)
    return losses, (logits.detach().argmax(-1) == y).sum(1)


def _clip_members_(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` for each member on its own: member m's gradient norm is taken over
    its slices of every stacked parameter, as the loop takes it over one model's parameters."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()  # (M,)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))


@torch.no_grad()
def _evaluate(model: StackedMLP, x: torch.Tensor, y: torch.Tensor,
              batch_size: int = 4096) -> torch.Tensor:
    """(2, M): mean test cross-entropy and accuracy of every member (in eval mode, as
    ``train.evaluate``), left on the device."""
    loss_sum = correct = None
    with model.evaluating():
        for start in range(0, len(y), batch_size):
            logits = model(x[start : start + batch_size])
            target = y[start : start + batch_size]
            m, b, c = logits.shape
            loss = F.cross_entropy(logits.reshape(m * b, c), target.repeat(m),
                                   reduction="none").view(m, b).sum(1)
            hits = (logits.argmax(-1) == target).sum(1)
            loss_sum = loss if loss_sum is None else loss_sum + loss
            correct = hits if correct is None else correct + hits
    return torch.stack([loss_sum / len(y), correct.float() / len(y)])  # type: ignore[operator]


@torch.no_grad()
def _layer_stats(model: StackedMLP, probe: torch.Tensor, per_unit_dead: bool) -> torch.Tensor:
    """(layers, stats, M) on the device: mean, std, zero_frac, second_moment[, dead_frac,
    negative_frac], measured in eval mode (as ``probes.activations`` measures them)."""
    rows = []
    pres: list[torch.Tensor] = []
    with model.evaluating():
        outs = model.hidden(probe, pres)[0]
    for a, z in zip(outs, pres, strict=True):
        flat = a.float().flatten(1)
        cols = [flat.mean(1), flat.std(1), (flat == 0).float().mean(1), flat.pow(2).mean(1)]
        if per_unit_dead:
            cols.append((a == 0).all(dim=1).float().mean(1))
            cols.append((z < 0).all(dim=1).float().mean(1))
        rows.append(torch.stack(cols))
    return torch.stack(rows)


@torch.no_grad()
def _zero_fractions(model: StackedMLP, probe: torch.Tensor, eps: float) -> torch.Tensor:
    """(layers, 2, M): exact-zero and near-zero fractions of each layer, in eval mode."""
    with model.evaluating():
        outs = model.hidden(probe)[0]
    return torch.stack([torch.stack([(a == 0).float().flatten(1).mean(1),
                                     (a.abs() < eps).float().flatten(1).mean(1)]) for a in outs])


class _Batches:
    """Per-member batch indices, (M, B), drawn exactly as ``Dataset.batches`` draws them."""

    def __init__(self, seeds: Sequence[int], n: int, batch_size: int, device: torch.device) -> None:
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.n, self.bs, self.device = n, min(batch_size, n), device
        self.starts: list[int] = []
        self.perm: torch.Tensor | None = None

    def next(self) -> torch.Tensor:
        if not self.starts:
            # One host->device copy per epoch, for all members at once.
            self.perm = torch.stack([torch.randperm(self.n, generator=g) for g in self.gens])
            self.perm = self.perm.to(self.device)
            self.starts = list(range(0, self.n - self.bs + 1, self.bs))[::-1]
        start = self.starts.pop()
        return self.perm[:, start : start + self.bs]  # type: ignore[index]


def _resolve_options(device: torch.device, compile: bool, bf16: bool) -> tuple[bool, bool]:
    """Keep the CUDA-only options where they can work; otherwise say so and drop them."""
    if compile and device.type != "cuda":
        _note(f"compile=True is only used on CUDA (device is {device.type}); running uncompiled")
        compile = False
    if bf16 and device.type != "cuda":
        _note(f"bf16=True is only used on CUDA (device is {device.type}); running in float32")
        bf16 = False
    if bf16 and not torch.cuda.is_bf16_supported():
        _note("this GPU does not support bfloat16; running in float32")
        bf16 = False
    return compile, bf16


def train_many(
    cfgs: Sequence[RunConfig],
    data: Dataset,
    labels: Sequence[str] | None = None,
    instrument: Instrumentation | None = None,
    zeros: EndZeros | None = None,
    compile: bool = False,
    bf16: bool = False,
    progress: bool | None = None,
) -> list[Record]:
    """Train one member per config at once on ``data`` (already on the device); one result each.

    Each ``Record`` has the fields ``train.train`` fills. ``wall_time_s`` is the stack's wall
    time divided by M (its amortised share); ``record.engine`` says the stack size and the
    whole stack's time. Configs must be stackable (``check_stackable``); ``sweep`` groups them.
    """
    check_stackable(cfgs)
    labels = list(labels) if labels is not None else [""] * len(cfgs)
    if len(labels) != len(cfgs):
        raise ValueError(f"got {len(labels)} labels for {len(cfgs)} configs")
    # Activation groups must be contiguous slices: train in group order, answer in the given one.
    first_seen: dict[str, int] = {}
    for cfg in cfgs:
        first_seen.setdefault(activation_key(cfg.model), len(first_seen))
    order = sorted(range(len(cfgs)), key=lambda i: first_seen[activation_key(cfgs[i].model)])
    if order != list(range(len(cfgs))):
        done = train_many([cfgs[i] for i in order], data, [labels[i] for i in order],
                          instrument=instrument, zeros=zeros, compile=compile, bf16=bf16,
                          progress=progress)
        back = {i: rec for i, rec in zip(order, done, strict=True)}
        return [back[i] for i in range(len(cfgs))]
    device, tcfg, mcfg = data.device, cfgs[0].train, cfgs[0].model
    compile, bf16 = _resolve_options(device, compile, bf16)
    x_train, y_train = data.x_train.flatten(1), data.y_train
    x_test, y_test = data.x_test.flatten(1), data.y_test
    x_val = data.x_val.flatten(1) if data.has_val else None  # type: ignore[union-attr]
    params, buffers, skips = build_stack(cfgs, x_train.shape[1], data.num_classes, device)
    model = StackedMLP(params, mcfg.depth, activation_groups(cfgs), skips=skips,
                       norm="batchnorm" if mcfg.batchnorm else "layernorm" if mcfg.layernorm
                       else None, buffers=buffers)
    holder = nn.Module()
    holder.stacked = nn.ParameterList([nn.Parameter(p) for p in params.values()])
    model.params = dict(zip(params, holder.stacked, strict=True))
    optimizer = make_optimizer(holder, tcfg)
    scheduler = make_scheduler(optimizer, tcfg)
    # Members may have their own learning rates: the optimiser steps with the first member's, and
    # every member's step is then rescaled by lr_m / lr_0. All three optimisers' steps (and the
    # schedules) are proportional to the learning rate, so this is member m's own update.
    lr_scale = torch.tensor([c.train.lr / tcfg.lr for c in cfgs], device=device)
    rescale = bool((lr_scale != 1).any())
    batches = _Batches([c.train.seed for c in cfgs], len(y_train), tcfg.batch_size, device)

    loss_fn: Callable[..., tuple[torch.Tensor, torch.Tensor]] = _member_losses
    if compile:
        loss_fn = torch.compile(_member_losses)

    # (6, M) per eval: train loss, train acc, test loss, test acc, val loss, val acc (NaN: no split)
    evals: list[torch.Tensor] = []
    layer_rows: list[tuple[int, torch.Tensor]] = []
    grad_rows: list[tuple[int, torch.Tensor]] = []
    probe = x_train[: instrument.n_probe] if instrument else None

    def record_instruments(step: int) -> None:
        layer_rows.append((step, _layer_stats(model, probe, instrument.per_unit_dead)))  # type: ignore[arg-type,union-attr]
        if instrument.grad_norms and step > 0:  # type: ignore[union-attr]
            names = [f"blocks.{i}.linear.weight" for i in range(mcfg.depth)] + ["head.weight"]
            grad_rows.append((step, torch.stack([model.params[n].grad.flatten(1).norm(dim=1)
                                                 for n in names])))

    from tqdm.auto import tqdm

    show = show_progress() if progress is None else progress
    bar = tqdm(total=tcfg.steps, desc=f"{len(cfgs)} models", disable=not show, leave=False)
    start = time.perf_counter()
    if instrument:
        record_instruments(0)
    running = torch.zeros(len(cfgs), device=device)
    correct = torch.zeros(len(cfgs), device=device)
    count = 0
    no_val = torch.full((2, len(cfgs)), float("nan"), device=device)
    for step in range(1, tcfg.steps + 1):
        idx = batches.next()
        x, y = x_train[idx], y_train[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            try:
                losses, hits = loss_fn(model, x, y)
            except Exception as err:  # torch.compile can fail on the first call on some setups
                if loss_fn is _member_losses:
                    raise
                _note(f"torch.compile failed ({type(err).__name__}: {err}); running uncompiled")
                loss_fn = _member_losses
                losses, hits = loss_fn(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        if tcfg.clip_norm is not None:
            _clip_members_(list(holder.stacked), tcfg.clip_norm)
        if rescale:
            before = [p.detach().clone() for p in holder.stacked]
        optimizer.step()
        if rescale:
            with torch.no_grad():
                for p, b in zip(holder.stacked, before, strict=True):
                    p.copy_(torch.lerp(b, p, lr_scale.view(-1, *([1] * (p.dim() - 1)))))
        if scheduler is not None:
            scheduler.step()
        running += losses.detach()
        correct += hits
        count += 1
        if instrument and step % instrument.every == 0:
            record_instruments(step)
        if step % tcfg.eval_every == 0 or step == tcfg.steps:
            test = _evaluate(model, x_test, y_test)
            val = _evaluate(model, x_val, data.y_val) if x_val is not None else no_val
            train = torch.stack([running / count, correct / (count * batches.bs)])
            evals.append(torch.cat([train, test, val]))
            running = torch.zeros_like(running)
            correct = torch.zeros_like(correct)
            count = 0
        bar.update(1)
    bar.close()
    end_zeros = _zero_fractions(model, x_train[: zeros.n_probe], zeros.eps) if zeros else None
    # The only device -> host transfers: once, after training.
    curves = torch.stack(evals).tolist() if evals else []  # [eval][6][M]
    layers = [(s, t.tolist()) for s, t in layer_rows]  # [layer][stat][M]
    zero_table = end_zeros.tolist() if end_zeros is not None else None  # [layer][2][M]
    grads = [(s, t.tolist()) for s, t in grad_rows]  # [layer][M]
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    eval_steps = [s for s in range(1, tcfg.steps + 1) if s % tcfg.eval_every == 0 or s == tcfg.steps]
    stat_names = ["mean", "std", "zero_frac", "second_moment"]
    if instrument and instrument.per_unit_dead:
        stat_names += ["dead_frac", "negative_frac"]
    results = []
    for m, (label, cfg) in enumerate(zip(labels, cfgs, strict=True)):
        # As the loop does: stop at the first evaluation whose training loss is not finite.
        bad = [i for i, c in enumerate(curves) if not math.isfinite(c[0][m])]
        n = bad[0] + 1 if bad else len(curves)
        record = Record(
            steps=eval_steps[:n],
            train_loss=[c[0][m] for c in curves[:n]],
            train_acc=[c[1][m] for c in curves[:n]],
            test_loss=[c[2][m] for c in curves[:n]],
            test_acc=[c[3][m] for c in curves[:n]],
            val_loss=[c[4][m] for c in curves[:n]] if x_val is not None else [],
            val_acc=[c[5][m] for c in curves[:n]] if x_val is not None else [],
            diverged_at=eval_steps[bad[0]] if bad else None,
            wall_time_s=total / len(cfgs),
            device=device.type,
            label=label,
            activation=cfg.model.activation,
            engine=EngineInfo(name=ENGINE_NAME, models=len(cfgs), stack_wall_time_s=total,
                              compile=compile, bf16=bf16),
        )
        if record.diverged_at is not None:
            note_divergence(label, record.diverged_at, cfg.train)
        last = record.diverged_at or tcfg.steps
        if instrument:
            record.layer_stats = [
                LayerStat(step=s, layer=f"blocks.{i}.act",
                          **{k: table[i][j][m] for j, k in enumerate(stat_names)})
                for s, table in layers if s <= last for i in range(mcfg.depth)]
            if instrument.grad_norms:
                layer_names = [f"blocks.{i}.linear" for i in range(mcfg.depth)] + ["head"]
                record.grad_norms = [GradNorm(step=s, layer=name, grad_norm=table[i][m])
                                     for s, table in grads if s <= last
                                     for i, name in enumerate(layer_names)]
        if zero_table is not None:
            # (A diverged member's fractions are measured on its non-finite final weights, where
            # the loop measures them at the divergence step; record.zero_fraction() reads NaN
            # for both.)
            record.zeros = [ZeroStat(layer=f"blocks.{i}.act", zero_frac=row[0][m],
                                     near_zero_frac=row[1][m])
                            for i, row in enumerate(zero_table)]
        results.append(record)
    return results


def batchable(cfg: RunConfig, probes: Sequence[Callback] = ()) -> bool:
    """Whether ``sweep_batched`` can train ``cfg`` with these probes (``engine="auto"`` asks)."""
    try:
        check_stackable([cfg])
        engine_probes(probes)
    except ValueError:
        return False
    return True


def instrumentation_from_probe(probe: Callback) -> Instrumentation:
    """The engine's equivalent of a ``probes.LayerStats``."""
    from relucourse.probes import LayerStats

    if type(probe) is not LayerStats or probe.target != "act":
        raise ValueError(
            f"the batched engine can only reproduce LayerStats(target='act'), not {probe!r}; "
            "use sweep(engine='loop') for other probes, or pass instrument=Instrumentation(...)")
    return Instrumentation(every=probe.every, n_probe=probe.n_probe,
                           per_unit_dead=probe.per_unit_dead, grad_norms=False)


def engine_probes(probes: Sequence[Callback]) -> tuple[Instrumentation | None, EndZeros | None]:
    """The engine's equivalents of a run's probes: at most one ``probes.LayerStats`` and one
    ``probes.ZeroFractions``, both on the activations (``target="act"``); anything else raises
    a ``ValueError`` naming it."""
    from relucourse.probes import LayerStats, ZeroFractions

    instrument = zeros = None
    for probe in probes:
        if type(probe) is LayerStats and probe.target == "act" and instrument is None:
            instrument = instrumentation_from_probe(probe)
        elif type(probe) is ZeroFractions and probe.target == "act" and zeros is None:
            zeros = EndZeros(n_probe=probe.n_probe, eps=probe.eps)
        else:
            raise ValueError(
                f"the batched engine reproduces at most one LayerStats(target='act') and one "
                f"ZeroFractions(target='act') per run, not {probe!r} among {list(probes)!r}; "
                "use sweep(engine='loop') for other probes")
    return instrument, zeros


def sweep_batched(
    cfgs: dict[str, RunConfig] | Sequence[RunConfig],
    seeds: Sequence[int] = (0, 1, 2),
    probes: ProbeSpec | None = None,
    device: str | torch.device | None = None,
    use_cache: bool = True,
    compile: bool = False,
    bf16: bool = False,
) -> dict[str, list[Record]]:
    """``experiments.sweep`` with stacks: same inputs and output (label -> one record per seed).

    Configs are grouped by ``stack_key`` and each group trains at once. Records are cached one
    file per run, like ``experiments.run``, under a key that also names this engine (and the bf16
    option), so batched and loop records never stand in for each other.
    """
    dev = pick_device(device)
    if not isinstance(cfgs, dict):
        cfgs = {c.fingerprint(): c for c in cfgs}
    folder = cache.cache_dir() if use_cache else None
    if folder is not None:
        cache.ensure_writable(folder)
    done: dict[tuple[str, int], Record] = {}
    groups: dict[tuple[str, str], list[tuple[str, int, RunConfig, str]]] = {}
    instruments: dict[str, tuple[Instrumentation | None, EndZeros | None]] = {}
    for label, base in cfgs.items():
        label_probes = probes_for(probes, label)
        instruments[label] = engine_probes(label_probes)
        for s in seeds:
            cfg = base.replace(**{"train.seed": s})
            key = cache.cache_key(cfg, label_probes, dev, f"engine={ENGINE_NAME}",
                                  f"bf16={bf16 and dev.type == 'cuda'}")
            if folder is not None and (cached := cache.load(folder, key)) is not None:
                cached.label = f"{label} (seed {s})"
                done[(label, s)] = cached
            else:
                group = (stack_key(cfg), repr(instruments[label]))
                groups.setdefault(group, []).append((label, s, cfg, key))
    for members in groups.values():
        data = load_data(members[0][2], dev)
        instrument, zeros = instruments[members[0][0]]
        results = train_many([m[2] for m in members], data,
                             labels=[f"{lab} (seed {s})" for lab, s, _, _ in members],
                             instrument=instrument, zeros=zeros, compile=compile, bf16=bf16)
        for (label, s, cfg, key), result in zip(members, results, strict=True):
            done[(label, s)] = result
            if folder is not None:
                cache.store(folder, key, cfg, result)
    return {label: [done[(label, s)] for s in seeds] for label in cfgs}
