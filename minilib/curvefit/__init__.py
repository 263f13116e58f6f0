"""Chapter 0 — fitting a noisy curve: the kit shown on an experiment that trains in seconds on a CPU.

`curvefit.run(Config(...))` trains a one-hidden-layer MLP on a noisy 1-D function. Submodules: experiment
(Config, the data, the net, run, run_sweep), exercises (the chapter's coded exercises, registered on
import). The module follows the phenomenon protocol (minilib.phenomenon; docs/adding-a-chapter.md).
"""

from . import exercises  # noqa: F401 - registers the chapter's coded exercises
from .experiment import (
    CHAPTER,
    CODE_VERSION,
    METRICS,
    N_TEST,
    PLOT_GROUPS,
    REPLICA_FIELDS,
    SHIPPED,
    TARGETS,
    TITLE,
    X_TITLE,
    Config,
    forward,
    init_weights,
    make_data,
    mse,
    num_steps,
    run,
    run_sweep,
)

__all__ = ["CHAPTER", "CODE_VERSION", "METRICS", "N_TEST", "PLOT_GROUPS", "REPLICA_FIELDS", "SHIPPED", "TARGETS",
           "TITLE", "X_TITLE", "Config", "forward", "init_weights", "make_data", "mse", "num_steps",
           "run", "run_sweep"]
