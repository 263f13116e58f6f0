"""Training many runs as one: stacked replicas for seeds and hyper-parameter sweeps.

A sweep of configs that share their shapes (same model size, data size, number of steps) trains as
R "replicas": every weight gets a leading dimension R, and each replica has its own seed, data split
and hyper-parameters. The model a reader studies is written for one replica plus that leading
dimension; everything else about replicas lives here, shared by every phenomenon:

- `sweep` groups configs by shape (`shape_key`) and trains each group with the module's function;
- `uniform` / `normal` draw stacked initial weights, each replica from its own seeded generator;
- `StackedOptimizer` is AdamW / Adam / SGD with per-replica lr, weight decay, betas, eps, momentum;
- `first_replica` turns batched `on_step` reports into a single run's floats;
- `split` cuts a batched `TrainLog` into one `Run` per replica, with the same `meta` keys everywhere.

On a GPU a group computes its forward/backward for all replicas at once (`stacked(device)`); on a CPU
one replica at a time is as fast per seed and keeps the working set small. `force_stacked` makes a
CPU take the GPU's branch, so tests cover it.
"""

from __future__ import annotations

import contextlib
import math
import platform
from collections.abc import Callable, Sequence

import numpy as np
import torch

from . import phenomenon
from .runs import Run
from .train import TrainLog

OPTIMIZERS = ("adamw", "adam", "sgd")
_FORCE_STACKED: list[bool | None] = [None]


# --- which code path ---------------------------------------------------------------------------------
def stacked(device: torch.device, replicas: int) -> bool:
    """Whether a group computes all replicas in one batched pass (GPU, or forced) or one by one (CPU)."""
    if _FORCE_STACKED[0] is not None:
        return _FORCE_STACKED[0]
    return device.type != "cpu" or replicas == 1


@contextlib.contextmanager
def force_stacked(value: bool | None = True):
    """Within the block, take the batched (GPU) path on any device (True), the per-replica one (False)."""
    old = _FORCE_STACKED[0]
    _FORCE_STACKED[0] = value
    try:
        yield
    finally:
        _FORCE_STACKED[0] = old


# --- grouping ----------------------------------------------------------------------------------------
def shape_key(config, replica_fields: Sequence[str]) -> tuple:
    """Configs with equal keys can train together: they differ only in `replica_fields`."""
    return tuple((k, v) for k, v in config.to_dict().items() if k not in replica_fields)


def sweep(configs, train_group: Callable[[list], list[Run]], replica_fields: Sequence[str]) -> list[Run]:
    """Train configs group by group (one stacked run per shape); the Runs come back in the configs' order."""
    configs = list(configs)
    if not configs:
        raise ValueError("a sweep needs at least one config")
    chapter = _package(getattr(train_group, "__module__", None) or "")
    for c in configs:
        if not hasattr(c, "to_dict") or (chapter.startswith("minilib.") and _package(type(c).__module__) != chapter):
            raise TypeError(f"{chapter or 'this'}.run_sweep needs configs of its own chapter, got "
                            f"{type(c).__module__}.{type(c).__name__}: build them with {chapter}.Config")
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(shape_key(c, replica_fields), []).append(i)
    out: list[Run | None] = [None] * len(configs)
    for idx in groups.values():
        runs = train_group([configs[i] for i in idx])
        for i, r in zip(idx, runs, strict=True):
            out[i] = r
    return out


def _package(module_name: str) -> str:
    """'minilib.grokking.experiment' -> 'minilib.grokking': the chapter's package a module belongs to."""
    return ".".join(module_name.split(".")[:2])


def check_group(configs, replica_fields: Sequence[str]) -> None:
    """A stacked group must share every field but `replica_fields`; say which fields differ otherwise."""
    base = configs[0]
    for c in configs[1:]:
        diff = [k for k, v in c.to_dict().items() if k not in replica_fields and v != getattr(base, k)]
        if diff:
            raise ValueError(f"configs trained as one stacked run may differ only in {', '.join(replica_fields)}; "
                             f"these fields differ: {diff} (use the module's run_sweep, which groups them)")


# --- stacked initial weights -------------------------------------------------------------------------
def uniform(shape, fan_in: int, generators, device) -> torch.Tensor:
    """torch.nn.Linear's default init U(±1/sqrt(fan_in)), one draw per replica from its own generator."""
    bound = 1 / math.sqrt(fan_in)
    w = torch.stack([(torch.rand(shape, generator=g) * 2 - 1) * bound for g in generators])
    return w.to(device).requires_grad_()


def normal(shape, std: float, generators, device) -> torch.Tensor:
    """N(0, std²) weights, one draw per replica from its own generator."""
    w = torch.stack([torch.randn(shape, generator=g) * std for g in generators])
    return w.to(device).requires_grad_()


def zeros(shape, replicas: int, device) -> torch.Tensor:
    return torch.zeros(replicas, *shape, device=device).requires_grad_()


