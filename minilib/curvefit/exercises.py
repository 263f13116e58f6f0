"""The coded exercises of chapter 0 (nbs/00_start_here.py), registered with minilib.exercises."""

from __future__ import annotations

import torch

from ..exercises import Case, Mistake, exercise
from .experiment import forward

CHAPTER = "00_start_here"


def noise_floor(noise: float) -> float:
    """Expected test MSE of the perfect predictor f when y = f(x) + ε, ε ~ N(0, noise²): E[ε²] = noise²."""
    return noise**2


exercise(
    name="curvefit.noise_floor", chapter=CHAPTER, reference=noise_floor,
    summary="the expected test MSE of the noise-free function f, for noise levels 0.3, 1, 0 and 2",
    cases=lambda: [Case(f"noise = {s}", (s,), "the labels are y = f(x) + ε with ε ~ N(0, σ²); the perfect "
                        "predictor misses each one by ε, so its expected squared error is E[ε²]")
                   for s in (0.3, 1.0, 0.0, 2.0)],
    mistakes=(
        Mistake("the standard deviation σ", lambda noise: noise,
                "σ is the noise's standard deviation; the expected squared error E[ε²] is its variance, σ²"),
        Mistake("zero", lambda noise: 0.0,
                "even the true f misses every noisy test label by ε: its error is E[ε²] = σ², not 0"),
        Mistake("2σ²", lambda noise: 2 * noise**2,
                "2σ² is what a predictor pays that copies a nearby noisy training label; the perfect predictor "
                "f pays only the test label's own noise"),
    ),
)


def _forward_cases(gen: torch.Generator) -> list[Case]:
    w = lambda *rows: torch.tensor([rows], dtype=torch.float32)
    fixed = ([w([1.0, -1.0]), w([0.0, 0.5]), w([2.0], [3.0]), w([0.1])], torch.tensor([[[-1.0], [0.0], [1.0]]]))
    net = lambda n, width, dtype=torch.float32: [torch.randn(*shape, generator=gen, dtype=dtype) for shape in
                                                 ((n, 1, width), (n, 1, width), (n, width, 1), (n, 1, 1))]
    three = net(3, 16)
    x3 = torch.rand(3, 7, 1, generator=gen) * 2 - 1
    wide = net(2, 64, torch.float64)
    return [
        Case("one net of width 2, x = [-1, 0, 1] (shape [1, 3, 1])", fixed,
             "h = relu(x @ w1 + b1) of shape [n, batch, width], then h @ w2 + b2"),
        Case("3 stacked nets of width 16, a batch of 7 points", (three, x3),
             "the leading dim stacks independent nets: `@` multiplies each net's matrices (batched matmul)"),
        Case("2 nets of width 64 in float64", (wide, torch.rand(2, 5, 1, generator=gen, dtype=torch.float64)),
             "keep the weights' dtype: no `.float()`"),
        Case("an empty batch (x of shape [2, 0, 1])", (wide, torch.zeros(2, 0, 1, dtype=torch.float64)),
             "an empty batch gives an output of shape [n, 0, 1]"),
    ]


exercise(
    name="curvefit.forward", chapter=CHAPTER, reference=forward,
    summary="the forward pass of n stacked one-hidden-layer ReLU nets, x [n, batch, 1] -> [n, batch, 1]: "
            "a fixed net, 3 stacked random nets, float64, an empty batch",
    cases=_forward_cases, seed=0,
    mistakes=(
        Mistake("no ReLU", lambda params, x: (x @ params[0] + params[1]) @ params[2] + params[3],
                "the hidden layer needs its ReLU: without it the two layers are one linear map"),
        Mistake("hidden bias after the ReLU", lambda params, x: (torch.relu(x @ params[0]) + params[1]) @ params[2]
                + params[3], "b1 is added before the ReLU: relu(x @ w1 + b1)"),
        Mistake("ReLU on the output", lambda params, x: torch.relu(torch.relu(x @ params[0] + params[1])
                                                                   @ params[2] + params[3]),
                "the output layer is linear (a regression can be negative): no ReLU after w2"),
        Mistake("no output bias", lambda params, x: torch.relu(x @ params[0] + params[1]) @ params[2],
                "add the output bias b2"),
    ),
)
