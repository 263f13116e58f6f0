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
Introduced in chapter 0 (`nbs/00_start_here.py`); the choices behind it are in `docs/explorer.md`.
"""

from __future__ import annotations

import contextlib
import functools
import html
import importlib.resources
import itertools
import json
import math
import sys
import threading
import time
from collections.abc import Callable

import anywidget
import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import plotly.utils
import traitlets
from plotly.subplots import make_subplots

from minilib import phenomenon, plots, runtime
from minilib.runs import Config, ConfigError, FieldSpec

__all__ = ["Explorer", "BookNote", "LiveFigure", "explorer", "control_for", "live_explorers", "stop_all",
           "BOOK_NOTE", "THREAD_PREFIX"]

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

# One live explorer per phenomenon module (by module name): a new one closes the old, so re-running a
# cell, Run All, or reopening the notebook in the same kernel never leaves a run training unseen.
_LIVE: dict[str, Explorer] = {}


def live_explorers() -> dict[str, Explorer]:
    """The explorer last made for each module, by module name (a copy)."""
    return dict(_LIVE)


def stop_all(reason: str = "stopped") -> None:
    """Ask every live explorer's run to stop (what Kernel > Interrupt does)."""
    for ex in list(_LIVE.values()):
        ex.stop(reason)


# ---------------------------------------------------------------------------------------------- controls
def _log_ints(low: int, high: int, current: int, n: int = 41) -> list[int]:
    """About n log-spaced integers from low to high, always including both ends and the current value.

    Each is rounded to two significant digits (1,200 rather than 1,187): a reader picks a round number.
    """
    start = max(low, 1)
    pts = np.geomspace(start, high, n) if high > start else np.array([start])
    digits = np.floor(np.log10(pts)).astype(int) - 1
    rounded = [int(round(p, -d)) if d > 0 else int(round(p)) for p, d in zip(pts, digits)]
    return sorted({v for v in rounded if low <= v <= high} | {low, high, current})


def _nice_step(span: float, n: int = 100) -> float:
    """A 1, 2 or 5 times a power of ten near span / n, so slider positions are round numbers."""
    raw = span / n
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw * (1 - 1e-9))


def control_for(spec: FieldSpec, value) -> W.Widget:
    """The widget for one Config field: its kind follows the field's type, range, choices and log flag.

    A slider spans the field's `widget` range where one is declared (a demo range inside the validation
    range), widened to include `value` so the starting config always shows.
    """
    common = dict(description=spec.name, tooltip=spec.help or spec.name, style={"description_width": "initial"},
                  layout=W.Layout(width="auto"))
    lo, hi = spec.widget if spec.widget is not None else (spec.low, spec.high)
    bounded = lo is not None and hi is not None
    if bounded and spec.type in (int, float):
        lo, hi = min(lo, value), max(hi, value)
    if spec.choices:
        return W.Dropdown(options=list(spec.choices), value=value, **common)
    if spec.type is bool:
        return W.Checkbox(value=bool(value), indent=False, **common)
    if spec.type is int:
        if bounded and spec.log and hi > max(lo, 1):
            return W.SelectionSlider(options=_log_ints(int(lo), int(hi), int(value)),
                                     value=int(value), continuous_update=False, **common)
        if bounded:
            return W.IntSlider(value=int(value), min=int(lo), max=int(hi), step=1, continuous_update=False,
                               **common)
        if lo is None and hi is None:
            return W.IntText(value=int(value), **common)
        return W.BoundedIntText(value=int(value), min=-sys.maxsize if lo is None else int(lo),
                                max=sys.maxsize if hi is None else int(hi), **common)
    if spec.type is float:
        if bounded and spec.log and lo > 0:
            llo, lhi = math.log10(lo), math.log10(hi)
            return W.FloatLogSlider(value=float(value), base=10, min=llo, max=lhi, step=_nice_step(lhi - llo),
                                    readout_format=".3g", continuous_update=False, **common)
        if bounded:
            return W.FloatSlider(value=float(value), min=float(lo), max=float(hi), step=_nice_step(hi - lo),
                                 readout_format=".3g", continuous_update=False, **common)
        if lo is None and hi is None:
            return W.FloatText(value=float(value), **common)
        big = sys.float_info.max
        return W.BoundedFloatText(value=float(value), min=-big if lo is None else float(lo),
                                  max=big if hi is None else float(hi), **common)
    return W.Text(value=str(value), **common)


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


