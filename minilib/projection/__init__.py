"""Chapter 4 — why projection heads help: layer-wise feature weighting in contrastive learning
(Xue et al. 2024).

`projection.run(Config())` trains the linear model on the population spectral contrastive loss;
`projection.run(supcon_config())` a ReLU encoder and head with the SupCon loss;
`projection.run(simclr_config())` a small CNN and head trained SimCLR-style on scikit-learn's digits.
Submodules: data (the feature model, its augmentation, the SupCon task, the digits), losses (spectral,
SupCon), models (linear, MLP and CNN, stacked over replicas), probe (batched logistic-regression probes),
experiment (Config, run, run_sweep), shipped (the full-size results the chapter loads), exercises (the
chapter's coded exercises). The module follows the phenomenon protocol (minilib.phenomenon;
docs/adding-a-chapter.md).
"""

from . import exercises  # noqa: F401 - registers the chapter's coded exercises
from .data import augment, augment_digits, load_digits, sample_linear, second_moments
from .experiment import (
    CHAPTER,
    CODE_VERSION,
    DROP_PROBS,
    FEATURE_SCALES,
    METRICS,
    PLOT_GROUPS,
    PROBE_GRID,
    REPLICA_FIELDS,
    TITLE,
    X_TITLE,
    Config,
    LinearConfig,
    excess,
    num_steps,
    run,
    run_sweep,
    simclr_config,
    spread,
    supcon_config,
    supervised_config,
)
from .losses import spectral_minimum, spectral_population, spectral_sample, supcon
from .models import feature_weights, reweight
from .shipped import SHIPPED

__all__ = ["CHAPTER", "CODE_VERSION", "DROP_PROBS", "FEATURE_SCALES", "METRICS", "PLOT_GROUPS", "PROBE_GRID",
           "REPLICA_FIELDS", "SHIPPED", "TITLE", "X_TITLE", "Config", "LinearConfig", "augment", "augment_digits",
           "excess", "feature_weights", "load_digits", "num_steps", "reweight", "run", "run_sweep", "sample_linear",
           "second_moments", "simclr_config", "spectral_minimum", "spectral_population", "spectral_sample", "spread",
           "supcon", "supcon_config",
           "supervised_config"]
