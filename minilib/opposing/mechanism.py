"""The mechanism in closed form: a two-layer linear network with one hidden unit on the toy's population.

f(x) = v·(w_core·x_core + w_sky·x_sky): two weights in the first layer, one in the second, on the toy's
data without noise: every point has x_core = core·y; group A (share p_A, y = +1) and group B (share p_B,
y = −1) also have x_sky = alpha. The loss ½ E[(f − y)²] and its gradient and Hessian are written out.

Fitting the weak core feature needs v·w_core = 1/core, and gradient descent from a small, balanced start
keeps v ≈ w_core, so v² grows to about 1/core. The curvature along w_sky is (p_A + p_B)·alpha²·v²: the
second layer grows to fit the core feature, and that growth sharpens the loss along the outlier feature
(the paper's abstract announces "a theoretical analysis of a two-layer linear network on a simple model";
this is a toy of that kind, not checked against the paper's body). f is linear in w_sky, so this curvature
is the squared loss's Gauss-Newton term alone: it involves neither the labels nor the residuals, and one
group carrying the feature (p_B = 0) sharpens the loss just as well. Hence a predicted
sharpness (p_A + p_B)·alpha²/core and a critical alpha above which gradient descent with step η crosses
2/η: alpha* = sqrt(2·core / (η·(p_A + p_B))).
"""

from __future__ import annotations

import math

import numpy as np

PARAMS = ("v", "w_core", "w_sky")


def groups(alpha: float, core: float, group_a: float, group_b: float):
    """Shares p, labels y and sky features a of the four kinds of points: A, B, the rest with y = ±1."""
    if not 0 <= group_a + group_b <= 1 or min(group_a, group_b) < 0:
        raise ValueError(f"group_a={group_a}, group_b={group_b}: need shares >= 0 with group_a + group_b <= 1")
    rest = 1.0 - group_a - group_b
    return (np.array([group_a, group_b, rest / 2, rest / 2]), np.array([1.0, -1.0, 1.0, -1.0]),
            np.array([alpha, alpha, 0.0, 0.0]))


def loss_grad_hessian(theta, alpha: float, core: float = 0.2, group_a: float = 0.06, group_b: float = 0.04):
    """Population loss ½ E[(f − y)²], its gradient [3] and Hessian [3, 3] at theta = (v, w_core, w_sky);
    also the per-kind residuals f − y [4] (A, B, rest +, rest −)."""
    p, y, a = groups(alpha, core, group_a, group_b)
    v, wc, ws = (float(t) for t in theta)
    u = wc * core * y + ws * a  # the hidden unit of each kind of point
    r = v * u - y
    dfd = np.stack([u, v * core * y, v * a])  # df/dθ per kind: [3, 4]
    grad = (p * r * dfd).sum(1)
    hess = (p * dfd[:, None] * dfd[None]).sum(-1)  # Gauss-Newton part E[∇f ∇fᵀ]
    # Plus E[r ∇²f]: f = v·u is bilinear, ∇²f has entries d²f/dv dw_core = core·y and d²f/dv dw_sky = a.
    cross = np.array([(p * r * core * y).sum(), (p * r * a).sum()])
    hess[0, 1:] += cross
    hess[1:, 0] += cross
    return 0.5 * float((p * r * r).sum()), grad, hess, r


def predicted_sharpness(alpha: float, core: float = 0.2, group_a: float = 0.06, group_b: float = 0.04) -> float:
    """(p_A + p_B)·alpha²·v² at the balanced fit of the core feature, v² = 1/core."""
    return (group_a + group_b) * alpha**2 / core


def critical_alpha(lr: float, core: float = 0.2, group_a: float = 0.06, group_b: float = 0.04) -> float:
    """The outlier strength at which the predicted sharpness reaches 2/η."""
    return math.sqrt(2 * core / (lr * (group_a + group_b)))


def outlier_curvature(v, alpha: float, group_a: float = 0.06, group_b: float = 0.04):
    """∂²L/∂w_sky² = (p_A + p_B)·alpha²·v²: the curvature of the loss along the outlier weight (exact: the loss
    is quadratic in w_sky at fixed v and w_core). Works on arrays of v."""
    return (group_a + group_b) * alpha**2 * np.asarray(v, dtype=float) ** 2


def critical_v(alpha: float, lr: float, group_a: float = 0.06, group_b: float = 0.04) -> float:
    """The second-layer weight |v| above which the curvature along w_sky exceeds 2/η: there, a gradient step
    overshoots along w_sky and every step multiplies the distance from the valley floor by |1 − η·curvature|."""
    if alpha <= 0 or lr <= 0 or group_a + group_b <= 0:
        raise ValueError(f"alpha={alpha}, lr={lr}, group_a + group_b={group_a + group_b}: each must be > 0")
    return math.sqrt(2 / (lr * (group_a + group_b) * alpha**2))


def gradient_descent(alpha: float, lr: float, steps: int, *, start=(0.1, 0.1, 0.0), core: float = 0.2,
                     group_a: float = 0.06, group_b: float = 0.04) -> dict[str, np.ndarray]:
    """Full-batch gradient descent on the population loss: loss, group losses, sharpness (top eigenvalue
    of the exact 3x3 Hessian) and the three weights at every step (arrays of length steps + 1)."""
    if steps < 0 or lr <= 0:
        raise ValueError(f"steps={steps}, lr={lr}: need steps >= 0 and lr > 0")
    theta = np.array(start, dtype=float)
    out = {k: [] for k in ("loss", "loss_a", "loss_b", "sharpness", *PARAMS)}
    for _ in range(steps + 1):
        loss, grad, hess, r = loss_grad_hessian(theta, alpha, core, group_a, group_b)
        for k, val in zip(PARAMS, theta):
            out[k].append(val)
        out["loss"].append(loss)
        out["loss_a"].append(0.5 * r[0] ** 2)
        out["loss_b"].append(0.5 * r[1] ** 2)
        out["sharpness"].append(float(np.linalg.eigvalsh(hess)[-1]) if np.isfinite(hess).all() else np.nan)
        if not np.isfinite(loss):
            break
        theta = theta - lr * grad
    return {"step": np.arange(len(out["loss"])), **{k: np.array(v) for k, v in out.items()}}


def landscape(vs, w_skys, w_core: float, alpha: float, core: float = 0.2, group_a: float = 0.06,
              group_b: float = 0.04) -> np.ndarray:
    """The loss on the slice (v, w_sky) at a fixed w_core: [len(w_skys), len(vs)]."""
    return np.array([[loss_grad_hessian((v, w_core, ws), alpha, core, group_a, group_b)[0] for v in vs]
                     for ws in w_skys])
