"""Lab exercises: stubs fall back to ``relucourse.labs.solutions`` with a note, the references pass the
labs' checkers, and the labs' hidden Solution blocks are the same code and pass them too."""

from __future__ import annotations

import ast
import copy
import inspect
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import relucourse as rc
from relucourse.labs import exercise, solutions
from relucourse.labs.checks import dead_relu as sparsity_checks
from relucourse.labs.checks import kaiming as variance_checks
from relucourse.labs.checks import saturation as checks
from relucourse.labs.checks import softplus as smooth_checks
from relucourse.theory import saturation as G

ROOT = Path(__file__).resolve().parents[1]
LABS = {p.stem: p for p in sorted((ROOT / "labs").glob("*.ipynb"))}
SOLUTION = re.compile(r"<details><summary>Solution</summary>(.*?)</details>", re.DOTALL)
PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)

# What the labs define before their exercises (labs/02_sigmoid_lab.ipynb, Task 3; lab 3's DYING).
N_VAR_W, DEPTH = 1 / 3, 8
DYING = rc.RunConfig(
    model=rc.ModelConfig(width=64, depth=4, activation="relu", init="kaiming_normal", bias_init=0.0),
    train=rc.TrainConfig(optimizer="adam", lr=0.1, steps=400, eval_every=100),
)

# The names each lab's exercise cells ask for, in order.
EXERCISES = {
    "02_sigmoid_lab": ["my_sigmoid", "my_sigmoid_derivative", "predicted_factor", "predicted_ratio",
                       "my_gradient_norms"],
    "03_relu_lab": ["count_dead", "LRS", "FIXED"],
    "04_softplus_lab": ["my_softplus", "softplus_slope", "max_gap", "beta_for_001", "steps_to_target"],
    "05_kaiming_lab": ["relu_factor", "kaiming_init_", "second_moments", "init_hidden_layers_"],
}


def _small_mlp(activation: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 12, generator=g), torch.randint(0, 10, (256,), generator=g)
    return G.make_mlp(activation, 4, 12, 10, width=16, bias_init=0.0, seed=0), x, y


# name -> how the lab checks an answer (the same checker, on small inputs where the lab's are big)
CHECKS: dict[str, Callable[[Any], Any]] = {
    "my_sigmoid": checks.check_sigmoid,
    "my_sigmoid_derivative": checks.check_sigmoid_derivative,
    "predicted_factor": lambda v: checks.check_factor_prediction(v, N_VAR_W),
    "predicted_ratio": lambda v: checks.check_ratio_prediction(v, DEPTH, N_VAR_W),
    "my_gradient_norms": lambda fn: checks.check_gradient_norms(fn, *_small_mlp("sigmoid")),
    "count_dead": lambda fn: sparsity_checks.check_dead_counter(fn, *_small_mlp("relu")[:2]),
    "LRS": sparsity_checks.check_lr_choice,
    "my_softplus": smooth_checks.check_stable_softplus,
    "softplus_slope": smooth_checks.check_softplus_derivative,
    "max_gap": smooth_checks.check_max_gap,
    "beta_for_001": lambda v: smooth_checks.check_beta_for_gap(v, 0.01),
    "steps_to_target": smooth_checks.check_steps_to_target,
    "relu_factor": variance_checks.check_relu_factor,
    "kaiming_init_": variance_checks.check_kaiming_init,
    "second_moments": variance_checks.check_second_moments,
    "init_hidden_layers_": variance_checks.check_init_hidden_layers,
}

# name -> the reference a lab passes to rc.labs.exercise (FIXED is checked by training: see below)
REFERENCES: dict[str, Any] = {
    **{name: getattr(solutions, name) for name in CHECKS if inspect.isfunction(
        getattr(solutions, name, None))},
    "predicted_factor": solutions.predicted_factor(N_VAR_W),
    "predicted_ratio": solutions.predicted_ratio(N_VAR_W, DEPTH),
    "LRS": solutions.LRS,
    "beta_for_001": solutions.beta_for_gap(0.01),
    "relu_factor": solutions.relu_factor(),
    "FIXED": solutions.fixed_config(DYING),
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small tensors: one thread is fastest, and several compete badly on a busy CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


# --- the helper --------------------------------------------------------------------------------


def test_checked_returns_the_learners_function(capsys) -> None:
    def mine(x):
        return torch.sigmoid(x)

    assert exercise.checked(checks.check_sigmoid, mine, solutions.my_sigmoid, "Task 1") is mine
    out = capsys.readouterr().out
    assert "✅" in out and "⏭" not in out


@pytest.mark.parametrize("check", [checks.check_sigmoid,                 # wraps the error
                                   smooth_checks.check_softplus_derivative])  # lets it through
def test_checked_falls_back_on_a_stub_and_says_so(check, capsys) -> None:
    reference = solutions.my_sigmoid if check is checks.check_sigmoid else solutions.softplus_slope
    assert exercise.checked(check, _stub, reference, "Task 9 (thing)") is reference
    out = capsys.readouterr().out
    assert out.startswith(exercise.fallback_note("Task 9 (thing)") + "\n")
    assert out.count("⏭") == 1 and "not written yet" in out and "reference solution" in out
    assert "✅" in out or "✓" in out  # the reference was checked


def test_checked_passes_extra_arguments() -> None:
    model, x, _ = _small_mlp("relu")
    got = exercise.checked(sparsity_checks.check_dead_counter, _stub, solutions.count_dead, "Ex 1",
                           model, x)
    assert got is solutions.count_dead


def test_checked_reraises_the_hint_for_a_wrong_answer(capsys) -> None:
    with pytest.raises(AssertionError, match="sign inside exp"):
        exercise.checked(checks.check_sigmoid, lambda x: 1 / (1 + torch.exp(x)),
                         solutions.my_sigmoid, "Task 1")
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):  # a crash is no stub
        exercise.checked(checks.check_sigmoid, lambda x: 1 / 0, solutions.my_sigmoid, "Task 1")
    assert "⏭" not in capsys.readouterr().out


