"""Softmax and StableMax cross-entropy in a chosen precision, and the Softmax Collapse measurement.

Prieto et al. 2025, "Grokking at the Edge of Numerical Stability": Softmax Collapse (SC) is when
Σ_k exp(z_k − max z) rounds to exactly 1, so the correct class gets probability 1 and its gradient is 0.
StableMax (their eq. for s(x)) replaces exp by s(x) = x + 1 (x >= 0), 1 / (1 − x) (x < 0).
"""

from __future__ import annotations

import torch

from ..runtime import as_dtype

LOSSES = ("softmax", "stablemax")
PRECISIONS = ("float16", "float32", "float64")


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """The paper's s(x): x + 1 for x >= 0 and 1 / (1 − x) for x < 0 (no exp, so no overflow)."""
    return torch.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))


def stablemax_log_s(x: torch.Tensor) -> torch.Tensor:
    """log s(x) = sign(x)·log1p(|x|); stays finite at |x| = 1e6 in float16."""
    return torch.where(x >= 0, torch.log1p(x.clamp(min=0)), -torch.log1p((-x).clamp(min=0)))


def stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """StableMax(x)_i = s(x_i) / Σ_j s(x_j), computed as softmax(log s(x))."""
    return torch.softmax(stablemax_log_s(x), dim=dim)


def normaliser_logits(logits: torch.Tensor, loss: str, precision: str) -> torch.Tensor:
    """The logits in the loss precision, passed through log s(.) for StableMax (softmax of these = probs)."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not known: choose one of {', '.join(LOSSES)}")
    dtype = as_dtype(precision)
    if loss == "stablemax":
        # log s(.) in the wider of the two formats: float64 casts first (as the paper's code does), while
        # float16 takes log s in the model's float32 first, which maps |x| = 1e6 to 13.8 (1e6 itself
        # overflows float16).
        logits = stablemax_log_s(logits.to(torch.promote_types(logits.dtype, dtype)))
    return logits.to(dtype)  # a no-op when the precision is the model's


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, loss: str = "softmax",
                  precision: str = "float32") -> torch.Tensor:
    """Per-sample cross-entropy (shape of targets) in `precision`: cast the logits, then log-softmax."""
    logp = torch.log_softmax(normaliser_logits(logits, loss, precision), dim=-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def softmax_collapse(logits: torch.Tensor, *, loss: str = "softmax", precision: str = "float32") -> torch.Tensor:
    """True per sample where the normaliser's sum is exactly 1 in `precision` (Softmax Collapse).

    loss="softmax": Σ_k exp(z_k − max z) == 1. loss="stablemax": Σ_k s(z_k) / s(max z) == 1, computed as
    the softmax of log s(z), the StableMax counterpart (the runner-up classes vanish from the sum).
    """
    z = normaliser_logits(logits, loss, precision)
    total = torch.exp(z - z.amax(dim=-1, keepdim=True)).sum(dim=-1)
    return total == 1


def collapse_gap(precision: str, num_classes: int = 2) -> float:
    """Logit gap above which the other classes vanish from the sum: the runner-ups' share < half an ulp of 1."""
    eps = torch.finfo(as_dtype(precision)).eps
    return float(torch.log(torch.tensor((num_classes - 1) * 2 / eps, dtype=torch.float64)))

