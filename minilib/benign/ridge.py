"""Part B: random-feature ridge regression on a powerlaw task, simulated and predicted (Simon et al. 2023).

The task (their synthetic setting): latent inputs x ~ N(0, I_M), a kernel with eigenvalues λ_i = i^(−α)
and eigenfunctions x_i, a target y = Σ_i v_i x_i + ε with v_i² = i^(−β) and noise ε ~ N(0, σ²).
Random-feature regression draws k features φ(x) = Z Λ^(1/2) x / √k (Z [k, M] standard normal, so
E_Z φ(x)·φ(x') = Σ λ_i x_i x'_i, the kernel) and fits the last layer by ridge regression

    θ = Φᵀ (Φ Φᵀ + δ I_n)^(−1) y        (a sum over samples: the ridge δ is not divided by n)

on n samples. `ridge_simulate` does that; `ridge_theory` is the paper's omniscient risk estimate
(the RF eigenframework, their eqs. for κ, γ and the risk; Bach 2023 and Atanasov et al. 2023 give
the same): solve

    n = Σ_i L_i + δ/κ,    k = Σ_i L_i + k κ/γ,    L_i = λ_i / (λ_i + γ),

then with z = Σ L_i, q = Σ L_i², Ω = 1 / (1 − (q(k − 2z) + z²) / (n(k − q))):

    test risk  = Ω (Σ_i [(1 − L_i) − κ L_i/(λ_i + γ) · k/(k − q)] v_i² + σ²),
    train risk = (δ / (n κ))² · test risk.

Both risks include the label noise (they are mean squared errors against noisy labels). At k = ∞ the
equations are kernel ridge regression's: κ = γ, Ω = n/(n − q), bias (1 − L_i)². Chapter:
nbs/02_benign_overfitting.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import runtime
from ..runs import Config as BaseConfig
from ..runs import ConfigError, param


@dataclass(frozen=True)
class RidgeConfig(BaseConfig):
    """One random-feature ridge regression; the defaults are Simon et al.'s synthetic task (α = β = 1.5)."""

    n_latent: int = param(10_000, low=2, high=100_000, log=True, widget=(100, 10_000),
                          help="M: latent dimensions (eigenmodes of the kernel)")
    alpha: float = param(1.5, low=1.0001, high=10.0, widget=(1.05, 4.0), help="α: eigenvalues λ_i = i^(−α)")
    beta: float = param(1.5, low=1.0001, high=10.0, widget=(1.05, 4.0), help="β: target power v_i² = i^(−β)")
    noise: float = param(0.5, low=0.0, high=100.0, widget=(0.0, 2.0), help="σ²: label noise variance")
    n_train: int = param(256, low=1, high=50_000, log=True, widget=(4, 4096), help="n: training samples")
    n_features: int = param(256, low=1, high=50_000, log=True, widget=(4, 4096), help="k: random features")
    ridge: float = param(1e-3, low=0.0, high=1e6, widget=(0.0, 10.0), help="δ: ridge (added to the n×n kernel)")
    n_trials: int = param(4, low=1, high=1000, widget=(1, 32), help="independent draws averaged (simulation)")
    seed: int = param(0, low=0, high=2**31 - 1, help="seeds the draws of data, noise and features")
    device: str = param("cpu", choices=runtime.DEVICE_NAMES, help="where to simulate")

    def validate(self) -> None:
        super().validate()
        if self.n_train >= self.n_latent:
            raise ConfigError(f"RidgeConfig.n_train={self.n_train} must be < n_latent={self.n_latent}: with as "
                              "many samples as modes every mode is learned exactly")


def spectrum(config: RidgeConfig) -> tuple[np.ndarray, np.ndarray]:
    """(λ_i, v_i²) for i = 1..M: the kernel's eigenvalues i^(−α) and the target's powers i^(−β)."""
    i = np.arange(1, config.n_latent + 1, dtype=np.float64)
    return i ** -config.alpha, i ** -config.beta


# --- the theory --------------------------------------------------------------------------------------
def _learnability_sums(eigvals: np.ndarray, gamma: np.ndarray):
    """z = Σ L_i, dz/dγ and q = Σ L_i², for every γ: each [P]."""
    L = eigvals[None, :] / (eigvals[None, :] + gamma[:, None])  # [P, M]
    return L.sum(1), -(L * L / eigvals[None, :]).sum(1), (L * L).sum(1)


GRID = 2048  # log-spaced γ values tabulated once per solve to bracket every point's root


