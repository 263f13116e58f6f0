"""What tracking the sharpness costs, and how accurate warm-started power iteration stays along a run.

A training step, one Hessian-vector product, a sharpness estimate from a random start (COLD_ITERS
products) and warm-started estimates (k products from the previous top eigenvector) are timed side by
side on the same model (`tracking_costs`); `tracking_accuracy` follows a real run, re-estimating the
sharpness at every step with k warm products, and compares with a converged power iteration.
benchmarks/opposing.py prints both as tables; the chapter measures the toy's live.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

from . import sharpness
from .experiment import COLD_ITERS, Config, _Experiment

#: Power iteration with this many products from a random start is the converged reference.
REFERENCE_ITERS = 150


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], reps: int, rounds: int, device: torch.device) -> float:
    """Median over `rounds` of the mean seconds of one call of fn (`reps` calls per round); on a GPU the
    clock stops only when the device has finished."""
    if reps < 1 or rounds < 1:
        raise ValueError(f"reps={reps}, rounds={rounds}: both must be >= 1")
    fn()  # warm-up: first-call allocations, kernel selection
    _sync(device)
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        _sync(device)
        out.append((time.perf_counter() - start) / reps)
    return statistics.median(out)


def _loss_fn(exp: _Experiment):
    """The loss the runs measure the sharpness of: the mean over the sharpness sample."""
    return lambda ps: exp.example_losses(ps, exp.sharp_x, exp.sharp_y).mean(1)


def tracking_costs(config: Config, *, warm: Sequence[int] = (1, 2, 6), reps: int = 20,
                   rounds: int = 3) -> dict[str, float]:
    """Seconds of: one training step ("step"), one Hessian-vector product ("hvp"), a cold estimate
    ("cold", COLD_ITERS products) and, for each k in `warm`, a warm estimate of k products ("warm k") and
    a step followed by one ("step + warm k"), all on one model of `config`, timed side by side."""
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
    out = {"step": median_time(step, reps, rounds, device),
           "hvp": median_time(lambda: sharpness.hvp(loss_fn, exp.params, state["v"]), reps, rounds, device),
           "cold": median_time(lambda: sharpness.power_iteration(loss_fn, exp.params, iters=COLD_ITERS,
                                                                 generator=gen), max(1, reps // 10), rounds, device)}
    for k in warm:
        out[f"warm {k}"] = median_time(lambda k=k: track(k), reps, rounds, device)
        out[f"step + warm {k}"] = median_time(lambda k=k: (step(), track(k)), reps, rounds, device)
    return out


def tracking_accuracy(config: Config, products: int, *, steps: int, compare_every: int = 10) -> float:
    """Train `config` for `steps` steps, re-estimating the sharpness after every step with `products`
    warm-started products; every `compare_every` steps compare it with a converged power iteration
    (REFERENCE_ITERS products from a random start). Returns the worst relative gap."""
    if products < 1 or steps < 1 or compare_every < 1:
        raise ValueError(f"products={products}, steps={steps}, compare_every={compare_every}: each must be >= 1")
    exp = _Experiment([config])
    loss_fn = _loss_fn(exp)
    gen = torch.Generator().manual_seed(config.seed + 7)
    _, v = sharpness.power_iteration(loss_fn, exp.params, iters=COLD_ITERS, generator=gen)
    worst = 0.0
    for i in range(steps):
        exp.step(i)
        eig, v = sharpness.power_iteration(loss_fn, exp.params, iters=products, start=v)
        if (i + 1) % compare_every == 0:
            ref = sharpness.power_iteration(loss_fn, exp.params, iters=REFERENCE_ITERS, generator=gen)[0]
            worst = max(worst, abs(float(eig[0]) / float(ref[0]) - 1))
    return worst


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
        cells += [f"{t[f'step + warm {k}'] / t['step']:.1f}×" for k in warm]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def accuracy_table(config: Config, *, products: Sequence[int] = (1, 2, 6), steps: int = 300,
                   compare_every: int = 10) -> tuple[list[str], dict[int, float]]:
    """Markdown rows and the worst relative gaps of tracking_accuracy, for each number of warm products."""
    gaps = {k: tracking_accuracy(config, k, steps=steps, compare_every=compare_every) for k in products}
    rows = [f"| warm H·v per step | worst relative gap to {REFERENCE_ITERS} H·v from a random start (every "
            f"{compare_every}th of {steps} steps) |", "|---|---|"]
    rows += [f"| {k} | {gap:.1e} |" for k, gap in gaps.items()]
    return rows, gaps
