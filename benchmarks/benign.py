"""Performance claims of chapter 2 (benign overfitting); prints a table. Not part of the tests.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/benign.py [--threads 1] [--rounds 3] [--seeds 8]

1. Batched seeds: a sweep of R seeds (one stacked run, benign.run_sweep) against a loop of R single runs,
   at the cheap size (p = 10 000, n = 100, m = 200, n_test 200, float64), 10 steps; measured in
   alternation in one process, medians over rounds. CPU time is reported next to wall time, so a busy
   shared machine shows as wall > CPU.
2. The cheap configuration's wall time for 40 steps (one seed), as the chapter runs it.
3. The RF theory curve: a 1000-point ridge sweep (vectorised root finding) at M = 10 000.
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

from minilib import benign  # noqa: E402

CHEAP = benign.XorConfig(dim=10_000, n_train=100, width=200, mu_norm=25.0, n_test=200, label_noise=0.05,
                         init_scale=1e-15, lr=1e-12, steps=10, device="cpu")


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = [CHEAP.replace(seed=s) for s in range(args.seeds)]
    batched, looped = [], []
    for _ in range(args.rounds):
        batched.append(_timed(lambda: benign.run_sweep(configs, progress=False)))
        looped.append(_timed(lambda: [benign.run(c, progress=False) for c in configs]))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    steps = args.seeds * CHEAP.steps
    one = _timed(lambda: benign.run(CHEAP.replace(steps=40), progress=False))
    c = benign.RidgeConfig()
    ridges = np.geomspace(1e-4, 1e2, 1000)
    benign.ridge_theory(c, ridge=ridges[:2])  # warm-up
    theory = _timed(lambda: benign.ridge_theory(c, ridge=ridges))
    print(f"# benign benchmarks: torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}, load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| measurement | wall | CPU |\n|---|---|---|")
    print(f"| {args.seeds} seeds as one sweep, per step per seed (ms) | {1e3 * med(batched, 0) / steps:.1f} | "
          f"{1e3 * med(batched, 1) / steps:.1f} |")
    print(f"| {args.seeds} single runs in a loop, per step per seed (ms) | {1e3 * med(looped, 0) / steps:.1f} | "
          f"{1e3 * med(looped, 1) / steps:.1f} |")
    print(f"| loop / sweep | {med(looped, 0) / med(batched, 0):.2f}x | {med(looped, 1) / med(batched, 1):.2f}x |")
    print(f"| cheap configuration, 40 steps, one seed (s) | {one[0]:.2f} | {one[1]:.2f} |")
    print(f"| RF theory, 1000 ridges at M = {c.n_latent} (s) | {theory[0]:.2f} | {theory[1]:.2f} |")


if __name__ == "__main__":
    main()
