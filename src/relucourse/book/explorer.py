"""Interactive explorers for the labs: live ipywidgets in a kernel, a still figure on the site.

A widget on the static site would be dead (its kernel is gone), so when ``RELUCOURSE_STATIC=1``
(set by ``make book`` / ``make test``) ``explore`` draws the figure once for the default values and
says how to get the live version. Everywhere else (JupyterLab, Colab, nbval) it builds sliders and
dropdowns with ``ipywidgets.interact``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

STATIC_ENV = "RELUCOURSE_STATIC"


def is_static() -> bool:
    return os.environ.get(STATIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def explore(draw: Callable[..., Any], **controls: Any) -> Any:
    """Call ``draw(**values)`` under interactive controls.

    Each control is an ipywidgets abbreviation as ``interact`` takes it: a list of options for a
    dropdown, ``(min, max, step)`` for a slider, or a widget. The first option / the given widget
    value is the default used for the static figure.
    """
    if is_static():
        defaults = {name: _default(spec) for name, spec in controls.items()}
        print("Static figure for the default settings "
              f"({', '.join(f'{k}={v}' for k, v in defaults.items())}). "
              "Open this page in Colab or JupyterLab (launch button above) to move the controls.")
        return draw(**defaults)
    import ipywidgets as widgets

    return widgets.interact(draw, **controls)


def _default(spec: Any) -> Any:
    if isinstance(spec, list | tuple) and spec and not isinstance(spec[0], int | float):
        return spec[0]
    if isinstance(spec, list):
        return spec[0]
    if isinstance(spec, tuple):
        # The slider's starting value exactly as ipywidgets computes it (_get_min_max_value), so
        # the site's still figure matches what a live reader first sees: the midpoint, kept in
        # the type of (hi - lo), then moved down onto the step grid.
        lo, hi = spec[0], spec[1]
        diff = hi - lo
        value = lo + diff / 2
        if not isinstance(value, type(diff)):
            value = lo + diff // 2
        if len(spec) > 2:
            value = lo + int((value - lo) / spec[2]) * spec[2]
        return value
    if hasattr(spec, "value"):
        return spec.value
    return spec
