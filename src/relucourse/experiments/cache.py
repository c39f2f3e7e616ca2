"""The on-disk result cache: one JSON file per run, keyed only by stable things.

Why a cache: CI executes every notebook twice (nbval, then the site build), and a chapter re-run
in JupyterLab should not retrain what it trained a minute ago. Why so strict: a cache that returns
a stale result silently is worse than none, because every asserted number would then check the
past. So the key of a run is

* the config's fingerprint (``config.fingerprint``: stable across processes and machines);
* each probe's ``key()``: its class's qualified name and its parameters (``probes.Probe``). An
  object without one is refused with an error that says how to add it; nothing is ever keyed by
  ``repr``, which for a class defined in a notebook contains a memory address;
* the device type and any engine options (batched runs never stand in for loop runs);
* a hash of the package's source files, recomputed whenever a file's size or modification time
  changes, so an edit in a live kernel (``%autoreload``) invalidates too.

Entries are checked against the record schema on load (``records.Record.from_dict``): a bad one is
reported and recomputed. Writes are atomic (write a temp file, then rename); temp files left by a
killed writer are removed once they are old. An unwritable ``RELUCOURSE_CACHE`` is detected before
any training (``ensure_writable``), with an error that names the variable.

Folder: ``RELUCOURSE_CACHE`` or ``~/.cache/relucourse``; ``RELUCOURSE_CACHE=off`` disables caching.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from relucourse.config import RunConfig, fingerprint
from relucourse.records import Record, RecordError

CACHE_ENV = "RELUCOURSE_CACHE"
OFF_VALUES = ("off", "0", "none")
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# A temp file older than this was left by a writer that died (a write takes milliseconds).
STALE_TMP_S = 600.0


class CacheError(RuntimeError):
    """The cache folder cannot be used (the message names ``RELUCOURSE_CACHE``)."""


def _note(message: str) -> None:
    print(f"[relucourse.cache] {message}")


def cache_dir() -> Path | None:
    """Where results are cached, or None when ``RELUCOURSE_CACHE=off``."""
    raw = os.environ.get(CACHE_ENV, "")
    if raw.strip().lower() in OFF_VALUES:
        return None
    if raw.strip():
        return Path(raw).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "relucourse"


# --- the source hash ------------------------------------------------------------------------

_SOURCE_MEMO: dict[tuple[tuple[str, int, int], ...], str] = {}


# Parts of the package that only present results (the book's quizzes, explorers and closers, the
# labs' checkers, plots, the papers table): nothing in them reaches a Record, so editing them
# must not retrain every cached run. Anything else counts, theory/ included (it calls fit).
PRESENTATION_ONLY = ("book", "labs", "plots.py", "papers.py", "answers.py")


def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*")
                  if p.suffix in (".py", ".yaml") and p.is_file()
                  and p.relative_to(PACKAGE_DIR).parts[0] not in PRESENTATION_ONLY)


def source_hash() -> str:
    """Hash of the package's own source files (and version): any edit invalidates cached results.

    The contents are only re-read when some file's (name, size, mtime) changed, so calling this
    for every run is cheap and still sees an edit made in a live kernel.
    """
    from relucourse import __version__

    # A file deleted between the listing and the read (another process removing a temporary
    # module) is not part of the source any more: list again, twice at most.
    for _ in range(2):
        with contextlib.suppress(FileNotFoundError):
            return _hash_of(_source_files(), __version__)
    return _hash_of(_source_files(), __version__)


def _hash_of(files: list[Path], version: str) -> str:
    signature = tuple((str(p.relative_to(PACKAGE_DIR)), (s := p.stat()).st_size, s.st_mtime_ns)
                      for p in files)
    if signature not in _SOURCE_MEMO:
        digest = hashlib.sha256(version.encode())
        for path, (name, _, _) in zip(files, signature, strict=True):
            digest.update(name.encode())
            digest.update(path.read_bytes())
        _SOURCE_MEMO.clear()
        _SOURCE_MEMO[signature] = digest.hexdigest()[:16]
    return _SOURCE_MEMO[signature]


# --- keys -----------------------------------------------------------------------------------

def probe_key(probe: Any) -> Any:
    """A probe's stable cache key; refuses objects that have none."""
    key = getattr(probe, "key", None)
    if not callable(key):
        raise TypeError(
            f"{type(probe).__qualname__} has no key() method, so its runs cannot be cached safely. "
            "Make it a @dataclass subclass of relucourse.probes.Probe (its fields become the key), "
            "define key() returning its class name and parameters, or pass use_cache=False.")
    return key()


def cache_key(cfg: RunConfig, probes: Sequence[Any], device: torch.device, *extra: str) -> str:
    """The key of one run: config, probe keys, device type, engine options, package source."""
    return fingerprint(cfg, [probe_key(p) for p in probes], device.type, source_hash(), *extra)


# --- reading and writing --------------------------------------------------------------------

def ensure_writable(folder: Path) -> None:
    """Raise ``CacheError`` now, before any training, if results could not be stored in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp"):
            pass
    except OSError as err:
        raise CacheError(
            f"{CACHE_ENV}={os.environ.get(CACHE_ENV, '')!r}: results cannot be stored in {folder} "
            f"({err.strerror or err}). Point {CACHE_ENV} at a writable folder, or set "
            f"{CACHE_ENV}=off to run without a cache.") from err
    _clean_stale_tmp(folder)


def _clean_stale_tmp(folder: Path) -> None:
    now = time.time()
    for tmp in folder.glob("*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink()
        except OSError:  # another process removed or renamed it first
            pass


def load(folder: Path, key: str) -> Record | None:
    """The cached record stored under ``key``, or None (missing, or unusable: then say why)."""
    path = folder / f"{key}.json"
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
        if not isinstance(payload, dict) or payload.get("key") != key:
            raise RecordError("key mismatch")
        return Record.from_dict(payload.get("record"))
    # ValueError covers bad JSON, bad UTF-8 and RecordError; OSError a file that cannot be read.
    except (ValueError, OSError) as err:
        _note(f"ignoring unusable cache file {path.name} ({err}); recomputing")
        return None


def store(folder: Path, key: str, cfg: RunConfig, record: Record) -> None:
    """Write ``record`` under ``key`` atomically (temp file, then rename)."""
    payload = {"key": key, "config": fingerprint(cfg), "record": record.to_dict()}
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as f:
        json.dump(payload, f)
    os.replace(f.name, folder / f"{key}.json")
