"""Fair comparisons: every configuration gets its own hyper-parameters, chosen on validation data.

Why: a comparison of activations that gives all of them one learning rate measures, in part, how
well that rate happens to suit each one. Glorot & Bengio (2010) and Krizhevsky et al. (2012) tuned
per configuration; so does every cross-activation comparison in the course:

    recs = rc.experiments.tune(cfgs, grid={"train.lr": [0.01, 0.03, 0.1, 0.3]}, seeds=(0, 1, 2))

For each labelled config, every grid point is trained once per seed (through ``sweep``, so the
batched engine stacks what it can and everything is cached), scored on the *validation* split
(``data.val_fraction`` must be > 0: the test split is only read for the final numbers), and the
best point by ``select`` (mean over seeds) is kept. A point where any seed diverged is excluded.
The choice is printed, with a warning when it sits at an edge of the grid (widen the grid), and
the returned ``Tuned`` maps each label to the chosen point's records (one per seed).

``screen_seeds=(0,)`` is the cheaper protocol for large sweeps: every grid point is compared on
those seeds only, and the chosen point is then trained on the rest of ``seeds`` as well, so its
records (the reported numbers) still cover every seed. On a grid of 5 rates and 3 seeds it trains
7 runs per config instead of 15; the price is a noisier choice, which the page must say.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from relucourse.config import RunConfig
from relucourse.experiments.runner import ProbeSpec
from relucourse.experiments.sweeps import sweep
from relucourse.records import Record
from relucourse.stats import mean_std

SELECT = {"val_loss": min, "val_acc": max}  # metric -> which end is best


@dataclass(frozen=True)
class GridPoint:
    """One grid point of one config: its settings and its validation score over seeds."""

    params: dict[str, Any]
    mean: float
    std: float
    diverged: int
    seeds: int

    @property
    def valid(self) -> bool:
        return self.diverged == 0 and math.isfinite(self.mean)


@dataclass(frozen=True)
class Choice:
    """What ``tune`` chose for one label, and every point it compared."""

    label: str
    select: str
    params: dict[str, Any]
    points: list[GridPoint]
    screen_seeds: tuple[int, ...] | None = None  # the seeds the points were compared on, if a subset

    @property
    def best(self) -> GridPoint:
        return next(p for p in self.points if p.params == self.params)

    def at_edge(self, grid: Mapping[str, Sequence[Any]]) -> list[str]:
        """Fields whose chosen value is the smallest or largest in a grid of >= 3 values."""
        return [k for k, values in grid.items() if len(values) >= 3 and
                self.params[k] in (min(values), max(values))]

    def table(self) -> str:
        over = ("mean ± std over seeds" if self.screen_seeds is None else
                f"screened on seed{'s' if len(self.screen_seeds) > 1 else ''} "
                + ", ".join(map(str, self.screen_seeds)))
        lines = [f"{self.label}: {self.select} ({over}) per grid point"]
        for p in self.points:
            settings = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in p.params.items())
            score = ("diverged".rjust(17) if p.diverged == p.seeds
                     else f"{p.mean:.4f}".ljust(17) if p.seeds == 1  # no spread over one seed
                     else f"{p.mean:.4f} ± {p.std:.4f}")
            note = f"  ({p.diverged}/{p.seeds} seeds diverged: excluded)" if p.diverged else ""
            mark = "  <- chosen" if p.params == self.params else ""
            lines.append(f"    {settings:32s} {score}{note}{mark}")
        return "\n".join(lines)


class Tuned(dict[str, list[Record]]):
    """label -> the chosen setting's records (one per seed); ``choices[label]`` says what was
    chosen and why, ``report()`` prints it all."""

    def __init__(self, records: dict[str, list[Record]], choices: dict[str, Choice],
                 grid: Mapping[str, Sequence[Any]]) -> None:
        super().__init__(records)
        self.choices = choices
        self.grid = dict(grid)

    def params(self, label: str) -> dict[str, Any]:
        return self.choices[label].params

    def report(self) -> str:
        parts = [c.table() for c in self.choices.values()]
        for c in self.choices.values():
            for k in c.at_edge(self.grid):
                parts.append(f"note: {c.label}: the chosen {k}={c.params[k]} is at the edge of "
                             f"the grid {list(self.grid[k])}; a wider grid may find a better one")
        return "\n".join(parts)

    def summary(self) -> str:
        """One line per label: the chosen settings."""
        return "; ".join(f"{label}: " + ", ".join(f"{k}={v}" for k, v in c.params.items())
                         for label, c in self.choices.items())


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the grid's order."""
    if not grid:
        raise ValueError("grid must name at least one field, e.g. {'train.lr': [0.01, 0.1]}")
    for key, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise ValueError(f"grid[{key!r}]={values!r} is invalid: must be a non-empty list")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _score(records: Sequence[Record], select: str) -> tuple[float, float, int]:
    finals = [r.final(select) for r in records if not r.diverged]
    diverged = len(records) - len(finals)
    if not finals or not all(math.isfinite(v) for v in finals):
        return float("nan"), float("nan"), diverged
    mean, std = mean_std(finals)
    return mean, std, diverged


