"""train: the loop learns, is reproducible, calls callbacks in order, and its record round-trips."""

from __future__ import annotations

import json
import math

import pytest
import torch

import relucourse as rc
from relucourse.data import Dataset
from relucourse.models import MLP
from relucourse.records import Record
from relucourse.train import Callback, TrainState, evaluate, make_optimizer, train

CFG = rc.TrainConfig(optimizer="sgd", lr=0.1, batch_size=16, steps=60, eval_every=20, seed=0)


def fit(data: Dataset, cfg: rc.TrainConfig = CFG, seed: int = 0,
        callbacks: tuple[Callback, ...] = ()) -> tuple[MLP, Record]:
    rc.seed_everything(seed)
    model = MLP(data.n_features, data.num_classes, width=16, depth=2)
    return model, train(model, data, cfg, callbacks=callbacks, label="t", progress=False)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_reduces_loss(tiny_dataset: Dataset, optimizer: str) -> None:
    cfg = rc.TrainConfig(optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.01,
                         batch_size=16, steps=60, eval_every=20)
    model, res = fit(tiny_dataset, cfg)
    start_loss, _ = evaluate(MLP(8, 3, width=16, depth=2), tiny_dataset.x_test, tiny_dataset.y_test)
    assert res.steps == [20, 40, 60]
    assert len(res.train_loss) == len(res.test_loss) == len(res.test_acc) == 3
    assert res.final_train_loss < 0.3 < start_loss
    assert res.test_loss[-1] < res.test_loss[0]
    assert res.final_test_acc >= 0.95
    assert res.device == "cpu" and res.label == "t" and res.wall_time_s > 0
    assert model.training  # the loop leaves the model in train mode


def test_last_step_is_always_recorded(tiny_dataset: Dataset) -> None:
    _, res = fit(tiny_dataset, rc.TrainConfig(batch_size=16, steps=25, eval_every=10))
    assert res.steps == [10, 20, 25]


def test_same_seed_identical_curves(tiny_dataset: Dataset) -> None:
    _, a = fit(tiny_dataset, seed=3)
    _, b = fit(tiny_dataset, seed=3)
    assert (a.train_loss, a.test_loss, a.test_acc) == (b.train_loss, b.test_loss, b.test_acc)
    _, c = fit(tiny_dataset, seed=4)
    assert c.train_loss != a.train_loss


def test_batch_order_follows_the_config_seed(tiny_dataset: Dataset) -> None:
    _, a = fit(tiny_dataset, CFG, seed=3)
    _, b = fit(tiny_dataset, rc.TrainConfig(**{**CFG.__dict__, "seed": 1}), seed=3)
    assert a.train_loss != b.train_loss


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_train_start(self, state: TrainState) -> None:
        self.events.append(("start", state.step))

    def regularizer(self, state: TrainState, x: torch.Tensor) -> None:
        assert x.shape == (16, 8)
        self.events.append(("reg", state.step))

    def on_step_end(self, state: TrainState) -> None:
        assert state.loss is not None and state.loss.dim() == 0
        self.events.append(("step", state.step))

    def on_eval(self, state: TrainState) -> None:
        self.events.append(("eval", state.result.steps[-1]))

    def on_train_end(self, state: TrainState) -> None:
        self.events.append(("end", state.step))


def test_callbacks_are_called_in_order(tiny_dataset: Dataset) -> None:
    rec_a, rec_b = Recorder(), Recorder()
    cfg = rc.TrainConfig(batch_size=16, steps=5, eval_every=2)
    fit(tiny_dataset, cfg, callbacks=(rec_a, rec_b))
    want = [("start", 0)]
    for step in range(1, 6):
        want += [("reg", step), ("step", step)]
        if step % 2 == 0 or step == 5:
            want.append(("eval", step))
    want.append(("end", 5))
    assert rec_a.events == want and rec_b.events == want


class HeadGrab(Callback):
    """Adds ``c * sum(head.weight)`` to the loss (if c) and keeps the head's gradient of step 1."""

    def __init__(self, c: float) -> None:
        self.c, self.grad = c, None

    def regularizer(self, state: TrainState, x: torch.Tensor) -> torch.Tensor | None:
        return self.c * state.model.head.weight.sum() if self.c else None

    def on_step_end(self, state: TrainState) -> None:
        if state.step == 1:
            self.grad = state.model.head.weight.grad.clone()


def test_regularizer_term_changes_the_gradient(tiny_dataset: Dataset) -> None:
    cfg = rc.TrainConfig(batch_size=16, steps=1, eval_every=1)
    plain, extra = HeadGrab(0.0), HeadGrab(0.5)
    fit(tiny_dataset, cfg, callbacks=(plain,))
    fit(tiny_dataset, cfg, callbacks=(extra,))
    # d/dW of 0.5 * sum(W) is 0.5 everywhere, on top of the same cross-entropy gradient
    torch.testing.assert_close(extra.grad - plain.grad, torch.full_like(plain.grad, 0.5))


def test_unknown_optimizer_lists_valid() -> None:
    with pytest.raises(ValueError, match="'lbfgs'.*sgd, adam, rmsprop"):
        rc.TrainConfig(optimizer="lbfgs")


