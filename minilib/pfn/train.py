"""One training loop for a PFN on any prior: fresh prior datasets every step, NLL of the bar distribution.

    result = train_pfn(sample_batch, n_buckets=1000, steps=20_000, device="cuda")
    result.predictor.predict(x_train, y_train, x_test).log_prob(y_test)

`sample_batch(batch_size, generator) -> (x (B, T, x_dim), y (B, T))` draws B new datasets of T points
from the prior (on the CPU, from the given generator, so the data are the same on every device). Each
step draws one batch, picks a context size n uniformly in {min_context, ..., T − 1}, and trains the
network to predict the remaining T − n points of each dataset from its first n: the loss is the mean
negative log-likelihood of those targets under the predicted bar distribution. Minimising it over the
prior is minimising the expected KL divergence from the true posterior predictive to the network's
(Müller et al. 2022, Corollary 1.1), so the loss is an objective for approximate Bayesian inference.

AdamW, linear warm-up then cosine decay to 0, gradient-norm clipping at 1. The loop is
`minilib.train.train` (on_step, stop, NaN -> "diverged"); the bucket borders are quantiles of targets
drawn from the same prior with a separate generator, unless given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .. import runtime
from ..train import TrainLog, log_steps, train
from . import bar as bar_lib
from .bar import BarDistribution
from .model import PFN, ModelConfig, Predictor

#: Offset of the generator that draws the samples behind the bucket borders (separate from training data).
BORDER_SEED_OFFSET = 7919
#: Targets drawn for the borders, per bucket.
BORDER_SAMPLES_PER_BUCKET = 200


@dataclass
class TrainResult:
    """A trained predictor and how training went."""

    predictor: Predictor
    log: TrainLog
    seconds: float
    cpu_seconds: float
    steps: int  # steps actually taken (fewer than asked when stopped or diverged)
    device: torch.device


def lr_factor(step: int, steps: int, warmup_fraction: float) -> float:
    """Multiplier of the peak learning rate at `step` (0-based): linear warm-up, then cosine to 0."""
    warm = max(1, round(warmup_fraction * steps))
    if step < warm:
        return (step + 1) / warm
    span = max(1, steps - warm)
    return 0.5 * (1 + math.cos(math.pi * min(step - warm, span) / span))


def prior_borders(sample_batch: Callable, n_buckets: int, seed: int, samples: int | None = None) -> torch.Tensor:
    """Bucket borders at quantiles of the prior's targets (drawn with the generator seed + BORDER_SEED_OFFSET)."""
    gen = torch.Generator().manual_seed(seed + BORDER_SEED_OFFSET)
    want = samples or BORDER_SAMPLES_PER_BUCKET * n_buckets
    ys, have = [], 0
    while have < want:
        _, y = sample_batch(1024, gen)
        ys.append(y.reshape(-1))
        have += ys[-1].numel()
    return bar_lib.borders_from_samples(torch.cat(ys)[:want], n_buckets)


def split_batch(x: torch.Tensor, y: torch.Tensor, n: int):
    """The first n points of every dataset are its context, the rest its queries: (x_ctx, y_ctx, x_qry, y_qry)."""
    return x[:, :n], y[:, :n], x[:, n:], y[:, n:]