def tune(cfgs: Mapping[str, RunConfig] | RunConfig, grid: Mapping[str, Sequence[Any]],
         select: str = "val_loss", seeds: Sequence[int] = (0, 1, 2),
         probes: ProbeSpec | None = None, engine: str = "auto",
         device: str | torch.device | None = None, use_cache: bool = True,
         quiet: bool = False, screen_seeds: Sequence[int] | None = None) -> Tuned:
    """Choose each config's ``grid`` setting on the validation split; return the chosen records.

    ``select`` is ``"val_loss"`` (lowest final validation loss, the default) or ``"val_acc"``
    (highest). Probes (e.g. ``probes.DeadUnits()``) run on every grid point, so the returned
    records carry them. ``quiet=True`` skips printing the report (``Tuned.report()`` has it).
    ``screen_seeds`` (a subset of ``seeds``): compare the grid points on these seeds only, then
    train the chosen point on the other seeds too (see the module's docstring).
    """
    if select not in SELECT:
        raise ValueError(f"select={select!r} is invalid: must be one of {', '.join(SELECT)}")
    seeds = tuple(seeds)
    if screen_seeds is not None:
        screen_seeds = tuple(screen_seeds)
        if not screen_seeds or not set(screen_seeds) <= set(seeds):
            raise ValueError(f"screen_seeds={screen_seeds!r} is invalid: must be a non-empty "
                             f"subset of seeds={seeds!r}")
    if isinstance(cfgs, RunConfig):
        cfgs = {"run": cfgs}
    for label, cfg in cfgs.items():
        if cfg.data.val_fraction <= 0:
            raise ValueError(
                f"{label}: tune chooses on a validation split, but data.val_fraction="
                f"{cfg.data.val_fraction}; set it, e.g. cfg.replace(**{{'data.val_fraction': 0.1}})")
    points = grid_points(grid)
    runs = {(label, i): cfg.replace(**point) for label, cfg in cfgs.items()
            for i, point in enumerate(points)}
    names = {key: f"{key[0]} | " + ", ".join(f"{k}={v}" for k, v in points[key[1]].items())
             for key in runs}
    label_of = {names[key]: key[0] for key in runs}
    probe_spec = probes
    if callable(probes):  # a factory sees the config's own label, not the grid point's
        probe_spec = lambda name: probes(label_of[name])  # noqa: E731
    compared = screen_seeds or seeds
    out = sweep({names[key]: cfg for key, cfg in runs.items()}, seeds=compared, probes=probe_spec,
                device=device, engine=engine, use_cache=use_cache)
    pick = SELECT[select]
    choices: dict[str, Choice] = {}
    for label in cfgs:
        table = []
        for i, point in enumerate(points):
            mean, std, diverged = _score(out[names[(label, i)]], select)
            table.append(GridPoint(point, mean, std, diverged, len(compared)))
        valid = [p for p in table if p.valid]
        if not valid:
            raise RuntimeError(f"{label}: every grid point diverged or has no {select}; try a "
                               f"grid of smaller values (grid: {dict(grid)})")
        best = pick(valid, key=lambda p: p.mean)
        choices[label] = Choice(label, select, best.params, table, screen_seeds)
    chosen_names = {label: names[(label, points.index(c.params))] for label, c in choices.items()}
    rest = [s for s in seeds if s not in compared]
    more = sweep({name: runs[(label, points.index(choices[label].params))]
                  for label, name in chosen_names.items()}, seeds=rest, probes=probe_spec,
                 device=device, engine=engine, use_cache=use_cache) if rest else {}
    records: dict[str, list[Record]] = {}
    for label, name in chosen_names.items():
        by_seed = dict(zip(compared, out[name], strict=True))
        by_seed.update(zip(rest, more.get(name, []), strict=True))
        chosen = [by_seed[s] for s in seeds]
        for s, r in zip(seeds, chosen, strict=True):
            r.label = f"{label} (seed {s})"
        records[label] = chosen
    tuned = Tuned(records, choices, grid)
    if not quiet:
        print(tuned.report())
    return tuned
