"""Checks shared by the chapters: a shipped result is re-derived, not taken on trust.

`rederive(module, stored, steps=...)` trains the same config again for its first `steps` steps and
compares every logged metric with the stored history at the steps both logged. Training is chaotic:
round-off from other CPU kernels (``ATEN_CPU_CAPABILITY``), thread counts or a GPU grows step by step,
so only an early stretch can match, and only within a tolerance measured for it. Each phenomenon states
that stretch and tolerance per shipped entry (``REDERIVE`` in its shipped module); see
``docs/adding-a-chapter.md`` for how to measure them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .phenomenon import Tolerance  # defined with the protocol; importable from here too
from .runs import Run

__all__ = ["Comparison", "Tolerance", "deviations", "rederive"]


class _StopAfter:
    """A stop flag for train(): it is asked once before every step, so it can end a run after n steps."""

    def __init__(self, n: int):
        self.n, self.asked = n, 0

    def is_set(self) -> bool:
        self.asked += 1
        return self.asked > self.n


@dataclass(frozen=True)
class Comparison:
    """What a re-derivation compared: the common logged steps and the largest deviation per metric."""

    steps: np.ndarray
    worst: dict[str, float]  # metric -> max |new − stored| / (atol + rtol·|stored|); <= 1 passes

    def __str__(self):
        return (f"re-derived {len(self.steps)} logged steps up to step {int(self.steps[-1])}; "
                f"worst deviation {max(self.worst.values()):.2g} of the tolerance")


def rederive(module, stored: Run, tolerance: Tolerance, *, device: str | None = None) -> Comparison:
    """Train `stored.config` again for `tolerance.steps` steps and compare every logged metric.

    Raises AssertionError naming the metric, the step and both values when a metric is outside the
    tolerance, or when fewer than two logged steps (0 and one more) fall in the compared stretch.
    """
    config = stored.config if device is None else stored.config.replace(device=device)
    redo = module.run(config, stop=_StopAfter(tolerance.steps), progress=False)
    common, i_new, i_old = np.intersect1d(redo.history["step"], stored.history["step"], return_indices=True)
    common_ok = common <= tolerance.steps
    common, i_new, i_old = common[common_ok], i_new[common_ok], i_old[common_ok]
    if len(common) < 2:
        raise AssertionError(f"re-derivation of {stored!r}: only {len(common)} logged step(s) within the first "
                             f"{tolerance.steps}; compare a longer stretch")
    missing = sorted(set(stored.history) - set(redo.history))
    if missing:
        raise AssertionError(f"re-derivation of {stored!r}: the new run does not log {missing}")
    worst = {}
    for metric, old in stored.history.items():
        if metric == "step" or metric in tolerance.skip:
            continue
        new = np.asarray(redo.history[metric][i_new], dtype=float)
        ref = np.asarray(old[i_old], dtype=float)
        both_nan = np.isnan(new) & np.isnan(ref)
        bound = tolerance.atol_for(metric) + tolerance.rtol * np.abs(ref)
        dev = np.where(both_nan, 0.0, np.abs(new - ref))
        ratio = np.where(bound > 0, dev / np.where(bound > 0, bound, 1), np.where(dev > 0, np.inf, 0.0))
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        k = int(np.argmax(ratio))
        worst[metric] = float(ratio[k])
        if ratio[k] > 1:
            raise AssertionError(
                f"re-derivation of {stored!r}: {metric} at step {int(common[k])} is {new[k]:.8g}, stored "
                f"{ref[k]:.8g} (allowed |difference| <= {bound[k]:.3g}: atol {tolerance.atol_for(metric)}, "
                f"rtol {tolerance.rtol})")
    return Comparison(common, worst)


def deviations(module, stored: Run, steps: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Re-train the first `steps` steps; per metric, |new − stored| / max(|stored|, tiny) at each common step.

    The measurement behind a Tolerance: run it on other kernels (ATEN_CPU_CAPABILITY=default, avx2),
    thread counts and devices, and choose the stretch and tolerance from what it prints.
    """
    redo = module.run(stored.config, stop=_StopAfter(steps), progress=False)
    common, i_new, i_old = np.intersect1d(redo.history["step"], stored.history["step"], return_indices=True)
    out = {}
    for metric, old in stored.history.items():
        if metric == "step" or metric not in redo.history:
            continue
        new, ref = np.asarray(redo.history[metric][i_new], float), np.asarray(old[i_old], float)
        out[metric] = np.where(np.isnan(new) & np.isnan(ref), 0.0, np.abs(new - ref) / np.maximum(np.abs(ref), 1e-30))
    return common, out


def main(argv=None) -> int:
    """python -m minilib.checks CHAPTER [--steps N] [--entries NAME ...]: print re-derivation deviations."""
    import argparse

    import torch

    from . import cache, phenomenon

    parser = argparse.ArgumentParser(prog="python -m minilib.checks",
                                     description="how far re-trained shipped runs drift from the stored ones")
    parser.add_argument("chapter")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--entries", nargs="+")
    parser.add_argument("--first", type=int, default=2, help="runs per entry to re-derive (default 2)")
    args = parser.parse_args(argv)
    module = phenomenon.find(args.chapter)
    print(f"# {phenomenon.short_name(module)}: torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} thread(s)")
    for name in args.entries or list(module.SHIPPED):
        for config in module.SHIPPED[name].configs()[:args.first]:
            stored = cache.lookup(module, config, shipped_only=True)
            if stored is None:
                print(f"{name}: not shipped")
                continue
            steps, dev = deviations(module, stored, args.steps)
            for metric, d in dev.items():
                cells = " ".join(f"{int(s)}:{v:.1e}" for s, v in zip(steps, d) if v > 0)
                print(f"{name} seed {config.seed} {metric}: {cells or 'identical'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
