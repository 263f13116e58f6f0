"""Grokking on modular arithmetic: Config -> run() -> Run, and batched sweeps (run_sweep).

Prieto et al. 2025 ("Grokking at the Edge of Numerical Stability"), Power et al. 2022, Nanda et al. 2023.
Chapter: nbs/01_grokking.py.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import graphs, replicas, runtime
from ..runs import Config as BaseConfig
from ..runs import ConfigError, Run, param
from ..train import log_steps, train
from . import data, losses, models, optim

#: Part of every cache key: bump when a change alters what a run computes (`code_version` refines it).
CODE_VERSION = 1

TITLE = "Grokking on modular arithmetic"
CHAPTER = "nbs/01_grokking.py"
METRICS = {
    "train_acc": "train accuracy",
    "test_acc": "test accuracy",
    "train_loss": "train loss (cross-entropy, nats)",
    "test_loss": "test loss (cross-entropy, nats)",
    "sc_fraction": "training samples in Softmax Collapse: softmax sum exactly 1 (fraction)",
    "stablemax_sc_fraction": "training samples whose StableMax sum is exactly 1 (fraction)",
    "zero_loss_fraction": "training samples with loss exactly 0 in the loss precision (fraction)",
    "weight_norm": "weight norm ‖θ‖₂",
    "nlm_cosine": "cos(−gradient, weights): alignment with naive loss minimisation",
}
PLOT_GROUPS = {
    "accuracy": ("train_acc", "test_acc"),
    "loss": ("train_loss", "test_loss"),
    "softmax collapse": ("sc_fraction", "stablemax_sc_fraction", "zero_loss_fraction"),
    "weight norm": ("weight_norm",),
    "gradient vs NLM direction": ("nlm_cosine",),
}
X_TITLE = "epoch (full-batch step)"


@dataclass(frozen=True)
class Config(BaseConfig):
    """One grokking experiment; the defaults are the paper's MLP on (a + b) mod 113."""

    modulus: int = param(113, low=2, high=1000, widget=(5, 199), help="p: labels are (a ∘ b) mod p")
    operation: str = param("add", choices=data.OPERATIONS, help="∘ (div needs a prime modulus)")
    train_fraction: float = param(0.4, low=0.0, high=1.0, widget=(0.05, 0.95),
                                  help="share of the p² pairs used for training")
    model: str = param("mlp", choices=models.MODELS,
                       help="mlp: the paper's MLP; transformer: Nanda et al.'s one-layer transformer; "
                            "paper_transformer: the paper's encoder layer (a, b in 1..p−1)")
    width: int = param(200, low=1, high=4096, log=True, widget=(8, 1024),
                       help="MLP hidden width (the transformers have fixed sizes)")
    loss: str = param("softmax", choices=losses.LOSSES, help="normaliser of the cross-entropy")
    precision: str = param("float32", choices=losses.PRECISIONS, help="precision the loss is computed in")
    optimizer: str = param("adamw", choices=optim.OPTIMIZERS, help="perp_* = ⊥Grad version")
    lr: float = param(0.01, low=1e-6, high=100.0, log=True, widget=(1e-5, 10.0), help="learning rate")
    weight_decay: float = param(0.0, low=0.0, high=10.0, widget=(0.0, 5.0), help="decoupled (AdamW) or L2 (SGD) decay")
    beta2: float = param(0.99, low=0.0, high=0.99999, widget=(0.9, 0.9999), help="Adam's second-moment decay")
    eps: float = param(1e-25, low=1e-30, high=1e-2, log=True, help="Adam's eps (the paper's code: 1e-25)")
    momentum: float = param(0.0, low=0.0, high=0.99, help="SGD momentum")
    epochs: int = param(300, low=1, high=1_000_000, log=True, widget=(10, 10_000), help="full-batch steps")
    seed: int = param(0, low=0, high=2**31 - 1, widget=(0, 20), help="seeds the split and the initial weights")
    device: str = param("auto", choices=runtime.DEVICE_NAMES, help="where to train")
    num_logs: int = param(101, low=2, high=100_000, widget=(10, 1000), help="evaluations along the run")
    log_spaced: bool = param(False, help="evaluate at log-spaced steps (long runs)")

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if not 0.0 < self.train_fraction < 1.0:
            raise ConfigError(f"{name}.train_fraction={self.train_fraction!r} is out of range: "
                              "allowed 0 < train_fraction < 1")
        if self.operation == "div" and not data.is_prime(self.modulus):
            raise ConfigError(f"{name}.operation='div' needs a prime modulus, got modulus={self.modulus}; "
                              "use a prime (e.g. 97, 113) or another operation")
        pairs = data.num_pairs(self.modulus, self.operation, self.model == "paper_transformer")
        n = data.num_train(pairs, self.train_fraction)
        if n < 1 or n >= pairs:
            raise ConfigError(f"{name}.train_fraction={self.train_fraction!r} leaves {n} of {pairs} pairs "
                              f"for training at modulus={self.modulus}: need at least one train and one test pair")


