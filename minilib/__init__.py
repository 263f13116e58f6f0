"""minilib: the small library behind the book. Each chapter imports what it needs from here.

    from minilib import runtime, plots, widgets, cache
    from minilib import grokking            # one module per phenomenon

Layers (docs/adding-a-chapter.md): phenomenon modules (Config -> run() -> Run), plots (Runs -> figures),
widgets (controls -> live figures), cache (train-or-load of full-size results).
"""

__version__ = "0.1.0"

from . import display, runtime  # noqa: E402
from .cache import run_or_load, run_or_load_many  # noqa: E402
from .runs import Config, ConfigError, CorruptRunError, Run, param  # noqa: E402

__all__ = ["runtime", "run_or_load", "run_or_load_many", "Config", "ConfigError", "CorruptRunError", "Run",
           "param", "__version__"]

display.register()  # plotly figures show in JupyterLab and on the static site alike
