"""Performance claims of chapter 3 (opposing signals); prints tables. Not part of the tests.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/opposing.py [--device cpu|cuda|auto] [--size full|tiny]
                                                          [--rounds 5] [--reps 30] [--shipped]

Sharpness is the expensive measurement. Measured side by side in one process (medians over rounds), on
the chapter's toy (n 1000, dim 50, width 32, float64, full batch) and the digits MLP (1024 examples, full
batch), with `minilib.opposing.costs`:
1. one training step, one Hessian-vector product, one estimate from a random start (COLD_ITERS products);
2. warm-started estimates of k products from the previous top eigenvector, and a step plus one: the cost
   of tracking the sharpness at every step, as a multiple of a step;
3. how close k warm products per step stay to a converged power iteration along the toy's first 300
   steps: at every 10th step, and at each step around the peak of its spike, where the Hessian changes
   within a step (--seeds seeds).
`--shipped` also trains every shipped run of the chapter on the device (as stacked sweeps) and compares
each with the stored CPU result: the worst relative deviation over the entry's re-derivation stretch, and
the largest loss spike of both. `--size tiny` shrinks everything to seconds (a smoke test of a device).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import types

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import plotly  # noqa: F401
except ImportError:  # a GPU image without plotly: this script draws nothing, so minilib's figure setup is skipped
    sys.modules["minilib.display"] = types.SimpleNamespace(register=lambda: None)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from minilib import cache, opposing, runtime  # noqa: E402
from minilib.opposing import analysis, costs  # noqa: E402
from minilib.opposing.experiment import WARM_ITERS  # noqa: E402

WARM = (1, 2, WARM_ITERS)


def models(size: str, device: str) -> dict[str, opposing.Config]:
    if size == "tiny":
        return {"toy (tiny)": opposing.Config(n=100, dim=10, width=8, device=device),
                "digits MLP (tiny)": opposing.digits_config(batch_size=0, n=128, width=16, device=device)}
    return {"toy": opposing.Config(device=device),
            "digits MLP": opposing.digits_config(batch_size=0, n=1024, device=device)}


def cost_table(size: str, device: str, reps: int, rounds: int) -> list[str]:
    return costs.cost_table(models(size, device), warm=WARM, reps=reps, rounds=rounds)


def accuracy_table(size: str, device: str, seeds: int) -> list[str]:
    every, around = 10, 4
    rows = [f"| toy seed | its spike's peak (step) | warm H·v per step | worst relative gap, every {every}th step "
            f"| worst relative gap, within {around} steps of the peak |", "|---|---|---|---|---|"]
    for seed in range(seeds):
        config, steps = (opposing.Config(n=100, dim=10, width=8, seed=seed, device=device), 40) if size == "tiny" \
            else (opposing.Config(seed=seed, device=device), 300)
        peak = costs.spike_step(config)
        worst = costs.accuracy_table(config, products=WARM, steps=steps, every=every, peak=peak, around=around)[1]
        rows += [f"| {seed} | {peak} | {k} | {far:.1e} | {near:.1e} |" for k, (far, near) in worst.items()]
    return rows


def shipped_table(size: str, device: str):
    """Yields the table's rows one at a time (each entry takes a while)."""
    yield from ["| entry | runs | seconds | worst relative deviation in the stretch (tolerance) | largest spike, "
            "device / stored (first runs) |", "|---|---|---|---|---|"]
    for name, entry in opposing.SHIPPED.items():
        configs = entry.configs()
        if size == "tiny":
            configs = [c.replace(steps=min(c.steps, 2 * entry.tolerance.steps)) for c in configs[:2]]
        start = time.perf_counter()
        runs = opposing.run_sweep([c.replace(device=device) for c in configs], progress=False)
        seconds = time.perf_counter() - start
        worst, spikes = 0.0, []
        for c, r in zip(configs, runs):
            stored = None if size == "tiny" else cache.lookup(opposing, c, shipped_only=True)
            mine = analysis.spike(r.history["loss"], r.history["step"])[0]
            if stored is None:
                spikes.append(f"{mine:.3g}")
                continue
            early = (stored.history["step"] <= entry.tolerance.steps)
            for metric, old in stored.history.items():
                if metric == "step":
                    continue
                new, ref = np.asarray(r.history[metric][early], float), np.asarray(old[early], float)
                ok = np.isfinite(ref) & (np.abs(ref) > 0)
                if ok.any():
                    worst = max(worst, float(np.max(np.abs(new[ok] - ref[ok]) / np.abs(ref[ok]))))
            spikes.append(f"{mine:.3g} / {analysis.spike(stored.history['loss'], stored.history['step'])[0]:.3g}")
        dev = f"{worst:.1e} ({entry.tolerance.rtol:g} over {entry.tolerance.steps} steps)" if size != "tiny" else "-"
        yield f"| {name} | {len(runs)} | {seconds:.1f} | {dev} | {'; '.join(spikes[:4])} |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=runtime.DEVICE_NAMES)
    parser.add_argument("--size", default="full", choices=("full", "tiny"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3, help="toy seeds for the accuracy of warm starts")
    parser.add_argument("--shipped", action="store_true", help="also train every shipped run on the device")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = runtime.pick_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.backends.cpu.get_cpu_capability()}, 1 thread"
    print(f"# {where}; torch {torch.__version__}; medians of {args.rounds} rounds of {args.reps} calls; float64",
          flush=True)
    print("\n".join(cost_table(args.size, args.device, args.reps, args.rounds)), flush=True)
    if args.seeds:
        print()
        print("\n".join(accuracy_table(args.size, args.device, args.seeds)), flush=True)
    if args.shipped:
        print()
        for row in shipped_table(args.size, args.device):
            print(row, flush=True)


if __name__ == "__main__":
    main()
