"""models: MLP and SmallCNN shapes, stable block names, init and the ModelConfig builder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import relucourse as rc
from relucourse.activations import activation_names
from relucourse.models import MLP, SmallCNN, build_model


def names(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_modules() if n]


def test_mlp_shapes_and_names() -> None:
    torch.manual_seed(0)
    model = MLP(40, 10, width=16, depth=3)
    assert model(torch.randn(5, 40)).shape == (5, 10)
    assert model(torch.randn(5, 1, 40)).shape == (5, 10)  # flattened first
    want = []
    for i in range(3):
        want += [f"blocks.{i}", f"blocks.{i}.linear", f"blocks.{i}.norm", f"blocks.{i}.act"]
    assert names(model) == ["blocks", *want, "head"]
    assert model.blocks[0].linear.in_features == 40
    assert all(b.linear.out_features == 16 for b in model.blocks)
    assert model.head.in_features == 16 and model.head.out_features == 10
    assert all(isinstance(b.norm, nn.Identity) for b in model.blocks)


@pytest.mark.parametrize("activation", activation_names())
def test_mlp_every_activation(activation: str) -> None:
    torch.manual_seed(0)
    model = MLP(6, 3, width=8, depth=2, activation=activation)
    assert model(torch.randn(4, 6)).shape == (4, 3)
    acts = [b.act for b in model.blocks]
    assert acts[0] is not acts[1]  # one module per layer (PReLU learns a slope per layer)
    assert type(acts[0]) is type(rc.activations.get_activation(activation))


def test_mlp_activation_kwargs_reach_every_block() -> None:
    model = MLP(6, 3, width=8, depth=3, activation="leaky_relu",
                activation_kwargs={"negative_slope": 0.2})
    assert all(b.act.negative_slope == 0.2 for b in model.blocks)


def test_batchnorm_option() -> None:
    torch.manual_seed(0)
    model = MLP(6, 3, width=8, depth=2, batchnorm=True)
    assert all(isinstance(b.norm, nn.BatchNorm1d) and b.norm.num_features == 8 for b in model.blocks)
    assert model(torch.randn(4, 6)).shape == (4, 3)


@pytest.mark.parametrize(("depth", "width"), [(0, 8), (2, 0), (-1, 8)])
def test_depth_width_validation(depth: int, width: int) -> None:
    with pytest.raises(ValueError, match="depth and width must be >= 1"):
        MLP(6, 3, width=width, depth=depth)


def test_mlp_bias_init_and_scheme() -> None:
    torch.manual_seed(0)
    model = MLP(200, 10, width=300, depth=2, init="kaiming_normal", bias_init=0.0)
    for b in model.blocks:
        assert torch.all(b.linear.bias == 0)
    assert torch.all(model.head.bias == 0)
    assert model.blocks[1].linear.weight.var().item() == pytest.approx(2 / 300, rel=0.05)
    kept = MLP(200, 10, width=300, depth=2, bias_init=None)
    assert kept.blocks[0].linear.bias.abs().max() > 0


def test_mlp_init_kwargs() -> None:
    torch.manual_seed(0)
    model = MLP(200, 10, width=300, depth=2, init="normal", init_kwargs={"std": 0.2})
    assert model.blocks[1].linear.weight.std().item() == pytest.approx(0.2, rel=0.03)
    assert model.head.weight.std().item() == pytest.approx(0.2, rel=0.1)


def test_mlp_tanh_uses_tanh_gain() -> None:
    """Kaiming init uses the activation's own gain, 1/sqrt(E[tanh(z)^2]) (init.activation_gain),
    not PyTorch's 5/3 heuristic (chapter 5's gain table)."""
    from relucourse.init import activation_gain

    torch.manual_seed(0)
    model = MLP(300, 10, width=300, depth=2, activation="tanh", init="kaiming_normal")
    want = activation_gain("tanh") ** 2 / 300
    assert abs(activation_gain("tanh") - nn.init.calculate_gain("tanh")) > 0.05
    assert model.blocks[1].linear.weight.var().item() == pytest.approx(want, rel=0.05)


def test_same_seed_same_weights() -> None:
    torch.manual_seed(3)
    a = MLP(6, 3, width=8, depth=2)
    torch.manual_seed(3)
    b = MLP(6, 3, width=8, depth=2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_cnn_1d_and_2d_shapes() -> None:
    torch.manual_seed(0)
    one = SmallCNN((1, 40), 10, channels=(4, 8))
    assert one(torch.randn(3, 1, 40)).shape == (3, 10)
    assert one(torch.randn(3, 40)).shape == (3, 10)  # flat rows are viewed as (C, L)
    assert isinstance(one.blocks[0].linear, nn.Conv1d)
    two = SmallCNN((3, 16, 16), 7, channels=(4, 8, 8), batchnorm=True)
    assert two(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    assert isinstance(two.blocks[0].linear, nn.Conv2d)
    assert isinstance(two.blocks[2].norm, nn.BatchNorm2d)
    assert "blocks.1.act" in names(two) and "head" in names(two)
    with pytest.raises(ValueError, match=r"\(C, L\) or \(C, H, W\)"):
        SmallCNN((1, 2, 3, 4), 10)


def test_cnn_pools_only_while_the_signal_is_long_enough() -> None:
    deep = SmallCNN((1, 8, 8), 10, channels=(4,) * 5)  # 8 -> 4 -> 2 -> 1, then no more pooling
    assert deep.pool_after == [True, True, True, False, False]
    assert deep(torch.randn(2, 64)).shape == (2, 10)


def test_build_model_from_config() -> None:
    torch.manual_seed(0)
    cfg = rc.ModelConfig(width=12, depth=3, activation="tanh", batchnorm=True)
    model = build_model(cfg, in_features=40, num_classes=10)
    assert isinstance(model, MLP) and len(model.blocks) == 3
    assert isinstance(model.blocks[0].act, nn.Tanh) and isinstance(model.blocks[0].norm, nn.BatchNorm1d)
    assert model(torch.randn(2, 40)).shape == (2, 10)
    cnn = build_model(rc.ModelConfig(arch="cnn", width=4, depth=2), 40, 10, input_shape=(1, 40))
    assert isinstance(cnn, SmallCNN) and len(cnn.blocks) == 2
    assert cnn(torch.randn(2, 1, 40)).shape == (2, 10)
    assert build_model(rc.ModelConfig(arch="cnn", width=4, depth=2), 40, 10).input_shape == (1, 40)


def test_build_cnn_passes_init_kwargs() -> None:
    torch.manual_seed(0)
    cfg = rc.ModelConfig(arch="cnn", width=64, depth=2, init="normal", init_kwargs={"std": 0.3})
    cnn = build_model(cfg, 40, 10, input_shape=(1, 40))
    assert cnn.blocks[1].linear.weight.std().item() == pytest.approx(0.3, rel=0.05)


@pytest.mark.parametrize(("dataset", "conv"), [("mnist1d", nn.Conv1d), ("digits", nn.Conv2d)])
def test_cnn_trains_through_fit_on_1d_and_2d_data(monkeypatch: pytest.MonkeyPatch,
                                                  dataset: str, conv: type) -> None:
    monkeypatch.setenv("RELUCOURSE_PROGRESS", "0")
    cfg = rc.RunConfig(data=rc.DataConfig(name=dataset, n_train=256),
                       model=rc.ModelConfig(arch="cnn", width=8, depth=2),
                       train=rc.TrainConfig(optimizer="adam", lr=3e-3, steps=30, eval_every=15,
                                            batch_size=64))
    model, record = rc.fit(cfg)
    assert isinstance(model.blocks[0].linear, conv)
    assert record.train_loss[-1] < record.train_loss[0] and record.final_test_acc > 0.1
    dead = rc.probes.dead_fraction(model, rc.experiments.load_data(cfg, torch.device("cpu")).x_test)
    assert 0.0 <= dead < 1.0


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="'rnn'.*mlp, cnn"):
        build_model(rc.ModelConfig(arch="rnn"), 40, 10)


def test_cnn_flatten_readout_is_the_mnist1d_baseline_size() -> None:
    """Three blocks of 25 channels, kernel 3, flattened into the head: about 5k parameters, the
    size of the MNIST-1D baseline CNN (Greydanus 2020)."""
    torch.manual_seed(0)
    cnn = SmallCNN((1, 40), 10, channels=(25, 25, 25), readout="flatten")
    assert cnn.head.in_features == 25 * 5  # 40 -> 20 -> 10 -> 5 positions
    assert sum(p.numel() for p in cnn.parameters()) == 5160
    assert cnn(torch.randn(3, 40)).shape == (3, 10)
    pooled = SmallCNN((1, 40), 10, channels=(25, 25, 25))
    assert pooled.head.in_features == 25
    two = SmallCNN((1, 8, 8), 10, channels=(4, 4), readout="flatten", kernel_size=5)
    assert two.head.in_features == 4 * 2 * 2 and two.blocks[0].linear.kernel_size == (5, 5)
    assert two(torch.randn(2, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="odd"):
        SmallCNN((1, 40), 10, kernel_size=4)
    with pytest.raises(ValueError, match="readout"):
        SmallCNN((1, 40), 10, readout="max")


def test_build_cnn_passes_kernel_size_and_readout() -> None:
    cfg = rc.ModelConfig(arch="cnn", width=6, depth=3, kernel_size=5, readout="flatten")
    cnn = build_model(cfg, 40, 10, input_shape=(1, 40))
    assert cnn.blocks[0].linear.kernel_size == (5,) and cnn.readout == "flatten"
    assert cnn.head.in_features == 6 * 5
    assert build_model(rc.ModelConfig(arch="cnn", width=6, depth=2), 64, 10,
                       input_shape=(1, 8, 8)).readout == "avgpool"


def test_mlp_layernorm_and_residual() -> None:
    torch.manual_seed(0)
    ln = MLP(6, 3, width=8, depth=3, layernorm=True)
    assert all(isinstance(b.norm, nn.LayerNorm) for b in ln.blocks)
    assert names(ln) == names(MLP(6, 3, width=8, depth=3))  # same block names
    res = MLP(6, 3, width=8, depth=3, residual=True)
    assert res.skip == [False, True, True]  # the first block changes the width: no shortcut
    x = torch.randn(4, 6)
    h = res.blocks[0](x)
    h = h + res.blocks[1](h)
    h = h + res.blocks[2](h)
    assert torch.allclose(res(x), res.head(h))
    square = MLP(8, 3, width=8, depth=2, residual=True)
    assert square.skip == [True, True]
    with pytest.raises(ValueError, match="batchnorm or layernorm"):
        MLP(6, 3, batchnorm=True, layernorm=True)


def test_build_mlp_passes_layernorm_and_residual() -> None:
    cfg = rc.ModelConfig(width=8, depth=3, layernorm=True, residual=True)
    model = build_model(cfg, 40, 10)
    assert isinstance(model.blocks[1].norm, nn.LayerNorm) and model.skip == [False, True, True]


def test_the_batched_engine_refuses_what_it_cannot_train() -> None:
    """CNNs go through the loop (engine="auto" sends them there); normalised and residual MLPs
    stack."""
    from relucourse.experiments.batched import batchable, check_stackable

    cfg = rc.RunConfig().replace(**{"model.arch": "cnn"})
    assert not batchable(cfg)
    with pytest.raises(ValueError, match="batched engine"):
        check_stackable([cfg])
    for change in ({"model.residual": True}, {"model.layernorm": True},
                   {"model.batchnorm": True}, {}):
        assert batchable(rc.RunConfig().replace(**change))
