"""A tiny real experiment for chapter 0: a one-hidden-layer MLP fitting a noisy 1-D function.

It exists to show the kit (Config -> run() -> Run, run_or_load, plots, the explorer) on something that
trains in seconds on a CPU: as the hidden layer widens, the training loss falls below the noise level
(the net fits the noise) while the test loss stays above it. Introduced in `nbs/00_start_here.py`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from . import runtime
from .runs import Config as BaseConfig
from .runs import ConfigError, Run, param
from .train import log_steps, train

CODE_VERSION = 1
METRICS = ("train_loss", "test_loss")
PLOT_GROUPS = {"loss": ("train_loss", "test_loss")}
X_TITLE = "training step (full batch)"
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
    n_train: int = param(24, low=2, high=4096, log=True, help="number of training points")
    noise: float = param(0.3, low=0.0, high=2.0, help="std of the Gaussian label noise")
    width: int = param(64, low=1, high=8192, log=True, help="hidden units")
    optimizer: str = param("adam", choices=("adam", "sgd"), help="optimizer")
    lr: float = param(1e-2, low=1e-5, high=10.0, log=True, help="learning rate")
    weight_decay: float = param(0.0, low=0.0, high=10.0, help="decoupled weight decay (AdamW style)")
    steps: int = param(2000, low=1, high=1_000_000, log=True, help="full-batch training steps")
    num_logs: int = param(60, low=2, high=2000, help="how many times the losses are evaluated")
    seed: int = param(0, low=0, high=2**31 - 1, help="random seed (data and initialisation)")
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


def init_weights(width: int, n: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Stacked weights for n independent nets, PyTorch-default (uniform +-1/sqrt(fan_in)) init."""
    bound1, bound2 = 1.0, 1.0 / math.sqrt(width)
    u = lambda *shape, b: (torch.rand(*shape, generator=gen) * 2 - 1) * b
    return [u(n, 1, width, b=bound1), u(n, 1, width, b=bound1), u(n, width, 1, b=bound2), u(n, 1, 1, b=bound2)]


def forward(params, x):
    """x: [n, batch, 1] -> [n, batch, 1] for n stacked nets."""
    w1, b1, w2, b2 = params
    return torch.relu(x @ w1 + b1) @ w2 + b2


def run(config: Config, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one MLP on one noisy data set; returns its Run."""
    return run_sweep([config], on_step=on_step, stop=stop, progress=progress)[0]


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs that differ only in seed, lr, weight_decay or noise as one stacked model."""
    configs = list(configs)
    if not configs:
        raise ValueError("run_sweep needs at least one config")
    shared = ("target", "n_train", "width", "optimizer", "steps", "num_logs", "device")
    base = configs[0]
    for c in configs[1:]:
        diff = [f for f in shared if getattr(c, f) != getattr(base, f)]
        if diff:
            raise ValueError(f"run_sweep batches configs of one shape; these fields differ: {diff}")
    device = runtime.pick_device(base.device)
    n = len(configs)
    data, params = [], []
    for c in configs:
        gen = runtime.seed_everything(c.seed)
        data.append(make_data(c, gen))
        params.append(init_weights(c.width, 1, gen))
    x_train, y_train, x_test, y_test = (torch.stack([d[i] for d in data]).to(device) for i in range(4))
    params = [torch.cat([p[i] for p in params]).to(device).requires_grad_() for i in range(4)]
    lr = torch.tensor([c.lr for c in configs], device=device).view(n, 1, 1)
    wd = torch.tensor([c.weight_decay for c in configs], device=device).view(n, 1, 1)
    # One optimizer over the stacked tensors; per-net lr and decay are applied by scaling the update.
    opt_cls = torch.optim.Adam if base.optimizer == "adam" else torch.optim.SGD
    opt = opt_cls(params, lr=1.0)

    def step(i):
        opt.zero_grad(set_to_none=True)
        per_net = ((forward(params, x_train) - y_train) ** 2).mean(dim=(1, 2))
        per_net.sum().backward()
        before = [p.detach().clone() for p in params]
        opt.step()
        with torch.no_grad():
            for p, old in zip(params, before):
                shape = (n,) + (1,) * (p.dim() - 1)
                p.copy_(old + (p - old) * lr.view(shape) - lr.view(shape) * wd.view(shape) * old)
        return per_net.detach()

    def evaluate():
        with torch.no_grad():
            tr = ((forward(params, x_train) - y_train) ** 2).mean(dim=(1, 2))
            te = ((forward(params, x_test) - y_test) ** 2).mean(dim=(1, 2))
        return {"train_loss": tr.cpu().numpy(), "test_loss": te.cpu().numpy()}

    def report(done, metrics):
        if on_step is not None:
            on_step(done, {k: (float(v[0]) if n == 1 and k != "step" else v) for k, v in metrics.items()})

    t0 = time.perf_counter()
    log = train(step, base.steps, evaluate=evaluate, log_at=log_steps(base.steps, num_points=base.num_logs),
                on_step=report, stop=stop, progress=progress, desc="curvefit")
    seconds = time.perf_counter() - t0
    grid = torch.linspace(-1, 1, 200, device=device).view(1, -1, 1).expand(n, -1, -1)
    with torch.no_grad():
        curve = forward(params, grid).squeeze(-1).cpu().numpy()
    runs = []
    for j, c in enumerate(configs):
        hist, status, diverged_at = log.replica(j)
        arts = {"x_train": x_train[j, :, 0].cpu().numpy(), "y_train": y_train[j, :, 0].cpu().numpy(),
                "x_grid": grid[0, :, 0].cpu().numpy(), "y_fit": curve[j],
                "y_true": TARGETS[c.target](grid[0, :, 0]).cpu().numpy()}
        meta = {"code_version": CODE_VERSION, "device": str(device), "seconds": seconds, "batched": n}
        runs.append(Run(c, hist, arts, status, diverged_at, meta))
    return runs
