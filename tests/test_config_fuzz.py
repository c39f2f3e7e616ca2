"""config, fuzzed: any mix of good and bad field values either builds a config that then trains
for 2 steps, or is refused with a ValueError naming a field that really is bad; never a hang,
a crash deep inside the loop, or a silently accepted bad value.

The oracle below restates each rule independently (``type(v) is int`` rather than the module's
helpers), so a rule dropped or loosened in ``config.py`` shows up as a counterexample.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from relucourse import activations, config, data, init
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.experiments import fit

HANG_LIMIT_S = 20  # one example (build + 2 steps) takes milliseconds; this is only a hang guard


@contextmanager
def no_hang(seconds: int) -> Iterator[None]:
    """Fail with TimeoutError instead of hanging (a deadline alone cannot stop a stuck example)."""
    if not hasattr(signal, "setitimer"):  # not on Windows: rely on the deadline alone
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"one example ran over {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


JUNK = st.one_of(st.none(), st.booleans(), st.text(max_size=4),
                 st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**40), 2**40))
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)

# field -> (a valid value, anything including bad values); sizes kept tiny so training is instant.
FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "data.name": (st.just("digits"), st.one_of(st.sampled_from([*data.DATASETS, "imagenet", ""]),
                                               JUNK)),
    "data.n_train": (st.one_of(st.none(), st.integers(1, 1347)),
                     st.one_of(st.integers(-20, 3000), JUNK)),
    "data.seed": (st.integers(0, 2**32 - 1), st.one_of(st.integers(-5, 2**33), JUNK)),
    "model.arch": (st.sampled_from(["mlp", "cnn"]), st.one_of(st.sampled_from(["rnn", "MLP"]), JUNK)),
    "model.width": (st.integers(1, 8), st.one_of(st.integers(-3, 0), st.just(8.0), JUNK)),
    "model.depth": (st.integers(1, 3), st.one_of(st.integers(-3, 0), st.just(2.0), JUNK)),
    "model.activation": (st.sampled_from(activations.activation_names()),
                         st.one_of(st.sampled_from(["swishy", "ReLU"]), JUNK)),
    "model.init": (st.sampled_from(init.INIT_SCHEMES), st.one_of(st.just("he"), JUNK)),
    "model.bias_init": (st.one_of(st.none(), st.floats(-1, 1), st.integers(-1, 1)),
                        st.one_of(ANY_FLOAT, JUNK)),
    "model.batchnorm": (st.booleans(), st.one_of(st.sampled_from([0, 1, "True"]), JUNK)),
    "train.optimizer": (st.sampled_from(config.OPTIMIZERS),
                        st.one_of(st.sampled_from(["rmsprop", "Adam"]), JUNK)),
    "train.lr": (st.one_of(st.floats(1e-4, 1.0), st.just(1)),
                 st.one_of(ANY_FLOAT, st.just("0.1"), JUNK)),
    "train.momentum": (st.just(0.0), st.one_of(st.floats(-0.5, 1.5), ANY_FLOAT, JUNK)),
    "train.weight_decay": (st.one_of(st.just(0.0), st.floats(0, 1e-2)), st.one_of(ANY_FLOAT, JUNK)),
    "train.batch_size": (st.integers(1, 2000), st.one_of(st.integers(-5, 0), JUNK)),
    "train.steps": (st.integers(1, 10**6), st.one_of(st.integers(-5, 0), JUNK)),
    "train.eval_every": (st.integers(1, 10**6), st.one_of(st.integers(-5, 0), JUNK)),
    "train.seed": (st.integers(0, 2**32 - 1), st.one_of(st.integers(-5, 2**33), JUNK)),
}


@st.composite
def field_values(draw: st.DrawFn) -> dict[str, Any]:
    """Valid values everywhere, then a few fields (often exactly one) redrawn from 'anything'.

    One bad field at a time is what exposes a dropped rule: with several, another field's
    refusal would hide it.
    """
    values = {name: draw(good) for name, (good, _) in FIELDS.items()}
    count = draw(st.sampled_from([0, 1, 1, 1, 2, 3]))
    for name in draw(st.lists(st.sampled_from(list(FIELDS)), min_size=count, max_size=count,
                              unique=True)):
        values[name] = draw(FIELDS[name][1])
    return values


def is_int(v: Any) -> bool:
    return type(v) is int


def is_number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def bad_fields(v: dict[str, Any]) -> set[str]:
    """The oracle: every field whose value breaks a rule (see CONTRIBUTING, "What is validated")."""
    ok = {
        "data.name": isinstance(v["data.name"], str) and v["data.name"] in data.DATASETS,
        "data.n_train": v["data.n_train"] is None or (is_int(v["data.n_train"]) and v["data.n_train"] > 0),
        "data.seed": is_int(v["data.seed"]) and 0 <= v["data.seed"] < 2**32,
        "model.arch": v["model.arch"] in ("mlp", "cnn") and isinstance(v["model.arch"], str),
        "model.width": is_int(v["model.width"]) and v["model.width"] > 0,
        "model.depth": is_int(v["model.depth"]) and v["model.depth"] > 0,
        "model.activation": isinstance(v["model.activation"], str)
        and v["model.activation"] in activations.ACTIVATIONS,
        "model.init": isinstance(v["model.init"], str) and v["model.init"] in init.INIT_SCHEMES,
        "model.bias_init": v["model.bias_init"] is None or is_number(v["model.bias_init"]),
        "model.batchnorm": type(v["model.batchnorm"]) is bool,
        "train.optimizer": isinstance(v["train.optimizer"], str)
        and v["train.optimizer"] in config.OPTIMIZERS,
        "train.lr": is_number(v["train.lr"]) and v["train.lr"] > 0,
        "train.momentum": is_number(v["train.momentum"]) and 0 <= v["train.momentum"] < 1,
        "train.weight_decay": is_number(v["train.weight_decay"]) and v["train.weight_decay"] >= 0,
        "train.batch_size": is_int(v["train.batch_size"]) and v["train.batch_size"] > 0,
        "train.steps": is_int(v["train.steps"]) and v["train.steps"] > 0,
        "train.eval_every": is_int(v["train.eval_every"]) and v["train.eval_every"] > 0,
        "train.seed": is_int(v["train.seed"]) and 0 <= v["train.seed"] < 2**32,
    }
    bad = {name for name, good in ok.items() if not good}
    if ok["train.optimizer"] and ok["train.momentum"] and v["train.optimizer"] == "adam" \
            and v["train.momentum"] != 0:
        bad.add("train.momentum")  # cross-field: Adam has no momentum setting
    if not bad and v["model.batchnorm"] and v["model.arch"] == "mlp":
        if v["train.batch_size"] < 2:  # cross-section: BatchNorm needs two samples per batch
            bad.add("train.batch_size")
        if v["data.n_train"] is not None and v["data.n_train"] < 2:
            bad.add("data.n_train")
    return bad


def build(v: dict[str, Any]) -> RunConfig:
    sections: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    for name, value in v.items():
        section, _, field = name.partition(".")
        sections[section][field] = value
    return RunConfig(DataConfig(**sections["data"]), ModelConfig(**sections["model"]),
                     TrainConfig(**sections["train"]))


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    """Loaded once; a config that names another dataset trains on digits too (its data.name is
    swapped for "digits" before training: only the config is fuzzed, not the loaders)."""
    return data.load_dataset("digits")


FIELD_AT_START = re.compile(r"^(\w+\.\w+)=")


def check_refusal(err: ValueError, bad: set[str]) -> None:
    named = FIELD_AT_START.match(str(err))
    assert named, f"message names no field: {err}"
    assert named.group(1) in bad, f"refused a good field {named.group(1)} ({err}); bad: {bad}"


# Generous deadlines and no slow-generation health check: CI's 2 cores may be busy, and a
# construction that hangs still fails (at 10 s), which is what this test is for.
@settings(max_examples=800, deadline=timedelta(seconds=10), database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(values=field_values())
def test_construction_agrees_with_the_oracle(values: dict[str, Any]) -> None:
    """Cheap, so many examples: each rule meets many single bad values."""
    bad = bad_fields(values)
    try:
        build(values)
    except ValueError as err:
        check_refusal(err, bad)
        return
    assert not bad, f"accepted bad values for {sorted(bad)}: {values}"


@settings(max_examples=60, deadline=timedelta(seconds=20), database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(values=field_values())
def test_any_config_trains_or_is_refused_naming_a_bad_field(digits: data.Dataset,
                                                            values: dict[str, Any]) -> None:
    bad = bad_fields(values)
    with no_hang(HANG_LIMIT_S):
        try:
            cfg = build(values)
        except ValueError as err:
            check_refusal(err, bad)
            event("refused")
            return
        assert not bad, f"accepted bad values for {sorted(bad)}: {values}"

        ds = digits
        if cfg.data.n_train is not None:
            if cfg.data.n_train > len(digits.y_train):  # the bound is the dataset's, checked at load
                with pytest.raises(ValueError, match=rf"n_train={cfg.data.n_train} exceeds"):
                    digits.subset(cfg.data.n_train, cfg.data.seed)
                event("n_train larger than digits")
                return
            ds = digits.subset(cfg.data.n_train, cfg.data.seed)
        cfg = cfg.replace(**{"data.name": "digits", "train.steps": 2})
        _, record = fit(cfg, data=ds)
        event(f"trained a {cfg.model.arch}")
    assert record.steps[-1] == 2 and len(record.train_loss) == len(record.steps) <= 2
    assert len(record.test_acc) == len(record.steps)
