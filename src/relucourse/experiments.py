"""Run configured experiments, with results cached on disk as JSON.

``run(cfg)`` loads the data, seeds, builds the model, trains it and returns a ``TrainResult``. The
result is stored under a key that hashes the config, the probes, the device type, the package
version and the package's source code, so an edit to the package or the config never reuses a stale
result. A cache file that is unreadable or does not match its key is recomputed, with a note.

Cache folder: ``RELUCOURSE_CACHE`` or ``~/.cache/relucourse``; ``RELUCOURSE_CACHE=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch

from relucourse.config import RunConfig, fingerprint
from relucourse.data import Dataset, load_dataset
from relucourse.models import build_model
from relucourse.runtime import pick_device, seed_everything
from relucourse.train import Callback, TrainResult, train

CACHE_ENV = "RELUCOURSE_CACHE"


def cache_dir() -> Path | None:
    """Where results are cached, or None when ``RELUCOURSE_CACHE=off``."""
    raw = os.environ.get(CACHE_ENV, "")
    if raw.strip().lower() in ("off", "0", "none"):
        return None
    if raw:
        return Path(raw).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "relucourse"


@lru_cache(maxsize=1)
def source_hash() -> str:
    """Hash of the package's own .py files: any code change invalidates cached results."""
    from relucourse import __version__

    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(cfg: RunConfig, probes: Sequence[Callback], device: torch.device) -> str:
    return fingerprint(cfg, [repr(p) for p in probes], device.type, source_hash())


def _load_cached(path: Path, key: str) -> TrainResult | None:
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
        if payload.get("key") != key:
            raise ValueError("key mismatch")
        return TrainResult.from_dict(payload["result"])
    # ValueError covers bad JSON and bad UTF-8; AttributeError a payload that is not an object;
    # OSError a file that cannot be read.
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as err:
        print(f"[relucourse] ignoring unusable cache file {path.name} ({err}); recomputing")
        return None


def _store(path: Path, key: str, cfg: RunConfig, result: TrainResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"key": key, "config": fingerprint(cfg), "result": result.to_dict()}
    # Write-then-rename so a crash never leaves a half-written file behind.
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(payload, f)
    os.replace(f.name, path)


def load_data(cfg: RunConfig, device: torch.device) -> Dataset:
    return load_dataset(cfg.data.name, device=device, n_train=cfg.data.n_train, seed=cfg.data.seed)


def run(cfg: RunConfig, probes: Sequence[Callback] = (), device: str | None = None,
        label: str = "", use_cache: bool = True) -> TrainResult:
    """Train the model ``cfg`` describes (or reuse a cached result of the very same run)."""
    dev = pick_device(device)
    key = cache_key(cfg, probes, dev)
    folder = cache_dir() if use_cache else None
    path = folder / f"{key}.json" if folder else None
    if path is not None and (cached := _load_cached(path, key)) is not None:
        cached.label = label or cached.label
        return cached
    data = load_data(cfg, dev)
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model, data.n_features, data.num_classes)
    result = train(model, data, cfg.train, callbacks=probes, label=label)
    if path is not None:
        _store(path, key, cfg, result)
    return result


def sweep(cfgs: dict[str, RunConfig] | Sequence[RunConfig], seeds: Sequence[int] = (0, 1, 2),
          probes_factory: type[Callback] | None = None, device: str | None = None,
          engine: str = "loop") -> dict[str, list[TrainResult]]:
    """Run each config once per seed (model seed = ``train.seed``); returns label -> results.

    ``engine="loop"`` (default) calls ``run`` per config and seed. ``engine="batched"`` trains
    each group of same-shaped MLPs at once (``relucourse.engine``; same results within float
    tolerance, cached under their own keys; probes: ``LayerStatsProbe`` only).
    """
    if engine == "batched":
        from relucourse.engine import sweep_batched

        return sweep_batched(cfgs, seeds, probes_factory=probes_factory, device=device)
    if engine != "loop":
        raise ValueError(f"unknown engine {engine!r}; valid: 'loop', 'batched'")
    if not isinstance(cfgs, dict):
        cfgs = {c.fingerprint(): c for c in cfgs}
    out: dict[str, list[TrainResult]] = {}
    for label, cfg in cfgs.items():
        out[label] = [
            run(cfg.replace(**{"train.seed": s}),
                probes=[probes_factory()] if probes_factory else (), device=device,
                label=f"{label} (seed {s})")
            for s in seeds
        ]
    return out
