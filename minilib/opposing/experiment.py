"""Opposing signals: Config -> run() -> Run, and batched sweeps (run_sweep).

Rosenfeld & Risteski 2024 ("Outliers with opposing signals have an outsized effect on neural network
optimization"); Cohen et al. 2021 for sharpness and the 2/η threshold. Chapter: nbs/03_opposing_signals.py.

Two tasks share one Config: "toy" (the two-layer linear network on Gaussian data with two opposing
outlier groups; the defaults) and "digits" (an MLP on scikit-learn's digits with a bright patch on some
3s and 8s; `digits_config()` gives the chapter's recipe). Every run logs the training loss of the whole
training set and of each group, the sharpness, and the norm of the gradient of the last step (before any
clipping: what a clipping threshold is compared with).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import replicas, runtime
from ..runs import Config as BaseConfig
from ..runs import ConfigError, Run, param
from ..train import log_steps, train
from . import analysis, data, models, sharpness

#: Part of every cache key: bump when a change alters what a run computes.
CODE_VERSION = 2  # 2: every run also logs the gradient norm of its last step

TITLE = "Opposing signals: loss spikes and sharpness"
CHAPTER = "nbs/03_opposing_signals.py"
METRICS = {
    "loss": "training loss (all examples)",
    "loss_a": "loss of group A (outliers, one label)",
    "loss_b": "loss of group B (outliers, the other label)",
    "loss_rest": "loss of the other examples",
    "sharpness": "sharpness: top Hessian eigenvalue",
    "grad_norm": "norm of the last step's gradient (before clipping)",
}
PLOT_GROUPS = {
    "training loss by group": ("loss", "loss_a", "loss_b", "loss_rest"),
    "sharpness": ("sharpness",),
}
X_TITLE = "step (parameter updates)"
#: The explorer draws its reference lines (stability_line) on this panel of PLOT_GROUPS.
HLINES_PANEL = "sharpness"

TASKS = ("toy", "digits")
OPTIMIZERS = ("gd", "adam")
#: Sharpness is measured on at most this many training examples (the first ones of the shuffled data).
SHARPNESS_SAMPLE = 1024
#: Power iteration: Hessian-vector products for the first estimate, then per estimate warm-started from
#: the previous eigenvector (benchmarks/opposing.py measures what this costs against a training step).
COLD_ITERS, WARM_ITERS = 40, 6


@dataclass(frozen=True)
class Config(BaseConfig):
    """One opposing-signals experiment; the defaults are the toy model of the chapter (task "toy")."""

    task: str = param("toy", choices=TASKS, help="toy: Gaussian data, two-layer linear net; digits: MLP on "
                                                 "scikit-learn's digits with a patch on some 3s and 8s")
    n: int = param(1000, low=10, high=100_000, log=True, widget=(100, 1790),
                   help="training examples (digits: at most 1796, the rest is the test set)")
    dim: int = param(50, low=2, high=10_000, log=True, widget=(2, 500), help="toy: input dimension")
    group_a: float = param(0.06, low=0.0, high=1.0, widget=(0.0, 0.5),
                           help="group A: toy, fraction of all points (label +1); digits, fraction of the 3s")
    group_b: float = param(0.04, low=0.0, high=1.0, widget=(0.0, 0.5),
                           help="group B: toy, fraction of all points (label −1); digits, fraction of the 8s")
    alpha: float = param(8.0, low=0.0, high=1000.0, widget=(0.0, 16.0),
                         help="strength of the shared outlier feature (toy: x[1] += alpha; digits: patch brightness)")
    core: float = param(0.2, low=0.0, high=100.0, widget=(0.0, 1.0), help="toy: the weak core feature x[0] += core·y")
    noise: float = param(0.05, low=0.0, high=100.0, widget=(0.0, 0.5), help="toy: std of the Gaussian inputs")
    width: int = param(32, low=1, high=4096, log=True, widget=(2, 512), help="hidden width")
    lr: float = param(0.08, low=1e-6, high=100.0, log=True, widget=(1e-4, 1.0), help="learning rate η")
    optimizer: str = param("gd", choices=OPTIMIZERS,
                           help="gd: plain gradient step (SGD when batch_size > 0); adam: Adam")
    batch_size: int = param(0, low=0, high=100_000, widget=(0, 512), help="examples per step; 0 = full batch")
    clip: float = param(0.0, low=0.0, high=1e6, widget=(0.0, 10.0),
                        help="clip the gradient's norm to this value; 0 = no clipping")
    steps: int = param(1500, low=1, high=1_000_000, log=True, widget=(10, 5000), help="parameter updates")
    log_every: int = param(1, low=1, high=100_000, widget=(1, 50), help="evaluate the losses every k steps")
    sharpness_every: int = param(10, low=0, high=100_000, widget=(0, 200),
                                 help="measure sharpness every k steps (a multiple of log_every); 0 = never")
    seed: int = param(0, low=0, high=2**31 - 1, widget=(0, 20), help="seeds the data, the weights and the batches")
    device: str = param("auto", choices=runtime.DEVICE_NAMES, help="where to train")

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if self.group_a + self.group_b > 1.0 and self.task == "toy":
            raise ConfigError(f"{name}.group_a + group_b = {self.group_a + self.group_b:g} is out of range: "
                              "the two groups are fractions of the same points, allowed group_a + group_b <= 1")
        if self.task == "digits" and self.n >= data.DIGITS_TOTAL:
            raise ConfigError(f"{name}.n={self.n} is out of range for task='digits': allowed "
                              f"10 <= n <= {data.DIGITS_TOTAL - 1} (the rest of the {data.DIGITS_TOTAL} images "
                              "is the test set)")
        if self.batch_size > self.n:
            raise ConfigError(f"{name}.batch_size={self.batch_size} is out of range: allowed "
                              f"0 <= batch_size <= n = {self.n} (0 = full batch)")
        if self.device == "mps":
            raise ConfigError(f"{name}.device='mps' is not allowed: every run is float64, which mps lacks; "
                              "choose 'auto', 'cpu' or 'cuda'")
        if self.sharpness_every % self.log_every:
            raise ConfigError(f"{name}.sharpness_every={self.sharpness_every} must be a multiple of "
                              f"log_every={self.log_every} (sharpness is measured at logged steps)")


#: The name the chapter's toy model goes by: Config's defaults are the toy of the chapter.
ToyConfig = Config


def digits_config(**changes) -> Config:
    """The chapter's digits recipe: MLP 64-128-128-10, minibatch SGD lr 0.3, batch 64, 2000 steps, a 2x2
    corner patch +8 on 30% of the 3s and 30% of the 8s; the full training loss every 10 steps, the
    sharpness every 20."""
    base = dict(task="digits", n=1500, group_a=0.3, group_b=0.3, alpha=8.0, width=128, lr=0.3,
                optimizer="gd", batch_size=64, steps=2000, log_every=10, sharpness_every=20)
    return Config(**(base | changes))


def stability_line(config: Config) -> dict[str, float]:
    """The explorer's reference line on the sharpness panel: 2/η, the sharpness above which gradient descent
    with step η is unstable on a quadratic (Cohen et al. 2021). Adam has no such threshold: NaN hides it."""
    return {"2/η (gradient descent's stability threshold)": 2 / config.lr if config.optimizer == "gd" else math.nan}


def num_steps(config: Config) -> int:
    return config.steps


#: Fields that may differ inside one stacked sweep; everything else fixes the shapes and the schedule.
REPLICA_FIELDS = ("seed", "lr", "alpha", "group_a", "group_b", "core", "noise", "clip")


class _Experiment:
    """R replicas (same shapes, own data, seeds and hyper-parameters) trained as one stacked computation."""

    def __init__(self, configs: list[Config]):
        c0 = self.c0 = configs[0]
        self.configs = configs
        self.device = runtime.pick_device(c0.device)
        if self.device.type == "mps":  # "auto" on a Mac: mps has no float64, so these runs use the CPU
            self.device = torch.device("cpu")
        gens = [runtime.seed_everything(c.seed) for c in configs]
        if c0.task == "toy":
            sets = [data.toy(c.n, c.dim, c.group_a, c.group_b, c.alpha, c.core, c.noise, g)
                    for c, g in zip(configs, gens)]
            dim, self.model_name = c0.dim, "linear2"
        else:
            sets = [data.digits(c.n, c.group_a, c.group_b, c.alpha, g)[0] for c, g in zip(configs, gens)]
            dim, self.model_name = 64, "mlp"
        to = lambda i: torch.stack([s[i] for s in sets]).to(self.device)
        self.x, self.y, self.group = to(0), to(1), to(2)  # [R, n, dim], [R, n], [R, n]
        self.model = models.build(self.model_name, dim, c0.width, gens, self.device)
        self.params = self.model.params
        kind = "adam" if c0.optimizer == "adam" else "sgd"
        self.opt = replicas.StackedOptimizer(self.params, kind, lr=[c.lr for c in configs])
        self.clip = torch.tensor([c.clip for c in configs], dtype=torch.float64, device=self.device)
        self.batch_gens = gens  # each replica's batches continue its own generator
        self.order = [torch.empty(0, dtype=torch.long)] * len(configs)
        self.done = 0
        m = min(c0.n, SHARPNESS_SAMPLE)
        self.sharp_x, self.sharp_y = self.x[:, :m], self.y[:, :m]
        self.vectors = None  # the previous top eigenvectors, one per replica (warm start)
        # The power iteration's random start, one per replica from its own seed (a sweep equals single runs).
        self.eig_gens = [torch.Generator().manual_seed(c.seed + 1) for c in configs]
        self.prev_losses = None
        self.grad_norm = torch.full((len(configs),), float("nan"), dtype=torch.float64)  # none before step 1
        self.jump = None  # (ratio [R], step [R], before [R, n], after [R, n]) at each replica's spike

    # --- the loss and one step ------------------------------------------------------------------
    def example_losses(self, params, x, y) -> torch.Tensor:
        """[R, n] per-example losses of the stacked model on stacked data."""
        return models.example_losses(self.model_name, self.model.forward(params, x), y)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        B = self.c0.batch_size
        if B == 0:
            return self.x, self.y
        idx = []
        for r, g in enumerate(self.batch_gens):  # reshuffle each epoch; each replica its own order
            if len(self.order[r]) < B:
                self.order[r] = torch.cat([self.order[r], torch.randperm(self.c0.n, generator=g)])
            idx.append(self.order[r][:B])
            self.order[r] = self.order[r][B:]
        idx = torch.stack(idx).to(self.device)  # [R, B]
        x = self.x.gather(1, idx[..., None].expand(-1, -1, self.x.shape[-1]))
        return x, self.y.gather(1, idx)

    def gradients(self, x, y) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Mean batch loss [R] and its gradients (stacked), batched on a GPU, replica by replica on a CPU."""
        R = len(self.configs)
        if replicas.stacked(self.device, R):
            loss = self.example_losses(self.params, x, y).mean(1)
            return loss.detach(), list(torch.autograd.grad(loss.sum(), self.params))
        parts = []
        for r in range(R):
            views = [p[r:r + 1] for p in self.params]
            loss = self.example_losses(views, x[r:r + 1], y[r:r + 1]).mean(1)
            parts.append((loss.detach(), torch.autograd.grad(loss.sum(), views)))
        return torch.cat([p[0] for p in parts]), [torch.cat(gs) for gs in zip(*(p[1] for p in parts))]

    def step(self, i: int) -> torch.Tensor:
        loss, grads = self.gradients(*self._batch())
        self.grad_norm = gradient_norm(grads).detach()
        grads = clip_gradients(grads, self.clip)
        self.opt.step(grads)
        self.done = i + 1
        return loss

    # --- evaluation -----------------------------------------------------------------------------
    def _sharpness(self) -> torch.Tensor:
        R = len(self.configs)
        cold = self.vectors is None
        iters = COLD_ITERS if cold else WARM_ITERS
        if cold:
            self.vectors = [torch.stack([torch.randn(p.shape[1:], generator=g, dtype=p.dtype) for g in self.eig_gens])
                            .to(self.device) for p in self.params]
        if replicas.stacked(self.device, R):
            loss_fn = lambda ps: self.example_losses(ps, self.sharp_x, self.sharp_y).mean(1)
            eig, self.vectors = sharpness.power_iteration(loss_fn, self.params, iters=iters, start=self.vectors)
            return eig
        eigs, vecs = [], []
        for r in range(R):
            loss_fn = lambda ps, r=r: self.example_losses(ps, self.sharp_x[r:r + 1], self.sharp_y[r:r + 1]).mean(1)
            e, v = sharpness.power_iteration(loss_fn, [p[r:r + 1] for p in self.params], iters=iters,
                                             start=[v[r:r + 1] for v in self.vectors])
            eigs.append(e)
            vecs.append(v)
        self.vectors = [torch.cat(vs) for vs in zip(*vecs)]
        return torch.cat(eigs)

    def evaluate(self) -> dict:
        with torch.no_grad():
            ell = self.example_losses(self.params, self.x, self.y)  # [R, n]
            out = {"loss": ell.mean(1), "grad_norm": self.grad_norm}
            for key, g in (("loss_a", data.GROUP_A), ("loss_b", data.GROUP_B), ("loss_rest", data.REST)):
                out[key] = group_mean(ell, self.group == g)
            self._track_jump(ell, out["loss"])
        every = self.c0.sharpness_every
        if every and self.done % every == 0:
            out["sharpness"] = self._sharpness()
        else:
            out["sharpness"] = torch.full((len(self.configs),), float("nan"), dtype=torch.float64)
        return {k: v.double().cpu().numpy().copy() for k, v in out.items()}

    def _track_jump(self, ell: torch.Tensor, loss: torch.Tensor) -> None:
        """Keep the per-example losses at the spike (the largest running-minimum ratio after the first
        tenth of the steps, as analysis.spike measures it) and at the logged step before it."""
        self.runmin = loss.clone() if self.done == 0 else torch.minimum(self.runmin, loss)
        if self.prev_losses is not None and self.done >= analysis.SKIP * self.c0.steps:
            ratio = loss / self.runmin
            if self.jump is None:
                self.jump = (torch.full_like(ratio, -float("inf")), torch.zeros_like(ratio, dtype=torch.long),
                             self.prev_losses.clone(), ell.clone())
            best, at, before, after = self.jump
            better = torch.isfinite(ratio) & (ratio > best)
            best[better], at[better] = ratio[better], self.done
            before[better], after[better] = self.prev_losses[better], ell[better]
        self.prev_losses = ell.clone()

    def artifacts(self, r: int) -> dict:
        out = {"group": self.group[r].cpu().numpy()}
        if self.jump is not None:
            _, at, before, after = self.jump
            out |= {"jump_step": np.array(int(at[r])), "jump_before": before[r].cpu().numpy(),
                    "jump_after": after[r].cpu().numpy()}
        return out