def test_optimizer_options_reach_torch() -> None:
    model = MLP(2, 2, width=2, depth=1)
    sgd = make_optimizer(model, rc.TrainConfig(lr=0.1, momentum=0.9, nesterov=True))
    assert sgd.defaults["nesterov"] is True and sgd.defaults["momentum"] == 0.9
    adam = make_optimizer(model, rc.TrainConfig(optimizer="adam", lr=1e-3, betas=(0.8, 0.99)))
    assert adam.defaults["betas"] == (0.8, 0.99)
    rms = make_optimizer(model, rc.TrainConfig(optimizer="rmsprop", lr=1e-3, alpha=0.9,
                                               momentum=0.5))
    assert isinstance(rms, torch.optim.RMSprop)
    assert rms.defaults["alpha"] == 0.9 and rms.defaults["momentum"] == 0.5


@pytest.mark.parametrize(("schedule", "extra", "last_lr"), [
    ("constant", {}, 0.1), ("cosine", {}, 0.0), ("step", {"step_size": 4, "gamma": 0.5}, 0.025)])
def test_schedules_follow_their_formula(tiny_dataset: Dataset, schedule: str, extra: dict,
                                        last_lr: float) -> None:
    seen: list[float] = []

    class LR(Callback):
        def on_step_end(self, state: TrainState) -> None:
            seen.append(state.optimizer.param_groups[0]["lr"])

    cfg = rc.TrainConfig(lr=0.1, steps=8, eval_every=4, batch_size=16, schedule=schedule, **extra)
    train(MLP(8, 3, width=8, depth=1), tiny_dataset, cfg, callbacks=[LR()], progress=False)
    assert seen[-1] == pytest.approx(last_lr, abs=1e-12)
    if schedule == "step":
        assert seen[:4] == pytest.approx([0.1, 0.1, 0.1, 0.05])  # lr after each step


def test_clip_norm_bounds_the_update(tiny_dataset: Dataset) -> None:
    norms: list[float] = []

    class GradNorm(Callback):
        def on_step_end(self, state: TrainState) -> None:
            grads = [p.grad.norm() for p in state.model.parameters() if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack(grads)).item())

    rc.seed_everything(0)
    model = MLP(8, 3, width=16, depth=2, init="normal", init_kwargs={"std": 3.0})
    cfg = rc.TrainConfig(lr=1e-3, steps=6, eval_every=3, batch_size=16, clip_norm=0.5)
    train(model, tiny_dataset, cfg, callbacks=[GradNorm()], progress=False)
    assert max(norms) <= 0.5 + 1e-5


def test_divergence_is_detected_recorded_and_never_summarised(
        tiny_dataset: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    rc.seed_everything(0)
    model = MLP(8, 3, width=16, depth=2)
    cfg = rc.TrainConfig(lr=1e6, steps=40, eval_every=5, batch_size=16)
    res = train(model, tiny_dataset, cfg, label="huge lr", progress=False)
    assert res.diverged and res.diverged_at == res.steps[-1] < 40
    assert "huge lr" in capsys.readouterr().out
    assert math.isnan(res.final_test_acc) and math.isnan(res.final("test_loss"))
    summary = rc.records.group_summary({"x": [res]}, target_loss=0.1)["x"]
    assert summary["diverged"] == 1 and math.isnan(summary["test_acc"][0])


def test_train_accuracy_and_validation_metrics(tiny_dataset: Dataset) -> None:
    split = tiny_dataset.split_validation(0.25, seed=0)
    rc.seed_everything(0)
    res = train(MLP(8, 3, width=16, depth=2), split, rc.TrainConfig(steps=20, eval_every=10,
                                                                    batch_size=16), progress=False)
    assert len(res.train_acc) == len(res.val_loss) == len(res.val_acc) == 2
    assert all(0.0 <= a <= 1.0 for a in res.train_acc + res.val_acc)
    plain = train(MLP(8, 3, width=16, depth=2), tiny_dataset,
                  rc.TrainConfig(steps=20, eval_every=10, batch_size=16), progress=False)
    assert plain.val_loss == [] and len(plain.train_acc) == 2


def test_optimizer_settings() -> None:
    model = MLP(2, 2, width=2, depth=1)
    sgd = make_optimizer(model, rc.TrainConfig(lr=0.3, momentum=0.9, weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["lr"] == 0.3 and sgd.defaults["momentum"] == 0.9
    assert sgd.defaults["weight_decay"] == 1e-4
    adam = make_optimizer(model, rc.TrainConfig(optimizer="adam", lr=1e-3))
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 1e-3


def test_evaluate_restores_mode_and_is_exact(tiny_dataset: Dataset) -> None:
    torch.manual_seed(0)
    model = MLP(8, 3, width=16, depth=2, batchnorm=True)
    model.train()
    loss, acc = evaluate(model, tiny_dataset.x_test, tiny_dataset.y_test, batch_size=10)
    assert model.training
    model.eval()
    with torch.no_grad():
        logits = model(tiny_dataset.x_test)
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, tiny_dataset.y_test).item(),
                                 rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == tiny_dataset.y_test).float().mean().item())


def test_train_result_round_trip(tiny_dataset: Dataset) -> None:
    _, res = fit(tiny_dataset)
    res.layer_stats.append(rc.records.LayerStat(step=0, layer="blocks.0.act", mean=0.5, std=0.1,
                                                zero_frac=0.0, second_moment=0.26))
    back = Record.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back == res
    assert back.final_test_acc == res.final_test_acc
    empty = Record()
    assert empty.final_test_acc != empty.final_test_acc  # NaN when nothing was recorded
    assert Record.from_dict(empty.to_dict()) == Record()
