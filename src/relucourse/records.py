"""Typed records of training runs: what a run measured, with one reader per kind of measurement.

``experiments.fit`` returns a ``Record``; probes append typed rows to it (``LayerStat``,
``UnitCheck``, ``GradNorm``, ``ZeroStat``); ``plots`` draws records. A record is plain data: it
round-trips through JSON (``to_dict`` / ``from_dict``) for the on-disk cache, and ``from_dict``
checks every field's type, so a cache entry of the wrong shape is refused (``RecordError``)
instead of being read as, say, the string ``"0.99"`` whose last character is ``"9"``.

Labels are display strings only: nothing is ever parsed back out of them. The activation a record
trained with is a field of its own (``record.activation``), and plots take colours from it.

Chapters: every chapter reads its runs through these methods (e.g. ``record.layer_series()`` for
Glorot & Bengio's Figure 2 in chapters/02_sigmoid_saturation.ipynb, ``record.unit_fraction`` for
dead units in chapters/03_relu_sparsity.ipynb).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from relucourse.stats import mean_std


class RecordError(ValueError):
    """A stored record does not have the schema of ``Record`` (a bad or stale cache entry)."""


@dataclass(frozen=True)
class LayerStat:
    """One hidden layer's activation statistics on a probe batch at one step (``probes.LayerStats``).

    ``dead_frac`` is the fraction of units that are exactly zero on the whole probe batch, and
    ``negative_frac`` the fraction whose pre-activation (what the activation receives) is below 0
    on the whole batch (for ReLU the same units; a leaky unit there is alive but on its negative
    side everywhere); both only when asked for (``per_unit_dead=True``).
    """

    step: int
    layer: str
    mean: float
    std: float
    zero_frac: float
    second_moment: float
    dead_frac: float | None = None
    negative_frac: float | None = None


@dataclass(frozen=True)
class UnitCheck:
    """Per-unit state of one hidden layer at one check (``probes.DeadUnits``).

    ``dead``: units that output exactly 0 on every probe input; ``negative``: units whose
    pre-activation is < 0 on every probe input (the same as dead for ReLU, not for leaky ReLU);
    ``max_pre``: each unit's largest pre-activation (a ReLU unit is dead iff it is <= 0).
    """

    step: int
    layer: str
    units: int
    zero_frac: float
    dead: tuple[int, ...]
    negative: tuple[int, ...]
    max_pre: tuple[float, ...]


@dataclass(frozen=True)
class GradNorm:
    """||dL/dW|| of one layer's weight at one step."""

    step: int
    layer: str
    grad_norm: float


@dataclass(frozen=True)
class ZeroStat:
    """Exact-zero and near-zero (|a| < eps) fractions of one hidden layer at the end of training
    (``probes.ZeroFractions``)."""

    layer: str
    zero_frac: float
    near_zero_frac: float


@dataclass(frozen=True)
class EngineInfo:
    """How a record was trained when it came from the batched engine (``experiments.batched``)."""

    name: str
    models: int
    stack_wall_time_s: float
    compile: bool
    bf16: bool


@dataclass(frozen=True)
class LayerSeries:
    """One layer's activation mean and spread at each recorded step."""

    layer: str
    steps: list[int]
    mean: list[float]
    std: list[float]


