"""The full-size PFNs shipped in results/pfn/ (regenerate: python -m minilib precompute pfn).

Each entry trains one PFN; its Run (history and final gap table) is stored as results/pfn/<key>.npz and the
network itself as results/pfn/<checkpoint>.pt (`pfn.load_pretrained(name)`). The configs use
device="auto": on a machine with a GPU the same command trains there (the checkpoint's meta records the
device and the card).
"""

from __future__ import annotations

from ..checks import Tolerance
from ..phenomenon import Shipped
from .experiment import Config

GP_STEPS = 24_000
HYPER_STEPS = 12_000


def gp_model() -> list[Config]:
    """The GP-prior PFN (ℓ = 0.2, noise variance 0.01): d 64, 4 layers, 4 heads, ff 128, K = 1000."""
    return [Config(prior="gp", steps=GP_STEPS, num_logs=121, log_spaced=True, checkpoint="gp")]


def gp_hyper_model() -> list[Config]:
    """The hyperprior PFN (ℓ uniform on {0.05, 0.1, 0.2, 0.5}), same network."""
    return [Config(prior="gp_hyper", steps=HYPER_STEPS, num_logs=121, log_spaced=True, checkpoint="gp_hyper")]


# How closely a fresh run reproduces a shipped one over its first steps (python -m minilib.checks pfn): the
# data are drawn on the CPU from the run's seeded generator and the weights initialised on the CPU, so only
# float32 round-off differs. Measured for the gp config's first 15 steps (every step logged) against
# AVX-512 kernels, 1 thread: worst relative deviation 2e-7 (train_loss), 6e-7 (gap_0), <= 3e-8 for the other
# gaps, with ATEN_CPU_CAPABILITY=default and =avx2. A run trained on a GPU differs by the GPU's float32
# round-off as well (results/pfn/README.md records it);
# rtol 1e-3 leaves three orders of magnitude for it.
EARLY = Tolerance(steps=15, rtol=1e-3)

SHIPPED = {
    "gp": Shipped(gp_model, f"the GP-prior PFN, K = 1000 buckets, {GP_STEPS} steps of 64 datasets", EARLY),
    "gp_hyper": Shipped(gp_hyper_model, f"the lengthscale-hyperprior PFN, {HYPER_STEPS} steps of 64 datasets", EARLY),
}
