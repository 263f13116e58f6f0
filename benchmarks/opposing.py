"""Performance claims of chapter 3 (opposing signals); prints a table. Not part of the tests.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/opposing.py [--rounds 5] [--reps 50]

Sharpness is the expensive measurement. Measured side by side in one process, medians over rounds, on the
chapter's toy (n 1000, dim 50, width 32, float64, full batch) and the digits MLP (1024 examples):
1. one training step;
2. one sharpness estimate from a random start (COLD_ITERS Hessian-vector products);
3. one warm-started estimate (WARM_ITERS products from the previous eigenvector), as a run does;
4. tracking the sharpness at every step: a step plus a warm estimate, as a multiple of a step;
and how close the warm estimate stays to a converged one along a real toy run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from minilib import opposing  # noqa: E402
from minilib.opposing import experiment, sharpness  # noqa: E402


def _median_time(fn, reps: int, rounds: int) -> float:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter() - start) / reps)
    return statistics.median(out)


def costs(config, reps: int, rounds: int) -> dict[str, float]:
    exp = experiment._Experiment([config])
    counter = iter(range(10**9))
    loss_fn = lambda ps: exp.example_losses(ps, exp.sharp_x, exp.sharp_y).mean(1)
    state = {"v": sharpness.power_iteration(loss_fn, exp.params, iters=experiment.COLD_ITERS)[1]}

    def warm():
        state["v"] = sharpness.power_iteration(loss_fn, exp.params, iters=experiment.WARM_ITERS, start=state["v"])[1]

    step = lambda: exp.step(next(counter))
    cold = lambda: sharpness.power_iteration(loss_fn, exp.params, iters=experiment.COLD_ITERS)
    t = {"step": _median_time(step, reps, rounds), "cold estimate": _median_time(cold, max(1, reps // 10), rounds),
         "warm estimate": _median_time(warm, reps, rounds)}
    t["step + warm estimate"] = _median_time(lambda: (step(), warm()), reps, rounds)
    return t


def warm_accuracy(steps: int = 300) -> float:
    """Largest relative gap between the run's warm estimates and a converged power iteration (200 products)."""
    config = opposing.Config(steps=steps, sharpness_every=10, device="cpu")
    exp = experiment._Experiment([config])
    loss_fn = lambda ps: exp.example_losses(ps, exp.sharp_x, exp.sharp_y).mean(1)
    worst = 0.0
    for i in range(steps):
        if i % 10 == 0:
            logged = float(exp._sharpness()[0])
            exact = float(sharpness.power_iteration(loss_fn, exp.params, iters=200,
                                                    generator=torch.Generator().manual_seed(i))[0][0])
            worst = max(worst, abs(logged / exact - 1))
        exp.step(i)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}, 1 thread; medians of {args.rounds} rounds")
    print("| model | step (ms) | cold estimate (ms) | warm estimate (ms) | cold / step | warm / step | "
          "(step + warm) / step |")
    print("|---|---|---|---|---|---|---|")
    for name, config in (("toy", opposing.Config(device="cpu")),
                         ("digits MLP", opposing.digits_config(batch_size=0, n=1024, device="cpu"))):
        t = costs(config, args.reps, args.rounds)
        ms = {k: 1e3 * v for k, v in t.items()}
        print(f"| {name} | {ms['step']:.2f} | {ms['cold estimate']:.1f} | {ms['warm estimate']:.2f} | "
              f"{t['cold estimate'] / t['step']:.1f}x | {t['warm estimate'] / t['step']:.1f}x | "
              f"{t['step + warm estimate'] / t['step']:.1f}x |")
    print(f"\nwarm estimate ({experiment.WARM_ITERS} products every 10 steps) vs a converged one along 300 toy "
          f"steps: worst relative gap {warm_accuracy():.1e}")
    print(f"(cold: {experiment.COLD_ITERS} Hessian-vector products; np {np.__version__})")


if __name__ == "__main__":
    main()
