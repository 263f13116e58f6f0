"""Learning-curve extrapolation with a PFN (Adriaensen et al. 2023, "Efficient Bayesian Learning Curve
Extrapolation using Prior-Data Fitted Networks"): the curve prior, its likelihood, training batches, the
held-out score and a predictive early-stopping rule.

The prior is the default of the authors' code (LC-PFN): a learning curve over epochs x = 1..100 is

    f(x) = w1 · pow3(x) + w2 · ilog2(x) + w3 · janoschek(x),   y(x) = f(x) + σ ε,  ε ~ N(0, 1)

with the three weights drawn independently from U(0, 1) (not normalised), each component's parameters
from the table `PRIOR`, log σ ~ N(−4, 1), and a curve rejected (drawn again) when f(100) <= f(1), when any
noise-free value lies outside [0, 1], or when any is NaN. About one draw in five is kept. Curves are not
rescaled. A curve observed up to epoch `cut` (right-censored) is the PFN's context; the epochs after it
are its queries. The network sees epoch x as x / 100; `Predictor.predict` of an LC-PFN takes epoch numbers
and scales them itself (minilib/pfn/model.py, INPUTS).

A parameter vector θ has the 13 entries of `PARAMS`, in natural units (σ itself, not its log).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

EPOCHS = 100  # the prior's curve length (the authors' default)
COMPONENTS = ("pow3", "ilog2", "janoschek")

#: Every parameter of a curve: name -> (distribution, p1, p2). "uniform" is U(p1, p2); "lognormal" is
#: exp(N(p1, p2)) (p2 the standard deviation of the log). Values from the authors' lcpfn code (curves.py,
#: "peaked" priors; domhan_prior.py for the weights and the noise).
PRIOR: dict[str, tuple[str, float, float]] = {
    "w_pow3": ("uniform", 0.0, 1.0),
    "w_ilog2": ("uniform", 0.0, 1.0),
    "w_janoschek": ("uniform", 0.0, 1.0),
    "pow3_c": ("uniform", 0.0, 1.25),
    "pow3_a": ("uniform", -0.6, 0.6),
    "pow3_alpha": ("lognormal", 0.0, 2.0),
    "ilog2_c": ("uniform", 0.0, 1.0),
    "ilog2_a": ("uniform", -0.5, 0.5),
    "janoschek_a": ("uniform", 0.0, 1.0),
    "janoschek_beta": ("uniform", 0.0, 2.0),
    "janoschek_k": ("lognormal", -2.0, 1.0),
    "janoschek_delta": ("lognormal", 0.0, 0.5),
    "sigma": ("lognormal", -4.0, 1.0),
}
PARAMS: tuple[str, ...] = tuple(PRIOR)
NDIM = len(PARAMS)
_UNIFORM = np.array([PRIOR[p][0] == "uniform" for p in PARAMS])
_P1 = np.array([PRIOR[p][1] for p in PARAMS])
_P2 = np.array([PRIOR[p][2] for p in PARAMS])


def _ns(a):
    """numpy or torch, whichever `a` belongs to (the curve functions serve both the sampler and MCMC)."""
    return torch if isinstance(a, torch.Tensor) else np


def pow3(x, c, a, alpha):
    """c − a · x^(−α): a power law rising (a > 0) or falling towards c. (x^p is computed as exp(p log x),
    cheaper than a power in the MCMC's inner loop.)"""
    xp = _ns(x)
    return c - a * xp.exp(-alpha * xp.log(x))


def ilog2(x, c, a):
    """c − a / log(x + 1)."""
    return c - a / _ns(x).log(x + 1)


def janoschek(x, a, beta, k, delta):
    """a − (a − β) · exp(−k · x^δ): from β at x = 0 towards a."""
    xp = _ns(x)
    return a - (a - beta) * xp.exp(-k * xp.exp(delta * xp.log(x)))


def curve(theta, epochs=None):
    """The noise-free curves f(x) of parameter rows θ (n, 13) at `epochs` (default 1..100) -> (n, len(epochs)).

    numpy in, numpy out; torch in, torch out (float64 recommended: f(1) and f(100) are compared)."""
    xp = _ns(theta)
    if epochs is None:
        epochs = xp.arange(1, EPOCHS + 1, dtype=theta.dtype)
    elif xp is torch:
        epochs = torch.as_tensor(epochs, dtype=theta.dtype, device=theta.device)
    else:
        epochs = np.asarray(epochs, dtype=theta.dtype)
    if theta.ndim != 2 or theta.shape[1] != NDIM:
        raise ValueError(f"theta has shape {tuple(theta.shape)}: expected (n, {NDIM}) with columns {PARAMS}")
    x = epochs[None, :]
    t = [theta[:, i:i + 1] for i in range(NDIM)]
    w1, w2, w3, pc, pa, palpha, ic, ia, ja, jbeta, jk, jdelta, _sigma = t
    return (w1 * pow3(x, pc, pa, palpha) + w2 * ilog2(x, ic, ia)
            + w3 * janoschek(x, ja, jbeta, jk, jdelta))


def accepted(f):
    """The prior's rejection rule on noise-free curves over all 100 epochs: keep a curve only if it ends
    higher than it starts, stays inside [0, 1] and has no NaN. -> bool (n,)."""
    if f.shape[-1] != EPOCHS:
        raise ValueError(f"the rejection rule reads the whole curve: got {f.shape[-1]} epochs, need {EPOCHS}")
    xp = _ns(f)
    finite = ~xp.isnan(f).any(axis=-1) if xp is np else ~torch.isnan(f).any(dim=-1)
    inside = ((f >= 0) & (f <= 1)).all(-1) if xp is torch else ((f >= 0) & (f <= 1)).all(axis=-1)
    return finite & inside & (f[..., -1] > f[..., 0])


def draw_params(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n parameter rows from the component priors, before the rejection rule (float64, (n, 13))."""
    u = torch.rand(n, NDIM, generator=generator, dtype=torch.float64)
    z = torch.randn(n, NDIM, generator=generator, dtype=torch.float64)
    uniform = torch.from_numpy(_UNIFORM)
    p1, p2 = torch.from_numpy(_P1), torch.from_numpy(_P2)
    return torch.where(uniform, p1 + (p2 - p1) * u, torch.exp(p1 + p2 * z))


@dataclass
class Curves:
    """Curves drawn from the prior: parameters (n, 13), noise-free f and noisy y (n, 100), and how many
    parameter draws it took (the rejection rule keeps `n / draws` of them)."""

    theta: torch.Tensor
    f: torch.Tensor
    y: torch.Tensor
    draws: int

    @property
    def acceptance(self) -> float:
        return len(self.theta) / self.draws


def _check_count(name: str, n) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name}={n!r} is not allowed: use an integer >= 1")
    return int(n)


def sample_curves(n: int, generator: torch.Generator | None = None) -> Curves:
    """n learning curves from the LC-PFN prior (rejection sampling, in float64)."""
    n = _check_count("n", n)
    thetas, draws, kept = [], 0, 0
    while kept < n:
        batch = max(64, 6 * (n - kept))  # about 1 draw in 5 is kept
        theta = draw_params(batch, generator)
        ok = accepted(curve(theta))
        idx = torch.nonzero(ok).flatten()
        need = n - kept
        if len(idx) > need:  # count the draws up to the last kept one only, so draws is exact
            draws += int(idx[need - 1]) + 1
            idx = idx[:need]
        else:
            draws += batch
        thetas.append(theta[idx])
        kept += len(idx)
    theta = torch.cat(thetas)
    f = curve(theta)
    sigma = theta[:, PARAMS.index("sigma"), None]
    y = f + sigma * torch.randn(f.shape, generator=generator, dtype=torch.float64)
    return Curves(theta, f, y, draws)


def epochs_as_x(epochs) -> torch.Tensor:
    """What the network sees of an epoch: x = epoch / 100, shape (..., 1) float32."""
    return (torch.as_tensor(epochs, dtype=torch.float32) / EPOCHS)[..., None]


def sample_batch(batch_size: int, generator: torch.Generator | None = None):
    """Training batch for the PFN: x (B, 100, 1) = epoch / 100 in order, y (B, 100) noisy curves (float32).

    The points are in epoch order, so the first n of them are a curve right-censored at epoch n."""
    batch_size = _check_count("batch_size", batch_size)
    curves = sample_curves(batch_size, generator)
    x = epochs_as_x(torch.arange(1, EPOCHS + 1)).expand(batch_size, EPOCHS, 1)
    return x.contiguous(), curves.y.float()


# --- likelihood and prior density (what MCMC samples from) ---------------------------------------------

def log_likelihood(theta, y_obs, epochs=None):
    """log p(y_obs | θ): independent Gaussian noise N(f(x), σ²) at the observed epochs (default 1..n).

    theta (n_params, 13), y_obs (m,) -> (n_params,). numpy or torch, float64."""
    xp = _ns(theta)
    m = y_obs.shape[-1]
    if epochs is None:
        epochs = xp.arange(1, m + 1, dtype=theta.dtype)
    if len(epochs) != m:
        raise ValueError(f"y_obs has {m} values but epochs has {len(epochs)}")
    return gaussian_log_likelihood(curve(theta, epochs), theta[:, -1:], y_obs)


def gaussian_log_likelihood(f, sigma, y_obs):
    """Σ_t log N(y_t; f_t, σ²) for rows of noise-free values f (n, m) with noise σ (n, 1) -> (n,)."""
    r = (y_obs[None, :] - f) / sigma
    return (-0.5 * r**2 - _ns(f).log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)


def check_cut(cut: int) -> int:
    """A right-censoring point: at least one epoch observed and one held out."""
    if not isinstance(cut, (int, np.integer)) or isinstance(cut, bool) or not 1 <= cut <= EPOCHS - 1:
        raise ValueError(f"cut={cut!r} is not allowed: use an integer in 1 <= cut <= {EPOCHS - 1} "
                         f"(epochs 1..cut observed, cut+1..{EPOCHS} held out)")
    return int(cut)


# --- the held-out comparison ---------------------------------------------------------------------------

#: The comparison's fresh curves: drawn from a generator seeded apart from every training seed.
TEST_SEED = 20231210
TEST_CURVES = 30
CUTS = (10, 20, 40)


def test_curves(n: int = TEST_CURVES, seed: int = TEST_SEED) -> Curves:
    """The fresh prior curves every method is scored on (the same curves censored at each cut)."""
    return sample_curves(n, torch.Generator().manual_seed(seed))


def heldout_pfn(predictor, y_curves, cut: int) -> np.ndarray:
    """The PFN's mean log-likelihood per held-out epoch of each curve censored at `cut`: (n, 100) -> (n,).

    Context: epochs 1..cut with their observed values; queries: epochs cut+1..100, scored against the
    observed (noisy) values, as the MCMC baseline is."""
    cut = check_cut(cut)
    y = torch.as_tensor(y_curves, dtype=torch.float32)
    n = y.shape[0]
    x = epochs_as_x(torch.arange(1, EPOCHS + 1))
    logits = predictor.batch_logits(x[None, :cut].expand(n, cut, 1), y[:, :cut],
                                    x[None, cut:].expand(n, EPOCHS - cut, 1))
    lp = predictor.bar.log_prob(logits, y[:, cut:].to(logits.device))
    return lp.double().mean(1).cpu().numpy()


#: Seeds the curves on which the last-value baseline's width is fitted (apart from the test curves).
BASELINE_SEED = 20231211


def last_value_sigma(cut: int, n: int = 2000, seed: int = BASELINE_SEED) -> float:
    """The trivial baseline's width at `cut`: the root-mean-square change from the last observed value to
    each later epoch, over n prior curves (its maximum-likelihood width)."""
    y = sample_curves(n, torch.Generator().manual_seed(seed + check_cut(cut))).y
    return float(((y[:, cut:] - y[:, cut - 1:cut]) ** 2).mean().sqrt())


def heldout_last_value(y_curves, cut: int, sigma: float | None = None) -> np.ndarray:
    """The trivial baseline: every later epoch ~ N(last observed value, σ²) with σ from `last_value_sigma`."""
    cut = check_cut(cut)
    y = torch.as_tensor(y_curves, dtype=torch.float64)
    s = last_value_sigma(cut) if sigma is None else sigma
    r = (y[:, cut:] - y[:, cut - 1:cut]) / s
    return (-0.5 * r**2 - math.log(s) - 0.5 * math.log(2 * math.pi)).mean(1).numpy()


def seconds_per_curve(predictor, cut: int = 20, repeats: int = 20) -> tuple[float, float]:
    """Wall and CPU seconds of one PFN prediction (one curve, all its held-out epochs), median of repeats."""
    y = test_curves(1).y[0].float()
    x = torch.arange(1, EPOCHS + 1)  # epoch numbers: the LC-PFN's predict scales them itself
    walls, cpus = [], []
    for _ in range(repeats + 1):  # the first call warms up
        t, c = time.perf_counter(), time.process_time()
        predictor.predict(x[:cut], y[:cut], x[cut:]).log_prob(y[cut:])
        if predictor.device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return float(np.median(walls[1:])), float(np.median(cpus[1:]))


# --- predictive early stopping --------------------------------------------------------------------------

def prob_improvement(predictor, y_observed, best: float) -> float:
    """P(y(100) > best | epochs 1..len(y_observed)) under the PFN's predictive at the last epoch."""
    n = len(y_observed)
    x = torch.arange(1, EPOCHS + 1)  # epoch numbers: the LC-PFN's predict scales them itself
    pred = predictor.predict(x[:n], torch.as_tensor(y_observed, dtype=torch.float32), x[EPOCHS - 1:])
    return float(1 - pred.cdf(torch.tensor([best], dtype=torch.float32))[0])


def early_stopping(predictor, y_curves, threshold: float = 0.05, check_every: int = 5,
                   min_epochs: int = 5) -> dict[str, np.ndarray | float]:
    """Train the runs of a sweep one after another, stopping a run once the PFN gives it a probability
    below `threshold` of ending (epoch 100) above the best final value so far.

    Runs are checked after min_epochs, then every check_every epochs. A run that is not stopped reaches
    epoch 100 and its final value may become the best. Returns each run's stopping epoch, the epochs
    used against running all to the end, and the best final value found against the sweep's true best."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} is not allowed: a probability with 0 < threshold < 1")
    check_cut(min_epochs)
    _check_count("check_every", check_every)
    y = torch.as_tensor(y_curves, dtype=torch.float32)
    best, stopped_at = -math.inf, []
    for curve in y:
        stop = EPOCHS
        if math.isfinite(best):
            for t in range(min_epochs, EPOCHS, check_every):
                if prob_improvement(predictor, curve[:t], best) < threshold:
                    stop = t
                    break
        if stop == EPOCHS:
            best = max(best, float(curve[-1]))
        stopped_at.append(stop)
    stopped_at = np.array(stopped_at)
    return {"stopped_at": stopped_at, "epochs_used": int(stopped_at.sum()), "epochs_all": EPOCHS * len(y),
            "best_found": best, "best_true": float(y[:, -1].max()),
            "regret": float(y[:, -1].max()) - best}


# --- the prior in the chapter's training loop (minilib.pfn.experiment) ----------------------------------

#: Seeds the fixed curves of the evaluation logged during training (apart from test and training seeds).
LOG_EVAL_SEED = 20231212


def sampler(config):
    """sample_batch for `pfn.Config(prior="lc")`: curves from the prior, their first seq_len epochs (the shipped
    LC-PFN sees whole curves, seq_len = 100; a shorter seq_len trains on curves seen up to epoch seq_len)."""
    if not 2 <= config.seq_len <= EPOCHS:
        raise ValueError(f"Config.seq_len={config.seq_len} is not allowed with prior='lc': a learning curve from the "
                         f"prior has {EPOCHS} epochs, so use 2 <= seq_len <= {EPOCHS}")
    if config.seq_len == EPOCHS:
        return sample_batch

    def first_epochs(batch_size: int, generator: torch.Generator | None = None):
        x, y = sample_batch(batch_size, generator)
        return x[:, :config.seq_len].contiguous(), y[:, :config.seq_len].contiguous()
    return first_epochs


def evaluate(config):
    """eval_nll along training: the PFN's NLL per held-out epoch on config.eval_datasets fixed curves,
    averaged over the cuts 10, 20 and 40."""
    y = test_curves(config.eval_datasets, LOG_EVAL_SEED).y

    def run(predictor) -> dict:
        return {"eval_nll": -float(np.mean([heldout_pfn(predictor, y, c).mean() for c in CUTS]))}
    return run


def final(config, predictor) -> dict[str, np.ndarray]:
    """Stored with a completed LC run: the PFN's and the last-value baseline's held-out log-likelihood on
    the comparison's test curves, per cut (rows) and curve (columns)."""
    y = test_curves().y
    sigmas = [last_value_sigma(c) for c in CUTS]
    return {"heldout_cuts": np.array(CUTS), "heldout_pfn": np.stack([heldout_pfn(predictor, y, c) for c in CUTS]),
            "heldout_last_value": np.stack([heldout_last_value(y, c, s) for c, s in zip(CUTS, sigmas)]),
            "last_value_sigma": np.array(sigmas)}


def _register():
    from .experiment import Prior, register_prior

    register_prior(Prior("lc", sampler, evaluate, final))


_register()
