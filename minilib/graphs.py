"""A training step replayed as one CUDA graph: the GPU's answer to launch overhead.

A small model's full-batch step on a GPU is a few dozen tiny kernels (gather, matmuls, loss, backward,
the optimiser's element-wise updates). Each launch costs the host several microseconds, more than the
arithmetic itself, so the GPU waits for Python. A CUDA graph records the kernels of one step once and
replays them with a single launch: the step's Python runs once, at capture.

`GraphedStep(step)` wraps a step function `step(i) -> loss` whose work is all on one CUDA device and whose
tensors keep their storage from step to step (weights and optimiser state updated in place, hyper-
parameters already on the device: `replicas.StackedOptimizer` keeps them there). The first `warmup` calls
run the step eagerly on a side stream (as PyTorch's capture recipe asks: lazily built state such as the
optimiser's moments, cuBLAS workspaces); the next call captures the step and replays it, and every later
call replays it. Each call is one real training step: warm-up and capture take no extra steps.

A graph replays the kernels it recorded, so the step must not branch on tensor values on the host or
draw random numbers from its own generators (dropout masks): callers leave those steps eager.
`MINILIB_CUDA_GRAPHS=0` turns graphs off (to compare, or to debug a step with prints).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

WARMUP = 3


def enabled(device: torch.device) -> bool:
    """Whether steps on `device` are replayed as CUDA graphs (CUDA only; MINILIB_CUDA_GRAPHS=0 turns it off)."""
    return device.type == "cuda" and os.environ.get("MINILIB_CUDA_GRAPHS", "1") != "0"


class GraphedStep:
    """step(i) -> loss, replayed from one captured CUDA graph after `warmup` eager calls."""

    def __init__(self, step: Callable[[int], torch.Tensor], warmup: int = WARMUP):
        if warmup < 1:
            raise ValueError(f"warmup={warmup!r} must be >= 1 (capture needs the step's state to exist)")
        self.step, self.warmup = step, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._loss: torch.Tensor | None = None  # the graph's output: overwritten by every replay
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, i: int) -> torch.Tensor:
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
            return self._loss.clone()  # the caller may keep it past the next replay
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        self._stream.wait_stream(torch.cuda.current_stream())
        if self.calls <= self.warmup:
            with torch.cuda.stream(self._stream):
                loss = self.step(i)
            torch.cuda.current_stream().wait_stream(self._stream)
            return loss
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self._stream):
            self._loss = self.step(i)
        torch.cuda.current_stream().wait_stream(self._stream)
        self.graph = graph
        graph.replay()  # capture records the step without running it: this is the step
        return self._loss.clone()
