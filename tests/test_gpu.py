"""GPU checks: run on a CUDA machine, skip cleanly (with the reason) everywhere else."""

from __future__ import annotations

import pytest
import torch

import relucourse as rc
from relucourse.models import MLP
from relucourse.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU on this machine)"),
]


def test_auto_device_is_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELUCOURSE_DEVICE", raising=False)
    assert rc.pick_device().type == "cuda"
    assert rc.pick_device("cuda").type == "cuda"


def test_dataset_moves_to_cuda(tiny_dataset) -> None:
    ds = tiny_dataset.to("cuda")
    assert ds.device.type == "cuda"
    assert all(t.is_cuda for t in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    idx = next(ds.batches(16, torch.Generator().manual_seed(0)))
    assert idx.is_cuda and ds.x_train[idx].shape == (16, 8)
    assert rc.data.load_digits("cuda").x_train.is_cuda


def test_short_training_run_on_cuda(tiny_dataset) -> None:
    ds = tiny_dataset.to("cuda")
    rc.seed_everything(0)
    model = MLP(8, 3, width=16, depth=2)
    res = train(model, ds, rc.TrainConfig(batch_size=16, steps=60, eval_every=20), progress=False)
    assert res.device == "cuda"
    assert next(model.parameters()).is_cuda
    assert res.final_train_loss < res.train_loss[0] and res.final_test_acc >= 0.9


def test_stats_and_timing_on_cuda() -> None:
    x = torch.tensor([[0.0, 1.0], [0.0, 2.0]], device="cuda")
    assert rc.stats.dead_unit_mask(x).tolist() == [True, False]
    assert rc.timing.activation_cost("relu", 100_000, device="cuda", repeats=3).median_s > 0
    assert rc.activations.max_derivative("prelu", points=101) > 0
