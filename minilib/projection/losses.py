"""The two contrastive losses of chapter 4.

Spectral contrastive loss (HaoChen et al. 2021, used by Xue et al. 2024 for their linear analysis):
L(f) = −2·E[f(x)ᵀf(x⁺)] + E[(f(x)ᵀf(x′))²], x⁺ an augmentation of x, x′ an independent draw. For a
linear f(x) = W x its expectation is exact: L(W) = −2·Tr(W M Wᵀ) + ‖W S Wᵀ‖²_F with M = E[x x⁺ᵀ],
S = E[x xᵀ]; with M = diag(m) and S = diag(s) its minimum is −Σ_k (m_k / s_k)², reached when
WᵀW = diag(m / s²).

Supervised contrastive loss (Khosla et al. 2020, the "out" form): every other view of the same class
is a positive; the anchor itself is left out of the denominator.
"""

from __future__ import annotations

import torch


def spectral_population(W: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """L(W) = −2·Tr(W diag(m) Wᵀ) + ‖W diag(s) Wᵀ‖²_F for stacked W [R, out, d]; returns [R]."""
    pos = (W.pow(2) * m).sum((1, 2))  # Tr(W M Wᵀ) = Σ_k m_k ‖W[:, k]‖²
    gram = (W * s) @ W.transpose(1, 2)  # W S Wᵀ, [R, out, out]
    return -2 * pos + gram.pow(2).sum((1, 2))


def spectral_minimum(m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The smallest population loss any W of rank ≥ d reaches: −Σ_k (m_k / s_k)² (= −Σ(1 − ρ_k)²)."""
    return -((m / s) ** 2).sum()


def spectral_sample(f_x: torch.Tensor, f_pos: torch.Tensor, f_other: torch.Tensor) -> torch.Tensor:
    """The loss on samples: −2·mean f(x)ᵀf(x⁺) + mean (f(x)ᵀf(x′))², each argument [n, out]."""
    return -2 * (f_x * f_pos).sum(-1).mean() + (f_x * f_other).sum(-1).pow(2).mean()


def supcon(z: torch.Tensor, labels: torch.Tensor, temperature) -> torch.Tensor:
    """SupCon loss of stacked embeddings z [R, N, D] (N views) with labels [R, N]; returns [R].

    Each z is normalised to the unit sphere; for anchor i, ℓ_i = −mean over positives p of
    log(exp(z_i·z_p/τ) / Σ_{a ≠ i} exp(z_i·z_a/τ)); anchors without a positive are skipped.
    `temperature`: a number or one per replica [R].
    """
    R, N, _ = z.shape
    tau = torch.as_tensor(temperature, dtype=z.dtype, device=z.device).reshape(-1, 1, 1)
    u = torch.nn.functional.normalize(z, dim=-1)
    sim = u @ u.transpose(1, 2) / tau  # [R, N, N]
    self_mask = torch.eye(N, dtype=torch.bool, device=z.device)
    log_prob = sim - torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=-1, keepdim=True)
    pos = (labels[:, :, None] == labels[:, None, :]) & ~self_mask
    n_pos = pos.sum(-1)
    per_anchor = -(log_prob * pos).sum(-1) / n_pos.clamp(min=1)
    has = (n_pos > 0).to(z.dtype)
    return (per_anchor * has).sum(-1) / has.sum(-1).clamp(min=1)