def _increasing_root(fn, lo: np.ndarray, hi: np.ndarray, iters: int = 30, tol: float = 1e-9) -> np.ndarray:
    """Roots of increasing functions of u = log γ, all points at once: safeguarded Newton in a bracket.

    fn(u) -> (value [P], d value / du [P]); fn(lo) <= 0 <= fn(hi). A Newton step that leaves the bracket
    is replaced by bisection, so each iteration shrinks the bracket or converges quadratically.
    """
    u = (lo + hi) / 2
    for _ in range(iters):
        val, slope = fn(u)
        lo, hi = np.where(val < 0, u, lo), np.where(val < 0, hi, u)
        with np.errstate(divide="ignore", invalid="ignore"):
            nxt = u - val / slope
        bad = ~np.isfinite(nxt) | (nxt < lo) | (nxt > hi)
        nxt = np.where(bad, (lo + hi) / 2, nxt)
        done = np.abs(nxt - u) < tol
        u = nxt
        if done.all():
            break
    return u


def _balance(z, dz, g, n, kk, finite_k, ridge):
    """The equation for γ after eliminating κ, and its derivative in u = log γ (increasing in γ).

    From n = z + δ/κ and k = z + kκ/γ: γ (n − z)(k − z)/k = δ (k = ∞: γ (n − z) = δ), valid where
    z < min(n, k). Below that (z >= min(n, k)) the function continues as min(n, k) − z − δ, negative, so
    one bracket finds the root for δ > 0 and δ = 0 alike (then z = min(n, k)).
    """
    cap = np.minimum(n, kk)
    div = np.where(finite_k, kk, 1.0)  # k = ∞: (k − z)/k = 1, no division
    A, B = n - z, np.where(finite_k, (kk - z) / div, 1.0)
    dB = np.where(finite_k, -dz / div, 0.0)
    inside = z < cap
    val = np.where(inside, g * A * B - ridge, cap - z - ridge)
    slope = np.where(inside, (A * B + g * (-dz * B + A * dB)) * g, -dz * g)
    return val, slope


