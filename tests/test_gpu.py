"""On a GPU, the branches only a GPU takes, run for real (skipped where torch sees no CUDA device).

A CPU run of `make test` tests these branches by forcing them (`replicas.force_stacked`); this file runs
them where they are taken: every shipped result re-derived on the GPU with the tolerance its entry states
(so a chapter's check holds on a GPU, not only on CPUs), and a stacked sweep on the GPU equal to its
single runs. Run it with `pytest tests/test_gpu.py` on a machine with a GPU.
"""

import numpy as np
import pytest
import torch

from minilib import cache, checks, curvefit, grokking, phenomenon
from minilib.runs import ConfigError

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")

ENTRIES = [(m, name, i) for m in phenomenon.phenomena() for name, entry in m.SHIPPED.items()
           for i in range(len(entry.configs()))]


@pytest.mark.parametrize("module, name, index", ENTRIES,
                         ids=[f"{phenomenon.short_name(m)}-{n}-{i}" for m, n, i in ENTRIES])
def test_a_shipped_run_is_reproduced_on_the_gpu(module, name, index):
    entry = module.SHIPPED[name]
    config = entry.configs()[index]
    try:
        config.replace(device="cuda")
    except ConfigError:  # chapter 5's MCMC baseline runs on CPUs only (numpy): test_shipped re-derives it
        pytest.skip(f"{type(config).__name__} runs on the CPU only")
    stored = cache.lookup(module, config, shipped_only=True)
    assert stored is not None, f"results/ lacks {name}; regenerate: python -m minilib precompute"
    comparison = checks.rederive(module, stored, entry.tolerance, device="cuda")
    assert comparison.steps[-1] >= min(entry.tolerance.steps, 1)


CURVE = curvefit.Config(n_train=16, width=16, steps=120, num_logs=7, device="cuda")
GROK = grokking.Config(modulus=11, train_fraction=0.5, width=24, epochs=25, num_logs=6, device="cuda")
SWEEPS = {
    "curvefit": (curvefit, [CURVE.replace(seed=s, lr=lr) for s, lr in [(0, 0.01), (1, 0.003), (2, 0.01)]]),
    "grokking": (grokking, [GROK.replace(seed=s, lr=lr) for s, lr in [(0, 0.01), (1, 0.003), (2, 0.01)]]),
}


@pytest.mark.parametrize("name", SWEEPS)
def test_a_stacked_sweep_on_the_gpu_equals_its_single_runs(name):
    module, configs = SWEEPS[name]
    swept = module.run_sweep(configs, progress=False)
    assert {r.meta["replicas"] for r in swept} == {len(configs)}
    assert all(r.meta["device"].startswith("cuda") for r in swept)
    for cfg, run in zip(configs, swept):
        alone = module.run(cfg, progress=False)
        for k in alone.history:
            # the same tolerance as the forced branch on a CPU (tests/test_replicas.py): bmm over replicas
            # sums in another order than one matmul per replica
            np.testing.assert_allclose(run.history[k], alone.history[k], rtol=2e-4, atol=1e-6, err_msg=k)


def test_the_gpu_and_the_cpu_agree_on_an_early_stretch():
    cpu = grokking.run(GROK.replace(device="cpu"), progress=False)
    gpu = grokking.run(GROK, progress=False)
    for k in cpu.history:
        np.testing.assert_allclose(gpu.history[k][:3], cpu.history[k][:3], rtol=1e-3, atol=1e-5, err_msg=k)


GRAPHED = {
    "adamw": GROK.replace(modulus=23, epochs=40, num_logs=41),
    "perp_adamw": GROK.replace(modulus=23, epochs=40, num_logs=41, optimizer="perp_adamw", beta2=0.999, eps=1e-8),
    "sgd_momentum": GROK.replace(modulus=23, epochs=40, num_logs=41, optimizer="sgd", lr=0.3, momentum=0.9),
    "stablemax_float64": GROK.replace(modulus=23, epochs=40, num_logs=41, loss="stablemax", precision="float64"),
}


@pytest.mark.parametrize("name", GRAPHED)
def test_a_step_replayed_as_a_cuda_graph_equals_the_eager_step(name, monkeypatch):
    cfg = GRAPHED[name]
    monkeypatch.setenv("MINILIB_CUDA_GRAPHS", "0")
    eager = grokking.run(cfg, progress=False)
    monkeypatch.setenv("MINILIB_CUDA_GRAPHS", "1")
    exp = grokking.experiment._Experiment([cfg])
    assert exp.graphed is not None
    graphed = grokking.run(cfg, progress=False)
    for k in eager.history:
        # the same kernels in the same order, but index_add_'s atomics sum in any order: float32 round-off
        np.testing.assert_allclose(graphed.history[k], eager.history[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_a_graph_replays_every_step_after_the_warm_up():
    exp = grokking.experiment._Experiment([GRAPHED["adamw"]])
    weights = exp.model.params[0].detach().clone()
    for i in range(10):
        exp.step(i)
    assert exp.graphed.graph is not None and exp.graphed.calls == 10
    assert not torch.equal(exp.model.params[0], weights)
