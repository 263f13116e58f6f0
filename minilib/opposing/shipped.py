"""The full-size runs shipped in results/opposing/ (regenerate: python -m minilib precompute opposing).

Each entry is a list of Configs; the chapter loads the same list with cache.run_or_load_many, so the keys
match. All of them together cost about 6 CPU minutes on one thread (results/opposing/README.md records it).
"""

from __future__ import annotations

from ..checks import Tolerance
from ..phenomenon import Shipped
from .experiment import Config, digits_config

SEEDS = (0, 1, 2, 3, 4)
CONTROL_SEEDS = (0, 1, 2)
DIGIT_SEEDS = (0, 1, 2)
#: The toy's controls, each on CONTROL_SEEDS: what each changes in the toy of the chapter. Clipping at 1 is
#: above the toy's full-batch gradient norm at every step but those of the spike (the runs log grad_norm).
TOY_CONTROLS = {
    "alpha 0": dict(alpha=0.0),
    "GD lr 0.04": dict(lr=0.04),
    "Adam lr 0.01": dict(optimizer="adam", lr=0.01),
    "GD clipped at 1": dict(clip=1.0),
}
#: The digits comparison, each on DIGIT_SEEDS: what each changes in the recipe (opposing.digits_config). The
#: two clipping thresholds bracket the minibatch gradient norms of the patched SGD run (logged as grad_norm):
#: 1 is above most of them, 0.25 near their median, so that it acts on about every other step.
DIGIT_VARIANTS = {
    "SGD, patched": dict(),
    "SGD, no patch": dict(alpha=0.0),
    "SGD lr 0.1, patched": dict(lr=0.1),
    "SGD clipped at 1, patched": dict(clip=1.0),
    "SGD clipped at 0.25, patched": dict(clip=0.25),
    "Adam lr 1e-3, patched": dict(optimizer="adam", lr=1e-3),
    "Adam lr 3e-3, patched": dict(optimizer="adam", lr=3e-3),
}
#: The one-group control on digits, on DIGIT_SEEDS: only the 3s are patched (group B empty). The data draw the
#: same random numbers as with both groups (opposing.data.digits draws the 8s' permutation either way), so
#: each seed has the same split, the same patched 3s, initial weights and batches as "SGD, patched".
DIGIT_ONE_GROUP = {"SGD, patched 3s only": dict(group_b=0.0)}
#: The (alpha x lr) map of the toy: spike size over the strength of the outlier feature and the step.
MAP_ALPHAS = (0.0, 4.0, 6.0, 8.0, 10.0, 12.0)
MAP_LRS = (0.04, 0.08)
MAP_STEPS = 800


def toy() -> list[Config]:
    """The toy of the chapter (alpha 8, full-batch GD lr 0.08), five seeds."""
    return [Config(seed=s) for s in SEEDS]


def toy_controls() -> list[Config]:
    """Three of the seeds without the outlier feature, at half the step, with full-batch Adam lr 0.01, and
    with the gradient clipped at norm 1."""
    return [Config(seed=s, **v) for v in TOY_CONTROLS.values() for s in CONTROL_SEEDS]


def toy_map() -> list[Config]:
    """Spike size over alpha x lr (seed 0, 800 steps; sharpness not tracked, the map needs only the losses)."""
    return [Config(alpha=a, lr=lr, steps=MAP_STEPS, sharpness_every=0) for a in MAP_ALPHAS for lr in MAP_LRS]


def digits() -> list[Config]:
    """The digits recipe with the patch, without it, at a third of the step, clipped at two thresholds, and
    with Adam at two steps instead of SGD; three seeds each."""
    return [digits_config(seed=s, **v) for v in DIGIT_VARIANTS.values() for s in DIGIT_SEEDS]


def digits_one_group() -> list[Config]:
    """The patched SGD recipe with group B empty (only 3s patched), on the seeds of digits()."""
    return [digits_config(seed=s, **v) for v in DIGIT_ONE_GROUP.values() for s in DIGIT_SEEDS]


def label(config: Config) -> str:
    """The name of the variant (TOY_CONTROLS, DIGIT_VARIANTS or DIGIT_ONE_GROUP) a shipped config belongs to."""
    base = digits_config() if config.task == "digits" else Config()
    variants = {**DIGIT_VARIANTS, **DIGIT_ONE_GROUP} if config.task == "digits" else {"the toy": {}, **TOY_CONTROLS}
    for name, changes in variants.items():
        if all(getattr(config, k) == getattr(base.replace(**changes), k)
               for k in ("alpha", "lr", "optimizer", "clip", "group_a", "group_b")):
            return name
    raise ValueError(f"{config!r} is none of the shipped variants: {', '.join(variants)}")


