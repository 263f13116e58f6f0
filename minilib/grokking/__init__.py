"""Chapter 1 — grokking: Softmax Collapse, StableMax and ⊥Grad (Prieto et al. 2025).

`grokking.run(Config(...))` trains the paper's MLP (or its transformer, or Nanda et al.'s) on modular
arithmetic. Submodules: data (the task), losses (softmax/StableMax CE, collapse), optim (AdamW/SGD/⊥Grad),
models (the three models, stacked over replicas), experiment (Config, run, run_sweep), shipped (the
full-size results the chapter loads), exercises (the chapter's coded exercises, registered on import).
The module follows the phenomenon protocol (minilib.phenomenon; docs/adding-a-chapter.md)."""

from . import exercises  # noqa: F401 - registers the chapter's coded exercises
from .data import OPERATIONS, all_pairs, is_prime
from .experiment import (
    CHAPTER,
    CODE_VERSION,
    METRICS,
    PLOT_GROUPS,
    REPLICA_FIELDS,
    TITLE,
    X_TITLE,
    Config,
    code_version,
    num_steps,
    paper_transformer_config,
    run,
    run_sweep,
    transformer_config,
)
from .losses import collapse_gap, cross_entropy, softmax_collapse, stablemax, stablemax_log_s, stablemax_s
from .optim import OPTIMIZERS, perp_grad
from .shipped import SHIPPED

__all__ = ["CHAPTER", "CODE_VERSION", "METRICS", "OPERATIONS", "OPTIMIZERS", "PLOT_GROUPS", "REPLICA_FIELDS",
           "SHIPPED", "TITLE", "X_TITLE", "Config", "all_pairs", "code_version", "collapse_gap", "cross_entropy",
           "is_prime", "num_steps", "paper_transformer_config", "perp_grad", "run", "run_sweep",
           "softmax_collapse", "stablemax", "stablemax_log_s", "stablemax_s", "transformer_config"]
