"""Regenerate the shipped results: python -m minilib.grokking precompute [--only NAME ...].

Each result is trained (batched where the configs allow it) and written atomically to
results/grokking/ through minilib.cache.store; the command prints what it ran and how long it took.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from .. import cache
from . import experiment, shipped


def _reporter(name: str, every: int, start: float):
    """Print every `every`-th evaluation: a long precompute run shows that it is alive."""
    count = iter(range(10**9))

    def report(step, metrics):
        if next(count) % every == 0:
            accs = " ".join(f"{v:.3f}" for v in np.atleast_1d(metrics["test_acc"]))
            print(f"  {name} step {step}: test_acc {accs} ({time.perf_counter() - start:.0f} s)", flush=True)

    return report


def precompute(names, *, threads: int = 1, progress: bool = True) -> None:
    import minilib.grokking as module

    torch.set_num_threads(threads)
    for name in names:
        configs = shipped.RESULTS[name]()
        start = time.perf_counter()
        report = _reporter(name, max(1, configs[0].num_logs // 20), start) if progress else None
        runs = experiment.run_sweep(configs, on_step=report, progress=False)
        for run in runs:
            path = cache.store(module, run, root=cache.RESULTS_DIR)
            print(f"  {name}: {run!r} -> {path.relative_to(cache.RESULTS_DIR.parent)}", flush=True)
        print(f"{name}: {len(configs)} run(s), {time.perf_counter() - start:.0f} s "
              f"({torch.get_num_threads()} thread(s))", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minilib.grokking")
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("precompute", help="regenerate results/grokking/")
    pre.add_argument("--only", nargs="+", choices=sorted(shipped.RESULTS), help="just these results")
    pre.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    pre.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    names = args.only or list(shipped.RESULTS)
    print(f"precompute {', '.join(names)} (code version {experiment.CODE_VERSION})", flush=True)
    precompute(names, threads=args.threads, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
