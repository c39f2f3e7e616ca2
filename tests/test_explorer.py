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
    assert out == "drawn"
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


def test_live_mode_returns_an_interactive(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import ipywidgets as widgets

    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    calls: list[tuple[str, int]] = []

    def draw(activation: str, depth: int) -> None:  # interact reads the signature: named args
        calls.append((activation, depth))

    result = explorer.explore(draw, activation=["relu", "sigmoid"], depth=(2, 20, 2))
    live = getattr(result, "widget", result)  # interact returns the function, widget attached
    assert isinstance(live, widgets.interactive)
    assert calls == [("relu", 10)]  # drawn once, immediately, with the defaults
    live.children[0].value = "sigmoid"  # moving a control redraws
    assert calls[-1] == ("sigmoid", 10)
    assert "Static figure" not in capsys.readouterr().out


@pytest.mark.parametrize("spec", [(2, 20, 2), (0, 9), (0, 10, 4), (0.0, 1.0), (0.1, 2.0, 0.1),
                                  ["relu", "tanh"], [8, 16, 32]])
def test_static_default_equals_the_live_widgets_start(spec: object,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The site's still figure shows exactly what a reader first sees in the live explorer."""
    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    seen: list[object] = []

    def draw(v: object) -> None:
        seen.append(v)

    explorer.explore(draw, v=spec)
    assert explorer._default(spec) == pytest.approx(seen[0])
