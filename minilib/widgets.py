"""The live explorer, as the chapters import it: `from minilib import widgets; widgets.explorer(module, config)`.

The explorer lives in three modules, each with one trade, and this one gathers their public names:
- `minilib.explorer`: the Explorer (controls, Run/Stop, progress and status around a live figure);
  its controls come from `minilib.controls`;
- `minilib.livefigure`: LiveFigure, a plotly figure in the page that follows one in Python (its page side
  is `livefigure.js`);
- `minilib.liveruns`: the kernel's side of a live run (stop flags, Kernel > Interrupt, the cell hooks and
  the one-explorer-per-module registry).
The choices behind them are in `docs/explorer.md`.
"""

from minilib.controls import control_for
from minilib.explorer import (
    BOOK_NOTE,
    MARKERS_UP_TO,
    MAX_VIEWS_REPLACED,
    STUCK_SECONDS,
    THREAD_PREFIX,
    UNSTABLE_FACTOR,
    BookNote,
    Explorer,
    explorer,
)
from minilib.livefigure import LiveFigure
from minilib.liveruns import live_explorers, stop_all

__all__ = ["BOOK_NOTE", "MARKERS_UP_TO", "MAX_VIEWS_REPLACED", "STUCK_SECONDS", "THREAD_PREFIX", "UNSTABLE_FACTOR",
           "BookNote", "Explorer", "LiveFigure", "control_for", "explorer", "live_explorers", "stop_all"]
