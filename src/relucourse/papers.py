"""The published results the course measures at small scale, as typed data, and their verdicts.

Page: "The course vs the papers" (chapters/papers.ipynb).

Why a module: the papers' numbers are the only numbers in the course that are typed in rather
than computed, so they live in one place, as data with a citation key (checked against
references.bib by tests/test_papers.py), a setup, a metric, units and the course's analogue. The
page computes the course's value next to each one and states a verdict. A verdict is one of three
kinds, each a small pure function here so that its rule is written once and tested:

* **same direction**: the paper's change and the course's change have the same sign, and the
  course's is larger than its stated noise (``same_direction``);
* **same ranking**: the labels the paper and the course both measured come in the same order
  (``same_ranking``; labels only one side has, such as softsign, are named, not compared);
* **within a band**: the course's value lies in a stated interval (``within_band``).

A verdict can come out "differs": the page then says so and asserts what the course does find,
rather than forcing agreement. ``first_step_at_least`` and ``speedup`` measure "how many steps to
a training accuracy" (Krizhevsky et al. 2012) from the records' ``train_acc`` curves, including
runs that never get there (a censored run makes the ratio a bound, and ``Speedup`` says which).
``html_table`` renders the rows for the page (pandas is not a dependency).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from relucourse.records import Record
from relucourse.stats import mean_std

VERDICT_KINDS = ("same direction", "same ranking", "within band")


@dataclass(frozen=True)
class Published:
    """One published result, as the paper states it.

    ``values`` maps a label (an activation, a data set, a model) to the number the paper reports,
    in ``units``; ``where`` is the table or section when it is known. ``analogue`` says what the
    course runs instead, and ``verdict`` which kind of comparison the page makes.
    """

    id: str
    paper: str
    cite: str
    where: str
    setup: str
    metric: str
    values: dict[str, float]
    units: str
    analogue: str
    verdict: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICT_KINDS:
            raise ValueError(f"{self.id}: verdict={self.verdict!r} is invalid: must be one of "
                             f"{', '.join(VERDICT_KINDS)}")
        if not self.values or not all(isinstance(v, int | float) and math.isfinite(v)
                                       for v in self.values.values()):
            raise ValueError(f"{self.id}: values must be a non-empty dict of finite numbers")

    def value_text(self) -> str:
        """The paper's numbers as one line, e.g. ``softsign 1.64 %, tanh 1.76 %``."""
        unit = f" {self.units}" if self.units else ""
        return ", ".join(f"{label} {value:g}{unit}".strip() for label, value in self.values.items())