@dataclass
class Record:
    """One training run: curves, timing, device, and whatever its probes measured.

    ``steps`` are the evaluation steps; ``train_loss`` / ``train_acc`` are the mean minibatch
    loss and accuracy over the ``eval_every`` steps before each of them; ``val_*`` are empty when
    the data had no validation split. A run whose loss stopped being finite has ``diverged_at``
    set, and every summary below (final metrics, dead fractions) then reads NaN: a diverged run
    is never summarised as "accuracy 0.10" or "0% dead".
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    diverged_at: int | None = None
    wall_time_s: float = 0.0
    device: str = "cpu"
    label: str = ""
    activation: str = ""
    layer_stats: list[LayerStat] = field(default_factory=list)
    units: list[UnitCheck] = field(default_factory=list)
    grad_norms: list[GradNorm] = field(default_factory=list)
    zeros: list[ZeroStat] = field(default_factory=list)
    engine: EngineInfo | None = None

    # --- curves -------------------------------------------------------------------------------

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def final(self, metric: str) -> float:
        """The last value of a curve (``test_acc``, ``val_loss``...); NaN if empty or diverged."""
        if metric not in _CURVES:
            raise ValueError(f"metric must be one of {', '.join(_CURVES)}, not {metric!r}")
        values = getattr(self, metric)
        return values[-1] if values and not self.diverged else float("nan")

    @property
    def final_test_acc(self) -> float:
        return self.final("test_acc")

    @property
    def final_train_loss(self) -> float:
        return self.final("train_loss")

    def steps_to(self, target: float, metric: str = "train_loss") -> int | None:
        """First evaluation step at which ``metric`` (a loss) is <= ``target``; None if never
        (a diverged run's finite values before it diverged still count).

        The training loss is averaged over the ``eval_every`` steps before each evaluation, so the
        answer is a multiple of ``eval_every``: read it as "within that many steps"."""
        values = getattr(self, metric)
        for step, value in zip(self.steps, values, strict=True):
            if value <= target:
                return step
        return None

    # --- layer statistics (probes.LayerStats) -----------------------------------------------

    def layer_series(self) -> list[LayerSeries]:
        """The ``layer_stats`` rows as one series per layer, in forward order."""
        if not self.layer_stats:
            raise ValueError("this record has no layer_stats; train it with probes.LayerStats() "
                             "(or the batched engine with that probe)")
        by_layer: dict[str, list[LayerStat]] = {}
        for row in self.layer_stats:
            by_layer.setdefault(row.layer, []).append(row)
        out = []
        for name, rows in by_layer.items():
            rows = sorted(rows, key=lambda r: r.step)
            out.append(LayerSeries(name, [r.step for r in rows], [r.mean for r in rows],
                                   [r.std for r in rows]))
        return out

    # --- per-unit checks (probes.DeadUnits) ---------------------------------------------------

    def _checks(self) -> dict[str, list[UnitCheck]]:
        if not self.units:
            raise ValueError("this record has no unit checks; train it with probes.DeadUnits()")
        by_layer: dict[str, list[UnitCheck]] = {}
        for row in self.units:
            by_layer.setdefault(row.layer, []).append(row)
        return by_layer

    def check_steps(self) -> list[int]:
        """The steps at which ``probes.DeadUnits`` checked every unit."""
        return [c.step for c in next(iter(self._checks().values()))]

    def unit_series(self, key: str = "zero_frac") -> dict[str, list[float]]:
        """Layer -> value per check: ``key`` is "zero_frac", or "dead"/"negative" (as fractions)."""
        _check_key(key)
        return {layer: [_unit_value(c, key) for c in checks]
                for layer, checks in self._checks().items()}

    def unit_fraction(self, key: str = "dead", index: int = -1) -> float:
        """Fraction of *all* hidden units that are ``key`` ("dead"/"negative") at check ``index``,
        or the mean exact-zero fraction over layers for ``key="zero_frac"``."""
        _check_key(key)
        if self.diverged:
            return float("nan")
        at = [checks[index] for checks in self._checks().values()]
        if key == "zero_frac":
            return sum(c.zero_frac for c in at) / len(at)
        return sum(len(getattr(c, key)) for c in at) / sum(c.units for c in at)

    def deaths_and_revivals(self) -> dict[str, list[tuple[Any, ...]]]:
        """Units that died during training and stayed dead, and units that came back to life.

        ``permanent``: (layer, unit, step of death) for units alive at the first check and dead
        from some check to the end. ``revived``: (layer, unit) for units dead at some check and
        alive at a later one.
        """
        steps = self.check_steps()
        permanent, revived = [], []
        for layer, checks in self._checks().items():
            for unit in range(checks[0].units):
                hist = [unit in c.dead for c in checks]
                if any(hist[i] and not all(hist[i:]) for i in range(len(hist))):
                    revived.append((layer, unit))
                if not hist[0] and hist[-1]:
                    first = max(i for i in range(len(hist)) if not hist[i]) + 1
                    permanent.append((layer, unit, steps[first]))
        return {"permanent": permanent, "revived": revived}

    # --- zero fractions at the end (probes.ZeroFractions) -------------------------------------

    def zero_fraction(self, key: str = "zero_frac") -> float:
        """Mean over hidden layers of a ``probes.ZeroFractions`` fraction (``zero_frac`` or
        ``near_zero_frac``)."""
        if key not in ("zero_frac", "near_zero_frac"):
            raise ValueError(f"key must be 'zero_frac' or 'near_zero_frac', not {key!r}")
        if not self.zeros and not self.diverged:
            raise ValueError("this record has no zero fractions; train it with probes.ZeroFractions()")
        if self.diverged:
            return float("nan")
        return sum(getattr(z, key) for z in self.zeros) / len(self.zeros)

    # --- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> Record:
        """Rebuild a record from ``to_dict``'s output, checking every field (``RecordError``)."""
        return _build(cls, d, "record")


def group_summary(groups: dict[str, list[Record]], target_loss: float) -> dict[str, dict[str, Any]]:
    """Per label (one list of seeds): mean and std of final test accuracy, final training loss,
    steps to ``target_loss`` (``reached`` counts the seeds that got there; unreached seeds count
    as the run length, so the mean is a lower bound), and the exact/near-zero fractions when the
    runs carry a ``probes.ZeroFractions``. Diverged runs are left out of every mean and counted
    in ``diverged``; a label whose seeds all diverged gets NaN."""
    out: dict[str, dict[str, Any]] = {}
    for label, everything in groups.items():
        results = [r for r in everything if not r.diverged]
        if not results:
            nan = (float("nan"), float("nan"))
            out[label] = {"test_acc": nan, "train_loss": nan, "steps_to_target": nan,
                          "reached": 0, "seeds": len(everything), "diverged": len(everything)}
            continue
        raw = [r.steps_to(target_loss) for r in results]
        steps = [s if s is not None else r.steps[-1] for s, r in zip(raw, results, strict=True)]
        row: dict[str, Any] = {
            "test_acc": mean_std([r.final_test_acc for r in results]),
            "train_loss": mean_std([r.final_train_loss for r in results]),
            "steps_to_target": mean_std(steps),
            "reached": sum(s is not None for s in raw),
            "seeds": len(everything),
            "diverged": len(everything) - len(results),
        }
        if all(r.zeros for r in results):
            row["zero_frac"] = mean_std([r.zero_fraction("zero_frac") for r in results])
            row["near_zero_frac"] = mean_std([r.zero_fraction("near_zero_frac") for r in results])
        out[label] = row
    return out


def format_summary(summary: dict[str, dict[str, Any]]) -> str:
    """The summary as aligned text, mean ± std over seeds."""
    cols = [("test_acc", "test acc", ".3f"), ("train_loss", "final train loss", ".3f"),
            ("steps_to_target", "steps to target", ".0f"), ("zero_frac", "exact zeros", ".3f"),
            ("near_zero_frac", "|a| < eps", ".3f")]
    width = max(len(label) for label in summary) + 2
    lines = [f"{'':{width}}" + "".join(f"{name:>20}" for _, name, _ in cols)]
    for label, row in summary.items():
        cells = []
        for key, _, fmt in cols:
            if key in row:
                m, s = row[key]
                cells.append(f"{m:{fmt}} ± {s:{fmt}}")
            else:
                cells.append("-")
        lines.append(f"{label:{width}}" + "".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)


def layer_means(records: list[Record], index: int) -> list[list[float]]:
    """(runs, layers): each layer's mean activation at recorded step ``index`` of each record
    (0 = before training, -1 = the last), from ``probes.LayerStats``."""
    return [[s.mean[index] for s in r.layer_series()] for r in records]


_UNIT_KEYS = ("zero_frac", "dead", "negative")
_CURVES = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def _check_key(key: str) -> None:
    if key not in _UNIT_KEYS:
        raise ValueError(f"key must be one of {', '.join(_UNIT_KEYS)}, not {key!r}")


def _unit_value(check: UnitCheck, key: str) -> float:
    return check.zero_frac if key == "zero_frac" else len(getattr(check, key)) / check.units


T = TypeVar("T")


def _build(cls: type[T], d: Any, where: str) -> T:
    """Construct dataclass ``cls`` from a JSON object, converting and checking every field."""
    if not isinstance(d, dict):
        raise RecordError(f"{where}: expected an object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(d) - names
    if unknown:
        raise RecordError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in d:
            values[f.name] = _convert(hints[f.name], d[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: missing field {f.name!r}")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if origin is list or origin is tuple:
        if not isinstance(value, list | tuple):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        items = [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise RecordError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    raise TypeError(f"records cannot convert fields of type {hint!r} ({where})")

