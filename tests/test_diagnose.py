"""diagnose: every flag fires on a network built to have that problem and stays quiet on healthy
ones; the measurements match hand computations; the probe does not change the run it watches."""

from __future__ import annotations

import math

import pytest
import torch

import relucourse as rc
from relucourse import diagnose as dg
from relucourse.models import MLP


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")


@pytest.fixture(scope="module")
def data() -> rc.data.Dataset:
    return rc.data.load_dataset("mnist1d")


BASE = rc.RunConfig(model=rc.ModelConfig(width=32, depth=4, activation="relu", init="kaiming_normal"),
                    train=rc.TrainConfig(optimizer="adam", lr=1e-3, steps=30, eval_every=10))

HEALTHY = {
    "relu, Kaiming init": BASE,
    "tanh, Xavier init": BASE.replace(**{"model.activation": "tanh", "model.init": "xavier_normal"}),
    "relu + LayerNorm": BASE.replace(**{"model.layernorm": True}),
}

# kind -> a network built to have that problem
BROKEN = {
    "saturated": BASE.replace(**{"model.activation": "sigmoid", "model.init": "normal",
                                 "model.init_kwargs": {"std": 1.0}}),
    "dead": BASE.replace(**{"model.bias_init": -1.5}),
    "exploding_activations": BASE.replace(**{"model.init": "normal", "model.init_kwargs": {"std": 0.6},
                                             "train.optimizer": "sgd", "train.lr": 1e-3}),
    "exploding_gradients": BASE.replace(**{"model.init": "normal", "model.init_kwargs": {"std": 0.6},
                                           "train.optimizer": "sgd", "train.lr": 1e-3}),
    "initial_loss": BASE.replace(**{"model.init": "normal", "model.init_kwargs": {"std": 0.6},
                                    "train.optimizer": "sgd", "train.lr": 1e-3}),
    "vanishing_gradients": BASE.replace(**{"model.activation": "sigmoid", "model.depth": 6,
                                           "model.init": "pytorch_default"}),
    "symmetric": BASE.replace(**{"model.activation": "tanh", "model.init": "constant",
                                 "model.init_kwargs": {"value": 0.01}}),
    "large_updates": BASE.replace(**{"model.activation": "tanh", "model.init": "xavier_normal",
                                     "train.lr": 0.3}),
    "small_updates": BASE.replace(**{"train.optimizer": "sgd", "train.lr": 1e-5}),
    "diverged": BASE.replace(**{"train.optimizer": "sgd", "train.lr": 50.0}),
}


def test_every_kind_has_a_broken_network() -> None:
    assert set(BROKEN) == set(dg.KINDS)


@pytest.mark.parametrize("label", list(HEALTHY))
def test_healthy_networks_raise_no_flag(label: str, data: rc.data.Dataset) -> None:
    d = dg.diagnose(HEALTHY[label], data=data, every=10, n_probe=256)
    assert d.healthy, d.summary()
    assert "No problem flagged." in d.summary()


@pytest.mark.parametrize("kind", list(BROKEN))
def test_each_flag_fires_on_its_broken_network(kind: str, data: rc.data.Dataset) -> None:
    d = dg.diagnose(BROKEN[kind], data=data, every=10, n_probe=256)
    assert d.flagged(kind), d.summary()
    assert f"PROBLEM ({kind})" in d.summary()


def test_flags_are_specific(data: rc.data.Dataset) -> None:
    """The four failures of the lab are told apart: each has its flag and not the others'."""
    lab = {"saturated": BROKEN["saturated"], "dead": BROKEN["dead"],
           "exploding_activations": BROKEN["exploding_activations"],
           "symmetric": BROKEN["symmetric"]}
    for kind, cfg in lab.items():
        kinds = set(dg.diagnose(cfg, data=data, every=10, n_probe=256).kinds)
        assert kind in kinds
        assert not (kinds & (set(lab) - {kind})), (kind, kinds)