# ---------------------------------------------------------------------------------------------- live figure
# Why not plotly's own go.FigureWidget: it is an anywidget whose JavaScript module is plotly.js itself
# (5 MB), and anywidget (>= 0.9.14) gives a widget's module 2 seconds to load. On a busy machine (a kernel
# training on every core, several notebooks open) loading it took longer; anywidget then drops every later
# message to that widget without a word, and the figure stays an empty plot while the status line says the
# run progresses (seen in the Lab test; reproduced by shortening that deadline). LiveFigure's module is a
# few lines that load within the deadline; plotly.js itself is loaded when the figure is drawn, which has
# no deadline, once per browser page. The curves travel as binary float64 arrays, not JSON text.
# Even that small module missed the deadline in the Lab test at a load of 10 on two cores. The page then
# still draws the figure as it was first sent, but never hears of a change. So the page tells the kernel
# which version it drew; on its first report the kernel sends a new version at once, and the explorer
# replaces a figure whose page never draws it (LiveFigure.stuck), usually before anyone presses Run.
_LIVE_FIGURE_ESM = r"""
function plotly(model) {
  // One plotly.js per page, from the copy the kernel sent (the book works offline: no CDN). A figure that
  // replaces a stuck one comes without the copy: its page has loaded plotly.js already.
  if (!globalThis.__minilibPlotly) {
    const source = model.get("_plotly_js");
    if (!source) return Promise.resolve(globalThis.Plotly);
    globalThis.__minilibPlotly = new Promise((resolve) => setTimeout(() => {
      const module = { exports: {} };
      new Function("module", "exports", source)(module, module.exports);
      resolve(module.exports);
    }, 0));
  }
  return globalThis.__minilibPlotly;
}

function figure(model) {
  const spec = model.get("spec"), columns = model.get("columns") || {};
  const array = (v) => v instanceof DataView
    ? new Float64Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) : v;
  const data = (spec.data || []).map((trace, i) => {
    const t = { ...trace };
    for (const k of ["x", "y"]) if (columns[`${i}.${k}`] !== undefined) t[k] = array(columns[`${i}.${k}`]);
    return t;
  });
  return { data, layout: { ...(spec.layout || {}) } };
}

export default {
  async render({ model, el }) {
    const Plotly = await plotly(model);
    let busy = false, again = false, gone = false;
    const draw = async () => {
      if (busy) { again = true; return; }  // redraw once the current one is done, with the newest data
      busy = true;
      try {
        do {
          again = false;
          const version = model.get("version"), { data, layout } = figure(model);
          if (gone) break;
          try {
            await Plotly.react(el, data, layout, { responsive: true, displaylogo: false });
          } finally {
            model.send({ drawn: version });  // the kernel sends the next live update only after this
          }
        } while (again && !gone);
      } finally { busy = false; }
    };
    model.on("change:version", draw);  // every change the kernel sends comes with a new version
    // Lab lays the cell out after the first draw: follow the width the output area gets.
    const resized = new ResizeObserver(() => { if (!gone && el.layout) Plotly.Plots.resize(el); });
    resized.observe(el);
    await draw();
    return () => {
      gone = true;
      resized.disconnect();
      model.off("change:version", draw);
      Plotly.purge(el);
    };
  },
};
"""


@functools.cache
def _plotly_js() -> str:
    """The plotly.js that ships inside the plotly package (the version plotly's Python side expects)."""
    return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


class LiveFigure(anywidget.AnyWidget):
    """A plotly figure drawn in the page that follows a go.Figure kept in Python (`show(fig)` redraws it).

    `spec` holds the figure without its x and y arrays, `columns` those arrays as float64 bytes (key
    "<trace index>.x" / ".y"); the page redraws with Plotly.react, which keeps zoom and hover working.
    """

    _esm = _LIVE_FIGURE_ESM
    spec = traitlets.Dict().tag(sync=True)
    columns = traitlets.Dict().tag(sync=True)
    version = traitlets.Int(0).tag(sync=True)  # counts show() calls; the page answers with the one it drew
    _plotly_js = traitlets.Unicode().tag(sync=True)

    def __init__(self, fig: go.Figure | None = None, *, with_plotly_js: bool = True, **kwargs):
        spec, columns = self._split(fig if fig is not None else go.Figure())
        # Everything in the widget's first message: a page that misses every later one still draws it.
        super().__init__(spec=spec, columns=columns, _plotly_js=_plotly_js() if with_plotly_js else "", **kwargs)
        self.drawn: int | None = None  # the newest version a page reported drawn (None: no page drew it yet)
        self._changed_at: float | None = None  # when the first change was sent
        self.on_first_draw: Callable[[], None] | None = None  # called after the first report and its probe
        self.on_msg(self._on_page_message)

    def _on_page_message(self, _widget, content, _buffers):
        if not (isinstance(content, dict) and isinstance(content.get("drawn"), int)):
            return
        first = self.drawn is None
        self.drawn = max(self.drawn if self.drawn is not None else -1, content["drawn"])
        if first and self.drawn == 0 and self.version == 0:
            # A probe: a new version with nothing changed, which a page that hears the kernel draws at once.
            self.version += 1
            self._changed_at = time.monotonic()
            if self.on_first_draw is not None:
                self.on_first_draw()

    @property
    def drawing(self) -> bool:
        """A page that drew this figure has not reported drawing its latest version yet.

        The explorer sends no live update meanwhile: a page that draws more slowly than the kernel sends
        (a busy machine, many points) fell minutes behind, its Stop and status line with it (the Lab test).
        """
        return self.drawn is not None and self.drawn < self.version

    @property
    def waiting(self) -> bool:
        """A page drew this figure as first sent and has drawn none of the changes sent since (yet)."""
        return self.drawn == 0 and self._changed_at is not None

    def stuck(self, seconds: float) -> bool:
        """A page drew this figure as first sent, but none of the changes sent since, for `seconds` while
        the kernel was free to hear its answer: the widget lost its messages when it was made (the note
        above _LIVE_FIGURE_ESM), which is the one way anywidget loses them. A page that drew any change
        is never stuck, however slowly it draws (a busy kernel hears its answers late)."""
        if not self.waiting or _CELL["busy"]:
            return False  # no page yet; it drew a change; or a cell runs and the page's answer waits for it
        return time.monotonic() - max(self._changed_at, _CELL["ended"]) > seconds

    @staticmethod
    def _split(fig: go.Figure) -> tuple[dict, dict]:
        data, columns = [], {}
        for i, trace in enumerate(fig.data):
            props = trace.to_plotly_json()
            for k in ("x", "y"):
                try:  # numbers travel as bytes; anything else (category names, dates) stays in the JSON
                    columns[f"{i}.{k}"] = np.asarray(props[k], dtype=np.float64).tobytes()
                    del props[k]
                except (KeyError, TypeError, ValueError):
                    pass
            data.append(props)
        d = {"data": data, "layout": fig.layout.to_plotly_json()}
        return json.loads(json.dumps(d, cls=plotly.utils.PlotlyJSONEncoder)), columns

    def show(self, fig: go.Figure):
        """Redraw the page's figure as fig (one message; an unchanged layout is not sent again)."""
        spec, columns = self._split(fig)
        with self.hold_sync():
            self.spec = spec
            self.columns = columns
            self.version += 1
        if self._changed_at is None:
            self._changed_at = time.monotonic()


