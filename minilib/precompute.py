"""One command for every chapter's shipped results.

    python -m minilib precompute                        # regenerate every chapter's shipped results
    python -m minilib precompute grokking --only phase  # one chapter, some entries (also: 1, 01)
    python -m minilib precompute --list                 # every entry, its command and recorded cost
    python -m minilib precompute --check                # every shipped file exists, loads, matches its
                                                        # config and its recorded SHA-256; trains nothing
    python -m minilib precompute pfn --manifest         # record the SHA-256 of shipped files that pass
                                                        # every other check and are unmodified in git

Each phenomenon declares its shipped results in `SHIPPED` (minilib.phenomenon.Shipped). Results are
trained with the module's `run_sweep` (batched where the configs allow it) and written atomically to
results/<module>/ through minilib.cache.store, with any file the module names in `shipped_files` (a
trained network); this command alone writes there (inside `cache.shipping()`). Every file it writes has
its SHA-256 recorded in results/<module>/SHA256SUMS.json, so an edited byte anywhere (a run's header:
status, divergence step, meta) is found by `--check` and refused when a chapter loads the result.
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
    return cache.precompute_command(module, name)


def _extras(module, config) -> dict:
    """file name -> check, for the files besides its .npz that a shipped run writes (phenomenon OPTIONAL)."""
    fn = getattr(module, "shipped_files", None)  # optional by protocol
    return dict(fn(config)) if fn is not None else {}


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
        with cache.shipping():
            runs = module.run_sweep(configs, on_step=report, progress=False)
            written = []
            for run in runs:
                if run.status != "completed":
                    print(f"  {name}: {run!r} ended {run.status}; stored as such", flush=True)
                path = cache.store(module, run, root=cache.RESULTS_DIR)
                written += [path.name] + [f for f in _extras(module, run.config)
                                          if (path.parent / f).exists()]
                print(f"  {name}: {run!r} -> {path.relative_to(cache.RESULTS_DIR.parent)}", flush=True)
            cache.record_checksums(cache.RESULTS_DIR / phenomenon.short_name(module), written)
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
        problem = cache.checksum_problem(path)
        out.append((c, path, None if problem else run, problem))
    return out


def _extra_problems(module, config) -> list[tuple[Path, str]]:
    """(path, problem) for each extra file of a shipped config that is missing, damaged or not its run's."""
    folder = cache.RESULTS_DIR / phenomenon.short_name(module)
    out = []
    for fname, check_file in _extras(module, config).items():
        path = folder / fname
        problem = "missing" if not path.exists() else (check_file(path) or cache.checksum_problem(path))
        if problem:
            out.append((path, problem))
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
    """Every shipped file exists, loads, matches its config (a network: its run key) and the SHA-256 that
    precompute recorded; no orphan files. Returns an exit code."""
    bad = []
    for module in modules:
        short = phenomenon.short_name(module)
        folder = cache.RESULTS_DIR / short
        try:
            sums = cache.read_manifest(folder)
        except cache.DamagedResultError as err:
            bad.append(f"{short}: {err}")
            sums = {}
        wanted = set()
        for name in module.SHIPPED:
            for config, path, _run, problem in _stored(module, name):
                wanted.add(path.name)
                files = [(path, problem)] + [(folder / f, "") for f in _extras(module, config)]
                problems = dict(files)
                problems |= dict(_extra_problems(module, config))
                for p, why in problems.items():
                    wanted.add(p.name)
                    if not why and p.exists() and p.name not in sums:
                        bad.append(f"{short}/{name}: {p.name} has no recorded checksum (record it with "
                                   f"`{command(module)} --manifest`)")
                    elif why:
                        bad.append(f"{short}/{name}: {p.name} {why} -> {cache.restore_command(module, config, p)}")
        if folder.exists():
            orphans = sorted(p.name for p in folder.iterdir() if p.suffix in (".npz", ".pt") and p.name not in wanted)
            bad += [f"{short}: {o} belongs to no shipped entry (delete it)" for o in orphans]
        bad += [f"{short}: {cache.MANIFEST} lists {n}, which belongs to no shipped entry "
                f"(`{command(module)} --manifest` forgets it)" for n in sorted(set(sums) - wanted)]
    total = sum(len(m.SHIPPED[n].configs()) for m in modules for n in m.SHIPPED)
    if bad:
        print("precompute --check: problems found\n  " + "\n  ".join(bad))
        return 1
    print(f"precompute --check: all {total} shipped result(s) of {len(modules)} chapter(s) exist, load and match "
          "their configs and recorded checksums")
    return 0


def manifest(modules) -> int:
    """Record the SHA-256 of every shipped file that passes every other check and that git (where it knows
    the file) holds unmodified; files that do not are named and left unrecorded. Returns an exit code."""
    bad = []
    with cache.shipping():
        for module in modules:
            short = phenomenon.short_name(module)
            folder = cache.RESULTS_DIR / short
            good, wanted = [], set()
            for name in module.SHIPPED:
                for config, path, run, problem in _stored(module, name):
                    extra = [(folder / f, "") for f in _extras(module, config)]
                    extra = dict(extra) | dict(_extra_problems(module, config))
                    if run is None and problem.startswith("damaged: its bytes differ"):
                        problem = ""  # the checksum is what is being recorded; the other checks still apply
                    for p, why in [(path, problem), *extra.items()]:
                        wanted.add(p.name)
                        if not why and cache._git_restore(p):
                            why = "differs from git's last commit"
                        if why:
                            bad.append(f"{short}/{name}: {p.name} {why}: not recorded")
                        else:
                            good.append(p.name)
            if good or folder.exists():
                old = set(cache.read_manifest(folder)) if (folder / cache.MANIFEST).exists() else set()
                written = cache.record_checksums(folder, good, forget=old - wanted)
                print(f"{short}: recorded {len(good)} checksum(s) in {written.relative_to(cache.RESULTS_DIR.parent)}")
    if bad:
        print("precompute --manifest: not recorded\n  " + "\n  ".join(bad))
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minilib")
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("precompute", help="regenerate, list or check the shipped results in results/")
    pre.add_argument("chapters", nargs="*", help="chapter names or numbers (default: all)")
    pre.add_argument("--only", nargs="+", metavar="NAME", help="just these entries (with one chapter)")
    pre.add_argument("--list", action="store_true", help="list every shipped entry with its command and cost")
    pre.add_argument("--check", action="store_true",
                     help="verify every shipped file exists, loads, matches its config and its recorded checksum")
    pre.add_argument("--manifest", action="store_true",
                     help="record the checksums of the shipped files that pass every other check")
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
    if args.manifest:
        return manifest(modules)
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
