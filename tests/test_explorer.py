"""explorer: a still figure with default values on the static site, live widgets in a kernel."""

from __future__ import annotations

import pytest

from relucourse.book import explorer


class Draw:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **values: object) -> str:
        self.calls.append(values)
        return "drawn"


def test_static_mode_draws_once_with_defaults(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(explorer.STATIC_ENV, "1")
    draw = Draw()
    out = explorer.explore(draw, activation=["relu", "sigmoid"], depth=(2, 20, 2), lr=(0.0, 1.0),
                           widths=[8, 16], seed=(0, 9))
    assert out is None  # nothing for the notebook to print under the figure
    assert draw.calls == [{"activation": "relu", "depth": 10, "lr": 0.5, "widths": 8, "seed": 4}]
    note = capsys.readouterr().out
    assert "Static figure" in note and "activation=relu" in note and "Colab" in note


def test_static_defaults_respect_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(explorer.STATIC_ENV, "true")
    draw = Draw()
    explorer.explore(draw, n=(0, 10, 4))
    assert draw.calls == [{"n": 4}]  # midpoint 5 rounded down onto the slider's grid


def test_static_widget_value(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipywidgets as widgets

    monkeypatch.setenv(explorer.STATIC_ENV, "1")
    draw = Draw()
    explorer.explore(draw, w=widgets.IntSlider(value=7, min=0, max=10))
    assert draw.calls == [{"w": 7}]


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
