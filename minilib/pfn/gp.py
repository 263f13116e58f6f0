"""The Gaussian-process prior of chapter 5 and its exact posterior predictive (the PFN's target).

Prior (Müller et al. 2022, Sec. 5.1 style): x ~ U[0, 1]^d, f ~ GP(0, k) with the RBF kernel
k(x, x') = s · exp(−|x − x'|² / (2ℓ²)), observations y = f(x) + ε, ε ~ N(0, σn²). Defaults: s = 1,
ℓ = 0.2, σn² = 0.01 (`noise` is always the observation noise *variance*).

Exact posterior predictive of a noisy observation y* at x*, given n observations (X, y):

    μ* = k*ᵀ (K + σn² I)⁻¹ y,      σ*² = s + σn² − k*ᵀ (K + σn² I)⁻¹ k*

The σn² term matters: a noisy target y* is scored against the predictive of y*, not of f(x*) (leaving it
out is a common bug that makes the exact GP look worse than it is). With a discrete hyperprior over ℓ
(`HYPER_LENGTHSCALES`, uniform weights) the exact predictive is the mixture of the GP predictives
weighted by each ℓ's posterior probability ∝ prior · p(y | X, ℓ) (the marginal likelihood).

Everything is batched over datasets: x (B, n, d), y (B, n); the single-dataset convenience
`gp_posterior(x_train (n,), y_train (n,), x_test (m,), ...)` is what other tooling calls. Linear algebra
runs in float64.
"""

from __future__ import annotations

import math

import torch

#: The discrete lengthscale hyperprior of the "hyperprior task" (uniform prior weights).
HYPER_LENGTHSCALES = (0.05, 0.1, 0.2, 0.5)
_LOG_2PI = math.log(2 * math.pi)


def _check_hypers(lengthscale, outputscale, noise) -> None:
    ls = torch.as_tensor(lengthscale, dtype=torch.float64)
    if not bool(torch.isfinite(ls).all()) or not bool((ls > 0).all()):
        raise ValueError(f"lengthscale={lengthscale!r} must be > 0 and finite")
    if not (isinstance(outputscale, (int, float)) and math.isfinite(outputscale) and outputscale > 0):
        raise ValueError(f"outputscale={outputscale!r} must be a number > 0")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise > 0):
        raise ValueError(f"noise={noise!r} (the observation noise variance) must be a number > 0")


def _per_dataset(v, B: int, device) -> torch.Tensor:
    """A lengthscale given as a number or one per dataset -> shape (B, 1, 1) float64."""
    v = torch.as_tensor(v, dtype=torch.float64, device=device)
    return v.expand(B).reshape(B, 1, 1) if v.dim() == 0 else v.reshape(B, 1, 1)


def rbf_kernel(x1: torch.Tensor, x2: torch.Tensor, lengthscale, outputscale: float = 1.0) -> torch.Tensor:
    """s · exp(−|x1 − x2|² / (2ℓ²)) for batches x1 (B, n, d), x2 (B, m, d) -> (B, n, m), float64."""
    x1, x2 = x1.to(torch.float64), x2.to(torch.float64)
    d2 = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).pow(2).sum(-1)
    ls = _per_dataset(lengthscale, x1.shape[0], x1.device)
    return outputscale * torch.exp(-0.5 * d2 / ls**2)