def group_mean(ell: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of [R, n] per-example losses over the examples in mask [R, n] (NaN for an empty group)."""
    count = mask.sum(1)
    total = torch.where(mask, ell, torch.zeros_like(ell)).sum(1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def gradient_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The norm of each replica's whole gradient (all its tensors together): [R]."""
    return sum(g.pow(2).flatten(1).sum(1) for g in grads).sqrt()


def clip_gradients(grads: list[torch.Tensor], clip: torch.Tensor) -> list[torch.Tensor]:
    """Rescale each replica's whole gradient to norm at most clip[r] (clip[r] = 0: unchanged)."""
    if not bool((clip > 0).any()):
        return grads
    norm = gradient_norm(grads)
    factor = torch.where((clip > 0) & (norm > clip), clip / norm.clamp(min=1e-300), torch.ones_like(norm))
    return [g * factor.to(g.dtype).reshape(-1, *([1] * (g.dim() - 1))) for g in grads]


def _schedule(config: Config) -> np.ndarray:
    return log_steps(config.steps, every=config.log_every)


def _train(configs: list[Config], on_step, stop, progress, desc) -> list[Run]:
    """One stacked run of configs that differ only in REPLICA_FIELDS."""
    replicas.check_group(configs, REPLICA_FIELDS)
    start = time.perf_counter()
    exp = _Experiment(configs)
    log = train(exp.step, num_steps(configs[0]), evaluate=exp.evaluate, log_at=_schedule(configs[0]),
                on_step=on_step, stop=stop, progress=progress, desc=desc)
    return replicas.split(sys.modules[__package__], configs, log, seconds=time.perf_counter() - start,
                          device=exp.device, artifacts=exp.artifacts)


def run(config: Config, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one model and return its Run (losses by group every log_every steps, sharpness)."""
    if not isinstance(config, Config):
        raise TypeError(f"run() needs an opposing.Config, got {type(config).__name__}")
    return _train([config], replicas.first_replica(on_step), stop, progress, f"opposing {config.task}")[0]


def predictions_at(config: Config, steps) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Re-train `config` on its own data, weights and batches (what opposing.run(config) does, without the
    evaluations) and return its training labels [n] and, for each of `steps`, what the network makes of
    every training example after that many steps: (the predicted class [n] (digits) or the sign of the
    output (toy), the per-example loss [n]). Sharpness estimates draw from their own generators, so the
    trajectory is that of the logged run: at a logged step these losses average to its logged `loss`."""
    if not isinstance(config, Config):
        raise TypeError(f"predictions_at() needs an opposing.Config, got {type(config).__name__}")
    steps = sorted({int(s) for s in np.atleast_1d(steps)})
    if not steps or steps[0] < 0 or steps[-1] > config.steps:
        raise ValueError(f"steps={steps} is out of range: allowed 0 <= step <= config.steps = {config.steps}")
    exp = _Experiment([config])
    out = {}
    for i in range(steps[-1] + 1):
        if i in steps:
            with torch.no_grad():
                f = exp.model.forward(exp.params, exp.x)
                ell = models.example_losses(exp.model_name, f, exp.y)[0]
                pred = f[0].argmax(-1) if exp.model_name == "mlp" else torch.sign(f[0])
            out[i] = (pred.cpu().numpy(), ell.cpu().numpy())
        if i < steps[-1]:
            exp.step(i)
    return exp.y[0].cpu().numpy(), out


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs; those that differ only in REPLICA_FIELDS share one stacked model."""
    train_group = lambda group: _train(group, on_step, stop, progress, f"opposing sweep x{len(group)}")
    return replicas.sweep(configs, train_group, REPLICA_FIELDS)
