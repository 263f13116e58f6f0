"""Performance claims of chapter 2 (benign overfitting), and its paper-size run; prints tables. Not a test.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/benign.py [--device cpu] [--threads 1] [--rounds 3] [--seeds 8]
    python benchmarks/benign.py --device cuda --paper [--record DIR]     # the paper's size, on a GPU

1. Batched seeds: a sweep of R seeds (one stacked run, benign.run_sweep) against a loop of R single runs,
   at the cheap size (p = 10 000, n = 100, m = 200, n_test 200, float64), 10 steps; measured in
   alternation in one process, medians over rounds. CPU time is reported next to wall time, so a busy
   shared machine shows as wall > CPU (on a GPU the CPU column is the host's).
2. The cheap configuration's wall time for 40 steps (one seed), as the chapter runs it.
3. The RF theory curve: a 1000-point ridge sweep at M = 10 000 (Simon et al.'s synthetic task), solved by
   benign.ridge_theory (all points at once: a table of z(γ), then Newton steps over every point together)
   against a Python loop of one scalar root search per point (scipy's brentq on the same equation, each
   evaluation a sum over the M modes); both are numpy on the CPU whatever --device says.
4. With --paper: Xu et al.'s App. A.7 size (p = 40 000, n = 200, m = 1000, ‖μ‖ = 2.5·√(p/n), 5% flipped
   labels, init 1e-15, float64, 8 seeds): lr 1e-12 for 40 steps (benign overfitting, reached through the
   abstract's grokking) and lr 1e-16 for 3000 steps (the small-step run, outside the theorem's regime), with
   the chapter's signatures measured on them. --paper-size P,N,M runs a
   smaller instance (the CPU test of this path); --budget stops the long run when its time is up (it then
   reports how far it got). --record DIR writes the numbers to DIR/benign_paper.json, the file the chapter
   reads from benchmarks/ (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

from minilib import benign, runtime  # noqa: E402
from minilib.benign import shipped  # noqa: E402
from minilib.timing import sync, timed  # noqa: E402

CHEAP = benign.XorConfig(dim=10_000, n_train=100, width=200, mu_norm=25.0, n_test=200, label_noise=0.05,
                         init_scale=1e-15, lr=1e-12, steps=10, device="cpu")
PAPER_SIZE = (40_000, 200, 1000)  # p, n, m of Xu et al.'s App. A.7


# --- 3. the theory curve ---------------------------------------------------------------------------------
def theory_one_point_at_a_time(config: benign.RidgeConfig, ridges: np.ndarray) -> np.ndarray:
    """The reference a vectorised solver replaces: per ridge, brentq on γ (n − z)(k − z)/k = δ, then the risk."""
    lam, v2 = benign.spectrum(config)
    n, k = float(config.n_train), float(config.n_features)
    out = []
    for d in ridges:
        def balance(u, d=d):
            g = math.exp(u)
            z = float((lam / (lam + g)).sum())
            return g * (n - z) * (k - z) / k - d if z < min(n, k) else min(n, k) - z - d
        g = math.exp(brentq(balance, math.log(lam.min() * 1e-12), math.log(1e3 * (d + lam.sum())), xtol=1e-13))
        L = lam / (lam + g)
        z, q = L.sum(), (L * L).sum()
        kappa = g * (k - z) / k
        omega = 1 / (1 - (q * (k - 2 * z) + z * z) / (n * (k - q)))
        bias = ((1 - L) - kappa * L / (lam + g) * k / (k - q)) @ v2
        out.append(omega * (bias + config.noise))
    return np.array(out)


def theory_table(rounds: int) -> list[str]:
    c = benign.RidgeConfig()
    ridges = np.geomspace(1e-4, 1e2, 1000)
    benign.ridge_theory(c, ridge=ridges[:2])  # warm-up
    fast, loop = [], []
    for _ in range(rounds):
        fast.append(timed(lambda: benign.ridge_theory(c, ridge=ridges)))
    loop.append(timed(lambda: theory_one_point_at_a_time(c, ridges)))  # seconds: once is enough
    vec = benign.ridge_theory(c, ridge=ridges)["test_risk"]
    ref = theory_one_point_at_a_time(c, ridges[::50])
    agree = float(np.max(np.abs(vec[::50] / ref - 1)))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    return [f"| RF theory, 1000 ridges at M = {c.n_latent}, all points at once (s) | {med(fast, 0):.3f} | "
            f"{med(fast, 1):.3f} |",
            f"| the same, one brentq root search per point in a Python loop (s) | {med(loop, 0):.2f} | "
            f"{med(loop, 1):.2f} |",
            f"| loop / all at once (largest relative difference of the risks {agree:.1e}) | "
            f"{med(loop, 0) / med(fast, 0):.0f}x | {med(loop, 1) / med(fast, 1):.0f}x |"]


# --- 1, 2. batched seeds -----------------------------------------------------------------------------------
def sweep_table(device: str, rounds: int, seeds: int) -> list[str]:
    base = CHEAP.replace(device=device)
    configs = [base.replace(seed=s) for s in range(seeds)]
    benign.run(base.replace(steps=1), progress=False)  # warm-up (CUDA context, kernels)
    batched, looped = [], []
    for _ in range(rounds):
        batched.append(timed(lambda: benign.run_sweep(configs, progress=False), device))
        looped.append(timed(lambda: [benign.run(c, progress=False) for c in configs], device))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    steps = seeds * base.steps
    one = timed(lambda: benign.run(base.replace(steps=40), progress=False), device)
    return [f"| {seeds} seeds as one sweep, per step per seed (ms) | {1e3 * med(batched, 0) / steps:.1f} | "
            f"{1e3 * med(batched, 1) / steps:.1f} |",
            f"| {seeds} single runs in a loop, per step per seed (ms) | {1e3 * med(looped, 0) / steps:.1f} | "
            f"{1e3 * med(looped, 1) / steps:.1f} |",
            f"| loop / sweep | {med(looped, 0) / med(batched, 0):.2f}x | {med(looped, 1) / med(batched, 1):.2f}x |",
            f"| cheap configuration, 40 steps, one seed (s) | {one[0]:.2f} | {one[1]:.2f} |"]


# --- 4. the paper's size -------------------------------------------------------------------------------------
class Deadline:
    """A stop flag for benign.run_sweep: set once `seconds` have passed since it was made."""

    def __init__(self, seconds: float):
        self.end = time.perf_counter() + seconds

    def is_set(self) -> bool:
        return time.perf_counter() > self.end


def paper_configs(size, device: str, seeds: int, grok_steps: int) -> tuple[list, list]:
    """Xu et al.'s App. A.7 settings at size (p, n, m): the benign-overfitting and the grokking step sizes."""
    p, n, m = size
    base = benign.XorConfig(dim=p, n_train=n, width=m, mu_norm=2.5 * math.sqrt(p / n), n_test=500,
                            label_noise=0.05, init_scale=1e-15, dtype="float64", device=device)
    fast = [base.replace(lr=1e-12, steps=40, seed=s) for s in range(seeds)]
    slow = [base.replace(lr=1e-16, steps=grok_steps, log_every=10, log_dense_until=min(100, grok_steps), seed=s)
            for s in range(seeds)]
    return fast, slow


