"""The one training loop every chapter uses.

`train` calls a step function `num_steps` times, evaluates on a logging schedule, reports through
`on_step`, honours a stop event, and ends a run whose loss became NaN/inf as "diverged" with the step
at which it happened. A step's loss is computed before its update, so the last update is judged by the
final evaluation: a non-finite loss there (the first of `WATCHED` it logs) is a divergence at the last
step too. It never prints; a tqdm.auto bar shows progress unless switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from . import runtime

#: How often (in steps) the loop looks at the loss for NaN/inf between logging steps. Looking costs
#: one device sync, so it is not done every step; the exact step is still recorded on the device.
GUARD_EVERY = 50
#: The evaluated metrics that judge the last update: the first of these that the final evaluation logs.
WATCHED = ("train_loss", "loss")


@dataclass
class TrainLog:
    """What the loop returns: the logged history and how the run ended."""

    history: dict[str, np.ndarray]
    status: str
    diverged_at: int | None
    #: Per element of the step's loss (one per batched replica): the step its loss first became NaN/inf.
    replica_diverged_at: list[int | None] = field(default_factory=list)

    def replica(self, r: int) -> tuple[dict[str, np.ndarray], str, int | None]:
        """History, status and divergence step of replica r of a batched run (metrics [n_logs, n])."""
        hist = {k: (v if k == "step" else v[:, r]) for k, v in self.history.items()}
        at = self.replica_diverged_at[r] if r < len(self.replica_diverged_at) else self.diverged_at
        return hist, "diverged" if at is not None else self.status, at


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
          desc: str | None = None, watch: tuple[str, ...] = WATCHED) -> TrainLog:
    """Run `step(i)` for i in range(num_steps), evaluating when the completed-step count is in `log_at`.

    `step` returns the training loss (a scalar tensor, or shape [n] for n batched replicas). The run ends
    "diverged" once every element of the loss has become non-finite, "stopped" when `stop.is_set()`, else
    "completed". `TrainLog.replica(r)` gives one batched replica's history, status and divergence step.
    `stop.is_set()` is called exactly once before every step: the explorer and `checks.rederive` count
    the calls to know the step a run stopped at. The final evaluation's first metric named in `watch`
    judges the last update (each step's loss is computed before its update): an element that is NaN/inf
    there diverged at step `num_steps`.
    """
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise TypeError(f"stop={stop!r} must be None or have an is_set() method (e.g. a threading.Event), "
                        f"not a {type(stop).__name__}")
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step={on_step!r} must be None or a function on_step(step, metrics)")
    log_at = set(int(s) for s in np.asarray(log_at).ravel())
    records: list[dict] = []
    status, diverged_at = "completed", None
    first_bad = None  # device tensor shaped like the loss: the step each element became non-finite, or -1

    def log(done: int):
        metrics = {"step": done, **evaluate()}
        records.append(metrics)
        if on_step is not None:
            on_step(done, metrics)

    # On the static site a tqdm bar would be a widget the page cannot draw: no bar while the book builds.
    bar = tqdm(total=num_steps, desc=desc, disable=not progress or runtime.IN_BOOK, leave=False, mininterval=0.5)
    try:
        if 0 in log_at:
            log(0)
        for i in range(num_steps):
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            loss = step(i)
            done = i + 1
            if not isinstance(loss, torch.Tensor):
                loss = torch.as_tensor(np.asarray(loss, dtype=float))
            stamp = torch.where(torch.isfinite(loss.detach()), -1, i)
            first_bad = stamp if first_bad is None else torch.where(first_bad >= 0, first_bad, stamp)
            check = done in log_at or done % GUARD_EVERY == 0 or done == num_steps
            if check and bool((first_bad >= 0).all()):
                status, diverged_at = "diverged", int(first_bad.max())
                if not records or records[-1]["step"] != done:
                    log(done)
                break
            if done in log_at:
                log(done)
            bar.update(1)
    finally:
        bar.close()
    if status == "completed" and num_steps > 0 and records and records[-1]["step"] == num_steps:
        first_bad = _judge_final(records[-1], watch, first_bad, num_steps)
        if first_bad is not None and bool((first_bad >= 0).all()):
            status, diverged_at = "diverged", int(first_bad.max())
    per_replica = [] if first_bad is None else [int(v) if v >= 0 else None for v in first_bad.cpu().ravel()]
    return TrainLog(_stack(records), status, diverged_at, per_replica)


def _judge_final(metrics: dict, watch, first_bad, num_steps: int):
    """first_bad updated by the final evaluation: elements whose watched loss is NaN/inf diverged at num_steps."""
    name = next((m for m in watch if m in metrics), None)
    if name is None:
        return first_bad
    value = torch.as_tensor(np.asarray(metrics[name], dtype=float))
    stamp = torch.where(torch.isfinite(value), -1, num_steps)
    if first_bad is None:
        return stamp
    first_bad = first_bad.cpu()
    if stamp.numel() != first_bad.numel():  # not one value per element of the loss: all bad, or none
        stamp = torch.full(first_bad.shape, num_steps if bool((stamp >= 0).all()) else -1)
    stamp = stamp.reshape(first_bad.shape).to(first_bad.dtype)
    return torch.where(first_bad >= 0, first_bad, stamp)


def _stack(records: list[dict]) -> dict[str, np.ndarray]:
    if not records:
        return {"step": np.zeros(0, dtype=int)}
    keys = list(records[0])
    out = {k: np.asarray([r[k] for r in records]) for k in keys}
    out["step"] = out["step"].astype(int)
    return out
