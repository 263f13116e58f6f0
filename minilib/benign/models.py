"""The two-layer ReLU network of Xu et al. 2024 and its gradient-descent step, for R stacked replicas.

f(x) = Σ_j a_j ReLU(<w_j, x>), j = 1..m; the second layer a_j ∈ {±1/√m} is drawn once and fixed, the
first layer W (rows w_j ~ N(0, init_scale² I_p)) is trained by full-batch gradient descent on the
logistic loss L(W) = (1/n) Σ_i ℓ(y_i f(x_i)), ℓ(z) = log(1 + e^(−z)). Its update (the paper's eq. 2.2):

    w_j ← w_j + (lr / n) Σ_i g_i y_i a_j ReLU'(<w_j, x_i>) x_i,    g_i = −ℓ'(y_i f(x_i)) = 1 / (1 + e^(y_i f(x_i)))

with ReLU'(0) = 0. Shapes: W [R, m, p], a [R, m], x [R, n, p], y [R, n].
"""

from __future__ import annotations

import math

import torch


def init_first_layer(width: int, dim: int, init_scale: float, generators, dtype) -> torch.Tensor:
    """W [R, m, p] with entries N(0, init_scale²), each replica from its own generator."""
    return torch.stack([torch.randn(width, dim, generator=g, dtype=torch.float64) * init_scale
                        for g in generators]).to(dtype)


def init_second_layer(width: int, generators, dtype) -> torch.Tensor:
    """a [R, m] with entries ±1/√m, a fair sign each."""
    signs = torch.stack([torch.randint(0, 2, (width,), generator=g) * 2 - 1 for g in generators])
    return signs.to(dtype) / math.sqrt(width)


def preactivations(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """<w_j, x_i> for every sample and neuron: [R, n, m]."""
    return torch.bmm(x, W.transpose(1, 2))


def network(W: torch.Tensor, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """f(x_i) = Σ_j a_j ReLU(<w_j, x_i>): [R, n]."""
    return torch.bmm(preactivations(W, x).relu(), a[:, :, None])[..., 0]


def logistic_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean logistic loss (1/n) Σ_i log(1 + e^(−y_i f_i)) per replica: [R]."""
    return torch.nn.functional.softplus(-y * f).mean(-1)


def loss_derivative(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g_i = −ℓ'(y_i f_i) = 1 / (1 + e^(y_i f_i)) = sigmoid(−y_i f_i): [R, n]; 1/2 while |f| ≪ 1."""
    return torch.sigmoid(-y * f)


def gd_update(W: torch.Tensor, a: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr, pre=None) -> torch.Tensor:
    """The step of eq. 2.2 for every neuron at once: ΔW [R, m, p] (W + ΔW is the next iterate).

    ΔW[j] = (lr / n) a_j Σ_i g_i y_i 1[<w_j, x_i> > 0] x_i; `lr` is a number or one per replica [R].
    `pre`: the preactivations of W on x when already computed (they cost as much as the update).
    """
    n = x.shape[1]
    pre = preactivations(W, x) if pre is None else pre  # [R, n, m]
    f = torch.bmm(pre.relu(), a[:, :, None])[..., 0]  # [R, n]
    coeff = loss_derivative(f, y) * y  # [R, n]
    active = (pre > 0).to(x.dtype)  # ReLU'(<w_j, x_i>), 0 at 0
    grad_dir = torch.bmm((active * coeff[:, :, None]).transpose(1, 2), x)  # [R, m, p]: Σ_i g_i y_i 1[.] x_i
    lr = torch.as_tensor(lr, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    return lr / n * a[:, :, None] * grad_dir