# ---------------------------------------------------------------------------------------------- stopping
class _StopFlag:
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


class _InterruptHandler:
    """A SIGINT handler that stops every explorer's run, then does what the handler it replaced did."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, signum, frame):
        stop_all("kernel interrupted")
        if callable(self.previous):
            self.previous(signum, frame)


_CELL_HOOK = []  # the IPython shell whose cell events are watched (at most one)
#: The notebook cell now executing, as the front end names it (None outside Jupyter), whether one runs, and
#: when the last one ended: a page's messages reach the kernel only between cells.
_CELL = {"id": None, "busy": False, "ended": 0.0}


def _before_cell(info):
    """A cell that made an explorer runs again: its output is already cleared, so stop that run now.

    Waiting for the new explorer would let the old run send updates to a figure the page no longer has.
    """
    _CELL["id"], _CELL["busy"] = info.cell_id, True
    if info.cell_id is not None:
        for ex in list(_LIVE.values()):
            if ex.cell_id == info.cell_id:
                ex._cancel("its cell runs again")  # ends the run and drops its last updates too


def _after_cell(result):
    _CELL["busy"], _CELL["ended"] = False, time.monotonic()
    if isinstance(result.error_in_exec, KeyboardInterrupt):
        stop_all("kernel interrupted")


def _watch_interrupts():
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
    if shell not in _CELL_HOOK:
        shell.events.register("pre_run_cell", _before_cell)
        shell.events.register("post_run_cell", _after_cell)
        _CELL_HOOK.append(shell)
    kernel = getattr(shell, "kernel", None)  # a terminal IPython has no kernel
    saved = getattr(kernel, "saved_sigint_handler", None)  # set by ipykernel while it handles a message
    if saved is not None and not isinstance(saved, _InterruptHandler):
        kernel.saved_sigint_handler = _InterruptHandler(saved)


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
        self.cell_id = _CELL["id"]  # the cell that made this explorer
        self._thread: threading.Thread | None = None
        self._flag: _StopFlag | None = None
        self._gen = 0  # bumped by every start/cancel; a thread of an older generation never touches the widgets
        self._lock = threading.RLock()
        self._set_status("press Run to train with these settings", "info")

        old = _LIVE.get(module.__name__)
        if old is not None and old is not self:
            old.close()
        _LIVE[module.__name__] = self
        _watch_interrupts()

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

    def _cancel(self, reason: str):
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
        _watch_interrupts()
        self._cancel("replaced by a new run")
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

        self._flag = _StopFlag(tick)
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
        self._cancel("closed")
        self.closed = True
        if self._view_timer is not None:
            self._view_timer.cancel()
        for w in self._widgets:
            w.close()
        if _LIVE.get(self.module.__name__) is self:
            del _LIVE[self.module.__name__]

    def wait(self, timeout=None):
        """Block until the current run ends; its Run, or None if it failed or is still running."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return None
        return None if self.error is not None else self.run

    def _work(self, gen: int, cfg: Config, flag: _StopFlag, total: int, t0: float):
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

    def _finish(self, run, cfg: Config, flag: _StopFlag, total: int, seconds: float):
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


# Imported in a chapter's first cells: watching from then on gives the explorer's own cell an id.
_watch_interrupts()
