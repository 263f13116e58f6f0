"""Projection heads: Config -> run() -> Run for the linear model and the SupCon model, and sweeps.

Xue, Gan, Ni, Joshi and Mirzasoleiman, ICLR 2024 ("Investigating the Benefits of Projection Head for
Representation Learning", arXiv:2403.11391); SimCLR (Chen et al. 2020) for the practice.
Chapter: nbs/04_projection_heads.py.

model="linear": a deep linear network trained on the exact population spectral contrastive loss of the
feature model in `data` (gradient descent on the expectation itself: no sampling noise).
model="supcon": a ReLU encoder and head trained with the SupCon loss on fresh minibatches of classes
with an ignored sub-class.
model="simclr": a small CNN and head trained SimCLR-style (the two views of an image are each other's
only positive) on scikit-learn's bundled 8×8 digits, probed for the digit and for a one-pixel shift.
Both train with Adam by default; optimizer="momentum" is SGD with momentum 0.9, the optimiser of the
co-author's SupCon script (github jiayini1119/projection-head-experiments, pretrain.py).
All log linear-probe accuracies before and after the head.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import replicas, runtime
from ..replicas import uniform
from ..runs import Config as BaseConfig
from ..runs import ConfigError, Run, param
from ..train import log_steps, train
from . import data, losses, models, probe

#: Part of every cache key: bump when a change alters what a run computes.
CODE_VERSION = 1

TITLE = "Projection heads: feature weights before and after the head"
CHAPTER = "nbs/04_projection_heads.py"
MODELS = ("linear", "supcon", "simclr", "supervised")
#: gd: plain gradient descent (full batch on the population loss for "linear"); momentum: SGD with momentum
#: MOMENTUM (torch.optim.SGD's heavy ball, the optimiser of the co-author's SupCon script); adam: Adam.
OPTIMIZERS = ("gd", "momentum", "adam")
MOMENTUM = 0.9
#: The paper-style construction of issue 13: eight latent features, their scales a_k and drop rates ρ_k.
FEATURE_SCALES = (3.0, 2.0, 1.5, 1.0, 1.0, 0.7, 0.5, 0.3)
DROP_PROBS = (0.0, 0.5, 0.2, 0.0, 0.9, 0.3, 0.0, 0.6)
#: Label counts at which every run measures its final probes (artifacts "probe_grid", ...).
PROBE_GRID = (10, 20, 50, 100, 200, 500, 1000)
MAX_FEATURES = 64
POOL, TEST = 2400, 1000  # labelled pool the probes draw from, held-out test points
DIGITS_IMAGES, DIGITS_CLASSES = 1797, 10  # scikit-learn's digits: images, classes

METRICS = {
    "loss": "training loss (linear: population spectral loss; SupCon: minibatch loss)",
    "excess_loss": "loss above the theoretical minimum, relative to |minimum| (absolute if the minimum is 0)",
    "slope": "log–log slope of encoder vs end-to-end feature weights",
    "imbalance": "layer imbalance ‖W₁W₁ᵀ − W₂ᵀW₂‖ / ‖W₁W₁ᵀ‖",
    "pre_spread": "largest / smallest feature magnitude before the head",
    "post_spread": "largest / smallest feature magnitude after the head",
    "probe_pre": "probe accuracy before the head (fraction)",
    "probe_post": "probe accuracy after the head (fraction)",
    "class_pre": "class probe accuracy before the head (fraction)",
    "class_post": "class probe accuracy after the head (fraction)",
}
PLOT_GROUPS = {
    "loss": ("loss",),
    "probe of the weakly rewarded feature": ("probe_pre", "probe_post"),
    "feature weighting": ("pre_spread", "post_spread"),
    "balance": ("slope", "imbalance"),
}
X_TITLE = "training step"


@dataclass(frozen=True)
class Config(BaseConfig):
    """One experiment. The defaults are the linear construction: 8 features, encoder 16×8, head 16×16, plain
    gradient descent (lr 0.02: at 0.05 it diverges here, see the chapter) from N(0, 0.03²) weights.

    `feature_scales` and `drop_probs` are per-feature tuples (a list or the text '3, 2, 1' is stored as a
    tuple), validated element by element. `supcon_config()` and `simclr_config()` give the SupCon and
    SimCLR models' defaults; fields marked "SupCon" apply to both (SimCLR: `view_noise` is the pixel
    noise of its augmentation), `input_dim`, `class_scale`, `sub_scale` and `noise` to SupCon only.
    """

    model: str = param("linear", choices=MODELS, help="linear: deep linear net on the population spectral "
                                                      "loss; supcon: ReLU encoder + head, SupCon loss; "
                                                      "simclr: CNN + head on the digits, SimCLR loss; "
                                                      "supervised: CNN + head + classifier, cross-entropy on "
                                                      "digits with a spurious marker")
    feature_scales: tuple = param(FEATURE_SCALES, low=1e-3, high=100.0,
                                  help="a_k: the scale of each latent feature (linear model)")
    drop_probs: tuple = param(DROP_PROBS, low=0.0, high=1.0,
                              help="ρ_k: probability that augmentation redraws feature k (linear model)")
    hidden: int = param(16, low=1, high=1024, log=True, widget=(2, 128), help="encoder width")
    head_dim: int = param(16, low=1, high=1024, log=True, widget=(2, 128), help="output width of the head")
    depth: int = param(2, low=1, high=6, help="layers: encoder (1 linear / 2 ReLU layers) + depth − 1 head layers")
    init_scale: float = param(0.03, low=1e-6, high=10.0, log=True, widget=(1e-3, 1.0),
                              help="std of the linear model's initial weights")
    optimizer: str = param("gd", choices=OPTIMIZERS, help="gd: plain gradient descent; momentum: SGD with "
                                                                     "momentum 0.9; adam: Adam")
    lr: float = param(0.02, low=1e-6, high=10.0, log=True, widget=(1e-4, 0.1), help="learning rate")
    steps: int = param(24_000, low=1, high=1_000_000, log=True, widget=(10, 20_000), help="training steps")
    input_dim: int = param(32, low=2, high=1024, help="SupCon: input dimension")
    batch_size: int = param(256, low=2, high=65_536, log=True, widget=(16, 1024), help="SupCon: samples per step")
    temperature: float = param(0.1, low=1e-3, high=10.0, log=True, help="SupCon: softmax temperature τ")
    view_noise: float = param(0.3, low=0.0, high=10.0, help="SupCon: std of the noise added to each view")
    class_scale: float = param(2.0, low=0.0, high=100.0, help="SupCon: ± size of the class latent")
    sub_scale: float = param(1.0, low=0.0, high=100.0, help="SupCon: ± size of the ignored sub-class latent")
    noise: float = param(0.5, low=0.0, high=100.0, help="SupCon: std of the other latents")
    head: str = param("mlp", choices=models.HEADS, help="SupCon: trained MLP head, or the fixed reweighting head")
    kappa: float = param(1.2, low=1.0, high=10.0, help="reweighting head: z_i = h_i κ^(−i)")
    probe_feature: int = param(4, low=0, high=1023, help="linear: the latent whose sign the probe predicts")
    probe_labels: int = param(10, low=2, high=1000, log=True, help="labelled examples per probe")
    probe_trials: int = param(100, low=1, high=1000, log=True, widget=(1, 100), help="label draws averaged")
    seed: int = param(0, low=0, high=2**31 - 1, widget=(0, 20), help="seeds the weights, data and probes")
    device: str = param("auto", choices=runtime.DEVICE_NAMES, help="where to train")
    num_logs: int = param(61, low=2, high=100_000, widget=(5, 200), help="evaluations along the run")
    log_spaced: bool = param(True, help="evaluate at log-spaced steps")

    def validate(self) -> None:
        super().validate()  # every field's range and choices, per-feature tuples element by element
        self._validate_tuples()

    def _validate_tuples(self) -> None:
        name = type(self).__name__
        for field in ("feature_scales", "drop_probs"):
            if len(getattr(self, field)) > MAX_FEATURES:
                raise ConfigError(f"{name}.{field} has {len(getattr(self, field))} entries: allowed 1 to "
                                  f"{MAX_FEATURES} features")
        d = len(self.feature_scales)
        if len(self.drop_probs) != d:
            raise ConfigError(f"{name}.drop_probs has {len(self.drop_probs)} entries but feature_scales has {d}: "
                              "give one drop probability per feature")
        if self.model == "linear" and self.probe_feature >= d:
            raise ConfigError(f"{name}.probe_feature={self.probe_feature} is out of range: allowed "
                              f"0 <= probe_feature <= {d - 1} (there are {d} features)")
        if self.model == "linear" and self.head != "mlp":
            raise ConfigError(f"{name}.head={self.head!r} is for the SupCon and SimCLR models only; the linear "
                              "model's head is its layers 2 … depth")
        if self.model in ("simclr", "supervised"):
            if self.probe_labels < DIGITS_CLASSES:
                raise ConfigError(f"{name}.probe_labels={self.probe_labels} is out of range for the digits: allowed "
                                  f"{DIGITS_CLASSES} <= probe_labels <= {POOL // 2} (at least one label per class)")
            pool = DIGITS_IMAGES - data.DIGITS_TEST
            if self.batch_size > pool:
                raise ConfigError(f"{name}.batch_size={self.batch_size} is out of range for the digits: allowed "
                                  f"2 <= batch_size <= {pool} (the images a batch is drawn from)")
        if self.probe_labels > POOL // 2:
            raise ConfigError(f"{name}.probe_labels={self.probe_labels} is out of range: allowed "
                              f"2 <= probe_labels <= {POOL // 2}")


#: The linear model's config: `Config` with its defaults (the name other tooling uses for it).
LinearConfig = Config


def supcon_config(**changes) -> Config:
    """The SupCon model: 32-d inputs, encoder 32-64-64 ReLU, head 64-64-32, τ 0.1, batch 256, Adam 1e-3."""
    base = dict(model="supcon", hidden=64, head_dim=32, depth=3, optimizer="adam", lr=1e-3, steps=1500,
                probe_labels=200, probe_trials=10, num_logs=31)
    return Config(**(base | changes))


def simclr_config(**changes) -> Config:
    """The SimCLR model on the digits: CNN encoder (h: 64), head 64-64-32, τ 0.5, batch 256, Adam 1e-3."""
    base = dict(model="simclr", hidden=64, head_dim=32, depth=3, optimizer="adam", lr=1e-3, steps=1000,
                temperature=0.5, view_noise=0.1, probe_labels=50, probe_trials=10, num_logs=21)
    return Config(**(base | changes))


def supervised_config(**changes) -> Config:
    """The supervised model on the marked digits: the SimCLR CNN (h: 64) + MLP head 64-64-32 + a linear
    classifier, cross-entropy, batch 256, SGD with momentum 0.9 (lr 0.03), 1000 steps; depth 1: no head."""
    base = dict(model="supervised", hidden=64, head_dim=32, depth=3, optimizer="momentum", lr=0.03, steps=1000,
                probe_labels=50, probe_trials=10, num_logs=21)
    return Config(**(base | changes))


def num_steps(config: Config) -> int:
    return config.steps


#: Fields that may differ inside one stacked sweep; everything else fixes the shapes and the schedule.
REPLICA_FIELDS = ("seed", "lr", "init_scale", "temperature")


def _opt(params, configs):
    opt = configs[0].optimizer
    momentum = MOMENTUM if opt == "momentum" else 0.0
    return replicas.StackedOptimizer(params, "adam" if opt == "adam" else "sgd", lr=[c.lr for c in configs],
                                     momentum=momentum)


def slope(pre: np.ndarray, post: np.ndarray) -> float:
    """Least-squares slope of log(pre) against log(post) over the features the map keeps (post > 0)."""
    if not (np.isfinite(pre).all() and np.isfinite(post).all()):
        return math.nan  # a diverged run
    keep = post > 1e-9 * post.max()
    if keep.sum() < 2 or np.ptp(np.log(post[keep])) < 1e-9:
        return math.nan
    return float(np.polyfit(np.log(post[keep]), np.log(pre[keep]), 1)[0])


def spread(magnitudes: np.ndarray) -> float:
    """Largest over smallest feature magnitude, over features the map keeps (a measure of unequal weighting)."""
    if not np.isfinite(magnitudes).all() or magnitudes.max() <= 0:
        return math.nan  # a diverged (or all-zero) map
    keep = magnitudes > 1e-9 * magnitudes.max()
    return float(magnitudes[keep].max() / magnitudes[keep].min())


def excess(loss: float, minimum: float) -> float:
    """(loss − minimum) / |minimum|; the plain loss − minimum when the minimum is 0 (every drop probability 1:
    augmentation destroys every feature, the loss only penalises the map, and its minimum is W = 0)."""
    return (loss - minimum) / abs(minimum) if minimum != 0 else loss - minimum


# --- the linear model --------------------------------------------------------------------------------
class _Linear:
    """R replicas of the deep linear model trained on the population spectral contrastive loss."""

    def __init__(self, configs: list[Config]):
        c0 = self.c0 = configs[0]
        self.configs = configs
        self.device = runtime.pick_device(c0.device)
        gens = [runtime.seed_everything(c.seed) for c in configs]
        self.scales = torch.tensor(c0.feature_scales, dtype=torch.float64)
        self.drops = torch.tensor(c0.drop_probs, dtype=torch.float64)
        self.m, self.s = (v.to(self.device) for v in data.second_moments(self.scales, self.drops))
        self.minimum = float(losses.spectral_minimum(self.m, self.s))
        self.weights = models.linear_weights(len(self.scales), c0.hidden, c0.head_dim, c0.depth,
                                             [c.init_scale for c in configs], gens, self.device)
        self.opt = _opt(self.weights, configs)
        self.probes = [self._probe_data(g) for g in gens]  # drawn after the weights, from each replica's generator

    def _probe_data(self, gen):
        """Pool and test inputs with the sign of the probed latent as label, and the label draws per grid size."""
        z, x = data.sample_linear(POOL + TEST, self.scales, gen)
        y = (z[:, self.c0.probe_feature] > 0).long()
        pool, test = (x[:POOL], y[:POOL]), (x[POOL:], y[POOL:])
        sizes = sorted({self.c0.probe_labels, *PROBE_GRID})
        draws = {n: probe.draw_labelled(pool[1], n, self.c0.probe_trials, gen) for n in sizes}
        return pool, test, draws

    def loss(self, weights) -> torch.Tensor:
        return losses.spectral_population(models.products(weights)[-1], self.m, self.s)

    def step(self, i: int) -> torch.Tensor:
        if replicas.stacked(self.device, len(self.configs)):
            loss = self.loss(self.weights)
            grads = torch.autograd.grad(loss.sum(), self.weights)
        else:  # one replica at a time on a CPU (see minilib.replicas)
            parts = []
            for r in range(len(self.configs)):
                views = [w[r:r + 1] for w in self.weights]
                lr_ = self.loss(views)
                parts.append((lr_.detach(), torch.autograd.grad(lr_.sum(), views)))
            loss = torch.cat([p[0] for p in parts])
            grads = [torch.cat(gs) for gs in zip(*(p[1] for p in parts))]
        self.opt.step(grads)
        return loss.detach()

    def representations(self, r: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Replica r's pre-projection (encoder output) and post-projection (model output) of inputs x [n, d]."""
        maps = models.products([w[r].detach() for w in self.weights])
        x = x.to(self.device, torch.float64)
        return x @ maps[0].T, x @ maps[-1].T

    def probe_accuracies(self, r: int, n: int) -> tuple[float, float]:
        (px, py), (tx, ty), draws = self.probes[r]
        pre_pool, post_pool = self.representations(r, px)
        pre_test, post_test = self.representations(r, tx)
        if not (torch.isfinite(post_pool).all() and torch.isfinite(pre_pool).all()):
            return math.nan, math.nan  # a diverged run has no representation to probe
        py, ty, idx = py.to(self.device), ty.to(self.device), draws[n].to(self.device)
        return (float(probe.accuracy(pre_pool, py, pre_test, ty, idx).mean()),
                float(probe.accuracy(post_pool, py, post_test, ty, idx).mean()))

    def feature_table(self, r: int) -> np.ndarray:
        """[depth, d]: ‖(W_l ⋯ W_1)[:, k]‖ for each layer l and input feature k (without the factor a_k)."""
        with torch.no_grad():
            maps = models.products([w[r:r + 1].detach() for w in self.weights])
            return torch.cat([models.feature_weights(W) for W in maps]).cpu().numpy()

    @torch.no_grad()
    def evaluate(self) -> dict:
        loss = self.loss(self.weights)
        a = self.scales.numpy()
        out = {k: [] for k in METRICS}
        for r in range(len(self.configs)):
            table = self.feature_table(r)
            pre, post = table[0], table[-1]
            out["loss"].append(float(loss[r]))
            out["excess_loss"].append(excess(float(loss[r]), self.minimum))
            out["slope"].append(slope(pre, post))
            out["pre_spread"].append(spread(pre * a))
            out["post_spread"].append(spread(post * a))
            if len(self.weights) > 1:
                W1, W2 = self.weights[0][r], self.weights[1][r]
                g1 = W1 @ W1.T
                out["imbalance"].append(float((g1 - W2.T @ W2).norm() / g1.norm().clamp(min=1e-300)))
            else:
                out["imbalance"].append(math.nan)
            pre_acc, post_acc = self.probe_accuracies(r, self.c0.probe_labels)
            out["probe_pre"].append(pre_acc)
            out["probe_post"].append(post_acc)
            out["class_pre"].append(math.nan)
            out["class_post"].append(math.nan)
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    def artifacts(self, r: int, grids: bool = True) -> dict:
        table = self.feature_table(r)
        out = {"pre_weights": table[0], "post_weights": table[-1], "layer_weights": table}
        if grids:
            accs = np.array([self.probe_accuracies(r, n) for n in PROBE_GRID])
            out |= {"probe_grid": np.array(PROBE_GRID), "probe_pre_grid": accs[:, 0], "probe_post_grid": accs[:, 1]}
        return out