PUBLISHED: tuple[Published, ...] = (
    Published(
        id="glorot2010-init", paper="Glorot & Bengio (2010)", cite="glorot2010understanding",
        where="eq. 1", setup="the 'standard' initialisation W ~ U[-1/sqrt(n), 1/sqrt(n)]",
        metric="n·Var[W]", values={"standard init": 1 / 3}, units="",
        analogue="PyTorch's nn.Linear default weights, measured on fresh layers",
        verdict="within band"),
    Published(
        id="glorot2010-table1", paper="Glorot & Bengio (2010)", cite="glorot2010understanding",
        where="Table 1", setup="MLP, 5 hidden layers of 1,000 units, MNIST, standard init, SGD on "
                               "minibatches of 10, learning rate chosen on validation",
        metric="test error", values={"softsign": 1.64, "tanh": 1.76, "sigmoid": 2.21}, units="%",
        analogue="MLP, 5 hidden layers of 64 units, MNIST-1D, standard init with zero biases, "
                 "SGD with momentum, LR tuned per activation on validation; the claim checked is "
                 "Table 1's 'sigmoid worst' (softsign against tanh, 0.12 points apart there, is "
                 "printed, not compared)",
        verdict="same ranking"),
    Published(
        id="glorot2011-init-zeros", paper="Glorot, Bordes & Bengio (2011)", cite="glorot2011deep",
        where="", setup="rectifier networks after uniform initialisation",
        metric="exact zeros among hidden outputs", values={"at init": 50.0}, units="%",
        analogue="ReLU MLP (4 x 64, Kaiming normal, zero biases) at init, on the MNIST-1D "
                 "training set",
        verdict="within band"),
    Published(
        id="glorot2011-sparsity", paper="Glorot, Bordes & Bengio (2011)", cite="glorot2011deep",
        where="", setup="deep rectifier networks trained with an L1 activation penalty",
        metric="exact zeros after training",
        values={"MNIST": 83.4, "CIFAR-10": 72.0, "NISTP": 68.0, "NORB": 73.8}, units="%",
        analogue="the same ReLU MLP trained with Adam (LR tuned on validation, no penalty) on "
                 "MNIST-1D",
        verdict="same direction"),
    Published(
        id="glorot2011-flat", paper="Glorot, Bordes & Bengio (2011)", cite="glorot2011deep",
        where="", setup="MNIST rectifier networks, sparsity raised with an L1 activation penalty",
        metric="sparsity up to which accuracy does not drop", values={"flat until": 85.0},
        units="%",
        analogue="the same ReLU MLP with an L1 activation penalty (the unpenalised net's tuned LR)",
        verdict="within band"),
    Published(
        id="he2015-factor", paper="He et al. (2015)", cite="he2015delving", where="Sec. 2.2",
        setup="ReLU layer, zero biases: forward factor (1/2) n Var[w] per layer",
        metric="E[x²] factor per layer", values={"Kaiming (2/n)": 1.0, "Var = 1/n": 0.5},
        units="", analogue="30 square ReLU layers of width 256 at init, measured",
        verdict="within band"),
    Published(
        id="he2015-30layer", paper="He et al. (2015)", cite="he2015delving", where="Fig. 3",
        setup="30-layer plain ReLU CNN, ImageNet, no BatchNorm",
        metric="trains?", values={"Xavier": 0.0, "Kaiming": 1.0}, units="(0 stalls, 1 converges)",
        analogue="30-layer plain ReLU MLP (width 64), MNIST-1D, SGD lr 0.05 shared by both inits "
                 "(chapter 5's runs)",
        verdict="same direction"),
    Published(
        id="krizhevsky2012", paper="Krizhevsky et al. (2012)", cite="krizhevsky2012imagenet",
        where="Fig. 1", setup="4-layer CNN, CIFAR-10, LR chosen per activation for speed",
        metric="epochs to 25 % training error, tanh / ReLU", values={"speed-up": 6.0},
        units="x",
        analogue="CNN (3 conv blocks + linear head), MNIST-1D, SGD with momentum, LR tuned per "
                 "activation on validation; steps to 75 % training accuracy",
        verdict="same direction"),
    Published(
        id="ioffe2015-bn", paper="Ioffe & Szegedy (2015)", cite="ioffe2015batch",
        where="Sec. 4.2.2", setup="Inception on ImageNet with sigmoid units",
        metric="accuracy", values={"sigmoid, no BN": 0.1, "BN-x5 sigmoid": 69.8,
                                   "BN-x5 ReLU": 73.0}, units="%",
        analogue="MLP, 5 hidden layers of 64 units, 8x8 digits, with and without BatchNorm, LR "
                 "tuned per configuration on validation",
        verdict="same ranking"),
    Published(
        id="mishkin2017-bn", paper="Mishkin et al. (2017)", cite="mishkin2017systematic",
        where="", setup="CaffeNet, ImageNet at 128 px, with BatchNorm",
        metric="top-1 accuracy", values={"sigmoid": 47.5, "ReLU": 49.9}, units="%",
        analogue="the same digits MLPs with BatchNorm (train loss and test accuracy separately)",
        verdict="same direction"),
    Published(
        id="cs231n-dead", paper="CS231n notes (Karpathy)", cite="karpathy2016cs231n", where="",
        setup="ReLU network with a learning rate set too high",
        metric="dead units", values={"as much as": 40.0}, units="%",
        analogue="the MNIST-1D ReLU MLP with Adam and with SGD, over learning rates",
        verdict="same direction"),
    Published(
        id="lu2020-born-dead", paper="Lu et al. (2020)", cite="lu2019dying", where="",
        setup="symmetric init, zero biases: born dead with probability -> 1 as depth grows",
        metric="P(born dead), depth 10, width 3", values={"1 - (1 - 2^-N)^L": 1 - (7 / 8) ** 10},
        units="", analogue="Monte Carlo over random zero-bias ReLU MLPs (one input each)",
        verdict="within band"),
    Published(
        id="greydanus2020-baselines", paper="Greydanus & Kobak (2020)", cite="greydanus2020mnist1d",
        where="", setup="MNIST-1D (4,000 train / 1,000 test), each model trained to convergence",
        metric="test accuracy", values={"logistic": 32.0, "MLP": 68.0, "CNN": 94.0}, units="%",
        analogue="logistic regression, the ReLU MLP and the ReLU CNN above, LR tuned on "
                 "validation, a few hundred steps",
        verdict="same ranking"),
)

