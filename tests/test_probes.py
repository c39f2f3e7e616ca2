"""instrument: hooks are always removed, targets resolve by suffix/list/predicate, and the
dataset-level statistics (activations, dead units, gradient norms, LayerStats) are exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import relucourse as rc
from relucourse import probes as instrument
from relucourse.data import Dataset
from relucourse.models import MLP
from relucourse.train import train


def mlp(depth: int = 3, width: int = 16, batchnorm: bool = False, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(8, 3, width=width, depth=depth, batchnorm=batchnorm)


def no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_capture_records_and_removes_hooks() -> None:
    model = mlp()
    x = torch.randn(5, 8)
    with instrument.capture(model) as out:
        model(x)
    assert list(out) == ["blocks.0.act", "blocks.1.act", "blocks.2.act"]
    assert all(v.shape == (5, 16) and not v.requires_grad for v in out.values())
    assert no_hooks_left(model)
    h = torch.relu(model.blocks[0].linear(x))
    torch.testing.assert_close(out["blocks.0.act"], h)


def test_capture_keep_grad() -> None:
    model = mlp()
    with instrument.capture(model, "blocks.2.act", keep_grad=True) as out:
        model(torch.randn(5, 8))
    assert out["blocks.2.act"].requires_grad
    assert no_hooks_left(model)


def test_capture_removes_hooks_when_forward_raises() -> None:
    model = mlp()
    with pytest.raises(RuntimeError), instrument.capture(model, lambda n, m: True):
        model(torch.randn(5, 7))  # wrong feature count
    assert no_hooks_left(model)
    with pytest.raises(KeyError), instrument.capture(model):
        raise KeyError("user code inside the block")
    assert no_hooks_left(model)


def test_targets_by_suffix_list_and_predicate() -> None:
    model = mlp(depth=2)
    assert list(instrument.select_modules(model, "linear")) == ["blocks.0.linear", "blocks.1.linear"]
    assert list(instrument.select_modules(model, "head")) == ["head"]
    assert list(instrument.select_modules(model, "1.act")) == ["blocks.1.act"]
    assert list(instrument.select_modules(model, ["head", "blocks.0.act"])) == ["head", "blocks.0.act"]
    by_type = instrument.select_modules(model, lambda n, m: isinstance(m, nn.Linear))
    assert list(by_type) == ["blocks.0.linear", "blocks.1.linear", "head"]
    # suffixes match whole name parts only: "ct" is not "act"
    with pytest.raises(ValueError):
        instrument.select_modules(model, "ct")


def test_unknown_target_lists_names() -> None:
    model = mlp(depth=2)
    with pytest.raises(ValueError, match="'conv'") as err:
        instrument.select_modules(model, "conv")
    for name in ("blocks.0.act", "blocks.1.linear", "head"):
        assert name in str(err.value)
    with pytest.raises(ValueError, match="'blocks.9.act'.*blocks.0.norm"):
        instrument.select_modules(model, ["blocks.0.act", "blocks.9.act"])
    with pytest.raises(ValueError):
        with instrument.capture(model, "nothing"):
            pass
    assert no_hooks_left(model)


@pytest.mark.parametrize("training", [True, False])
def test_activations_concatenate_and_restore_mode(training: bool) -> None:
    model = mlp(batchnorm=True)
    model.train(training)
    x = torch.randn(50, 8)
    got = instrument.activations(model, x, batch_size=7)
    assert model.training is training
    model.eval()
    with torch.no_grad(), instrument.capture(model) as out:
        model(x)
    assert list(got) == list(out)
    for name in out:
        assert got[name].shape == (50, 16)
        torch.testing.assert_close(got[name], out[name])  # eval mode: BatchNorm uses running stats
    assert no_hooks_left(model)


def test_layer_stats_rows() -> None:
    model = mlp()
    rows = instrument.layer_stats(model, torch.randn(64, 8))
    assert [r.layer for r in rows] == ["blocks.0.act", "blocks.1.act", "blocks.2.act"]
    for r in rows:
        assert isinstance(r, rc.records.LayerStat) and r.step == 0 and r.dead_frac is None
        assert 0.0 < r.zero_frac < 1.0 and r.mean >= 0


def test_dead_units_exact() -> None:
    model = mlp(depth=2, width=16)
    with torch.no_grad():
        model.blocks[0].linear.bias[:4] = -1e4  # four units can never switch on
    x = torch.randn(200, 8)
    masks = instrument.dead_units(model, x, "blocks.0.act")
    assert masks["blocks.0.act"][:4].all()
    dead0 = int(masks["blocks.0.act"].sum())
    assert dead0 >= 4
    assert instrument.dead_fraction(model, x, "blocks.0.act") == dead0 / 16
    both = instrument.dead_units(model, x)
    want = sum(int(m.sum()) for m in both.values()) / 32
    assert instrument.dead_fraction(model, x) == want


def test_dead_units_conv() -> None:
    torch.manual_seed(0)
    cnn = rc.models.SmallCNN((1, 20), 3, channels=(4,))
    with torch.no_grad():
        cnn.blocks[0].linear.bias[1] = -1e4
    mask = instrument.dead_units(cnn, torch.randn(10, 1, 20))["blocks.0.act"]
    assert mask.shape == (4,) and mask[1]


def test_gradient_norms() -> None:
    model = mlp()
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    norms = instrument.gradient_norms(model, x, y)
    assert list(norms) == ["blocks.0.linear", "blocks.1.linear", "blocks.2.linear"]
    assert all(v > 0 for v in norms.values())
    assert all(p.grad is None for p in model.parameters())  # leaves no gradients behind
    # matches a hand-made backward
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert norms["blocks.1.linear"] == pytest.approx(model.blocks[1].linear.weight.grad.norm().item())
    head = instrument.gradient_norms(model, x, y, target=["head"])
    assert list(head) == ["head"]
    assert no_hooks_left(model)


def test_layer_stats_probe_records_at_start_and_every_k(tiny_dataset: Dataset) -> None:
    rc.seed_everything(0)
    model = MLP(8, 3, width=16, depth=2)
    probe = instrument.LayerStats(every=4, n_probe=32, per_unit_dead=True)
    cfg = rc.TrainConfig(batch_size=16, steps=10, eval_every=5)
    res = train(model, tiny_dataset, cfg, callbacks=[probe], progress=False)
    rows = res.layer_stats
    assert [(r.step, r.layer) for r in rows] == [
        (s, f"blocks.{i}.act") for s in (0, 4, 8) for i in range(2)]
    for r in rows:
        assert r.dead_frac is not None and 0.0 <= r.dead_frac <= 1.0
    assert model.training and no_hooks_left(model)
    assert "every=4" in repr(probe) and "per_unit_dead=True" in repr(probe)