def test_saturation_thresholds() -> None:
    tanh = torch.tensor([[0.0, 0.96, 0.971, -0.98]])
    assert dg.saturation(tanh, "tanh") == pytest.approx(0.5)
    sig = torch.tensor([[0.02, 0.031, 0.5, 0.969, 0.98]])
    assert dg.saturation(sig, "sigmoid") == pytest.approx(0.4)
    assert dg.saturation(sig, "relu") is None


def test_identical_units() -> None:
    x = torch.randn(50, 1)
    assert dg.identical_units(x.repeat(1, 8))
    assert not dg.identical_units(torch.randn(50, 8))
    assert not dg.identical_units(torch.zeros(50, 8))  # dead, not symmetric
    assert not dg.identical_units(x)  # one unit is not a symmetry
    conv = torch.randn(4, 1, 10).repeat(1, 6, 1)  # (N, channels, length): channels identical
    assert dg.identical_units(conv)


def test_expected_initial_loss_is_ln_c() -> None:
    assert dg.expected_initial_loss(10) == pytest.approx(math.log(10))
    logits = torch.zeros(7, 10)
    assert torch.nn.functional.cross_entropy(logits, torch.arange(7)).item() == pytest.approx(
        dg.expected_initial_loss(10))
    with pytest.raises(ValueError):
        dg.expected_initial_loss(1)


def test_update_ratio_of_one_sgd_step_is_lr_grad_over_weight(data: rc.data.Dataset) -> None:
    """With plain SGD, W_1 - W_0 = -lr dL/dW on the first batch: the ratio is checked by hand."""
    cfg = BASE.replace(**{"train.optimizer": "sgd", "train.lr": 0.05, "train.steps": 1,
                          "train.eval_every": 1})
    d = dg.diagnose(cfg, data=data, every=1)
    model = rc.experiments.init_model(cfg.model, data.n_features, data.num_classes, cfg.train.seed)
    w0 = model.blocks[1].linear.weight.detach().clone()
    idx = next(data.batches(cfg.train.batch_size, torch.Generator().manual_seed(cfg.train.seed)))
    torch.nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
    g = model.blocks[1].linear.weight.grad
    w1 = w0 - 0.05 * g
    want = (0.05 * g).pow(2).mean().sqrt() / w1.pow(2).mean().sqrt()
    got = next(u.ratio for u in d.updates if u.layer == "blocks.1" and u.step == 1)
    assert got == pytest.approx(want.item(), rel=1e-4)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_the_probe_does_not_change_the_run(batchnorm: bool, data: rc.data.Dataset) -> None:
    cfg = BASE.replace(**{"model.batchnorm": batchnorm, "train.steps": 20})
    _, plain = rc.fit(cfg, data=data)
    probe = dg.Diagnostics(every=5, activation="relu")
    _, probed = rc.fit(cfg, probes=[probe], data=data)
    assert probed.train_loss == plain.train_loss and probed.test_acc == plain.test_acc
    assert probe.checks and probe.updates


def test_diagnose_a_model_leaves_it_untouched(data: rc.data.Dataset) -> None:
    torch.manual_seed(0)
    model = MLP(40, 10, width=16, depth=3, activation="tanh")
    before = [p.detach().clone() for p in model.parameters()]
    d = dg.diagnose(model, data, steps=15, every=5)
    assert d.activation == "tanh" and d.check_steps == [0, 5, 10, 15]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert d.num_classes == 10 and d.initial_loss > 0
    with pytest.raises(ValueError, match="pass the Dataset"):
        dg.diagnose(model)


def test_diagnose_a_cnn(data: rc.data.Dataset) -> None:
    cfg = BASE.replace(**{"model.arch": "cnn", "model.width": 8, "model.depth": 2,
                          "model.readout": "flatten", "model.init": "constant",
                          "model.init_kwargs": {"value": 0.05}, "model.activation": "tanh"})
    d = dg.diagnose(cfg, data=data, steps=10, every=5)
    assert d.layers == ["blocks.0", "blocks.1"]
    assert d.flagged("symmetric")  # channels with identical kernels stay identical


