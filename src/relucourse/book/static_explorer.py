"""Explorers a reader of the static site can move: every frame drawn at build time, swapped in HTML.

Why: the site's readers are the largest audience and have no kernel, so a live widget would be
dead there. At build time (``RELUCOURSE_STATIC=1``) ``render`` calls the lab's own ``draw`` for a
grid of control values, keeps each figure as a PNG (and what ``draw`` printed), and emits one
self-contained HTML block: a dropdown per list control, a range slider per numeric control, and a
few lines of JavaScript that show the frame of the chosen values. No kernel, no CDN, no widget
state. The first frame is the live explorer's default (``explorer.start``).

The grid: every combination when there are at most ``MAX_FRAMES``; otherwise one control at a
time around the defaults (moving one control resets the others, and the page says so). Numeric
sliders keep at most ``MAX_SLIDER_VALUES`` evenly spaced values of their step grid, always
including the default.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import itertools
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

MAX_FRAMES = 24
MAX_SLIDER_VALUES = 9


def slider_values(spec: tuple, default: Any, limit: int = MAX_SLIDER_VALUES) -> list[Any]:
    """The slider's step grid, thinned to ``limit`` evenly spaced values that include ``default``."""
    lo, hi = spec[0], spec[1]
    ints = all(isinstance(v, int) for v in spec)
    step = spec[2] if len(spec) > 2 else (1 if ints else 0.1)
    n = int(round((hi - lo) / step)) + 1
    grid = [lo + i * step if ints else round(lo + i * step, 10) for i in range(n)]
    if len(grid) > limit:
        picks = {round(i * (len(grid) - 1) / (limit - 1)) for i in range(limit)}
        grid = [grid[i] for i in sorted(picks)]
    if default not in grid:
        grid = sorted([*grid, default])
    return grid


def grid(values: dict[str, list[Any]], default: dict[str, Any],
         max_frames: int = MAX_FRAMES) -> tuple[list[dict[str, Any]], bool]:
    """The combinations to draw, and whether they are one-control-at-a-time."""
    names = list(values)
    total = 1
    for v in values.values():
        total *= len(v)
    if total <= max_frames:
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(
            *values.values())], False
    frames = [dict(default)]
    for name in names:
        frames += [{**default, name: v} for v in values[name] if v != default[name]]
    return frames, True


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi="figure")  # as the notebook shows it
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def draw_frame(draw: Callable[..., Any], values: dict[str, Any]) -> tuple[str, str]:
    """Run ``draw(**values)`` without showing anything; return its last figure (base64 PNG) and
    what it printed."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    printed = io.StringIO()
    real_show = plt.show
    plt.show = lambda *a, **k: None  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(printed):
            draw(**values)
    finally:
        plt.show = real_show  # type: ignore[assignment]
    new = [n for n in plt.get_fignums() if n not in before]
    if not new:
        raise ValueError(f"draw({values}) made no matplotlib figure to show on the static site")
    image = _png(plt.figure(new[-1]))
    for n in new:
        plt.close(n)
    return image, printed.getvalue()


def key(values: dict[str, Any], options: dict[str, list[Any]]) -> str:
    """A frame's key: the index of each control's value ("[2,0,1]"), the same string in Python and
    JavaScript (values themselves would not be: json gives 2.0 where JavaScript writes 2)."""
    return json.dumps([options[n].index(v) for n, v in values.items()], separators=(",", ":"))


def render(draw: Callable[..., Any], values: dict[str, list[Any]], default: dict[str, Any],
           sliders: Sequence[str]) -> str:
    """The self-contained HTML explorer (see the module docstring)."""
    names = list(values)
    combos, one_at_a_time = grid(values, default)
    frames = {}
    for combo in combos:
        frames[key(combo, values)] = draw_frame(draw, combo)
    uid = "rcx" + secrets.token_hex(4)
    controls = []
    for name in names:
        options = values[name]
        label = html.escape(name)
        if name in sliders:
            controls.append(
                f'<label>{label} <input type="range" data-name="{label}" min="0" '
                f'max="{len(options) - 1}" step="1" value="{options.index(default[name])}"> '
                f'<output>{html.escape(str(default[name]))}</output></label>')
        else:
            opts = "".join(f'<option value="{i}"{" selected" if v == default[name] else ""}>'
                           f"{html.escape(str(v))}</option>" for i, v in enumerate(options))
            controls.append(f'<label>{label} <select data-name="{label}">{opts}</select></label>')
    note = ("Move one control at a time: the others return to their defaults (every combination "
            "is in the live explorer)." if one_at_a_time else "Every combination was drawn.")
    first_image, first_text = frames[key(default, values)]
    payload = {"names": names, "defaults": [values[n].index(default[n]) for n in names],
               "labels": [[str(v) for v in values[n]] for n in names],
               "oneAtATime": one_at_a_time,
               "frames": {k: {"img": img, "text": text} for k, (img, text) in frames.items()}}
    script = _SCRIPT.replace("UID", uid)
    return (
        f'<div class="relucourse-explorer" id="{uid}">'
        f'<div class="relucourse-explorer-controls">{" ".join(controls)}</div>'
        f'<p class="relucourse-explorer-note"><em>Interactive on this page: frames drawn when the '
        f"site was built. {note} For other settings open the notebook in Colab or JupyterLab."
        f"</em></p>"
        f'<img alt="explorer figure" style="max-width:100%" src="data:image/png;base64,{first_image}">'
        f'<pre class="relucourse-explorer-text">{html.escape(first_text)}</pre>'
        f'<script type="application/json">{_json_for_script(payload)}</script>'
        f"<script>{script}</script></div>"
    )


def _json_for_script(payload: dict[str, Any]) -> str:
    """JSON safe inside a <script> element (no "</" sequence can close it)."""
    return json.dumps(payload).replace("</", "<\\/")


_SCRIPT = """
(function () {
  const root = document.getElementById("UID");
  const data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  const controls = Array.from(root.querySelectorAll("[data-name]"));
  const img = root.querySelector("img"), text = root.querySelector("pre");
  function show(changed) {
    let picks = controls.map((c) => Number(c.value));
    if (data.oneAtATime) {
      picks = data.defaults.map((d, i) => (i === changed ? picks[i] : d));
      controls.forEach((c, i) => { c.value = String(picks[i]); });
    }
    controls.forEach((c, i) => {
      const out = c.parentElement.querySelector("output");
      if (out) out.textContent = data.labels[i][picks[i]];
    });
    const frame = data.frames[JSON.stringify(picks)];
    if (frame) { img.src = "data:image/png;base64," + frame.img; text.textContent = frame.text; }
  }
  controls.forEach((c, i) => c.addEventListener("input", () => show(i)));
})();
"""
