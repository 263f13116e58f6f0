"""The MCMC baseline for learning-curve extrapolation: the posterior over a curve's 13 parameters under
the same prior the LC-PFN is trained on (minilib.pfn.lc), sampled with emcee's affine-invariant ensemble
(Foreman-Mackey et al. 2013), the sampler of Domhan et al. (2015) and of the LC-PFN paper's baseline.

The posterior density is defined in z-space: θ with its log-normal entries (α, k, δ, σ) replaced by their
logs, where the prior is a box for the uniform entries times a Gaussian for the logs. The prior's
rejection rule (f rises from epoch 1 to 100, stays in [0, 1], no NaN) is part of the prior: a point that
breaks it has density 0. Its normalising constant (the acceptance rate) does not depend on θ, so it
drops out.

The walkers move in u-space, a reparametrisation in which the curve is linear in four coordinates:

    f(x) = b0 − p1 · x^(−α) − p2 / log(x + 1) − p3 · exp(−k x^δ)
    b0 = w1 c1 + w2 c2 + w3 a3,   p1 = w1 a1,   p2 = w2 a2,   p3 = w3 (a3 − β)

u = (w1, w2, w3, b0, p1, log α, c2, p2, a3, p3, log k, log δ, log σ). In z-space the data pin down products
of a weight and a parameter, a thin curved ridge on which the ensemble's straight-line stretch moves
are rarely accepted (0.7% on a curve with σ = 0.003 observed for 30 epochs, and its held-out score still
rose by 0.1 nats from 16k to 64k steps); in u-space the same ridge is nearly flat (acceptance 5-7%).
The density in u-space is the z-space density times the Jacobian |∂z/∂u| = 1 / (w1² w2 w3).

Walkers start at the `walkers` most likely of `init_draws` draws from the prior; the first `burn` steps
are discarded. The posterior predictive of a held-out epoch is the mixture over the kept samples of
N(f_s(x), σ_s²).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import replicas
from ..runs import Config as BaseConfig
from ..runs import ConfigError, Run, param
from . import lc

#: Part of the cache key of every MCMC run (the phenomenon module's code_version returns it for them).
CODE_VERSION = 1

_LOG = ~lc._UNIFORM  # the entries sampled as logs
_LOW = np.where(lc._UNIFORM, lc._P1, -np.inf)
_HIGH = np.where(lc._UNIFORM, lc._P2, np.inf)
_LOG_WIDTH = float(np.log(lc._P2 - lc._P1)[lc._UNIFORM].sum())
_I = {name: i for i, name in enumerate(lc.PARAMS)}


def to_theta(z: np.ndarray) -> np.ndarray:
    """z-space (log-normal entries as logs) -> θ in natural units."""
    return np.where(_LOG, np.exp(np.where(_LOG, z, 0.0)), z)


def to_z(theta: np.ndarray) -> np.ndarray:
    """θ in natural units -> z-space."""
    return np.where(_LOG, np.log(np.where(_LOG, theta, 1.0)), theta)


def z_to_u(z: np.ndarray) -> np.ndarray:
    """z-space -> u-space (the coordinates the walkers move in; see the module docstring)."""
    u = z.copy()
    w1, w2, w3 = z[:, 0], z[:, 1], z[:, 2]
    u[:, _I["pow3_c"]] = w1 * z[:, _I["pow3_c"]] + w2 * z[:, _I["ilog2_c"]] + w3 * z[:, _I["janoschek_a"]]
    u[:, _I["pow3_a"]] = w1 * z[:, _I["pow3_a"]]
    u[:, _I["ilog2_a"]] = w2 * z[:, _I["ilog2_a"]]
    u[:, _I["janoschek_beta"]] = w3 * (z[:, _I["janoschek_a"]] - z[:, _I["janoschek_beta"]])
    return u


def u_to_z(u: np.ndarray) -> np.ndarray:
    """u-space -> z-space (the weights must be non-zero)."""
    z = u.copy()
    w1, w2, w3 = u[:, 0], u[:, 1], u[:, 2]
    z[:, _I["pow3_c"]] = (u[:, _I["pow3_c"]] - w2 * u[:, _I["ilog2_c"]] - w3 * u[:, _I["janoschek_a"]]) / w1
    z[:, _I["pow3_a"]] = u[:, _I["pow3_a"]] / w1
    z[:, _I["ilog2_a"]] = u[:, _I["ilog2_a"]] / w2
    z[:, _I["janoschek_beta"]] = u[:, _I["janoschek_a"]] - u[:, _I["janoschek_beta"]] / w3
    return z


def log_jacobian(u: np.ndarray) -> np.ndarray:
    """log |∂z/∂u| = −2 log w1 − log w2 − log w3 (c1 and a1 are divided by w1, a2 by w2, β's term by w3)."""
    return -2 * np.log(u[:, 0]) - np.log(u[:, 1]) - np.log(u[:, 2])


def log_prior_z(z: np.ndarray) -> np.ndarray:
    """The component priors' log density in z-space, before the rejection rule: (k, 13) -> (k,)."""
    inside = ((z >= _LOW) & (z <= _HIGH)).all(-1)
    with np.errstate(over="ignore", invalid="ignore"):  # far outside the box: the value is -inf anyway
        g = (z - lc._P1) / lc._P2
        normal = np.where(_LOG, -0.5 * g**2 - np.log(lc._P2) - 0.5 * math.log(2 * math.pi), 0.0).sum(-1)
    return np.where(inside, normal - _LOG_WIDTH, -np.inf)


def log_posterior(z: np.ndarray, y_obs: np.ndarray) -> np.ndarray:
    """Unnormalised log posterior in z-space of points z (k, 13) given a curve observed at epochs
    1..len(y_obs) (an empty y_obs gives the prior, rejection rule included)."""
    z = np.atleast_2d(z)
    lp = log_prior_z(z)
    out = np.full(len(z), -np.inf)
    ok = np.isfinite(lp)
    if ok.any():
        theta = to_theta(z[ok])
        with np.errstate(all="ignore"):  # huge exponents give inf/NaN, which the rejection rule refuses
            f = lc.curve(theta)  # all 100 epochs: the rejection rule reads the whole curve
            keep = lc.accepted(f)
            ll = lc.gaussian_log_likelihood(f[:, :len(y_obs)], theta[:, -1:], y_obs)
        out[np.flatnonzero(ok)[keep]] = lp[ok][keep] + ll[keep]
    return out


def log_posterior_u(u: np.ndarray, y_obs: np.ndarray) -> np.ndarray:
    """The same posterior as a density in u-space: log_posterior(z(u)) + log |∂z/∂u|."""
    u = np.atleast_2d(u)
    w = u[:, :3]
    ok = ((w > 0) & (w <= 1)).all(-1)
    out = np.full(len(u), -np.inf)
    if ok.any():
        out[ok] = log_posterior(u_to_z(u[ok]), y_obs) + log_jacobian(u[ok])
    return out


@dataclass
class Posterior:
    """Kept posterior samples θ (S, 13) of one censored curve, with what the sampling cost."""

    theta: np.ndarray
    acceptance: float  # mean acceptance fraction of the walkers' proposals
    seconds: float  # wall time
    cpu_seconds: float  # process CPU time

    def log_predictive(self, epochs, y) -> np.ndarray:
        """log p(y_t | observed) per held-out epoch t: log of the mean over samples of N(y_t; f_s(t), σ_s²)."""
        epochs = np.asarray(epochs, dtype=float)
        y = np.asarray(y, dtype=float)
        f = lc.curve(self.theta, epochs)  # (S, m)
        sigma = self.theta[:, -1:]
        logp = -0.5 * ((y[None, :] - f) / sigma) ** 2 - np.log(sigma) - 0.5 * math.log(2 * math.pi)
        top = logp.max(0)
        return top + np.log(np.exp(logp - top).mean(0))


@dataclass(frozen=True)
class MCMCConfig(BaseConfig):
    """The MCMC baseline on the comparison's test curves: every curve censored at every cut."""

    cuts: tuple = param((10.0, 20.0, 40.0), low=1, high=lc.EPOCHS - 1,
                        help="epochs observed before extrapolating (integers), one MCMC run per curve and cut")
    curves: int = param(lc.TEST_CURVES, low=1, high=10_000, help="test curves (drawn with test_seed)")
    test_seed: int = param(lc.TEST_SEED, low=0, high=2**63 - 1, help="seeds the test curves")
    walkers: int = param(128, low=2 * lc.NDIM, high=100_000, log=True,
                         help="emcee walkers (even; at least twice the 13 parameters)")
    steps: int = param(16_000, low=2, high=10_000_000, log=True, help="ensemble steps per chain")
    burn: int = param(8_000, low=0, high=10_000_000, help="first steps discarded")
    thin: int = param(50, low=1, high=1_000_000, help="keep every thin-th step after burn-in")
    init_draws: int = param(10_000, low=2, high=10_000_000, log=True,
                            help="prior draws the walkers start from (the most likely ones)")
    seed: int = param(0, low=0, high=2**31 - 1, help="seeds the sampler (each job adds its position)")
    device: str = param("cpu", choices=("cpu",), help="MCMC runs in CPU processes")

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        bad = [c for c in self.cuts if c != int(c)]
        if bad:
            raise ConfigError(f"{name}.cuts={self.cuts!r} must be whole epochs (got {bad})")
        repeated = sorted({int(c) for c in self.cuts if self.cuts.count(c) > 1})
        if repeated:
            raise ConfigError(f"{name}.cuts={self.cuts!r} names the cut(s) {repeated} more than once: each cut is "
                              "one set of MCMC runs")
        if self.walkers % 2:
            raise ConfigError(f"{name}.walkers={self.walkers} must be even (the ensemble moves in two halves)")
        if self.burn >= self.steps:
            raise ConfigError(f"{name}.burn={self.burn} must be below steps={self.steps}")
        if self.thin > self.steps - self.burn:
            raise ConfigError(f"{name}.thin={self.thin} keeps no sample: it must be at most steps − burn = "
                              f"{self.steps - self.burn} (steps={self.steps}, burn={self.burn})")
        if self.init_draws < self.walkers:
            raise ConfigError(f"{name}.init_draws={self.init_draws} must be at least walkers={self.walkers}")

    def jobs(self) -> list[tuple[int, int]]:
        """(cut, curve index) of every MCMC run, cut-major: the order of a run's history."""
        return [(int(c), i) for c in self.cuts for i in range(self.curves)]


def initial_walkers(y_obs: np.ndarray, walkers: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """The `walkers` most likely of `draws` accepted prior draws, in z-space (k, 13)."""
    gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    theta = lc.sample_curves(draws, gen).theta.numpy()
    ll = lc.log_likelihood(theta, y_obs)
    best = np.argsort(-ll, kind="stable")[:walkers]
    return to_z(theta[best])


def sample_posterior(y_obs, config: MCMCConfig = MCMCConfig(), seed: int = 0, space: str = "u") -> Posterior:
    """Run emcee on a curve observed at epochs 1..len(y_obs); keep every thin-th step after burn-in.

    `space="z"` lets the walkers move in z-space instead (the same posterior; only to compare how they mix)."""
    import emcee  # imported here: only the MCMC baseline needs it

    if space not in ("u", "z"):
        raise ValueError(f"space={space!r} is not allowed: 'u' (the baseline's coordinates) or 'z'")
    y_obs = np.asarray(y_obs, dtype=float)
    lc.check_cut(len(y_obs))
    if not np.isfinite(y_obs).all():
        raise ValueError("y_obs contains NaN or inf: the Gaussian likelihood needs finite observations")
    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(seed)
    z0 = initial_walkers(y_obs, config.walkers, config.init_draws, rng)
    start_at, density = (z_to_u(z0), log_posterior_u) if space == "u" else (z0, log_posterior)
    sampler = emcee.EnsembleSampler(config.walkers, lc.NDIM, density, args=(y_obs,), vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**32))).get_state()
    sampler.run_mcmc(start_at, config.steps, progress=False)
    kept = sampler.get_chain(discard=config.burn, thin=config.thin, flat=True)
    return Posterior(to_theta(u_to_z(kept) if space == "u" else kept), float(np.mean(sampler.acceptance_fraction)),
                     time.perf_counter() - start, time.process_time() - cpu)


