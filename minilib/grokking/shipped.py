"""The long runs shipped in results/grokking/ (regenerate: python -m minilib precompute grokking).

Each entry is a list of Configs; the chapter loads the same list with cache.run_or_load_many, so the
keys match. Sizes are chosen for this project's 2-core CPU budget; the chapter says where they differ
from the paper.
"""

from __future__ import annotations

from ..phenomenon import Shipped
from .experiment import Config, transformer_config

PRECISIONS = ("float16", "float32", "float64")
SEEDS = (0, 1, 2)

# Phase diagram (train fraction x weight decay -> epochs to grok) at a smaller modulus.
PHASE_MODULUS = 47
PHASE_FRACTIONS = (0.3, 0.4, 0.5, 0.6, 0.7)
PHASE_DECAYS = (0.0, 0.1, 0.3, 1.0, 3.0)
PHASE_EPOCHS = 3000

PRECISION_MODULUS = 47
PRECISION_EPOCHS = 12_000


def adamw_long() -> list[Config]:
    """Signature 1's plain AdamW (lr 0.005, no weight decay, softmax float32) continued to 6000 epochs."""
    return [Config(optimizer="adamw", lr=0.005, epochs=6000, num_logs=121, log_spaced=True)]


def stablemax() -> list[Config]:
    """Signature 4: StableMax CE in float64 (as the paper's code), AdamW lr 0.01, beta2 0.999, no weight decay."""
    return [Config(loss="stablemax", precision="float64", lr=0.01, beta2=0.999, epochs=80_000, num_logs=241,
                   log_spaced=True)]


def stablemax_float32() -> list[Config]:
    """The same StableMax run with the loss in float32: it collapses too once the logits reach ~1e7."""
    return [stablemax()[0].replace(precision="float32")]


def precision() -> list[Config]:
    """Signature 3: softmax CE in float16/32/64, lr 5e-4, train fraction 0.7, 3 seeds (paper: 20k epochs)."""
    return [Config(modulus=PRECISION_MODULUS, train_fraction=0.7, lr=5e-4, precision=prec, seed=seed,
                   epochs=PRECISION_EPOCHS, num_logs=121) for prec in PRECISIONS for seed in SEEDS]


def transformer() -> list[Config]:
    """Signature 5: Nanda's one-layer transformer recipe at p = 113."""
    return [transformer_config(epochs=16_000, num_logs=161)]


def phase() -> list[Config]:
    """AdamW lr 0.01 over train fraction x weight decay at p = PHASE_MODULUS."""
    return [Config(modulus=PHASE_MODULUS, train_fraction=f, weight_decay=wd, lr=0.01, epochs=PHASE_EPOCHS,
                   num_logs=151) for f in PHASE_FRACTIONS for wd in PHASE_DECAYS]


SHIPPED = {
    "adamw_long": Shipped(adamw_long, "plain AdamW lr 0.005, softmax float32, p = 113, 6000 epochs"),
    "stablemax": Shipped(stablemax, "StableMax CE in float64, AdamW lr 0.01, beta2 0.999, p = 113, 80 000 epochs"),
    "stablemax_float32": Shipped(stablemax_float32, "the same StableMax run with the loss in float32"),
    "precision": Shipped(precision, "softmax in float16/32/64 x 3 seeds, lr 5e-4, train fraction 0.7"),
    "transformer": Shipped(transformer, "Nanda et al.'s one-layer transformer recipe, p = 113, 16 000 epochs"),
    "phase": Shipped(phase, "AdamW lr 0.01 over train fraction x weight decay at p = 47, 3000 epochs"),
}
