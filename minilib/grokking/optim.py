"""AdamW, SGD and their ⊥Grad versions for stacked replicas (leading dim R of every parameter).

⊥Grad (Prieto et al. 2025, "perpGrad"): per parameter tensor, drop the gradient's component along the
weights, g⊥ = g − (w·g / w·w) w, rescale it to ‖g‖, then take the base optimiser's step. Without that
component the optimiser cannot lower the loss by just scaling the weights up (naive loss minimisation).
AdamW follows torch.optim.AdamW exactly (decoupled decay, bias correction, eps outside the sqrt), and
honours betas and eps (the public code's ⊥Grad wrapper silently fell back to the defaults).
"""

from __future__ import annotations

import torch

OPTIMIZERS = ("adamw", "sgd", "perp_adamw", "perp_sgd")


def _per_replica(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Shape [R] -> [R, 1, ..., 1] so it broadcasts over one replica's parameter slice."""
    return x.reshape(-1, *([1] * (like.dim() - 1)))


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


class StackedOptimizer:
    """One optimiser for R stacked replicas; lr, weight_decay, beta2, eps, momentum are per replica [R]."""

    def __init__(self, params: list[torch.Tensor], kind: str, *, lr, weight_decay, beta1=0.9, beta2=0.999,
                 eps=1e-8, momentum=0.0):
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer={kind!r} is not known: choose one of {', '.join(OPTIMIZERS)}")
        self.params, self.kind = params, kind
        self.perp = kind.startswith("perp_")
        self.adam = kind.endswith("adamw")
        R = params[0].shape[0]
        as_vec = lambda v: torch.as_tensor(v, dtype=torch.float64).expand(R).clone()
        self.lr, self.wd = as_vec(lr), as_vec(weight_decay)
        self.beta1, self.beta2, self.eps = as_vec(beta1), as_vec(beta2), as_vec(eps)
        self.momentum = as_vec(momentum)
        self.t = 0
        self.state = [{} for _ in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        self.t += 1
        t = self.t
        for w, g, st in zip(self.params, grads, self.state):
            if self.perp:
                g = perp_grad(w, g)
            vec = lambda v: _per_replica(v.to(w.dtype), w)  # noqa: B023 - used right here
            lr = vec(self.lr)
            if self.adam:
                b1, b2 = self.beta1, self.beta2
                if not st:
                    st["m"], st["v"] = torch.zeros_like(w), torch.zeros_like(w)
                w.mul_(1 - lr * vec(self.wd))
                st["m"].mul_(vec(b1)).add_(g * vec(1 - b1))
                st["v"].mul_(vec(b2)).add_(g * g * vec(1 - b2))
                bc1, bc2 = 1 - b1**t, 1 - b2**t
                denom = (st["v"].sqrt() / vec(bc2.sqrt())).add_(vec(self.eps))
                w.sub_(st["m"] / denom * vec(self.lr / bc1))
            else:
                # torch.optim.SGD: coupled L2 decay, then momentum buffer (dampening 0).
                d = g + vec(self.wd) * w
                if bool((self.momentum > 0).any()):
                    if "buf" not in st:
                        st["buf"] = d.clone()
                    else:
                        st["buf"].mul_(vec(self.momentum)).add_(d)
                    d = st["buf"]
                w.sub_(lr * d)
