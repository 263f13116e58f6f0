"""Performance claims of chapter 4 (projection heads); prints a table. Not part of the tests.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/projection.py [--threads 1] [--rounds 3]

1. Probes: 100 logistic-regression probes (scikit-learn's objective, C = 1) fitted as one batched Newton
   solve (`minilib.projection.probe.fit`) against a Python loop of scikit-learn fits, on the chapter's
   16-d representations with 10 and 1000 labels; medians over rounds, measured side by side.
2. The linear model: wall time until the population loss is within 1% of its minimum −Σ(1 − ρ)², training
   on the exact population loss (the library) against training on sampled pairs (the same gradient
   descent on the spectral loss estimated from a fresh batch of 1024 pairs per step).
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
from sklearn.linear_model import LogisticRegression  # noqa: E402

from minilib import projection  # noqa: E402
from minilib.projection import data, losses, models, probe  # noqa: E402


def probes(n: int, trials: int, rounds: int) -> tuple[float, float, float]:
    """(batched seconds, loop seconds, largest accuracy difference) for `trials` probes with n labels."""
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor(projection.FEATURE_SCALES, dtype=torch.float64)
    W1 = torch.randn(16, 8, generator=gen, dtype=torch.float64)
    z, x = data.sample_linear(3400, scales, gen)
    rep, y = x @ W1.T, (z[:, 4] > 0).long()
    pool, test = probe.rms_normalise(rep[:2400], rep[2400:])
    idx = probe.draw_labelled(y[:2400], n, trials, gen)
    ty = y[2400:]

    def batched():
        return (probe.predict(probe.fit(pool[idx], y[idx]), test) == ty).double().mean(-1).numpy()

    def loop():
        return np.array([(LogisticRegression(C=probe.C).fit(pool[i].numpy(), y[i].numpy()).predict(test.numpy())
                          == ty.numpy()).mean() for i in idx])

    times = {"batched": [], "loop": []}
    for _ in range(rounds):
        for name, fn in (("batched", batched), ("loop", loop)):
            start = time.perf_counter()
            acc = fn()
            times[name].append(time.perf_counter() - start)
            if name == "batched":
                ours = acc
            else:
                theirs = acc
    return statistics.median(times["batched"]), statistics.median(times["loop"]), float(np.abs(ours - theirs).max())


def time_to_one_percent(sampled: bool, max_steps: int = 30_000, batch: int = 1024) -> tuple[float | None, int]:
    """Seconds (and steps) of gradient descent until the population loss is within 1% of its minimum."""
    cfg = projection.LinearConfig(init_scale=0.05)
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor(cfg.feature_scales, dtype=torch.float64)
    drops = torch.tensor(cfg.drop_probs, dtype=torch.float64)
    m, s = data.second_moments(scales, drops)
    target = float(losses.spectral_minimum(m, s)) * 0.99
    ws = models.linear_weights(8, cfg.hidden, cfg.head_dim, cfg.depth, [cfg.init_scale], [gen], "cpu")
    start = time.perf_counter()
    for step in range(1, max_steps + 1):
        if sampled:
            z, x = data.sample_linear(batch, scales, gen)
            x_pos = data.augment(z, drops, gen) * scales
            x_other = data.sample_linear(batch, scales, gen)[1]
            W = models.products(ws)[-1][0]
            loss = losses.spectral_sample(x @ W.T, x_pos @ W.T, x_other @ W.T)
        else:
            loss = losses.spectral_population(models.products(ws)[-1], m, s).sum()
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, g in zip(ws, grads):
                w -= cfg.lr * g
        if step % 50 == 0:
            with torch.no_grad():
                exact = float(losses.spectral_population(models.products(ws)[-1], m, s)[0])
            if exact <= target:
                return time.perf_counter() - start, step
    return None, max_steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# projection benchmarks: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.backends.cpu.get_cpu_capability()}, {args.threads} thread(s)")
    print("| 100 probes, 16-d representation | batched Newton (s) | scikit-learn loop (s) | loop / batched | "
          "max |accuracy difference| |")
    print("|---|---|---|---|---|")
    for n in (10, 1000):
        ours, theirs, diff = probes(n, 100, args.rounds)
        print(f"| {n} labels | {ours:.3f} | {theirs:.3f} | {theirs / ours:.1f}x | {diff:.3f} |")
    print("\n| linear model, GD lr 0.02, init 0.05, to within 1% of the minimum | seconds | steps |")
    print("|---|---|---|")
    for name, sampled in (("exact population loss (library)", False), ("sampled pairs, batch 1024", True)):
        seconds, steps = time_to_one_percent(sampled)
        shown = f"{seconds:.2f}" if seconds is not None else f"not reached in {steps} steps"
        print(f"| {name} | {shown} | {steps} |")


if __name__ == "__main__":
    main()