def sample_gp(batch_size: int, seq_len: int, generator: torch.Generator | None = None, *, lengthscale=0.2,
              outputscale: float = 1.0, noise: float = 0.01, x_dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """B datasets of T noisy GP draws: x (B, T, x_dim) ~ U[0, 1], y (B, T) = f(x) + ε, as float32 on the CPU.

    `lengthscale` is a number or a tensor of B values (one per dataset).
    """
    for name, v, low in (("batch_size", batch_size, 1), ("seq_len", seq_len, 1), ("x_dim", x_dim, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"sample_gp: {name}={v!r} must be an integer >= {low}")
    _check_hypers(lengthscale, outputscale, noise)
    x = torch.rand(batch_size, seq_len, x_dim, generator=generator, dtype=torch.float64)
    K = rbf_kernel(x, x, lengthscale, outputscale) + noise * torch.eye(seq_len, dtype=torch.float64)
    L = torch.linalg.cholesky(K)
    z = torch.randn(batch_size, seq_len, 1, generator=generator, dtype=torch.float64)
    y = (L @ z).squeeze(-1)
    return x.float(), y.float()


def sample_gp_hyper(batch_size: int, seq_len: int, generator: torch.Generator | None = None, *,
                    lengthscales=HYPER_LENGTHSCALES, outputscale: float = 1.0, noise: float = 0.01,
                    return_lengthscale: bool = False):
    """Datasets from the hyperprior: each dataset's ℓ drawn uniformly from `lengthscales`, then `sample_gp`."""
    ls = torch.as_tensor(lengthscales, dtype=torch.float64)
    idx = torch.randint(len(ls), (batch_size,), generator=generator)
    x, y = sample_gp(batch_size, seq_len, generator, lengthscale=ls[idx], outputscale=outputscale, noise=noise)
    return (x, y, ls[idx]) if return_lengthscale else (x, y)


def gp_predict(x_ctx: torch.Tensor, y_ctx: torch.Tensor, x_qry: torch.Tensor, lengthscale=0.2,
               outputscale: float = 1.0, noise: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact predictive mean and variance of a *noisy* observation at each query: (B, M) each, float64.

    x_ctx (B, N, d), y_ctx (B, N), x_qry (B, M, d); N may be 0 (then the prior: mean 0, variance s + σn²).
    """
    _check_hypers(lengthscale, outputscale, noise)
    B, N = y_ctx.shape
    M = x_qry.shape[1]
    prior_var = torch.full((B, M), outputscale + noise, dtype=torch.float64, device=x_qry.device)
    if N == 0:
        return torch.zeros(B, M, dtype=torch.float64, device=x_qry.device), prior_var
    K = rbf_kernel(x_ctx, x_ctx, lengthscale, outputscale) + noise * torch.eye(N, dtype=torch.float64,
                                                                               device=x_ctx.device)
    Ks = rbf_kernel(x_ctx, x_qry, lengthscale, outputscale)  # (B, N, M)
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y_ctx.to(torch.float64).unsqueeze(-1), L)  # (B, N, 1)
    mean = (Ks * alpha).sum(1)
    v = torch.linalg.solve_triangular(L, Ks, upper=False)  # L⁻¹ k*
    var = prior_var - v.pow(2).sum(1)
    return mean, var.clamp(min=1e-12)


def gp_posterior(x_train, y_train, x_test, lengthscale=0.2, outputscale: float = 1.0,
                 noise: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact GP posterior predictive for one dataset of 1-D inputs: (mean (m,), var (m,)), float64.

    `var` is the variance of a noisy observation y* = f(x*) + ε: s + σn² − k*ᵀ(K + σn²I)⁻¹k*. x_train and
    y_train have shape (n,) (n may be 0), x_test shape (m,); `noise` is the noise variance σn².
    """
    xt = torch.as_tensor(x_train, dtype=torch.float64).reshape(1, -1, 1)
    yt = torch.as_tensor(y_train, dtype=torch.float64).reshape(1, -1)
    xs = torch.as_tensor(x_test, dtype=torch.float64).reshape(1, -1, 1)
    if xt.shape[1] != yt.shape[1]:
        raise ValueError(f"x_train has {xt.shape[1]} points but y_train has {yt.shape[1]}")
    mean, var = gp_predict(xt, yt, xs, lengthscale, outputscale, noise)
    return mean[0], var[0]


def normal_log_prob(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(y; mean, var), elementwise, float64."""
    y = y.to(torch.float64)
    return -0.5 * (_LOG_2PI + torch.log(var) + (y - mean) ** 2 / var)


def gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, lengthscale=0.2, outputscale: float = 1.0,
                noise: float = 0.01) -> torch.Tensor:
    """log p(y*_j | context) of each query under the exact GP predictive: (B, M), float64."""
    mean, var = gp_predict(x_ctx, y_ctx, x_qry, lengthscale, outputscale, noise)
    return normal_log_prob(y_qry, mean, var)


def log_marginal_likelihood(x_ctx, y_ctx, lengthscale, outputscale: float = 1.0,
                            noise: float = 0.01) -> torch.Tensor:
    """log p(y | X, ℓ) of each dataset under the GP: (B,), float64 (0 for an empty context)."""
    B, N = y_ctx.shape
    if N == 0:
        return torch.zeros(B, dtype=torch.float64, device=y_ctx.device)
    K = rbf_kernel(x_ctx, x_ctx, lengthscale, outputscale) + noise * torch.eye(N, dtype=torch.float64,
                                                                               device=x_ctx.device)
    L = torch.linalg.cholesky(K)
    y = y_ctx.to(torch.float64).unsqueeze(-1)
    a = torch.linalg.solve_triangular(L, y, upper=False)
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * (a.pow(2).sum((1, 2)) + logdet + N * _LOG_2PI)


def hyper_posterior(x_ctx, y_ctx, lengthscales=HYPER_LENGTHSCALES, outputscale: float = 1.0,
                    noise: float = 0.01) -> torch.Tensor:
    """Posterior weights over the discrete lengthscales (uniform prior): (B, L), rows sum to 1."""
    lml = torch.stack([log_marginal_likelihood(x_ctx, y_ctx, ls, outputscale, noise) for ls in lengthscales], -1)
    return torch.softmax(lml, -1)


def hyper_log_prob(x_ctx, y_ctx, x_qry, y_qry, lengthscales=HYPER_LENGTHSCALES, outputscale: float = 1.0,
                   noise: float = 0.01) -> torch.Tensor:
    """log p(y*_j | context) under the exact hyperprior predictive, the weighted mixture of GP predictives."""
    log_w = torch.log(hyper_posterior(x_ctx, y_ctx, lengthscales, outputscale, noise))  # (B, L)
    comps = torch.stack([gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, ls, outputscale, noise)
                         for ls in lengthscales], -1)  # (B, M, L)
    return torch.logsumexp(comps + log_w.unsqueeze(1), -1)


def hyper_predict(x_ctx, y_ctx, x_qry, lengthscales=HYPER_LENGTHSCALES, outputscale: float = 1.0,
                  noise: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance (B, M) of the exact hyperprior predictive mixture (law of total variance)."""
    w = hyper_posterior(x_ctx, y_ctx, lengthscales, outputscale, noise).unsqueeze(1)  # (B, 1, L)
    parts = [gp_predict(x_ctx, y_ctx, x_qry, ls, outputscale, noise) for ls in lengthscales]
    means = torch.stack([m for m, _ in parts], -1)
    vars_ = torch.stack([v for _, v in parts], -1)
    mean = (w * means).sum(-1)
    return mean, (w * (vars_ + means**2)).sum(-1) - mean**2


#: The lengthscale grid over which the plug-in (type-II maximum likelihood) GP picks its ℓ.
MLE_GRID = tuple(float(v) for v in torch.logspace(math.log10(0.02), math.log10(2.0), 61, dtype=torch.float64))


def mle2_lengthscale(x_ctx, y_ctx, grid=MLE_GRID, outputscale: float = 1.0, noise: float = 0.01) -> torch.Tensor:
    """Type-II maximum likelihood ℓ of each dataset (B,): the grid value with the largest marginal likelihood.

    The outputscale and noise are fixed at the prior's values; with 0 or 1 context points every ℓ has the
    same marginal likelihood and the first maximiser on the grid is returned (the predictive then does not
    depend on ℓ at n = 0; at n = 1 it does, and the plug-in choice is arbitrary, as for any plug-in).
    """
    lml = torch.stack([log_marginal_likelihood(x_ctx, y_ctx, ls, outputscale, noise) for ls in grid], -1)
    return torch.as_tensor(grid, dtype=torch.float64, device=y_ctx.device)[lml.argmax(-1)]


def mle2_plugin_log_prob(x_ctx, y_ctx, x_qry, y_qry, grid=MLE_GRID, fallback: float = 0.2,
                         outputscale: float = 1.0, noise: float = 0.01) -> torch.Tensor:
    """log p(y*_j | context) (B, M) under the plug-in GP with each dataset's type-II ML lengthscale on `grid`.

    `grid=MLE_GRID` searches a wide range; `grid=HYPER_LENGTHSCALES` restricts ML-II to the hyperprior's
    support, where (the hyperprior being uniform) it picks the most probable lengthscale a posteriori, the
    largest weight of `hyper_posterior`. With fewer than 2 context points every ℓ explains the data equally
    well, so the plug-in uses `fallback`.
    """
    values = torch.as_tensor(grid, dtype=torch.float64)
    if values.dim() != 1 or len(values) == 0 or not bool(torch.isfinite(values).all()) or not bool((values > 0).all()):
        raise ValueError(f"grid={grid!r} must be a non-empty list of lengthscales > 0")
    if y_ctx.shape[1] < 2:
        return gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, fallback, outputscale, noise)
    ls = mle2_lengthscale(x_ctx, y_ctx, tuple(float(v) for v in values), outputscale, noise)
    return gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, ls, outputscale, noise)


def mcmc_hyper_log_prob(x_ctx, y_ctx, x_qry, y_qry, *, steps: int = 2000, burn_in: int = 500,
                        generator: torch.Generator | None = None, lengthscales=HYPER_LENGTHSCALES,
                        outputscale: float = 1.0, noise: float = 0.01) -> torch.Tensor:
    """log p(y*) under the hyperprior, by Metropolis–Hastings over ℓ instead of exact enumeration: (B, M).

    The slow, general route a PFN replaces: a chain per dataset proposes another lengthscale of the set
    uniformly and accepts with the ratio of marginal likelihoods (one Cholesky per dataset and step); the
    predictive averages the GP predictives over the kept samples. It converges to `hyper_log_prob`.
    """
    if not isinstance(steps, int) or not isinstance(burn_in, int) or not 0 <= burn_in < steps:
        raise ValueError(f"mcmc: need integers 0 <= burn_in={burn_in!r} < steps={steps!r}")
    B = y_ctx.shape[0]
    ls = torch.as_tensor(lengthscales, dtype=torch.float64)
    L = len(ls)
    state = torch.randint(L, (B,), generator=generator)
    lml = log_marginal_likelihood(x_ctx, y_ctx, ls[state], outputscale, noise)
    counts = torch.zeros(B, L, dtype=torch.float64)
    rows = torch.arange(B)
    for step in range(steps):
        shift = torch.randint(1, L, (B,), generator=generator)  # any other value, uniformly: symmetric
        prop = (state + shift) % L
        lml_prop = log_marginal_likelihood(x_ctx, y_ctx, ls[prop], outputscale, noise)
        u = torch.rand(B, generator=generator, dtype=torch.float64)
        accept = torch.log(u) < lml_prop - lml
        state = torch.where(accept, prop, state)
        lml = torch.where(accept, lml_prop, lml)
        if step >= burn_in:
            counts[rows, state] += 1
    log_w = torch.log(counts / counts.sum(1, keepdim=True))  # -inf for a value the chain never visited
    comps = torch.stack([gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, float(v), outputscale, noise) for v in ls], -1)
    return torch.logsumexp(comps + log_w.unsqueeze(1), -1)


def hyper_quantile(x_ctx, y_ctx, x_qry, q: float, lengthscales=HYPER_LENGTHSCALES, outputscale: float = 1.0,
                   noise: float = 0.01, iterations: int = 60) -> torch.Tensor:
    """Quantile q (B, M) of the exact hyperprior predictive mixture, by bisection on its cdf."""
    if not 0 < q < 1:
        raise ValueError(f"q={q!r} must lie strictly between 0 and 1")
    w = hyper_posterior(x_ctx, y_ctx, lengthscales, outputscale, noise).unsqueeze(1)  # (B, 1, L)
    parts = [gp_predict(x_ctx, y_ctx, x_qry, ls, outputscale, noise) for ls in lengthscales]
    means = torch.stack([m for m, _ in parts], -1)
    sds = torch.stack([v for _, v in parts], -1).sqrt()
    lo = (means - 10 * sds).min(-1).values
    hi = (means + 10 * sds).max(-1).values
    for _ in range(iterations):
        mid = (lo + hi) / 2
        cdf = (w * 0.5 * torch.erfc(-(mid.unsqueeze(-1) - means) / (sds * math.sqrt(2)))).sum(-1)
        below = cdf < q
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2
