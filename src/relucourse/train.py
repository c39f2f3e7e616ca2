"""One device-agnostic training loop with a small callback protocol (minGPT style).

The loop knows nothing about probes: instruments plug in as ``Callback`` objects (``probes``) and
append what they measure to the typed fields of the ``records.Record`` it fills. Metrics are read
from the device only every ``eval_every`` steps, so the hot loop has no host syncs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from relucourse.config import OPTIMIZERS, TrainConfig
from relucourse.data import Dataset
from relucourse.records import Record
from relucourse.runtime import show_progress


@dataclass
class TrainState:
    """What callbacks see: the live model and optimiser, the step, the last batch's loss tensor."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    data: Dataset
    config: TrainConfig
    result: Record
    step: int = 0
    loss: torch.Tensor | None = None


class Callback:
    """Override any of these; all default to doing nothing.

    ``regularizer`` may return an extra loss term for the current batch (e.g. an L1 penalty on
    activations); it is called after the forward pass, before backward.
    """

    def on_train_start(self, state: TrainState) -> None: ...
    def regularizer(self, state: TrainState, x: torch.Tensor) -> torch.Tensor | None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_eval(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser ``cfg`` names: SGD (momentum, Nesterov), Adam (betas) or RMSprop (alpha).

    All three update each parameter entry from its own gradient history, which is what lets the
    batched engine run one optimiser over stacked members (``experiments.batched``).
    """
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas),
                                weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


def make_scheduler(optimizer: torch.optim.Optimizer,
                   cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule, stepped once per training step: ``constant`` (None),
    ``cosine`` (from ``lr`` down to 0 at the last step) or ``step`` (x ``gamma`` every
    ``step_size`` steps)."""
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    return None


def note_divergence(label: str, step: int, cfg: TrainConfig) -> None:
    """Say, once, that a run's loss stopped being finite (never a silent "accuracy 0.10")."""
    print(f"[relucourse.train] {label or 'run'}: the training loss is not finite at step {step} "
          f"({cfg.optimizer}, lr={cfg.lr:g}); training stopped and the run is recorded as "
          f"diverged (record.diverged_at = {step})")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 4096) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a whole split, in eval mode."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total_loss += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    model.train(was_training)
    return (total_loss / len(y)).item(), (correct / len(y)).item()


def train(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig,
    callbacks: Sequence[Callback] = (),
    label: str = "",
    progress: bool | None = None,
) -> Record:
    """Train ``model`` on ``data`` for ``cfg.steps`` minibatch steps; returns a ``Record``.

    Batch order comes from a generator seeded with ``cfg.seed``. Build and seed the model with
    ``experiments.fit`` (the one path that seeds, builds and trains) rather than by hand.

    Every ``eval_every`` steps the record gets the mean minibatch loss and accuracy since the last
    evaluation (in training mode, as the optimiser saw them), and the validation (when the data
    has a split) and test metrics. A non-finite training loss stops the run: ``diverged_at`` is
    set and a note printed, and the record's summaries then read NaN.
    """
    device = data.device
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    result = Record(device=device.type, label=label)
    state = TrainState(model, optimizer, data, cfg, result)
    generator = torch.Generator().manual_seed(cfg.seed)
    batches = data.batches(cfg.batch_size, generator)
    for cb in callbacks:
        cb.on_train_start(state)

    def record(step: int, running: torch.Tensor, correct: torch.Tensor, count: int,
               seen: int) -> None:
        result.steps.append(step)
        result.train_loss.append((running / max(count, 1)).item())
        result.train_acc.append((correct / max(seen, 1)).item())
        if data.has_val:
            val_loss, val_acc = evaluate(model, data.x_val, data.y_val)  # type: ignore[arg-type]
            result.val_loss.append(val_loss)
            result.val_acc.append(val_acc)
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
        result.test_loss.append(test_loss)
        result.test_acc.append(test_acc)
        for cb in callbacks:
            cb.on_eval(state)

    from tqdm.auto import tqdm

    show = show_progress() if progress is None else progress
    bar = tqdm(total=cfg.steps, desc=label or "train", disable=not show, leave=False)
    start = time.perf_counter()
    running = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    count = seen = 0
    for step in range(1, cfg.steps + 1):
        state.step = step
        idx = next(batches)
        x, y = data.x_train[idx], data.y_train[idx]
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        for cb in callbacks:
            extra = cb.regularizer(state, x)
            if extra is not None:
                loss = loss + extra
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        state.loss = loss
        running += loss.detach()
        correct += (logits.detach().argmax(1) == y).sum()
        count += 1
        seen += len(y)
        for cb in callbacks:
            cb.on_step_end(state)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record(step, running, correct, count, seen)
            running.zero_()
            correct.zero_()
            count = seen = 0
            bar.set_postfix(loss=f"{result.train_loss[-1]:.3f}", acc=f"{result.test_acc[-1]:.3f}")
            if not math.isfinite(result.train_loss[-1]):
                result.diverged_at = step
                note_divergence(label, step, cfg)
                break
        bar.update(1)
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.wall_time_s = time.perf_counter() - start
    for cb in callbacks:
        cb.on_train_end(state)
    return result
