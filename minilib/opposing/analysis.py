"""Measurements on a run's history: loss spikes, out-of-phase group losses, the |Δℓ| outlier detector.

Rosenfeld & Risteski 2024 find the opposing groups by the examples whose loss changes most between two
steps, and describe the spike: the losses of the two groups oscillate out of phase, then the total loss
shoots up. Each function here is one of those measurements, on plain numpy arrays.
"""

from __future__ import annotations

import numpy as np

#: The start of a run that spike measurements skip (a fraction of its steps): the early transient.
SKIP = 0.1


def running_min_ratio(loss: np.ndarray) -> np.ndarray:
    """L[t] / min_{s <= t} L[s]: how far the loss stands above the best it had reached (1 = at the best).

    A spike measured against the running minimum is not inflated by the spikes themselves (a median
    window is), and a smoothly falling loss scores exactly 1.
    """
    loss = np.asarray(loss, dtype=float)
    return loss / np.minimum.accumulate(np.where(np.isfinite(loss), loss, np.inf))


def spike(loss: np.ndarray, steps: np.ndarray, skip: float = SKIP) -> tuple[float, int]:
    """The largest running-minimum ratio after the first `skip` fraction of the steps, and its step.

    The transient at the start (the loss first rises or plateaus while the weights align) is skipped.
    A non-finite loss (a diverged run) counts as an infinite spike.
    """
    steps = np.asarray(steps)
    if not 0 <= skip < 1:
        raise ValueError(f"skip={skip} is out of range: allowed 0 <= skip < 1")
    ratio = running_min_ratio(loss)
    ratio = np.where(np.isfinite(np.asarray(loss, dtype=float)), ratio, np.inf)
    late = np.flatnonzero(steps >= skip * steps[-1])
    k = late[int(np.argmax(ratio[late]))]
    return float(ratio[k]), int(steps[k])


def onset(loss: np.ndarray, steps: np.ndarray, factor: float = 1.05, skip: float = SKIP) -> int | None:
    """The first step (after the skipped start) at which the loss stands `factor` above its running minimum."""
    steps = np.asarray(steps)
    ratio = running_min_ratio(loss)
    hit = np.flatnonzero((steps >= skip * steps[-1]) & ~(ratio < factor))
    return int(steps[hit[0]]) if hit.size else None


def opposite_moves(loss_a: np.ndarray, loss_b: np.ndarray, steps: np.ndarray, end: int, window: int = 20) -> float:
    """The fraction of the `window` logged steps before `end` at which the two group losses move in opposite
    directions (one rises while the other falls): 1 = perfectly out of phase, ~0.5 = unrelated."""
    steps = np.asarray(steps)
    da, db = np.diff(np.asarray(loss_a, float)), np.diff(np.asarray(loss_b, float))
    idx = np.flatnonzero(steps[1:] <= end)[-window:]
    if idx.size == 0:
        raise ValueError(f"no logged steps before step {end}")
    return float(np.mean(da[idx] * db[idx] < 0))


def change_correlation(loss_a: np.ndarray, loss_b: np.ndarray, steps: np.ndarray, end: int,
                       window: int = 10) -> float:
    """Correlation of the step-to-step changes of two group losses over the `window` steps before `end`
    (−1: every rise of one is a fall of the other)."""
    steps = np.asarray(steps)
    da, db = np.diff(np.asarray(loss_a, float)), np.diff(np.asarray(loss_b, float))
    idx = np.flatnonzero(steps[1:] <= end)[-window:]
    if idx.size < 3:
        raise ValueError(f"need at least 3 logged steps before step {end}, got {idx.size}")
    return float(np.corrcoef(da[idx], db[idx])[0, 1])


def top_changes(before: np.ndarray, after: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k examples whose loss changed most, |ℓ_after − ℓ_before|, largest first."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    if before.shape != after.shape or before.ndim != 1:
        raise ValueError(f"before and after must be 1-D of equal length, got shapes {before.shape}, {after.shape}")
    if not 1 <= k <= len(before):
        raise ValueError(f"k={k} is out of range: allowed 1 <= k <= {len(before)}")
    change = np.abs(after - before)
    return np.argsort(-change, kind="stable")[:k]


def detector_precision(before: np.ndarray, after: np.ndarray, group: np.ndarray, k: int = 20) -> float:
    """The share of the k largest |Δℓ| that belong to an outlier group (group != 0)."""
    return float(np.mean(np.asarray(group)[top_changes(before, after, k)] != 0))


def sign_changes(values: np.ndarray) -> int:
    """How many times a sequence changes sign from one entry to the next (exact zeros are skipped)."""
    values = np.asarray(values, float)
    signs = np.sign(values[values != 0])
    return int(np.count_nonzero(signs[1:] != signs[:-1]))
