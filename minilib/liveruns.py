"""The kernel's side of the live runs: stop flags, Kernel > Interrupt, cell hooks and the registry.

A live run (minilib.explorer) trains in a daemon thread of the notebook's kernel. This module is what lets
such runs end when they should:
- `StopFlag` is the `stop` object a run polls before every step (it also counts the steps done);
- `LIVE` holds one live explorer per phenomenon module (`register` closes the one it replaces), and
  `stop_all` asks every one of them to stop;
- `watch_interrupts` makes Kernel > Interrupt stop every run, and hooks the cell events: a cell that made
  an explorer and runs again ends that explorer's run at once (`before_cell`), and `CELL` records which
  cell runs and when the last one ended (a page's messages reach the kernel only between cells).

It imports nothing of the explorer: what it keeps needs only `cell_id`, `cancel(reason)` and `stop(reason)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CELL", "LIVE", "InterruptHandler", "StopFlag", "live_explorers", "register", "stop_all",
           "unregister", "watch_interrupts"]

# One live explorer per phenomenon module (by module name): a new one closes the old, so re-running a
# cell, Run All, or reopening the notebook in the same kernel never leaves a run training unseen.
LIVE: dict[str, Any] = {}


def live_explorers() -> dict[str, Any]:
    """The explorer last made for each module, by module name (a copy)."""
    return dict(LIVE)


def register(name: str, explorer) -> None:
    """Make `explorer` the live one for module `name`, closing the one it replaces."""
    old = LIVE.get(name)
    if old is not None and old is not explorer:
        old.close()
    LIVE[name] = explorer


def unregister(name: str, explorer) -> None:
    """Forget `explorer` (closed) unless a newer one already replaced it."""
    if LIVE.get(name) is explorer:
        del LIVE[name]


def stop_all(reason: str = "stopped") -> None:
    """Ask every live explorer's run to stop (what Kernel > Interrupt does)."""
    for ex in list(LIVE.values()):
        ex.stop(reason)


class StopFlag:
    """The stop object a run polls: set by Stop, by a new Run, by close() or by a kernel interrupt.

    `minilib.train.train` asks `is_set()` once before every step, so the number of calls is the number of
    steps done: the progress line and a stop's step come from it, independent of the logging schedule.
    """

    def __init__(self, on_tick: Callable[[int], None]):
        self._event = threading.Event()
        self._on_tick = on_tick
        self.calls = 0
        self.reason = ""

    def set(self, reason: str = "stopped"):
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        self.calls += 1
        self._on_tick(self.calls - 1)
        return self._event.is_set()

    @property
    def steps_done(self) -> int:
        return max(self.calls - 1, 0)


class InterruptHandler:
    """A SIGINT handler that stops every explorer's run, then does what the handler it replaced did."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, signum, frame):
        stop_all("kernel interrupted")
        if callable(self.previous):
            self.previous(signum, frame)


_HOOKED = []  # the IPython shell whose cell events are watched (at most one)
#: The notebook cell now executing, as the front end names it (None outside Jupyter), whether one runs, and
#: when the last one ended: a page's messages reach the kernel only between cells.
CELL = {"id": None, "busy": False, "ended": 0.0}


def before_cell(info):
    """A cell that made an explorer runs again: its output is already cleared, so stop that run now.

    Waiting for the new explorer would let the old run send updates to a figure the page no longer has.
    """
    CELL["id"], CELL["busy"] = info.cell_id, True
    if info.cell_id is not None:
        for ex in list(LIVE.values()):
            if ex.cell_id == info.cell_id:
                ex.cancel("its cell runs again")  # ends the run and drops its last updates too


def after_cell(result):
    CELL["busy"], CELL["ended"] = False, time.monotonic()
    if isinstance(result.error_in_exec, KeyboardInterrupt):
        stop_all("kernel interrupted")


def watch_interrupts():
    """Make Kernel > Interrupt stop every explorer's run.

    A training thread never receives KeyboardInterrupt: ipykernel delivers an interrupt as SIGINT to the
    main thread. While a cell runs, the cell gets the KeyboardInterrupt and a post_run_cell hook sees it.
    While the kernel is idle (training in the background), ipykernel ignores SIGINT: after each message it
    restores `kernel.saved_sigint_handler`, so the handler that stops the runs is put there. Outside
    ipykernel (a script, a test) there is nothing to watch.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    if shell not in _HOOKED:
        shell.events.register("pre_run_cell", before_cell)
        shell.events.register("post_run_cell", after_cell)
        _HOOKED.append(shell)
    kernel = getattr(shell, "kernel", None)  # a terminal IPython has no kernel
    saved = getattr(kernel, "saved_sigint_handler", None)  # set by ipykernel while it handles a message
    if saved is not None and not isinstance(saved, InterruptHandler):
        kernel.saved_sigint_handler = InterruptHandler(saved)


# Imported in a chapter's first cells (through minilib.widgets): watching from then on gives the explorer's
# own cell an id.
watch_interrupts()
