"""experiments.tune: per-configuration settings chosen on validation, divergence excluded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import relucourse as rc
from relucourse.experiments import tuning

BASE = rc.RunConfig(
    data=rc.DataConfig(name="digits", n_train=400, val_fraction=0.2),
    model=rc.ModelConfig(width=16, depth=2, activation="relu", init="kaiming_normal"),
    train=rc.TrainConfig(optimizer="sgd", lr=0.1, steps=60, eval_every=20, batch_size=32),
)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    monkeypatch.setenv("RELUCOURSE_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("engine", ["loop", "batched", "auto"])
def test_tune_picks_the_known_best_rate_and_excludes_divergence(
        engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    # 1e-4 barely moves in 60 steps, 0.1 learns, 50 diverges: the choice is forced.
    tuned = rc.tune({"relu": BASE}, grid={"train.lr": [1e-4, 0.1, 50.0]}, seeds=(0, 1),
                    engine=engine)
    choice = tuned.choices["relu"]
    assert choice.params == {"train.lr": 0.1} and tuned.params("relu") == {"train.lr": 0.1}
    by_lr = {p.params["train.lr"]: p for p in choice.points}
    assert by_lr[50.0].diverged == 2 and not by_lr[50.0].valid
    assert by_lr[0.1].mean < by_lr[1e-4].mean
    assert [r.label for r in tuned["relu"]] == ["relu (seed 0)", "relu (seed 1)"]
    assert all(len(r.val_loss) == 3 and not r.diverged for r in tuned["relu"])
    out = capsys.readouterr().out
    assert "<- chosen" in out and "diverged: excluded" in out
    assert "edge of the grid" not in out  # 0.1 is inside the grid


def test_each_configuration_gets_its_own_setting() -> None:
    cfgs = {"sgd": BASE, "adam": BASE.replace(**{"train.optimizer": "adam"})}
    tuned = rc.tune(cfgs, grid={"train.lr": [1e-3, 0.3]}, seeds=(0,), quiet=True)
    assert tuned.params("sgd") == {"train.lr": 0.3}   # SGD needs the larger rate here
    assert tuned.params("adam") == {"train.lr": 1e-3}  # 0.3 is far too large for Adam
    assert "sgd: train.lr=0.3" in tuned.summary()


def test_select_val_acc_maximises_and_edges_are_flagged() -> None:
    tuned = rc.tune(BASE, grid={"train.lr": [1e-4, 1e-3, 1e-2]}, select="val_acc", seeds=(0,),
                    quiet=True)
    choice = tuned.choices["run"]
    assert choice.best.mean == max(p.mean for p in choice.points if p.valid)
    assert choice.params == {"train.lr": 1e-2}
    assert "edge of the grid" in tuned.report()


def test_tune_refuses_data_without_a_validation_split() -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        rc.tune(BASE.replace(**{"data.val_fraction": 0.0}), grid={"train.lr": [0.1]})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"grid": {}}, "at least one field"),
    ({"grid": {"train.lr": []}}, "non-empty list"),
    ({"grid": {"train.lr": [0.1]}, "select": "test_acc"}, "val_loss, val_acc"),
])
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rc.tune(BASE, **kwargs)


def test_every_point_diverging_is_an_error_not_a_choice() -> None:
    with pytest.raises(RuntimeError, match="every grid point diverged"):
        rc.tune(BASE, grid={"train.lr": [1e3, 1e4]}, seeds=(0,), quiet=True)


def test_probes_run_on_the_chosen_records() -> None:
    tuned = rc.tune(BASE, grid={"train.lr": [0.1]}, seeds=(0,), quiet=True,
                    probes=[rc.probes.DeadUnits(every=30)])
    (record,) = tuned["run"]
    assert record.check_steps() == [0, 30, 60] and not math.isnan(record.unit_fraction("dead"))


def test_grid_points_is_the_cartesian_product() -> None:
    assert tuning.grid_points({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]


def test_screening_compares_on_some_seeds_and_reports_every_seed(
        capsys: pytest.CaptureFixture[str]) -> None:
    full = rc.tune({"relu": BASE}, grid={"train.lr": [1e-4, 0.1, 50.0]}, seeds=(0, 1, 2),
                   quiet=True)
    screened = rc.tune({"relu": BASE}, grid={"train.lr": [1e-4, 0.1, 50.0]}, seeds=(0, 1, 2),
                       screen_seeds=(0,))
    choice = screened.choices["relu"]
    assert choice.params == {"train.lr": 0.1} and choice.screen_seeds == (0,)
    assert all(p.seeds == 1 for p in choice.points)  # compared on seed 0 alone
    # the chosen point still has one record per seed, in seed order, the same runs as without
    # screening (the cache serves them: same configs)
    assert [r.label for r in screened["relu"]] == [f"relu (seed {s})" for s in (0, 1, 2)]
    assert [r.final("val_loss") for r in screened["relu"]] == [
        r.final("val_loss") for r in full["relu"]]
    by_lr = {p.params["train.lr"]: p for p in choice.points}
    assert by_lr[0.1].mean == full["relu"][0].final("val_loss")
    assert "screened on seed 0" in capsys.readouterr().out


@pytest.mark.parametrize("screen", [(), (3,), (0, 5)])
def test_screen_seeds_must_be_a_subset_of_the_seeds(screen: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"screen_seeds=.* is invalid: must be a non-empty subset"):
        rc.tune({"relu": BASE}, grid={"train.lr": [0.1]}, seeds=(0, 1), screen_seeds=screen)
