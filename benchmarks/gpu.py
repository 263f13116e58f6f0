"""Each chapter's training step on one CPU thread and on the GPU, side by side in one run; writes gpu.json.

    python benchmarks/gpu.py [--record benchmarks/gpu.json] [--quick]      (make bench-gpu)

Needs a CUDA device (without one it says so and exits 0, so `make bench` can run it anywhere). Rows:
- `grokking step p=113`: chapter 1's full-batch MLP step (p = 113, train fraction 0.4, width 200, AdamW,
  float32) on one CPU thread, on the GPU eagerly, and on the GPU replayed as one CUDA graph (the default).
- `grokking sweep 64 seeds / one run`: one step of 64 stacked seeds against one step of one run, on the GPU.
- one row per chapter's shipped configuration: the cost of a training step measured by running it for
  S and 2S steps and dividing the difference by S (set-up and the final evaluation cancel), on one CPU
  thread and on the GPU.
Before timing, the script records what else uses the machine (the GPU's utilisation and memory, the
compute processes nvidia-smi lists, and the host's load average), so the record says whether it was idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from minilib import benign, curvefit, grokking, opposing, pfn, projection  # noqa: E402
from minilib.grokking.experiment import _Experiment  # noqa: E402


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def per_call_ms(fn, device: str, reps: int, rounds: int = 5) -> float:
    """Median over rounds of the mean time of `reps` calls of fn (after one warm call), in ms."""
    fn()
    times = []
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        _sync(device)
        times.append((time.perf_counter() - start) / reps * 1e3)
    return statistics.median(times)


def grokking_step(device: str, replicas: int = 1, graphs: bool = True, reps: int = 50) -> float:
    """ms per step of chapter 1's MLP step (R stacked seeds)."""
    os.environ["MINILIB_CUDA_GRAPHS"] = "1" if graphs else "0"
    configs = [grokking.Config(seed=s, device=device) for s in range(replicas)]
    exp = _Experiment(configs)
    counter = iter(range(10**9))
    return per_call_ms(lambda: exp.step(next(counter)), device, reps)


def run_step_ms(module, config, steps: int, device: str) -> float:
    """ms per training step of `config`: (time of 2S steps − time of S steps) / S, through module.run."""
    field = "epochs" if hasattr(config, "epochs") else "steps"
    # Evaluations spread over the run (num_logs) are cut to the first and last step, which cancel; a fixed
    # cadence (log_every: chapters 2 and 3 evaluate, and measure sharpness, every few steps) stays: it is
    # part of what a step of that chapter costs.
    logs = {"num_logs": 2} if hasattr(config, "num_logs") else {}
    extra = {"log_dense_until": 0} if hasattr(config, "log_dense_until") else {}
    if hasattr(config, "checkpoint"):
        extra["checkpoint"] = ""  # a benchmark's run is no shipped model
    times = {}
    for s in (steps, 2 * steps):
        c = config.replace(device=device, **{field: s}, **logs, **extra)
        _sync(device)
        start = time.perf_counter()
        module.run(c, progress=False)
        _sync(device)
        times[s] = time.perf_counter() - start
    return max(times[2 * steps] - times[steps], 0.0) / steps * 1e3


def chapter_rows(quick: bool) -> list[tuple[str, object, object, int, int]]:
    """(name, module, config, S on the CPU, S on the GPU) for each chapter's shipped configuration."""
    f = (lambda n: max(1, n // 4)) if quick else (lambda n: n)
    first = lambda m, name: m.SHIPPED[name].configs()[0]  # noqa: E731
    return [
        ("curvefit step (chapter 0)", curvefit, curvefit.Config(seed=0), f(2000), f(1000)),
        ("benign step p=10 000, 1 seed (chapter 2)", benign, first(benign, "cheap"), f(100), f(400)),
        ("benign step p=40 000, paper size, 1 seed (chapter 2)", benign, first(benign, "paper"), f(4), f(200)),
        ("opposing toy step (chapter 3)", opposing, first(opposing, "toy"), f(300), f(300)),
        ("opposing digits step (chapter 3)", opposing, first(opposing, "digits"), f(600), f(400)),
        ("projection SupCon step (chapter 4)", projection, first(projection, "supcon"), f(100), f(400)),
        ("projection SimCLR step (chapter 4)", projection, first(projection, "simclr"), f(40), f(400)),
        ("pfn GP step (chapter 5)", pfn, first(pfn, "gp"), f(100), f(200)),
        ("pfn learning-curve step (chapter 5)", pfn, first(pfn, "lc"), f(20), f(200)),
    ]


def machine_state() -> dict:
    """What else was using the machine just before timing."""
    state = {"loadavg": os.getloadavg(), "cpus": os.cpu_count()}
    query = ["nvidia-smi", "--query-gpu=name,utilization.gpu,memory.used,memory.total", "--format=csv,noheader"]
    apps = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"]
    for key, cmd in (("gpu", query), ("gpu_processes", apps)):
        try:
            state[key] = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError) as err:
            state[key] = f"unavailable: {err}"
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--quick", action="store_true", help="a quarter of the steps (a smoke run)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: torch sees no CUDA device; nothing to measure here")
        return
    torch.set_num_threads(1)  # the CPU column: one thread, as the CPU benchmarks are recorded
    before = machine_state()
    idle = before["gpu_processes"] == "" and before["loadavg"][0] < 2.0
    host = platform.processor() or platform.machine()
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, host {host}")
    print(f"before timing: {before}")
    rows = []

    def add(row: dict) -> None:
        rows.append(row)
        print(" | ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)

    cpu = grokking_step("cpu", reps=10)
    eager = grokking_step("cuda", graphs=False)
    graphed = grokking_step("cuda", graphs=True)
    add({"name": "grokking step p=113", "cpu_ms": cpu, "gpu_ms": graphed, "gpu_eager_ms": eager,
         "speedup": cpu / graphed, "speedup_eager": cpu / eager})
    many = grokking_step("cuda", replicas=64, graphs=True, reps=20)
    many_eager = grokking_step("cuda", replicas=64, graphs=False, reps=20)
    add({"name": "grokking sweep 64 seeds / one run", "gpu_ms": many, "one_run_gpu_ms": graphed,
         "ratio": many / graphed, "gpu_eager_ms": many_eager, "ratio_eager": many_eager / eager})
    os.environ["MINILIB_CUDA_GRAPHS"] = "1"
    for name, module, config, s_cpu, s_gpu in chapter_rows(args.quick):
        try:
            c_ms = run_step_ms(module, config, s_cpu, "cpu")
            g_ms = run_step_ms(module, config, s_gpu, "cuda")
        except Exception as err:  # one chapter's failure must not lose the other rows: record it
            add({"name": name, "error": f"{type(err).__name__}: {err}"[:300]})
            continue
        add({"name": name, "cpu_ms": c_ms, "gpu_ms": g_ms, "speedup": c_ms / g_ms if g_ms > 0 else float("nan"),
             "steps_timed_cpu": s_cpu, "steps_timed_gpu": s_gpu})
    record = {"device": torch.cuda.get_device_name(0), "recorded": time.strftime("%Y-%m-%d"),
              "torch": torch.__version__, "idle": idle, "machine_before": before,
              "cpu": f"{platform.processor() or platform.machine()}, one thread", "rows": rows}
    if args.record is not None:
        tmp = args.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(args.record)
        print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
