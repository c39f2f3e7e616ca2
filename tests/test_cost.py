"""Tests for relucourse.timing (chapter 02, the cost of sigmoid vs ReLU).

Timings are noisy on shared CI machines, so only structure and positivity are asserted here.
"""

from __future__ import annotations

import pytest
import torch

from relucourse.theory import saturation as cost


def test_train_step_updates_the_weights() -> None:
    step = cost.train_step("sigmoid", width=16, depth=2, batch=8, in_features=12)
    closure_model = step.__closure__  # the model lives in the closure; check an update happens
    assert closure_model is not None
    models = [c.cell_contents for c in closure_model if isinstance(c.cell_contents, torch.nn.Module)]
    before = models[0].head.weight.detach().clone()
    step()
    assert not torch.equal(before, models[0].head.weight)


def test_compare_reports_positive_times_and_ratios() -> None:
    c = cost.compare(4096, widths=(8, 16), depth=2, batch=16, repeats=2)
    assert c.all_positive()
    assert c.widths == [8, 16]
    assert c.act_ratio > 0 and c.step_ratio(8) > 0 and c.step_ratio(16) > 0
    table = c.table()
    assert "width 16" in table and "activation alone" in table and table.count("\n") == 3


def test_time_to_accuracy_decomposes_into_steps_and_time_per_step(quiet, monkeypatch) -> None:
    """Time to an accuracy = time per step x steps (chapter 2, section 6): the structure, with a
    tiny MLP on MNIST-1D and a low target; the chapter's cell asserts the measured ratios."""
    monkeypatch.setenv("RELUCOURSE_FAST", "1")
    cfgs = {a: cost.depth_config(a, 1, "adam").replace(**{"model.width": 8, "train.steps": 40,
                                                          "train.eval_every": 20})
            for a in ("sigmoid", "relu")}
    tta = cost.time_to_accuracy(cfgs, target=0.12, seeds=(0, 1), repeats=1)
    assert set(tta.steps) == {"sigmoid", "relu"} and all(s > 0 for s in tta.steps.values())
    assert all(lr in cost.lr_grid("adam") for lr in tta.lr.values())
    assert tta.predicted_ratio("sigmoid", "relu") == pytest.approx(
        tta.step_ratio("sigmoid", "relu") * tta.steps_ratio("sigmoid", "relu"))
    assert tta.measured_ratio("sigmoid", "relu") > 0 and all(
        t.median_s > 0 for t in [*tta.step_time.values(), *tta.run_time.values()])
    assert "steps to target" in tta.report("sigmoid", "relu")
    with pytest.raises(ValueError, match="never reach"):
        cost.time_to_accuracy(cfgs, target=0.99, seeds=(0, 1), repeats=1)
    with pytest.raises(ValueError, match="one optimiser"):
        cost.time_to_accuracy({"sigmoid": cfgs["sigmoid"],
                               "relu": cost.depth_config("relu", 1, "sgd")}, target=0.1)
