"""Operators per training step, counted on the CPU: the proxy for GPU kernel launches that any machine can watch.

    python benchmarks/launches.py            (part of make bench)

On a GPU a small model's step costs what launching its kernels costs (benchmarks/gpu.py: chapter 1's step
took 2.86 ms launched op by op and 0.31 ms replayed as one CUDA graph). Each leaf ATen operator of a step
launches about one kernel there, so the count of leaf operators per step, measured on a CPU with
torch.profiler, tells a change that adds launches without a GPU. The count is exact (no timing noise):
each chapter's shipped configuration runs for S and 2S steps under the profiler, and the difference is
divided by S, so set-up and the final evaluation cancel.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from minilib import benign, curvefit, grokking, opposing, pfn, projection  # noqa: E402


def leaf_ops(fn) -> int:
    """Number of ATen operators that call no other operator, run by fn()."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and not e.cpu_children)


def ops_per_step(module, config, steps: int) -> float:
    field = "epochs" if hasattr(config, "epochs") else "steps"
    logs = {"num_logs": 2} if hasattr(config, "num_logs") else {}
    extra = {"log_dense_until": 0} if hasattr(config, "log_dense_until") else {}
    if hasattr(config, "checkpoint"):
        extra["checkpoint"] = ""
    counts = {}
    for s in (steps, 2 * steps):
        c = config.replace(device="cpu", **{field: s}, **logs, **extra)
        counts[s] = leaf_ops(lambda c=c: module.run(c, progress=False))
    return (counts[2 * steps] - counts[steps]) / steps


ROWS = [
    ("chapter 0: curve-fitting MLP", curvefit, lambda: curvefit.Config(seed=0), 20),
    ("chapter 1: MLP, p = 113, AdamW", grokking, lambda: grokking.SHIPPED["adamw_long"].configs()[0], 4),
    ("chapter 1: MLP, ⊥AdamW", grokking, lambda: grokking.Config(optimizer="perp_adamw"), 4),
    ("chapter 2: XOR clusters, p = 10 000 (evaluated every step)", benign,
     lambda: benign.SHIPPED["cheap"].configs()[0], 4),
    ("chapter 3: toy (evaluated every step, sharpness every 10)", opposing,
     lambda: opposing.SHIPPED["toy"].configs()[0], 20),
    ("chapter 3: digits MLP (evaluated every 10, sharpness every 20)", opposing,
     lambda: opposing.SHIPPED["digits"].configs()[0], 20),
    ("chapter 4: SupCon", projection, lambda: projection.SHIPPED["supcon"].configs()[0], 4),
    ("chapter 4: SimCLR", projection, lambda: projection.SHIPPED["simclr"].configs()[0], 2),
    ("chapter 5: GP-prior PFN", pfn, lambda: pfn.SHIPPED["gp"].configs()[0], 4),
    ("chapter 5: learning-curve PFN", pfn, lambda: pfn.SHIPPED["lc"].configs()[0], 2),
]


def main() -> None:
    torch.set_num_threads(1)
    print("| step | leaf operators per step (~ GPU kernel launches) |")
    print("|---|---|")
    for name, module, config, steps in ROWS:
        print(f"| {name} | {ops_per_step(module, config(), steps):.0f} |", flush=True)


if __name__ == "__main__":
    main()