BY_ID: dict[str, Published] = {p.id: p for p in PUBLISHED}


# --- verdicts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison: its kind, whether the course agrees, and what was compared."""

    kind: str
    agrees: bool
    detail: str

    def __str__(self) -> str:
        return f"{'agrees' if self.agrees else 'differs'} ({self.kind}): {self.detail}"


def _sign(x: float, tol: float = 0.0) -> int:
    return 0 if abs(x) <= tol else (1 if x > 0 else -1)


def same_direction(paper_change: float, course_change: float, tol: float = 0.0,
                   what: str = "change") -> Verdict:
    """Agrees iff both changes are non-zero with the same sign, and the course's is larger than
    ``tol`` in size (its noise, e.g. a std over seeds): a change within the noise is no direction.

    >>> same_direction(+3.2, +0.5, tol=0.1).agrees
    True
    """
    if not (math.isfinite(paper_change) and math.isfinite(course_change)):
        return Verdict("same direction", False, f"{what}: not a finite number")
    paper, course = _sign(paper_change), _sign(course_change, tol)
    if paper == 0:
        raise ValueError("the paper's change is 0: there is no direction to compare")
    detail = f"{what}: paper {paper_change:+.3g}, course {course_change:+.3g}"
    if course == 0:
        return Verdict("same direction", False, detail + f" (within the noise ±{tol:.2g})")
    return Verdict("same direction", paper == course, detail)


def ranking(values: Mapping[str, float], higher_first: bool = True) -> tuple[str, ...]:
    """Labels sorted by value, largest first (``higher_first=False``: smallest first)."""
    for label, v in values.items():
        if not math.isfinite(v):
            raise ValueError(f"{label}: {v} is not a finite number; a diverged run has no rank")
    return tuple(sorted(values, key=lambda k: values[k], reverse=higher_first))


def same_ranking(paper: Mapping[str, float], course: Mapping[str, float],
                 higher_first: bool = True, what: str = "ranking") -> Verdict:
    """Agrees iff the labels both sides measured come in the same order. Labels only one side
    has are named in the detail and not compared; at least two must be shared."""
    shared = [k for k in paper if k in course]
    if len(shared) < 2:
        raise ValueError(f"need two labels measured on both sides to rank, got {shared}")
    p = ranking({k: paper[k] for k in shared}, higher_first)
    c = ranking({k: course[k] for k in shared}, higher_first)
    detail = f"{what}: paper {' > '.join(p)}, course {' > '.join(c)}"
    missing = [k for k in paper if k not in course] + [k for k in course if k not in paper]
    if missing:
        detail += f" (not compared: {', '.join(missing)})"
    return Verdict("same ranking", p == c, detail)


