"""One command for every chapter's shipped results.

    python -m minilib precompute                        # regenerate every chapter's shipped results
    python -m minilib precompute grokking --only phase  # one chapter, some entries (also: 1, 01)
    python -m minilib precompute --list                 # every entry, its command and recorded cost
    python -m minilib precompute --check                # every shipped result exists and loads; trains nothing

Each phenomenon declares its shipped results in `SHIPPED` (minilib.phenomenon.Shipped). Results are
trained with the module's `run_sweep` (batched where the configs allow it) and written atomically to
results/<module>/ through minilib.cache.store.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import cache, phenomenon
from .runs import CorruptRunError, Run


def command(module, name: str | None = None) -> str:
    """The command that regenerates a chapter's shipped results (or one entry of them)."""
    only = f" --only {name}" if name else ""
    return f"python -m minilib precompute {phenomenon.short_name(module)}{only}"


def _reporter(name: str, metric: str, every: int, start: float):
    """Print every `every`-th evaluation, so a long precompute shows that it is alive."""
    count = iter(range(10**9))

    def report(step, metrics):
        if next(count) % every == 0 and metric in metrics:
            values = " ".join(f"{v:.4g}" for v in np.atleast_1d(metrics[metric]))
            print(f"  {name} step {step}: {metric} {values} ({time.perf_counter() - start:.0f} s)", flush=True)

    return report


def regenerate(module, names, *, threads: int = 1, progress: bool = True) -> None:
    """Train the named shipped entries of `module` and store them in results/ (atomic writes)."""
    torch.set_num_threads(threads)
    metric = next(iter(module.METRICS))
    for name in names:
        configs = module.SHIPPED[name].configs()
        start = time.perf_counter()
        total = max(module.num_steps(c) for c in configs)
        logs = getattr(configs[0], "num_logs", 20)  # about 20 progress lines per entry
        report = _reporter(name, metric, max(1, logs // 20), start) if progress else None
        runs = module.run_sweep(configs, on_step=report, progress=False)
        for run in runs:
            if run.status != "completed":
                print(f"  {name}: {run!r} ended {run.status}; stored as such", flush=True)
            path = cache.store(module, run, root=cache.RESULTS_DIR)
            print(f"  {name}: {run!r} -> {path.relative_to(cache.RESULTS_DIR.parent)}", flush=True)
        print(f"{name}: {len(configs)} run(s) of up to {total} steps, {time.perf_counter() - start:.0f} s "
              f"({torch.get_num_threads()} thread(s))", flush=True)


def _stored(module, name) -> list[tuple[object, Path, Run | None, str]]:
    """(config, path, run or None, problem) for every config of a shipped entry."""
    out = []
    for c in module.SHIPPED[name].configs():
        path = cache.entry_path(module, c, cache.RESULTS_DIR)
        if not path.exists():
            out.append((c, path, None, "missing"))
            continue
        try:
            run = Run.load(path)
        except CorruptRunError as err:
            out.append((c, path, None, f"damaged: {err}"))
            continue
        if run.config != c or run.meta.get("code_version") != phenomenon.version_of(module, c):
            out.append((c, path, None, "stale: made from another config or code version"))
            continue
        out.append((c, path, run, ""))
    return out


def _cost(runs: list[Run]) -> str:
    """What the stored runs say they cost: batched runs share one clock, so count each group once."""
    groups = {}
    for r in runs:
        groups.setdefault((r.meta.get("seconds"), r.meta.get("replicas")), r.meta)
    seconds = sum(float(m.get("seconds") or 0) for m in groups.values())
    metas = list(groups.values())
    threads = sorted({m.get("threads") for m in metas if m.get("threads") is not None})
    devices = sorted({str(m.get("device")) for m in metas})
    caps = sorted({m["cpu_capability"] for m in metas if m.get("cpu_capability")})
    where = f"{'/'.join(devices)}, {'/'.join(map(str, threads))} thread(s)" + (f", {'/'.join(caps)}" if caps else "")
    return f"{seconds / 60:.1f} min ({where})"


def list_entries(modules) -> int:
    for module in modules:
        print(f"{phenomenon.short_name(module)} ({module.CHAPTER}): results/{phenomenon.short_name(module)}/")
        if not module.SHIPPED:
            print("  (no shipped results: every run of this chapter is live)")
        for name, entry in module.SHIPPED.items():
            stored = _stored(module, name)
            runs = [r for _, _, r, _ in stored if r is not None]
            state = "ok" if len(runs) == len(stored) else f"{len(stored) - len(runs)} of {len(stored)} not usable"
            cost = _cost(runs) if runs else "not recorded"
            print(f"  {name}: {entry.what}\n    {len(stored)} run(s), {state}; recorded cost {cost}\n"
                  f"    regenerate: {command(module, name)}")
    return 0


def check(modules) -> int:
    """Every shipped result exists, loads and matches its config; no orphan files. Returns an exit code."""
    bad = []
    for module in modules:
        wanted = set()
        for name in module.SHIPPED:
            for _config, path, run, problem in _stored(module, name):
                wanted.add(path.name)
                if run is None:
                    bad.append(f"{phenomenon.short_name(module)}/{name}: {path.name} {problem} "
                               f"-> {command(module, name)}")
        folder = cache.RESULTS_DIR / phenomenon.short_name(module)
        orphans = sorted(p.name for p in folder.glob("*.npz") if p.name not in wanted) if folder.exists() else []
        bad += [f"{phenomenon.short_name(module)}: {o} belongs to no shipped entry (delete it)" for o in orphans]
    total = sum(len(m.SHIPPED[n].configs()) for m in modules for n in m.SHIPPED)
    if bad:
        print("precompute --check: problems found\n  " + "\n  ".join(bad))
        return 1
    print(f"precompute --check: all {total} shipped result(s) of {len(modules)} chapter(s) exist and load")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minilib")
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("precompute", help="regenerate, list or check the shipped results in results/")
    pre.add_argument("chapters", nargs="*", help="chapter names or numbers (default: all)")
    pre.add_argument("--only", nargs="+", metavar="NAME", help="just these entries (with one chapter)")
    pre.add_argument("--list", action="store_true", help="list every shipped entry with its command and cost")
    pre.add_argument("--check", action="store_true", help="verify every shipped result exists and loads")
    pre.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    pre.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        modules = [phenomenon.find(c) for c in args.chapters] if args.chapters else phenomenon.phenomena()
    except ValueError as err:
        parser.error(str(err))
    if args.threads < 1:
        parser.error(f"--threads={args.threads} must be >= 1")
    if args.list:
        return list_entries(modules)
    if args.check:
        return check(modules)
    if args.only:
        if len(modules) != 1:
            parser.error("--only needs exactly one chapter, e.g. `precompute grokking --only phase`")
        unknown = [n for n in args.only if n not in modules[0].SHIPPED]
        if unknown:
            parser.error(f"unknown entries {unknown} for {phenomenon.short_name(modules[0])}: "
                         f"choose from {', '.join(modules[0].SHIPPED)}")
    for module in modules:
        names = args.only or list(module.SHIPPED)
        if names:
            print(f"precompute {phenomenon.short_name(module)}: {', '.join(names)} "
                  f"(code version {module.CODE_VERSION})", flush=True)
            regenerate(module, names, threads=args.threads, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
