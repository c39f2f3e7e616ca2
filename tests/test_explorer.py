"""explorer: a still figure with default values on the static site, live widgets in a kernel."""

from __future__ import annotations

import json
import re

import pytest

from relucourse.book import explorer


class Draw:
    """A draw function that plots its values (the static explorer keeps each figure)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **values: object) -> None:
        import matplotlib.pyplot as plt

        self.calls.append(values)
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.set_title(str(values))
        print("drew", values)
        plt.show()


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch, agg) -> list[object]:
    """What explore() displays."""
    out: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: out.append(obj))
    return out


def frames(html: str) -> dict:
    payload = re.search(r'<script type="application/json">(.*?)</script>', html, re.DOTALL)
    assert payload is not None
    return json.loads(payload.group(1).replace("<\\/", "</"))


def test_static_mode_shows_every_combination_as_html_frames(monkeypatch: pytest.MonkeyPatch,
                                                            shown: list[object]) -> None:
    monkeypatch.setenv(explorer.STATIC_ENV, "1")
    draw = Draw()
    before = plt_figures_left()  # other tests in this worker may have left figures open
    assert explorer.explore(draw, activation=["relu", "sigmoid"], depth=(2, 6, 2)) is None
    (out,) = shown
    page = out.data
    assert {"activation": "relu", "depth": 4} in draw.calls and len(draw.calls) == 2 * 3
    assert plt_figures_left() == before  # every frame's figure was closed
    data = frames(page)
    first = re.search(r'<img [^>]*src="data:image/png;base64,([^"]+)"', page)
    assert first is not None and first.group(1) == data["frames"]["[0,1]"]["img"]  # the default
    assert set(data["frames"]) == {f"[{a},{d}]" for a in range(2) for d in range(3)}
    assert data["defaults"] == [0, 1] and not data["oneAtATime"]
    assert page.count('<input type="range"') == 1 and page.count("<select") == 1
    assert "Interactive on this page" in page and "drew" in page
    # Self-contained: no external script or URL (base64 frames removed first: their letters
    # spell anything, "cdn" included).
    text = re.sub(r"[A-Za-z0-9+/=]{200,}", "", page)
    assert "<script src" not in text and not re.search(r"https?://|cdn", text.lower())


def test_large_grids_are_drawn_one_control_at_a_time(monkeypatch: pytest.MonkeyPatch,
                                                      shown: list[object]) -> None:
    monkeypatch.setenv(explorer.STATIC_ENV, "1")
    draw = Draw()
    explorer.explore(draw, a=list(range(6)), b=list(range(6)), depth=(5, 50, 5))
    data = frames(shown[0].data)
    assert data["oneAtATime"]
    assert len(draw.calls) == len(data["frames"]) <= 6 + 6 + 9
    assert "Move one control at a time" in shown[0].data


def test_slider_values_keep_the_default_and_thin_the_grid() -> None:
    from relucourse.book import static_explorer

    depths = static_explorer.slider_values((2, 20, 1), 11)
    assert len(depths) == 9 and depths[0] == 2 and depths[-1] == 20 and 11 in depths
    assert depths == sorted(set(depths))
    values = static_explorer.slider_values((0.5, 2.0, 0.1), 1.3)
    assert 1.3 in values and len(values) <= 10 and values[0] == 0.5 and values[-1] == 2.0
    assert static_explorer.slider_values((0, 10, 4), 4) == [0, 4, 8]


def test_a_draw_without_a_figure_is_named(monkeypatch: pytest.MonkeyPatch,
                                          shown: list[object]) -> None:
    monkeypatch.setenv(explorer.STATIC_ENV, "1")
    with pytest.raises(ValueError, match="made no matplotlib figure"):
        explorer.explore(lambda n: None, n=[1, 2])


def test_json_in_the_page_cannot_close_its_script() -> None:
    from relucourse.book import static_explorer

    assert "</" not in static_explorer._json_for_script({"x": "</script><script>alert(1)"})


def plt_figures_left() -> list[int]:
    import matplotlib.pyplot as plt

    return plt.get_fignums()


@pytest.mark.parametrize("value", ["", "0", "no"])
def test_is_static(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(explorer.STATIC_ENV, value)
    assert not explorer.is_static()


def test_live_mode_builds_an_interactive(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import ipywidgets as widgets

    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    calls: list[tuple[str, int]] = []

    def draw(activation: str, depth: int) -> None:  # interact reads the signature: named args
        calls.append((activation, depth))

    live = explorer.build(draw, activation=["relu", "sigmoid"], depth=(2, 20, 2))
    assert isinstance(live, widgets.interactive)
    assert calls == [("relu", 10)]  # drawn once, immediately, with the defaults
    live.children[0].value = "sigmoid"  # moving a control redraws
    assert calls[-1] == ("sigmoid", 10)
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    assert explorer.explore(draw, depth=(2, 20, 2)) is None  # no "<function draw>" under it
    assert len(shown) == 1 and isinstance(shown[0], widgets.interactive)
    assert "Static figure" not in capsys.readouterr().out


def test_no_progress_bars_while_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    from relucourse import runtime

    monkeypatch.delenv("RELUCOURSE_PROGRESS", raising=False)
    seen: list[bool] = []
    explorer.build(lambda depth: seen.append(runtime.show_progress()), depth=(2, 4))
    assert seen == [False] and runtime.show_progress()


@pytest.mark.parametrize(("spec", "value"), [
    ((2, 20, 2), 10), ((0, 9), 4), ((0, 10, 4), 4), ((0.0, 1.0), 0.5), ((0.1, 2.0, 0.1), 1.0),
    ((0.5, 2.0, 0.1), 1.3), (["relu", "tanh"], "relu"), ([8, 16, 32], 8)])
def test_static_default_equals_the_live_widgets_start(spec: object, value: object,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The site's still figure shows exactly what a reader first sees in the live explorer."""
    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    seen: list[object] = []
    explorer.build(lambda v: seen.append(v), v=spec)
    assert seen == [value] and explorer.start(spec) == value
    assert repr(value) == repr(seen[0])  # no float noise such as 1.2000000000000002


def test_unsupported_controls_are_named() -> None:
    with pytest.raises(ValueError, match="unsupported control"):
        explorer.widget((1, 2, 3, 4))
