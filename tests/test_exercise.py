"""Lab exercises: an unwritten stub falls back to the reference from the lab's single source
(``relucourse/labs/sources/<lab>.py``) with a plain-text note, anything else is checked, and every
reference passes its lab's checker. The generated notebooks are tested in tests/test_lab_build.py."""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import relucourse as rc
from relucourse.labs import exercise, source
from relucourse.labs.checks import CheckFailed
from relucourse.labs.checks import after_relu as after_relu_checks
from relucourse.labs.checks import dead_relu as dead_checks
from relucourse.labs.checks import diagnostics as diagnostics_checks
from relucourse.labs.checks import kaiming as kaiming_checks
from relucourse.labs.checks import saturation as checks
from relucourse.labs.checks import softplus as softplus_checks
from relucourse.theory import after_relu
from relucourse.theory import saturation as G

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))

# What the labs define before their exercises, for the references that read it (lab 2's Task 3,
# lab 3's DYING); the references themselves come from the sources.
DYING = rc.RunConfig(
    model=rc.ModelConfig(width=64, depth=4, activation="relu", init="kaiming_normal", bias_init=0.0),
    train=rc.TrainConfig(optimizer="adam", lr=0.1, steps=400, eval_every=100),
)
CONTEXT = {"torch": torch, "math": math, "nn": nn, "rc": rc, "n_var_w": 1 / 3, "depth": 8,
           "DYING": DYING, "BROKEN": diagnostics_checks.BROKEN,
           # lab 6 (SELU by hand) defines these before its exercises
           "F": torch.nn.functional, "ALPHA": after_relu.SELU_ALPHA, "LAMBDA": after_relu.SELU_LAMBDA}


def _small_mlp(activation: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 12, generator=g), torch.randint(0, 10, (256,), generator=g)
    return G.make_mlp(activation, 4, 12, 10, width=16, bias_init=0.0, seed=0), x, y


# name -> how the lab checks that answer, on small inputs where the lab's are big. FIXED is checked
# by training (the slow test below).
CHECKS: dict[str, Callable[[Any], Any]] = {
    "my_sigmoid": checks.check_sigmoid,
    "my_sigmoid_derivative": checks.check_sigmoid_derivative,
    "predicted_factor": lambda v: checks.check_factor_prediction(v, CONTEXT["n_var_w"]),
    "predicted_ratio": lambda v: checks.check_ratio_prediction(v, CONTEXT["depth"], CONTEXT["n_var_w"]),
    "my_gradient_norms": lambda fn: checks.check_gradient_norms(fn, *_small_mlp("sigmoid")),
    "count_dead": lambda fn: dead_checks.check_dead_counter(fn, *_small_mlp("relu")[:2]),
    "LRS": dead_checks.check_lr_choice,
    "my_softplus": softplus_checks.check_stable_softplus,
    "softplus_slope": softplus_checks.check_softplus_derivative,
    "max_gap": softplus_checks.check_max_gap,
    "beta_for_001": lambda v: softplus_checks.check_beta_for_gap(v, 0.01),
    "steps_to_target": softplus_checks.check_steps_to_target,
    "relu_factor": kaiming_checks.check_relu_factor,
    "kaiming_init_": kaiming_checks.check_kaiming_init,
    "second_moments": kaiming_checks.check_second_moments,
    "init_hidden_layers_": kaiming_checks.check_init_hidden_layers,
}


def _lab8_check(kind: str, network: str) -> Callable[[Any], Any]:
    """Lab 8's checks: CAUSE_X against X's diagnosis, FIX_X by training it (200 small steps)."""
    def check(value: Any) -> Any:
        from relucourse import diagnose

        data = rc.data.load_dataset("mnist1d")
        broken = diagnostics_checks.BROKEN[network]
        if kind == "CAUSE":
            return diagnostics_checks.check_cause(value, network, diagnose.diagnose(broken, data=data))
        return diagnostics_checks.check_fix(value, network, broken, data)
    return check


