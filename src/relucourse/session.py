"""``rc.setup()``: how every notebook starts.

It activates the runtime (``runtime.activate``: device, fast/full mode, seeds), applies the course's
plot style and prints one banner line saying what was chosen and why. It lives apart from
``runtime`` so that the runtime imports nothing above it (plots sit at the top of the import flow).
"""

from __future__ import annotations

import torch

from relucourse import plots
from relucourse.runtime import Runtime, activate


def setup(seed: int = 0, device: str | torch.device | None = None, quiet: bool = False) -> Runtime:
    """Start a notebook: pick the device and mode, seed everything, apply the plot style, say so.

    The returned runtime becomes the active one: ``rc.by_mode``, ``rc.pick_device`` and every
    experiment use its device and mode unless given an explicit argument.
    """
    rt = activate(seed, device)
    plots.use_style()
    if not quiet:
        print(rt.banner())
    return rt
