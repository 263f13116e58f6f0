"""Benign overfitting on XOR clusters: XorConfig -> run() -> Run, and batched seeds (run_sweep).

Xu, Wang, Frei, Vardi and Hu 2024, "Benign Overfitting and Grokking in ReLU Networks for XOR Cluster
Data": a two-layer ReLU network (models.py) trained by full-batch gradient descent (eq. 2.2) on XOR
clusters with flipped labels (data.py). Chapter: nbs/02_benign_overfitting.py.
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
from . import data, models

#: Part of every cache key: bump when a change alters what a run computes.
CODE_VERSION = 1

TITLE = "Benign overfitting on noisy XOR clusters"
CHAPTER = "nbs/02_benign_overfitting.py"
METRICS = {
    "train_acc": "train accuracy on the observed (noisy) labels (fraction)",
    "test_acc": "test accuracy on clean labels (fraction)",
    "flipped_fit": "flipped training labels the network reproduces (fraction)",
    "train_loss": "train logistic loss (nats)",
    "mu_alignment": "mean over neurons of max |cos(w_j, μ_k)| (feature alignment)",
}
PLOT_GROUPS = {
    "accuracy": ("train_acc", "test_acc", "flipped_fit"),
    "features": ("mu_alignment",),
    "loss": ("train_loss",),
}
X_TITLE = "step (full-batch gradient-descent update)"
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class XorConfig(BaseConfig):
    """One run; the defaults are the chapter's cheap size (the paper's App. A.7 has p = 40 000, n = 200, m = 1000)."""

    dim: int = param(10_000, low=2, high=200_000, log=True, widget=(100, 40_000), help="p: input dimension")
    n_train: int = param(100, low=2, high=100_000, log=True, widget=(10, 1000), help="n: training points")
    n_test: int = param(500, low=1, high=100_000, log=True, widget=(100, 5000),
                        help="test points (accuracy against their clean labels)")
    width: int = param(200, low=1, high=10_000, log=True, widget=(10, 2000), help="m: hidden neurons")
    mu_norm: float = param(25.0, low=0.0, high=1e4, widget=(0.0, 100.0), help="‖μ1‖ = ‖μ2‖: cluster separation")
    label_noise: float = param(0.05, low=0.0, high=0.49, widget=(0.0, 0.3),
                               help="probability that a training label is flipped")
    init_scale: float = param(1e-15, low=1e-30, high=10.0, log=True, widget=(1e-18, 1e-6),
                              help="ω_init: first-layer weights ~ N(0, ω_init² I)")
    lr: float = param(1e-12, low=1e-30, high=100.0, log=True, widget=(1e-18, 1e-6), help="α: GD step size")
    steps: int = param(40, low=0, high=1_000_000, log=True, widget=(1, 3000), help="full-batch GD updates")
    log_every: int = param(1, low=1, high=100_000, widget=(1, 100), help="evaluate every this many steps")
    log_dense_until: int = param(0, low=0, high=1_000_000, widget=(0, 1000),
                                 help="also evaluate at every step up to this one (long runs: dense early logs)")
    dtype: str = param("float64", choices=DTYPES, help="floating-point format of data and weights")
    seed: int = param(0, low=0, high=2**31 - 1, widget=(0, 20), help="seeds the data and the initial weights")
    device: str = param("auto", choices=runtime.DEVICE_NAMES, help="where to train")

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if self.init_scale <= 0:
            raise ConfigError(f"{name}.init_scale={self.init_scale!r} must be > 0: with W = 0 every ReLU is "
                              "inactive and gradient descent never moves")


Config = XorConfig


def num_steps(config: XorConfig) -> int:
    return config.steps


#: Fields that may differ inside one stacked run; the others fix the shapes and the schedule.
REPLICA_FIELDS = ("seed", "lr", "init_scale", "mu_norm", "label_noise")


def draw(config: XorConfig, generator: torch.Generator) -> dict:
    """The data of one run, in the order the generator draws them: means, training set, test set."""
    dtype = runtime.as_dtype(config.dtype)
    means = data.cluster_means(config.dim, config.mu_norm, generator, dtype)
    x, y, clean = data.xor_clusters(config.n_train, means, config.label_noise, generator)
    x_test, _, clean_test = data.xor_clusters(config.n_test, means, config.label_noise, generator)
    return {"means": means, "x": x, "y": y, "clean": clean, "x_test": x_test, "clean_test": clean_test}


class _Experiment:
    """R replicas (same shapes; own seed, data and step size) trained as one stacked computation."""

    def __init__(self, configs: list[XorConfig]):
        c0 = configs[0]
        self.configs, self.device = configs, runtime.pick_device(c0.device)
        if self.device.type == "mps" and c0.dtype == "float64":
            raise ConfigError(f"XorConfig.dtype='float64' cannot run on device {c0.device!r} (mps has no float64): "
                              "choose dtype='float32' or device='cpu'")
        dtype = runtime.as_dtype(c0.dtype)
        gens = [runtime.seed_everything(c.seed) for c in configs]
        drawn = [draw(c, g) for c, g in zip(configs, gens)]
        self.sets = {k: torch.stack([d[k] for d in drawn]).to(self.device) for k in drawn[0]}
        self.flipped = self.sets["y"] != self.sets["clean"]  # [R, n]
        self.W = torch.cat([models.init_first_layer(c.width, c.dim, c.init_scale, [g], dtype)
                            for c, g in zip(configs, gens)]).to(self.device)
        self.a = models.init_second_layer(c0.width, gens, dtype).to(self.device)
        self.lr = torch.tensor([c.lr for c in configs], dtype=dtype, device=self.device)
        self.stacked = replicas.stacked(self.device, len(configs))
        self._pre = None  # training preactivations of the current W, made by evaluate()

    def _parts(self):
        """Index ranges the computation runs over: all replicas at once, or one at a time (CPU)."""
        R = len(self.configs)
        return [slice(0, R)] if self.stacked else [slice(r, r + 1) for r in range(R)]

    def _train_pre(self) -> list[torch.Tensor]:
        return [models.preactivations(self.W[s], self.sets["x"][s]) for s in self._parts()]

    def step(self, i: int) -> torch.Tensor:
        pres = self._pre if self._pre is not None else self._train_pre()
        self._pre = None
        losses = []
        for s, pre in zip(self._parts(), pres):
            x, y, a = self.sets["x"][s], self.sets["y"][s], self.a[s]
            f = torch.bmm(pre.relu(), a[:, :, None])[..., 0]
            losses.append(models.logistic_loss(f, y))
            self.W[s] += models.gd_update(self.W[s], a, x, y, self.lr[s], pre=pre)
        return torch.cat(losses)

    @torch.no_grad()
    def evaluate(self) -> dict:
        self._pre = self._train_pre()
        out = {k: [] for k in METRICS}
        for s, pre in zip(self._parts(), self._pre):
            a, y = self.a[s], self.sets["y"][s]
            f = torch.bmm(pre.relu(), a[:, :, None])[..., 0]
            right = torch.sign(f) == y  # f = 0 counts as wrong
            flipped = self.flipped[s]
            out["train_acc"].append(right.double().mean(1))
            out["flipped_fit"].append((right & flipped).double().sum(1) / flipped.double().sum(1))  # NaN: none
            out["train_loss"].append(models.logistic_loss(f, y).double())
            f_test = models.network(self.W[s], a, self.sets["x_test"][s])
            out["test_acc"].append((torch.sign(f_test) == self.sets["clean_test"][s]).double().mean(1))
            out["mu_alignment"].append(mu_alignment(self.W[s], self.sets["means"][s]))
        return {k: torch.cat(v).cpu().numpy().copy() for k, v in out.items()}


def mu_alignment(W: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Mean over neurons of max_k |cos(w_j, μ_k)|: [R]. Near 2/√(π p) at a random init (random_alignment), 1 on
    a mean."""
    # In float64 whatever the run's dtype: a float32 run from init_scale 1e-30 has norms whose product is
    # below float32's smallest number (the cosine came out 0/0 = NaN); float64 runs are unchanged.
    W, means = W.double(), means.double()
    cos = torch.bmm(W, means.transpose(1, 2)).abs()  # [R, m, 2]
    cos = cos / (W.norm(dim=2, keepdim=True) * means.norm(dim=2)[:, None, :]).clamp(min=1e-300)
    return cos.amax(2).mean(1)


