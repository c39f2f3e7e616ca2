"""experiments.fit/run/sweep: one path that trains, and a cache reused when valid and never trusted
when not (more cache cases in test_cache.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import relucourse as rc
from relucourse import experiments
from relucourse.experiments import cache as cache_module
from relucourse.experiments import runner as run_module

CFG = rc.RunConfig(
    data=rc.DataConfig(name="digits", n_train=200),
    model=rc.ModelConfig(width=8, depth=2),
    train=rc.TrainConfig(steps=20, eval_every=10, batch_size=32),
)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    monkeypatch.setenv("RELUCOURSE_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def count_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every real training run made through experiments.run."""
    calls: list[str] = []
    real = run_module.train

    def counting(*args, **kwargs):
        calls.append(kwargs.get("label", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "train", counting)
    return calls


def cache_file(cfg: rc.RunConfig = CFG) -> str:
    return cache_module.cache_key(cfg, (), torch.device("cpu")) + ".json"


def test_second_run_is_a_cache_hit(cache: Path, count_training: list[str]) -> None:
    first = experiments.run(CFG, label="x")
    assert len(count_training) == 1
    assert (cache / cache_file()).exists()
    second = experiments.run(CFG, label="x")
    assert len(count_training) == 1  # not trained again
    assert second.to_dict() == first.to_dict()


def test_key_covers_config_probes_and_source(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    key = cache_module.cache_key(CFG, (), cpu)
    assert key == cache_module.cache_key(rc.RunConfig(data=CFG.data, model=CFG.model,
                                                      train=CFG.train), (), cpu)
    assert key != cache_module.cache_key(CFG.replace(**{"train.lr": 0.05}), (), cpu)
    assert key != cache_module.cache_key(CFG, [rc.probes.LayerStats()], cpu)
    assert (cache_module.cache_key(CFG, [rc.probes.LayerStats(every=10)], cpu)
            != cache_module.cache_key(CFG, [rc.probes.LayerStats(every=20)], cpu))
    monkeypatch.setattr(cache_module, "source_hash", lambda: "edited-source")
    assert key != cache_module.cache_key(CFG, (), cpu)


def test_fit_returns_the_trained_model_and_the_record_run_caches(cache: Path) -> None:
    model, record = experiments.fit(CFG, label="x")
    assert isinstance(model, torch.nn.Module) and record.label == "x"
    assert record.activation == CFG.model.activation
    assert record.steps == [10, 20] and len(record.test_acc) == 2
    again = experiments.run(CFG, label="x")  # the same path behind the cache
    assert again.test_loss == record.test_loss and again.train_loss == record.train_loss
    data = experiments.load_data(CFG, torch.device("cpu"))
    loss, acc = rc.train.evaluate(model, data.x_test, data.y_test)
    assert loss == pytest.approx(record.test_loss[-1]) and acc == pytest.approx(record.test_acc[-1])


def test_rc_fit_run_sweep_are_the_experiments_functions() -> None:
    assert rc.fit is experiments.fit and rc.run is experiments.run and rc.sweep is experiments.sweep


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '{"key": "k"}', "\udcff"],
                         ids=["corrupt", "not-an-object", "no-record", "bad-bytes"])
def test_unusable_file_is_recomputed(cache: Path, count_training: list[str],
                                     capsys: pytest.CaptureFixture[str], content: str) -> None:
    good = experiments.run(CFG)
    path = cache / cache_file()
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    again = experiments.run(CFG)
    assert len(count_training) == 2
    assert "ignoring unusable cache file" in capsys.readouterr().out
    assert again.test_loss == good.test_loss and again.train_loss == good.train_loss
    assert json.loads(path.read_text())["key"] == path.stem  # rewritten, valid


def test_file_with_wrong_key_is_not_trusted(cache: Path, count_training: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    good = experiments.run(CFG)
    path = cache / cache_file()
    payload = json.loads(path.read_text())
    payload["key"] = "0" * 16
    payload["record"]["test_acc"] = [1.0, 1.0]  # a forged result must never come back
    path.write_text(json.dumps(payload))
    again = experiments.run(CFG)
    assert len(count_training) == 2
    assert "key mismatch" in capsys.readouterr().out
    assert again.test_acc == good.test_acc != [1.0, 1.0]


def test_cache_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, count_training: list[str]) -> None:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    monkeypatch.setenv("RELUCOURSE_CACHE", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert experiments.cache_dir() is None
    experiments.run(CFG)
    experiments.run(CFG)
    assert len(count_training) == 2
    assert not any(tmp_path.rglob("*.json"))


def test_sweep_loop_default_unchanged(cache: Path, count_training: list[str]) -> None:
    out = experiments.sweep({"a": CFG}, seeds=(0, 1))
    assert list(out) == ["a"] and [r.label for r in out["a"]] == ["a (seed 0)", "a (seed 1)"]
    assert count_training == ["a (seed 0)", "a (seed 1)"]
    assert out["a"][0].train_loss != out["a"][1].train_loss
    solo = experiments.run(CFG.replace(**{"train.seed": 1}))  # same run, so a cache hit
    assert len(count_training) == 2
    assert solo.test_loss == out["a"][1].test_loss


def test_training_step_is_one_seeded_step_of_the_configured_model() -> None:
    model = rc.ModelConfig(width=8, depth=2, activation="tanh")
    train = rc.TrainConfig(optimizer="adam", lr=1e-2)
    first = experiments.training_step(model, 12, 3, batch_size=16, train=train, seed=1)
    net = next(c.cell_contents for c in first.__closure__
               if isinstance(c.cell_contents, torch.nn.Module))
    reference = experiments.init_model(model, 12, 3, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), reference.parameters(),
                                                 strict=True))  # built by init_model
    before = net.head.weight.detach().clone()
    first()
    again = experiments.training_step(model, 12, 3, batch_size=16, train=train, seed=1)
    twin = next(c.cell_contents for c in again.__closure__
                if isinstance(c.cell_contents, torch.nn.Module))
    again()
    assert not torch.equal(before, net.head.weight)
    assert torch.equal(net.head.weight, twin.head.weight)  # same seed: same batch, same update