# --- the SupCon model --------------------------------------------------------------------------------
class _SupCon:
    """R replicas of the ReLU encoder + head trained with SupCon on fresh minibatches."""

    def __init__(self, configs: list[Config]):
        c0 = self.c0 = configs[0]
        self.configs = configs
        self.device = runtime.pick_device(c0.device)
        self.gens = [runtime.seed_everything(c.seed) for c in configs]
        self.rots = [data.rotation(c0.input_dim, g) for g in self.gens]
        self.model = models.SupConMLP(c0.input_dim, c0.hidden, c0.head_dim, c0.depth, c0.head, c0.kappa,
                                      self.gens, self.device)
        self.trainable = len(self.model.params) > 0
        self.opt = _opt(self.model.params, configs) if self.trainable else None
        self.tau = torch.tensor([c.temperature for c in configs], device=self.device)
        self.probes = [self._probe_data(r) for r in range(len(configs))]

    def _sample(self, r: int, n: int):
        c = self.c0
        return data.sample_classes(n, self.rots[r], self.gens[r], class_scale=c.class_scale,
                                   sub_scale=c.sub_scale, noise=c.noise)

    def _probe_data(self, r: int):
        x, cls, sub = self._sample(r, POOL + TEST)
        sizes = sorted({self.c0.probe_labels, *PROBE_GRID})
        draws = {(target, n): probe.draw_labelled(lab[:POOL], n, self.c0.probe_trials, self.gens[r])
                 for target, lab in (("sub", sub), ("class", cls)) for n in sizes}
        return x, {"sub": sub, "class": cls}, draws

    def _batch(self):
        """Two noisy views of a fresh batch per replica: inputs [R, 2B, in] and class labels [R, 2B]."""
        xs, ys = [], []
        for r in range(len(self.configs)):
            x, cls, _ = self._sample(r, self.c0.batch_size)
            v1 = data.noisy_view(x, self.c0.view_noise, self.gens[r])
            v2 = data.noisy_view(x, self.c0.view_noise, self.gens[r])
            xs.append(torch.cat([v1, v2]))
            ys.append(torch.cat([cls, cls]))
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def _loss(self, x, y, params, tau):
        z = self.model.project(self.model.encode(x, params), params)
        return losses.supcon(z, y, tau)

    def step(self, i: int) -> torch.Tensor:
        x, y = self._batch()
        if not self.trainable:
            return self._loss(x, y, None, self.tau).detach()
        ps = self.model.params
        if replicas.stacked(self.device, len(self.configs)):
            loss = self._loss(x, y, ps, self.tau)
            grads = torch.autograd.grad(loss.sum(), ps)
        else:
            parts = []
            for r in range(len(self.configs)):
                views = [w[r:r + 1] for w in ps]
                lr_ = self._loss(x[r:r + 1], y[r:r + 1], views, self.tau[r:r + 1])
                parts.append((lr_.detach(), torch.autograd.grad(lr_.sum(), views)))
            loss = torch.cat([p[0] for p in parts])
            grads = [torch.cat(gs) for gs in zip(*(p[1] for p in parts))]
        self.opt.step(grads)
        return loss.detach()

    @torch.no_grad()
    def representations(self, r: int, x: torch.Tensor):
        views = [w[r:r + 1] for w in self.model.params]
        h = self.model.encode(x.to(self.device)[None], views)
        return h[0], self.model.project(h, views)[0]

    def probe_accuracies(self, r: int, n: int, target: str = "sub") -> tuple[float, float]:
        x, labels, draws = self.probes[r]
        pre, post = self.representations(r, x)
        y = labels[target].to(self.device)
        idx = draws[(target, n)].to(self.device)
        return tuple(float(probe.accuracy(rep[:POOL], y[:POOL], rep[POOL:], y[POOL:], idx).mean())
                     for rep in (pre, post))

    @torch.no_grad()
    def evaluate(self) -> dict:
        out = {k: [] for k in METRICS}
        # The loss on a fixed evaluation batch would need its own draws; the logged loss is that of a fresh
        # batch drawn from a generator of its own, so logging never changes the training batches.
        for r in range(len(self.configs)):
            gen = torch.Generator().manual_seed(self.configs[r].seed + 7919)
            x, cls, _ = data.sample_classes(self.c0.batch_size, self.rots[r], gen, class_scale=self.c0.class_scale,
                                            sub_scale=self.c0.sub_scale, noise=self.c0.noise)
            noise = self.c0.view_noise
            views = torch.cat([data.noisy_view(x, noise, gen), data.noisy_view(x, noise, gen)])[None]
            labels = torch.cat([cls, cls])[None]
            ps = [w[r:r + 1] for w in self.model.params]
            loss = self._loss(views.to(self.device), labels.to(self.device), ps, self.tau[r:r + 1])
            out["loss"].append(float(loss[0]))
            for k in ("excess_loss", "slope", "imbalance", "pre_spread", "post_spread"):
                out[k].append(math.nan)
            pre_acc, post_acc = self.probe_accuracies(r, self.c0.probe_labels, "sub")
            cls_pre, cls_post = self.probe_accuracies(r, self.c0.probe_labels, "class")
            out["probe_pre"].append(pre_acc)
            out["probe_post"].append(post_acc)
            out["class_pre"].append(cls_pre)
            out["class_post"].append(cls_post)
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    def artifacts(self, r: int, grids: bool = True) -> dict:
        if not grids:
            return {}
        grid = np.array(PROBE_GRID)
        sub = np.array([self.probe_accuracies(r, n, "sub") for n in PROBE_GRID])
        cls = np.array([self.probe_accuracies(r, n, "class") for n in PROBE_GRID])
        return {"probe_grid": grid, "probe_pre_grid": sub[:, 0], "probe_post_grid": sub[:, 1],
                "class_pre_grid": cls[:, 0], "class_post_grid": cls[:, 1]}


