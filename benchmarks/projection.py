"""Performance claims of chapter 4 (projection heads); prints a table. Not part of the tests.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/projection.py [--device cpu|cuda|auto] [--threads 1] [--rounds 3]
        [--tiny] [--full ENTRY ...]

1. Probes: 100 logistic-regression probes (scikit-learn's objective, C = 1) fitted as one batched Newton
   solve (`minilib.projection.probe.fit`, on --device) against a Python loop of scikit-learn fits (CPU),
   on the chapter's 16-d representations with 10 and 1000 labels; and the digits' one-vs-rest probes (10
   trials × 10 classes, 64 pixels, 1000 labels) against scikit-learn's OneVsRestClassifier. Medians over
   rounds, measured side by side.
2. The linear model: wall time until the population loss is within 1% of its minimum −Σ(1 − ρ)², training
   on the exact population loss (the library) against training on sampled pairs (the same gradient
   descent on the spectral loss estimated from a fresh batch of 1024 pairs per step), and their ratio.
3. SimCLR on the digits: training steps per second of 3 seeds, one replica after the other (what a CPU
   does) against all replicas in one stacked pass (what a GPU does; `replicas.force_stacked`).
With --full ENTRY ...: train those shipped entries at full size on --device and print their mean probe
accuracies next to the shipped (CPU) results.

--tiny shrinks every size (a smoke test of the script, e.g. of a --device cuda path, in seconds).
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
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402

from minilib import cache, projection, replicas, runtime  # noqa: E402
from minilib.projection import data, experiment, losses, models, probe  # noqa: E402
from minilib.timing import sync, timed  # noqa: E402


def probes(n: int, trials: int, rounds: int, device: torch.device) -> tuple[float, float, float]:
    """(batched seconds, loop seconds, largest accuracy difference) for `trials` binary probes with n labels."""
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor(projection.FEATURE_SCALES, dtype=torch.float64)
    W1 = torch.randn(16, 8, generator=gen, dtype=torch.float64)
    z, x = data.sample_linear(3400, scales, gen)
    rep, y = x @ W1.T, (z[:, 4] > 0).long()
    pool, test = probe.rms_normalise(rep[:2400], rep[2400:])
    idx = probe.draw_labelled(y[:2400], n, trials, gen)
    ty = y[2400:]
    d_pool, d_test, d_y, d_idx, d_ty = (t.to(device) for t in (pool, test, y, idx, ty))

    def batched():
        return (probe.predict(probe.fit(d_pool[d_idx], d_y[d_idx]), d_test) == d_ty).double().mean(-1).cpu().numpy()

    def loop():
        return np.array([(LogisticRegression(C=probe.C).fit(pool[i].numpy(), y[i].numpy()).predict(test.numpy())
                          == ty.numpy()).mean() for i in idx])

    ours, theirs = batched(), loop()  # also the warm-up calls
    ours_s, theirs_s = timed(batched, device, rounds=rounds).wall, timed(loop, "cpu", rounds=rounds).wall
    return ours_s, theirs_s, float(np.abs(ours - theirs).max())


def digit_probes(n: int, trials: int, rounds: int, device: torch.device) -> tuple[float, float, float]:
    """The same comparison for one-vs-rest probes of the digit from the 64 pixels (10 classes)."""
    pool_x, pool_y, test_x, test_y = data.load_digits()
    pool, test = probe.rms_normalise(pool_x.flatten(1), test_x.flatten(1))
    idx = probe.draw_labelled(pool_y, n, trials, torch.Generator().manual_seed(0), classes=10)
    d_pool, d_test, d_y, d_idx, d_ty = (t.to(device) for t in (pool, test, pool_y, idx, test_y))

    def batched():
        theta = probe.fit_multiclass(d_pool[d_idx], d_y[d_idx], 10)
        return (probe.predict_multiclass(theta, d_test) == d_ty).double().mean(-1).cpu().numpy()

    def loop():
        return np.array([(OneVsRestClassifier(LogisticRegression(C=probe.C)).fit(pool[i].numpy(), pool_y[i].numpy())
                          .predict(test.numpy()) == test_y.numpy()).mean() for i in idx])

    ours, theirs = batched(), loop()  # also the warm-up calls
    ours_s, theirs_s = timed(batched, device, rounds=rounds).wall, timed(loop, "cpu", rounds=rounds).wall
    return ours_s, theirs_s, float(np.abs(ours - theirs).max())


def time_to_one_percent(sampled: bool, device: torch.device, max_steps: int = 30_000,
                        batch: int = 1024) -> tuple[float | None, int]:
    """Seconds (and steps) of gradient descent until the population loss is within 1% of its minimum."""
    cfg = projection.LinearConfig(init_scale=0.05)
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor(cfg.feature_scales, dtype=torch.float64)
    drops = torch.tensor(cfg.drop_probs, dtype=torch.float64)
    m, s = (v.to(device) for v in data.second_moments(scales, drops))
    d_scales, d_drops = scales.to(device), drops.to(device)
    sample_gen = torch.Generator(device=device).manual_seed(0)
    target = float(losses.spectral_minimum(m, s)) * 0.99
    ws = models.linear_weights(8, cfg.hidden, cfg.head_dim, cfg.depth, [cfg.init_scale], [gen], device)
    sync(device)
    start = time.perf_counter()
    for step in range(1, max_steps + 1):
        if sampled:  # the pairs are drawn on the device (a CPU draw and copy per step would dominate a GPU)
            z, x = data.sample_linear(batch, d_scales, sample_gen)
            x_pos = data.augment(z, d_drops, sample_gen) * d_scales
            x_other = data.sample_linear(batch, d_scales, sample_gen)[1]
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
                sync(device)
                return time.perf_counter() - start, step
    return None, max_steps


def simclr_steps_per_second(device: torch.device, steps: int, seeds: int = 3, batch: int = 256) -> dict:
    """Training steps per second of `seeds` SimCLR replicas, one at a time and stacked."""
    configs = [projection.simclr_config(seed=s, batch_size=batch, device=device.type) for s in range(seeds)]
    out = {}
    for name, stacked in (("one replica at a time", False), ("stacked replicas", True)):
        exp = experiment._SimCLR(configs)
        with replicas.force_stacked(stacked):
            for i in range(3):  # warm-up (CUDA kernels, allocator)
                exp.step(i)
            sync(device)
            start = time.perf_counter()
            for i in range(steps):
                exp.step(i)
            sync(device)
        out[name] = steps / (time.perf_counter() - start)
    return out


def full_size(name: str, device: torch.device, tiny: bool = False) -> None:
    """Train one shipped entry at full size on `device`; its mean probe grids next to the shipped ones.
    (tiny: 5 steps, one probe draw: a test of this function, not a result.)"""
    configs = [c.replace(device=device.type) for c in projection.SHIPPED[name].configs()]
    if tiny:
        configs = [c.replace(steps=5, num_logs=2, probe_trials=1) for c in configs]
    start = time.perf_counter()
    runs = projection.run_sweep(configs, progress=False)
    seconds = time.perf_counter() - start
    stored = [cache.lookup(projection, c, shipped_only=True) for c in projection.SHIPPED[name].configs()]
    print(f"\n| {name} on {device.type} ({len(runs)} runs, {seconds:.1f} s) | labels | before the head | "
          "after the head | shipped (CPU) before | shipped (CPU) after |")
    print("|---|---|---|---|---|---|")
    groups = {}  # runs that differ only in seed are shown together
    for run, old in zip(runs, stored):
        key = tuple((k, v) for k, v in run.config.to_dict().items() if k not in ("seed", "device"))
        groups.setdefault(key, []).append((run, old))
    for key, pairs in groups.items():
        fields = dict(key)
        label = "MLP head" if fields["head"] == "mlp" else f"reweighting head κ = {fields['kappa']}"
        for i, n in enumerate(projection.PROBE_GRID):
            if n not in (10, 100, 1000):
                continue
            mean = lambda rs, k, i=i: np.mean([r.artifacts[k][i] for r in rs])
            new = [r for r, _ in pairs]
            old = [o for _, o in pairs if o is not None]
            olds = (f"{mean(old, 'probe_pre_grid'):.3f} | {mean(old, 'probe_post_grid'):.3f}" if old
                    else "not shipped | not shipped")
            print(f"| {label} | {n} | {mean(new, 'probe_pre_grid'):.3f} | {mean(new, 'probe_post_grid'):.3f} | "
                  f"{olds} |")


def probe_table(device: torch.device, rounds: int, tiny: bool) -> None:
    print(f"\n| probes on {device.type} | batched Newton (s) | scikit-learn loop, CPU (s) | loop / batched | "
          "max |accuracy difference| |")
    print("|---|---|---|---|---|")
    trials = 10 if tiny else 100
    for n in (10, 1000):
        ours, theirs, diff = probes(n, trials, rounds, device)
        print(f"| {trials} binary probes, 16-d, {n} labels | {ours:.3f} | {theirs:.3f} | {theirs / ours:.1f}x | "
              f"{diff:.3f} |")
    n, trials = (100, 2) if tiny else (1000, 10)
    ours, theirs, diff = digit_probes(n, trials, rounds, device)
    print(f"| {trials} one-vs-rest digit probes, 64 pixels, {n} labels | {ours:.3f} | {theirs:.3f} | "
          f"{theirs / ours:.1f}x | {diff:.3f} |")


def linear_table(device: torch.device, tiny: bool) -> None:
    print(f"\n| linear model on {device.type}, GD lr 0.02, init 0.05, to within 1% of the minimum | seconds | steps |")
    print("|---|---|---|")
    found = {}
    for name, sampled in (("exact population loss (library)", False), ("sampled pairs, batch 1024", True)):
        seconds, steps = time_to_one_percent(sampled, device, max_steps=300 if tiny else 30_000)
        found[sampled] = seconds
        shown = f"{seconds:.2f}" if seconds is not None else f"not reached in {steps} steps"
        print(f"| {name} | {shown} | {steps} |")
    if None not in found.values():
        print(f"| sampled / exact | {found[True] / found[False]:.1f}x | |")


def simclr_table(device: torch.device, tiny: bool) -> None:
    batch = 32 if tiny else 256
    rates = simclr_steps_per_second(device, 3 if tiny else 50, batch=batch)
    print(f"\n| SimCLR on the digits, 3 seeds, batch {batch}, on {device.type} | steps / s |")
    print("|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} |")
    print(f"| stacked / one at a time | {rates['stacked replicas'] / rates['one replica at a time']:.2f}x |")


def _section(fn, *args) -> None:
    """Run one table; an error is printed as a line of its own and the other tables still run."""
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001 - a benchmark reports what failed and goes on
        print(f"\n**{fn.__name__} failed:** {type(err).__name__}: {err}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=runtime.DEVICE_NAMES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a quick test of the script")
    parser.add_argument("--full", nargs="*", default=[], choices=sorted(projection.SHIPPED),
                        help="shipped entries to train at full size on --device")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = runtime.pick_device(args.device)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    print(f"# projection benchmarks: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.backends.cpu.get_cpu_capability()}, {args.threads} CPU thread(s), device {device} ({card}); "
          f"load average {os.getloadavg()[0]:.1f} (wall times on a busy machine are long)", flush=True)
    _section(probe_table, device, 1 if args.tiny else args.rounds, args.tiny)
    _section(linear_table, device, args.tiny)
    _section(simclr_table, device, args.tiny)
    for name in args.full:
        _section(full_size, name, device, args.tiny)
    print(f"\n# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
