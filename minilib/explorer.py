"""The interactive explorer: controls built from a Config, a Run/Stop pair and a live figure.

`explorer(module, config)` returns an `Explorer`, a plain object a test can drive without a browser
(set `ex.controls[name].value`, call `ex.start()`, `ex.wait()`, read `ex.figure.data`). The module is a
phenomenon module (`minilib.phenomenon`): its TITLE, METRICS, PLOT_GROUPS, X_TITLE and num_steps give the
title, legend, panels, axes and progress. Training runs in a daemon thread, so the kernel stays
responsive; the figure is refreshed at most every `REFRESH_SECONDS` from the module's `on_step` reports,
the progress line every `PROGRESS_SECONDS` whatever the logging schedule.

A run never outlives its explorer: making a new explorer for the same module (re-running the cell, Run
All) closes the old one, `close()` stops its run, and Kernel > Interrupt stops every run. On the static
site (runtime.IN_BOOK) `explorer` returns a note instead, because a live figure needs a kernel.
Its figure is a LiveFigure (minilib.livefigure); stop flags, Kernel > Interrupt, the cell hooks and the
one-explorer-per-module registry are minilib.liveruns. Chapters reach all three through minilib.widgets.
Introduced in chapter 0 (`nbs/00_start_here.py`); the choices behind it are in `docs/explorer.md`.
"""


from __future__ import annotations

import contextlib
import html
import itertools
import math
import threading
import time
from collections.abc import Callable

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from minilib import liveruns, phenomenon, plots, runtime
from minilib.controls import control_for
from minilib.livefigure import LiveFigure
from minilib.liveruns import StopFlag
from minilib.runs import Config, ConfigError

__all__ = ["Explorer", "BookNote", "explorer", "control_for", "BOOK_NOTE", "THREAD_PREFIX"]

REFRESH_SECONDS = 0.1  # at most ~10 figure updates a second: each one is a message to the browser
PROGRESS_SECONDS = 0.25  # the progress line moves on this timer, even when no point is logged for minutes
JOIN_SECONDS = 30.0  # how long a cancel waits for the old run to reach its next step
#: A page that drew the figure as first sent but none of the changes sent for this long (while no cell ran)
#: lost its widget's messages (LiveFigure.stuck): the explorer gives the page a new figure. A page answers
#: within a second when the machine is idle; on a shared two-core machine at a load of 10, with a training
#: thread holding the GIL, answers took over 5 s to reach the kernel (the Lab test), hence 10 s.
STUCK_SECONDS = 10.0
MARKERS_UP_TO = 200  # a curve with more points than this is drawn without markers
MAX_VIEWS_REPLACED = 3  # then the status line asks to run the cell again
#: A completed run whose plotted loss peaked above this multiple of its starting value is reported as
#: unstable: it did not diverge to NaN, but its curve is dominated by a spike, not by learning.
UNSTABLE_FACTOR = 10.0
THREAD_PREFIX = "minilib-explorer"  # every training thread's name starts with this (tests count them)
_RUN_NUMBERS = itertools.count(1)  # numbers the threads' names: thread idents are reused, names are not
BOOK_NOTE = (
    "<div class='minilib-explorer-note' style='border-left:4px solid #888;padding:0.5em 1em;"
    "background:#f6f6f6'><b>Live explorer.</b> The live explorer needs a running Python kernel: open this "
    "chapter in JupyterLab (<code>make lab</code>) to train with your own settings. The figure below is "
    "precomputed.</div>"
)
_STATUS_COLORS = {"info": "#555", "ok": "#1a7f37", "warn": "#9a6700", "error": "#cf222e"}
_HINT = "press Run: the curves appear here while the model trains"


def _scalar(v) -> float:
    """One number per log for the live plot: batched replicas (arrays) show their median."""
    a = np.asarray(v, dtype=float)
    return float(a) if a.ndim == 0 else float(np.median(a))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"




