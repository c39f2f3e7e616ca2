"""Checkers for the "Fix the broken network" lab (labs/08_fix_the_network_lab.ipynb).

The learner diagnoses four broken networks with ``relucourse.diagnose``, names each one's cause
(one of ``CAUSES``) and fixes it. ``check_cause`` compares the name with the answer key and, when
it is wrong, builds the hint from that network's own measurements (why the named cause does not
fit what was measured), so it never just states the answer. ``check_fix`` trains the learner's fix
for the broken network's own budget and requires a final training loss below ``LOSS_THRESHOLD``
and a diagnosis that no longer raises the cause's flags.

Each checker prints an ``[ok]`` line, or raises ``CheckFailed`` whose message is the hint; the lab's
source, relucourse/labs/sources/08_fix_the_network_lab.py, holds the reference solutions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from relucourse import diagnose as dg
from relucourse.config import ModelConfig, RunConfig, TrainConfig
from relucourse.data import Dataset
from relucourse.labs.checks import CheckFailed, call, passed

# A healthy starting point: 4 ReLU layers of 64 units, Kaiming init, SGD with momentum...
BASE = RunConfig(
    model=ModelConfig(width=64, depth=4, activation="relu", init="kaiming_normal"),
    train=TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, steps=200, eval_every=20))
# ...and the lab's four networks, each one change away from it.
BROKEN = {
    "A": BASE.replace(**{"model.activation": "sigmoid", "model.init": "normal",
                         "model.init_kwargs": {"std": 1.0}}),
    "B": BASE.replace(**{"model.bias_init": -1.5}),
    "C": BASE.replace(**{"model.init": "normal", "model.init_kwargs": {"std": 0.4}}),
    "D": BASE.replace(**{"model.activation": "tanh", "model.init": "constant",
                         "model.init_kwargs": {"value": 0.01}}),
}
CAUSES = {
    "saturated": "sigmoid or tanh units stuck on their flat tails, where little gradient passes",
    "dead": "ReLU units that output exactly 0 on every input and so never learn again",
    "exploding": "activations (and gradients) that grow from layer to layer",
    "symmetric": "all units of a layer identical, because their initial weights were",
}
ANSWERS = {"A": "saturated", "B": "dead", "C": "exploding", "D": "symmetric"}
# The diagnose flags that each cause raises; a fix must silence them.
FLAGS = {"saturated": ("saturated",), "dead": ("dead",),
         "exploding": ("exploding_activations", "exploding_gradients"), "symmetric": ("symmetric",)}
LOSS_THRESHOLD = 1.5  # final training loss a fixed network must reach, in the broken one's steps
MAX_CHANGES = 3
FROZEN = ("data.", "train.steps", "train.eval_every", "train.seed", "train.batch_size")


def _evidence(cause: str, d: dg.Diagnosis) -> str:
    """What the measurements of ``d`` say about ``cause``, in one sentence."""
    last, first = d.at(-1), d.at(0)
    if cause == "saturated":
        if d.activation not in dg.SATURATING:
            return (f"this network's units are {d.activation or 'not sigmoid or tanh'}, which has "
                    "no flat upper tail to saturate on")
        worst = max(c.saturation or 0.0 for c in last)
        return f"at most {worst:.0%} of a layer's outputs are saturated (the 'saturated' column)"
    if cause == "dead":
        worst = max(c.dead for c in last)
        if d.activation in dg.SATURATING:
            return (f"{d.activation} units never output exactly 0, so none can be dead (the "
                    f"'dead' column reads {worst:.0%})")
        return f"at most {worst:.0%} of a layer's units are dead (the 'dead' column)"
    if cause == "exploding":
        growth = first[-1].rms / first[0].rms if first[0].rms > 0 else float("inf")
        return (f"at step 0 the last layer's rms is {growth:.2g}x the first's and the initial loss "
                f"is {d.initial_loss:.3g} against ln C = {d.ln_c:.3f}")
    if cause == "symmetric":
        same = [c.layer for c in last if c.identical]
        return ("the 'identical' column says yes for " + ", ".join(same) if same
                else "the 'identical' column says no for every layer: the units differ")
    raise ValueError(f"unknown cause {cause!r}")


def check_cause(answer: Any, network: str, diagnosis: dg.Diagnosis) -> None:
    """``answer`` must name network ``network``'s cause, one of ``CAUSES``; a wrong name gets a
    hint built from ``diagnosis`` (the learner's own measurements of that network)."""
    if not isinstance(answer, str):
        raise CheckFailed(f"CAUSE_{network} should be a string, one of {', '.join(CAUSES)}; got "
                          f"{type(answer).__name__}")
    name = answer.strip().lower()
    if name not in CAUSES:
        raise CheckFailed(f"{answer!r} is not one of the causes: "
                          + "; ".join(f"{k} ({v})" for k, v in CAUSES.items()))
    truth = ANSWERS[network]
    if name != truth:
        raised = [f for f in FLAGS[name] if diagnosis.flagged(f)]
        if raised:
            raise CheckFailed(
                f"network {network} does show signs of {name!r} by the end of the window, but "
                "that is a consequence, not the cause. Look at what is already wrong at step 0, "
                "before any update: the histograms at step 0, the initial loss, the rms per "
                "layer.")
        raise CheckFailed(f"not {name!r}: {_evidence(name, diagnosis)}. Which other measurement "
                          "is far from what the healthy network of the chapter showed?")
    passed(f"network {network}: {truth} ({CAUSES[truth]}): {_evidence(truth, diagnosis)}")


def _settings(cfg: RunConfig) -> dict[str, Any]:
    return {f"{section}.{f.name}": getattr(getattr(cfg, section), f.name)
            for section in ("data", "model", "train")
            for f in dataclasses.fields(getattr(cfg, section))}


def differences(cfg: RunConfig, base: RunConfig = BASE) -> dict[str, Any]:
    """``{"section.field": value}`` for every setting of ``cfg`` that differs from ``base``."""
    before = _settings(base)
    return {k: v for k, v in _settings(cfg).items() if v != before[k]}


def check_fix(fixed: Any, network: str, broken: RunConfig, data: Dataset,
              threshold: float = LOSS_THRESHOLD) -> dg.Diagnosis:
    """``fixed``, a copy of ``broken`` with at most ``MAX_CHANGES`` settings changed (not the data,
    the number of steps, the batch or the seed), must train to a final training loss below
    ``threshold`` in ``broken``'s steps, and its diagnosis must not raise the cause's flags."""
    if not isinstance(fixed, RunConfig):
        raise CheckFailed(f"FIX_{network} should be a RunConfig, such as "
                          f"BROKEN[{network!r}].replace(**{{...}}); got {type(fixed).__name__}")
    before, after = _settings(broken), _settings(fixed)
    changed = {k: (before[k], v) for k, v in after.items() if v != before[k]}
    if not changed:
        raise CheckFailed(f"FIX_{network} is the broken network unchanged: change one or two "
                          f"settings with BROKEN[{network!r}].replace(**{{\"section.field\": value}})")
    frozen = [k for k in changed if k.startswith(FROZEN)]
    if frozen:
        raise CheckFailed(f"FIX_{network} changes {', '.join(frozen)}: fix the network, not the "
                          "experiment (same data, steps, batch size and seed)")
    if len(changed) > MAX_CHANGES:
        raise CheckFailed(f"FIX_{network} changes {len(changed)} settings ({', '.join(changed)}); "
                          f"find the one or two that matter (at most {MAX_CHANGES})")
    print(f"FIX_{network} changes " + ", ".join(f"{k}: {a!r} -> {b!r}"
                                               for k, (a, b) in changed.items()))
    d = call(f"training FIX_{network}", dg.diagnose, fixed, data=data, every=20)
    loss = d.record.final_train_loss
    cause = ANSWERS[network]
    still = [f for f in FLAGS[cause] if d.flagged(f)]
    if still:
        raise CheckFailed(f"the fixed network still raises {', '.join(still)}: "
                          f"{_evidence(cause, d)}. The change did not remove the cause.")
    if not loss < threshold:
        others = f" (its diagnosis flags: {', '.join(d.kinds)})" if d.kinds else ""
        raise CheckFailed(
            f"the {cause} problem is gone, but the network ends at a training loss of {loss:.3f}, "
            f"not below {threshold}{others}. A network can have a second problem once the first "
            "is fixed; run dg.diagnose(FIX_" + network + ", data=data) and read it.")
    passed(f"network {network} fixed: final training loss {loss:.3f} < {threshold} in "
           f"{d.record.steps[-1]} steps, no {cause} flag")
    return d