CHECKS.update({f"{kind}_{n}": _lab8_check(kind, n) for kind in ("CAUSE", "FIX") for n in "ABCD"})
CHECKS.update({  # lab 6: SELU by hand (small inputs: the checkers' own)
    "selu_forward": after_relu_checks.check_selu_forward,
    "selu_backward": after_relu_checks.check_selu_backward,
    "passes_gradcheck": after_relu_checks.check_passes_gradcheck,
    "layer_moments": lambda fn: after_relu_checks.check_moments(fn, depth=30),
})
EXERCISES = {lab: list(source.load(lab).exercises) for lab in source.names()}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small tensors: one thread is fastest, and several compete badly on a busy CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def references() -> dict[str, Any]:
    """Every exercise's reference, each lab's run in order in one namespace, as in the notebook
    (lab 4's softplus_slope calls the my_softplus before it)."""
    found: dict[str, Any] = {}
    for lab, names in EXERCISES.items():
        namespace = dict(CONTEXT)
        lab_refs = exercise.Lab(lab, namespace)
        for name in names:
            found[name] = namespace[name] = lab_refs.reference(name)
    return found


def _stub(x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """What the generated notebooks hold: a docstring, then the stub body."""
    # YOUR CODE
    raise NotImplementedError


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-x))


# --- recognising the stub ------------------------------------------------------------------------


def test_is_stub_recognises_the_unchanged_stub_only() -> None:
    assert exercise.is_stub(_stub)

    def bare():
        raise NotImplementedError

    def one_path(x):
        if x.dtype == torch.float64:
            raise NotImplementedError
        return torch.sigmoid(x)

    def with_message(x):
        raise NotImplementedError("not yet")

    def empty(x):
        pass

    assert exercise.is_stub(bare)
    for written in (one_path, with_message, empty, _sigmoid, lambda x: x, torch.sigmoid, None, 0.5):
        assert not exercise.is_stub(written), written
    assert exercise.is_unwritten(...) and exercise.is_unwritten(_stub)
    assert not exercise.is_unwritten(None) and not exercise.is_unwritten(one_path)


# --- the helper --------------------------------------------------------------------------------


def test_checked_returns_the_learners_answer(capsys) -> None:
    calls = []

    def reference():
        calls.append(1)
        return _sigmoid

    def mine(x):
        return torch.sigmoid(x)

    assert exercise.checked(checks.check_sigmoid, mine, "my_sigmoid", reference) is mine
    out = capsys.readouterr().out
    assert out.startswith("[ok] ") and "[skipped]" not in out
    assert not calls  # the reference is only made when it is needed
    assert exercise.checked(checks.check_factor_prediction, 0.1443, "predicted_factor",
                            lambda: math.sqrt(1 / 48)) == 0.1443


@pytest.mark.parametrize(("check", "stub", "reference"), [
    (checks.check_sigmoid, _stub, _sigmoid),  # a function stub
    (checks.check_factor_prediction, ..., math.sqrt(1 / 48)),  # a value stub
])
def test_checked_falls_back_on_the_stub_and_says_so(check, stub, reference, capsys) -> None:
    assert exercise.checked(check, stub, "thing", lambda: reference) is reference
    out = capsys.readouterr().out
    assert out.startswith(exercise.fallback_note("thing") + "\n")
    assert out.count("[skipped]") == 1 and "not written yet" in out and "reference solution" in out
    assert "[ok]" in out  # the reference was checked


def test_notes_are_plain_text() -> None:
    """No emoji: without an emoji font a "skip" symbol renders as an empty box."""
    note = exercise.fallback_note("count_dead")
    assert note.startswith("[skipped] count_dead: ") and note.isascii()


def test_checked_passes_extra_arguments(references) -> None:
    model, x, _ = _small_mlp("relu")
    got = exercise.checked(dead_checks.check_dead_counter, _stub, "count_dead",
                           lambda: references["count_dead"], model, x)
    assert got is references["count_dead"]


