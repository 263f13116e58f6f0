"""Linear probes: how well a frozen representation predicts a label from a few labelled examples.

A probe is L2-regularised logistic regression, scikit-learn's objective with C = 1 (intercept not
penalised): ½‖w‖² + C·Σ_i log(1 + exp(−y_i(w·x_i + b))). `fit` solves it by Newton's method for many
trials at once (a batch of [T, n, d] problems), so a mean over label draws costs one batched solve.
Each representation is divided by its root-mean-square norm on the labelled pool before probing, so the
penalty acts alike on representations of different overall scale (only their shape matters).
"""

from __future__ import annotations

import torch

C = 1.0  # scikit-learn's default inverse penalty
NEWTON_STEPS = 50  # at most; it stops once a step changes no weight by more than 1e-10


def fit(X: torch.Tensor, y: torch.Tensor, C: float = C, steps: int = NEWTON_STEPS) -> torch.Tensor:
    """Weights θ [T, d + 1] (last entry: the intercept) of T logistic regressions, X [T, n, d], y [T, n] ∈ {0, 1}."""
    T, n, d = X.shape
    Xa = torch.cat([X.double(), torch.ones(T, n, 1, dtype=torch.float64, device=X.device)], -1)
    y = y.double()
    penalty = torch.ones(d + 1, dtype=torch.float64, device=X.device)
    penalty[-1] = 1e-10  # the intercept is (almost) free, as in scikit-learn
    theta = torch.zeros(T, d + 1, dtype=torch.float64, device=X.device)
    for _ in range(steps):
        p = torch.sigmoid((Xa @ theta[..., None])[..., 0])
        grad = C * (Xa.transpose(1, 2) @ (p - y)[..., None])[..., 0] + penalty * theta
        hess = C * (Xa.transpose(1, 2) * (p * (1 - p))[:, None, :]) @ Xa + torch.diag(penalty)
        step = torch.linalg.solve(hess, grad)
        theta = theta - step
        if float(step.abs().max()) < 1e-10:  # converged (Newton's method converges quadratically)
            break
    return theta


def predict(theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """0/1 predictions [T, m] of T probes θ [T, d + 1] on X [T, m, d] or a shared X [m, d]."""
    w, b = theta[:, :-1], theta[:, -1:]
    X = X.double()
    scores = X @ w.T if X.dim() == 2 else (X @ w[..., None])[..., 0]
    scores = scores.T + b if X.dim() == 2 else scores + b
    return (scores > 0).long()


def draw_labelled(labels: torch.Tensor, n: int, trials: int, generator: torch.Generator) -> torch.Tensor:
    """Indices [trials, n] into a labelled pool: each trial n/2 examples of each class (stratified), no repeats."""
    idx = []
    for _ in range(trials):
        parts = []
        for cls, k in ((0, n // 2), (1, n - n // 2)):
            members = torch.nonzero(labels == cls).ravel()
            if len(members) < k:
                raise ValueError(f"the labelled pool has {len(members)} examples of class {cls}, a probe with "
                                 f"{n} labels needs {k}: use fewer probe labels or a larger pool")
            parts.append(members[torch.randperm(len(members), generator=generator)[:k]])
        idx.append(torch.cat(parts))
    return torch.stack(idx)


def rms_normalise(pool: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both divided by the pool's root-mean-square norm (one number), so the probe's penalty acts alike."""
    scale = pool.double().pow(2).sum(-1).mean().sqrt().clamp(min=1e-30)
    return pool.double() / scale, test.double() / scale


def accuracy(pool: torch.Tensor, pool_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
             idx: torch.Tensor) -> torch.Tensor:
    """Test accuracy [T] of probes fitted on pool[idx[t]] (representations [P, d], labels [P]) for each trial t."""
    pool, test = rms_normalise(pool, test)
    theta = fit(pool[idx], pool_y[idx])
    return (predict(theta, test) == test_y).double().mean(-1)
