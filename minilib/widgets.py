"""The interactive explorer: controls built from a Config, a Run/Stop pair and a live figure.

`explorer(module, config)` returns an `Explorer`, a plain object a test can drive without a browser
(set `ex.controls[name].value`, call `ex.start()`, `ex.wait()`, read `ex.figure.data`). Training runs
in a daemon thread, so the kernel stays responsive; the figure is refreshed at most every
`REFRESH_SECONDS` from the module's `on_step` reports. On the static site (runtime.IN_BOOK) it shows
a note instead, because a live figure needs a kernel. Introduced in chapter 0 (`nbs/00_start_here.py`).
"""

from __future__ import annotations

import html
import math
import sys
import threading
import time

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from minilib import plots, runtime
from minilib.runs import Config, ConfigError, FieldSpec

__all__ = ["Explorer", "BookNote", "explorer", "control_for", "BOOK_NOTE"]

REFRESH_SECONDS = 0.1  # at most ~10 figure updates a second: each one is a message to the browser
JOIN_SECONDS = 30.0  # how long Run waits for a cancelled run to notice its stop flag
BOOK_NOTE = (
    "<div class='minilib-explorer-note' style='border-left:4px solid #888;padding:0.5em 1em;"
    "background:#f6f6f6'><b>Live explorer.</b> The live explorer needs a running Python kernel: open this "
    "chapter in JupyterLab (<code>make lab</code>) to train with your own settings. The figure below is "
    "precomputed.</div>"
)
_STATUS_COLORS = {"info": "#555", "ok": "#1a7f37", "warn": "#9a6700", "error": "#cf222e"}


def _log_ints(low: int, high: int, current: int, n: int = 41) -> list[int]:
    """About n log-spaced integers from low to high, always including both ends and the current value."""
    start = max(low, 1)
    pts = np.round(np.geomspace(start, high, n)).astype(int).tolist() if high > start else [start]
    return sorted(set(pts) | {low, high, current})


def control_for(spec: FieldSpec, value) -> W.Widget:
    """The widget for one Config field: its kind follows the field's type, range, choices and log flag."""
    common = dict(description=spec.name, tooltip=spec.help or spec.name, style={"description_width": "initial"},
                  layout=W.Layout(width="auto"))
    bounded = spec.low is not None and spec.high is not None
    if spec.choices:
        return W.Dropdown(options=list(spec.choices), value=value, **common)
    if spec.type is bool:
        return W.Checkbox(value=bool(value), indent=False, **common)
    if spec.type is int:
        if bounded and spec.log and spec.high > max(spec.low, 1):
            return W.SelectionSlider(options=_log_ints(int(spec.low), int(spec.high), int(value)),
                                     value=int(value), continuous_update=False, **common)
        if bounded:
            return W.IntSlider(value=int(value), min=int(spec.low), max=int(spec.high), step=1,
                               continuous_update=False, **common)
        if spec.low is None and spec.high is None:
            return W.IntText(value=int(value), **common)
        return W.BoundedIntText(value=int(value), min=-sys.maxsize if spec.low is None else int(spec.low),
                                max=sys.maxsize if spec.high is None else int(spec.high), **common)
    if spec.type is float:
        if bounded and spec.log and spec.low > 0:
            lo, hi = math.log10(spec.low), math.log10(spec.high)
            return W.FloatLogSlider(value=float(value), base=10, min=lo, max=hi, step=(hi - lo) / 100,
                                    readout_format=".3g", continuous_update=False, **common)
        if bounded:
            return W.FloatSlider(value=float(value), min=float(spec.low), max=float(spec.high),
                                 step=(spec.high - spec.low) / 100, readout_format=".3g",
                                 continuous_update=False, **common)
        if spec.low is None and spec.high is None:
            return W.FloatText(value=float(value), **common)
        big = sys.float_info.max
        return W.BoundedFloatText(value=float(value), min=-big if spec.low is None else float(spec.low),
                                  max=big if spec.high is None else float(spec.high), **common)
    return W.Text(value=str(value), **common)