def heldout_score(y_curve, cut: int, config: MCMCConfig = MCMCConfig(), seed: int = 0) -> dict:
    """MCMC on epochs 1..cut of a full noisy curve; the mean log predictive of epochs cut+1..100 and the cost."""
    cut = lc.check_cut(cut)
    y_curve = np.asarray(y_curve, dtype=float)
    if y_curve.shape != (lc.EPOCHS,):
        raise ValueError(f"y_curve has shape {y_curve.shape}: expected ({lc.EPOCHS},), one value per epoch")
    post = sample_posterior(y_curve[:cut], config, seed)
    held = np.arange(cut + 1, lc.EPOCHS + 1)
    lp = post.log_predictive(held, y_curve[cut:])
    return {"loglik": float(lp.mean()), "seconds": post.seconds, "cpu_seconds": post.cpu_seconds,
            "acceptance": post.acceptance}


def _one(job):
    """One (curve, cut) job for a worker process."""
    y_curve, cut, config, seed = job
    return heldout_score(y_curve, cut, config, seed)


def _jobs(config: MCMCConfig) -> list:
    curves = lc.test_curves(config.curves, config.test_seed).y.numpy()
    return [(curves[i], cut, config, config.seed + 1000 * cut + i) for cut, i in config.jobs()]


def _map(jobs, processes: int, stop=None) -> list[dict]:
    """Results of the jobs in order; serial (honouring `stop` before each job) or in worker processes."""
    if processes <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            if stop is not None and stop.is_set():
                break
            out.append(_one(job))
        return out
    import multiprocessing as mp

    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})  # one thread per worker: the workers are the parallelism
    # longest chains first, so that no worker is left with a long one at the end
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k][2].steps * jobs[k][2].walkers)
    try:
        with mp.get_context("spawn").Pool(min(processes, len(jobs))) as pool:
            done = pool.map(_one, [jobs[k] for k in order], chunksize=1)
        out = [None] * len(jobs)
        for k, r in zip(order, done):
            out[k] = r
        return out
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _to_run(module, config: MCMCConfig, results: list[dict], seconds: float, processes: int) -> Run:
    """A Run whose step k holds job k's held-out log-likelihood (jobs cut-major); step 0 has none."""
    n = len(results)
    status = "completed" if n == len(config.jobs()) else "stopped"
    history = {"step": np.arange(n + 1),
               "mcmc_loglik": np.r_[np.nan, [r["loglik"] for r in results]]}
    arts = {}
    if results:
        arts = {"cut": np.array([c for c, _ in config.jobs()[:n]]),
                "curve": np.array([i for _, i in config.jobs()[:n]]),
                **{k: np.array([r[k] for r in results]) for k in ("loglik", "seconds", "cpu_seconds", "acceptance")}}
    meta = replicas.meta(module, config, seconds=seconds, replicas=1, steps=n, device="cpu")
    meta["processes"] = processes
    return Run(config, history, arts, status, None, meta)


