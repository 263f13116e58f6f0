"""Timing a piece of work on a CPU or a GPU: the one helper the benchmarks (benchmarks/*.py) share.

    from minilib.timing import timed
    wall, cpu = timed(lambda: model(x), device, rounds=7, reps=10, warmup=True)

`timed` calls fn `reps` times per round, waiting for the device's queued work at both ends of the clock
(`sync`: a CUDA device runs asynchronously; a CPU has nothing to wait for), and returns the median over
rounds of the wall and of this process's CPU seconds per call. On a shared machine the CPU time of a
one-thread process is the honest cost; on a GPU the wall time is (benchmarks/README.md).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = ["Timing", "sync", "timed"]


class Timing(NamedTuple):
    """Seconds per call: wall clock, and CPU time of this process (all its threads)."""

    wall: float
    cpu: float


def sync(device: str | torch.device) -> None:
    """Wait until the work queued on `device` is done (a no-op unless it is a CUDA device)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: str | torch.device = "cpu", *, rounds: int = 1, reps: int = 1,
          warmup: bool = False) -> Timing:
    """Median over `rounds` of the mean seconds of one of `reps` calls of fn; with `warmup`, one call first
    that is not timed (first-call allocations, kernel selection, CUDA context)."""
    if rounds < 1 or reps < 1:
        raise ValueError(f"timed: rounds={rounds} and reps={reps} must each be >= 1")
    if warmup:
        fn()
    walls, cpus = [], []
    for _ in range(rounds):
        sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fn()
        sync(device)
        walls.append((time.perf_counter() - wall) / reps)
        cpus.append((time.process_time() - cpu) / reps)
    return Timing(statistics.median(walls), statistics.median(cpus))
