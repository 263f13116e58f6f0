"""Linear probes: how well a frozen representation predicts a label from a few labelled examples.

A probe is L2-regularised logistic regression, scikit-learn's objective with C = 1 (intercept not
penalised): ½‖w‖² + C·Σ_i log(1 + exp(−y_i(w·x_i + b))). `fit` solves it by Newton's method for many
trials at once (a batch of [T, n, d] problems), so a mean over label draws costs one batched solve.
Each representation is divided by its root-mean-square norm on the labelled pool before probing, so the
penalty acts alike on representations of different overall scale (only their shape matters). With more
than two classes (the digits) the probe is one-vs-rest: one such regression per class, the class of the
largest score predicted (scikit-learn's OneVsRestClassifier around the same LogisticRegression).
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


def draw_labelled(labels: torch.Tensor, n: int, trials: int, generator: torch.Generator,
                  classes: int = 2) -> torch.Tensor:
    """Indices [trials, n] into a labelled pool: each trial n / classes examples of each class (stratified;
    the n % classes left over go to the last classes), no repeats."""
    counts = [n // classes + (c >= classes - n % classes) for c in range(classes)]
    idx = []
    for _ in range(trials):
        parts = []
        for cls, k in enumerate(counts):
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


def fit_multiclass(X: torch.Tensor, y: torch.Tensor, classes: int) -> torch.Tensor:
    """One-vs-rest weights θ [T, classes, d + 1]: for each class c, `fit` of (y == c) on X [T, n, d]."""
    T, n, d = X.shape
    Xc = X[:, None].expand(T, classes, n, d).reshape(T * classes, n, d)
    yc = (y[:, None, :] == torch.arange(classes, device=y.device)[None, :, None]).reshape(T * classes, n)
    return fit(Xc, yc.long()).reshape(T, classes, d + 1)


def predict_multiclass(theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The class of the largest one-vs-rest score [T, m], for θ [T, classes, d + 1] and a shared X [m, d]."""
    scores = X.double() @ theta[..., :-1].transpose(1, 2) + theta[:, None, :, -1]  # [T, m, classes]
    return scores.argmax(-1)


def accuracy(pool: torch.Tensor, pool_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
             idx: torch.Tensor, classes: int = 2) -> torch.Tensor:
    """Test accuracy [T] of probes fitted on pool[idx[t]] (representations [P, d], labels [P]) for each trial t.

    classes = 2: one logistic regression per trial; more: one-vs-rest over labels 0 … classes − 1.
    """
    if pool.device.type == "mps":  # the probe is float64, which mps lacks: fit it on the CPU
        pool, pool_y, test, test_y, idx = (t.cpu() for t in (pool, pool_y, test, test_y, idx))
    pool, test = rms_normalise(pool, test)
    if classes == 2:
        theta = fit(pool[idx], pool_y[idx])
        return (predict(theta, test) == test_y).double().mean(-1)
    theta = fit_multiclass(pool[idx], pool_y[idx], classes)
    return (predict_multiclass(theta, test) == test_y).double().mean(-1)
