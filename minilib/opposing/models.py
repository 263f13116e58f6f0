"""The two networks of chapter 3, written for R stacked replicas (leading dim R on every weight).

Toy (a toy of the paper's kind, Rosenfeld & Risteski 2024): f(x) = vᵀ W x, W ~ N(0, 1/dim),
v ~ N(0, 1/width), squared loss ½(f − y)². Depth is what matters: a product of two layers makes the
loss's curvature along the large feature grow as the weights that read it grow.
Digits MLP: 64 -> width -> width -> 10 with ReLU and biases (torch.nn.Linear's initialisation),
cross-entropy loss.
"""

from __future__ import annotations

import math

import torch

from ..replicas import normal, uniform

MODELS = ("linear2", "mlp")


class TwoLayerLinear:
    """R stacked f(x) = vᵀ W x; `params` = [W as [dim, width], v as [width, 1]]."""

    def __init__(self, dim: int, width: int, generators, device, dtype=torch.float64):
        self.params = [normal((dim, width), 1 / math.sqrt(dim), generators, device).to(dtype).detach()
                       .requires_grad_(),
                       normal((width, 1), 1 / math.sqrt(width), generators, device).to(dtype).detach()
                       .requires_grad_()]

    @staticmethod
    def forward(params, x: torch.Tensor) -> torch.Tensor:
        """x [R, n, dim] -> f [R, n]."""
        W, v = params
        return torch.bmm(torch.bmm(x, W), v).squeeze(-1)


class MLP:
    """R stacked 64 -> width -> width -> 10 ReLU networks with biases."""

    def __init__(self, dim: int, width: int, classes: int, generators, device, dtype=torch.float64):
        shapes = [((dim, width), dim), ((width,), dim), ((width, width), width), ((width,), width),
                  ((width, classes), width), ((classes,), width)]
        self.params = [uniform(s, fan_in, generators, device).to(dtype).detach().requires_grad_()
                       for s, fan_in in shapes]

    @staticmethod
    def forward(params, x: torch.Tensor) -> torch.Tensor:
        """x [R, n, dim] -> logits [R, n, classes]."""
        W1, b1, W2, b2, W3, b3 = params
        h = torch.baddbmm(b1[:, None], x, W1).relu()
        h = torch.baddbmm(b2[:, None], h, W2).relu()
        return torch.baddbmm(b3[:, None], h, W3)


def squared_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example ½(f − y)² (the toy's loss; its mean is the training loss)."""
    return 0.5 * (f - y) ** 2


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy of logits [R, n, C] with integer labels [R, n]: [R, n]."""
    return -torch.log_softmax(logits, -1).gather(-1, y[..., None]).squeeze(-1)


def build(model: str, dim: int, width: int, generators, device, classes: int = 10):
    if model == "linear2":
        return TwoLayerLinear(dim, width, generators, device)
    if model == "mlp":
        return MLP(dim, width, classes, generators, device)
    raise ValueError(f"model={model!r} is not known: choose one of {', '.join(MODELS)}")


def example_losses(model: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example losses [R, n] of the model's output: squared for the toy, cross-entropy for digits."""
    return squared_loss(out, y) if model == "linear2" else cross_entropy(out, y)