def eigenlearning(eigvals, target_power, n, k, ridge, noise) -> dict[str, np.ndarray]:
    """The RF eigenframework for arrays of n, k (np.inf: the kernel limit), ridge and noise (broadcast).

    Returns κ, γ, the overfitting coefficient Ω, test_risk and train_risk, each shaped like the broadcast
    inputs. Vectorised: z(γ) is tabulated once on a log grid to bracket every point's root, then a few
    safeguarded Newton steps for all points together (no loop per point).
    """
    eigvals, v2 = np.asarray(eigvals, float), np.asarray(target_power, float)
    n, k, ridge, noise = np.broadcast_arrays(*(np.asarray(a, float) for a in (n, k, ridge, noise)))
    shape = n.shape
    n, k, ridge, noise = (a.ravel() for a in (n, k, ridge, noise))
    if (ridge < 0).any() or (n < 1).any() or (k < 1).any():
        raise ValueError("eigenlearning needs n >= 1, k >= 1 and ridge >= 0")
    M = len(eigvals)
    if (np.minimum(n, k) >= M).any():
        raise ValueError(f"min(n, k) must be < the number of modes M = {M}")
    finite_k = np.isfinite(k)
    kk = np.where(finite_k, k, np.inf)
    grid = np.linspace(math.log(eigvals.min() * 1e-12), math.log(eigvals.max() * 1e12 * M), GRID)
    z_grid, dz_grid, _ = _learnability_sums(eigvals, np.exp(grid))
    col = lambda a: a[:, None]
    vals, _ = _balance(z_grid[None], dz_grid[None], np.exp(grid)[None], col(n), col(kk), col(finite_k),
                       col(ridge))  # [P, GRID], increasing along the grid
    above = np.argmax(vals >= 0, axis=1)  # first grid point at or past the root
    if not (vals[np.arange(len(n)), above] >= 0).all():
        raise ValueError("eigenlearning: a root lies outside the tabulated range of γ")
    lo, hi = grid[np.maximum(above - 1, 0)], grid[above]

    def fn(u):
        g = np.exp(u)
        z, dz, _ = _learnability_sums(eigvals, g)
        return _balance(z, dz, g, n, kk, finite_k, ridge)

    u = _increasing_root(fn, lo, hi)
    gamma = np.exp(u)
    L = eigvals[None, :] / (eigvals[None, :] + gamma[:, None])
    z, q = L.sum(1), (L * L).sum(1)
    kk = np.where(finite_k, k, 1.0)
    kappa = np.where(finite_k, gamma * np.maximum(kk - z, 0.0) / kk, gamma)
    ratio = np.where(finite_k, kk / np.where(finite_k, kk - q, 1.0), 1.0)  # k / (k − q) -> 1 as k -> ∞
    x = np.where(finite_k, (q * (kk - 2 * z) + z * z) / (n * np.where(finite_k, kk - q, 1.0)), q / n)
    omega = 1.0 / (1.0 - x)
    bias = (1 - L) - kappa[:, None] * L / (eigvals[None, :] + gamma[:, None]) * ratio[:, None]
    test = omega * (bias @ v2 + noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        train = np.where(ridge > 0, (ridge / (n * kappa)) ** 2, 0.0) * test
    out = {"kappa": kappa, "gamma": gamma, "overfitting_coefficient": omega, "test_risk": test,
           "train_risk": train}
    return {key: v.reshape(shape) for key, v in out.items()}


def ridge_theory(config: RidgeConfig, **arrays) -> dict[str, np.ndarray | float]:
    """The omniscient risk estimate for `config`; n_train, n_features (np.inf allowed), ridge and noise
    may be given as arrays to evaluate many points at once. Keys: test_risk, train_risk, kappa, gamma, ..."""
    unknown = set(arrays) - {"n_train", "n_features", "ridge", "noise"}
    if unknown:
        raise ValueError(f"ridge_theory takes arrays for n_train, n_features, ridge, noise; not {sorted(unknown)}")
    eigvals, v2 = spectrum(config)
    get = lambda name: arrays.get(name, getattr(config, name))
    out = eigenlearning(eigvals, v2, get("n_train"), get("n_features"), get("ridge"), get("noise"))
    scalar = not any(np.ndim(a) for a in arrays.values())
    return {k: float(v) for k, v in out.items()} if scalar else out


# --- the simulation ----------------------------------------------------------------------------------
def random_features(x: torch.Tensor, eigvals: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """φ(x) = Z Λ^(1/2) x / √k for rows of x [n, M]: [n, k]. Averaged over Z, φ(x)·φ(x') = Σ λ_i x_i x'_i."""
    return (x * eigvals.sqrt()) @ Z.T / math.sqrt(Z.shape[0])


def ridge_fit(Phi: torch.Tensor, y: torch.Tensor, ridges: torch.Tensor) -> torch.Tensor:
    """Last-layer weights θ = Φᵀ(ΦΦᵀ + δ I)^(−1) y for every ridge δ at once: [k, len(ridges)].

    One eigendecomposition of the smaller Gram matrix serves every ridge (δ = 0 gives the minimum-norm
    interpolant when k >= n, least squares when k < n).
    """
    n, k = Phi.shape
    if k <= n:  # θ = (ΦᵀΦ + δ I_k)^(−1) Φᵀ y
        s, V = torch.linalg.eigh(Phi.T @ Phi)
        c = V.T @ (Phi.T @ y)
        return V @ (c[:, None] / (s[:, None] + ridges[None, :]))
    s, U = torch.linalg.eigh(Phi @ Phi.T)  # θ = Φᵀ U (S + δ)^(−1) Uᵀ y
    c = U.T @ y
    return Phi.T @ (U @ (c[:, None] / (s[:, None] + ridges[None, :])))


def ridge_simulate(config: RidgeConfig, ridges=None) -> dict[str, np.ndarray | float]:
    """Draw data, noise and features `n_trials` times, fit, and average the risks (keys as ridge_theory).

    The test risk is exact for the drawn weights: with x ~ N(0, I), E(ŷ(x) − y)² = ‖β − v‖² + σ², where
    ŷ(x) = βᵀx. `ridges` (an array) evaluates several ridges on the same draws.
    """
    device = runtime.pick_device(config.device)
    gen = runtime.seed_everything(config.seed)
    lam, v2 = (torch.as_tensor(a) for a in spectrum(config))
    v = v2.sqrt()
    grid = torch.as_tensor(np.atleast_1d(config.ridge if ridges is None else ridges), dtype=torch.float64)
    if (grid < 0).any():
        raise ValueError(f"ridges must be >= 0, got {grid.tolist()}")
    n, k, M = config.n_train, config.n_features, config.n_latent
    tests, trains = [], []
    for _ in range(config.n_trials):
        x = torch.randn(n, M, generator=gen, dtype=torch.float64)
        y = x @ v + math.sqrt(config.noise) * torch.randn(n, generator=gen, dtype=torch.float64)
        Z = torch.randn(k, M, generator=gen, dtype=torch.float64)
        x, y, Z, lam_d, v_d, g = (t.to(device) for t in (x, y, Z, lam, v, grid))
        Phi = random_features(x, lam_d, Z)  # [n, k]
        theta = ridge_fit(Phi, y, g)  # [k, G]
        beta = lam_d.sqrt()[:, None] * (Z.T @ theta) / math.sqrt(k)  # [M, G]: ŷ(x) = βᵀx
        tests.append(((beta - v_d[:, None]) ** 2).sum(0) + config.noise)
        trains.append(((Phi @ theta - y[:, None]) ** 2).mean(0))
    test = torch.stack(tests).mean(0).cpu().numpy()
    train = torch.stack(trains).mean(0).cpu().numpy()
    if ridges is None:
        return {"test_risk": float(test[0]), "train_risk": float(train[0])}
    return {"test_risk": test, "train_risk": train}
