"""Performance claim of chapter 5's learning-curve section: the LC-PFN against MCMC, per curve; prints a table.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/pfn_lc.py [--device cpu|cuda] [--curves 3] [--rounds 20]

Measured side by side in one process with one CPU thread, on the comparison's test curves cut at epoch 20:
1. the LC-PFN's prediction for one curve (all 80 later epochs, one forward pass; the shipped "lc" network
   when present, else the same shape untrained: the cost is the same), and per curve in a batch of 30;
2. the MCMC baseline's run for one curve at the shipped settings (pfn.shipped.lc_mcmc: 128 walkers,
   16 000 steps), on `--curves` curves;
3. the LC-PFN's training throughput (curves per second of the shipped training step, prior sampling included).
The ratio is MCMC CPU seconds per curve over the LC-PFN's (wall time on a GPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from minilib import pfn, runtime  # noqa: E402
from minilib.pfn import lc, mcmc, shipped  # noqa: E402
from minilib.timing import timed  # noqa: E402


def predictor_for(device) -> tuple[pfn.Predictor, str]:
    try:
        return pfn.load_pretrained("lc", device=device), "shipped lc network"
    except FileNotFoundError:
        torch.manual_seed(0)
        model = pfn.PFN(1000).to(device).eval()
        return pfn.Predictor(model, pfn.BarDistribution(torch.linspace(-0.2, 1.2, 1001))), "untrained, same shape"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=runtime.DEVICE_NAMES)
    parser.add_argument("--curves", type=int, default=3, help="MCMC runs timed (0 skips MCMC)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--cut", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    device = runtime.pick_device(args.device)
    cut = lc.check_cut(args.cut)
    model, what = predictor_for(device)
    test = lc.test_curves()
    x = torch.arange(1, lc.EPOCHS + 1)  # epoch numbers: the LC-PFN's predict scales them

    def one():
        model.predict(x[:cut], test.y[0, :cut].float(), x[cut:]).log_prob(test.y[0, cut:].float())

    def batch():
        lc.heldout_pfn(model, test.y, cut)

    rows = []
    wall, cpu = timed(one, device, rounds=args.rounds, warmup=True)
    rows.append(("LC-PFN, one curve", wall, cpu))
    wall, cpu = timed(batch, device, rounds=max(3, args.rounds // 4), warmup=True)
    rows.append((f"LC-PFN, per curve in a batch of {len(test.y)}", wall / len(test.y), cpu / len(test.y)))
    config = shipped.lc_mcmc()[0]
    if args.curves > 0:
        jobs = [mcmc.heldout_score(test.y[i].numpy(), cut, config, seed=config.seed + 1000 * cut + i)
                for i in range(args.curves)]
        rows.append((f"MCMC ({config.walkers} walkers, {config.steps} steps), one curve",
                     float(np.median([j["seconds"] for j in jobs])),
                     float(np.median([j["cpu_seconds"] for j in jobs]))))
    c = shipped.lc_model()[0]
    borders = model.bar.borders  # given, so that only the training steps are timed
    pfn.train_pfn(lc.sample_batch, n_buckets=c.n_buckets, borders=borders, steps=3, device=args.device,
                  num_logs=2, progress=False)  # warm-up
    start, cpu0 = time.perf_counter(), time.process_time()
    pfn.train_pfn(lc.sample_batch, n_buckets=c.n_buckets, d_model=c.d_model, n_layers=c.n_layers, n_heads=c.n_heads,
                  d_ff=c.d_ff, borders=borders, steps=args.train_steps, batch_size=c.batch_size, lr=c.lr,
                  min_context=c.min_context, device=args.device, num_logs=2, progress=False)
    train_wall, train_cpu = time.perf_counter() - start, time.process_time() - cpu0

    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# LC-PFN vs MCMC per curve (cut {cut}), {device.type} ({card}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; network: {what}")
    print("| what | wall per curve | CPU per curve |\n|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall * 1e3:.3f} ms | {cpu * 1e3:.3f} ms |")
    if args.curves > 0:
        mc_cpu, one_cpu, one_wall = rows[-1][2], rows[0][2], rows[0][1]
        pfn_cost = one_wall if device.type == "cuda" else one_cpu
        print(f"\nMCMC / LC-PFN (one curve): {mc_cpu / pfn_cost:,.0f}x "
              f"({'MCMC CPU over PFN wall on the GPU' if device.type == 'cuda' else 'CPU time over CPU time'})")
    print(f"LC-PFN training: {args.train_steps} steps of {c.batch_size} curves in {train_wall:.1f} s wall, "
          f"{train_cpu:.1f} s CPU: {args.train_steps / train_wall:.2f} steps/s wall, "
          f"{args.train_steps / train_cpu:.2f} per CPU second "
          f"({args.train_steps * c.batch_size / train_wall:.0f} curves/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
