"""Checks for chapter 3's coded exercises (minilib.exercises): H·v by double backprop, power iteration on
H·v, and the |Δℓ| detector. Imported by minilib.opposing, so `exercises.check("opposing.hvp", f)` works."""

from __future__ import annotations

import torch

from ..exercises import Case, Mistake, exercise
from . import analysis, sharpness

CHAPTER = "03_opposing_signals"


def hvp(loss_fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H·v at theta (flat [P]) by double backprop: the gradient of ∇L(θ)·v."""
    theta = theta.detach().requires_grad_()
    (g,) = torch.autograd.grad(loss_fn(theta), theta, create_graph=True)
    (hv,) = torch.autograd.grad(g @ v, theta)
    return hv


def _finite_difference(loss_fn, theta, v, eps=1e-4):
    def grad(t):
        t = t.detach().requires_grad_()
        return torch.autograd.grad(loss_fn(t), t)[0]
    return (grad(theta + eps * v) - grad(theta)) / eps


def _no_create_graph(loss_fn, theta, v):
    theta = theta.detach().requires_grad_()
    (g,) = torch.autograd.grad(loss_fn(theta), theta)
    return torch.autograd.grad(g @ v, theta)[0]


def _hvp_cases(gen: torch.Generator) -> list[Case]:
    quartic = lambda t: (t**4).sum() / 4 + t[0] * t[1]
    A = torch.randn(5, 5, generator=gen, dtype=torch.float64)
    A = A @ A.T
    quadratic = lambda t: 0.5 * t @ A @ t
    X, y = torch.randn(20, 3, generator=gen, dtype=torch.float64), torch.randn(20, generator=gen, dtype=torch.float64)

    def net(t):  # the toy's loss with dim 3, width 2: W = t[:6] as [3, 2], v = t[6:]
        return 0.5 * ((X @ t[:6].reshape(3, 2) @ t[6:] - y) ** 2).mean()

    t3 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return [
        Case("L = Σθ⁴/4 + θ₀θ₁ at θ = [1, −2, 0.5], v = [1, 0, 0]",
             (quartic, t3, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)),
             "H = diag(3θ²) plus 1 at (0, 1) and (1, 0): H·e₀ = [3, 1, 0]"),
        Case("a quadratic ½θᵀAθ (H = A) at a random θ, random v",
             (quadratic, torch.randn(5, generator=gen, dtype=torch.float64),
              torch.randn(5, generator=gen, dtype=torch.float64)), "for a quadratic H·v = A·v wherever θ is"),
        Case("the toy's two-layer loss (8 parameters), random θ and v",
             (net, torch.randn(8, generator=gen, dtype=torch.float64), torch.randn(8, generator=gen,
                                                                                  dtype=torch.float64)),
             "differentiate ∇L(θ)·v once more with respect to θ: the gradient must be built with create_graph=True"),
    ]


exercise(
    name="opposing.hvp", chapter=CHAPTER, reference=hvp,
    summary="H·v by double backprop: a quartic, a quadratic (H = A) and the toy's two-layer loss",
    cases=_hvp_cases, seed=0, forbidden=(sharpness.hvp, sharpness.hessian),
    mistakes=(
        Mistake("no create_graph", _no_create_graph,
                "the first torch.autograd.grad must keep its graph (create_graph=True), or ∇L·v cannot be "
                "differentiated again"),
        Mistake("the gradient instead of H·v", lambda loss_fn, theta, v: _grad(loss_fn, theta),
                "that is ∇L: H·v is the gradient of the number ∇L·v"),
        Mistake("v·H·v, a number", lambda loss_fn, theta, v: hvp(loss_fn, theta, v) @ v,
                "return the vector H·v (shape [P]); vᵀHv is what the power iteration computes from it"),
        Mistake("finite differences", _finite_difference,
                "(∇L(θ + εv) − ∇L(θ))/ε is only close to H·v; double backprop gives it exactly"),
    ),
)


def _grad(loss_fn, theta):
    theta = theta.detach().requires_grad_()
    return torch.autograd.grad(loss_fn(theta), theta)[0]


def top_eigenvalue(matvec, v0: torch.Tensor, iters: int) -> float:
    """Power iteration: start from v0 / ‖v0‖; each round λ = v·Hv, v ← Hv / ‖Hv‖; the last λ."""
    v = v0 / v0.norm()
    eig = torch.zeros(())
    for _ in range(iters):
        hv = matvec(v)
        eig = v @ hv
        v = hv / hv.norm()
    return float(eig)


def _norm_not_rayleigh(matvec, v0, iters):
    v = v0 / v0.norm()
    eig = 0.0
    for _ in range(iters):
        hv = matvec(v)
        eig = float(hv.norm())
        v = hv / hv.norm()
    return eig


def _no_normalisation(matvec, v0, iters):
    v = v0
    eig = torch.zeros(())
    for _ in range(iters):
        hv = matvec(v)
        eig = v @ hv
        v = hv
    return float(eig)


def _materialised(matvec, v0, iters):
    H = torch.stack([matvec(e) for e in torch.eye(len(v0), dtype=v0.dtype)], 1)
    eigs = torch.linalg.eigvalsh(H)
    return float(eigs[eigs.abs().argmax()])


def _power_cases(gen: torch.Generator) -> list[Case]:
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    mat = lambda eigs: q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T
    A, B = mat([8.0, 3.0, 1.0, 0.5, 0.2, 0.1]), mat([-6.0, 2.0, 1.0, 0.5, 0.1, 0.0])
    C = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    D = mat([8.0, 7.5, 1.0, 0.5, 0.2, 0.1])
    return [
        Case("H = diag(4, 1), v0 = [1, 1], 60 rounds",
             (lambda v: C @ v, torch.tensor([1.0, 1.0], dtype=torch.float64), 60),
             "normalise v each round; the estimate is the Rayleigh quotient v·Hv of the unit vector v"),
        Case("a 6x6 H with eigenvalues 8, 3, 1, ..., v0 of length 100, 80 rounds",
             (lambda v: A @ v, 100 * torch.randn(6, generator=gen, dtype=torch.float64), 80),
             "start from v0 / ‖v0‖ and keep v of unit length"),
        Case("a 6x6 H whose largest |eigenvalue| is −6, 120 rounds",
             (lambda v: B @ v, torch.randn(6, generator=gen, dtype=torch.float64), 120),
             "power iteration finds the eigenvalue of largest magnitude, with its sign: v·Hv, not ‖Hv‖"),
        Case("eigenvalues 8 and 7.5 (slow to converge), 3 rounds only",
             (lambda v: D @ v, torch.randn(6, generator=gen, dtype=torch.float64), 3),
             "after 3 rounds power iteration has not converged: return its estimate then, the last v·Hv, not "
             "the exact eigenvalue"),
    ]


exercise(
    name="opposing.top_eigenvalue", chapter=CHAPTER, reference=top_eigenvalue,
    summary="power iteration given only H·v: diag(4, 1), a 6x6 H with top eigenvalue 8 and v0 of length 100, "
            "and one whose largest eigenvalue in magnitude is negative",
    cases=_power_cases, seed=1,
    forbidden=(sharpness.power_iteration, sharpness.top_eigenvalues, sharpness.sharpness, sharpness.hessian),
    counts="power iteration uses H only through `matvec`, once per round on a vector of v0's shape",
    mistakes=(
        Mistake("‖Hv‖ instead of v·Hv", _norm_not_rayleigh,
                "‖Hv‖ loses the sign: for a negative eigenvalue it reports +|λ|; use the Rayleigh quotient v·Hv"),
        Mistake("no normalisation", _no_normalisation,
                "without v ← Hv / ‖Hv‖ the vector grows like λᵏ and v·Hv is not the eigenvalue"),
        Mistake("H materialised column by column, then eigvalsh", _materialised,
                "the exercise is the algorithm: H is only available as H·v (a network's Hessian has P² entries), "
                "so call matvec once per round on the current unit vector and return the last v·Hv; "
                "torch.linalg.eigvalsh on a materialised H is not power iteration"),
    ),
)


def top_changes(before: torch.Tensor, after: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k examples with the largest |ℓ_after − ℓ_before|, largest first."""
    return torch.argsort(-(after - before).abs(), stable=True)[:k]


def _detector_cases(gen: torch.Generator) -> list[Case]:
    t = lambda *xs: torch.tensor(xs, dtype=torch.float64)
    before = torch.rand(300, generator=gen, dtype=torch.float64)
    after = before + torch.randn(300, generator=gen, dtype=torch.float64) * 0.1
    after[[7, 42, 199]] += t(5.0, -6.0, 3.0)
    return [
        Case("before = 0, after = [0.1, −5, 2, 0, 4, −0.2], k = 3", (torch.zeros(6, dtype=torch.float64),
                                                                    t(0.1, -5.0, 2.0, 0.0, 4.0, -0.2), 3),
             "rank by the size of the change |after − before|: a loss that falls a lot counts too"),
        Case("300 examples, three with large changes, k = 5", (before, after, 5),
             "return indices (a long tensor of length k), the largest change first"),
    ]


exercise(
    name="opposing.top_changes", chapter=CHAPTER, reference=top_changes,
    summary="the k examples whose loss changed most between two steps: a fixed 6-vector, 300 random losses",
    cases=_detector_cases, seed=2, forbidden=(analysis.top_changes,),
    mistakes=(
        Mistake("the signed change", lambda b, a, k: torch.argsort(-(a - b), stable=True)[:k],
                "rank by |Δℓ|: the opposing groups take turns, so one group's loss falls while the other's rises"),
        Mistake("smallest first", lambda b, a, k: torch.argsort((a - b).abs(), stable=True)[:k],
                "largest change first: sort by −|Δℓ| (or descending=True)"),
        Mistake("the changes, not the indices", lambda b, a, k: (a - b).abs().sort(descending=True).values[:k],
                "return which examples (their indices), not how much their losses changed"),
    ),
)