# --- the SimCLR model on the digits ------------------------------------------------------------------
class _SimCLR(_SupCon):
    """R replicas of the digits CNN + head trained SimCLR-style: a batch of images, two augmented views of
    each; the SupCon loss with one label per image is SimCLR's NT-Xent loss (the other view is the only
    positive, every other view a negative)."""

    def __init__(self, configs: list[Config]):
        c0 = self.c0 = configs[0]
        self.configs = configs
        self.device = runtime.pick_device(c0.device)
        self.gens = [runtime.seed_everything(c.seed) for c in configs]
        self.pool_x, self.pool_y, self.test_x, self.test_y = data.load_digits()
        # the probes' label draws first, so that they depend on the seed only (not on the model's size)
        sizes = sorted({c0.probe_labels, *PROBE_GRID})
        self.draws = [{n: probe.draw_labelled(self.pool_y, n, c0.probe_trials, g, DIGITS_CLASSES) for n in sizes}
                      for g in self.gens]
        # the shift task: is a digit moved one pixel left or right (what the augmentation's shifts disrupt)?
        (sx, sy), (tx, ty) = data.shift_task(self.pool_x, self.test_x)
        self.shift_draws = [{n: probe.draw_labelled(sy, n, c0.probe_trials, g) for n in PROBE_GRID}
                            for g in self.gens]
        self.shift_images = torch.cat([sx, tx]).to(self.device)
        self.shift_labels = (sy.to(self.device), ty.to(self.device))
        self.model = models.DigitsCNN(c0.hidden, c0.head_dim, c0.depth, c0.head, c0.kappa, self.gens, self.device)
        self.trainable = len(self.model.params) > 0
        self.opt = _opt(self.model.params, configs)
        self.tau = torch.tensor([c.temperature for c in configs], device=self.device)
        self.images = torch.cat([self.pool_x, self.test_x]).to(self.device)
        self.labels = (self.pool_y.to(self.device), self.test_y.to(self.device))

    def _views(self, r: int, gen: torch.Generator) -> torch.Tensor:
        """Two augmented views [2B, 8, 8] of B distinct pool images drawn with replica r's generator."""
        idx = torch.randperm(len(self.pool_x), generator=gen)[:self.c0.batch_size]
        x = self.pool_x[idx]
        noise = self.c0.view_noise
        return torch.cat([data.augment_digits(x, noise, gen), data.augment_digits(x, noise, gen)])

    def _instances(self) -> torch.Tensor:
        b = torch.arange(self.c0.batch_size, device=self.device)
        return torch.cat([b, b])[None].expand(len(self.configs), -1)

    def _batch(self):
        xs = torch.stack([self._views(r, self.gens[r]) for r in range(len(self.configs))])
        return xs.to(self.device), self._instances()

    @torch.no_grad()
    def representations(self, r: int, x: torch.Tensor):
        views = [w[r:r + 1] for w in self.model.params]
        h = self.model.encode(x[None], views)
        return h[0], self.model.project(h, views)[0]

    def probe_accuracies(self, r: int, n: int, target: str = "digit") -> tuple[float, float]:
        pre, post = self.representations(r, self.images)
        return tuple(self._probe(rep, r, n) for rep in (pre, post))

    def _probe(self, rep: torch.Tensor, r: int, n: int, task: str = "digit") -> float:
        P = len(self.pool_x)
        if task == "shift":
            idx, (pool_y, test_y), classes = self.shift_draws[r][n], self.shift_labels, 2
        else:
            idx, (pool_y, test_y), classes = self.draws[r][n], self.labels, DIGITS_CLASSES
        return float(probe.accuracy(rep[:P], pool_y, rep[P:], test_y, idx.to(self.device), classes).mean())

    @torch.no_grad()
    def evaluate(self) -> dict:
        out = {k: [] for k in METRICS}
        for r in range(len(self.configs)):
            # the loss of a batch drawn from a generator of its own (logging never changes the training batches)
            gen = torch.Generator().manual_seed(self.configs[r].seed + 7919)
            views = self._views(r, gen)[None].to(self.device)
            ps = [w[r:r + 1] for w in self.model.params]
            loss = self._loss(views, self._instances()[:1], ps, self.tau[r:r + 1])
            out["loss"].append(float(loss[0]))
            for k in ("excess_loss", "slope", "imbalance", "pre_spread", "post_spread", "class_pre", "class_post"):
                out[k].append(math.nan)
            pre_acc, post_acc = self.probe_accuracies(r, self.c0.probe_labels)
            out["probe_pre"].append(pre_acc)
            out["probe_post"].append(post_acc)
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    def artifacts(self, r: int, grids: bool = True) -> dict:
        if not grids:
            return {}
        grid = np.array(PROBE_GRID)
        out = {"probe_grid": grid}
        for task, images in (("probe", self.images), ("shift", self.shift_images)):
            pre, post = self.representations(r, images)
            reps = (pre, post, images.flatten(1))
            accs = np.array([[self._probe(rep, r, n, "shift" if task == "shift" else "digit") for rep in reps]
                             for n in PROBE_GRID])
            out |= {f"{task}_pre_grid": accs[:, 0], f"{task}_post_grid": accs[:, 1], f"{task}_input_grid": accs[:, 2]}
        return out