def chain_bytes(config: MCMCConfig) -> int:
    """Memory one chain keeps: emcee stores every step of every walker (13 parameters and a log density, float64),
    and the initial prior draws (parameters and their curves)."""
    return 8 * (config.steps * config.walkers * (lc.NDIM + 1) + config.init_draws * (lc.NDIM + lc.EPOCHS))


def _check_memory(configs, processes: int) -> None:
    from .train import available_bytes

    have = available_bytes(torch.device("cpu"))
    if have is None or not configs:
        return
    worst = max(configs, key=chain_bytes)
    at_once = min(processes, sum(len(c.jobs()) for c in configs))
    need = chain_bytes(worst) * max(1, at_once)
    if need > 0.8 * have:
        raise ConfigError(f"MCMCConfig(steps={worst.steps}, walkers={worst.walkers}, init_draws={worst.init_draws}) "
                          f"needs about {need / 2**30:.1f} GiB ({chain_bytes(worst) / 2**30:.2f} GiB per chain, "
                          f"{at_once} chain(s) at once), but this machine has {have / 2**30:.1f} GiB available: "
                          "use fewer steps or walkers, or fewer processes")


def run_sweep(module, configs, *, stop=None, processes: int | None = None) -> list[Run]:
    """The MCMC baseline of each config: all their jobs share one pool of `processes` worker processes
    (default: torch's thread count, which `python -m minilib precompute --threads N` sets)."""
    processes = processes or torch.get_num_threads()
    for c in configs:
        if not isinstance(c, MCMCConfig):
            raise TypeError(f"mcmc.run_sweep needs MCMCConfig, got {type(c).__name__}")
    _check_memory(configs, processes)
    start = time.perf_counter()
    jobs = [_jobs(c) for c in configs]
    flat = _map([j for js in jobs for j in js], processes, stop)
    seconds = time.perf_counter() - start
    runs, k = [], 0
    for c, js in zip(configs, jobs):
        runs.append(_to_run(module, c, flat[k:k + len(js)], seconds, processes))
        k += len(js)
    return runs