def transformer_config(**changes) -> Config:
    """Nanda et al. 2023's transformer and recipe: AdamW lr 1e-3, betas (0.9, 0.98), weight decay 1, train
    fraction 0.3. Their loss was computed in float64, so is this one.
    """
    base = dict(model="transformer", optimizer="adamw", lr=1e-3, beta2=0.98, eps=1e-8, weight_decay=1.0,
                train_fraction=0.3, precision="float64")
    return Config(**(base | changes))


def paper_transformer_config(**changes) -> Config:
    """The paper's transformer run (its Fig. 6 script): ⊥AdamW lr 1e-3, no weight decay, train fraction 0.4,
    softmax in float32, 5000 epochs. Its ⊥AdamW wrapper builds the inner AdamW with torch's default betas
    and eps, so the run has beta2 0.999 and eps 1e-8 whatever its command line says; so does this one.
    """
    base = dict(model="paper_transformer", optimizer="perp_adamw", lr=1e-3, beta2=0.999, eps=1e-8,
                weight_decay=0.0, train_fraction=0.4, precision="float32", epochs=5000)
    return Config(**(base | changes))


def num_steps(config: Config) -> int:
    """Full batch: one step per epoch."""
    return config.epochs


def code_version(config: Config) -> int:
    """The code version a run is stored under: CODE_VERSION, plus one for the kinds of run changed since.

    Version 2 changed StableMax runs only, so only those were recomputed: log s is taken after the cast
    to float64 (as the paper's code does), `sc_fraction` is the softmax of the raw logits as the paper's
    logger measures it, and `stablemax_sc_fraction` is new. `zero_loss_fraction` now counts exact zeros
    in the loss precision instead of after a float32 cast, which changes no stored run: log-softmax gives
    a float64 cross-entropy of either exactly 0 or at least about 1e-16 (one rounding unit of its
    log-sum-exp), far above float32's smallest number, so the cast never turned a loss into 0.
    """
    return CODE_VERSION + 1 if config.loss == "stablemax" else CODE_VERSION


#: Fields that may differ inside one stacked sweep; everything else fixes the shapes and the schedule.
REPLICA_FIELDS = ("seed", "lr", "weight_decay", "beta2", "eps", "momentum", "loss", "precision")


