"""Chapter 1 — grokking: Softmax Collapse, StableMax and ⊥Grad (Prieto et al. 2025).

`grokking.run(Config(...))` trains the paper's MLP (or Nanda's transformer) on modular arithmetic.
Submodules: data (the task), losses (softmax/StableMax CE, collapse), optim (AdamW/SGD/⊥Grad),
models (stacked MLP and transformer), experiment (Config, run, run_sweep), __main__ (precompute).
"""

from .data import OPERATIONS, all_pairs, is_prime
from .experiment import (
                         CODE_VERSION,
                         METRICS,
                         PER_REPLICA,
                         PLOT_GROUPS,
                         X_TITLE,
                         Config,
                         num_steps,
                         run,
                         run_sweep,
                         shape_key,
                         transformer_config,
)
from .losses import collapse_gap, cross_entropy, softmax_collapse, stablemax, stablemax_log_s, stablemax_s
from .optim import OPTIMIZERS, StackedOptimizer, perp_grad

__all__ = ["CODE_VERSION", "METRICS", "OPERATIONS", "OPTIMIZERS", "PER_REPLICA", "PLOT_GROUPS", "X_TITLE", "Config",
           "StackedOptimizer", "all_pairs", "collapse_gap", "cross_entropy", "is_prime", "num_steps",
           "perp_grad", "run", "run_sweep", "shape_key", "softmax_collapse", "stablemax", "stablemax_log_s",
           "stablemax_s", "transformer_config"]
