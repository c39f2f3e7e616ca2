"""Tests for relucourse.timing (chapter 02, the cost of sigmoid vs ReLU).

Timings are noisy on shared CI machines, so only structure and positivity are asserted here.
"""

from __future__ import annotations

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