# --- the optimiser -----------------------------------------------------------------------------------
def _per_replica(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Shape [R] -> [R, 1, ..., 1] so it broadcasts over one replica's slice of a parameter."""
    return x.reshape(-1, *([1] * (like.dim() - 1)))


class StackedOptimizer:
    """AdamW, Adam or SGD over stacked parameters; every hyper-parameter may differ per replica.

    The arithmetic follows torch.optim.AdamW / Adam / SGD step for step (decoupled decay for AdamW,
    L2 decay added to the gradient for Adam and SGD, bias correction, eps outside the square root).
    `grad_transform(w, g)` rewrites each gradient before the step (⊥Grad in chapter 1).
    """

    def __init__(self, params: list[torch.Tensor], kind: str, *, lr, weight_decay=0.0, beta1=0.9, beta2=0.999,
                 eps=1e-8, momentum=0.0, grad_transform: Callable | None = None):
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer={kind!r} is not known: choose one of {', '.join(OPTIMIZERS)}")
        self.params, self.kind, self.grad_transform = params, kind, grad_transform
        R = params[0].shape[0]
        as_vec = lambda v: torch.as_tensor(v, dtype=torch.float64).expand(R).clone()
        self.lr, self.wd = as_vec(lr), as_vec(weight_decay)
        self.beta1, self.beta2, self.eps = as_vec(beta1), as_vec(beta2), as_vec(eps)
        self.momentum = as_vec(momentum)
        self.t = 0
        self.state: list[dict] = [{} for _ in params]
        # Hyper-parameters as tensors on each weight's device and dtype, made once (a host-to-device copy
        # per hyper-parameter and step made a GPU step wait on the host); `on_device` also keeps the step
        # count there, so a step issues no host work at all and can be captured in a CUDA graph.
        self.on_device = params[0].device.type != "cpu"
        self._consts: dict = {}
        self._t_dev: torch.Tensor | None = None

    def _const(self, name: str, value: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """`value` ([R], float64, fixed for the run) cast to w's dtype and device, shaped to broadcast over w."""
        key = (name, w.device, w.dtype, w.dim())
        if key not in self._consts:
            self._consts[key] = _per_replica(value.to(device=w.device, dtype=w.dtype), w)
        return self._consts[key]

    def _bias_corrections(self, w: torch.Tensor):
        """sqrt(1 − β2^t) and lr / (1 − β1^t), shaped like `vec`: computed in float64 on the host (the
        reference arithmetic), or on w's device from a step count kept there (`on_device`)."""
        if not self.on_device:
            bc1, bc2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
            vec = lambda v: _per_replica(v.to(device=w.device, dtype=w.dtype), w)
            return vec(bc2.sqrt()), vec(self.lr / bc1)
        key = ("float64", w.device)
        if key not in self._consts:
            self._consts[key] = torch.stack([self.beta1, self.beta2, self.lr]).to(w.device)
        b1, b2, lr = self._consts[key]
        t = self._t_dev
        bc1, bc2 = 1 - b1.pow(t), 1 - b2.pow(t)
        return _per_replica(bc2.sqrt().to(w.dtype), w), _per_replica((lr / bc1).to(w.dtype), w)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.t += 1  # with `on_device` the arithmetic reads the device's count (a graph replays the increment)
        if self.on_device:
            if self._t_dev is None:
                self._t_dev = torch.zeros((), dtype=torch.float64, device=self.params[0].device)
            self._t_dev.add_(1)
        for w, g, st in zip(self.params, grads, self.state, strict=True):
            if self.grad_transform is not None:
                g = self.grad_transform(w, g)
            vec = lambda v, name: self._const(name, v, w)  # noqa: B023 - used right here
            if self.kind in ("adamw", "adam"):
                b1, b2 = self.beta1, self.beta2
                if self.kind == "adamw":
                    w.mul_(1 - vec(self.lr, "lr") * vec(self.wd, "wd"))
                else:
                    g = g + vec(self.wd, "wd") * w
                if not st:
                    st["m"], st["v"] = torch.zeros_like(w), torch.zeros_like(w)
                st["m"].mul_(vec(b1, "beta1")).add_(g * vec(1 - b1, "1-beta1"))
                st["v"].mul_(vec(b2, "beta2")).add_(g * g * vec(1 - b2, "1-beta2"))
                bc2_sqrt, step_size = self._bias_corrections(w)
                denom = (st["v"].sqrt() / bc2_sqrt).add_(vec(self.eps, "eps"))
                w.sub_(st["m"] / denom * step_size)
            else:
                d = g + vec(self.wd, "wd") * w
                if bool((self.momentum > 0).any()):
                    if "buf" not in st:
                        st["buf"] = d.clone()
                    else:
                        st["buf"].mul_(vec(self.momentum, "momentum")).add_(d)
                    d = st["buf"]
                w.sub_(vec(self.lr, "lr") * d)


# --- reports and results -----------------------------------------------------------------------------
def first_replica(on_step: Callable | None) -> Callable | None:
    """An on_step for a single run: batched metric arrays of shape [1] become plain floats."""
    if on_step is None:
        return None
    return lambda step, m: on_step(step, {k: (v if k == "step" else float(np.asarray(v).ravel()[0]))
                                          for k, v in m.items()})


def meta(module, config, *, seconds: float, replicas: int, steps: int, device) -> dict:
    """What every Run records about how it was made (the same keys in every chapter)."""
    return {"code_version": phenomenon.version_of(module, config), "seconds": round(seconds, 3),
            "replicas": replicas, "steps": steps, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": str(device), "machine": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def split(module, configs, log: TrainLog, *, seconds: float, device,
          artifacts: Callable[[int], dict] | None = None) -> list[Run]:
    """One Run per replica of a batched TrainLog (a replica can diverge while the others go on)."""
    steps = int(log.history["step"][-1]) if len(log.history["step"]) else 0
    runs = []
    for r, c in enumerate(configs):
        hist, status, diverged_at = log.replica(r)
        arts = artifacts(r) if artifacts is not None else {}
        runs.append(Run(c, hist, arts, status, diverged_at,
                        meta(module, c, seconds=seconds, replicas=len(configs), steps=steps, device=device)))
    return runs
