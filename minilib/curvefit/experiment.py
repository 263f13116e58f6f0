"""Chapter 0's experiment: a one-hidden-layer MLP fitting a noisy 1-D function (Config, run, run_sweep).

It exists to show the kit (Config -> run() -> Run, run_or_load, plots, the explorer) on something that
trains in seconds on a CPU: as the hidden layer widens, the training loss falls below the noise level
(the net fits the noise) while the test loss stays above it. Introduced in `nbs/00_start_here.py`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch

from .. import replicas, runtime
from ..runs import Config as BaseConfig
from ..runs import ConfigError, Run, param
from ..train import log_steps, train

CODE_VERSION = 2
TITLE = "Fitting a noisy curve"
CHAPTER = "nbs/00_start_here.py"
METRICS = {"train_loss": "train loss (mean squared error)", "test_loss": "test loss (mean squared error)"}
PLOT_GROUPS = {"loss (mean squared error)": ("train_loss", "test_loss")}
X_TITLE = "training step (full batch)"
#: Fields that may differ between the replicas of one stacked run (the rest fixes shapes and schedule).
REPLICA_FIELDS = ("seed", "lr", "weight_decay", "noise")
#: Chapter 0 trains everything live, in seconds: nothing is shipped.
SHIPPED: dict = {}
TARGETS = {
    "sine": lambda x: torch.sin(3 * x),
    "step": lambda x: torch.sign(x),
    "abs": lambda x: 2 * x.abs() - 1,
}
N_TEST = 512


@dataclass(frozen=True)
class Config(BaseConfig):
    """A noisy 1-D regression problem and the MLP that fits it."""

    target: str = param("sine", choices=tuple(TARGETS), help="the noise-free function y = f(x), x in [-1, 1]")
    n_train: int = param(24, low=2, high=4096, log=True, widget=(4, 1024), help="number of training points")
    noise: float = param(0.3, low=0.0, high=2.0, widget=(0.0, 1.0), help="std of the Gaussian label noise")
    width: int = param(64, low=1, high=8192, log=True, widget=(1, 4096), help="hidden units")
    optimizer: str = param("adamw", choices=("adamw", "sgd"), help="optimizer")
    lr: float = param(1e-2, low=1e-5, high=10.0, log=True, widget=(1e-4, 10.0), help="learning rate")
    weight_decay: float = param(0.0, low=0.0, high=10.0, widget=(0.0, 1.0), help="weight decay (decoupled for AdamW)")
    steps: int = param(2000, low=1, high=1_000_000, log=True, widget=(100, 20_000), help="full-batch training steps")
    num_logs: int = param(60, low=2, high=2000, help="how many times the losses are evaluated")
    seed: int = param(0, low=0, high=2**31 - 1, widget=(0, 20), help="random seed (data and initialisation)")
    device: str = param("auto", choices=runtime.DEVICE_NAMES, help="where to train")

    def validate(self):
        super().validate()
        if self.num_logs > self.steps + 1:
            raise ConfigError(f"Config.num_logs={self.num_logs} is out of range: allowed 2 <= num_logs <= "
                              f"steps + 1 = {self.steps + 1}")


def num_steps(config: Config) -> int:
    return config.steps


def make_data(config: Config, gen: torch.Generator):
    """Training points with noisy labels, a noisy test set, and the noise-free curve on a grid."""
    f = TARGETS[config.target]
    x_train = torch.rand(config.n_train, 1, generator=gen) * 2 - 1
    x_test = torch.rand(N_TEST, 1, generator=gen) * 2 - 1
    y_train = f(x_train) + config.noise * torch.randn(config.n_train, 1, generator=gen)
    y_test = f(x_test) + config.noise * torch.randn(N_TEST, 1, generator=gen)
    return x_train, y_train, x_test, y_test


def init_weights(width: int, generators, device) -> list[torch.Tensor]:
    """Stacked weights for one net per generator, PyTorch-default (uniform ±1/sqrt(fan_in)) init."""
    u = lambda shape, fan_in: replicas.uniform(shape, fan_in, generators, device)
    return [u((1, width), 1), u((1, width), 1), u((width, 1), width), u((1, 1), width)]


def forward(params, x):
    """x: [n, batch, 1] -> [n, batch, 1] for n stacked nets."""
    w1, b1, w2, b2 = params
    return torch.relu(x @ w1 + b1) @ w2 + b2


def mse(params, x, y) -> torch.Tensor:
    """Mean squared error of each stacked net over its points: [n]."""
    return ((forward(params, x) - y) ** 2).mean(dim=(1, 2))


def run(config: Config, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one MLP on one noisy data set; returns its Run."""
    if not isinstance(config, Config):
        raise TypeError(f"run() needs a curvefit.Config, got {type(config).__name__}")
    return _train([config], replicas.first_replica(on_step), stop, progress)[0]


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs; those that differ only in REPLICA_FIELDS train as one stacked model."""
    return replicas.sweep(configs, lambda group: _train(group, on_step, stop, progress), REPLICA_FIELDS)


def _train(configs: list[Config], on_step, stop, progress) -> list[Run]:
    replicas.check_group(configs, REPLICA_FIELDS)
    base = configs[0]
    device = runtime.pick_device(base.device)
    gens = [runtime.seed_everything(c.seed) for c in configs]
    data = [make_data(c, g) for c, g in zip(configs, gens, strict=True)]
    x_train, y_train, x_test, y_test = (torch.stack([d[i] for d in data]).to(device) for i in range(4))
    params = init_weights(base.width, gens, device)
    opt = replicas.StackedOptimizer(params, base.optimizer, lr=[c.lr for c in configs],
                                    weight_decay=[c.weight_decay for c in configs])

    def step(i):
        loss = mse(params, x_train, y_train)
        # Replicas are independent, so the gradient of the sum is each replica's own gradient.
        opt.step(torch.autograd.grad(loss.sum(), params))
        return loss.detach()

    def evaluate():
        with torch.no_grad():
            return {"train_loss": mse(params, x_train, y_train).cpu().numpy(),
                    "test_loss": mse(params, x_test, y_test).cpu().numpy()}

    start = time.perf_counter()
    log = train(step, base.steps, evaluate=evaluate, log_at=log_steps(base.steps, num_points=base.num_logs),
                on_step=on_step, stop=stop, progress=progress, desc="curvefit")
    seconds = time.perf_counter() - start
    grid = torch.linspace(-1, 1, 200, device=device).view(1, -1, 1).expand(len(configs), -1, -1)
    with torch.no_grad():
        curve = forward(params, grid).squeeze(-1).cpu().numpy()

    def artifacts(j):
        return {"x_train": x_train[j, :, 0].cpu().numpy(), "y_train": y_train[j, :, 0].cpu().numpy(),
                "x_grid": grid[0, :, 0].cpu().numpy(), "y_fit": curve[j],
                "y_true": TARGETS[configs[j].target](grid[0, :, 0]).cpu().numpy()}

    return replicas.split(sys.modules[__package__], configs, log, seconds=seconds, device=device, artifacts=artifacts)