# ---------------------------------------------------------------------------------------------- explorer
class Explorer:
    """Controls + Run/Stop + progress + status + live figure for one phenomenon module."""

    def __init__(self, module, base_config: Config, fields=None, metrics=None, *, log_x=False, log_y=False,
                 title=None, hlines: Callable[[Config], dict[str, float]] | None = None):
        phenomenon.check_module(module)
        if not isinstance(base_config, module.Config):
            raise TypeError(f"base_config must be a {module.__name__}.Config, got {type(base_config).__name__}")
        self.module, self.base_config, self.log_x, self.log_y = module, base_config, log_x, log_y
        self.hlines = hlines
        specs = {s.name: s for s in type(base_config).field_specs()}
        fields = list(specs) if fields is None else list(fields)
        for f in fields:
            if f not in specs:
                raise ValueError(f"unknown field {f!r} for {type(base_config).__name__}: "
                                 f"available fields are {list(specs)}")
        grouped = [m for ms in module.PLOT_GROUPS.values() for m in ms]
        metrics = list(dict.fromkeys(grouped)) if metrics is None else (
            [metrics] if isinstance(metrics, str) else list(metrics))
        for m in metrics:
            if m not in module.METRICS:
                raise ValueError(f"unknown metric {m!r}: {module.__name__}.METRICS has {list(module.METRICS)}")
        if not metrics:
            raise ValueError(f"no metrics to plot: pass some of {list(module.METRICS)}")
        self.metrics = metrics
        self.name = phenomenon.short_name(module)
        self.title = title or module.TITLE
        self.unit = module.X_TITLE.split("(")[0].strip()  # "epoch (full-batch step)" -> "epoch"
        # A spike of the training loss, plotted or not, marks a run as unstable; every module so far logs it
        # as "train_loss" (a module without one gets no such check).
        self.watched = "train_loss" if "train_loss" in module.METRICS else None

        self.controls = {f: control_for(specs[f], getattr(base_config, f)) for f in fields}
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="train with these settings (cancels a run in progress)")
        self.stop_button = W.Button(description="Stop", icon="stop", tooltip="stop the run, keep its curves")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress",
                                      style={"description_width": "initial"})
        self.progress_text = W.HTML(value="")
        self.status = W.HTML(value="", layout=W.Layout(width="100%"))
        self.message = ""
        self.figure = self._make_figure()  # the figure as Python holds it; self.view draws it in the page
        self.view = LiveFigure(self.figure)
        self.view.on_first_draw = self._watch_view
        self.views_replaced = 0  # figures given to the page because it had stopped drawing one
        self._view_timer: threading.Timer | None = None
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        grid = W.GridBox(list(self.controls.values()),
                         layout=W.Layout(grid_template_columns="repeat(2, minmax(260px, 1fr))",
                                         grid_gap="4px 16px"))
        buttons = W.HBox([self.run_button, self.stop_button, self.progress, self.progress_text],
                         layout=W.Layout(align_items="center", grid_gap="8px"))
        self.widget = W.VBox([grid, buttons, self.status, self.view])
        self._widgets = [*self.controls.values(), self.run_button, self.stop_button, self.progress,
                         self.progress_text, self.status, self.view, grid, buttons, self.widget]

        self.run = None  # the last finished Run shown in the figure
        self.error: BaseException | None = None
        self.stopped_at: int | None = None  # the step a stopped run actually ended at
        self.closed = False
        self.cell_id = liveruns.CELL["id"]  # the cell that made this explorer
        self._thread: threading.Thread | None = None
        self._flag: StopFlag | None = None
        self._gen = 0  # bumped by every start/cancel; a thread of an older generation never touches the widgets
        self._lock = threading.RLock()
        self._set_status("press Run to train with these settings", "info")

        liveruns.register(module.__name__, self)
        liveruns.watch_interrupts()

    # ------------------------------------------------------------------------------------ figure
    def _groups(self) -> list[tuple[str, list[str]]]:
        """(panel title, metrics) for each panel: the module's PLOT_GROUPS, then one per ungrouped metric."""
        out = [(g, [m for m in ms if m in self.metrics]) for g, ms in self.module.PLOT_GROUPS.items()]
        out = [(g, ms) for g, ms in out if ms]
        grouped = {m for _, ms in out for m in ms}
        return out + [(self.module.METRICS[m], [m]) for m in self.metrics if m not in grouped]

    def _make_figure(self) -> go.Figure:
        groups = self._groups()
        many = len(groups) > 1
        fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[g for g, _ in groups] if many else None,
                            horizontal_spacing=0.12)
        self._trace_index: dict[str, int] = {}
        for col, (g, ms) in enumerate(groups, start=1):
            for m in ms:
                i = self.metrics.index(m)
                fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", marker=dict(size=4),
                                         name=self.module.METRICS[m], meta=m,
                                         line=dict(color=plots.COLORS[i % len(plots.COLORS)])), row=1, col=col)
                self._trace_index[m] = len(fig.data) - 1
            log_y = self.log_y is True or (not isinstance(self.log_y, bool) and g in self.log_y)
            fig.update_xaxes(title_text=self.module.X_TITLE, type="log" if self.log_x else None, row=1, col=col)
            fig.update_yaxes(title_text=g, type="log" if log_y else None, row=1, col=col)
        self._hline_index: dict[str, int] = {}
        if self.hlines is not None:
            # The panel the lines go on: the module's optional HLINES_PANEL (a PLOT_GROUPS title), else the first.
            panel = getattr(self.module, "HLINES_PANEL", None)
            col = next((i for i, (g, _) in enumerate(groups, start=1) if g == panel), 1)
            for label in self.hlines(self.base_config):
                fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=label, hoverinfo="name+y",
                                         line=dict(color="#666", dash="dash", width=1.5)), row=1, col=col)
                self._hline_index[label] = len(fig.data) - 1
        self._n_titles = len(fig.layout.annotations)
        fig.update_layout(template=plots.LAYOUT, title=dict(text=self.title), hovermode="x unified")
        if many:
            # A legend at the right takes a third of the width from every panel (four panels in chapter 4
            # were squeezed to slivers in Lab): side by side panels get the legend below them instead.
            fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=-0.22, yanchor="top"),
                              height=520, margin=dict(b=150))
            fig.update_annotations(font_size=13)  # the panels' titles, narrower than the whole figure's
        self._show_expected(self.base_config, fig)
        self._hint(_HINT, fig)
        return fig

    @contextlib.contextmanager
    def _redraw(self, live: bool = False):
        """Change self.figure inside the block; the page redraws once, at its end (a live redraw waits for
        the page to have drawn the previous one: LiveFigure.drawing)."""
        yield
        if self.view.stuck(STUCK_SECONDS):
            self._replace_view()
        elif not (live and self.view.drawing):
            self.view.show(self.figure)
        self._watch_view()

    def _watch_view(self):
        """Check once more after STUCK_SECONDS that the page drew what was sent: a short run sends its last
        change before a stuck page is noticed."""
        if self._view_timer is None or not self._view_timer.is_alive():
            self._view_timer = threading.Timer(STUCK_SECONDS + 0.25, self._check_view)
            self._view_timer.name, self._view_timer.daemon = "minilib-figure-check", True
            self._view_timer.start()

    def _check_view(self):
        with self._lock:
            if self.closed or not self.view.waiting:
                return
            if self.view.stuck(STUCK_SECONDS):
                self._replace_view()
            else:  # still drawing, or a cell runs: look again later
                self._view_timer = None
                self._watch_view()

    def _replace_view(self):
        """A new figure widget in place of one whose page stopped drawing it (already showing self.figure)."""
        if self.views_replaced >= MAX_VIEWS_REPLACED:
            self._set_status("the figure stopped following the run in this page: run this cell again", "error")
            return
        old, self.view = self.view, LiveFigure(self.figure, with_plotly_js=False)
        self.view.on_first_draw = self._watch_view
        self.widget.children = (*self.widget.children[:-1], self.view)
        self._widgets[self._widgets.index(old)] = self.view
        old.close()
        self.views_replaced += 1

    def _hint(self, text: str | None, fig=None):
        """Show (or with None remove) a note in the middle of the empty figure."""
        fig = self.figure if fig is None else fig
        keep = list(fig.layout.annotations[:self._n_titles])
        if text:
            keep.append(go.layout.Annotation(text=text, xref="paper", yref="paper", x=0.5, y=0.5,
                                             showarrow=False, font=dict(size=15, color="#888")))
        fig.layout.annotations = keep

    def _show_expected(self, cfg: Config, fig=None):
        """Axes for the run about to happen: x from 0 to the config's steps, guide lines at their values."""
        fig = self.figure if fig is None else fig
        total = max(int(self.module.num_steps(cfg)), 1)
        fig.update_xaxes(range=[0, math.log10(total)] if self.log_x else [0, total])
        lines = self.hlines(cfg) if self.hlines is not None else {}
        for label, idx in self._hline_index.items():
            y = float(lines[label])
            fig.data[idx].update(x=[1 if self.log_x else 0, total], y=[y, y], visible=bool(y > 0 or not self.log_y))

    def _show(self, steps, columns: dict[str, list], opacity: float = 1.0, live: bool = False):
        """Put the data so far into the figure, as one update of the page. A live update (while training) is
        left out while the page has not drawn the previous one: the next one carries this data too."""
        steps = np.asarray(steps, dtype=float)
        keep = steps > 0 if self.log_x else np.ones(len(steps), bool)  # log axes cannot show step 0
        # Markers only while they can be told apart: thousands of them made every redraw slow in the page.
        mode = "lines+markers" if keep.sum() <= MARKERS_UP_TO else "lines"
        with self._redraw(live):
            for m, idx in self._trace_index.items():
                self.figure.data[idx].x = steps[keep]
                self.figure.data[idx].y = np.asarray(columns[m], dtype=float)[keep]
                self.figure.data[idx].opacity = opacity
                self.figure.data[idx].mode = mode

    def _grey(self):
        with self._redraw():
            for idx in self._trace_index.values():
                self.figure.data[idx].opacity = 0.3

    # ------------------------------------------------------------------------------------ status
    def _set_status(self, text: str, kind: str):
        self.message = text
        self.status.value = f"<span style='color:{_STATUS_COLORS[kind]}'>{html.escape(text)}</span>"

    def _set_progress(self, done: int, total: int, seconds: float):
        self.progress.value = min(done, total)
        if done <= 0 or seconds <= 0:
            self.progress_text.value = f"0 / {total:,} {self.unit}s"
            return
        rate = done / seconds
        left = f" · about {_duration((total - done) / rate)} left" if done < total else ""
        self.progress_text.value = f"{done:,} / {total:,} {self.unit}s · {rate:,.0f} {self.unit}s/s{left}"

    def _hint_for_lr(self, cfg: Config) -> str:
        return " — try a smaller lr" if "lr" in cfg.to_dict() else ""

    # ------------------------------------------------------------------------------------ control
    def config(self) -> Config:
        """The Config from the current control values (raises ConfigError for invalid values)."""
        return self.base_config.replace(**{name: c.value for name, c in self.controls.items()})

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self, reason: str):
        """End the run in progress (if any) and wait for its thread; its widget updates are dropped."""
        with self._lock:
            self._gen += 1
        if self._flag is not None:
            self._flag.set(reason)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)

    def start(self):
        """What the Run button does: cancel a run in progress, then train in a background thread."""
        if self.closed:
            raise RuntimeError("this explorer was closed (a newer one replaced it): run its cell again")
        liveruns.watch_interrupts()
        self.cancel("replaced by a new run")
        self.error, self.stopped_at = None, None
        try:
            cfg = self.config()
        except (ConfigError, ValueError, TypeError) as err:
            self.error = err
            with self._lock:
                self._grey()
                self.progress.bar_style, self.progress_text.value = "", ""
                shown = " (the curves shown are from the previous settings)" if self.run is not None else ""
                self._set_status(f"invalid settings: {err}{shown}", "error")
            return
        total = max(int(self.module.num_steps(cfg)), 1)
        with self._lock:
            self._gen += 1
            gen = self._gen
            self._show_expected(cfg)
            self._hint(None)
            self._show([], {m: [] for m in self.metrics})  # redraws the page once, with all of the above
            self.progress.max, self.progress.bar_style = total, ""
            self._set_progress(0, total, 0.0)
            self._set_status("running…", "info")
        t0 = time.monotonic()
        last = [t0]

        def tick(done: int):
            now = time.monotonic()
            if now - last[0] >= PROGRESS_SECONDS:
                last[0] = now
                with self._lock:
                    if gen == self._gen:
                        self._set_progress(done, total, now - t0)

        self._flag = StopFlag(tick)
        self._thread = threading.Thread(target=self._work, args=(gen, cfg, self._flag, total, t0),
                                        name=f"{THREAD_PREFIX}-{self.name}-{next(_RUN_NUMBERS)}", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stopped"):
        """What the Stop button does: ask the run to end; its curves so far stay in the figure."""
        if self._flag is not None:
            self._flag.set(reason)

    def close(self):
        """Stop the run, wait for its thread, and close every widget (the explorer cannot run again)."""
        if self.closed:
            return
        self.cancel("closed")
        self.closed = True
        if self._view_timer is not None:
            self._view_timer.cancel()
        for w in self._widgets:
            w.close()
        liveruns.unregister(self.module.__name__, self)

    def wait(self, timeout=None):
        """Block until the current run ends; its Run, or None if it failed or is still running."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return None
        return None if self.error is not None else self.run

    def _work(self, gen: int, cfg: Config, flag: StopFlag, total: int, t0: float):
        steps, columns = [], {m: [] for m in self.metrics}
        last = [0.0]

        def on_step(step, metrics):
            steps.append(step)
            for m in self.metrics:
                columns[m].append(_scalar(metrics[m]) if m in metrics else math.nan)
            now = time.monotonic()
            if now - last[0] >= REFRESH_SECONDS:
                last[0] = now
                with self._lock:
                    if gen == self._gen:
                        self._show(steps, columns, live=True)

        try:
            run = self.module.run(cfg, on_step=on_step, stop=flag, progress=False)
        except Exception as err:  # shown in the status line: a thread's traceback would be lost
            with self._lock:
                if gen == self._gen:
                    self.error = err
                    msg = f"invalid settings: {err}" if isinstance(err, ConfigError) else \
                        f"error: {type(err).__name__}: {err}"
                    self._set_status(msg, "error")
                    self.progress.bar_style = "danger"
            return
        with self._lock:
            if gen != self._gen:
                return
            self._finish(run, cfg, flag, total, time.monotonic() - t0)

    def _finish(self, run, cfg: Config, flag: StopFlag, total: int, seconds: float):
        hist = run.history
        columns = {m: [_scalar(v) for v in hist[m]] if m in hist else [math.nan] * len(hist["step"])
                   for m in self.metrics}
        self._show(hist["step"], columns)
        self.run = run
        last_logged = int(hist["step"][-1]) if len(hist["step"]) else 0
        u = self.unit
        if run.status == "diverged":
            self._set_progress(last_logged, total, seconds)
            self._set_status(f"diverged: the loss became NaN/inf at {u} {run.diverged_at:,} (noticed at "
                             f"{u} {last_logged:,}){self._hint_for_lr(cfg)}", "error")
            self.progress.bar_style = "danger"
        elif run.status == "stopped":
            self.stopped_at = flag.steps_done
            self._set_progress(self.stopped_at, total, seconds)
            why = f" ({flag.reason})" if flag.reason not in ("", "stopped") else ""
            self._set_status(f"stopped at {u} {self.stopped_at:,} of {total:,}{why}; the curves end at the "
                             f"last logged {u}, {last_logged:,}", "warn")
            self.progress.bar_style = "warning"
        else:
            self._set_progress(total, total, seconds)
            spike = self._spike(hist)
            if spike:
                self._set_status(f"completed in {_duration(seconds)}, but unstable: {spike}"
                                 f"{self._hint_for_lr(cfg)}", "warn")
                self.progress.bar_style = "warning"
            else:
                self._set_status(f"completed: {total:,} {u}s in {seconds:.1f} s", "ok")
                self.progress.bar_style = "success"

    def _spike(self, hist: dict) -> str:
        """Words for a training-loss spike (a peak over UNSTABLE_FACTOR times its start), or ''."""
        if self.watched is None or self.watched not in hist:
            return ""
        y = np.asarray([_scalar(v) for v in hist[self.watched]])
        y = y[np.isfinite(y)]
        if len(y) < 2 or y[0] <= 0 or y.max() <= UNSTABLE_FACTOR * y[0]:
            return ""
        return (f"{self.module.METRICS[self.watched]} peaked at {y.max():.3g}, {y.max() / y[0]:,.0f}× its "
                f"start ({y[0]:.3g})")

    # ------------------------------------------------------------------------------------ display
    def _ipython_display_(self):
        from IPython.display import HTML, display

        display(HTML(BOOK_NOTE) if runtime.IN_BOOK else self.widget)

    def _repr_mimebundle_(self, **kwargs):
        if runtime.IN_BOOK:
            return {"text/html": BOOK_NOTE, "text/plain": "Live explorer: needs a running Python kernel."}
        return self.widget._repr_mimebundle_(**kwargs)


class BookNote:
    """What `explorer` gives on the static site: the note alone, with no widgets made (nothing to save)."""

    def _repr_mimebundle_(self, **kwargs):
        return {"text/html": BOOK_NOTE, "text/plain": "Live explorer: needs a running Python kernel."}


def explorer(module, base_config: Config, fields=None, metrics=None, *, log_x=False, log_y=False,
             title=None, hlines=None) -> Explorer | BookNote:
    """An interactive explorer for a phenomenon module, starting from base_config (see Explorer).

    `hlines(config) -> {label: y}` draws dashed reference lines (e.g. the noise level) that follow the
    settings of each run. While the book's static site is built (runtime.IN_BOOK) it returns a BookNote
    instead: a live figure needs a kernel, and widgets made but never shown would only bloat the page.
    """
    if runtime.IN_BOOK:
        return BookNote()
    return Explorer(module, base_config, fields, metrics, log_x=log_x, log_y=log_y, title=title, hlines=hlines)
