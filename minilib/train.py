"""The one training loop every chapter uses.

`train` calls a step function `num_steps` times, evaluates on a logging schedule, reports through
`on_step`, honours a stop event, and ends a run whose loss became NaN/inf as "diverged" with the step
at which it happened. It never prints; a tqdm.auto bar shows progress unless switched off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

#: How often (in steps) the loop looks at the loss for NaN/inf between logging steps. Looking costs
#: one device sync, so it is not done every step; the exact step is still recorded on the device.
GUARD_EVERY = 50


@dataclass
class TrainLog:
    """What the loop returns: the logged history and how the run ended."""

    history: dict[str, np.ndarray]
    status: str
    diverged_at: int | None


def log_steps(num_steps: int, *, every: int | None = None, num_points: int | None = None,
              log: bool = False) -> np.ndarray:
    """Steps at which to evaluate: always 0 and num_steps, plus every k steps or num_points points."""
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise ValueError(f"num_steps={num_steps!r} must be an integer >= 0")
    if every is not None and num_points is not None:
        raise ValueError("give either every= or num_points=, not both")
    if every is not None:
        if every < 1:
            raise ValueError(f"every={every!r} must be >= 1")
        steps = np.arange(0, num_steps + 1, every)
    else:
        n = 100 if num_points is None else num_points
        if n < 2:
            raise ValueError(f"num_points={n!r} must be >= 2")
        if log and num_steps > 1:
            steps = np.unique(np.round(np.geomspace(1, num_steps, n - 1)).astype(int))
        else:
            steps = np.round(np.linspace(0, num_steps, n)).astype(int)
    return np.unique(np.concatenate([[0], steps, [num_steps]])).astype(int)


def train(step: Callable[[int], torch.Tensor], num_steps: int, *, evaluate: Callable[[], dict],
          log_at, on_step: Callable | None = None, stop=None, progress: bool = True,
          desc: str | None = None) -> TrainLog:
    """Run `step(i)` for i in range(num_steps), evaluating when the completed-step count is in `log_at`.

    `step` returns the training loss (a scalar tensor, or shape [n] for n batched replicas). The run ends
    "diverged" once every element of the loss is non-finite, "stopped" when `stop.is_set()`, else
    "completed".
    """
    log_at = set(int(s) for s in np.asarray(log_at).ravel())
    records: list[dict] = []
    status, diverged_at = "completed", None
    first_bad = None  # device tensor: first step whose loss was entirely non-finite, or -1

    def log(done: int):
        metrics = {"step": done, **evaluate()}
        records.append(metrics)
        if on_step is not None:
            on_step(done, metrics)

    bar = tqdm(total=num_steps, desc=desc, disable=not progress, leave=False, mininterval=0.5)
    try:
        if 0 in log_at:
            log(0)
        for i in range(num_steps):
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            loss = step(i)
            done = i + 1
            if isinstance(loss, torch.Tensor):
                bad = ~torch.isfinite(loss.detach()).any()
                stamp = torch.where(bad, i, -1)
                first_bad = stamp if first_bad is None else torch.where(first_bad >= 0, first_bad, stamp)
            elif not any(math.isfinite(v) for v in np.ravel(loss)):
                first_bad = torch.tensor(i)
            check = done in log_at or done % GUARD_EVERY == 0 or done == num_steps
            if check and first_bad is not None and int(first_bad) >= 0:
                status, diverged_at = "diverged", int(first_bad)
                if not records or records[-1]["step"] != done:
                    log(done)
                break
            if done in log_at:
                log(done)
            bar.update(1)
    finally:
        bar.close()
    return TrainLog(_stack(records), status, diverged_at)


def _stack(records: list[dict]) -> dict[str, np.ndarray]:
    if not records:
        return {"step": np.zeros(0, dtype=int)}
    keys = list(records[0])
    out = {k: np.asarray([r[k] for r in records]) for k in keys}
    out["step"] = out["step"].astype(int)
    return out
