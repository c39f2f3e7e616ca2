"""One device-agnostic training loop with a small callback protocol (minGPT style).

The loop knows nothing about probes: instruments plug in as ``Callback`` objects (``probes``) and
append what they measure to the typed fields of the ``records.Record`` it fills. Metrics are read
from the device only every ``eval_every`` steps, so the hot loop has no host syncs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from relucourse.config import TrainConfig
from relucourse.data import Dataset
from relucourse.records import Record
from relucourse.runtime import show_progress

OPTIMIZERS = ("sgd", "adam")


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
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")


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
    """
    device = data.device
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    result = Record(device=device.type, label=label)
    state = TrainState(model, optimizer, data, cfg, result)
    generator = torch.Generator().manual_seed(cfg.seed)
    batches = data.batches(cfg.batch_size, generator)
    for cb in callbacks:
        cb.on_train_start(state)

    def record(step: int, running: torch.Tensor, count: int) -> None:
        result.steps.append(step)
        result.train_loss.append((running / max(count, 1)).item())
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
    count = 0
    for step in range(1, cfg.steps + 1):
        state.step = step
        idx = next(batches)
        x, y = data.x_train[idx], data.y_train[idx]
        loss = F.cross_entropy(model(x), y)
        for cb in callbacks:
            extra = cb.regularizer(state, x)
            if extra is not None:
                loss = loss + extra
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.loss = loss
        running += loss.detach()
        count += 1
        for cb in callbacks:
            cb.on_step_end(state)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record(step, running, count)
            running.zero_()
            count = 0
            bar.set_postfix(loss=f"{result.train_loss[-1]:.3f}", acc=f"{result.test_acc[-1]:.3f}")
        bar.update(1)
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.wall_time_s = time.perf_counter() - start
    for cb in callbacks:
        cb.on_train_end(state)
    return result