def _at(runs, metric: str, step: int) -> dict:
    """Median and 20–80% band over the runs of a metric at a logged step (None where not logged)."""
    vals = []
    for r in runs:
        hit = np.flatnonzero(r.history["step"] == step)
        if len(hit) == 0:
            return {"step": step, "median": None}
        vals.append(float(r.history[metric][hit[0]]))
    lo, mid, hi = np.nanquantile(vals, [0.2, 0.5, 0.8])
    return {"step": step, "median": float(mid), "q20": float(lo), "q80": float(hi)}


def summarise_benign(runs) -> dict:
    return {"steps_run": int(min(r.history["step"][-1] for r in runs)),
            "train_acc": [_at(runs, "train_acc", s) for s in (0, 1, 2, 40)],
            "flipped_fit": [_at(runs, "flipped_fit", s) for s in (1, 40)],
            "test_acc": [_at(runs, "test_acc", s) for s in (0, 1, 2, 5, 10, 40)]}


def summarise_grokking(runs) -> dict:
    fit = benign.first_pass(runs, "train_acc", 0.99)
    gen = benign.first_pass(runs, "test_acc", 0.9)
    last = int(min(r.history["step"][-1] for r in runs))
    fit_med = float(np.median(np.nan_to_num(fit, nan=np.inf)))
    gen_med = float(np.median(np.nan_to_num(gen, nan=np.inf)))
    return {"steps_run": last, "status": sorted({r.status for r in runs}),
            "fit_step_per_seed": [None if math.isnan(s) else int(s) for s in fit],
            "generalise_step_per_seed": [None if math.isnan(s) else int(s) for s in gen],
            "median_fit_step": fit_med, "median_generalise_step": gen_med,
            "ratio": gen_med / fit_med if math.isfinite(gen_med) and fit_med > 0 else None,
            "test_acc": [_at(runs, "test_acc", s) for s in (40, 100, 300, 1000, 2000, 3000) if s <= last],
            "train_acc": [_at(runs, "train_acc", s) for s in (40, 100) if s <= last]}


