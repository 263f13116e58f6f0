"""Chapter 2 — benign overfitting: noisy XOR clusters (Xu et al. 2024) and "more is better" (Simon et al. 2023).

Part A, the phenomenon module's experiment: `benign.run(XorConfig(...))` trains the two-layer ReLU network
of Xu et al. by full-batch gradient descent on XOR clusters with flipped labels (data, models, experiment;
`Config` is `XorConfig`). Part B, plain functions: random-feature ridge regression on a powerlaw task,
simulated (`ridge_simulate`) next to the eigenlearning theory (`ridge_theory`), configured by
`RidgeConfig` (ridge.py). shipped: the full-size results the chapter loads. The module follows the
phenomenon protocol (minilib.phenomenon; docs/adding-a-chapter.md).
"""

from . import exercises  # noqa: F401 - registers the chapter's coded exercises
from .data import cluster_means, xor_clusters
from .experiment import (
    CHAPTER,
    CODE_VERSION,
    METRICS,
    PLOT_GROUPS,
    REPLICA_FIELDS,
    TITLE,
    X_TITLE,
    Config,
    XorConfig,
    first_pass,
    median_band,
    num_steps,
    random_alignment,
    run,
    run_sweep,
)
from .models import gd_update, logistic_loss, loss_derivative, network
from .ridge import (
    RidgeConfig,
    eigenlearning,
    fitting_ratio_risk,
    optimal_fitting_ratio,
    ridge_simulate,
    ridge_theory,
    spectrum,
)
from .shipped import SHIPPED

__all__ = ["CHAPTER", "CODE_VERSION", "METRICS", "PLOT_GROUPS", "REPLICA_FIELDS", "SHIPPED", "TITLE", "X_TITLE",
           "Config", "RidgeConfig", "XorConfig", "cluster_means", "eigenlearning", "first_pass", "fitting_ratio_risk",
           "gd_update", "logistic_loss", "loss_derivative", "median_band", "network", "num_steps",
           "optimal_fitting_ratio", "random_alignment", "ridge_simulate", "ridge_theory", "run", "run_sweep",
           "spectrum", "xor_clusters"]