def _check_positive_int(name, v, low=1):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
        raise ValueError(f"train_pfn: {name}={v!r} must be an integer >= {low}")


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a run on `device` (CUDA: free device memory; CPU: the system's available memory),
    or None where it cannot be told."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "cpu":
            import psutil

            return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - no measure: no refusal
        return None
    return None


def memory_estimate(*, n_buckets: int, d_model: int, n_layers: int, n_heads: int, d_ff: int, batch_size: int,
                    seq_len: int) -> int:
    """Bytes one training step needs, roughly (float32): weights with their gradients and AdamW's two
    moments, the activations kept for the backward pass (attention scores B·H·T² per layer, about three
    copies), the logits B·T·K with their log-softmax and gradient, and the prior samples behind the
    bucket borders (200 per bucket, float64, sorted once). The count of those alone fell short of the
    measured peak, so it is scaled: measured growth of the peak resident memory of 2-step CPU runs of
    the default network (batch 64) against this estimate: seq_len 30, K 1000: 234 vs 323 MiB;
    seq_len 400: 3767 vs 4286 MiB; K 20 000: 1044 vs 1344 MiB (torch 2.13 CPU, one thread)."""
    B, T, K, L, H = batch_size, seq_len, n_buckets, n_layers, n_heads
    params = L * (4 * d_model * d_model + 2 * d_model * d_ff) + (d_model + K) * d_ff
    act = L * B * T * (12 * d_model + 3 * d_ff) + 3 * L * B * H * T * T + 4 * B * T * K
    borders = 3 * 2 * BORDER_SAMPLES_PER_BUCKET * K  # float64 = two float32 words
    return int(1.5 * 4 * (4 * params + act + borders)) + 200 * 2**20


def _check_memory(dev: torch.device, **shape) -> None:
    need = memory_estimate(**shape)
    have = available_bytes(dev)
    if have is not None and need > 0.8 * have:
        sizes = ", ".join(f"{k}={v}" for k, v in shape.items())
        raise ValueError(f"train_pfn: this run needs about {need / 2**30:.1f} GiB for one training step ({sizes}), "
                         f"but {dev.type} has {have / 2**30:.1f} GiB available: make batch_size, seq_len, n_buckets "
                         "or the network smaller")


def train_pfn(sample_batch: Callable, *, n_buckets: int = 1000, d_model: int = 64, n_layers: int = 4,
              n_heads: int = 4, d_ff: int = 128, x_dim: int = 1, borders=None, steps: int = 1000,
              batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 0.0, warmup_fraction: float = 0.1,
              clip: float = 1.0, min_context: int = 0, seed: int = 0, device: str = "auto",
              evaluate: Callable[[Predictor], dict] | None = None, log_at=None, num_logs: int = 21,
              log_spaced: bool = False, on_step: Callable | None = None, stop=None, progress: bool = True,
              desc: str = "PFN") -> TrainResult:
    """Train a PFN on datasets from `sample_batch` and return the predictor with its training log.

    `evaluate(predictor) -> dict of floats` adds metrics at every logged step (the model is in eval
    mode and no gradients are taken); `train_loss` (the mean loss of the steps since the previous log,
    NaN at step 0) is always logged. `log_at` (steps) overrides `num_logs`/`log_spaced`.
    `device`: "auto" | "cpu" | "cuda" | "mps".
    """
    _check_positive_int("steps", steps, 0)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("min_context", min_context, 0)
    for name, v, low, high in (("lr", lr, 0.0, 10.0), ("weight_decay", weight_decay, 0.0, 100.0),
                               ("warmup_fraction", warmup_fraction, 0.0, 1.0), ("clip", clip, 0.0, 1e6)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or not low <= v <= high or (name == "lr" and v == 0):
            raise ValueError(f"train_pfn: {name}={v!r} is out of range: allowed {low} {'<' if name == 'lr' else '<='} "
                             f"{name} <= {high}")
    mconf = ModelConfig(n_buckets, d_model, n_layers, n_heads, d_ff, x_dim)
    dev = runtime.pick_device(device)
    start, cpu_start = time.perf_counter(), time.process_time()

    gen = torch.Generator().manual_seed(seed)
    x0, y0 = sample_batch(1, torch.Generator().manual_seed(seed))
    if x0.dim() != 3 or x0.shape[-1] != x_dim or y0.shape != x0.shape[:2]:
        raise ValueError(f"sample_batch must return x (B, T, {x_dim}) and y (B, T); got {tuple(x0.shape)}, "
                         f"{tuple(y0.shape)}")
    T = x0.shape[1]
    if not 0 <= min_context < T:
        raise ValueError(f"train_pfn: min_context={min_context} must be below the datasets' length T={T} "
                         "(each step keeps at least one query)")
    _check_memory(dev, n_buckets=n_buckets, d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff,
                  batch_size=batch_size, seq_len=T)
    bar = BarDistribution(borders if borders is not None else prior_borders(sample_batch, n_buckets, seed))
    if bar.n_buckets != n_buckets:
        raise ValueError(f"train_pfn: {bar.n_buckets + 1} borders given for n_buckets={n_buckets}")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PFN.from_config(mconf)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    predictor = Predictor(model, bar)
    borders_dev = bar  # the loss evaluates the bar distribution on the model's device
    running = {"sum": torch.zeros((), device=dev), "count": 0}

    def step(i: int) -> torch.Tensor:
        x, y = sample_batch(batch_size, gen)
        n = int(torch.randint(min_context, T, (1,), generator=gen))
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(i, steps, warmup_fraction)
        x_ctx, y_ctx, x_qry, y_qry = split_batch(x, y, n)
        logits = model(x_ctx, y_ctx, x_qry)
        loss = -borders_dev.log_prob(logits, y_qry).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        running["sum"] = running["sum"] + loss.detach()
        running["count"] += 1
        return loss.detach()

    def do_evaluate() -> dict:
        c = running["count"]
        metrics = {"train_loss": float(running["sum"]) / c if c else float("nan")}
        running["sum"], running["count"] = torch.zeros((), device=dev), 0
        if evaluate is not None:
            model.eval()
            try:
                with torch.no_grad():
                    metrics |= {k: float(v) for k, v in evaluate(predictor).items()}
            finally:
                model.train()
        return metrics

    schedule = log_at if log_at is not None else log_steps(steps, num_points=num_logs, log=log_spaced)
    log = train(step, steps, evaluate=do_evaluate, log_at=schedule, on_step=on_step, stop=stop,
                progress=progress, desc=desc)
    model.eval()
    done = int(log.history["step"][-1]) if len(log.history["step"]) else 0
    if log.status == "stopped":
        done = max(done, _steps_taken(stop, steps))
    return TrainResult(predictor, log, time.perf_counter() - start, time.process_time() - cpu_start, done, dev)


def _steps_taken(stop, steps: int) -> int:
    asked = getattr(stop, "asked", None)
    return min(steps, asked - 1) if isinstance(asked, int) else 0
