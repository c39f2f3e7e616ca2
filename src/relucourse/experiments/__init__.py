"""Experiments: the one path that seeds, builds and trains (``fit``), its cache, the batched engine.

``from relucourse.experiments import fit, run, sweep`` (also ``rc.fit``, ``rc.run``, ``rc.sweep``).
Modules: ``runner`` (fit / run), ``sweeps`` (sweep / vary), ``cache`` (the on-disk result cache),
``batched`` (many same-shaped MLPs trained at once, the same records as the loop), ``tuning``
(``tune``: per-configuration hyper-parameters chosen on a validation split, the fair protocol).
"""

from __future__ import annotations

from relucourse.experiments.cache import cache_dir, source_hash
from relucourse.experiments.runner import fit, init_model, load_data, run, training_step
from relucourse.experiments.sweeps import sweep, vary
from relucourse.experiments.tuning import Tuned, tune

__all__ = ["Tuned", "cache_dir", "fit", "init_model", "load_data", "run", "source_hash", "sweep",
           "training_step", "tune", "vary"]
