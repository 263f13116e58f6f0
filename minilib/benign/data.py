"""XOR cluster data with flipped labels (Xu et al. 2024, Definition 2.1).

Two orthogonal means μ1 ⊥ μ2 of norm `mu_norm` in dimension p. A clean label ỹ ∈ {±1} is drawn fairly;
x = ±μ1 + ξ when ỹ = +1 and x = ±μ2 + ξ when ỹ = −1 (a fair sign), ξ ~ N(0, I_p). The observed label y
is ỹ flipped with probability `label_noise`. No linear classifier beats chance on it: the two clusters of
each class sit on opposite sides of the origin. Chapter: nbs/02_benign_overfitting.py.
"""

from __future__ import annotations

import torch


def cluster_means(dim: int, mu_norm: float, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """[2, dim]: two orthogonal directions drawn at random (QR of a Gaussian), each scaled to norm mu_norm."""
    if dim < 2:
        raise ValueError(f"dim={dim!r} must be >= 2: the two cluster means need two orthogonal directions")
    q, _ = torch.linalg.qr(torch.randn(dim, 2, generator=generator, dtype=torch.float64))
    return (q.T * mu_norm).to(dtype)


def xor_clusters(n: int, means: torch.Tensor, label_noise: float, generator: torch.Generator):
    """n points of the XOR cluster distribution: (x [n, dim], observed labels y [n], clean labels ỹ [n]).

    Labels are ±1 in the dtype of `means`; y = −ỹ for a fraction label_noise of the points, on average.
    """
    if not 0.0 <= label_noise < 0.5:
        raise ValueError(f"label_noise={label_noise!r} is out of range: allowed 0 <= label_noise < 0.5")
    dtype, dim = means.dtype, means.shape[1]
    clean = torch.randint(0, 2, (n,), generator=generator) * 2 - 1  # ỹ ∈ {±1}
    sign = torch.randint(0, 2, (n,), generator=generator) * 2 - 1  # which of ±μ
    flip = torch.rand(n, generator=generator) < label_noise
    mean = torch.where((clean > 0)[:, None], means[0].double(), means[1].double()) * sign[:, None]
    x = mean + torch.randn(n, dim, generator=generator, dtype=torch.float64)
    y = torch.where(flip, -clean, clean)
    return x.to(dtype), y.to(dtype), clean.to(dtype)
