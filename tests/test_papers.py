"""relucourse.papers: the table of published results, the verdict rules, steps to an accuracy."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pytest

from relucourse import papers
from relucourse.records import Record

ROOT = Path(__file__).resolve().parents[1]
BIB_KEYS = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(), re.M))


# --- the table's schema -------------------------------------------------------------------------

@pytest.mark.parametrize("row", papers.PUBLISHED, ids=lambda r: r.id)
def test_every_row_is_complete_and_cited(row: papers.Published) -> None:
    assert row.cite in BIB_KEYS, f"{row.id}: {row.cite!r} is not a key of references.bib"
    for name in ("id", "paper", "setup", "metric", "analogue"):
        assert getattr(row, name).strip(), f"{row.id}: empty {name}"
    assert isinstance(row.units, str)
    assert row.values and all(math.isfinite(v) for v in row.values.values())
    assert row.verdict in papers.VERDICT_KINDS
    assert row.value_text()


def test_ids_are_unique_and_indexed() -> None:
    ids = [r.id for r in papers.PUBLISHED]
    assert len(ids) == len(set(ids))
    assert set(papers.BY_ID) == set(ids)


def test_the_issue_rows_are_all_there() -> None:
    cited = {r.cite for r in papers.PUBLISHED}
    assert {"glorot2010understanding", "glorot2011deep", "he2015delving", "krizhevsky2012imagenet",
            "ioffe2015batch", "mishkin2017systematic", "karpathy2016cs231n", "lu2019dying",
            "greydanus2020mnist1d"} <= cited


@pytest.mark.parametrize("row_id, label, value", [
    ("glorot2010-table1", "sigmoid", 2.21), ("glorot2010-table1", "tanh", 1.76),
    ("glorot2010-table1", "softsign", 1.64), ("glorot2011-sparsity", "MNIST", 83.4),
    ("glorot2011-sparsity", "CIFAR-10", 72.0), ("glorot2011-sparsity", "NISTP", 68.0),
    ("glorot2011-sparsity", "NORB", 73.8), ("ioffe2015-bn", "BN-x5 sigmoid", 69.8),
    ("ioffe2015-bn", "BN-x5 ReLU", 73.0), ("mishkin2017-bn", "sigmoid", 47.5),
    ("mishkin2017-bn", "ReLU", 49.9), ("krizhevsky2012", "speed-up", 6.0),
    ("cs231n-dead", "as much as", 40.0), ("greydanus2020-baselines", "logistic", 32.0),
    ("greydanus2020-baselines", "MLP", 68.0), ("greydanus2020-baselines", "CNN", 94.0),
])
def test_published_numbers_are_typed_as_the_papers_state_them(row_id: str, label: str,
                                                               value: float) -> None:
    assert papers.BY_ID[row_id].values[label] == value


def test_a_bad_row_is_refused() -> None:
    good = papers.PUBLISHED[0]
    fields = {f: getattr(good, f) for f in good.__dataclass_fields__}
    with pytest.raises(ValueError, match="verdict"):
        papers.Published(**{**fields, "verdict": "roughly"})
    with pytest.raises(ValueError, match="finite"):
        papers.Published(**{**fields, "values": {"x": float("nan")}})
    with pytest.raises(ValueError, match="finite"):
        papers.Published(**{**fields, "values": {}})


# --- verdicts on synthetic inputs ---------------------------------------------------------------

@pytest.mark.parametrize("paper, course, tol, agrees", [
    (3.2, 0.5, 0.0, True), (3.2, 0.5, 0.4, True), (3.2, 0.5, 0.6, False),  # within the noise
    (3.2, -0.5, 0.0, False), (-1.0, -2.0, 0.1, True), (2.0, 0.0, 0.0, False),
    (2.0, float("nan"), 0.0, False),
])
def test_same_direction(paper: float, course: float, tol: float, agrees: bool) -> None:
    v = papers.same_direction(paper, course, tol, what="gap")
    assert v.agrees is agrees and v.kind == "same direction" and "gap" in v.detail


def test_same_direction_needs_a_paper_direction() -> None:
    with pytest.raises(ValueError, match="no direction"):
        papers.same_direction(0.0, 1.0)


def test_ranking_orders_by_value() -> None:
    assert papers.ranking({"a": 1.0, "b": 3.0, "c": 2.0}) == ("b", "c", "a")
    assert papers.ranking({"a": 1.0, "b": 3.0, "c": 2.0}, higher_first=False) == ("a", "c", "b")
    with pytest.raises(ValueError, match="finite"):
        papers.ranking({"a": float("nan"), "b": 1.0})


def test_same_ranking_compares_shared_labels_only() -> None:
    paper = {"softsign": 1.64, "tanh": 1.76, "sigmoid": 2.21}
    v = papers.same_ranking(paper, {"tanh": 3.0, "sigmoid": 90.0}, what="error")
    assert v.agrees and "softsign" in v.detail and "sigmoid > tanh" in v.detail
    assert not papers.same_ranking(paper, {"tanh": 9.0, "sigmoid": 2.0}).agrees
    with pytest.raises(ValueError, match="two labels"):
        papers.same_ranking(paper, {"tanh": 1.0})


@pytest.mark.parametrize("value, agrees", [(0.33, True), (0.30, True), (0.36, True),
                                           (0.29, False), (0.37, False), (float("nan"), False)])
def test_within_band(value: float, agrees: bool) -> None:
    assert papers.within_band(value, 0.30, 0.36).agrees is agrees


def test_within_band_refuses_an_empty_band() -> None:
    with pytest.raises(ValueError, match="empty"):
        papers.within_band(1.0, 2.0, 1.0)


def test_verdict_reads_as_a_sentence() -> None:
    assert str(papers.within_band(0.5, 0.4, 0.6, "x")) == "agrees (within band): x 0.5 in [0.4, 0.6]"
    assert str(papers.within_band(0.7, 0.4, 0.6)).startswith("differs")


# --- steps to an accuracy -----------------------------------------------------------------------

def record(accs: list[float], every: int = 10) -> Record:
    steps = [every * (i + 1) for i in range(len(accs))]
    return Record(steps=steps, train_loss=[1.0] * len(accs), train_acc=accs,
                  test_loss=[1.0] * len(accs), test_acc=accs)


def test_first_step_at_least() -> None:
    r = record([0.2, 0.5, 0.74, 0.75, 0.9])
    assert papers.first_step_at_least(r, 0.75) == 40     # >=, not >
    assert papers.first_step_at_least(r, 0.5) == 20
    assert papers.first_step_at_least(r, 0.95) is None
    assert papers.first_step_at_least(r, 0.9, metric="test_acc") == 50
    # a loss-style reading would answer the first step, since 0.2 <= 0.75:
    assert r.steps_to(0.75, "train_acc") == 10


def test_first_step_at_least_needs_the_curve() -> None:
    r = Record(steps=[10, 20], train_loss=[1.0, 0.5], test_loss=[1.0, 0.5], test_acc=[0.1, 0.2])
    with pytest.raises(ValueError, match="train_acc"):
        papers.first_step_at_least(r, 0.5)


def test_speedup_of_runs_that_all_got_there() -> None:
    s = papers.speedup([600, 600, 600], [100, 100, 100], budget=1000)
    assert s.ratio == pytest.approx(6.0) and not s.lower_bound and not s.upper_bound
    assert s.slow == (600.0, 0.0) and s.fast_reached == 3 and s.bounded
    assert str(s).startswith("6.00x")


def test_speedup_with_censored_runs_is_a_bound() -> None:
    s = papers.speedup([None, 300, None], [100, 100, 100], budget=400)
    assert s.ratio == pytest.approx((400 + 300 + 400) / 3 / 100)
    assert s.lower_bound and not s.upper_bound and s.slow_reached == 1
    assert str(s).startswith(">= ")
    s = papers.speedup([300, 300, 300], [100, None, 100], budget=400)
    assert s.upper_bound and not s.lower_bound and str(s).startswith("<= ")
    s = papers.speedup([None, None, None], [None, 100, 100], budget=400)
    assert not s.bounded


def test_speedup_needs_a_fast_run_that_got_there() -> None:
    with pytest.raises(ValueError, match="no fast run"):
        papers.speedup([100], [None, None], budget=400)
    with pytest.raises(ValueError, match="at least one"):
        papers.speedup([], [100], budget=400)


# --- formatting ---------------------------------------------------------------------------------

def test_pm_formats_mean_and_std() -> None:
    assert papers.pm([0.5, 0.7], 100, 1, " %") == "60.0 ± 10.0 %"
    assert papers.pm([1.0, 1.0, 1.0]) == "1.00 ± 0.00"


def test_html_table_has_one_row_per_result_and_escapes_cells() -> None:
    rows = [papers.Row(p, "<b>1 ± 0</b>", papers.within_band(1.0, 0.0, 2.0))
            for p in papers.PUBLISHED[:3]]
    out = papers.html_table(rows)
    assert out.count("<tr>") == 1 + len(rows)
    assert "&lt;b&gt;1 ± 0&lt;/b&gt;" in out and "<b>" not in out
    assert all(f">{html_col}<" in out for html_col in ("Paper", "Verdict"))
    assert "agrees: within band" in out and "Glorot &amp; Bengio (2010), eq. 1" in out


def test_all_of_agrees_only_if_every_part_does() -> None:
    ok, bad = papers.within_band(1.0, 0.0, 2.0, "a"), papers.within_band(3.0, 0.0, 2.0, "b")
    assert papers.all_of(ok, ok).agrees and not papers.all_of(ok, bad).agrees
    assert papers.all_of(ok, bad).detail == f"{ok.detail}; {bad.detail}"
    with pytest.raises(ValueError, match="one kind"):
        papers.all_of(ok, papers.same_direction(1.0, 1.0))
    with pytest.raises(ValueError, match="at least one"):
        papers.all_of()


def test_table_keeps_rows_in_published_order(capsys: pytest.CaptureFixture[str]) -> None:
    table = papers.Table()
    last, first = papers.PUBLISHED[-1], papers.PUBLISHED[0]
    verdict = table.add(last.id, "1 ± 0", papers.within_band(1.0, 0.0, 2.0))
    assert verdict.agrees and last.id in capsys.readouterr().out
    table.add(first.id, "2 ± 0", papers.within_band(3.0, 0.0, 2.0))
    out = table.html()
    assert out.index(html.escape(first.paper)) < out.index(html.escape(last.paper))
    assert len(table.missing()) == len(papers.PUBLISHED) - 2 and first.id not in table.missing()
    with pytest.raises(KeyError, match="no published result"):
        table.add("nobody2099", "1", verdict)


@pytest.mark.parametrize("others, expected", [
    ([(0.8, 0.59), (0.9, 0.58)], 0.9),              # flat all the way
    ([(0.9, 0.58), (0.8, 0.50)], 0.7),              # sorted by sparsity: the drop at 0.8 ends it
    ([(0.8, 0.59), (0.95, 0.30), (0.99, 0.59)], 0.8),  # a point past the first drop does not count
    ([(0.8, float("nan"))], 0.7),                   # a diverged run is a drop
    ([], 0.7),
])
def test_flat_until(others: list[tuple[float, float]], expected: float) -> None:
    assert papers.flat_until((0.7, 0.60), others, tol=0.03) == expected


def test_layer_average_reads_one_step_of_layer_stats() -> None:
    from relucourse.records import LayerStat

    def row(step: int, layer: str, zero: float, dead: float | None) -> LayerStat:
        return LayerStat(step=step, layer=layer, mean=0.0, std=1.0, zero_frac=zero,
                         second_moment=1.0, dead_frac=dead)

    r = record([0.5, 0.6])
    r.layer_stats = [row(0, "a", 0.5, 0.0), row(0, "b", 0.4, 0.0),
                     row(20, "a", 0.8, 0.1), row(20, "b", 0.6, 0.3)]
    assert papers.layer_average(r, "zero_frac", 0) == pytest.approx(0.45)
    assert papers.layer_average(r, "zero_frac") == pytest.approx(0.7)     # the last step
    assert papers.layer_average(r, "dead_frac") == pytest.approx(0.2)
    with pytest.raises(ValueError, match="no layer_stats at step 5"):
        papers.layer_average(r, "zero_frac", 5)
    r.layer_stats = [row(0, "a", 0.5, None)]
    with pytest.raises(ValueError, match="per_unit_dead"):
        papers.layer_average(r, "dead_frac")
    r.diverged_at = 10
    assert math.isnan(papers.layer_average(r, "zero_frac"))
    with pytest.raises(ValueError, match="no layer_stats"):
        papers.layer_average(Record(), "zero_frac")
