"""Metrics stay finite where the weights are: float32 runs whose sums of squares leave float32's range."""

import numpy as np
import torch

from minilib import benign, grokking
from minilib.grokking.experiment import _Experiment


def test_benign_alignment_is_finite_for_a_float32_run_from_a_tiny_initialisation():
    cfg = benign.XorConfig(dim=200, n_train=20, width=20, dtype="float32", init_scale=1e-30, lr=1e-28, steps=2)
    run = benign.run(cfg, progress=False)
    assert np.isfinite(run.history["mu_alignment"]).all(), run.history["mu_alignment"]
    assert 0 < run.history["mu_alignment"][0] < 1


def test_grokking_weight_norm_is_finite_while_the_weights_are():
    exp = _Experiment([grokking.Config(modulus=11, width=16, epochs=1, num_logs=2)])
    with torch.no_grad():
        for w in exp.model.params:
            w.mul_(1e19)  # ‖θ‖² ~ 1e38+: past float32's largest number, the weights themselves finite
    assert all(torch.isfinite(w).all() for w in exp.model.params)
    metrics = exp.evaluate()
    assert np.isfinite(metrics["weight_norm"]).all() and metrics["weight_norm"][0] > 1e19, metrics["weight_norm"]