# --- supervised learning on digits with a spurious marker -------------------------------------------
class _Supervised(_SimCLR):
    """R replicas of the digits CNN + head + a linear classifier trained with cross-entropy on the pool, where
    a marker pixel names the digit in a fraction data.SPURIOUS of the training images (a shortcut). The
    probes read the digit from h and z on images whose marker is random (the correlation is broken)."""

    def __init__(self, configs: list[Config]):
        super().__init__(configs)
        c0 = self.c0
        width = c0.head_dim if c0.depth > 1 else c0.hidden
        self.clf = [uniform((width, DIGITS_CLASSES), width, self.gens, self.device),
                    uniform((1, DIGITS_CLASSES), width, self.gens, self.device)]
        self.params = self.model.params + self.clf
        self.opt = _opt(self.params, configs)
        pool_r, test_r = data.random_marker_task(self.pool_x, self.test_x)
        self.images = torch.cat([pool_r, test_r]).to(self.device)  # what every probe reads
        matched = data.mark_digits(self.test_x, self.test_y)  # the training correlation, at its strongest
        self.clf_tests = {"random": test_r.to(self.device), "matched": matched.to(self.device)}

    def _logits(self, x, params):
        n = len(self.model.params)
        z = self.model.project(self.model.encode(x, params[:n]), params[:n])
        return z @ params[n] + params[n + 1]

    def _loss(self, x, y, params, tau=None):
        logits = self._logits(x, params)
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(
            y.shape).mean(1)

    def _marked_batch(self, r: int, gen: torch.Generator):
        idx = torch.randperm(len(self.pool_x), generator=gen)[:self.c0.batch_size]
        y = self.pool_y[idx]
        return data.mark_digits(self.pool_x[idx], data.marker_classes(y, data.SPURIOUS, gen)), y

    def _batch(self):
        xs, ys = zip(*(self._marked_batch(r, self.gens[r]) for r in range(len(self.configs))))
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def step(self, i: int) -> torch.Tensor:
        x, y = self._batch()
        if replicas.stacked(self.device, len(self.configs)):
            loss = self._loss(x, y, self.params)
            grads = torch.autograd.grad(loss.sum(), self.params)
        else:
            parts = []
            for r in range(len(self.configs)):
                views = [w[r:r + 1] for w in self.params]
                lr_ = self._loss(x[r:r + 1], y[r:r + 1], views)
                parts.append((lr_.detach(), torch.autograd.grad(lr_.sum(), views)))
            loss = torch.cat([p[0] for p in parts])
            grads = [torch.cat(gs) for gs in zip(*(p[1] for p in parts))]
        self.opt.step(grads)
        return loss.detach()

    @torch.no_grad()
    def classifier_accuracy(self, r: int, which: str) -> float:
        """The trained network's own test accuracy on the digits, with markers at random or matching."""
        views = [w[r:r + 1] for w in self.params]
        pred = self._logits(self.clf_tests[which][None], views)[0].argmax(-1)
        return float((pred == self.test_y.to(self.device)).float().mean())

    @torch.no_grad()
    def evaluate(self) -> dict:
        out = {k: [] for k in METRICS}
        for r in range(len(self.configs)):
            gen = torch.Generator().manual_seed(self.configs[r].seed + 7919)
            x, y = self._marked_batch(r, gen)
            views = [w[r:r + 1] for w in self.params]
            out["loss"].append(float(self._loss(x[None].to(self.device), y[None].to(self.device), views)[0]))
            for k in ("excess_loss", "slope", "imbalance", "pre_spread", "post_spread", "class_pre", "class_post"):
                out[k].append(math.nan)
            pre_acc, post_acc = self.probe_accuracies(r, self.c0.probe_labels)
            out["probe_pre"].append(pre_acc)
            out["probe_post"].append(post_acc)
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    def artifacts(self, r: int, grids: bool = True) -> dict:
        if not grids:
            return {}
        pre, post = self.representations(r, self.images)
        reps = (pre, post, self.images.flatten(1))
        accs = np.array([[self._probe(rep, r, n) for rep in reps] for n in PROBE_GRID])
        return {"probe_grid": np.array(PROBE_GRID), "probe_pre_grid": accs[:, 0], "probe_post_grid": accs[:, 1],
                "probe_input_grid": accs[:, 2],
                "classifier_random": np.array([self.classifier_accuracy(r, "random")]),
                "classifier_matched": np.array([self.classifier_accuracy(r, "matched")])}


