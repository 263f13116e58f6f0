"""Sharpness: the top eigenvalue of the loss Hessian, by Hessian-vector products (double backprop).

Cohen et al. 2021 ("Gradient descent on neural networks typically occurs at the edge of stability"):
gradient descent with step η is stable on a quadratic only while its top Hessian eigenvalue is below
2/η. The Hessian of a network is never formed: H·v = ∇(∇L · v) costs about two backward passes, and
power iteration on H·v finds the eigenvalue of largest magnitude (for these losses the top one; the
negative eigenvalues of a squared or cross-entropy loss near a fit are much smaller), and subspace
iteration (`top_eigenvalues`) the k of largest magnitude.

Everything works on R stacked replicas: `loss_fn(params) -> [R]` losses, parameters of shape [R, ...];
replicas are independent, so the Hessian of the summed loss is block-diagonal and one H·v of the sum
gives every replica's own H·v.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def _dot(us: Sequence[torch.Tensor], vs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-replica inner product of two parameter lists: [R]."""
    return sum((u * v).flatten(1).sum(1) for u, v in zip(us, vs, strict=True))


def _scale(vs: Sequence[torch.Tensor], c: torch.Tensor) -> list[torch.Tensor]:
    """Multiply replica r of every tensor by c[r]."""
    return [v * c.reshape(-1, *([1] * (v.dim() - 1))) for v in vs]


def hvp(loss_fn: Callable, params: Sequence[torch.Tensor], vecs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """H·v for every replica: the gradient of (∇L · v), with L = loss_fn(params).sum() (double backprop)."""
    params = [p.detach().requires_grad_() for p in params]
    grads = torch.autograd.grad(loss_fn(params).sum(), params, create_graph=True)
    return list(torch.autograd.grad(_dot(grads, vecs).sum(), params))


def power_iteration(loss_fn: Callable, params: Sequence[torch.Tensor], *, iters: int = 20,
                    start: Sequence[torch.Tensor] | None = None, generator: torch.Generator | None = None,
                    tol: float = 0.0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Top Hessian eigenvalue [R] and its unit eigenvector (one per replica) after `iters` H·v products.

    `start` warm-starts from a previous eigenvector: along a training run the top direction moves slowly,
    so a few products per step keep track of it. `tol` > 0 stops early once every replica's estimate
    changed by less than tol (relative) in one product.
    """
    if iters < 1:
        raise ValueError(f"iters={iters} must be >= 1")
    if start is None:
        start = [torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in params]
    v = _scale(start, 1 / _dot(start, start).sqrt().clamp(min=1e-300))
    eig = None
    for _ in range(iters):
        hv = hvp(loss_fn, params, v)
        new = _dot(v, hv)  # Rayleigh quotient v·Hv of the unit vector v
        norm = _dot(hv, hv).sqrt()
        v = _scale(hv, 1 / norm.clamp(min=1e-300))
        done = eig is not None and tol > 0 and bool(((new - eig).abs() <= tol * new.abs()).all())
        eig = new
        if done:
            break
    return eig.detach(), [t.detach() for t in v]


def sharpness(loss_fn: Callable, params: Sequence[torch.Tensor], *, iters: int = 20,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The top eigenvalue of the Hessian of loss_fn at params, per replica ([R])."""
    return power_iteration(loss_fn, params, iters=iters, generator=generator)[0]


def top_eigenvalues(loss_fn: Callable, params: Sequence[torch.Tensor], k: int = 1, *, iters: int = 50,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """The k Hessian eigenvalues of largest magnitude, per replica ([R, k], largest magnitude first), by
    subspace iteration: k vectors multiplied by H and re-orthonormalised (QR) every round, then the
    eigenvalues of H restricted to their span (Rayleigh-Ritz). k = 1 is power iteration."""
    sizes = [int(torch.Size(p.shape[1:]).numel()) for p in params]
    if k < 1 or iters < 1 or k > sum(sizes):
        raise ValueError(f"k={k}, iters={iters}: need 1 <= k <= {sum(sizes)} (the parameters per replica) "
                         "and iters >= 1")
    R, dtype, device = params[0].shape[0], params[0].dtype, params[0].device

    def times_h(Q: torch.Tensor) -> torch.Tensor:  # [R, P, k] -> H·Q, column by column
        cols = []
        for j in range(k):
            parts = torch.split(Q[..., j], sizes, dim=1)
            vecs = [part.reshape(p.shape) for part, p in zip(parts, params)]
            cols.append(torch.cat([h.reshape(R, -1) for h in hvp(loss_fn, params, vecs)], 1))
        return torch.stack(cols, -1)

    Q = torch.linalg.qr(torch.randn(R, sum(sizes), k, generator=generator, dtype=dtype).to(device))[0]
    for _ in range(iters):
        Q = torch.linalg.qr(times_h(Q))[0]
    T = Q.transpose(1, 2) @ times_h(Q)  # [R, k, k]: H in the basis Q
    eigs = torch.linalg.eigvalsh((T + T.transpose(1, 2)) / 2)
    return eigs.gather(1, eigs.abs().argsort(1, descending=True)).detach()


def hessian(loss_fn: Callable, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The explicit Hessian of replica 0 ([P, P], P = its parameter count): the reference for tiny models."""
    shapes = [p.shape[1:] for p in params]
    sizes = [int(torch.Size(s).numel()) for s in shapes]

    def flat_loss(theta):
        parts, start = [], 0
        for s, k in zip(shapes, sizes):
            parts.append(theta[start:start + k].reshape(1, *s))
            start += k
        return loss_fn(parts)[0]

    theta = torch.cat([p[0].detach().reshape(-1) for p in params])
    return torch.autograd.functional.hessian(flat_loss, theta)