def test_a_broken_reference_still_fails() -> None:
    with pytest.raises(AssertionError, match="sign inside exp"):
        exercise.checked(checks.check_sigmoid, _stub, lambda x: 1 / (1 + torch.exp(x)), "Task 1")


def test_checked_value(capsys) -> None:
    good = math.sqrt(1 / 48)
    assert exercise.checked_value(checks.check_factor_prediction, 0.1443, good, "Task 3") == 0.1443
    assert "⏭" not in capsys.readouterr().out
    assert exercise.checked_value(checks.check_factor_prediction, ..., good, "Task 3") == good
    assert capsys.readouterr().out.startswith(exercise.fallback_note("Task 3"))
    with pytest.raises(AssertionError, match="slope alone"):
        exercise.checked_value(checks.check_factor_prediction, 0.25, good, "Task 3")


def test_is_stub_error_follows_the_cause_chain() -> None:
    try:
        try:
            _stub()
        except NotImplementedError:
            raise AssertionError("wrapped without 'from'")  # noqa: B904
    except AssertionError as err:
        assert exercise.is_stub_error(err)
    assert not exercise.is_stub_error(AssertionError("wrong"))
    assert not exercise.is_stub_error(ValueError("x"))


# --- the references and the checkers the stubs added ---------------------------------------------


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_reference_passes_its_checker(name: str) -> None:
    CHECKS[name](REFERENCES[name])


@pytest.mark.slow
def test_fixed_config_reference_passes_its_checker(quiet) -> None:
    """Lab 3, Exercise 3 trains its answer: three seeds of the dying and of the fixed network."""
    data = rc.data.load_dataset("mnist1d")

    def dead_and_acc(cfg: rc.RunConfig) -> list[tuple[float, float]]:
        out = []
        for seed in (0, 1, 2):
            model, result = rc.fit(cfg.replace(**{"train.seed": seed}), data=data)
            dead = sum(solutions.count_dead(model, data.x_train).values())
            out.append((dead / (cfg.model.width * cfg.model.depth), result.final_test_acc))
        return out

    dying = dead_and_acc(DYING)
    assert sum(d for d, _ in dying) / len(dying) > 0.5  # the lab asserts this too
    sparsity_checks.check_fix_config(REFERENCES["FIXED"], DYING, dying, dead_and_acc)
    with pytest.raises(AssertionError, match="unchanged"):
        sparsity_checks.check_fix_config(DYING, DYING, dying, dead_and_acc)
    with pytest.raises(AssertionError, match="RunConfig"):
        sparsity_checks.check_fix_config({"train.lr": 0.01}, DYING, dying, dead_and_acc)


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


def test_new_checkers_reject_with_hints() -> None:
    with pytest.raises(AssertionError, match="three different"):
        sparsity_checks.check_lr_choice([1e-3, 1e-2])
    with pytest.raises(AssertionError, match="positive"):
        sparsity_checks.check_lr_choice([1e-3, 0.0, 1e-1])
    with pytest.raises(AssertionError, match="list"):
        sparsity_checks.check_lr_choice(0.1)
    smooth_checks.check_beta_for_gap(70.0)  # a rounded answer is fine
    with pytest.raises(AssertionError, match="still"):
        smooth_checks.check_beta_for_gap(50.0)
    with pytest.raises(AssertionError, match="smaller beta"):
        smooth_checks.check_beta_for_gap(100.0)
    with pytest.raises(AssertionError, match="Kaiming: the second moment changes by x2"):
        variance_checks.check_second_moments(_moments_without_relu)
    with pytest.raises(AssertionError, match="head"):
        variance_checks.check_init_hidden_layers(
            lambda model, init_fn: [init_fn(m) for m in model.modules() if isinstance(m, nn.Linear)])
    with pytest.raises(AssertionError, match="reached 4 of the 5"):
        variance_checks.check_init_hidden_layers(
            lambda model, init_fn: [init_fn(b.linear) for b in model.blocks[1:]])
    with pytest.raises(AssertionError, match="block.linear"):
        variance_checks.check_init_hidden_layers(
            lambda model, init_fn: [init_fn(b) for b in model.blocks])


# --- the labs: hidden solutions and stubs --------------------------------------------------------