def _schedule(config: Config) -> np.ndarray:
    return log_steps(num_steps(config), num_points=config.num_logs, log=config.log_spaced)


def _train(configs: list[Config], on_step, stop, progress, desc) -> list[Run]:
    """One stacked run of configs that differ only in REPLICA_FIELDS."""
    replicas.check_group(configs, REPLICA_FIELDS)
    start = time.perf_counter()
    kinds = {"linear": _Linear, "supcon": _SupCon, "simclr": _SimCLR, "supervised": _Supervised}
    exp = kinds[configs[0].model](configs)
    log = train(exp.step, num_steps(configs[0]), evaluate=exp.evaluate, log_at=_schedule(configs[0]),
                on_step=on_step, stop=stop, progress=progress, desc=desc)
    # The probe grids describe a finished run: a stopped one (the explorer's Stop, a re-derivation of an early
    # stretch) ends without them, which saves the largest part of a short run's cost.
    grids = log.status != "stopped"
    return replicas.split(sys.modules[__package__], configs, log, seconds=time.perf_counter() - start,
                          device=exp.device, artifacts=lambda r: exp.artifacts(r, grids))


def run(config: Config, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one model and return its Run (history of METRICS; artifacts: the linear model's feature weights,
    and the probe accuracies at PROBE_GRID labels, which a stopped run leaves out)."""
    if not isinstance(config, Config):
        raise TypeError(f"run() needs a projection.Config, got {type(config).__name__}")
    return _train([config], replicas.first_replica(on_step), stop, progress, f"projection {config.model}")[0]


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs; those that differ only in REPLICA_FIELDS share one stacked model."""
    train_group = lambda group: _train(group, on_step, stop, progress, f"projection sweep x{len(group)}")
    return replicas.sweep(configs, train_group, REPLICA_FIELDS)