class _Experiment:
    """R replicas (same shapes, own seeds/hyper-parameters) trained as one stacked computation."""

    def __init__(self, configs: list[Config]):
        c0 = configs[0]
        self.configs = configs
        self.device = runtime.pick_device(c0.device)
        gens = [runtime.seed_everything(c.seed) for c in configs]
        tokens = {"nonzero": True} if c0.model == "paper_transformer" else {}  # its data: a, b in 1..p−1
        splits = [data.split(c.modulus, c.operation, c.train_fraction, g, **tokens) for c, g in zip(configs, gens)]
        to = lambda t: t.to(self.device)
        self.sets = {part: tuple(to(torch.stack([s[part][i] for s in splits])) for i in range(3))
                     for part in ("train", "test")}  # each: a, b, y of shape [R, n]
        self.model = models.build(c0.model, c0.modulus, c0.width, gens, self.device)
        self.opt = optim.make(
            self.model.params, c0.optimizer, lr=[c.lr for c in configs],
            weight_decay=[c.weight_decay for c in configs], beta2=[c.beta2 for c in configs],
            eps=[c.eps for c in configs], momentum=[c.momentum for c in configs])
        # Replicas sharing a (loss, precision) compute their loss together.
        kinds = [(c.loss, c.precision) for c in configs]
        self.loss_groups = [(k, torch.tensor([r for r, kr in enumerate(kinds) if kr == k], device=self.device))
                            for k in dict.fromkeys(kinds)]
        self._cached = None  # (loss, grads, logits) of the current weights, made by evaluate()
        self.dropout = getattr(self.model, "DROPOUT", 0) > 0  # then training steps and metrics differ
        # On a GPU the whole step (forward, backward, optimiser) replays as one CUDA graph: at p = 113 the
        # step is launch-bound (benchmarks/gpu.py). Dropout draws from per-replica generators: eager.
        self.graphed = (graphs.GraphedStep(self._full_step)
                        if graphs.enabled(self.device) and not self.dropout else None)

    def per_sample_loss(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[R, n] cross-entropy, each replica in its own loss and precision (returned as float32), and
        [R, n] True where that loss is exactly 0 in its own precision (before the cast)."""
        if len(self.loss_groups) == 1:
            (loss, prec), _ = self.loss_groups[0]
            ce = losses.cross_entropy(logits, y, loss=loss, precision=prec)
            return ce.float(), ce == 0
        out = logits.new_empty(y.shape)
        zero = torch.zeros(y.shape, dtype=torch.bool, device=y.device)
        for (loss, prec), idx in self.loss_groups:
            ce = losses.cross_entropy(logits[idx], y[idx], loss=loss, precision=prec)
            out = out.index_put((idx,), ce.float())
            zero[idx] = ce == 0
        return out, zero

    def forward_backward(self):
        """Training loss [R], gradients, logits and per-sample losses at the current weights."""
        a, b, y = self.sets["train"]
        if replicas.stacked(self.device, len(self.configs)):
            logits = self.model.logits(a, b, **({"train": True} if self.dropout else {}))
            per_sample, zero = self.per_sample_loss(logits, y)
            loss = per_sample.mean(1)  # [R]
            grads = torch.autograd.grad(loss.sum(), self.model.params)  # replicas are independent
            return loss.detach(), grads, logits.detach(), zero
        # On a CPU batched matmuls save no arithmetic, and one replica at a time keeps the working set
        # as small as a single run's, so a sweep costs no more per seed than single runs.
        parts = []
        for r, c in enumerate(self.configs):
            views = [w[r:r + 1] for w in self.model.params]
            logits = self.model.logits(a[r:r + 1], b[r:r + 1], views,
                                       **({"train": True, "rows": [r]} if self.dropout else {}))
            ce = losses.cross_entropy(logits, y[r:r + 1], loss=c.loss, precision=c.precision)
            loss = ce.float().mean(1)
            parts.append((loss.detach(), torch.autograd.grad(loss.sum(), views), logits.detach(), ce == 0))
        grads = [torch.cat(gs) for gs in zip(*(p[1] for p in parts))]
        return (torch.cat([p[0] for p in parts]), grads, torch.cat([p[2] for p in parts]),
                torch.cat([p[3] for p in parts]))

    def _full_step(self, i: int) -> torch.Tensor:
        loss, grads = self.forward_backward()[:2]
        self.opt.step(grads)
        return loss

    def step(self, i: int) -> torch.Tensor:
        if self.graphed is not None:
            self._cached = None  # the graph recomputes the gradients evaluate() made (same weights)
            return self.graphed(i)
        if self._cached is not None:
            loss, grads = self._cached[:2]
            self._cached = None
        else:
            loss, grads = self.forward_backward()[:2]
        self.opt.step(grads)
        return loss

    @torch.no_grad()
    def _collapse(self, logits) -> dict[str, torch.Tensor]:
        """Collapse fractions [R] of the training logits, each replica measured as the paper's logger does.

        sc_fraction: softmax sum exactly 1, in the loss precision for softmax runs; for StableMax runs the
        ordinary softmax of the raw logits in the model's float32 (the paper's logger measures it in its
        `softmax_precision`, float32 in every StableMax run of the paper). stablemax_sc_fraction: the
        StableMax sum exactly 1 in the loss precision; logged when a replica uses StableMax, NaN for the
        softmax replicas of the same sweep.
        """
        sc = torch.zeros(logits.shape[:2], dtype=torch.bool, device=logits.device)
        stable = torch.full(logits.shape[:1], float("nan"), dtype=torch.float64, device=logits.device)
        for (loss, prec), idx in self.loss_groups:
            sc[idx] = losses.softmax_collapse(logits[idx], loss="softmax",
                                              precision=prec if loss == "softmax" else "float32")
            if loss == "stablemax":
                stable[idx] = losses.softmax_collapse(logits[idx], loss=loss, precision=prec).double().mean(1)
        out = {"sc_fraction": sc.double().mean(1)}
        if any(loss == "stablemax" for (loss, _), _ in self.loss_groups):
            out["stablemax_sc_fraction"] = stable
        return out

    def evaluate(self) -> dict:
        loss, grads, logits, zero = self._cached = self.forward_backward()
        with torch.no_grad():
            a, b, y = self.sets["train"]
            if self.dropout:
                # The training step saw dropout; the metrics are those of the model in eval mode (as the
                # paper's logger measures them). The gradients stay those of the step.
                logits = self.model.logits(a, b)
                per_sample, zero = self.per_sample_loss(logits, y)
                loss = per_sample.mean(1)
            a_t, b_t, y_t = self.sets["test"]
            test_logits = self.model.logits(a_t, b_t)
            test_loss = self.per_sample_loss(test_logits, y_t)[0].mean(1)
            params = self.model.params
            # Sums of squares in float64: in float32 they overflow to inf once ‖θ‖ passes ~1.8e19 (Adam with
            # beta2 = 0 gets there) while the weights themselves are still finite.
            sq = sum(w.double().pow(2).flatten(1).sum(1) for w in params)
            g_sq = sum(g.double().pow(2).flatten(1).sum(1) for g in grads)
            w_dot_g = sum((w.double() * g.double()).flatten(1).sum(1) for w, g in zip(params, grads))
            # NLM direction = the weights; descent moves along −g, so report cos(−g, w).
            nlm = -w_dot_g / (sq.sqrt() * g_sq.sqrt()).clamp(min=1e-30)
            metrics = {
                "train_acc": (logits.argmax(-1) == y).double().mean(1),
                "test_acc": (test_logits.argmax(-1) == y_t).double().mean(1),
                "train_loss": loss.double(),
                "test_loss": test_loss.double(),
                **self._collapse(logits),
                "zero_loss_fraction": zero.double().mean(1),
                "weight_norm": sq.double().sqrt(),
                "nlm_cosine": nlm.double(),
            }
        return {k: v.cpu().numpy() for k, v in metrics.items()}


def _schedule(config: Config) -> np.ndarray:
    return log_steps(num_steps(config), num_points=config.num_logs, log=config.log_spaced)


def _train(configs: list[Config], on_step, stop, progress, desc) -> list[Run]:
    """One stacked run of configs that differ only in REPLICA_FIELDS."""
    replicas.check_group(configs, REPLICA_FIELDS)
    start = time.perf_counter()
    exp = _Experiment(configs)
    log = train(exp.step, num_steps(configs[0]), evaluate=exp.evaluate, log_at=_schedule(configs[0]),
                on_step=on_step, stop=stop, progress=progress, desc=desc)
    return replicas.split(sys.modules[__package__], configs, log, seconds=time.perf_counter() - start,
                          device=exp.device)


def run(config: Config, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one model and return its Run (history of METRICS on the logging schedule)."""
    if not isinstance(config, Config):
        raise TypeError(f"run() needs a grokking.Config, got {type(config).__name__}")
    return _train([config], replicas.first_replica(on_step), stop, progress, f"grokking {config.optimizer}")[0]


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs; those that differ only in REPLICA_FIELDS share one stacked model."""
    train_group = lambda group: _train(group, on_step, stop, progress, f"grokking sweep x{len(group)}")
    return replicas.sweep(configs, train_group, REPLICA_FIELDS)
