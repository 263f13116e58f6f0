"""The chapter's optimisers: AdamW, SGD and their ⊥Grad versions, for stacked replicas.

⊥Grad (Prieto et al. 2025, "perpGrad"): per parameter tensor, drop the gradient's component along the
weights, g⊥ = g − (w·g / w·w) w, rescale it to ‖g‖, then take the base optimiser's step. Without that
component the optimiser cannot lower the loss by just scaling the weights up (naive loss minimisation).
The base optimisers are `minilib.replicas.StackedOptimizer` (torch.optim.AdamW / SGD step for step).
"""

from __future__ import annotations

import torch

from ..replicas import StackedOptimizer

OPTIMIZERS = ("adamw", "sgd", "perp_adamw", "perp_sgd")


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-replica inner product over all but the leading dim, kept broadcastable."""
    return (u * v).flatten(1).sum(1).reshape(-1, *([1] * (u.dim() - 1)))


def perp_grad(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """g minus its projection on w, rescaled to the norm of g; per replica (leading dim)."""
    ww = _dot(w, w)
    proj = torch.where(ww > 0, _dot(w, g) / ww.clamp(min=torch.finfo(w.dtype).tiny), torch.zeros_like(ww))
    g_perp = g - proj * w
    scale = _dot(g, g).sqrt() / _dot(g_perp, g_perp).sqrt().clamp(min=torch.finfo(w.dtype).tiny)
    return g_perp * scale


def make(params: list[torch.Tensor], kind: str, **hyper) -> StackedOptimizer:
    """The optimiser `kind` (one of OPTIMIZERS) over stacked params; hyper-parameters may be per replica."""
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer={kind!r} is not known: choose one of {', '.join(OPTIMIZERS)}")
    base = kind.removeprefix("perp_")
    # The perpGrad wrapper's reference: the ⊥ projection and rescale, applied to every tensor's gradient.
    # (The public code's wrapper ignored the betas and eps it was given; ours passes them on.)
    return StackedOptimizer(params, base, grad_transform=perp_grad if kind.startswith("perp_") else None, **hyper)