def random_alignment(dim: int) -> float:
    """E max(|cos(w, μ1)|, |cos(w, μ2)|) for a direction w uniform in dimension p and orthogonal μ1 ⊥ μ2:
    the value of `mu_alignment` at a random initialisation, √(2/π)·Γ(p/2)/Γ((p+1)/2) ≈ 2/√(π p).

    (cos1, cos2) is the projection of w on the plane of the means: its length ρ has ρ² ~ Beta(1, (p−2)/2) and
    its angle is uniform, so E max = E ρ · E max(|cos θ|, |sin θ|) = E ρ · 2√2/π. With one mean it would be
    E|cos| ≈ √(2/(π p)): the max over two means is √2 times that.
    """
    if not isinstance(dim, (int, np.integer)) or dim < 2:
        raise ValueError(f"dim={dim!r} must be an integer >= 2: the two cluster means need two directions")
    return math.sqrt(2 / math.pi) * math.exp(math.lgamma(dim / 2) - math.lgamma((dim + 1) / 2))


def logged_steps(config: XorConfig) -> np.ndarray:
    """The steps a run evaluates at: 0, every `log_every`-th, every step up to `log_dense_until`, the last."""
    every = log_steps(config.steps, every=config.log_every)
    dense = np.arange(min(config.log_dense_until, config.steps) + 1)
    return np.union1d(every, dense).astype(int)


