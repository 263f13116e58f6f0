"""The runs shipped in results/projection/ (regenerate: python -m minilib precompute projection).

Each entry is a list of Configs; the chapter loads the same list with cache.run_or_load_many, so the
keys match. The linear runs are the construction of the chapter at full size; the SupCon runs are the
sizes of the chapter's pilot (32-d inputs, encoder 32-64-64, head 64-64-32, 1500 steps of batch 256).
"""

from __future__ import annotations

from ..checks import Tolerance
from ..phenomenon import Shipped
from .experiment import Config, supcon_config

SEEDS = (0, 1, 2)
KAPPAS = (1.0, 1.05, 1.2, 1.5)


def linear_gd() -> list[Config]:
    """Plain gradient descent, lr 0.02, from N(0, 0.03²) weights, 24 000 steps, 3 seeds."""
    return [Config(seed=s) for s in SEEDS]


def linear_adam() -> list[Config]:
    """Adam lr 0.003 on the same loss, 5000 steps, 3 seeds: the same minimum, other encoder weights."""
    return [Config(optimizer="adam", lr=0.003, steps=5000, seed=s) for s in SEEDS]


def linear_no_head() -> list[Config]:
    """The encoder alone (depth 1) trained on the loss: the representation is the output."""
    return [Config(depth=1, steps=5000, seed=s) for s in SEEDS]


def supcon() -> list[Config]:
    """SupCon with the MLP head 64-64-32, τ 0.1, Adam 1e-3, 1500 steps of batch 256, 3 seeds."""
    return [supcon_config(seed=s) for s in SEEDS]


def reweight() -> list[Config]:
    """SupCon with the fixed reweighting head z_i = h_i κ^(−i) for κ in KAPPAS (κ = 1: no head)."""
    return [supcon_config(head="reweight", depth=2, kappa=k) for k in KAPPAS]


# Tolerances: measured with `python -m minilib.checks projection` (see the comments at each).
LINEAR = Tolerance(steps=100, rtol=1e-6, per_metric_atol=(("probe_pre", 1e-3), ("probe_post", 1e-3)))
SUPCON = Tolerance(steps=100, rtol=1e-3, per_metric_atol=tuple((m, 3e-3) for m in
                                                              ("probe_pre", "probe_post", "class_pre", "class_post")))

SHIPPED = {
    "linear_gd": Shipped(linear_gd, "linear model, GD lr 0.02, init 0.03, 24 000 steps, 3 seeds", LINEAR),
    "linear_adam": Shipped(linear_adam, "linear model, Adam lr 0.003, 5000 steps, 3 seeds", LINEAR),
    "linear_no_head": Shipped(linear_no_head, "linear encoder without a head, GD lr 0.02, 5000 steps, 3 seeds",
                              LINEAR),
    "supcon": Shipped(supcon, "SupCon, encoder 32-64-64 + MLP head 64-64-32, 1500 steps, 3 seeds", SUPCON),
    "reweight": Shipped(reweight, "SupCon with the fixed reweighting head, κ in 1, 1.05, 1.2, 1.5", SUPCON),
}
