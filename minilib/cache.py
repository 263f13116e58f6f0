"""Train-or-load: chapters get full-size results through `run_or_load`.

A result is keyed by a stable hash of (module name, module.CODE_VERSION, config). It is looked up in the
shipped `results/<module>/` folder, then in the user cache (`$MINILIB_CACHE`, default
~/.cache/minilib). A miss trains and stores the run; a corrupt or stale entry is reported with a warning
and recomputed, never loaded silently. Writes are atomic (Run.save), so two processes writing the same
entry leave one complete file.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from . import phenomenon, runtime
from .runs import CorruptRunError, Run

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


class StaleResultWarning(UserWarning):
    """A stored result could not be used (damaged, or made from another config/code version)."""


class MissingResultError(LookupError):
    """A result the book ships is missing and env MINILIB_REQUIRE_RESULTS=1 forbids training it here."""


def _require_results() -> bool:
    return os.environ.get("MINILIB_REQUIRE_RESULTS", "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """The user cache folder (env MINILIB_CACHE, default ~/.cache/minilib)."""
    return Path(os.environ.get("MINILIB_CACHE") or Path.home() / ".cache" / "minilib")


module_name = phenomenon.short_name


def entry_key(module, config) -> str:
    """Stable hash of the module, its code version for this config and the config's fields."""
    if not hasattr(module, "CODE_VERSION"):
        raise AttributeError(f"{module.__name__} has no CODE_VERSION; results could not be versioned")
    version = phenomenon.version_of(module, config)
    blob = json.dumps({"module": module_name(module), "code_version": version,
                       "config": config.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def entry_path(module, config, root: Path | None = None) -> Path:
    root = cache_dir() if root is None else Path(root)
    return root / module_name(module) / f"{entry_key(module, config)}.npz"


def lookup(module, config, *, shipped_only: bool = False) -> Run | None:
    """A stored run for this config from results/ or the user cache, or None; bad entries warn."""
    for root in (RESULTS_DIR,) if shipped_only else (RESULTS_DIR, cache_dir()):
        path = entry_path(module, config, root)
        if not path.exists():
            continue
        try:
            run = Run.load(path)
        except CorruptRunError as err:
            warnings.warn(f"ignoring a damaged stored result, recomputing: {err}", StaleResultWarning,
                          stacklevel=3)
            continue
        if run.config != config or run.meta.get("code_version") != phenomenon.version_of(module, config):
            warnings.warn(f"ignoring a stale stored result at {path} (config or code version differs), "
                          "recomputing", StaleResultWarning, stacklevel=3)
            continue
        return run
    return None


def store(module, run: Run, root: Path | None = None) -> Path:
    """Save a finished run under its key (atomic). `root=RESULTS_DIR` files it as a shipped result."""
    if run.status == "stopped":
        raise ValueError("a stopped run is incomplete and is not stored; rerun it to the end")
    run.meta.setdefault("code_version", phenomenon.version_of(module, run.config))
    return run.save(entry_path(module, run.config, root))


def _missing_shipped(module, configs) -> None:
    """A shipped result is absent: refuse (MINILIB_REQUIRE_RESULTS=1, as in the tests) or warn and train."""
    name = module_name(module)
    keys = ", ".join(entry_key(module, c) for c in configs)
    msg = (f"{len(configs)} result(s) the book ships for {name} are missing from {RESULTS_DIR / name} "
           f"(keys {keys}); regenerate them with `python -m minilib precompute {name}` (or `make precompute`)")
    if _require_results() or runtime.FAST:
        why = "MINILIB_REQUIRE_RESULTS=1" if _require_results() else "fast mode (MINILIB_FAST=1)"
        raise MissingResultError(f"{msg} ({why} never trains a full-size shipped result)")
    warnings.warn(msg + "; training them now, which can take long", StaleResultWarning, stacklevel=3)


def run_or_load(module, config, *, recompute: bool = False, progress: bool = True, shipped: bool = False,
                **run_kwargs) -> Run:
    """Load the stored run for `config` if a valid one exists, else train it and store it.

    `shipped=True` marks a result the book ships in results/: when it is missing, training it is refused
    under MINILIB_REQUIRE_RESULTS=1 and in fast mode (so a test never silently starts an hour-long run),
    else warned about.
    """
    if not recompute:
        found = lookup(module, config)
        if found is not None:
            return found
        if shipped:
            _missing_shipped(module, [config])
    run = module.run(config, progress=progress, **run_kwargs)
    if run.status != "stopped":
        store(module, run)
    return run


def run_or_load_many(module, configs, *, recompute: bool = False, progress: bool = True,
                     shipped: bool = False) -> list[Run]:
    """Like run_or_load for several configs; misses are trained together by module.run_sweep (batched)."""
    configs = list(configs)
    found = [None if recompute else lookup(module, c) for c in configs]
    missing = [c for c, r in zip(configs, found) if r is None]
    if missing and shipped and not recompute:
        _missing_shipped(module, missing)
    if missing:
        fresh = module.run_sweep(missing, progress=progress)
        for run in fresh:
            if run.status != "stopped":
                store(module, run)
        it = iter(fresh)
        found = [r if r is not None else next(it) for r in found]
    return found
