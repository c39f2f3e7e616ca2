"""config: every rule of the construction-time validation, one table per rule, and the fingerprints
of valid configs pinned (validation must not change a cache key).

Each refusal is a ValueError whose message starts ``<section>.<field>=<value repr> is invalid:`` and
then says what is valid.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from relucourse import activations, config, data, init
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig

SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def make(field: str, value: object, **others: object) -> object:
    """Build the section of ``field`` (dotted) with ``field=value`` and other fields of that section."""
    section, _, name = field.partition(".")
    return SECTIONS[section](**{name: value, **others})


def refused(field: str, value: object, *pieces: str, **others: object) -> str:
    with pytest.raises(ValueError) as err:
        make(field, value, **others)
    message = str(err.value)
    assert message.startswith(f"{field}={value!r} is invalid: "), message
    for piece in pieces:
        assert piece in message, (piece, message)
    return message


INT_FIELDS = ["data.seed", "model.width", "model.depth", "train.batch_size", "train.steps",
              "train.eval_every", "train.seed", "data.n_train"]


@pytest.mark.parametrize("field", INT_FIELDS)
@pytest.mark.parametrize("value", ["8", 8.5, 8.0, True, False, np.int64(8), [8]])
def test_int_fields_refuse_other_types(field: str, value: object) -> None:
    refused(field, value, "must be an int", f"(got {type(value).__name__})")


NOT_NONE = [f for f in INT_FIELDS if f != "data.n_train"]


@pytest.mark.parametrize("field", NOT_NONE)
def test_int_fields_refuse_none(field: str) -> None:
    refused(field, None, "must be an int", "(got NoneType)")


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("train.batch_size", -1, "must be an int >= 1"),  # -1 used to make the loop spin forever
    ("train.batch_size", 0, "must be an int >= 1"),
    ("train.eval_every", 0, "must be an int >= 1"),
    ("train.eval_every", -50, "must be an int >= 1"),
    ("train.steps", 0, "must be an int >= 1"),
    ("train.steps", -1, "must be an int >= 1"),
    ("model.width", 0, "must be an int >= 1"),
    ("model.width", -8, "must be an int >= 1"),
    ("model.depth", 0, "must be an int >= 1"),
    ("model.depth", -1, "must be an int >= 1"),
    ("data.n_train", 0, "must be an int >= 1"),
    ("data.n_train", -10, "must be an int >= 1"),  # used to train on 1,337 samples silently
    ("data.seed", -1, "must be an int in [0, 4294967296)"),
    ("train.seed", -1, "must be an int in [0, 4294967296)"),
    ("train.seed", 2**32, "must be an int in [0, 4294967296)"),
])
def test_int_ranges(field: str, value: int, rule: str) -> None:
    refused(field, value, rule)


REAL_FIELDS = ["train.lr", "train.momentum", "train.weight_decay", "model.bias_init"]


@pytest.mark.parametrize("field", REAL_FIELDS)
@pytest.mark.parametrize("value", ["0.1", True, False, np.float32(0.1), [0.1], 1j])
def test_real_fields_refuse_other_types(field: str, value: object) -> None:
    refused(field, value, "must be a finite number", f"(got {type(value).__name__})")


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("train.lr", 0, "must be a finite number > 0"),
    ("train.lr", 0.0, "must be a finite number > 0"),
    ("train.lr", -0.1, "must be a finite number > 0"),
    ("train.lr", math.inf, "must be a finite number > 0"),
    ("train.lr", math.nan, "must be a finite number > 0"),
    ("train.lr", None, "must be a finite number > 0"),
    ("train.momentum", -0.1, "must be a finite number >= 0 and < 1"),
    ("train.momentum", 1.0, "must be a finite number >= 0 and < 1"),
    ("train.momentum", math.nan, "must be a finite number >= 0 and < 1"),
    ("train.momentum", math.inf, "must be a finite number >= 0 and < 1"),
    ("train.weight_decay", -1e-4, "must be a finite number >= 0"),
    ("train.weight_decay", math.inf, "must be a finite number >= 0"),
    ("train.weight_decay", math.nan, "must be a finite number >= 0"),
    ("model.bias_init", math.nan, "must be a finite number"),
    ("model.bias_init", math.inf, "must be a finite number"),
    ("model.bias_init", -math.inf, "must be a finite number"),
])
def test_real_ranges(field: str, value: float, rule: str) -> None:
    refused(field, value, rule)


@pytest.mark.parametrize(("field", "value", "valid"), [
    ("train.optimizer", "lbfgs", config.OPTIMIZERS),
    ("train.optimizer", "SGD", config.OPTIMIZERS),
    ("train.optimizer", None, config.OPTIMIZERS),
    ("model.arch", "rnn", ("mlp", "cnn")),
    ("model.arch", 1, ("mlp", "cnn")),
    ("model.activation", "swishy", activations.activation_names()),
    ("model.activation", "ReLU", activations.activation_names()),
    ("model.init", "he", init.INIT_SCHEMES),
    ("data.name", "imagenet", data.DATASETS),
    ("data.name", "", data.DATASETS),
])
def test_choices_list_every_valid_name(field: str, value: object, valid: tuple[str, ...]) -> None:
    refused(field, value, "must be one of " + ", ".join(valid))


def test_optimizers_are_the_ones_the_trainer_builds() -> None:
    assert config.OPTIMIZERS == ("sgd", "adam", "rmsprop")
    from relucourse.models import MLP
    from relucourse.train import make_optimizer

    for name in config.OPTIMIZERS:  # every name the config accepts, the trainer can build
        make_optimizer(MLP(2, 2, width=2, depth=1), TrainConfig(optimizer=name, lr=0.01))


@pytest.mark.parametrize(("others", "value", "pieces"), [
    ({"optimizer": "adam"}, 0.9, ("SGD/RMSprop setting", "'adam'")),  # Adam would ignore it
    ({"optimizer": "adam"}, 0.5, ("SGD/RMSprop setting",)),
])
def test_momentum_only_with_sgd(others: dict, value: float, pieces: tuple[str, ...]) -> None:
    refused("train.momentum", value, *pieces, **others)
    assert TrainConfig(optimizer="adam", momentum=0.0).momentum == 0.0
    assert TrainConfig(optimizer="sgd", momentum=value).momentum == value


@pytest.mark.parametrize(("activation", "kwargs", "pieces"), [
    ("tanh", {"scale": 4.0}, ("'tanh' takes no option 'scale'", "its options: none")),
    ("relu", {"beta": 2}, ("'relu' takes no option 'beta'", "its options: none")),
    ("identity", {"x": 1}, ("'identity' takes no option 'x'",)),
    ("softplus", {"alpha": 1.0, "zeta": 0}, ("'alpha', 'zeta'", "its options: beta")),
    ("sigmoid", {"slope": 4}, ("its options: scale",)),
    ("relu", {"inplace": True}, ("never in place",)),
    ("silu", {"inplace": False}, ("never in place",)),
])
def test_activation_kwargs_must_be_options_of_the_activation(activation: str, kwargs: dict,
                                                              pieces: tuple[str, ...]) -> None:
    refused("model.activation_kwargs", kwargs, *pieces, activation=activation)


@pytest.mark.parametrize(("activation", "kwargs"), [
    ("sigmoid", {"scale": 4}), ("leaky_relu", {"negative_slope": 0.1}), ("prelu", {"init": 0.1}),
    ("softplus", {"beta": 2.0}), ("elu", {"alpha": 1.5}), ("gelu", {"approximate": "tanh"}),
    ("relu_leaky_backward", {"negative_slope": 0.05}), ("relu", {}),
])
def test_activation_kwargs_the_activation_takes_are_accepted(activation: str, kwargs: dict) -> None:
    cfg = ModelConfig(activation=activation, activation_kwargs=kwargs)
    activations.get_activation(cfg.activation, **cfg.activation_kwargs)  # and they really build


@pytest.mark.parametrize("field", ["model.activation_kwargs", "model.init_kwargs"])
@pytest.mark.parametrize(("value", "piece"), [
    (None, "must be a dict with str keys"),
    ([("std", 0.1)], "must be a dict with str keys"),
    ({1: 0.1}, "must be a dict with str keys"),
    ({"std": object()}, "JSON-like"),
    ({"std": torch.tensor(0.1)}, "JSON-like"),
])
def test_option_dicts_are_fingerprintable(field: str, value: object, piece: str) -> None:
    refused(field, value, piece)


@pytest.mark.parametrize("value", [0, 1, "yes", None])
def test_batchnorm_is_a_bool(value: object) -> None:
    refused("model.batchnorm", value, "must be True or False")


@pytest.mark.parametrize(("section", "value"), [("data", ModelConfig()), ("model", None),
                                                ("train", {"lr": 0.1})])
def test_run_config_sections_have_their_types(section: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{section}=.* is invalid: must be a "):
        RunConfig(**{section: value})


@pytest.mark.parametrize(("changes", "message"), [
    ({"train.batch_size": -1}, "train.batch_size=-1 is invalid"),
    ({"model.width": "8"}, "model.width='8' is invalid"),
    ({"train.optimizer": "adam", "train.momentum": 0.9}, "train.momentum=0.9 is invalid"),
    ({"train.batchsize": 8}, "unknown field 'train.batchsize'; train fields: optimizer, lr"),
    ({"lr": 0.1}, "use 'data.x', 'model.x' or 'train.x', not 'lr'"),
])
def test_replace_validates_and_names_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        RunConfig().replace(**changes)
    assert message in str(err.value)


def test_boundary_values_that_are_valid() -> None:
    """The rules' edges, on the accepted side; ints count as floats (lr=1), None where allowed."""
    TrainConfig(lr=1, momentum=0.999, weight_decay=0, batch_size=1, steps=1, eval_every=1,
                seed=2**32 - 1)
    TrainConfig(lr=np.float64(5e-324))  # np.float64 is a float (and fingerprints as one)
    ModelConfig(width=1, depth=1, bias_init=-3)
    ModelConfig(bias_init=None, init="constant", init_kwargs={"value": 0.0})
    DataConfig(name="digits", n_train=1, seed=0)
    DataConfig(n_train=None)
    for name in data.DATASETS:
        DataConfig(name=name)
    for name in activations.activation_names():
        ModelConfig(activation=name)
    for scheme in init.INIT_SCHEMES:
        ModelConfig(init=scheme)


