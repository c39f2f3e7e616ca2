"""Sweeps: each config once per seed, through ``run`` (the loop) or the batched engine.

Chapters compare activations, depths and inits over >= 3 seeds with ``sweep``; ``vary`` builds the
configs of a one-dimensional sweep (e.g. over ``train.lr``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from relucourse.config import RunConfig
from relucourse.experiments.batched import batchable, sweep_batched
from relucourse.experiments.runner import ProbeSpec, probes_for, run
from relucourse.records import Record

ENGINES = ("loop", "batched", "auto")


def sweep(cfgs: dict[str, RunConfig] | Sequence[RunConfig], seeds: Sequence[int] = (0, 1, 2),
          probes: ProbeSpec | None = None, device: str | torch.device | None = None,
          engine: str = "loop", use_cache: bool = True) -> dict[str, list[Record]]:
    """Run each config once per seed (model seed = ``train.seed``); returns label -> records.

    ``probes`` is a list of probes (each run gets its own copy) or a function of the label that
    builds them, so a sweep can vary a probe setting (e.g. an L1 strength) per label.
    ``engine="loop"`` (default) calls ``run`` per config and seed. ``engine="batched"`` trains
    each group of same-shaped MLPs at once (``experiments.batched``; same records within float
    tolerance, cached under their own keys; probes: ``probes.LayerStats`` and
    ``probes.ZeroFractions``).
    ``engine="auto"`` sends each config to the batched engine when it can take it (an MLP, with
    probes it can reproduce) and to the loop otherwise (CNNs, other probes); the choice depends on
    the config alone, so it is the same on every machine.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if not isinstance(cfgs, dict):
        cfgs = {c.fingerprint(): c for c in cfgs}
    if engine == "batched":
        return sweep_batched(cfgs, seeds, probes=probes, device=device, use_cache=use_cache)
    if engine == "auto":
        fits = {label: batchable(cfg, probes_for(probes, label)) for label, cfg in cfgs.items()}
        batched = {label: cfg for label, cfg in cfgs.items() if fits[label]}
        looped = {label: cfg for label, cfg in cfgs.items() if not fits[label]}
        out = sweep_batched(batched, seeds, probes=probes, device=device,
                            use_cache=use_cache) if batched else {}
        out.update(sweep(looped, seeds, probes=probes, device=device, use_cache=use_cache))
        return {label: out[label] for label in cfgs}
    return {label: [run(cfg.replace(**{"train.seed": s}), probes=probes_for(probes, label),
                        device=device, label=f"{label} (seed {s})", use_cache=use_cache)
                    for s in seeds]
            for label, cfg in cfgs.items()}


def vary(base: RunConfig, field: str, values: Sequence[object],
         label: Callable[[object], str] | None = None) -> dict[str, RunConfig]:
    """``{label(v): base with field=v}`` for a one-dimensional sweep, e.g. over ``train.lr``."""
    label = label or (lambda v: f"{field.split('.')[-1]}={v}")
    return {label(v): base.replace(**{field: v}) for v in values}