def test_a_wrong_answer_raises_the_checkers_hint(capsys) -> None:
    with pytest.raises(CheckFailed, match="sign inside exp"):
        exercise.checked(checks.check_sigmoid, lambda x: 1 / (1 + torch.exp(x)), "my_sigmoid",
                         lambda: _sigmoid)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):  # a crash is no stub
        exercise.checked(checks.check_sigmoid, lambda x: 1 / 0, "my_sigmoid", lambda: _sigmoid)
    with pytest.raises(CheckFailed, match="slope alone"):
        exercise.checked(checks.check_factor_prediction, 0.25, "predicted_factor", lambda: 0.14)
    assert "[skipped]" not in capsys.readouterr().out
    assert issubclass(CheckFailed, AssertionError)  # a failed check still stops the notebook


def test_not_implemented_on_one_path_is_an_error_not_a_fallback(capsys) -> None:
    """Learner code that raises NotImplementedError somewhere is not the stub: no fallback."""
    def float32_only(x):
        if x.dtype != torch.float32:
            raise NotImplementedError
        return 1 / (1 + torch.exp(-x))

    with pytest.raises(CheckFailed, match="not a skipped exercise") as info:
        exercise.checked(checks.check_sigmoid, float32_only, "my_sigmoid", lambda: _sigmoid)
    assert isinstance(info.value.__cause__, NotImplementedError)

    def direct_check(fn):  # a checker that calls the learner's code without checks.call
        fn(torch.zeros(3, dtype=torch.float64))

    with pytest.raises(CheckFailed, match="not the unwritten stub"):
        exercise.checked(direct_check, float32_only, "my_sigmoid", lambda: _sigmoid)
    assert "[skipped]" not in capsys.readouterr().out


def test_a_broken_reference_still_fails() -> None:
    with pytest.raises(CheckFailed, match="sign inside exp"):
        exercise.checked(checks.check_sigmoid, _stub, "my_sigmoid",
                         lambda: lambda x: 1 / (1 + torch.exp(x)))


# --- references from the lab sources -------------------------------------------------------------


def test_every_lab_has_a_source() -> None:
    assert LABS == source.names()


def test_every_exercise_has_a_small_check() -> None:
    assert sorted(n for names in EXERCISES.values() for n in names) == sorted([*CHECKS, "FIXED"])


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_reference_passes_its_checker(name: str, references) -> None:
    CHECKS[name](references[name])


def test_lab_checked_falls_back_to_the_source_reference(capsys) -> None:
    namespace = dict(CONTEXT)
    lab = exercise.Lab("02_sigmoid_lab", namespace)
    got = lab.checked("my_sigmoid", _stub, checks.check_sigmoid)
    assert capsys.readouterr().out.startswith("[skipped] my_sigmoid: ")
    assert got.__name__ == "my_sigmoid" and not exercise.is_stub(got)
    assert got.__code__.co_filename == lab.source.path  # tracebacks point into the source file
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    assert torch.allclose(got(x), torch.sigmoid(x))
    mine = lab.checked("my_sigmoid", torch.sigmoid, checks.check_sigmoid)
    assert mine is torch.sigmoid


def test_a_reference_reads_the_notebook_and_leaves_it_alone() -> None:
    """Value references run in a copy of the namespace: they see the lab's variables (n_var_w,
    depth), and their helper variables (lab 5's g, y) do not leak into it."""
    namespace = dict(CONTEXT, n_var_w=16.0)
    before = dict(namespace)
    assert exercise.Lab("02_sigmoid_lab", namespace).reference("predicted_factor") == 1.0
    assert exercise.Lab("05_kaiming_lab", namespace).reference("relu_factor") == pytest.approx(0.5, abs=0.01)
    assert namespace == before


def test_a_reference_traceback_shows_the_source_line() -> None:
    lab = exercise.Lab("02_sigmoid_lab", dict(CONTEXT))
    derivative = lab.reference("my_sigmoid_derivative")  # calls my_sigmoid, missing here
    with pytest.raises(NameError) as info:
        derivative(torch.zeros(2))
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert frame.filename == lab.source.path and frame.line == "s = my_sigmoid(x)"


