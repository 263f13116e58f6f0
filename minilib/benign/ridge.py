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
# Every sum over modes is one pass over a [points, M] array of D_i = 1/(λ_i + γ), written as matrix
# products: L_i = λ_i D_i, 1 − L_i = γ D_i, L_i(1 − L_i) = γ λ_i D_i², L_i² = λ_i² D_i², L_i/(λ_i + γ) = λ_i D_i².
# The root in γ of each point is found on a table of z(γ) = Σ L_i (a cubic in log γ between nodes: O(points)
# per iteration), then polished by exact Newton steps (one pass each); no Python loop runs per point.

CHUNK = 1 << 21  # elements of one [points, M] block (16 MiB in float64): passes are cut into such blocks
GRID_SPACING = 0.1  # in log γ: the table's cubic is then accurate to ~1e-8, so one exact step converges
EXACT_STEPS = 4  # exact Newton steps at most (two suffice: the second only confirms convergence)
TOL = 1e-11  # |Δ log γ| at which the exact Newton steps stop (the equations then hold to ~1e-11)


def mode_sums(eigvals: np.ndarray, gamma: np.ndarray, first: np.ndarray, second: np.ndarray):
    """(D @ first, (D∘D) @ second) with D[p, i] = 1/(λ_i + γ_p): two [P, columns] arrays, in blocks of CHUNK.

    `first` [M, c1] and `second` [M, c2] weight the modes: e.g. first = λ gives z = Σ L_i.
    """
    rows = max(1, CHUNK // len(eigvals))
    out1, out2 = np.empty((len(gamma), first.shape[1])), np.empty((len(gamma), second.shape[1]))
    for s in range(0, len(gamma), rows):
        D = eigvals[None, :] + gamma[s:s + rows, None]
        np.reciprocal(D, out=D)
        out1[s:s + rows] = D @ first
        np.multiply(D, D, out=D)
        out2[s:s + rows] = D @ second
    return out1, out2


def _balance(z, z_u, g, n, kk, finite_k, ridge):
    """The equation for γ after eliminating κ, and its derivative in u = log γ (increasing in γ).

    From n = z + δ/κ and k = z + kκ/γ: γ (n − z)(k − z)/k = δ (k = ∞: γ (n − z) = δ), valid where
    z < min(n, k). Beyond that (z >= min(n, k)) the function continues as min(n, k) − z − δ, negative, so
    one bracket finds the root for δ > 0 and δ = 0 alike (then z = min(n, k)). z_u = dz/du < 0.
    """
    cap = np.minimum(n, kk)
    div = np.where(finite_k, kk, 1.0)  # k = ∞: (k − z)/k = 1, no division
    A, B = n - z, np.where(finite_k, (kk - z) / div, 1.0)
    dB = np.where(finite_k, -z_u / div, 0.0)  # dB/du
    inside = z < cap
    val = np.where(inside, g * A * B - ridge, cap - z - ridge)
    slope = np.where(inside, g * (A * B - z_u * B + A * dB), -z_u)
    return val, slope


def _hermite(t, h, z0, d0, z1, d1):
    """The cubic through (0, z0) and (1, z1) with slopes d0, d1 per unit of u (node spacing h): value, d/du."""
    t2, t3 = t * t, t * t * t
    val = (2 * t3 - 3 * t2 + 1) * z0 + (t3 - 2 * t2 + t) * h * d0 + (3 * t2 - 2 * t3) * z1 + (t3 - t2) * h * d1
    der = ((6 * t2 - 6 * t) * (z0 - z1)) / h + (3 * t2 - 4 * t + 1) * d0 + (3 * t2 - 2 * t) * d1
    return val, der


def _safeguarded_newton(fn, u, lo, hi, iters: int, tol: float):
    """Newton steps on u for increasing fn (value, slope), all points at once; a step leaving the bracket
    [lo, hi] (fn(lo) <= 0 <= fn(hi)) is replaced by bisection. Returns (u, the last |step|)."""
    step = np.full_like(u, np.inf)
    for _ in range(iters):
        val, slope = fn(u)
        lo, hi = np.where(val <= 0, u, lo), np.where(val >= 0, u, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            nxt = u - val / slope
        bad = ~np.isfinite(nxt) | (nxt < lo) | (nxt > hi)
        nxt = np.where(bad, (lo + hi) / 2, nxt)
        step, u = np.abs(nxt - u), nxt
        if (step < tol).all():
            break
    return u, step


def eigenlearning(eigvals, target_power, n, k, ridge, noise) -> dict[str, np.ndarray]:
    """The RF eigenframework for arrays of n, k (np.inf: the kernel limit), ridge and noise (broadcast).

    Returns κ, γ, the overfitting coefficient Ω, test_risk and train_risk, each shaped like the broadcast
    inputs. Vectorised: z(γ) is tabulated once on a log grid (exactly), every point's root is bracketed on
    it and found on its cubic interpolant, then polished by exact Newton steps for all points together.
    """
    eigvals, v2 = np.asarray(eigvals, float), np.asarray(target_power, float)
    n, k, ridge, noise = np.broadcast_arrays(*(np.asarray(a, float) for a in (n, k, ridge, noise)))
    shape = n.shape
    n, k, ridge, noise = (a.ravel() for a in (n, k, ridge, noise))
    if (ridge < 0).any() or (n < 1).any() or (k < 1).any():
        raise ValueError("eigenlearning needs n >= 1, k >= 1 and ridge >= 0")
    M = len(eigvals)
    if (eigvals <= 0).any():
        raise ValueError("eigenlearning needs positive eigenvalues")
    cap = np.minimum(n, k)
    if (cap >= M).any():
        raise ValueError(f"min(n, k) must be < the number of modes M = {M}")
    finite_k = np.isfinite(k)
    lam_col = eigvals[:, None]
    # The table's range: at γ_lo every point has z > min(n, k) (z >= M − γ Σ 1/λ_i), at γ_hi every balance
    # is positive (z <= Σ λ_i / γ <= 1e-3 there, so γ (n − z)(k − z)/k > 0.99 γ > δ).
    g_lo = 0.5 * (M - cap.max()) / (1.0 / eigvals).sum()
    g_hi = 1e3 * (ridge.max() + eigvals.sum()) + eigvals.max()
    nodes = max(2, int(math.ceil(math.log(g_hi / g_lo) / GRID_SPACING)) + 1)
    grid = np.linspace(math.log(g_lo), math.log(g_hi), nodes)
    h = grid[1] - grid[0]
    gg = np.exp(grid)
    s1, s2 = mode_sums(eigvals, gg, lam_col, lam_col)
    z_tab, zu_tab = s1[:, 0], -gg * s2[:, 0]  # z and dz/du = −Σ L_i (1 − L_i) at the nodes
    col = lambda a: a[:, None]
    vals, _ = _balance(z_tab[None], zu_tab[None], gg[None], col(n), col(k), col(finite_k), col(ridge))
    j = np.clip(np.argmax(vals >= 0, axis=1), 1, nodes - 1)  # the first node at or past each root
    if not (vals[np.arange(len(n)), j] >= 0).all():
        raise ValueError("eigenlearning: a root lies outside the tabulated range of γ")
    z0, d0, z1, d1 = z_tab[j - 1], zu_tab[j - 1], z_tab[j], zu_tab[j]

    def on_table(u):  # the balance with z from the cubic through the two bracketing nodes: O(P)
        z, z_u = _hermite((u - grid[j - 1]) / h, h, z0, d0, z1, d1)
        return _balance(z, z_u, np.exp(u), n, k, finite_k, ridge)

    u, _ = _safeguarded_newton(on_table, (grid[j - 1] + grid[j]) / 2, grid[j - 1], grid[j], 100, 1e-14)
    # Exact Newton steps, one pass over the modes each; the last pass's sums give the risks.
    first, second = np.stack([eigvals, v2], 1), np.stack([eigvals, eigvals**2, eigvals * v2], 1)
    for _ in range(EXACT_STEPS):
        gamma = np.exp(u)
        s1, s2 = mode_sums(eigvals, gamma, first, second)
        z, z_u = s1[:, 0], -gamma * s2[:, 0]
        val, slope = _balance(z, z_u, gamma, n, k, finite_k, ridge)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = -val / slope
        step = np.where(np.isfinite(step), step, 0.0)
        if (np.abs(step) < TOL).all():
            break
        u = np.clip(u + step, grid[j - 1], grid[j])
    q, bias_lin, bias_cross = s2[:, 1], gamma * s1[:, 1], s2[:, 2]  # Σ L², Σ (1 − L) v², Σ L v²/(λ + γ)
    kk = np.where(finite_k, k, 1.0)
    kappa = np.where(finite_k, gamma * np.maximum(kk - z, 0.0) / kk, gamma)
    ratio = np.where(finite_k, kk / np.where(finite_k, kk - q, 1.0), 1.0)  # k / (k − q) -> 1 as k -> ∞
    x = np.where(finite_k, (q * (kk - 2 * z) + z * z) / (n * np.where(finite_k, kk - q, 1.0)), q / n)
    threshold = (ridge == 0) & (n == k)  # ridgeless at k = n: x = 1 exactly, the risk diverges
    with np.errstate(divide="ignore"):
        omega = np.where((x < 1) & ~threshold, 1.0 / (1.0 - x), np.inf)
    test = omega * (bias_lin - kappa * ratio * bias_cross + noise)
    # train/test = (δ/(nκ))² = ((n − z)/n)² by the first equation. At δ = 0 the root has z = min(n, k): the
    # ratio is 0 for k >= n (the interpolant) and (1 − k/n)² for k < n (least squares).
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(ridge > 0, ridge / (n * kappa), np.maximum(n - k, 0.0) / n) ** 2
        train = np.where(factor > 0, factor * test, 0.0)
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
    if device.type == "mps":
        raise ConfigError(f"RidgeConfig.device={config.device!r} resolves to mps, which has no float64 (the "
                          "simulation needs it): choose device='cpu'")
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


# --- the optimal fitting ratio (Simon et al. 2023, powerlaw tasks) -------------------------------------
# For a kernel with eigenvalues i^(−α) and a target with powers i^(−β) (1 < β, 1 < α), at large n and
# in the kernel limit, Simon et al. write the test risk at every ridge as a function of the fitting ratio
# R = train risk / test risk, with the noise given relative to the noise-free ridgeless risk E_0
# (σ² = σ²_rel · E_0). Up to a factor that does not depend on R, with s = √R:
#
#     E(R) / E_0 = (1 − s + α σ²_rel (1 − s)^β) / ((1 + (α − 1) s) (1 − s)^β)
#
# (E(0) = E_0 (1 + α σ²_rel): the ridgeless overfitting coefficient tends to α). Setting dE/ds = 0 gives,
# with u = 1 − s, α(β − 1) − β(α − 1) u = α(α − 1) σ²_rel u^β: the left side falls and the right side
# rises in u, so the root is unique; R* = (1 − u)², and R* = 0 where the root lies at u >= 1.


def _check_powerlaw(alpha, beta, noise_rel):
    alpha, beta, noise_rel = np.broadcast_arrays(*(np.asarray(a, float) for a in (alpha, beta, noise_rel)))
    for name, v, ok, allowed in (("alpha", alpha, alpha > 1, "> 1"), ("beta", beta, beta > 1, "> 1"),
                                 ("noise_rel", noise_rel, noise_rel >= 0, ">= 0")):
        if not np.all(ok & np.isfinite(v)):
            bad = float(v[~(ok & np.isfinite(v))].ravel()[0])
            raise ValueError(f"{name}={bad!r} is out of range: allowed {name} {allowed} (finite)")
    return alpha, beta, noise_rel


def fitting_ratio_risk(ratio, alpha, beta, noise_rel):
    """Test risk / the noise-free ridgeless risk, as a function of the fitting ratio R = train/test in [0, 1).

    Simon et al.'s large-n powerlaw form (kernel limit): eigenvalues i^(−α), target powers i^(−β), noise
    σ² = noise_rel · E_0. Arrays broadcast.
    """
    alpha, beta, noise_rel = _check_powerlaw(alpha, beta, noise_rel)
    ratio = np.asarray(ratio, float)
    if not np.all((ratio >= 0) & (ratio < 1)):
        raise ValueError(f"ratio must lie in [0, 1) (train risk / test risk), got {ratio.ravel().tolist()[:4]}")
    s = np.sqrt(ratio)
    u = 1 - s
    return (u + alpha * noise_rel * u**beta) / ((1 + (alpha - 1) * s) * u**beta)


def optimal_fitting_ratio(alpha, beta, noise_rel):
    """R*(α, β, σ²_rel): the fitting ratio train/test at the best ridge (Simon et al.'s powerlaw form).

    The root in u = 1 − √R* of α(β − 1) − β(α − 1) u = α(α − 1) σ²_rel u^β, by bisection on (0, 1] for all
    points at once (60 halvings: u to ~1e-18). 0 where there is no root below u = 1 (no noise and β >= α).
    Arrays broadcast; returns a float for scalar input.
    """
    alpha, beta, noise_rel = _check_powerlaw(alpha, beta, noise_rel)
    gap = lambda u: alpha * (beta - 1) - beta * (alpha - 1) * u - alpha * (alpha - 1) * noise_rel * u**beta
    lo, hi = np.zeros(alpha.shape), np.ones(alpha.shape)  # gap(0) > 0; decreasing in u
    for _ in range(60):
        mid = (lo + hi) / 2
        pos = gap(mid) > 0
        lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    u = (lo + hi) / 2
    out = np.where(gap(np.ones(alpha.shape)) >= 0, 0.0, (1 - u) ** 2)
    return float(out) if out.ndim == 0 else out
