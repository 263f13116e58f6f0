"""The GPU-only parts of a training step, tested on the CPU by forcing their branches.

On a GPU, `replicas.StackedOptimizer` keeps its step count and bias corrections on the device (so that a
step issues no host work and can be replayed as a CUDA graph, `minilib.graphs`); on a CPU it computes them
on the host in float64. Forcing `on_device` on a CPU runs the GPU's arithmetic here: it must give the
host path's weights. The graph capture itself needs CUDA: tests/test_gpu.py runs it there.
"""

import numpy as np
import pytest
import torch

from minilib import graphs
from minilib.replicas import StackedOptimizer

HYPER = {
    "adamw": dict(lr=[0.1, 0.01, 0.001], weight_decay=[0.0, 0.1, 1.0], beta2=[0.99, 0.999, 0.98],
                  eps=[1e-8, 1e-25, 1e-6]),
    "adam": dict(lr=[0.1, 0.01, 0.001], weight_decay=[0.0, 0.1, 1.0], beta2=[0.99, 0.999, 0.98]),
    "sgd": dict(lr=[0.1, 0.01, 0.001], weight_decay=[0.0, 0.1, 1.0], momentum=[0.9, 0.5, 0.0]),
}


@pytest.mark.parametrize("kind", HYPER)
def test_the_device_side_step_count_gives_the_host_paths_weights(kind):
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 5, 4, generator=gen), torch.randn(3, 7, generator=gen)]
    grads = [[torch.randn(w.shape, generator=gen) for w in start] for _ in range(30)]
    host = StackedOptimizer([w.clone() for w in start], kind, **HYPER[kind])
    device = StackedOptimizer([w.clone() for w in start], kind, **HYPER[kind])
    device.on_device = True  # the branch a GPU takes
    for g in grads:
        host.step(g)
        device.step(g)
    assert device._t_dev is not None and float(device._t_dev) == 30
    for a, b in zip(host.params, device.params):
        # the two compute β^t by different float64 kernels (a scalar and a tensor exponent): identical on this
        # project's CPUs (measured: 0 difference after 30 steps); a last-bit difference elsewhere stays far
        # inside float32 round-off
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2e-6, atol=1e-7)
    assert not torch.equal(host.params[0], start[0])  # the optimiser moved the weights


def test_the_device_side_path_makes_its_constants_once():
    w = torch.zeros(2, 3)
    opt = StackedOptimizer([w], "adamw", lr=[0.1, 0.2])
    opt.on_device = True
    opt.step([torch.ones(2, 3)])
    made = dict(opt._consts)
    opt.step([torch.ones(2, 3)])
    assert opt._consts.keys() == made.keys()
    assert all(opt._consts[k] is made[k] for k in made)  # reused, not copied again every step


def test_graphs_are_for_cuda_only_and_can_be_switched_off(monkeypatch):
    assert not graphs.enabled(torch.device("cpu"))
    monkeypatch.setenv("MINILIB_CUDA_GRAPHS", "0")
    assert not graphs.enabled(torch.device("cuda"))
    monkeypatch.setenv("MINILIB_CUDA_GRAPHS", "1")
    assert graphs.enabled(torch.device("cuda"))


def test_a_graphed_step_needs_a_warm_up_call():
    with pytest.raises(ValueError, match="warmup=0"):
        graphs.GraphedStep(lambda i: torch.zeros(()), warmup=0)


def test_a_sweep_refuses_another_chapters_config_by_name():
    from minilib import curvefit, grokking

    with pytest.raises(TypeError, match="minilib.grokking.run_sweep needs configs of its own chapter.*curvefit"):
        grokking.run_sweep([curvefit.Config(steps=2, num_logs=2)], progress=False)
    with pytest.raises(TypeError, match="run_sweep needs configs of its own chapter.*dict"):
        curvefit.run_sweep([curvefit.Config().to_dict()], progress=False)
