"""The coded exercises of chapter 2 (nbs/02_benign_overfitting.py), registered with minilib.exercises."""

from __future__ import annotations

import numpy as np
import torch

from ..exercises import Case, Mistake, exercise
from . import models, ridge


def gd_step(W: torch.Tensor, a: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor:
    """ΔW [m, p] of one full-batch GD step (eq. 2.2) for one network: W [m, p], a [m], x [n, p], y [n]."""
    return models.gd_update(W[None], a[None], x[None], y[None], lr)[0]


def _summed(W, a, x, y, lr):
    return gd_step(W, a, x, y, lr) * x.shape[0]


def _half(W, a, x, y, lr):
    active = (x @ W.T > 0).to(x.dtype)  # [n, m]
    return lr / x.shape[0] * a[:, None] * ((active * (0.5 * y)[:, None]).T @ x)


def _no_relu_derivative(W, a, x, y, lr):
    g = torch.sigmoid(-y * ((x @ W.T).relu() @ a))
    return lr / x.shape[0] * a[:, None] * (g * y)[None, :].expand(W.shape[0], -1) @ x


def _gd_cases(gen: torch.Generator) -> list[Case]:
    net = lambda m, p, n, scale, dtype=torch.float64: (
        torch.randn(m, p, generator=gen, dtype=dtype) * scale,
        (torch.randint(0, 2, (m,), generator=gen) * 2 - 1).to(dtype) / m**0.5,
        torch.randn(n, p, generator=gen, dtype=dtype) * 2,
        (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).to(dtype))
    hint = ("ΔW[j] = (lr / n) · a_j · Σ_i g_i y_i 1[<w_j, x_i> > 0] x_i with g_i = 1 / (1 + exp(y_i f(x_i))): "
            "one matrix product over the samples")
    return [
        Case("2 neurons, 3 samples in 2-D", (torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64),
                                              torch.tensor([1.0, -1.0], dtype=torch.float64),
                                              torch.tensor([[1.0, 1.0], [-1.0, 2.0], [2.0, -1.0]], dtype=torch.float64),
                                              torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64), 0.5), hint),
        Case("weights of scale 1 (f of order 1, so g_i varies), m = 6, p = 9, n = 12", (*net(6, 9, 12, 1.0), 0.1),
             "g_i = 1 / (1 + exp(y_i f(x_i))) depends on the sample once f is not tiny: compute f first"),
        Case("the paper's regime: init 1e-15, lr 1e-12, m = 20, p = 300, n = 40", (*net(20, 300, 40, 1e-15), 1e-12),
             hint),
        Case("float32, m = 5, p = 7, n = 4", (*net(5, 7, 4, 1.0, torch.float32), 0.3), "keep the inputs' dtype"),
    ]


exercise(
    name="benign.gd_step", chapter="02_benign_overfitting", reference=gd_step,
    summary="ΔW of one GD step on the mean logistic loss of f(x) = Σ a_j ReLU(<w_j, x>): a 2-D example, weights "
            "of scale 1, the paper's tiny-init regime, float32",
    cases=_gd_cases, seed=7, forbidden=(models.gd_update,),
    mistakes=(
        Mistake("the summed loss (no 1/n)", _summed,
                "the loss is the mean over the n samples: divide the sum over samples by n"),
        Mistake("g_i fixed at 1/2", _half,
                "g_i = 1/2 holds only while |f| ≪ 1: use g_i = 1 / (1 + exp(y_i f(x_i)))"),
        Mistake("without ReLU'", _no_relu_derivative,
                "a neuron receives gradient only from the samples where it is active, <w_j, x_i> > 0"),
        Mistake("gradient ascent", lambda W, a, x, y, lr: -gd_step(W, a, x, y, lr),
                "descent moves against the gradient of the loss: ΔW = −lr ∇L, which has the sign of +y_i a_j"),
    ),
)


def kernel_kappa(eigvals: torch.Tensor, n: float, ridge_: float) -> float:
    """κ solving Σ_i λ_i / (λ_i + κ) + δ / κ = n (kernel ridge regression's eigenlearning equation)."""
    out = ridge.eigenlearning(eigvals.double().numpy(), np.zeros(len(eigvals)), n, np.inf, ridge_, 0.0)
    return float(out["kappa"])


def _kappa_cases() -> list[Case]:
    powerlaw = lambda M, a: torch.arange(1, M + 1, dtype=torch.float64) ** -a
    hint = "Σ_i λ_i / (λ_i + κ) + δ/κ decreases in κ: bisect on log κ until it equals n"
    return [
        Case("λ = 1, 1/2, 1/4, 1/8, n = 2, δ = 0.1", (torch.tensor([1.0, 0.5, 0.25, 0.125], dtype=torch.float64),
                                                        2.0, 0.1), hint),
        Case("λ_i = i^-1.5, M = 1000, n = 50, δ = 0.01", (powerlaw(1000, 1.5), 50.0, 0.01), hint),
        Case("λ_i = i^-2, M = 500, n = 20, δ = 0 (ridgeless)", (powerlaw(500, 2.0), 20.0, 0.0),
             "with δ = 0 the equation is Σ λ_i / (λ_i + κ) = n"),
        Case("λ_i = i^-1.2, M = 2000, n = 100, δ = 5", (powerlaw(2000, 1.2), 100.0, 5.0), hint),
    ]


def _kappa_mean_ridge(eigvals, n, ridge_):
    return kernel_kappa(eigvals, n, ridge_ * n)


exercise(
    name="benign.kernel_kappa", chapter="02_benign_overfitting", reference=kernel_kappa,
    summary="the eigenlearning constant κ of kernel ridge regression for four spectra, ridge 0.1, 0.01, 0 and 5",
    cases=_kappa_cases, forbidden=(ridge.eigenlearning,),
    mistakes=(
        Mistake("ignoring the ridge", lambda eigvals, n, ridge_: kernel_kappa(eigvals, n, 0.0),
                "the ridge adds δ/κ to the sum: Σ λ_i/(λ_i + κ) + δ/κ = n"),
        Mistake("the ridge of a mean loss (δ·n)", _kappa_mean_ridge,
                "the ridge is added to the summed kernel (K + δ I): the term is δ/κ, not n·δ/κ"),
        Mistake("γ of n − 1 samples", lambda eigvals, n, ridge_: kernel_kappa(eigvals, n - 1, ridge_),
                "the sum must equal n, the number of samples"),
    ),
)