def _cells(lab: str, kind: str) -> list[str]:
    cells = json.loads(LABS[lab].read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == kind]


def _solution_code(lab: str) -> list[str]:
    """The python blocks inside the lab's <details><summary>Solution</summary> blocks, in order."""
    return [code for md in _cells(lab, "markdown") for details in SOLUTION.findall(md)
            for code in PYTHON.findall(details)]


def _normalized(node: ast.FunctionDef) -> str:
    """A function's code without annotations, docstrings or comments, for comparing two copies."""
    node = copy.deepcopy(node)
    for n in ast.walk(node):
        if isinstance(n, ast.FunctionDef):
            n.returns = None
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                n.body = n.body[1:] or [ast.Pass()]
        elif isinstance(n, ast.arg):
            n.annotation = None
    return ast.dump(node)


SOLUTION_DEFS = {n.name: n for n in ast.parse(inspect.getsource(solutions)).body
                 if isinstance(n, ast.FunctionDef)}


def test_every_lab_is_covered() -> None:
    assert set(LABS) == set(EXERCISES)


@pytest.mark.parametrize("lab", sorted(EXERCISES))
def test_hidden_solutions_match_the_references_and_pass_the_checkers(lab: str) -> None:
    blocks = _solution_code(lab)
    assert blocks, f"{lab}: no ```python block inside a <details><summary>Solution</summary>"
    namespace: dict[str, Any] = {"torch": torch, "math": math, "nn": nn, "rc": rc,
                                 "n_var_w": N_VAR_W, "depth": DEPTH, "DYING": DYING}
    for code in blocks:
        exec(compile(code, f"<{lab} solution>", "exec"), namespace)
        for node in ast.parse(code).body:  # the same code as relucourse.labs.solutions
            if isinstance(node, ast.FunctionDef):
                assert node.name in SOLUTION_DEFS, f"{lab}: {node.name} is not in solutions.py"
                assert _normalized(node) == _normalized(SOLUTION_DEFS[node.name]), (
                    f"{lab}: the hidden solution of {node.name} differs from solutions.py")
    for name in EXERCISES[lab]:
        assert name in namespace, f"{lab}: no hidden solution defines {name}"
        answer = namespace[name]
        if not inspect.isfunction(answer):
            assert answer == REFERENCES[name], f"{lab}: hidden {name} differs from the reference"
        if name in CHECKS:  # FIXED equals its reference, which the slow test trains
            CHECKS[name](answer)


def _stub_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Functions whose body is `raise NotImplementedError`, and names assigned `...`."""
    functions, values = set(), set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
            if len(body) == 1 and isinstance(body[0], ast.Raise) \
                    and ast.unparse(body[0].exc) == "NotImplementedError":
                functions.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and node.value.value is Ellipsis:
            values.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return functions, values


def _rebinds(tree: ast.Module) -> dict[str, str]:
    """name -> helper for statements `name = rc.labs.exercise.<helper>(check, name, reference, ...)`."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            func, args = ast.unparse(node.value.func), node.value.args
            name = node.targets[0].id
            if func.startswith("rc.labs.exercise.") and len(args) >= 4 \
                    and ast.unparse(args[1]) == name and "solutions." in ast.unparse(args[2]):
                found[name] = func.removeprefix("rc.labs.exercise.")
    return found


@pytest.mark.parametrize("lab", sorted(EXERCISES))
def test_exercise_cells_are_stubs_checked_through_the_helper(lab: str) -> None:
    stubbed: list[str] = []
    for source in _cells(lab, "code"):
        if "# YOUR CODE" not in source:
            continue
        assert "raise NotImplementedError" in source or re.search(r"= \.\.\.", source), source
        tree = ast.parse(source)
        functions, values = _stub_names(tree)
        assert functions or values, f"{lab}: a '# YOUR CODE' cell without a stub:\n{source}"
        rebinds = _rebinds(tree)
        for name in functions:
            assert rebinds.get(name) == "checked", f"{lab}: {name} is not rebound by rc.labs.exercise.checked"
            node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
            stub_args = ast.dump(_without_annotations(node.args))
            assert stub_args == ast.dump(_without_annotations(SOLUTION_DEFS[name].args)), (
                f"{lab}: the stub {name} and solutions.{name} have different signatures")
        for name in values:
            assert rebinds.get(name) == "checked_value", f"{lab}: {name} is not rebound by checked_value"
        stubbed += sorted(functions | values)
    assert sorted(stubbed) == sorted(EXERCISES[lab])


def _without_annotations(args: ast.arguments) -> ast.arguments:
    args = copy.deepcopy(args)
    for a in ast.walk(args):
        if isinstance(a, ast.arg):
            a.annotation = None
    return args


@pytest.mark.parametrize("lab", sorted(EXERCISES))
def test_no_code_cell_holds_a_reference_solution(lab: str) -> None:
    for source in _cells(lab, "code"):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.name in SOLUTION_DEFS:
                assert _normalized(node) != _normalized(SOLUTION_DEFS[node.name]), (
                    f"{lab}: a code cell gives away the solution of {node.name}")