def test_summary_table_and_panel(data: rc.data.Dataset) -> None:
    import matplotlib

    matplotlib.use("Agg")
    d = dg.diagnose(BROKEN["saturated"], data=data, every=10, n_probe=256)
    text = d.summary()
    assert "blocks.3" in text and "ln C = 2.303" in text and "saturated" in text
    assert set(d.median_update_ratio()) == {"blocks.0", "blocks.1", "blocks.2", "blocks.3", "head"}
    fig = d.plot("test")
    assert len(fig.axes) == 8
    with pytest.raises(ValueError, match="unknown kind"):
        d.flagged("sad")


def test_distinct_units() -> None:
    x = torch.randn(30, 1)
    assert dg.distinct_units(x.repeat(1, 5)) == 1
    assert dg.distinct_units(torch.cat([x.repeat(1, 3), -x.repeat(1, 2)], 1)) == 2
    assert dg.distinct_units(torch.randn(30, 7)) == 7


# --- the "Fix the broken network" lab's checkers (labs/08_fix_the_network_lab.ipynb) ----------

@pytest.fixture(scope="module")
def lab_networks() -> dict[str, rc.RunConfig]:
    from relucourse.labs.checks import diagnostics as checks

    assert all(len(checks.differences(cfg)) <= 3 for cfg in checks.BROKEN.values())
    return checks.BROKEN


def test_lab_causes_right_and_wrong(lab_networks: dict, data: rc.data.Dataset,
                                    capsys: pytest.CaptureFixture) -> None:
    from relucourse.labs.checks import CheckFailed
    from relucourse.labs.checks import diagnostics as checks

    diags = {k: dg.diagnose(cfg, data=data, every=20) for k, cfg in lab_networks.items()}
    for network, truth in checks.ANSWERS.items():
        assert diags[network].flagged(checks.FLAGS[truth][0])  # the tool agrees with the key
        checks.check_cause(f" {truth.upper()} ", network, diags[network])  # case and spaces
        assert f"[ok] network {network}: {truth}" in capsys.readouterr().out
        for wrong in set(checks.CAUSES) - {truth}:
            with pytest.raises(CheckFailed) as err:
                checks.check_cause(wrong, network, diags[network])
            assert truth not in str(err.value).split(":")[0]  # the hint does not name the answer
    with pytest.raises(CheckFailed, match="not one of the causes"):
        checks.check_cause("vanishing", "A", diags["A"])
    with pytest.raises(CheckFailed, match="should be a string"):
        checks.check_cause(3, "A", diags["A"])
    with pytest.raises(CheckFailed, match="consequence, not the cause"):
        checks.check_cause("dead", "C", diags["C"])  # C's units do die, after exploding


def test_lab_fixes(lab_networks: dict, data: rc.data.Dataset) -> None:
    from relucourse.labs.checks import CheckFailed
    from relucourse.labs.checks import diagnostics as checks

    broken = lab_networks
    with pytest.raises(CheckFailed, match="unchanged"):
        checks.check_fix(broken["B"], "B", broken["B"], data)
    with pytest.raises(CheckFailed, match="should be a RunConfig"):
        checks.check_fix("bias 0", "B", broken["B"], data)
    with pytest.raises(CheckFailed, match="not the experiment"):
        checks.check_fix(broken["B"].replace(**{"train.steps": 2000}), "B", broken["B"], data)
    # the cause removed but a second problem left: saturation gone, vanishing gradient remains
    xavier = broken["A"].replace(**{"model.init": "xavier_normal", "model.init_kwargs": {}})
    with pytest.raises(CheckFailed, match="second problem"):
        checks.check_fix(xavier, "A", broken["A"], data)
    # clipping bounds the steps, but the activations still explode
    with pytest.raises(CheckFailed, match="still raises exploding"):
        checks.check_fix(broken["C"].replace(**{"train.clip_norm": 1.0}), "C", broken["C"], data)
    fixed = checks.check_fix(broken["C"].replace(**{"model.batchnorm": True}), "C", broken["C"],
                             data)
    assert fixed.record.final_train_loss < checks.LOSS_THRESHOLD
    # every broken network fails its own check
    for network, cfg in broken.items():
        with pytest.raises(CheckFailed):
            checks.check_fix(cfg.replace(**{"train.lr": cfg.train.lr * 1.0001}), network, cfg, data)
