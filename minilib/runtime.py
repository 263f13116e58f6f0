"""Where and how experiments run: device choice, seeding, fast mode, dtypes.

Introduced in chapter 0 (`nbs/00_start_here.py`); every phenomenon module uses it.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}

#: Fast mode (env ``MINILIB_FAST=1``): chapters shrink their experiments so CI runs each in minutes.
FAST: bool = os.environ.get("MINILIB_FAST", "").strip().lower() in _TRUE

#: Set by the book build (env ``MINILIB_BOOK=1``): the page becomes static HTML with no live kernel.
IN_BOOK: bool = os.environ.get("MINILIB_BOOK", "").strip().lower() in _TRUE

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def fast(full, small):
    """Return `small` in fast mode (MINILIB_FAST=1), else `full`."""
    return small if FAST else full


def available_devices() -> list[str]:
    """The devices torch can use on this machine, best first ending with "cpu"."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def pick_device(name: str = "auto") -> torch.device:
    """Resolve "auto" | "cpu" | "cuda" | "mps" to a torch.device; an absent device is a clear error."""
    if name not in DEVICE_NAMES:
        raise ValueError(f"device={name!r} is not a known device: choose one of {', '.join(DEVICE_NAMES)}")
    here = available_devices()
    if name == "auto":
        return torch.device(here[0])
    if name not in here:
        raise ValueError(
            f"device={name!r} is not available on this machine: available devices are {', '.join(here)}"
        )
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator seeded the same way for data splits."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed!r} is not allowed: use an integer in 0 <= seed < 2**32")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def as_dtype(name: str) -> torch.dtype:
    """Map a precision name ("float16", "bfloat16", "float32", "float64") to a torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"precision={name!r} is not supported: choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def describe() -> str:
    """One line about where code runs: torch version, device, threads, fast mode."""
    dev = pick_device("auto")
    gpu = f" ({torch.cuda.get_device_name(0)})" if dev.type == "cuda" else ""
    return (
        f"torch {torch.__version__}, device {dev.type}{gpu}, {torch.get_num_threads()} CPU threads, "
        f"fast mode {'on' if FAST else 'off'}"
    )
