"""Coded exercises of chapter 4 (nbs/04_projection_heads.py), registered with minilib.exercises."""

from __future__ import annotations

import torch

from ..exercises import Case, Mistake, exercise
from . import data, losses


def spectral_loss(W: torch.Tensor, a: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """The population spectral contrastive loss of one linear map W [out, d] (a scalar tensor)."""
    m, s = data.second_moments(a, rho)
    return losses.spectral_population(W.unsqueeze(0), m, s)[0]


def balanced_encoder_weights(a: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """‖W₁[:, k]‖ at the balanced minimum of the two-layer model: ((1 − ρ_k) / a_k²)^(1/4)."""
    return ((1 - rho) / a**2) ** 0.25


def _loss_cases(gen: torch.Generator) -> list[Case]:
    t = lambda *v: torch.tensor(v, dtype=torch.float64)
    return [
        Case("W = identity (2×2), a = [1, 1], ρ = [0, 0]", (torch.eye(2, dtype=torch.float64), t(1, 1), t(0, 0)),
             "with W = I the loss is −2·Σ a²(1 − ρ) + Σ a⁴ = −4 + 2 = −2"),
        Case("W = [[1, 0]], a = [2, 1], ρ = [0.5, 0]", (t(1, 0)[None], t(2, 1), t(0.5, 0)),
             "M = diag(a²(1 − ρ)) = diag(2, 1), S = diag(a²) = diag(4, 1): −2·2 + 4² = 12"),
        Case("random W (5×8) with the chapter's a and ρ",
             (torch.randn(5, 8, generator=gen, dtype=torch.float64) * 0.3,
              torch.tensor((3.0, 2.0, 1.5, 1.0, 1.0, 0.7, 0.5, 0.3), dtype=torch.float64),
              torch.tensor((0.0, 0.5, 0.2, 0.0, 0.9, 0.3, 0.0, 0.6), dtype=torch.float64)),
             "L = −2·Tr(W M Wᵀ) + ‖W S Wᵀ‖²_F, M = diag(a²(1 − ρ)), S = diag(a²)"),
        Case("random W (3×4) in float32", (torch.randn(3, 4, generator=gen), torch.rand(4, generator=gen) + 0.5,
                                           torch.rand(4, generator=gen)), "keep W's dtype"),
    ]


exercise(
    name="projection.spectral_loss", chapter="04_projection_heads", reference=spectral_loss,
    summary="the population spectral contrastive loss of a linear map W for given a and ρ: identity, a "
            "one-row W, a random 5×8 W with the chapter's features, float32",
    cases=_loss_cases, seed=4, forbidden=(losses.spectral_population,),
    mistakes=(
        Mistake("M = diag(a²ρ)", lambda W, a, rho: spectral_loss(W, a, 1 - rho),
                "a feature survives augmentation with probability 1 − ρ: E[x x⁺ᵀ] = diag(a²(1 − ρ))"),
        Mistake("S = diag(a)", lambda W, a, rho: -2 * ((W * a**2 * (1 - rho)) @ W.T).trace()
                + ((W * a) @ W.T).pow(2).sum(), "E[x xᵀ] = diag(a²): the variance of a_k z_k is a_k²"),
        Mistake("−Tr instead of −2·Tr", lambda W, a, rho: spectral_loss(W, a, rho)
                + ((W * a**2 * (1 - rho)) @ W.T).trace(), "the positive term is −2·E[f(x)ᵀf(x⁺)]"),
        Mistake("‖W S Wᵀ‖ not squared", lambda W, a, rho: -2 * ((W * a**2 * (1 - rho)) @ W.T).trace()
                + ((W * a**2) @ W.T).norm(), "E[(f(x)ᵀf(x′))²] = ‖W S Wᵀ‖²_F: the squared Frobenius norm"),
    ),
)


def _weights_cases() -> list[Case]:
    t = lambda *v: torch.tensor(v, dtype=torch.float64)
    return [
        Case("a = [4, 1], ρ = [0, 0.9375]", (t(4, 1), t(0, 0.9375)),
             "(1 − ρ)^(1/4) / a^(1/2): 4^(−1/2) = 0.5 and 0.0625^(1/4) = 0.5"),
        Case("the chapter's a and ρ", (t(3.0, 2.0, 1.5, 1.0, 1.0, 0.7, 0.5, 0.3),
                                       t(0.0, 0.5, 0.2, 0.0, 0.9, 0.3, 0.0, 0.6)),
             "at the minimum W₂W₁ has column norms √(1 − ρ)/a; balanced layers split that evenly: its square root"),
        Case("a = [4], ρ = [0] in float32", (torch.tensor([4.0]), torch.tensor([0.0])),
             "keep the dtype: 4^(−1/2) = 0.5"),
    ]


exercise(
    name="projection.balanced_encoder_weights", chapter="04_projection_heads", reference=balanced_encoder_weights,
    summary="the encoder's column norms ‖W₁[:, k]‖ at the balanced minimum: fixed values, the chapter's "
            "features, float32",
    cases=_weights_cases,
    mistakes=(
        Mistake("the end-to-end weights", lambda a, rho: (1 - rho).sqrt() / a,
                "√(1 − ρ)/a are the column norms of the whole map W₂W₁; the encoder gets their square root"),
        Mistake("the magnitudes with a", lambda a, rho: (1 - rho) ** 0.25 * a.sqrt(),
                "(1 − ρ)^(1/4)·a^(1/2) is ‖W₁[:, k]‖·a_k, the magnitude of feature k in the representation; "
                "the weight itself is that divided by a_k"),
        Mistake("(1 − ρ)^(1/2) for the encoder", lambda a, rho: (1 - rho).sqrt() / a.sqrt(),
                "both the a-part and the ρ-part get the square root: ((1 − ρ)/a²)^(1/4)"),
    ),
)
