"""Performance claims of chapter 5 (PFN); prints a table. Not part of the tests.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/pfn.py [--device cpu|cuda] [--threads 1] [--datasets 1000]

1. Inference per dataset, in a batch of `--datasets` fresh datasets with 20 context points and 10
   queries each: the PFN's forward pass (the shipped "gp" network when present, else the same shape
   untrained: the cost is the same), the exact GP posterior (fixed ℓ, float64 Cholesky), the exact
   hyperprior mixture (4 lengthscales), and Metropolis–Hastings over the lengthscale (2000 steps, the
   general route when no closed form exists). Medians over rounds, measured in alternation.
2. Training throughput: prior datasets per second of the default training step (batch 64, T = 30,
   d 64, 4 layers, K = 1000), sampling included.
"""

from __future__ import annotations

import argparse
import os
import platform

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from minilib import pfn, runtime  # noqa: E402
from minilib.pfn import experiment, gp  # noqa: E402
from minilib.timing import sync, timed  # noqa: E402


def predictor_for(device) -> tuple[pfn.Predictor, str]:
    try:
        return pfn.load_pretrained("gp", device=device), "shipped gp network"
    except FileNotFoundError:
        torch.manual_seed(0)
        model = pfn.PFN(1000).to(device).eval()
        return pfn.Predictor(model, pfn.BarDistribution(torch.linspace(-4, 4, 1001))), "untrained, same shape"


def inference(device, n_datasets: int, rounds: int, mcmc_steps: int) -> list[tuple[str, float]]:
    gen = torch.Generator().manual_seed(0)
    x, y = gp.sample_gp(n_datasets, 30, gen)
    xc, yc, xq, yq = x[:, :20], y[:, :20], x[:, 20:], y[:, 20:]
    pred, what = predictor_for(device)
    xc_d, yc_d, xq_d, yq_d = (t.to(device) for t in (xc, yc, xq, yq))

    def pfn_pass():
        with torch.no_grad():
            logits = pred.model(xc_d, yc_d, xq_d)
            return pred.bar.log_prob(logits, yq_d)

    xc64, yc64, xq64, yq64 = (t.to(device, torch.float64) for t in (xc, yc, xq, yq))
    rows = [(f"PFN forward + log-likelihood ({what})", timed(pfn_pass, device, rounds=rounds, warmup=True)),
            ("exact GP posterior (fixed ℓ, float64 Cholesky)",
             timed(lambda: gp.gp_log_prob(xc64, yc64, xq64, yq64), device, rounds=rounds, warmup=True)),
            ("exact hyperprior mixture (4 lengthscales)",
             timed(lambda: gp.hyper_log_prob(xc64, yc64, xq64, yq64), device, rounds=rounds, warmup=True))]
    if mcmc_steps:
        g2 = torch.Generator().manual_seed(1)
        mh = lambda: gp.mcmc_hyper_log_prob(xc.double(), yc.double(), xq.double(), yq.double(), steps=mcmc_steps,
                                            burn_in=mcmc_steps // 4, generator=g2)
        rows.append((f"MCMC over the lengthscale ({mcmc_steps} Metropolis-Hastings steps, CPU)",
                     timed(mh, torch.device("cpu"), rounds=max(1, rounds // 3), warmup=True)))
    return rows


def training(device, steps: int) -> tuple[float, float]:
    config = pfn.Config(device=str(device))
    sample = experiment.gp_sampler(config)
    borders = torch.linspace(-4, 4, config.n_buckets + 1)
    pfn.train_pfn(sample, steps=5, device=str(device), borders=borders, progress=False, num_logs=2)  # warm-up
    sync(device)
    res = pfn.train_pfn(sample, steps=steps, device=str(device), borders=borders, progress=False, num_logs=2)
    sync(device)
    return steps * config.batch_size / res.seconds, steps / res.seconds, steps / res.cpu_seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=runtime.DEVICE_NAMES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mcmc-steps", type=int, default=2000, help="0 skips the MCMC row")
    parser.add_argument("--train-steps", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = runtime.pick_device(args.device)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or
                                                                               platform.machine())
    print(f"# torch {torch.__version__}, device {device} ({card}), {torch.get_num_threads()} CPU thread(s), "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"\n## inference: {args.datasets} datasets, 20 context points, 10 queries each\n")
    print("| method | wall ms per batch | ms per dataset (wall) | CPU ms per dataset | / PFN (wall) | / PFN (CPU) |\n"
          "|---|---|---|---|---|---|")
    rows = inference(device, args.datasets, args.rounds, args.mcmc_steps)
    wall0, cpu0 = rows[0][1]
    for name, (wall, cpu) in rows:
        print(f"| {name} | {1e3 * wall:.1f} | {1e3 * wall / args.datasets:.4f} | {1e3 * cpu / args.datasets:.4f} | "
              f"{wall / wall0:.2f}x | {cpu / cpu0:.2f}x |")
    per_s, steps_s, cpu_steps_s = training(device, args.train_steps)
    print(f"\n## training (batch 64, T = 30, d 64, 4 layers, K = 1000, sampling included)\n\n"
          f"{per_s:,.0f} datasets/s ({steps_s:.1f} steps/s wall; {cpu_steps_s:.1f} steps per CPU second) over "
          f"{args.train_steps} steps on {device}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