def test_an_unknown_exercise_is_refused() -> None:
    lab = exercise.Lab("03_relu_lab", dict(CONTEXT))
    with pytest.raises(source.LabSourceError, match="count_dead, LRS, FIXED"):
        lab.checked("count_dead_units", _stub, dead_checks.check_dead_counter)
    with pytest.raises(source.LabSourceError, match="no lab source"):
        exercise.Lab("99_missing_lab", {})


@pytest.mark.slow
def test_fixed_config_reference_passes_its_checker(quiet) -> None:
    """Lab 3, Exercise 3 trains its answer: three seeds of the dying and of the fixed network."""
    data = rc.data.load_dataset("mnist1d")
    namespace = dict(CONTEXT)
    lab = exercise.Lab("03_relu_lab", namespace)
    count_dead = lab.reference("count_dead")

    def dead_and_acc(cfg: rc.RunConfig) -> list[tuple[float, float]]:
        out = []
        for seed in (0, 1, 2):
            model, result = rc.fit(cfg.replace(**{"train.seed": seed}), data=data)
            dead = sum(count_dead(model, data.x_train).values())
            out.append((dead / (cfg.model.width * cfg.model.depth), result.final_test_acc))
        return out

    dying = dead_and_acc(DYING)
    assert sum(d for d, _ in dying) / len(dying) > 0.5  # the lab asserts this too
    dead_checks.check_fix_config(lab.reference("FIXED"), DYING, dying, dead_and_acc)
    with pytest.raises(CheckFailed, match="unchanged"):
        dead_checks.check_fix_config(DYING, DYING, dying, dead_and_acc)
    with pytest.raises(CheckFailed, match="RunConfig"):
        dead_checks.check_fix_config({"train.lr": 0.01}, DYING, dying, dead_and_acc)


# --- hints of the checkers the value exercises use ----------------------------------------------


def _moments_without_relu(init_fn: Callable[[nn.Linear], object], depth: int) -> list[float]:
    """A wrong second_moments: it forgets the ReLU, so Var[W] = 2/n doubles the signal per layer."""
    torch.manual_seed(0)
    x = torch.randn(512, 256, dtype=torch.float64)
    moments = []
    with torch.no_grad():
        for _ in range(depth):
            layer = nn.Linear(256, 256).double()
            init_fn(layer)
            x = layer(x)
            moments.append(x.pow(2).mean().item())
    return moments


def test_checkers_reject_with_hints() -> None:
    with pytest.raises(CheckFailed, match="three different"):
        dead_checks.check_lr_choice([1e-3, 1e-2])
    with pytest.raises(CheckFailed, match="positive"):
        dead_checks.check_lr_choice([1e-3, 0.0, 1e-1])
    with pytest.raises(CheckFailed, match="list"):
        dead_checks.check_lr_choice(0.1)
    softplus_checks.check_beta_for_gap(70.0)  # a rounded answer is fine
    with pytest.raises(CheckFailed, match="still"):
        softplus_checks.check_beta_for_gap(50.0)
    with pytest.raises(CheckFailed, match="smaller beta"):
        softplus_checks.check_beta_for_gap(100.0)
    with pytest.raises(CheckFailed, match="Kaiming: the second moment changes by x2"):
        kaiming_checks.check_second_moments(_moments_without_relu)
    with pytest.raises(CheckFailed, match="head"):
        kaiming_checks.check_init_hidden_layers(
            lambda model, init_fn: [init_fn(m) for m in model.modules() if isinstance(m, nn.Linear)])
    with pytest.raises(CheckFailed, match="reached 4 of the 5"):
        kaiming_checks.check_init_hidden_layers(
            lambda model, init_fn: [init_fn(b.linear) for b in model.blocks[1:]])
    with pytest.raises(CheckFailed, match="block.linear"):
        kaiming_checks.check_init_hidden_layers(
            lambda model, init_fn: [init_fn(b) for b in model.blocks])
    with pytest.raises(CheckFailed, match="is a number"):
        kaiming_checks.check_relu_factor("one half")
    with pytest.raises(CheckFailed, match="is a number"):
        checks.check_factor_prediction([0.14])