def within_band(value: float, lo: float, hi: float, what: str = "value") -> Verdict:
    """Agrees iff lo <= value <= hi (a NaN, e.g. from a diverged run, never does)."""
    if lo > hi:
        raise ValueError(f"empty band [{lo}, {hi}]")
    ok = math.isfinite(value) and lo <= value <= hi
    return Verdict("within band", ok, f"{what} {value:.3g} in [{lo:.3g}, {hi:.3g}]")


def all_of(*verdicts: Verdict) -> Verdict:
    """One verdict for a row that makes several comparisons of one kind: agrees iff all do."""
    if not verdicts:
        raise ValueError("all_of needs at least one verdict")
    kinds = {v.kind for v in verdicts}
    if len(kinds) != 1:
        raise ValueError(f"all_of combines verdicts of one kind, got {sorted(kinds)}")
    return Verdict(verdicts[0].kind, all(v.agrees for v in verdicts),
                   "; ".join(v.detail for v in verdicts))


def flat_until(reference: tuple[float, float], others: Sequence[tuple[float, float]],
               tol: float) -> float:
    """How sparse a network can get before its accuracy drops (Glorot et al. 2011's "flat until").

    ``reference`` is the unpenalised network's (sparsity, accuracy), ``others`` the penalised
    ones'. Walking up in sparsity from the reference, return the sparsity of the last point whose
    accuracy is within ``tol`` below the reference's; a point past the first drop does not count.
    """
    ref_sparsity, ref_acc = reference
    flat = ref_sparsity
    for sparsity, acc in sorted(p for p in others if p[0] >= ref_sparsity):
        if not acc >= ref_acc - tol:  # a NaN accuracy (diverged) is a drop too
            break
        flat = sparsity
    return flat


# --- readers of the records ------------------------------------------------------------------

def layer_average(record: Record, field: str, step: int | None = None) -> float:
    """Mean over hidden layers of one ``probes.LayerStats`` field (``zero_frac``, ``dead_frac``...)
    at ``step`` (None: the last step the probe recorded); NaN for a diverged run."""
    if record.diverged:
        return float("nan")
    if not record.layer_stats:
        raise ValueError("this record has no layer_stats; train it with probes.LayerStats()")
    at = max(row.step for row in record.layer_stats) if step is None else step
    values = [getattr(row, field) for row in record.layer_stats if row.step == at]
    if not values:
        raise ValueError(f"no layer_stats at step {at}; recorded steps: "
                         f"{sorted({row.step for row in record.layer_stats})}")
    if any(v is None for v in values):
        raise ValueError(f"{field} was not measured (LayerStats(per_unit_dead=True) measures "
                         "dead_frac)")
    return sum(values) / len(values)


# --- steps to a training accuracy (Krizhevsky et al. 2012) -----------------------------------

def first_step_at_least(record: Record, target: float, metric: str = "train_acc") -> int | None:
    """First evaluation step at which ``metric`` (an accuracy: higher is better) is >= ``target``,
    or None if it never is. ``Record.steps_to`` is its counterpart for losses (<= target).

    ``train_acc`` is the mean minibatch accuracy over the ``eval_every`` steps before each
    evaluation, so the answer is a multiple of ``eval_every``: "within that many steps"."""
    values = getattr(record, metric)
    if len(values) != len(record.steps):
        raise ValueError(f"this record has no {metric} curve (got {len(values)} values for "
                         f"{len(record.steps)} steps)")
    for step, value in zip(record.steps, values, strict=True):
        if value >= target:
            return step
    return None


@dataclass(frozen=True)
class Speedup:
    """How many times more steps the slow configuration needed than the fast one.

    Unreached runs count as the whole ``budget``: if some slow runs never got there, the true
    ratio is at least ``ratio`` (``lower_bound``); if some fast runs never did, at most
    (``upper_bound``); with both, ``ratio`` says nothing and ``bounded`` is False.
    """

    ratio: float
    slow: tuple[float, float]
    fast: tuple[float, float]
    slow_reached: int
    fast_reached: int
    seeds: tuple[int, int]
    lower_bound: bool = field(default=False)
    upper_bound: bool = field(default=False)

    @property
    def bounded(self) -> bool:
        return not (self.lower_bound and self.upper_bound)

    def __str__(self) -> str:
        rel = ">= " if self.lower_bound and not self.upper_bound else (
            "<= " if self.upper_bound and not self.lower_bound else "")
        return (f"{rel}{self.ratio:.2f}x (slow: {self.slow[0]:.0f} ± {self.slow[1]:.0f} steps, "
                f"{self.slow_reached}/{self.seeds[0]} reached; fast: {self.fast[0]:.0f} ± "
                f"{self.fast[1]:.0f} steps, {self.fast_reached}/{self.seeds[1]} reached)")