def test_validation_builds_nothing_and_draws_no_random_numbers() -> None:
    before = torch.random.get_rng_state()
    RunConfig(model=ModelConfig(activation="prelu", activation_kwargs={"init": 0.3}))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_fingerprints_of_valid_configs_are_unchanged() -> None:
    """Pinned before validation existed: a changed key would silently drop every cached result."""
    assert RunConfig().fingerprint() == "f5fe33eb7bd2ff05"
    cfg = RunConfig(
        DataConfig(name="digits", n_train=200, seed=3),
        ModelConfig(width=8, depth=2, activation="sigmoid", activation_kwargs={"scale": 4.0},
                    init="normal", init_kwargs={"std": 0.3}, bias_init=None, batchnorm=True),
        TrainConfig(optimizer="adam", lr=1e-3, weight_decay=1e-4, batch_size=32, steps=20,
                    eval_every=10, seed=7))
    assert cfg.fingerprint() == "4934162558014de5"
    assert cfg.replace(**{"train.seed": 7}) == cfg
    assert cfg.replace(**{"train.seed": 8}).fingerprint() != cfg.fingerprint()
    assert config.to_jsonable(cfg)["train"]["lr"] == 1e-3


@pytest.mark.parametrize(("field", "value", "others", "pieces"), [
    ("train.nesterov", True, {}, ("needs optimizer='sgd' and momentum > 0",)),
    ("train.nesterov", True, {"optimizer": "adam"}, ("needs optimizer='sgd'",)),
    ("train.nesterov", 1, {"momentum": 0.9}, ("True or False",)),
    ("train.betas", (0.9,), {"optimizer": "adam"}, ("two numbers in [0, 1)",)),
    ("train.betas", (0.9, 1.0), {"optimizer": "adam"}, ("two numbers in [0, 1)",)),
    ("train.betas", (0.5, 0.9), {}, ("an Adam setting",)),
    ("train.alpha", 1.0, {"optimizer": "rmsprop"}, ("< 1",)),
    ("train.alpha", 0.9, {}, ("an RMSprop setting",)),
    ("train.schedule", "linear", {}, ("constant, cosine, step",)),
    ("train.step_size", None, {"schedule": "step"}, ("needs a step_size",)),
    ("train.step_size", 0, {"schedule": "step"}, ("int >= 1",)),
    ("train.step_size", 10, {}, ("only used with schedule='step'",)),
    ("train.gamma", 0.0, {"schedule": "step", "step_size": 5}, ("> 0",)),
    ("train.clip_norm", 0.0, {}, ("> 0",)),
    ("train.clip_norm", float("nan"), {}, ("finite",)),
    ("data.val_fraction", 0.5, {}, ("< 0.5",)),
    ("data.val_fraction", -0.1, {}, (">= 0",)),
])
def test_optimiser_schedule_clip_and_split_rules(field: str, value: object, others: dict,
                                                 pieces: tuple[str, ...]) -> None:
    refused(field, value, *pieces, **others)


