"""Interactive explorers for the labs: live ipywidgets in a kernel, precomputed frames on the site.

A widget on the static site would be dead (its kernel is gone), so when ``RELUCOURSE_STATIC=1``
(set by ``make book`` / ``make test``) ``explore`` draws a grid of frames at build time and shows
them as a self-contained HTML explorer whose controls work without a kernel
(``static_explorer``). Everywhere else (JupyterLab, Colab, nbval) it builds live sliders and
dropdowns with ``ipywidgets.interactive``. Both start from the same values (``start``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from relucourse.runtime import no_progress

STATIC_ENV = "RELUCOURSE_STATIC"


def is_static() -> bool:
    return os.environ.get(STATIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def explore(draw: Callable[..., Any], **controls: Any) -> None:
    """Call ``draw(**values)`` under interactive controls (returns nothing, so no stray repr).

    Each control is an ipywidgets abbreviation as ``interact`` takes it: a list of options for a
    dropdown, ``(min, max[, step])`` for a slider, or a widget. The first option / the slider's
    midpoint snapped onto its step grid / the given widget's value is the default, and it is the
    same number in the live explorer and in the site's still figure (``start``). Progress bars
    are off while ``draw`` runs (``runtime.no_progress``).
    """
    from IPython.display import HTML, display

    if is_static():
        display(HTML(static_html(draw, **controls)))
        return
    display(build(draw, **controls))


def static_html(draw: Callable[..., Any], **controls: Any) -> str:
    """The site's explorer: frames of ``draw`` over a grid of the controls' values, as HTML."""
    from relucourse.book import static_explorer

    defaults = {name: start(spec) for name, spec in controls.items()}
    values, sliders = {}, []
    for name, spec in controls.items():
        if isinstance(spec, tuple):
            values[name] = static_explorer.slider_values(spec, defaults[name])
            sliders.append(name)
        elif isinstance(spec, list):
            values[name] = list(spec)
        else:  # a widget: its options, or just its value
            values[name] = list(getattr(spec, "options", [spec.value]))
    return static_explorer.render(_quiet(draw), values, defaults, sliders)


def build(draw: Callable[..., Any], **controls: Any) -> Any:
    """The live ``ipywidgets.interactive`` for ``draw``, drawn once with the defaults."""
    import ipywidgets as widgets

    return widgets.interactive(_quiet(draw), **{name: widget(spec) for name, spec in controls.items()})


def _quiet(draw: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(draw)
    def quiet(**values: Any) -> Any:
        with no_progress():
            return draw(**values)

    return quiet


def widget(spec: Any) -> Any:
    """The control for an abbreviation, built with an explicit starting value (``start``), so the
    front end never re-snaps it (a FloatSlider left to itself showed 1.30 where the site drew
    1.2000000000000002)."""
    import ipywidgets as widgets

    if hasattr(spec, "value"):
        return spec
    if isinstance(spec, list):
        return widgets.Dropdown(options=spec, value=spec[0])
    if isinstance(spec, tuple) and len(spec) in (2, 3):
        if all(isinstance(v, int) for v in spec):
            return widgets.IntSlider(min=spec[0], max=spec[1], step=spec[2] if len(spec) > 2 else 1,
                                     value=start(spec))
        step = spec[2] if len(spec) > 2 else 0.1
        return widgets.FloatSlider(min=spec[0], max=spec[1], step=step, value=start(spec),
                                   readout_format=f".{_decimals(step)}f")
    raise ValueError(f"unsupported control {spec!r}: use a list of options, (min, max[, step]) or "
                     "an ipywidgets widget")


def _decimals(step: float) -> int:
    text = f"{step:.10f}".rstrip("0")
    return max(len(text.split(".")[1]) if "." in text else 0, 1)


def start(spec: Any) -> Any:
    """The control's starting value: the widget's value, the first option, or the slider's
    midpoint snapped onto its step grid (rounded to the step's decimals, so no float noise)."""
    if hasattr(spec, "value"):
        return spec.value
    if isinstance(spec, list):
        return spec[0]
    if isinstance(spec, tuple) and len(spec) in (2, 3):
        lo, hi = spec[0], spec[1]
        if all(isinstance(v, int) for v in spec):
            step = spec[2] if len(spec) > 2 else 1
            return lo + round((hi - lo) / 2 / step) * step
        step = spec[2] if len(spec) > 2 else 0.1
        return round(lo + round((hi - lo) / 2 / step) * step, _decimals(step))
    raise ValueError(f"unsupported control {spec!r}: use a list of options, (min, max[, step]) or "
                     "an ipywidgets widget")
