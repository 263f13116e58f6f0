"""The coded exercises of chapter 5 (nbs/05_pfn.py), registered with minilib.exercises."""

from __future__ import annotations

import math

import torch

from ..exercises import Case, Mistake, exercise
from . import gp
from .bar import BarDistribution

#: The prior of the exercise: the chapter's GP (ℓ = 0.2, s = 1, noise variance 0.01).
LENGTHSCALE, OUTPUTSCALE, NOISE = 0.2, 1.0, 0.01


def gp_log_prob(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                y_test: torch.Tensor) -> torch.Tensor:
    """log p(y_test[j] | data) under the exact GP predictive of a noisy observation, each test point alone."""
    mean, var = gp.gp_posterior(x_train, y_train, x_test, LENGTHSCALE, OUTPUTSCALE, NOISE)
    return gp.normal_log_prob(y_test, mean, var).to(y_test.dtype)


def _gp_wrong(noise_in_k: float, noise_in_var: float, with_mean: bool = True):
    def wrong(x_train, y_train, x_test, y_test):
        k = lambda a, b: OUTPUTSCALE * torch.exp(-0.5 * (a[:, None] - b[None, :]) ** 2 / LENGTHSCALE**2)
        K = k(x_train, x_train) + noise_in_k * torch.eye(len(x_train), dtype=x_train.dtype)
        ks = k(x_train, x_test)
        sol = torch.linalg.solve(K, torch.cat([y_train[:, None], ks], 1)) if len(x_train) else None
        mean = ks.T @ sol[:, 0] if sol is not None and with_mean else torch.zeros_like(x_test)
        reduce = (ks * sol[:, 1:]).sum(0) if sol is not None else torch.zeros_like(x_test)
        var = OUTPUTSCALE + noise_in_var - reduce
        return -0.5 * (math.log(2 * math.pi) + torch.log(var) + (y_test - mean) ** 2 / var)
    return wrong


def _gp_cases(gen: torch.Generator) -> list[Case]:
    t = lambda *v: torch.tensor(v, dtype=torch.float64)
    r = lambda n: torch.rand(n, generator=gen, dtype=torch.float64)
    x10 = r(10)
    y10 = torch.sin(6 * x10) + 0.1 * torch.randn(10, generator=gen, dtype=torch.float64)
    hint = ("μ* = k*ᵀ(K + σn²I)⁻¹y and σ*² = s + σn² − k*ᵀ(K + σn²I)⁻¹k*, with k(x, x') = s·exp(−(x − x')²/(2ℓ²)); "
            "then log N(y*; μ*, σ*²)")
    return [
        Case("3 training points, 2 test points", (t(0.1, 0.5, 0.9), t(1.0, -0.5, 0.2), t(0.3, 0.5), t(0.4, -0.4)),
             hint),
        Case("10 training points, 5 test points", (x10, y10, r(5), torch.randn(5, generator=gen, dtype=torch.float64)),
             hint),
        Case("a test point on top of a training point", (t(0.25, 0.75), t(0.8, -0.3), t(0.25), t(0.8)),
             "even where f is known exactly, a new observation still carries its own noise σn²"),
        Case("no training points (shape (0,))", (t(), t(), t(0.2, 0.6), t(0.0, 1.5)),
             "with no data the predictive is the prior N(0, s + σn²)"),
    ]


exercise(
    name="pfn.gp_log_prob", chapter="05_pfn", reference=gp_log_prob,
    summary="log-likelihood of noisy test targets under the exact GP predictive (ℓ = 0.2, s = 1, σn² = 0.01): "
            "3 and 10 training points, a test point on a training point, an empty context",
    cases=_gp_cases, seed=5, forbidden=(gp.gp_posterior, gp.gp_log_prob, gp.gp_predict),
    mistakes=(
        Mistake("no observation noise in the predictive variance", _gp_wrong(NOISE, 0.0),
                "a noisy test target y* = f(x*) + ε is scored against the predictive of y*, not of f(x*): add σn² "
                "to the variance (a common bug that makes the exact GP look worse than it is)"),
        Mistake("no noise on K's diagonal", _gp_wrong(1e-10, NOISE),
                "the training targets are noisy too: invert K + σn²I, not K"),
        Mistake("the prior mean instead of the posterior mean", _gp_wrong(NOISE, NOISE, with_mean=False),
                "the predictive mean is k*ᵀ(K + σn²I)⁻¹y, not 0"),
    ),
)


