"""Chapter 3 — outliers with opposing signals: loss spikes, sharpening and Adam vs SGD (Rosenfeld & Risteski 2024).

`opposing.run(Config(...))` trains the toy (a two-layer linear network on data with two opposing outlier
groups) or the digits MLP with a patch on some 3s and 8s. Submodules: data (the two datasets), models
(the networks, stacked over replicas), sharpness (Hessian-vector products, power iteration), analysis
(spikes, out-of-phase group losses, the |Δℓ| detector), figures (the chapter's own figures), mechanism
(the closed-form two-layer toy), experiment (Config, run, run_sweep, predictions_at), shipped (the
full-size results the chapter loads), exercises. The module follows the phenomenon protocol
(minilib.phenomenon; docs/adding-a-chapter.md)."""

from . import analysis, data, exercises, figures, mechanism, models, sharpness  # exercises: registers the checks
from .experiment import (
    CHAPTER,
    CODE_VERSION,
    HLINES_PANEL,
    METRICS,
    OPTIMIZERS,
    PLOT_GROUPS,
    REPLICA_FIELDS,
    TASKS,
    TITLE,
    X_TITLE,
    Config,
    ToyConfig,
    clip_gradients,
    digits_config,
    gradient_norm,
    group_mean,
    num_steps,
    predictions_at,
    run,
    run_sweep,
    stability_line,
)
from .shipped import SHIPPED

__all__ = ["CHAPTER", "CODE_VERSION", "HLINES_PANEL", "METRICS", "OPTIMIZERS", "PLOT_GROUPS", "REPLICA_FIELDS",
           "SHIPPED", "TASKS", "TITLE", "X_TITLE", "Config", "ToyConfig", "analysis", "clip_gradients", "data",
           "digits_config", "exercises", "figures", "gradient_norm", "group_mean", "mechanism", "models", "num_steps",
           "predictions_at", "run",
           "run_sweep", "sharpness", "stability_line"]
