"""The experiment contract: a validated, frozen `Config` in, a `Run` (history + artifacts) out.

Every phenomenon module subclasses `Config` and returns `Run` objects (docs/adding-a-chapter.md, "The
phenomenon protocol"). Runs save to a single ``.npz`` file atomically and refuse to load when the file is damaged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

FORMAT_VERSION = 1
STATUSES = ("completed", "stopped", "diverged")


class ConfigError(ValueError):
    """A Config field has a bad value; the message names the field and what is allowed."""


class CorruptRunError(RuntimeError):
    """A saved Run is truncated, damaged or does not match its checksums."""


def param(default, *, low=None, high=None, choices=None, log=False, widget=None, help=""):
    """Declare a Config field with the metadata that validation, widgets and the book read.

    `widget=(low, high)` narrows the explorer's slider to a range that makes sense for a live demo (a
    valid value outside it can still be set in code); it must lie inside the validation range.
    A field annotated `tuple` holds a tuple of floats (one per element, e.g. per feature): `low` and
    `high` bound every element, and a list, array or the text '1, 0.5' given for it is stored as a tuple.
    """
    if isinstance(default, list):
        default = tuple(default)  # dataclasses refuse a mutable default; a tuple field stores tuples anyway
    if widget is not None:
        widget = _check_widget_range(widget, low, high, log)
    meta = {"low": low, "high": high, "choices": tuple(choices) if choices else None, "log": log,
            "widget": widget, "help": help}
    return field(default=default, metadata=meta)


def _check_widget_range(widget, low, high, log) -> tuple:
    ok = isinstance(widget, tuple) and len(widget) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in widget)
    if not ok or not widget[0] < widget[1]:
        raise ValueError(f"param(widget={widget!r}) must be a tuple (low, high) of finite numbers with low < high")
    if (low is not None and widget[0] < low) or (high is not None and widget[1] > high):
        raise ValueError(f"param(widget={widget!r}) must lie inside the validation range low={low}, high={high}")
    if log and widget[0] <= 0:
        raise ValueError(f"param(widget={widget!r}, log=True) needs a positive low end (a log slider cannot reach 0)")
    return widget


@dataclass(frozen=True)
class FieldSpec:
    """What is known about one Config field: its type, default, allowed range or choices."""

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    log: bool = False
    help: str = ""
    widget: tuple | None = None  # (low, high) of the explorer's slider, inside [low, high]

    def describe_allowed(self) -> str:
        if self.type is tuple:
            return "a non-empty tuple of numbers" + (f", {self.describe_range()}" if self.low is not None
                                                     or self.high is not None else "")
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None or self.high is not None:
            return self.describe_range()
        return f"any {self.type.__name__}"

    def describe_range(self) -> str:
        """'low <= name <= high' (for a tuple field: of each element, 'name[k]')."""
        name = f"{self.name}[k]" if self.type is tuple else self.name
        if self.low is not None and self.high is not None:
            return f"{self.low} <= {name} <= {self.high}"
        if self.low is not None:
            return f"{name} >= {self.low}"
        if self.high is not None:
            return f"{name} <= {self.high}"
        return f"any {name}"


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple": tuple}


def _type_name(annotation) -> str:
    """'float' for float or "float"; 'tuple' for tuple, tuple[float, ...] or "tuple[float, ...]"."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return name.split("[", 1)[0].strip()


@dataclass(frozen=True)
class Config:
    """Base class of every experiment's configuration: plain fields, validated on creation."""

    _specs: ClassVar[dict] = {}

    def __post_init__(self):
        for spec in self.field_specs():
            object.__setattr__(self, spec.name, _coerce(self, spec, getattr(self, spec.name)))
        self.validate()

    def validate(self) -> None:
        """Range and choice checks from the field metadata; subclasses add cross-field checks."""
        name = type(self).__name__
        for spec in self.field_specs():
            value = getattr(self, spec.name)
            if spec.choices is not None and value not in spec.choices:
                raise ConfigError(f"{name}.{spec.name}={value!r} is not allowed: {spec.describe_allowed()}")
            if spec.type is tuple:  # every element against the field's range, named by its index
                for k, v in enumerate(value):
                    _check_number(f"{name}.{spec.name}[{k}]", v, spec)
            elif spec.type in (int, float):
                _check_number(f"{name}.{spec.name}", value, spec)

    @classmethod
    def field_specs(cls) -> list[FieldSpec]:
        """One FieldSpec per field, in declaration order."""
        if cls not in Config._specs:
            specs = []
            for f in dataclasses.fields(cls):
                typ = _TYPES.get(_type_name(f.type))
                if typ is None:
                    raise TypeError(f"{cls.__name__}.{f.name}: Config fields must be int, float, str, bool or "
                                    "tuple (of floats)")
                m = f.metadata
                specs.append(
                    FieldSpec(f.name, typ, f.default, m.get("low"), m.get("high"), m.get("choices"),
                              m.get("log", False), m.get("help", ""), m.get("widget"))
                )
            Config._specs[cls] = specs
        return Config._specs[cls]

    def replace(self, **changes) -> Config:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {s.name for s in self.field_specs()}
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {s.name: getattr(self, s.name) for s in self.field_specs()}

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        known = {s.name for s in cls.field_specs()}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
        return cls(**d)

    def key(self) -> str:
        """A stable hash of the class and the field values (same config, same key, any machine)."""
        blob = json.dumps({"class": _class_path(type(self)), "fields": self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_number(label: str, value, spec: FieldSpec) -> None:
    """A number (a scalar field, or one element of a tuple field) against the field's range."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{label}={value!r} must be a finite number")
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        raise ConfigError(f"{label}={value!r} is out of range: allowed {spec.describe_range()}")


def _floats(name: str, spec: FieldSpec, value) -> tuple:
    """A tuple field's value as a tuple of floats, from a tuple, list, array or the text '1, 0.5, 0.2'."""
    if isinstance(value, str):  # the explorer's text field
        parts = [p for p in value.strip().strip("()[]").replace(";", ",").split(",") if p.strip()]
        try:
            value = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"{name}={value!r} must be numbers separated by commas, e.g. '1, 0.5, 0.2' "
                              f"(allowed: {spec.describe_allowed()})") from None
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or not value:
        raise ConfigError(f"{name}={value!r} has the wrong type: expected {spec.describe_allowed()}")
    out = []
    for k, v in enumerate(value):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            bounded = spec.low is not None or spec.high is not None
            raise ConfigError(f"{name}[{k}]={v!r} has the wrong type: expected a number"
                              + (f", {spec.describe_range()}" if bounded else ""))
        out.append(float(v) + 0.0)  # -0.0 becomes 0.0 (equal configs, equal keys)
    return tuple(out)


def _coerce(cfg, spec: FieldSpec, value):
    name = f"{type(cfg).__name__}.{spec.name}"
    if spec.type is tuple:
        return _floats(name, spec, value)
    if spec.type is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
    elif spec.type is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif spec.type is float:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return float(value) + 0.0  # -0.0 becomes 0.0: equal configs must have equal cache keys
    elif spec.type is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{name}={value!r} has the wrong type: expected {spec.type.__name__}, "
                      f"allowed {spec.describe_allowed()}")


def _class_path(cls) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _load_class(path: str):
    module, _, qual = path.partition(":")
    obj = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Run:
    """One experiment's outcome: its Config, the logged history, extra artifacts and how it ended."""

    config: Config
    history: dict[str, np.ndarray]
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    status: str = "completed"
    diverged_at: int | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"Run.status={self.status!r} is not allowed: one of {', '.join(STATUSES)}")
        self.history = {k: np.asarray(v) for k, v in self.history.items()}
        if "step" not in self.history:
            raise ValueError("Run.history must contain 'step'")
        lengths = {k: len(v) for k, v in self.history.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Run.history arrays must have equal length, got {lengths}")
        self.artifacts = {k: np.asarray(v) for k, v in self.artifacts.items()}

    def __repr__(self):
        n = len(self.history["step"])
        last = int(self.history["step"][-1]) if n else 0
        return f"Run({type(self.config).__name__}, {self.status}, {n} logs to step {last})"

    def final(self, metric: str) -> float:
        """The last logged value of a metric."""
        return float(self._metric(metric)[-1])

    def first_step(self, metric: str, threshold: float, above: bool = True) -> int | None:
        """The first logged step at which the metric reaches the threshold (None if never)."""
        values = self._metric(metric)
        hit = values >= threshold if above else values <= threshold
        idx = np.flatnonzero(hit)
        return int(self.history["step"][idx[0]]) if idx.size else None

    def _metric(self, metric: str) -> np.ndarray:
        if metric not in self.history:
            raise KeyError(f"no metric {metric!r} in this run; available: {', '.join(self.history)}")
        return self.history[metric]

    # --- saving and loading --------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the run to one .npz file atomically (temp file in the same folder, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"history/{k}": v for k, v in self.history.items()}
        arrays |= {f"artifacts/{k}": v for k, v in self.artifacts.items()}
        for k, v in arrays.items():
            if v.dtype == object:
                raise ValueError(f"Run entry {k!r} is an object array; only numeric arrays can be saved")
        header = {
            "format": FORMAT_VERSION,
            "config_class": _class_path(type(self.config)),
            "config": self.config.to_dict(),
            "status": self.status,
            "diverged_at": self.diverged_at,
            "meta": self.meta,
            "checksums": {k: _checksum(v) for k, v in arrays.items()},
        }
        header["header_sha256"] = _header_checksum(json.loads(json.dumps(header)))  # as load will read it
        arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes files private; a result is meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path) -> Run:
        """Read a saved run; a truncated or damaged file raises CorruptRunError, never loads silently."""
        path = Path(path)
        try:
            raw = path.read_bytes()
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            header = json.loads(arrays.pop("__header__").tobytes().decode())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as err:
            raise CorruptRunError(f"{path} is not a readable run file ({type(err).__name__}: {err})") from None
        if header.get("format") != FORMAT_VERSION:
            raise CorruptRunError(f"{path} has format {header.get('format')!r}, expected {FORMAT_VERSION}")
        if "header_sha256" in header and _header_checksum(header) != header["header_sha256"]:
            raise CorruptRunError(f"{path}: checksum mismatch for its header (config, status, divergence step or "
                                  "meta was edited)")
        sums = header["checksums"]
        if set(sums) != set(arrays):
            raise CorruptRunError(f"{path}: stored arrays do not match the header's list")
        for k, v in arrays.items():
            if _checksum(v) != sums[k]:
                raise CorruptRunError(f"{path}: checksum mismatch for {k}")
        try:
            config = _load_class(header["config_class"]).from_dict(header["config"])
        except (ImportError, AttributeError, ConfigError, TypeError) as err:
            raise CorruptRunError(f"{path}: its config no longer loads ({err})") from None
        strip = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        return cls(config, strip("history/"), strip("artifacts/"), header["status"],
                   header["diverged_at"], header["meta"])


def _header_checksum(header: dict) -> str:
    """SHA-256 of everything in a saved run's header but this checksum itself (files saved before it was
    added have none; the shipped ones are covered by results/<module>/SHA256SUMS.json)."""
    rest = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _checksum(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()