def bar_nll(logits: torch.Tensor, borders: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−log density of targets y (shape logits.shape[:-1]) inside the inner buckets of a bar distribution."""
    return -BarDistribution(borders).log_prob(logits, y)


def _bucket(borders, y):
    return torch.searchsorted(borders.to(y.dtype).contiguous(), y.contiguous(), right=True) - 1


def _nll_without_width(logits, borders, y):
    k = _bucket(borders, y)
    return -torch.log_softmax(logits, -1).gather(-1, k.unsqueeze(-1)).squeeze(-1)


def _nll_raw_logits(logits, borders, y):
    k = _bucket(borders, y)
    w = (borders[1:] - borders[:-1]).to(logits.dtype)
    return -logits.gather(-1, k.unsqueeze(-1)).squeeze(-1) + torch.log(w[k])


def _nll_times_width(logits, borders, y):
    k = _bucket(borders, y)
    w = (borders[1:] - borders[:-1]).to(logits.dtype)
    return -torch.log_softmax(logits, -1).gather(-1, k.unsqueeze(-1)).squeeze(-1) - torch.log(w[k])


def _nll_next_bucket(logits, borders, y):
    k = (_bucket(borders, y) + 1).clamp(max=logits.shape[-1] - 1)
    w = (borders[1:] - borders[:-1]).to(logits.dtype)
    return -torch.log_softmax(logits, -1).gather(-1, k.unsqueeze(-1)).squeeze(-1) + torch.log(w[k])


def _bar_cases(gen: torch.Generator) -> list[Case]:
    equal = torch.linspace(-2.0, 4.0, 11, dtype=torch.float64)
    uneven = torch.tensor([-3.0, -1.0, -0.4, 0.0, 0.1, 0.5, 1.5, 4.0], dtype=torch.float64)
    hint = ("find the bucket k with borders[k] <= y < borders[k + 1]; its density is p_k / w_k with "
            "p = softmax(logits) and w_k = borders[k + 1] − borders[k]")
    return [
        Case("uniform logits on 10 equal buckets of [−2, 4]", (torch.zeros(3, 10, dtype=torch.float64), equal,
             torch.tensor([-1.0, 0.7, 3.1], dtype=torch.float64)),
             "uniform logits on equal buckets spread the mass evenly: the NLL is log(total width) = log 6"),
        Case("random logits on 7 uneven buckets", (torch.randn(4, 7, generator=gen, dtype=torch.float64) * 2, uneven,
             torch.tensor([-0.9, 0.05, 0.3, 1.4], dtype=torch.float64)), hint),
        Case("a target exactly on a border", (torch.randn(2, 7, generator=gen, dtype=torch.float64), uneven,
             torch.tensor([0.0, 0.5], dtype=torch.float64)),
             "a target on a border belongs to the bucket on its right: borders[k] <= y < borders[k + 1]"),
        Case("a batch of shape (2, 3) in float32", (torch.randn(2, 3, 10, generator=gen), equal.float(),
             torch.rand(2, 3, generator=gen) * 4.7 - 1.3), "keep the logits' dtype; work on any leading shape"),
    ]


exercise(
    name="pfn.bar_nll", chapter="05_pfn", reference=bar_nll,
    summary="NLL of targets in the inner buckets of a bar distribution: uniform logits, uneven buckets, a target on "
            "a border, a float32 batch",
    cases=_bar_cases, seed=6, forbidden=(BarDistribution.log_prob,),
    mistakes=(
        Mistake("the bucket's probability without its width", _nll_without_width,
                "p_k is a probability; the density is p_k / w_k, so the NLL is −log p_k + log w_k"),
        Mistake("raw logits instead of log-probabilities", _nll_raw_logits,
                "normalise first: log p = log_softmax(logits)"),
        Mistake("p_k · w_k instead of p_k / w_k", _nll_times_width,
                "a bucket's density is its probability divided by its width"),
        Mistake("the bucket to the right", _nll_next_bucket,
                "bucket k covers [borders[k], borders[k + 1]): searchsorted(..., right=True) − 1 gives k"),
    ),
)
