"""runtime: device choice (cuda > mps > cpu), the fast/full switch, seeds and the setup banner."""

from __future__ import annotations

import random

import matplotlib as mpl
import numpy as np
import pytest
import torch

import relucourse as rc
from relucourse import runtime


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment for the runtime variables."""
    for name in (runtime.FAST_ENV, runtime.DEVICE_ENV, runtime.PROGRESS_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def fake_hardware(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_auto_picks_cpu_on_this_machine(no_env: pytest.MonkeyPatch) -> None:
    fake_hardware(no_env, cuda=False, mps=False)
    assert rc.pick_device() == torch.device("cpu")
    assert rc.pick_device("auto") == torch.device("cpu")
    assert rc.pick_device(" CPU ") == torch.device("cpu")
    assert rc.pick_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_order_is_cuda_then_mps_then_cpu(no_env: pytest.MonkeyPatch, cuda: bool, mps: bool,
                                               expected: str) -> None:
    fake_hardware(no_env, cuda=cuda, mps=mps)
    assert rc.pick_device("auto").type == expected
    assert runtime.available_devices()[0] == expected
    assert runtime.available_devices()[-1] == "cpu"


def test_invalid_name_lists_valid_choices(no_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="gpu") as err:
        rc.pick_device("gpu")
    for choice in runtime.VALID_DEVICES:
        assert choice in str(err.value)


def test_explicit_absent_cuda_raises_naming_available(no_env: pytest.MonkeyPatch) -> None:
    fake_hardware(no_env, cuda=False, mps=False)
    with pytest.raises(RuntimeError, match="'cuda'.*available: cpu"):
        rc.pick_device("cuda")
    with pytest.raises(RuntimeError, match="mps"):
        rc.pick_device("mps")


def test_explicit_cuda_when_present(no_env: pytest.MonkeyPatch) -> None:
    fake_hardware(no_env, cuda=True, mps=False)
    assert rc.pick_device("cuda") == torch.device("cuda")


def test_device_env_variable(no_env: pytest.MonkeyPatch) -> None:
    fake_hardware(no_env, cuda=False, mps=False)
    no_env.setenv(runtime.DEVICE_ENV, "cpu")
    assert rc.pick_device() == torch.device("cpu")
    no_env.setenv(runtime.DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError):
        rc.pick_device()
    # an explicit argument wins over the variable
    assert rc.pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("raw", "fast"),
    [("1", True), ("true", True), (" YES ", True), ("on", True), ("0", False), ("false", False),
     ("no", False), ("off", False)],
)
def test_fast_flag_parsing(no_env: pytest.MonkeyPatch, raw: str, fast: bool) -> None:
    no_env.setenv(runtime.FAST_ENV, raw)
    mode = runtime.current_mode(torch.device("cpu"))
    assert mode.fast is fast
    assert mode.name == ("fast" if fast else "full")
    assert runtime.FAST_ENV in mode.reason
    assert runtime.is_fast() is fast


@pytest.mark.parametrize("raw", ["", "  "])
def test_fast_unset_or_empty_is_auto(no_env: pytest.MonkeyPatch, raw: str) -> None:
    if raw:
        no_env.setenv(runtime.FAST_ENV, raw)
    cpu = runtime.current_mode(torch.device("cpu"))
    assert cpu.fast and "auto" in cpu.reason
    gpu = runtime.current_mode(torch.device("cuda"))
    assert not gpu.fast and "cuda" in gpu.reason


def test_fast_garbage_raises(no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv(runtime.FAST_ENV, "maybe")
    with pytest.raises(ValueError, match="RELUCOURSE_FAST='maybe'"):
        runtime.current_mode(torch.device("cpu"))
    with pytest.raises(ValueError):
        rc.by_mode(1, 2)


def test_by_mode(no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv(runtime.FAST_ENV, "1")
    assert rc.by_mode(300, 5000) == 300
    no_env.setenv(runtime.FAST_ENV, "0")
    assert rc.by_mode(300, 5000) == 5000
    assert rc.by_mode("small", [1, 2]) == [1, 2]


def test_show_progress(no_env: pytest.MonkeyPatch) -> None:
    assert runtime.show_progress() is True
    no_env.setenv(runtime.PROGRESS_ENV, "0")
    assert runtime.show_progress() is False


def _draws() -> tuple[float, float, list[float], list[float]]:
    return (random.random(), float(np.random.rand()), torch.randn(3).tolist(),
            torch.randn(3, generator=None).tolist())


def test_seed_everything_is_reproducible() -> None:
    g1 = rc.seed_everything(123)
    first = _draws()
    a = torch.randn(4, generator=g1)
    g2 = rc.seed_everything(123)
    second = _draws()
    b = torch.randn(4, generator=g2)
    assert first == second
    assert torch.equal(a, b)
    rc.seed_everything(124)
    assert _draws() != first


def test_seed_everything_accepts_huge_seeds() -> None:
    gen = rc.seed_everything(2**40 + 5)  # NumPy only takes 32-bit seeds: reduced modulo 2**32
    assert gen.initial_seed() == 2**40 + 5 and torch.initial_seed() == 2**40 + 5
    first = np.random.rand()
    np.random.seed((2**40 + 5) % 2**32)
    assert np.random.rand() == first


def test_setup_is_the_source_of_truth(no_env: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """With a GPU present, setup(device="cpu") means CPU and fast mode for everything after it."""
    fake_hardware(no_env, cuda=True, mps=False)
    with mpl.rc_context():
        rt = rc.setup(device="cpu")
    assert "mode: fast" in capsys.readouterr().out and rt.device == torch.device("cpu")
    assert rc.by_mode(300, 5000) == 300
    assert rc.pick_device() == torch.device("cpu")
    assert runtime.current_mode().fast
    assert runtime.active() is rt
    from relucourse.experiments import runner

    seen: list[torch.device] = []
    real = runner.load_data
    no_env.setattr(runner, "load_data", lambda cfg, dev: seen.append(dev) or real(cfg, dev))
    no_env.setenv("RELUCOURSE_CACHE", "off")
    no_env.setenv("RELUCOURSE_PROGRESS", "0")
    cfg = rc.RunConfig(data=rc.DataConfig(name="digits", n_train=64),
                       model=rc.ModelConfig(width=4, depth=1),
                       train=rc.TrainConfig(steps=2, eval_every=1, batch_size=16))
    record = rc.run(cfg)
    assert seen == [torch.device("cpu")] and record.device == "cpu"
    # an explicit argument still overrides the runtime
    assert rc.pick_device("cuda") == torch.device("cuda")
    assert runtime.current_mode(torch.device("cuda")).fast is False


def test_without_setup_the_environment_decides(no_env: pytest.MonkeyPatch) -> None:
    fake_hardware(no_env, cuda=True, mps=False)
    assert runtime.active() is None
    assert rc.pick_device() == torch.device("cuda") and rc.by_mode(1, 2) == 2


@pytest.mark.parametrize("seed", ["0", 1.5, True, None])
def test_setup_refuses_a_seed_that_is_not_an_int(no_env: pytest.MonkeyPatch, seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        rc.setup(seed=seed, quiet=True)  # type: ignore[arg-type]


def test_setup_banner(no_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hardware(no_env, cuda=False, mps=False)
    no_env.setenv(runtime.FAST_ENV, "1")
    with mpl.rc_context():  # setup applies the course style; keep it out of other tests
        rt = rc.setup(seed=7)
        assert mpl.rcParams["figure.facecolor"] == "white"
    out = capsys.readouterr().out
    assert rt.device == torch.device("cpu") and rt.seed == 7 and rt.fast
    for piece in (f"relucourse {rc.__version__}", "mode: fast", "RELUCOURSE_FAST=1", "device: cpu",
                  f"torch {torch.__version__}", "python 3.", "seed 7"):
        assert piece in out, piece
    assert out.strip() == rt.banner()
    # seeded like seed_everything(7)
    after_setup = torch.randn(3)
    rc.seed_everything(7)
    assert torch.equal(after_setup, torch.randn(3))


def test_setup_quiet_prints_nothing(no_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    no_env.setenv(runtime.FAST_ENV, "0")
    with mpl.rc_context():
        rt = rc.setup(seed=1, device="cpu", quiet=True)
    assert capsys.readouterr().out == ""
    assert not rt.fast and "mode: full" in rt.banner()
