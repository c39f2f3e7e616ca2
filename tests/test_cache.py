"""experiments.cache: keys only from stable things, validated entries, atomic writes, and an
unwritable cache named before any training (the redesign issue's item 4, case by case)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import relucourse as rc
from relucourse.experiments import cache
from relucourse.experiments import runner as run_module
from relucourse.probes import Probe
from relucourse.train import Callback

CFG = rc.RunConfig(
    data=rc.DataConfig(name="digits", n_train=200),
    model=rc.ModelConfig(width=8, depth=2),
    train=rc.TrainConfig(steps=20, eval_every=10, batch_size=32),
)
CPU = torch.device("cpu")


@pytest.fixture
def folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = run_module.train
    monkeypatch.setattr(run_module, "train", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@dataclass
class Threshold(Probe):
    """A probe defined outside the package, as a notebook would define one."""

    value: float = 0.0


def test_probe_key_is_class_name_and_parameters() -> None:
    assert Threshold(0.0).key() == {"probe": f"{__name__}.Threshold", "params": {"value": 0.0}}
    assert cache.probe_key(Threshold(1.0)) != cache.probe_key(Threshold(0.0))


def test_changed_probe_parameter_is_never_served_the_old_run(folder: Path,
                                                             trainings: list[int]) -> None:
    rc.run(CFG, probes=[Threshold(0.0)])
    rc.run(CFG, probes=[Threshold(1.0)])
    assert len(trainings) == 2
    rc.run(CFG, probes=[Threshold(1.0)])
    assert len(trainings) == 2


def test_object_without_key_is_refused_with_how_to(folder: Path) -> None:
    class Legacy(Callback):
        pass

    with pytest.raises(TypeError, match="Probe") as err:
        rc.run(CFG, probes=[Legacy()])
    assert "@dataclass" in str(err.value) and "use_cache=False" in str(err.value)
    rc.run(CFG, probes=[Legacy()], use_cache=False)  # fine without a cache


NOTEBOOK_PROBE = textwrap.dedent("""
    from dataclasses import dataclass
    import relucourse as rc
    from relucourse.experiments import runner as run_module
    from relucourse.probes import Probe

    @dataclass
    class MyProbe(Probe):   # defined in __main__, as in a notebook
        every: int = 5

    trained = []
    real = run_module.train
    run_module.train = lambda *a, **k: trained.append(1) or real(*a, **k)
    cfg = rc.RunConfig(data=rc.DataConfig(name="digits", n_train=200),
                       model=rc.ModelConfig(width=8, depth=2),
                       train=rc.TrainConfig(steps=20, eval_every=10, batch_size=32))
    rc.run(cfg, probes=[MyProbe()])
    print("TRAINED", len(trained))
""")


def test_notebook_defined_probe_hits_the_cache_from_a_second_process(folder: Path) -> None:
    env = {**os.environ, cache.CACHE_ENV: str(folder), "RELUCOURSE_PROGRESS": "0"}
    outs = [subprocess.run([sys.executable, "-c", NOTEBOOK_PROBE], env=env, capture_output=True,
                           text=True, check=True).stdout for _ in range(2)]
    assert "TRAINED 1" in outs[0] and "TRAINED 0" in outs[1]
    assert len(list(folder.glob("*.json"))) == 1


def test_source_edit_in_a_live_process_invalidates(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    module = package / "mod.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(cache, "PACKAGE_DIR", package)
    before = cache.source_hash()
    assert cache.source_hash() == before  # stable while nothing changes
    module.write_text("x = 2\n")
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert cache.source_hash() != before


def test_real_package_hash_changes_with_a_package_file(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    before = cache.source_hash()
    extra = cache.PACKAGE_DIR / "_test_probe_file_for_hash.py"
    try:
        extra.write_text("# temporary\n")
        assert cache.source_hash() != before
    finally:
        extra.unlink()
    assert cache.source_hash() == before


def test_presentation_only_files_do_not_invalidate(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """Editing a quiz, an explorer or a plot retrains nothing; editing the training path does."""
    package = tmp_path / "pkg"
    for sub in ("book", "labs", "theory"):
        (package / sub).mkdir(parents=True)
    monkeypatch.setattr(cache, "PACKAGE_DIR", package)
    (package / "train.py").write_text("lr = 1\n")
    before = cache.source_hash()
    for name in ("book/quiz.yaml", "labs/checks.py", "plots.py", "papers.py"):
        (package / name).write_text("# presentation\n")
        assert cache.source_hash() == before, name
    (package / "theory" / "saturation.py").write_text("# calls fit\n")
    assert cache.source_hash() != before


@pytest.mark.parametrize("field, bad", [("test_acc", "0.99"), ("test_acc", ["0.99"]),
                                        ("steps", [1.5]), ("layer_stats", [{"step": 0}]),
                                        ("label", 3), ("nonsense", 1)])
def test_entry_of_the_wrong_shape_is_reported_and_recomputed(
        folder: Path, trainings: list[int], capsys: pytest.CaptureFixture[str],
        field: str, bad: object) -> None:
    good = rc.run(CFG)
    path = folder / f"{cache.cache_key(CFG, (), CPU)}.json"
    payload = json.loads(path.read_text())
    payload["record"][field] = bad
    path.write_text(json.dumps(payload))
    again = rc.run(CFG)
    assert len(trainings) == 2
    assert "ignoring unusable cache file" in capsys.readouterr().out
    assert again.test_acc == good.test_acc and isinstance(again.final_test_acc, float)


def test_unwritable_cache_is_named_before_any_training(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, trainings: list[int]) -> None:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    monkeypatch.setenv(cache.CACHE_ENV, str(a_file))
    with pytest.raises(cache.CacheError, match=cache.CACHE_ENV):
        rc.run(CFG)
    assert trainings == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_cache_folder_is_named_before_training(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path,
                                                         trainings: list[int]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv(cache.CACHE_ENV, str(locked))
    with pytest.raises(cache.CacheError, match=cache.CACHE_ENV):
        rc.run(CFG)
    assert trainings == []


def test_stale_temp_files_are_cleaned_and_fresh_ones_kept(folder: Path) -> None:
    stale, fresh = folder / "old.tmp", folder / "new.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - 2 * cache.STALE_TMP_S
    os.utime(stale, (old, old))
    rc.run(CFG)
    assert not stale.exists() and fresh.exists()
    assert not [p for p in folder.glob("*.tmp") if p != fresh]  # the run's own write left none


def test_record_round_trips_through_the_cache(folder: Path) -> None:
    first = rc.run(CFG, probes=[rc.probes.LayerStats(every=10, n_probe=64, per_unit_dead=True),
                                rc.probes.DeadUnits(every=10, n_probe=64)])
    second = rc.run(CFG, probes=[rc.probes.LayerStats(every=10, n_probe=64, per_unit_dead=True),
                                 rc.probes.DeadUnits(every=10, n_probe=64)])
    assert second == first
    assert isinstance(second.units[0].dead, tuple) and second.layer_stats[0].dead_frac is not None