def test_fields_added_later_keep_old_fingerprints_at_their_default() -> None:
    plain = TrainConfig()
    assert "nesterov" not in json.dumps(config.to_jsonable(plain))
    assert config.fingerprint(plain) == config.fingerprint(TrainConfig(schedule="constant"))
    assert config.fingerprint(plain) != config.fingerprint(TrainConfig(clip_norm=1.0))
    assert config.fingerprint(config.DataConfig()) != config.fingerprint(
        config.DataConfig(val_fraction=0.1))


def test_batchnorm_mlp_needs_two_samples_per_batch() -> None:
    bn = config.ModelConfig(batchnorm=True)
    with pytest.raises(ValueError, match=r"train.batch_size=1 is invalid: BatchNorm"):
        config.RunConfig(model=bn, train=TrainConfig(batch_size=1))
    with pytest.raises(ValueError, match=r"data.n_train=1 is invalid: BatchNorm"):
        config.RunConfig(data=config.DataConfig(n_train=1), model=bn)
    config.RunConfig(model=config.ModelConfig(arch="cnn", batchnorm=True),
                     train=TrainConfig(batch_size=1))  # conv BatchNorm also averages positions


@pytest.mark.parametrize(("field", "value", "others", "pieces"), [
    ("model.layernorm", 1, {}, ("True or False",)),
    ("model.residual", "yes", {}, ("True or False",)),
    ("model.layernorm", True, {"arch": "cnn"}, ("an MLP option",)),
    ("model.residual", True, {"arch": "cnn"}, ("an MLP option",)),
    ("model.layernorm", True, {"batchnorm": True}, ("batchnorm or layernorm",)),
    ("model.kernel_size", 4, {"arch": "cnn"}, ("must be odd",)),
    ("model.kernel_size", 0, {"arch": "cnn"}, ("int >= 1",)),
    ("model.kernel_size", 5.0, {"arch": "cnn"}, ("int >= 1",)),
    ("model.kernel_size", 5, {}, ("a CNN option",)),
    ("model.readout", "max", {"arch": "cnn"}, ("avgpool, flatten",)),
    ("model.readout", "flatten", {}, ("a CNN option",)),
])
def test_depth_and_cnn_options(field: str, value: object, others: dict,
                               pieces: tuple[str, ...]) -> None:
    refused(field, value, *pieces, **others)


def test_depth_and_cnn_options_keep_old_fingerprints_at_their_default() -> None:
    plain = ModelConfig()
    assert config.fingerprint(plain) == config.fingerprint(
        ModelConfig(layernorm=False, residual=False, kernel_size=3, readout="avgpool"))
    assert "readout" not in json.dumps(config.to_jsonable(plain))
    ModelConfig(arch="cnn", kernel_size=5, readout="flatten")  # valid
    ModelConfig(residual=True, layernorm=True)  # valid
    assert config.fingerprint(ModelConfig(residual=True)) != config.fingerprint(plain)