def _wall(fn, device: str):
    """(what fn returns, wall seconds), the device synchronised at both ends."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def paper_run(size, device: str, seeds: int, grok_steps: int, budget: float) -> dict:
    fast, slow = paper_configs(size, device, seeds, grok_steps)
    record = {"size": {"p": size[0], "n": size[1], "m": size[2], "mu_norm": fast[0].mu_norm, "seeds": seeds,
                       "n_test": fast[0].n_test, "dtype": fast[0].dtype},
              "device": _device_name(device), "torch": torch.__version__}
    runs, seconds = _wall(lambda: benign.run_sweep(fast, progress=False), device)
    record["benign"] = {"lr": 1e-12, "seconds": seconds, **summarise_benign(runs)}
    stop = Deadline(budget)
    runs, seconds = _wall(lambda: benign.run_sweep(slow, stop=stop, progress=False), device)
    record["grokking"] = {"lr": 1e-16, "steps_asked": grok_steps, "seconds": seconds, "budget_seconds": budget,
                          **summarise_grokking(runs)}
    return record


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def _fmt_at(entries) -> str:
    return ", ".join(f"{e['median']:.3f} at {e['step']} ({e['q20']:.2f}–{e['q80']:.2f})" for e in entries
                     if e["median"] is not None)


def print_paper(rec: dict) -> None:
    s, b, g = rec["size"], rec["benign"], rec["grokking"]
    print(f"\n# paper size: p = {s['p']}, n = {s['n']}, m = {s['m']}, ‖μ‖ = {s['mu_norm']:.2f}, {s['seeds']} seeds, "
          f"{s['dtype']}, on {rec['device']} (torch {rec['torch']})")
    print("| measurement | median at step (20–80% band) |\n|---|---|")
    print(f"| lr 1e-12: train accuracy (noisy labels) | {_fmt_at(b['train_acc'])} |")
    print(f"| lr 1e-12: flipped labels fitted | {_fmt_at(b['flipped_fit'])} |")
    print(f"| lr 1e-12: test accuracy (clean labels) | {_fmt_at(b['test_acc'])} |")
    print(f"| lr 1e-12: {b['steps_run']} steps x {s['seeds']} seeds (s) | {b['seconds']:.1f} |")
    print(f"| lr 1e-16: train accuracy | {_fmt_at(g['train_acc'])} |")
    print(f"| lr 1e-16: test accuracy | {_fmt_at(g['test_acc'])} |")
    ratio = "not reached" if g["ratio"] is None else f"{g['ratio']:.1f}x"
    print(f"| lr 1e-16: first step train >= 0.99 / test >= 0.9 (median) | {g['median_fit_step']:g} / "
          f"{g['median_generalise_step']:g} ({ratio}); per seed {g['fit_step_per_seed']} / "
          f"{g['generalise_step_per_seed']} |")
    print(f"| lr 1e-16: {g['steps_run']} of {g['steps_asked']} steps x {s['seeds']} seeds (s) | {g['seconds']:.1f} "
          f"(status {', '.join(g['status'])}; budget {g['budget_seconds']:.0f} s) |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=runtime.DEVICE_NAMES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--skip-tables", action="store_true", help="only the paper-size run")
    parser.add_argument("--paper", action="store_true", help="also run the paper's size (minutes on a GPU)")
    parser.add_argument("--paper-size", default=",".join(map(str, PAPER_SIZE)), help="p,n,m (default the paper's)")
    parser.add_argument("--grok-steps", type=int, default=3000)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds the lr 1e-16 run may take")
    parser.add_argument("--record", type=Path, help="write the paper-size numbers to DIR/benign_paper.json")
    args = parser.parse_args(argv)
    device = str(runtime.pick_device(args.device))  # a clear error when the device is absent
    try:
        size = tuple(int(v) for v in args.paper_size.split(","))
        assert len(size) == 3 and min(size) >= 2
    except (ValueError, AssertionError):
        parser.error(f"--paper-size={args.paper_size!r} must be three integers p,n,m, each >= 2")
    torch.set_num_threads(args.threads)
    if not args.skip_tables:
        print(f"# benign benchmarks: torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
              f"{args.threads} thread(s), device {_device_name(device)}, load average {os.getloadavg()[0]:.1f}")
        print("| measurement | wall | CPU |\n|---|---|---|")
        for line in sweep_table(device, args.rounds, args.seeds) + theory_table(args.rounds):
            print(line, flush=True)
    if args.paper:
        rec = paper_run(size, device, args.seeds, args.grok_steps, args.budget)
        print_paper(rec)
        if args.record:
            args.record.mkdir(parents=True, exist_ok=True)
            tmp = args.record / "benign_paper.json.tmp"
            tmp.write_text(json.dumps(rec, indent=1) + "\n")
            tmp.replace(args.record / shipped.PAPER_RECORD.name)
            print(f"recorded: {args.record / shipped.PAPER_RECORD.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