# How closely a fresh run reproduces a shipped one (minilib.checks.deviations, ATEN_CPU_CAPABILITY=default
# against runs made with this machine's default AVX-512 kernels; the runs are float64). The two kernel sets
# already draw slightly different initial weights (replicas.normal samples in float32: the losses at step 0
# differ by up to 4.6e-7), and the deviation grows towards the spike near step 170. The toy, seeds 0-4,
# first 100 steps: worst relative deviation 4.6e-7 (loss_a, loss_b), 2.8e-7 (grad_norm), 8.3e-8 (loss),
# 5.5e-8 (sharpness): 100 steps with rtol 1e-5.
EARLY_TOY = Tolerance(steps=100, rtol=1e-5)
# The controls, first 100 steps: 2.9e-6 (loss_a, Adam seed 2), so rtol 3e-5. Adam's gradient norm falls to
# 0.003-0.006 and wobbles there, so its relative deviation reaches 3.3e-5 while its absolute deviation stays
# at most 7.4e-7: the gradient norm also gets an absolute 5e-6.
EARLY_CONTROLS = Tolerance(steps=100, rtol=3e-5, per_metric_atol=(("grad_norm", 5e-6),))
# The map includes alpha 10 and 12 at lr 0.08, which reach their spike sooner: within 50 steps the worst over
# the 12 runs was 1.0e-6 (loss_a), 6.9e-8 (grad_norm), so 50 steps with rtol 1e-5.
EARLY_MAP = Tolerance(steps=50, rtol=1e-5)
# Digits, all 21 runs: within 200 steps at most 7.0e-13 (loss_b), within 100 steps 1.9e-14 (minibatch SGD,
# clipping and Adam far from any spike there). The first 60 steps (7 logged losses, 4 sharpness estimates)
# are compared, with rtol 1e-6: a re-derivation costs 1.0 CPU s instead of 2.4 s for 200 steps.
EARLY_DIGITS = Tolerance(steps=60, rtol=1e-6)
# The one-group control (3 runs, ATEN_CPU_CAPABILITY=default against the AVX-512 runs shipped): the loss of the
# patched 3s falls towards 1e-10, so its relative deviation grows fastest: 7.6e-14 within 60 steps, 3.6e-8 within
# 200; every other metric stays within 2.6e-15. The first 60 steps with rtol 1e-6, as for the digits entry.
EARLY_ONE_GROUP = Tolerance(steps=60, rtol=1e-6)

SHIPPED = {
    "toy": Shipped(toy, "the toy (alpha 8, GD lr 0.08, 1500 steps), 5 seeds", EARLY_TOY),
    "toy_controls": Shipped(toy_controls, "the toy without the outlier feature, at lr 0.04, with Adam lr 0.01, "
                                          "and clipped at gradient norm 1; 3 seeds each", EARLY_CONTROLS),
    "toy_map": Shipped(toy_map, "the toy over alpha (0-12) x lr (0.04, 0.08), seed 0, 800 steps", EARLY_MAP),
    "digits": Shipped(digits, "digits MLP, SGD lr 0.3 batch 64, 2000 steps: patch +8, no patch, lr 0.1, "
                              "clipped at 1 and 0.25, Adam 1e-3 and 3e-3; 3 seeds each", EARLY_DIGITS),
    "digits_one_group": Shipped(digits_one_group, "digits MLP, SGD lr 0.3 batch 64, 2000 steps, patch +8 on 30% "
                                                  "of the 3s only (no 8s patched); 3 seeds", EARLY_ONE_GROUP),
}


# Chapter 3's check cells compare numbers that round-off alone can move. Tolerances, and the measurements
# behind them:
# - re-training an unpatched digits run to its spike (opposing.predictions_at) replays the shipped run: the
#   relative difference of its mean loss at the spike from the logged one was 2e-15.
REPLAY_RTOL = 1e-9
# - the closed form's loss is quadratic in w_s, so second differences on the landscape slice give its
#   curvature exactly up to round-off: relative difference 2e-12 from mechanism.outlier_curvature.
SLICE_CURVATURE_RTOL = 1e-8
# - from the spike's onset the closed form's steps along w_s grow by |1 - η (p_A + p_B) α² v²| per step:
#   measured within 0.3% of that prediction over the 10 steps from the onset.
OVERSHOOT_RTOL = 0.01
