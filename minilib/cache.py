"""Train-or-load: chapters get full-size results through `run_or_load`.

A result is keyed by a stable hash of (module name, module.CODE_VERSION, config). It is looked up in the
shipped `results/<module>/` folder, then in the user cache (`$MINILIB_CACHE`, default
~/.cache/minilib). A miss trains the run and stores it in the user cache.

Only `python -m minilib precompute` writes into results/ (it alone enters `shipping()`); `store` refuses
that folder anywhere else, so a reader's run, a test or a chapter can never replace a shipped result.
A shipped result is never retrained behind the reader's back:

- damaged (unreadable, or its bytes differ from the SHA-256 that precompute recorded in
  results/<module>/SHA256SUMS.json, which covers the header: status, divergence step, meta) or stale
  (made from another config or code version): `DamagedResultError` at once, naming the command that
  restores it (`git checkout -- <file>` when git has it, else the precompute command of its entry);
- missing: `MissingResultError` under MINILIB_REQUIRE_RESULTS=1 and in fast mode, else a warning naming the
  same command before training. A config of a module's SHIPPED entries counts as shipped even without
  `shipped=True`.

A damaged or stale entry of the user cache is reported with a warning and recomputed. Writes are atomic
(Run.save), so two processes writing the same entry leave one complete file; a cache that cannot be
written (a read-only folder, a path under a file) costs a warning, never the trained run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import os
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

from . import phenomenon, runtime
from .runs import Config, CorruptRunError, Run


def shipped_results_dir() -> tuple[Path, bool]:
    """(folder of the shipped results, whether it is an installed package's copy). In a checkout: results/
    next to minilib/, which precompute writes. An installed package (a wheel) carries them as package data,
    minilib/results, read through importlib.resources and never written: its user's runs go to the cache."""
    packaged = importlib.resources.files(__package__) / "results"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged.resolve(), True
    return Path(__file__).resolve().parent.parent / "results", False


RESULTS_DIR, PACKAGED = shipped_results_dir()
#: Per chapter folder of results/: file name -> SHA-256 of the whole file, written only by precompute.
MANIFEST = "SHA256SUMS.json"


class StaleResultWarning(UserWarning):
    """A result of the user cache could not be used (damaged, or made from another config/code version)."""


class CacheWriteWarning(UserWarning):
    """A finished run could not be written to the user cache; it is returned all the same."""


class ShippedResultError(LookupError):
    """A result the book ships in results/ cannot be used as it is."""


class MissingResultError(ShippedResultError):
    """A result the book ships is missing and env MINILIB_REQUIRE_RESULTS=1 forbids training it here."""


class DamagedResultError(ShippedResultError):
    """A shipped result is damaged or stale: it is never retrained silently; the message says how to restore it."""


class ShippedWriteError(PermissionError):
    """Something other than `python -m minilib precompute` tried to write into results/."""


def _require_results() -> bool:
    return os.environ.get("MINILIB_REQUIRE_RESULTS", "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """The user cache folder (env MINILIB_CACHE, default ~/.cache/minilib)."""
    return Path(os.environ.get("MINILIB_CACHE") or Path.home() / ".cache" / "minilib")


_SHIPPING = {"depth": 0}
_SHIPPING_LOCK = threading.Lock()


@contextlib.contextmanager
def shipping():
    """Inside this block results are written to results/ (`python -m minilib precompute` only). Blocks may
    nest and overlap (threads): writing is allowed while any is open."""
    if PACKAGED:
        raise ShippedWriteError(f"refusing to write the shipped results of an installed package ({RESULTS_DIR}): "
                                "precompute writes results/ of a checkout of the repository; run it there")
    with _SHIPPING_LOCK:
        _SHIPPING["depth"] += 1
    try:
        yield RESULTS_DIR
    finally:
        with _SHIPPING_LOCK:
            _SHIPPING["depth"] -= 1


def is_shipping() -> bool:
    return _SHIPPING["depth"] > 0


def output_root() -> Path:
    """Where a finished run's files go: results/ while precompute ships them, else the user cache."""
    return RESULTS_DIR if is_shipping() else cache_dir()


def in_results(path) -> bool:
    """Whether `path` lies inside results/."""
    try:
        Path(path).resolve().relative_to(RESULTS_DIR.resolve())
    except ValueError:
        return False
    return True


def guard_write(path) -> Path:
    """`path`, or ShippedWriteError when it lies in results/ outside `shipping()`."""
    if in_results(path) and not is_shipping():
        raise ShippedWriteError(f"refusing to write {path}: only `python -m minilib precompute` writes into "
                                f"{RESULTS_DIR} (a reader's runs go to the user cache, MINILIB_CACHE)")
    return Path(path)


module_name = phenomenon.short_name


def check_config(module, config):
    """`config` if it is a Config of `module`'s own (a TypeError naming what it is, else)."""
    if not isinstance(config, Config) or not type(config).__module__.startswith(module.__name__):
        what = type(config).__name__ if not isinstance(config, Config) else \
            f"{type(config).__module__}.{type(config).__name__}"
        raise TypeError(f"config must be a {module.__name__}.Config (e.g. {module.__name__}.Config(**d) for a dict "
                        f"d), got {what}")
    return config


def entry_key(module, config) -> str:
    """Stable hash of the module, its code version for this config and the config's fields."""
    check_config(module, config)
    if not hasattr(module, "CODE_VERSION"):
        raise AttributeError(f"{module.__name__} has no CODE_VERSION; results could not be versioned")
    version = phenomenon.version_of(module, config)
    blob = json.dumps({"module": module_name(module), "code_version": version,
                       "config": config.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def entry_path(module, config, root: Path | None = None) -> Path:
    root = cache_dir() if root is None else Path(root)
    return root / module_name(module) / f"{entry_key(module, config)}.npz"


# --- checksums of the shipped files ------------------------------------------------------------------
def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_MANIFESTS: dict = {}


def read_manifest(folder) -> dict[str, str]:
    """file name -> SHA-256 recorded by precompute for a folder of results/ ({} when none is recorded)."""
    path = Path(folder) / MANIFEST
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    stamp = (str(path), st.st_mtime_ns, st.st_size)
    if stamp not in _MANIFESTS:
        try:
            data = json.loads(path.read_text())
            sums = data["sha256"]
            if not isinstance(sums, dict):
                raise TypeError("sha256 is not a mapping")
        except (ValueError, KeyError, TypeError) as err:
            raise DamagedResultError(f"{path} is damaged ({type(err).__name__}: {err}); restore it with "
                                     f"`{_git_restore(path) or 'python -m minilib precompute --manifest'}`") from None
        for old in [k for k in _MANIFESTS if k[0] == stamp[0]]:  # one version per folder is kept
            del _MANIFESTS[old]
        _MANIFESTS[stamp] = {str(k): str(v) for k, v in sums.items()}
    return dict(_MANIFESTS[stamp])


def record_checksums(folder, names, *, forget=()) -> Path:
    """Record the SHA-256 of `names` (files in `folder`) in its manifest; only inside `shipping()`."""
    folder = Path(folder)
    path = guard_write(folder / MANIFEST)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):  # two precompute processes of one chapter keep each other's entries
        return _record(folder, path, names, forget)


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on `folder` itself (no lock file is left in results/); a no-op where flock is absent."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _record(folder: Path, path: Path, names, forget) -> Path:
    try:
        sums = read_manifest(folder)
    except DamagedResultError:  # rewritten whole; `precompute --check` then names the files left unrecorded
        sums = {}
    for name in forget:
        sums.pop(name, None)
    for name in names:
        sums[name] = file_sha256(folder / name)
    text = json.dumps({"about": "SHA-256 of every shipped file of this folder, written by `python -m minilib "
                                "precompute` (checked by `precompute --check` and on every load)",
                       "sha256": dict(sorted(sums.items()))}, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def checksum_problem(path) -> str:
    """'' when the file matches the checksum precompute recorded for it (or none is recorded), else why not."""
    path = Path(path)
    want = read_manifest(path.parent).get(path.name)
    if want is None or file_sha256(path) == want:
        return ""
    return (f"damaged: its bytes differ from the SHA-256 that precompute recorded in {path.parent.name}/{MANIFEST} "
            "(an edited or truncated file: header, status, meta or arrays)")


# --- how to restore a shipped file ------------------------------------------------------------------
def _git(*args) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(RESULTS_DIR.parent), *args], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None


def _git_restore(path) -> str | None:
    """`git checkout -- <file>` when git's last commit holds a version of `path` other than the one on disk."""
    try:
        rel = Path(path).resolve().relative_to(RESULTS_DIR.parent.resolve()).as_posix()
    except ValueError:
        return None
    committed = _git("rev-parse", "--verify", "--quiet", f"HEAD:{rel}")
    if committed is None or committed.returncode != 0:
        return None
    if Path(path).exists():
        here = _git("hash-object", "--", rel)
        if here is not None and here.returncode == 0 and here.stdout.strip() == committed.stdout.strip():
            return None  # the committed file is this very file: git cannot restore a better one
    return f"git checkout -- {rel}"


def precompute_command(module, entry: str | None = None) -> str:
    """The command that regenerates a chapter's shipped results (or one entry of them)."""
    only = f" --only {entry}" if entry else ""
    return f"python -m minilib precompute {module_name(module)}{only}"


_ENTRIES: dict = {}


def shipped_entry(module, config) -> str | None:
    """The name of the module's SHIPPED entry that holds `config`, or None."""
    shipped = getattr(module, "SHIPPED", None) or {}
    key = (module.__name__, id(shipped))
    if key not in _ENTRIES:
        _ENTRIES[key] = {c: name for name, entry in shipped.items() for c in entry.configs()}
    try:
        return _ENTRIES[key].get(config)
    except TypeError:  # an unhashable config is no shipped one
        return None


def restore_command(module, config, path) -> str:
    """The quickest command that brings back the shipped file `path` of `config`."""
    return _git_restore(path) or precompute_command(module, shipped_entry(module, config))


# --- lookup and store ---------------------------------------------------------------------------------
def _shipped_problem(module, config, path, problem: str) -> DamagedResultError:
    rel = path.relative_to(RESULTS_DIR.parent) if path.is_relative_to(RESULTS_DIR.parent) else path
    return DamagedResultError(f"the shipped result {rel} is {problem}; it is not retrained here: restore it "
                              f"with `{restore_command(module, config, path)}`")


def lookup(module, config, *, shipped_only: bool = False) -> Run | None:
    """A stored run for this config from results/ or the user cache, or None.

    A damaged or stale shipped result raises DamagedResultError; a bad user-cache entry warns (and is
    recomputed by run_or_load).
    """
    for root in (RESULTS_DIR,) if shipped_only else (RESULTS_DIR, cache_dir()):
        path = entry_path(module, config, root)
        if not path.exists():
            continue
        shipped = root == RESULTS_DIR
        try:
            run = Run.load(path)
        except CorruptRunError as err:
            if shipped:
                raise _shipped_problem(module, config, path, f"damaged ({err})") from None
            warnings.warn(f"ignoring a damaged stored result, recomputing: {err}", StaleResultWarning,
                          stacklevel=3)
            continue
        if run.config != config or run.meta.get("code_version") != phenomenon.version_of(module, config):
            if shipped:
                raise _shipped_problem(module, config, path, "stale (made from another config or code version)")
            warnings.warn(f"ignoring a stale stored result at {path} (config or code version differs), "
                          "recomputing", StaleResultWarning, stacklevel=3)
            continue
        if shipped:
            problem = checksum_problem(path)
            if problem:
                raise _shipped_problem(module, config, path, problem)
        return run
    return None


def store(module, run: Run, root: Path | None = None) -> Path:
    """Save a finished run under its key (atomic) in `root` (default: the user cache). Only precompute,
    inside `shipping()`, may give root=RESULTS_DIR; anywhere else that raises ShippedWriteError."""
    if run.status == "stopped":
        raise ValueError("a stopped run is incomplete and is not stored; rerun it to the end")
    path = guard_write(entry_path(module, run.config, root))
    run.meta.setdefault("code_version", phenomenon.version_of(module, run.config))
    return run.save(path)


def _keep(module, run: Run) -> None:
    """Store a reader's finished run in the user cache; a cache that cannot be written only warns."""
    if run.status == "stopped":
        return
    try:
        store(module, run)
    except OSError as err:
        warnings.warn(f"the run finished but could not be stored in the cache {cache_dir()} ({type(err).__name__}: "
                      f"{err}); it is returned unsaved (set MINILIB_CACHE to a writable folder to keep runs)",
                      CacheWriteWarning, stacklevel=3)


def _missing_shipped(module, configs) -> None:
    """A shipped result is absent: refuse (MINILIB_REQUIRE_RESULTS=1, as in the tests) or warn and train."""
    name = module_name(module)
    keys = ", ".join(entry_key(module, c) for c in configs)
    commands = list(dict.fromkeys(restore_command(module, c, entry_path(module, c, RESULTS_DIR)) for c in configs))
    msg = (f"{len(configs)} result(s) the book ships for {name} are missing from {RESULTS_DIR / name} "
           f"(keys {keys}); restore them with `{'` and `'.join(commands)}`")
    if _require_results() or runtime.FAST:
        why = "MINILIB_REQUIRE_RESULTS=1" if _require_results() else "fast mode (MINILIB_FAST=1)"
        raise MissingResultError(f"{msg} ({why} never trains a full-size shipped result)")
    warnings.warn(msg + "; training them now, which can take long", StaleResultWarning, stacklevel=3)


def run_or_load(module, config, *, recompute: bool = False, progress: bool = True, shipped: bool = False,
                **run_kwargs) -> Run:
    """Load the stored run for `config` if a valid one exists, else train it and store it in the user cache.

    `shipped=True` marks a result the book ships in results/ (a config of the module's SHIPPED entries is
    one anyway): when it is missing, training it is refused under MINILIB_REQUIRE_RESULTS=1 and in fast
    mode (so a test never silently starts an hour-long run), else warned about; when it is damaged or
    stale, DamagedResultError says how to restore it.
    """
    if not recompute:
        found = lookup(module, config)
        if found is not None:
            return found
        if shipped or shipped_entry(module, config) is not None:
            _missing_shipped(module, [config])
    run = module.run(config, progress=progress, **run_kwargs)
    _keep(module, run)
    return run


def run_or_load_many(module, configs, *, recompute: bool = False, progress: bool = True,
                     shipped: bool = False) -> list[Run]:
    """Like run_or_load for several configs; misses are trained together by module.run_sweep (batched)."""
    configs = list(configs)
    found = [None if recompute else lookup(module, c) for c in configs]
    missing = [c for c, r in zip(configs, found) if r is None]
    if missing and not recompute:
        listed = [c for c in missing if shipped or shipped_entry(module, c) is not None]
        if listed:
            _missing_shipped(module, listed)
    if missing:
        fresh = module.run_sweep(missing, progress=progress)
        for run in fresh:
            _keep(module, run)
        it = iter(fresh)
        found = [r if r is not None else next(it) for r in found]
    return found
