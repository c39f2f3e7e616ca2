"""theory.cnn: parameter counts against PyTorch, steps and time to a target, the steps x
time-per-step decomposition, and the chapter's CNN trained and tuned on 1-D and 2-D data."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import relucourse as rc
from relucourse.records import Record
from relucourse.theory import cnn


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")


@pytest.mark.parametrize(("c_in", "c_out", "k", "dims"), [(1, 25, 3, 1), (25, 25, 3, 1),
                                                          (3, 8, 5, 2), (4, 4, 1, 2)])
def test_conv_parameters_match_pytorch(c_in: int, c_out: int, k: int, dims: int) -> None:
    conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(c_in, c_out, k)
    assert cnn.conv_parameters(c_in, c_out, k, dims) == sum(p.numel() for p in conv.parameters())
    assert cnn.conv_parameters(c_in, c_out, k, dims, bias=False) == conv.weight.numel()


def test_the_course_cnn_has_the_baseline_size() -> None:
    # conv 1->25 (100) + two conv 25->25 (1900 each) + head 125*10+10 = 5160: "about 5k"
    assert cnn.cnn_parameters("mnist1d", width=25, depth=3) == 100 + 2 * 1900 + 1260
    assert cnn.cnn_parameters("digits", width=8, depth=2, readout="avgpool") == (
        cnn.conv_parameters(1, 8, 3, 2) + cnn.conv_parameters(8, 8, 3, 2) + 8 * 10 + 10)


def record(steps: list[int], train_acc: list[float], wall: float = 1.0) -> Record:
    n = len(steps)
    return Record(steps=steps, train_loss=[1.0] * n, train_acc=train_acc, test_loss=[1.0] * n,
                  test_acc=train_acc, wall_time_s=wall)


def test_steps_to_accuracy() -> None:
    r = record([10, 20, 30], [0.5, 0.75, 0.9])
    assert cnn.steps_to_accuracy(r, 0.75) == 20
    assert cnn.steps_to_accuracy(r, 0.95) is None
    assert cnn.steps_to_accuracy(r, 0.6, "test_acc") == 20
    with pytest.raises(ValueError, match="accuracy curve"):
        cnn.steps_to_accuracy(r, 0.5, "train_loss")


def test_time_to_target_and_lower_bounds() -> None:
    fast = cnn.time_to_target("relu", [record([10, 20], [0.8, 0.9], wall=2.0),
                                       record([10, 20], [0.5, 0.8], wall=4.0)], 0.75)
    assert fast.steps == (10, 20) and fast.reached == 2 and not fast.lower_bound
    assert fast.mean_steps == (15.0, 5.0)
    assert fast.mean_seconds[0] == pytest.approx((10 * 0.1 + 20 * 0.2) / 2)
    slow = cnn.time_to_target("sigmoid", [record([10, 20], [0.5, 0.6])] * 2 +
                              [record([10, 20], [0.5, 0.8])], 0.75)
    assert slow.lower_bound and slow.reached == 1 and slow.mean_steps[0] == 20
    assert ">=" in slow.text() and "1/3 seeds" in slow.text()


def test_decomposition_multiplies_steps_and_per_step_ratios() -> None:
    relu = cnn.time_to_target("relu", [record([10, 20], [0.8, 0.9])] * 3, 0.75)
    tanh = cnn.time_to_target("tanh", [record([10, 20, 30, 40], [0.5, 0.6, 0.7, 0.8])] * 3, 0.75)
    d = cnn.decompose(tanh, relu, per_step_ratio=1.2)
    assert d.steps_ratio == 4.0 and d.time_ratio == pytest.approx(4.8)
    assert d.time_ratio == cnn.time_ratio(4.0, 1.2)
    assert d.per_step_share == pytest.approx(math.log(1.2) / math.log(4.8))
    assert "4.80x" in d.text() and not d.lower_bound
    with pytest.raises(ValueError, match="did not reach"):
        cnn.decompose(relu, cnn.time_to_target("x", [record([10], [0.1])], 0.75), 1.0)


def test_train_step_trains_and_step_timings_time_every_activation() -> None:
    model = rc.ModelConfig(arch="cnn", width=4, depth=2, readout="flatten")
    step = cnn.train_step(model, "digits", batch_size=16)
    step()  # runs a whole step (forward, backward, update)
    timings = cnn.step_timings(model, dataset="mnist1d", batch_size=16, repeats=2, warmup=1)
    assert set(timings) == set(cnn.ACTIVATIONS)
    assert all(t.median_s > 0 for t in timings.values())


@pytest.mark.parametrize(("dataset", "conv"), [("mnist1d", nn.Conv1d), ("digits", nn.Conv2d)])
def test_cnn_config_tunes_through_the_loop_on_1d_and_2d_data(dataset: str, conv: type) -> None:
    cfg = cnn.cnn_config("relu", dataset=dataset, width=4, depth=2, steps=20, eval_every=10,
                         batch_size=32)
    assert cfg.model.arch == "cnn" and cfg.model.readout == "flatten"
    recs = rc.tune({"relu": cfg}, grid={"train.lr": [3e-3, 3e-2]}, seeds=(0, 1), use_cache=False,
                   quiet=True)
    assert len(recs["relu"]) == 2 and all(r.engine is None for r in recs["relu"])  # the loop
    model, r = rc.fit(cfg)
    assert isinstance(model.blocks[0].linear, conv)
    assert r.steps == [10, 20] and r.val_acc and 0.0 <= r.final_test_acc <= 1.0
    assert torch.isfinite(torch.tensor(r.train_loss)).all()
