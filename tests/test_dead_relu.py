"""Tests for relucourse.theory.dead_relu and relucourse.labs.checks.dead_relu (chapter 03, ReLU sparsity)."""

from __future__ import annotations

import math

import pytest
import torch

import relucourse as rc
from relucourse import probes as instrument
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.data import Dataset
from relucourse.labs.checks import dead_relu as sparsity_checks
from relucourse.models import MLP
from relucourse.theory import dead_relu as sp
from relucourse.train import train


def _toy_data(n: int = 256, features: int = 8, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    return Dataset("toy", x, y, x[:64], y[:64], 4)


def _mlp(seed: int = 0, **kwargs: object) -> MLP:
    torch.manual_seed(seed)
    defaults = {"width": 16, "depth": 3, "init": "kaiming_normal", "bias_init": 0.0}
    return MLP(8, 4, **{**defaults, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(("depth", "width", "expected"), [
    (1, 1, 0.5), (10, 3, 1 - (7 / 8) ** 10), (1, 10, 2.0**-10), (0, 4, 0.0)])
def test_born_dead_probability_closed_form(depth: int, width: int, expected: float) -> None:
    assert sp.born_dead_probability(depth, width) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("depth", "width"), [(5, 2), (12, 3), (20, 4)])
def test_monte_carlo_matches_closed_form(depth: int, width: int) -> None:
    trials = 6000
    p = sp.born_dead_probability(depth, width)
    mc = sp.born_dead_monte_carlo(depth, width, trials=trials, seed=1)
    assert abs(mc - p) < 4 * math.sqrt(p * (1 - p) / trials) + 1e-3


def test_monte_carlo_is_seeded_and_set_death_is_rarer() -> None:
    a = sp.born_dead_monte_carlo(10, 3, trials=2000, seed=3)
    assert a == sp.born_dead_monte_carlo(10, 3, trials=2000, seed=3)
    assert sp.born_dead_monte_carlo(10, 3, trials=2000, n_inputs=16, seed=3) <= a


def test_package_mlp_born_dead_rate_matches_formula() -> None:
    """The real MLP (zero bias, symmetric init) dies at one input as often as the formula says."""
    depth, width, n = 6, 2, 400
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    dead = sum(any(bool((a == 0).all()) for a in instrument.activations(
        _mlp(s, width=width, depth=depth), x).values()) for s in range(n))
    p = sp.born_dead_probability(depth, width)
    assert abs(dead / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_width_for_is_smallest_sufficient_width() -> None:
    n = sp.width_for(100, 0.01)
    assert sp.born_dead_probability(100, n) <= 0.01 < sp.born_dead_probability(100, n - 1)
    assert n == 14


def test_init_zero_fraction_is_one_half() -> None:
    assert sp.init_zero_fraction(seeds=4) == pytest.approx(0.5, abs=0.03)


def test_unit_masks_agree_with_instrument() -> None:
    model = _mlp()
    with torch.no_grad():
        model.blocks[1].linear.bias[:3] = -100.0  # certainly dead
    x = _toy_data().x_train
    masks = {c.layer: c for c in instrument.unit_checks(model, x)}
    expected = instrument.dead_units(model, x)
    for layer, m in masks.items():
        assert list(m.dead) == expected[f"{layer}.act"].nonzero().flatten().tolist()
        assert m.negative == m.dead  # for ReLU, negative everywhere == dead
        assert all((v <= 0) == (u in m.dead) for u, v in enumerate(m.max_pre))
    assert {0, 1, 2} <= set(masks["blocks.1"].dead)


def test_leaky_relu_units_are_never_dead_but_can_be_negative() -> None:
    model = _mlp(activation="leaky_relu")
    with torch.no_grad():
        model.blocks[0].linear.bias[:2] = -100.0
    masks = {c.layer: c for c in instrument.unit_checks(model, _toy_data().x_train)}
    assert masks["blocks.0"].dead == ()
    assert masks["blocks.0"].negative[:2] == (0, 1)


def test_l1_penalty_increases_sparsity_and_removes_hooks() -> None:
    data = _toy_data()
    cfg = TrainConfig(optimizer="adam", lr=1e-2, steps=60, eval_every=30)
    zero = {}
    for strength in (0.0, 1.0):
        model = _mlp()
        penalty = instrument.L1ActivationPenalty(strength)
        train(model, data, cfg, callbacks=[penalty], progress=False)
        assert all(not m._forward_hooks for m in model.modules())
        zero[strength] = sum(r.zero_frac for r in instrument.layer_stats(model, data.x_train)) / 3
    assert zero[1.0] > zero[0.0] + 0.05


def test_l1_penalty_value() -> None:
    model = _mlp()
    penalty = instrument.L1ActivationPenalty(0.5)

    class _State:
        pass

    state = _State()
    state.model = model  # type: ignore[attr-defined]
    penalty.on_train_start(state)  # type: ignore[arg-type]
    x = _toy_data().x_train[:32]
    model(x)
    value = penalty.regularizer(state, x)  # type: ignore[arg-type]
    acts = instrument.activations(model, x)
    assert value is not None and value.requires_grad
    assert value.item() == pytest.approx(0.5 * sum(a.abs().mean().item() for a in acts.values()))
    penalty.close()
    assert all(not m._forward_hooks for m in model.modules())
    assert "strength=0.5" in repr(penalty)
    with pytest.raises(ValueError):
        instrument.L1ActivationPenalty(-1.0)


def test_tracker_records_and_finds_permanent_deaths() -> None:
    data = _toy_data()
    model = _mlp()
    cfg = TrainConfig(optimizer="adam", lr=0.3, steps=40, eval_every=20)
    result = train(model, data, cfg, callbacks=[instrument.DeadUnits(every=10)], progress=False)
    assert result.check_steps() == [0, 10, 20, 30, 40]
    series = result.unit_series("dead")
    assert set(series) == {"blocks.0", "blocks.1", "blocks.2"}
    final = instrument.dead_units(model, data.x_train)
    n_dead = sum(int(m.sum()) for m in final.values())
    assert result.unit_fraction("dead") == pytest.approx(n_dead / 48)
    history = result.deaths_and_revivals()
    for layer, unit, step in history["permanent"]:
        hist = [unit in c.dead for c in result.units if c.layer == layer]
        assert not hist[0] and all(hist[result.check_steps().index(step):])


def test_skippable_macs() -> None:
    out = sp.skippable_macs([4, 10, 10, 2], [0.5, 0.25])
    assert out["total"] == 4 * 10 + 10 * 10 + 10 * 2
    assert out["skippable"] == 0.5 * 100 + 0.25 * 20
    with pytest.raises(ValueError):
        sp.skippable_macs([4, 10, 2], [0.5, 0.5])


def test_matmul_timings_compare_four_kernels_interleaved(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = sp.interleaved

    def spy(fns, **kwargs):
        calls.extend(fns)
        assert torch.get_num_threads() == 1  # timed on one thread
        out = real(fns, **kwargs)
        assert torch.allclose(fns["dense_with_zeros"](), fns["sparse_csr"](), atol=1e-3)
        return out

    monkeypatch.setattr(sp, "interleaved", spy)
    threads = torch.get_num_threads()
    t = sp.matmul_timings(128, 0.5, repeats=3)
    assert torch.get_num_threads() == threads  # and restored
    assert calls == ["dense", "dense_with_zeros", "sparse_csr", "sparse_csr_convert"]
    assert set(t) == set(calls) and all(v.repeats == 3 and v.min_s > 0 for v in t.values())
    # 99% zeros: CSR skips almost all the work (a wide margin: ~100x fewer multiply-adds)
    sparse = sp.matmul_timings(256, 0.99, repeats=5)
    assert sparse["sparse_csr"].median_s < sparse["dense"].median_s


def test_vary_builds_labelled_configs() -> None:
    base = RunConfig(DataConfig(), ModelConfig(), TrainConfig())
    cfgs = rc.experiments.vary(base, "train.lr", [0.1, 0.2])
    assert list(cfgs) == ["lr=0.1", "lr=0.2"]
    assert cfgs["lr=0.2"].train.lr == 0.2


def test_checkers() -> None:
    x = _toy_data().x_train
    model = _mlp()

    def right(m: torch.nn.Module, xx: torch.Tensor) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in instrument.dead_units(m, xx).items()}

    sparsity_checks.check_dead_counter(right, model, x)
    with pytest.raises(AssertionError):
        sparsity_checks.check_dead_counter(lambda m, xx: dict.fromkeys(right(m, xx), 0), model, x)
    sparsity_checks.check_lr_sweep([1e-3, 1e-2, 1e-1], [0.0, 0.1, 0.6])
    with pytest.raises(AssertionError):
        sparsity_checks.check_lr_sweep([1e-3, 1e-2, 1e-1], [0.5, 0.1, 0.0])
    sparsity_checks.check_fixed([(0.7, 0.2)] * 3, [(0.02, 0.6)] * 3)
    with pytest.raises(AssertionError):
        sparsity_checks.check_fixed([(0.7, 0.2)] * 3, [(0.0, 0.25)] * 3)


# --- dead fractions from the batched engine's probe, the bias threshold, in-place ReLU ----------

def _stat_record(dead_by_step: dict[int, list[float]], diverged: int | None = None) -> rc.records.Record:
    rows = [rc.records.LayerStat(step=step, layer=f"blocks.{i}.act", mean=0.0, std=1.0,
                                 zero_frac=0.5, second_moment=1.0, dead_frac=d)
            for step, fracs in dead_by_step.items() for i, d in enumerate(fracs)]
    return rc.records.Record(steps=[10], train_loss=[1.0], layer_stats=rows, diverged_at=diverged)


def test_dead_fraction_reads_layer_stats() -> None:
    r = _stat_record({0: [0.0, 0.25], 10: [0.5, 0.75]})
    assert sp.dead_fraction(r) == pytest.approx(0.625)
    assert sp.dead_fraction(r, index=0) == pytest.approx(0.125)
    assert sp.dead_fraction(r, field="zero_frac") == pytest.approx(0.5)
    steps, series = sp.layer_stat_series(r)
    assert steps == [0, 10] and series == {"blocks.0.act": [0.0, 0.5], "blocks.1.act": [0.25, 0.75]}
    assert math.isnan(sp.dead_fraction(_stat_record({0: [0.0]}, diverged=5)))
    with pytest.raises(ValueError, match="layer_stats"):
        sp.dead_fraction(rc.records.Record())


def test_dead_probe_measures_the_whole_training_set_like_probes_dead_fraction() -> None:
    """One run, read two ways: the probe's final dead fraction is probes.dead_fraction of the
    trained model on the whole training set (the chapter's definition)."""
    cfg = RunConfig(data=DataConfig(name="digits"),
                    model=ModelConfig(width=16, depth=3, init="kaiming_normal", bias_init=0.0),
                    train=TrainConfig(optimizer="adam", lr=0.1, steps=40, eval_every=20))
    model, record = rc.fit(cfg, probes=[sp.dead_probe(every=20)])
    data = rc.experiments.runner.load_data(cfg, torch.device("cpu"))
    assert sp.dead_fraction(record) == pytest.approx(instrument.dead_fraction(model, data.x_train))
    assert sp.dead_probe(5).n_probe >= len(data.x_train) and sp.dead_probe(5).per_unit_dead


def test_dead_probe_runs_on_the_batched_engine_with_the_loops_numbers() -> None:
    cfg = RunConfig(data=DataConfig(name="digits"),
                    model=ModelConfig(width=16, depth=3, init="kaiming_normal", bias_init=0.0),
                    train=TrainConfig(optimizer="adam", lr=0.1, steps=40, eval_every=20))
    probe = [sp.dead_probe(every=20)]
    assert rc.experiments.batched.batchable(cfg, probe)
    loop = rc.sweep({"a": cfg}, (0, 1), probes=probe, engine="loop", use_cache=False)["a"]
    batched = rc.sweep({"a": cfg}, (0, 1), probes=probe, engine="batched", use_cache=False)["a"]
    for a, b in zip(loop, batched, strict=True):
        assert sp.dead_fraction(a) == pytest.approx(sp.dead_fraction(b), abs=1 / 16)


def test_first_layer_fires_iff_w_dot_x_exceeds_minus_b() -> None:
    cfg = ModelConfig(width=32, depth=2, activation="relu", init="kaiming_normal", bias_init=0.0)
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    out = sp.first_layer_firing(cfg, x, [-0.5, 0.0, 0.01, 0.5], seeds=(0, 1))
    assert all(row["fires"] == row["predicted"] for row in out.values())
    assert out[0.0]["fires"] == pytest.approx(0.5, abs=0.05)
    fires = [out[b]["fires"] for b in (-0.5, 0.0, 0.01, 0.5)]
    assert fires == sorted(fires) and fires[2] - fires[1] < 0.02
    small = (out[0.01]["fires"] - out[0.0]["fires"]) / (0.01 / (out[0.0]["sigma"] * math.sqrt(2 * math.pi)))
    assert small == pytest.approx(1.0, abs=0.5)


def test_inplace_relu_demo() -> None:
    demo = sp.inplace_relu_demo()
    assert demo["after_linear_ok"] is True and demo["hook_saw_zeros"] is True
    assert "modified by an inplace operation" in demo["after_sigmoid_error"]


def test_born_dead_curve_is_one_pass_of_the_deepest_networks() -> None:
    depths = [1, 4, 7, 10]
    curve = sp.born_dead_curve(depths, 2, trials=4000, seed=3)
    # the single-depth estimate is the same pass cut at that depth
    assert curve[-1] == sp.born_dead_monte_carlo(10, 2, trials=4000, seed=3)
    assert curve == sorted(curve)  # a network dead by layer d is dead at every deeper layer
    exact = [sp.born_dead_probability(d, 2) for d in depths]
    assert all(abs(m - p) < 4 * (p * (1 - p) / 4000) ** 0.5 + 1e-3
               for m, p in zip(curve, exact, strict=True))
    with pytest.raises(ValueError, match=r"depths=\[0\] is invalid"):
        sp.born_dead_curve([0], 2)