def _train(configs: list[XorConfig], on_step, stop, progress, desc) -> list[Run]:
    replicas.check_group(configs, REPLICA_FIELDS)
    start = time.perf_counter()
    exp = _Experiment(configs)
    c0 = configs[0]
    log = train(exp.step, num_steps(c0), evaluate=exp.evaluate, log_at=logged_steps(c0),
                on_step=on_step, stop=stop, progress=progress, desc=desc)
    return replicas.split(sys.modules[__package__], configs, log, seconds=time.perf_counter() - start,
                          device=exp.device)


def run(config: XorConfig, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one network by full-batch GD and return its Run (METRICS at every `log_every`-th step)."""
    if not isinstance(config, XorConfig):
        raise TypeError(f"run() needs a benign.XorConfig, got {type(config).__name__}")
    return _train([config], replicas.first_replica(on_step), stop, progress, "benign overfitting")[0]


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs; those that differ only in REPLICA_FIELDS (seeds, ...) share one stacked run."""
    configs = list(configs)
    bad = [type(c).__name__ for c in configs if not isinstance(c, XorConfig)]
    if bad:
        raise TypeError(f"run_sweep() needs benign.XorConfig objects, got {bad}")
    train_group = lambda group: _train(group, on_step, stop, progress, f"benign overfitting x{len(group)}")
    return replicas.sweep(configs, train_group, REPLICA_FIELDS)


def first_pass(runs, metric: str, threshold: float) -> np.ndarray:
    """Per run, the first logged step where `metric` >= threshold (NaN where never): shape [len(runs)]."""
    return np.array([math.nan if (s := r.first_step(metric, threshold)) is None else s for r in runs], float)


def median_band(runs, metric: str, q=(0.2, 0.8)) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, 20% quantile, median, 80% quantile) of a metric across runs logged at the same steps."""
    steps = runs[0].history["step"]
    if any(not np.array_equal(r.history["step"], steps) for r in runs):
        raise ValueError("the runs were logged at different steps: compare runs of one sweep")
    vals = np.stack([r.history[metric] for r in runs])
    lo, mid, hi = np.nanquantile(vals, [q[0], 0.5, q[1]], axis=0)
    return steps, lo, mid, hi