def _total_steps(module, config) -> int | None:
    if hasattr(module, "num_steps"):
        return int(module.num_steps(config))
    for name in ("epochs", "steps", "num_steps"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    return None


def _scalar(v) -> float:
    """One number per log for the live plot: batched replicas (arrays) show their median."""
    a = np.asarray(v, dtype=float)
    return float(a) if a.ndim == 0 else float(np.median(a))


class Explorer:
    """Controls + Run/Stop + progress + status + live figure for one phenomenon module."""

    def __init__(self, module, base_config: Config, fields=None, metrics=None, *, log_x=False, log_y=False,
                 title=None):
        if not isinstance(base_config, Config):
            raise TypeError(f"base_config must be a minilib Config, got {type(base_config).__name__}")
        self.module, self.base_config, self.log_x = module, base_config, log_x
        specs = {s.name: s for s in type(base_config).field_specs()}
        fields = list(specs) if fields is None else list(fields)
        for f in fields:
            if f not in specs:
                raise ValueError(f"unknown field {f!r} for {type(base_config).__name__}: "
                                 f"available fields are {list(specs)}")
        known = list(getattr(module, "METRICS", ()))
        metrics = self._default_metrics(module) if metrics is None else (
            [metrics] if isinstance(metrics, str) else list(metrics))
        for m in metrics:
            if known and m not in known:
                raise ValueError(f"unknown metric {m!r}: {module.__name__}.METRICS has {known}")
        if not metrics:
            raise ValueError("no metrics to plot: pass metrics=[...] or define module.METRICS")
        self.metrics = metrics
        self.name = module.__name__.rsplit(".", 1)[-1]
        self.title = title or f"{self.name} explorer"

        self.controls = {f: control_for(specs[f], getattr(base_config, f)) for f in fields}
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="train with these settings (cancels a run in progress)")
        self.stop_button = W.Button(description="Stop", icon="stop", tooltip="stop the run, keep its curves")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress",
                                      style={"description_width": "initial"})
        self.status = W.HTML(value="")
        self.message = ""
        self.figure = self._make_figure(log_y)
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        grid = W.GridBox(list(self.controls.values()),
                         layout=W.Layout(grid_template_columns="repeat(2, minmax(260px, 1fr))",
                                         grid_gap="4px 16px"))
        buttons = W.HBox([self.run_button, self.stop_button, self.progress, self.status],
                         layout=W.Layout(align_items="center", grid_gap="8px"))
        self.widget = W.VBox([grid, buttons, self.figure])

        self.run = None  # the last finished Run shown in the figure
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: threading.Event | None = None
        self._gen = 0  # bumped by start(); a thread from an older generation never touches the widgets
        self._lock = threading.Lock()
        self._set_status("press Run to train with these settings", "info")

    # ------------------------------------------------------------------------------------ figure
    @staticmethod
    def _default_metrics(module) -> list[str]:
        groups = getattr(module, "PLOT_GROUPS", None)
        if groups:
            return [m for ms in groups.values() for m in ms]
        return list(getattr(module, "METRICS", ()))[:2]

    def _groups(self) -> list[tuple[str, list[str]]]:
        groups = getattr(self.module, "PLOT_GROUPS", None) or {}
        out = [(g, [m for m in ms if m in self.metrics]) for g, ms in groups.items()]
        out = [(g, ms) for g, ms in out if ms]
        grouped = {m for _, ms in out for m in ms}
        out += [(m, [m]) for m in self.metrics if m not in grouped]
        return out if len(out) > 1 else [(", ".join(self.metrics), list(self.metrics))]

    def _make_figure(self, log_y) -> go.FigureWidget:
        groups = self._groups()
        x_title = getattr(self.module, "X_TITLE", "step")
        fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[g for g, _ in groups] if len(groups) > 1
                            else None, horizontal_spacing=0.12)
        self._trace_index: dict[str, int] = {}
        for col, (g, ms) in enumerate(groups, start=1):
            for m in ms:
                i = self.metrics.index(m)
                fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", marker=dict(size=4), name=m,
                                         line=dict(color=plots.COLORS[i % len(plots.COLORS)])), row=1, col=col)
                self._trace_index[m] = len(fig.data) - 1
            is_log_y = log_y is True or (not isinstance(log_y, bool) and g in log_y)
            fig.update_xaxes(title_text=x_title, type="log" if self.log_x else None, row=1, col=col)
            fig.update_yaxes(title_text=g, type="log" if is_log_y else None, row=1, col=col)
        fig.update_layout(template=plots.LAYOUT, title=dict(text=self.title), hovermode="x unified")
        return go.FigureWidget(fig)

    def _show(self, steps, columns: dict[str, list]):
        """Put the data so far into the figure, as one batched update."""
        steps = np.asarray(steps, dtype=float)
        keep = steps > 0 if self.log_x else np.ones(len(steps), bool)  # log axes cannot show step 0
        with self.figure.batch_update():
            for m, idx in self._trace_index.items():
                self.figure.data[idx].x = steps[keep]
                self.figure.data[idx].y = np.asarray(columns[m], dtype=float)[keep]

    # ------------------------------------------------------------------------------------ status
    def _set_status(self, text: str, kind: str):
        self.message = text
        self.status.value = f"<span style='color:{_STATUS_COLORS[kind]}'>{html.escape(text)}</span>"

    # ------------------------------------------------------------------------------------ control
    def config(self) -> Config:
        """The Config from the current control values (raises ConfigError for invalid values)."""
        return self.base_config.replace(**{name: c.value for name, c in self.controls.items()})

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        """What the Run button does: cancel a run in progress, then train in a background thread."""
        with self._lock:
            self._gen += 1
            gen = self._gen
        old, old_stop = self._thread, self._stop_event
        if old is not None and old.is_alive():
            old_stop.set()
            old.join(JOIN_SECONDS)
        self.error = None
        try:
            cfg = self.config()
        except (ConfigError, ValueError, TypeError) as err:
            self.error = err
            self._set_status(str(err), "error")
            return
        total = _total_steps(self.module, cfg)
        with self._lock:
            self._show([], {m: [] for m in self.metrics})
            self.progress.max, self.progress.value, self.progress.bar_style = max(total or 1, 1), 0, ""
            self._set_status("running…", "info")
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(gen, cfg, self._stop_event),
                                        name=f"minilib-explorer-{self.name}", daemon=True)
        self._thread.start()

    def stop(self):
        """What the Stop button does: ask the run to end; its curves so far stay in the figure."""
        if self._stop_event is not None:
            self._stop_event.set()

    def wait(self, timeout=None):
        """Block until the current run ends; its Run, or None if it failed or is still running."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return None
        return None if self.error is not None else self.run

    def _work(self, gen: int, cfg: Config, stop: threading.Event):
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
                        self.progress.value = min(int(step), self.progress.max)
                        self._show(steps, columns)

        t0 = time.monotonic()
        try:
            run = self.module.run(cfg, on_step=on_step, stop=stop, progress=False)
        except Exception as err:  # shown in the status line: a thread's traceback would be lost
            with self._lock:
                if gen == self._gen:
                    self.error = err
                    msg = str(err) if isinstance(err, ConfigError) else f"error: {type(err).__name__}: {err}"
                    self._set_status(msg, "error")
                    self.progress.bar_style = "danger"
            return
        with self._lock:
            if gen != self._gen:
                return
            hist = run.history
            self._show(hist["step"], {m: [_scalar(v) for v in hist[m]] if m in hist
                                      else [math.nan] * len(hist["step"]) for m in self.metrics})
            self.run = run
            last_step = int(hist["step"][-1]) if len(hist["step"]) else 0
            if run.status == "diverged":
                hint = "try a smaller lr" if "lr" in cfg.to_dict() else "try a smaller step size"
                self._set_status(f"diverged at step {run.diverged_at} (loss became NaN/inf) — {hint}", "error")
                self.progress.bar_style = "danger"
            elif run.status == "stopped":
                self._set_status(f"stopped at step {last_step}", "warn")
                self.progress.bar_style = "warning"
            else:
                self._set_status(f"completed: {last_step} steps in {time.monotonic() - t0:.1f} s", "ok")
                self.progress.value, self.progress.bar_style = self.progress.max, "success"

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
             title=None) -> Explorer | BookNote:
    """An interactive explorer for a phenomenon module, starting from base_config (see Explorer).

    While the book's static site is built (runtime.IN_BOOK) it returns a BookNote instead: a live figure
    needs a kernel, and widgets made but never shown would only bloat the page.
    """
    if runtime.IN_BOOK:
        return BookNote()
    return Explorer(module, base_config, fields, metrics, log_x=log_x, log_y=log_y, title=title)
