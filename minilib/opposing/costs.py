"""What tracking the sharpness costs, and how accurate warm-started power iteration stays along a run.

A training step, one Hessian-vector product, a sharpness estimate from a random start (COLD_ITERS
products) and warm-started estimates (k products from the previous top eigenvector) are timed side by
side on the same model (`tracking_costs`). `tracking_gaps` follows a real run, re-estimating the
sharpness after every step with k warm products, and compares with a converged power iteration: few
products fall behind at the peak of a spike, where the Hessian changes within a step (`accuracy_table`
reports both). benchmarks/opposing.py prints both tables; the chapter measures the toy's live.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from . import analysis, sharpness
from .experiment import COLD_ITERS, Config, _Experiment, run

#: Power iteration with this many products from a random start is the converged reference.
REFERENCE_ITERS = 150


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def round_times(fns: dict[str, tuple[Callable[[], object], int]], rounds: int,
                device: torch.device) -> dict[str, list[float]]:
    """Per round, the mean seconds of one call of each fn (name -> (fn, reps)), the fns timed one after the
    other inside every round: a change of the machine's load between rounds hits all of them alike, so
    ratios taken within a round are steadier than ratios of separately timed medians."""
    if rounds < 1 or min(reps for _, reps in fns.values()) < 1:
        raise ValueError(f"rounds={rounds}, reps={[reps for _, reps in fns.values()]}: each must be >= 1")
    for fn, _ in fns.values():  # warm-up: first-call allocations, kernel selection
        fn()
    out = {name: [] for name in fns}
    for _ in range(rounds):
        for name, (fn, reps) in fns.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            _sync(device)
            out[name].append((time.perf_counter() - start) / reps)
    return out


def _loss_fn(exp: _Experiment):
    """The loss the runs measure the sharpness of: the mean over the sharpness sample."""
    return lambda ps: exp.example_losses(ps, exp.sharp_x, exp.sharp_y).mean(1)


def tracking_costs(config: Config, *, warm: Sequence[int] = (1, 2, 6), reps: int = 20,
                   rounds: int = 3) -> dict[str, float]:
    """Median seconds of: one training step ("step"), one Hessian-vector product ("hvp"), a cold estimate
    ("cold", COLD_ITERS products) and, for each k in `warm`, a warm estimate of k products ("warm k") and
    a step followed by one ("step + warm k"), all on one model of `config`, timed side by side in every
    round; and the median over rounds of each round's ratio "step + warm k" / "step" ("multiple k")."""
    if not warm or min(warm) < 1:
        raise ValueError(f"warm={tuple(warm)}: give at least one number of products, each >= 1")
    exp = _Experiment([config])
    device, loss_fn = exp.device, _loss_fn(exp)
    counter = iter(range(10**9))
    gen = torch.Generator().manual_seed(config.seed)
    state = {"v": sharpness.power_iteration(loss_fn, exp.params, iters=COLD_ITERS, generator=gen)[1]}

    def track(k: int):
        state["v"] = sharpness.power_iteration(loss_fn, exp.params, iters=k, start=state["v"])[1]

    step = lambda: exp.step(next(counter))
    fns = {"step": (step, reps),
           "hvp": (lambda: sharpness.hvp(loss_fn, exp.params, state["v"]), reps),
           "cold": (lambda: sharpness.power_iteration(loss_fn, exp.params, iters=COLD_ITERS, generator=gen),
                    max(1, reps // 10))}
    for k in warm:
        fns[f"warm {k}"] = (lambda k=k: track(k), reps)
        fns[f"step + warm {k}"] = (lambda k=k: (step(), track(k)), reps)
    times = round_times(fns, rounds, device)
    out = {name: statistics.median(ts) for name, ts in times.items()}
    for k in warm:
        out[f"multiple {k}"] = statistics.median(a / b for a, b in zip(times[f"step + warm {k}"], times["step"]))
    return out


def tracking_gaps(config: Config, products: Sequence[int], *, steps: int,
                  compare_at: Sequence[int]) -> dict[int, np.ndarray]:
    """Train `config` for `steps` steps; after every step re-estimate the sharpness with k warm-started
    products for each k in `products` (each from its own previous vector); at each step in `compare_at`
    compare with a converged power iteration (REFERENCE_ITERS products from a random start). Returns, per
    k, the relative gaps at the compared steps (in the order of `compare_at`)."""
    if not products or min(products) < 1 or steps < 1:
        raise ValueError(f"products={tuple(products)}, steps={steps}: each must be >= 1")
    bad = [t for t in compare_at if not 1 <= t <= steps]
    if bad or not len(compare_at):
        raise ValueError(f"compare_at={list(compare_at)}: give steps between 1 and steps={steps}")
    exp = _Experiment([config])
    loss_fn = _loss_fn(exp)
    gen = torch.Generator().manual_seed(config.seed + 7)
    start = sharpness.power_iteration(loss_fn, exp.params, iters=COLD_ITERS, generator=gen)[1]
    vectors = {k: start for k in products}
    at = {t: i for i, t in enumerate(compare_at)}
    gaps = {k: np.full(len(compare_at), np.nan) for k in products}
    for i in range(steps):
        exp.step(i)
        estimates = {}
        for k in products:
            estimates[k], vectors[k] = sharpness.power_iteration(loss_fn, exp.params, iters=k, start=vectors[k])
        if i + 1 in at:
            ref = float(sharpness.power_iteration(loss_fn, exp.params, iters=REFERENCE_ITERS, generator=gen)[0][0])
            for k in products:
                gaps[k][at[i + 1]] = abs(float(estimates[k][0]) / ref - 1)
    return gaps


def spike_step(config: Config) -> int:
    """The step of the largest loss spike of a run of `config` (trained without tracking the sharpness)."""
    h = run(config.replace(sharpness_every=0), progress=False).history
    return analysis.spike(h["loss"], h["step"])[1]


def accuracy_table(config: Config, *, products: Sequence[int] = (1, 2, 6), steps: int = 300, every: int = 10,
                   peak: int | None = None, around: int = 4) -> tuple[list[str], dict[int, tuple[float, float]]]:
    """Markdown rows, and per k the worst relative gap of k warm products per step (tracking_gaps): at every
    `every`-th of the first `steps` steps away from the spike, and at each step within `around` of its peak
    (`peak`: the step of the largest spike, found by a run of `config` when not given)."""
    peak = spike_step(config) if peak is None else peak
    near = list(range(max(1, peak - around), peak + around + 1))
    far = [t for t in range(every, steps + 1, every) if abs(t - peak) > around]
    gaps = tracking_gaps(config, products, steps=max(steps, near[-1]), compare_at=far + near)
    worst = {k: (float(np.max(g[:len(far)], initial=0.0)), float(np.max(g[len(far):], initial=0.0)))
             for k, g in gaps.items()}
    rows = [f"| warm H·v per step | worst gap, every {every}th of {steps} steps | worst gap, steps "
            f"{near[0]}-{near[-1]} (the spike's peak: {peak}) |", "|---|---|---|"]
    rows += [f"| {k} | {w[0]:.1e} | {w[1]:.1e} |" for k, w in worst.items()]
    return rows, worst


def cost_table(models: dict[str, Config], *, warm: Sequence[int] = (1, 2, 6), reps: int = 20,
               rounds: int = 3) -> list[str]:
    """Markdown rows: per model, the milliseconds of a step, of one H·v and of a cold estimate, and the
    cost of a step plus k warm products as a multiple of a step (tracking the sharpness at every step)."""
    head = ["model", "step (ms)", "one H·v (ms)", f"cold estimate, {COLD_ITERS} H·v (ms)"]
    head += [f"step + {k} warm H·v (× a step)" for k in warm]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, config in models.items():
        t = tracking_costs(config, warm=warm, reps=reps, rounds=rounds)
        cells = [name, f"{1e3 * t['step']:.3g}", f"{1e3 * t['hvp']:.3g}", f"{1e3 * t['cold']:.3g}"]
        cells += [f"{t[f'multiple {k}']:.1f}×" for k in warm]
        rows.append("| " + " | ".join(cells) + " |")
    return rows