def speedup(slow: Sequence[int | None], fast: Sequence[int | None], budget: int) -> Speedup:
    """Ratio of mean steps to a target, slow / fast, with unreached runs (None) counted as
    ``budget`` steps. Needs at least one fast run that got there."""
    if not slow or not fast:
        raise ValueError("need at least one run on each side")
    if not any(s is not None for s in fast):
        raise ValueError("no fast run reached the target: there is no speed to compare")
    slow_steps = [budget if s is None else s for s in slow]
    fast_steps = [budget if s is None else s for s in fast]
    s_mean, f_mean = mean_std(slow_steps), mean_std(fast_steps)
    return Speedup(ratio=s_mean[0] / f_mean[0], slow=s_mean, fast=f_mean,
                   slow_reached=sum(s is not None for s in slow),
                   fast_reached=sum(s is not None for s in fast), seeds=(len(slow), len(fast)),
                   lower_bound=any(s is None for s in slow),
                   upper_bound=any(s is None for s in fast))


# --- formatting ------------------------------------------------------------------------------

def pm(values: Iterable[float], scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    """``mean ± std`` over seeds, e.g. ``pm(accs, 100, 1, " %")`` -> ``"52.3 ± 1.1 %"``."""
    mean, std = mean_std(values)
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}{unit}"


@dataclass(frozen=True)
class Row:
    """One line of the page's table: the published result, what the course measured, the verdict."""

    published: Published
    course: str
    verdict: Verdict


class Table:
    """The page's rows, filled section by section (``add``) and shown once at the end (``html``)."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def add(self, row_id: str, course: str, verdict: Verdict) -> Verdict:
        """Keep the course's value and verdict for published result ``row_id``; print them."""
        if row_id not in BY_ID:
            raise KeyError(f"no published result {row_id!r}; known: {', '.join(BY_ID)}")
        self.rows[row_id] = Row(BY_ID[row_id], course, verdict)
        print(f"{row_id}: course {course}\n    {verdict}")
        return verdict

    def missing(self) -> list[str]:
        """Published results that have no course value yet."""
        return [p.id for p in PUBLISHED if p.id not in self.rows]

    def html(self) -> str:
        """Every row, in the order of ``PUBLISHED``."""
        return html_table([self.rows[p.id] for p in PUBLISHED if p.id in self.rows])


COLUMNS = ("Paper", "Paper's setup", "Paper's number", "Course analogue",
           "Course (mean ± std over seeds)", "Verdict")


def html_table(rows: Sequence[Row]) -> str:
    """The rows as an HTML table (every cell escaped), for ``IPython.display.HTML``."""
    def cell(text: str, tag: str = "td") -> str:
        return f"<{tag} style=\"text-align:left; vertical-align:top\">{html.escape(text)}</{tag}>"

    head = "".join(cell(c, "th") for c in COLUMNS)
    body = []
    for r in rows:
        p = r.published
        paper = f"{p.paper}, {p.where}" if p.where else p.paper
        verdict = f"{'agrees' if r.verdict.agrees else 'differs'}: {r.verdict.kind}"
        cells = (paper, p.setup, f"{p.metric}: {p.value_text()}", p.analogue, r.course,
                 f"{verdict} ({r.verdict.detail})")
        body.append("<tr>" + "".join(cell(c) for c in cells) + "</tr>")
    return ("<table style=\"font-size:85%\"><thead><tr>" + head + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")
