"""The one replica mechanism (minilib.replicas) as every phenomenon uses it: a sweep equals single runs."""

import numpy as np
import pytest
import torch

from minilib import curvefit, grokking, replicas

CURVE = curvefit.Config(n_train=16, width=16, steps=120, num_logs=7, device="cpu")
GROK = grokking.Config(modulus=11, train_fraction=0.5, width=24, epochs=25, num_logs=6, device="cpu")

# Seeds, learning rates and two shapes in one sweep: the sweep must group them and each Run must equal
# the single run of its config. On a CPU a group trains one replica at a time with the same kernels as a
# single run, so the histories agree to round-off of a few ulps (measured: identical on this machine).
SWEEPS = {
    "curvefit": (curvefit, [CURVE.replace(seed=0), CURVE.replace(seed=1, lr=3e-3), CURVE.replace(width=8),
                            CURVE.replace(seed=2, width=8, weight_decay=0.1)]),
    "grokking": (grokking, [GROK.replace(seed=0), GROK.replace(seed=1, lr=3e-3), GROK.replace(width=16),
                            GROK.replace(seed=2, width=16, optimizer="adamw", weight_decay=1.0, precision="float64")]),
}


@pytest.mark.parametrize("name", SWEEPS)
def test_a_sweep_of_two_shapes_equals_single_runs(name):
    module, configs = SWEEPS[name]
    swept = module.run_sweep(configs, progress=False)
    assert [r.config for r in swept] == configs
    for cfg, run in zip(configs, swept):
        alone = module.run(cfg, progress=False)
        assert set(run.history) == set(alone.history) and run.status == alone.status == "completed"
        for k in alone.history:
            np.testing.assert_allclose(run.history[k], alone.history[k], rtol=1e-5, atol=1e-7, err_msg=k)
    assert {r.meta["replicas"] for r in swept} == {2}


@pytest.mark.parametrize("name", SWEEPS)
def test_every_run_records_the_same_meta_keys(name):
    module, configs = SWEEPS[name]
    run = module.run(configs[0], progress=False)
    assert set(run.meta) == {"code_version", "seconds", "replicas", "steps", "torch", "threads", "device",
                             "machine", "cpu_capability"}
    assert run.meta["steps"] == module.num_steps(configs[0]) and run.meta["replicas"] == 1


def test_the_stacked_gpu_branch_forced_on_a_cpu_equals_per_replica_training():
    configs = [GROK.replace(seed=s, lr=lr) for s, lr in [(0, 0.01), (1, 0.003), (2, 0.01)]]
    per_replica = grokking.run_sweep(configs, progress=False)
    with replicas.force_stacked(True):
        assert replicas.stacked(torch.device("cpu"), 3)
        batched = grokking.run_sweep(configs, progress=False)
    assert not replicas.stacked(torch.device("cpu"), 3)
    for a, b in zip(per_replica, batched):
        for k in a.history:
            # bmm over three replicas sums in another order than three single matmuls: float32 round-off
            np.testing.assert_allclose(b.history[k], a.history[k], rtol=2e-4, atol=1e-6, err_msg=k)


def test_an_on_step_of_a_single_run_gets_floats():
    seen = []
    curvefit.run(CURVE, on_step=lambda step, m: seen.append(m), progress=False)
    assert seen and all(isinstance(m["train_loss"], float) for m in seen)


def test_the_stacked_optimizer_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match=r"optimizer='adagrad' is not known: choose one of adamw, adam, sgd"):
        replicas.StackedOptimizer([torch.zeros(1, 2, requires_grad=True)], "adagrad", lr=0.1)


def test_adam_with_l2_decay_follows_torch():
    gen = torch.Generator().manual_seed(0)
    X, Y, W = torch.randn(16, 4, generator=gen), torch.randn(16, 2, generator=gen), torch.randn(4, 2, generator=gen)
    ours = W.clone()[None].requires_grad_()
    opt = replicas.StackedOptimizer([ours], "adam", lr=0.05, weight_decay=0.2)
    ref = W.clone().requires_grad_()
    ref_opt = torch.optim.Adam([ref], lr=0.05, weight_decay=0.2)
    for _ in range(15):
        opt.step(torch.autograd.grad(((X @ ours[0] - Y) ** 2).mean(), [ours]))
        ref_opt.zero_grad()
        ((X @ ref - Y) ** 2).mean().backward()
        ref_opt.step()
    assert torch.allclose(ours[0].detach(), ref.detach(), atol=1e-6)


@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
def test_the_optimizer_moves_its_hyper_parameters_to_the_parameters_device(kind):
    # Parameters on a GPU met per-replica hyper-parameters kept on the CPU ("Expected all tensors to be on
    # the same device", seen on an H200). The meta device stands in for a GPU: it fails the same way.
    w = torch.zeros(3, 4, 2, device="meta", requires_grad=True)
    extra = {"momentum": [0.9, 0.0, 0.5]} if kind == "sgd" else {}
    opt = replicas.StackedOptimizer([w], kind, lr=[0.1, 0.2, 0.3], weight_decay=[0.1, 0.0, 1.0], **extra)
    opt.step([torch.zeros(3, 4, 2, device="meta")])
    opt.step([torch.zeros(3, 4, 2, device="meta")])
    assert w.device.type == "meta"
