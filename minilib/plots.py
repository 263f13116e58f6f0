"""Figure builders shared by every chapter: Runs in, plotly Figure out (no training, no widgets).

Every builder applies the `LAYOUT` template and sets a title and axis titles, so a chapter only adds
a caption. Seed groups (runs that share a label) are drawn as the median with a shaded quantile band.

Legibility, on a page column ~750 px wide: the legend sits below the plot (never on its right, where
long names squeezed the plot to a third of the figure); trace names are short (a metric's words up to
its first colon, without its unit: the unit is on the axis title, what all traces share is the legend's
title); log axes read in powers of ten; axis margins grow to fit tick labels and titles. A figure built
by hand gets the same by using `template=LAYOUT` (every chapter does) and, when it has a log axis or a
legend set by hand, `legible(fig)`.
Introduced in chapter 0 (`nbs/00_start_here.py`); every chapter uses it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
import warnings
from collections.abc import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["LAYOUT", "COLORS", "curves", "final_vs", "first_steps", "heatmap", "phase_diagram", "sweep_slider",
           "add_threshold", "metric_label", "legible", "short_name", "LEGEND_BELOW"]

COLORS = plotly.colors.qualitative.Plotly
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
NOT_REACHED_GREY = "rgb(200, 200, 200)"
# Fields that never tell two runs apart in a legend: runs differing only in these form a seed group.
_NOT_A_LABEL = ("seed", "device", "dtype")

# Below the plot, left-aligned, in rows (plotly wraps a horizontal legend to the figure's width). Placed
# relative to the whole figure's bottom edge, so it never runs into the x-axis title; the bottom margin
# grows to hold it.
LEGEND_BELOW = dict(orientation="h", x=0.0, xanchor="left", xref="container", y=0.0, yanchor="bottom",
                    yref="container", bgcolor="rgba(255,255,255,0.7)", font=dict(size=12), itemwidth=30)
# Axes: plotly's automargin widens the margins to fit tick labels and the axis title (a fixed margin cut
# long y titles off). Log axes also get exponentformat "power" (10⁻⁴, not "100μ") from the builders and
# legible(); not here, because a template cannot tell log axes apart and "power" on a linear axis writes
# 0.2×10⁴ for 2000.
_AXIS = dict(showline=True, linecolor="#444", ticks="outside", zeroline=False, title=dict(standoff=8),
             automargin=True)

LAYOUT = go.layout.Template(pio.templates["plotly_white"])
LAYOUT.layout.update(
    font=dict(family="Helvetica, Arial, sans-serif", size=14, color="#222"),
    title=dict(font=dict(size=18), x=0.0, xanchor="left", xref="paper"),
    hovermode="closest",
    legend=LEGEND_BELOW,
    margin=dict(l=70, r=30, t=70, b=60),
    height=450,
    xaxis=_AXIS,
    yaxis=_AXIS,
)


# ---------------------------------------------------------------------------------------------- helpers
def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_runs(runs) -> list:
    runs = _as_list(runs)
    if not runs:
        raise ValueError("no runs given: pass a Run or a non-empty list of Runs")
    for r in runs:
        if not hasattr(r, "history"):
            raise TypeError(f"expected a Run (with .history), got {type(r).__name__}")
    return runs


def _check_metrics(runs: list, metrics) -> list[str]:
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("no metrics given: pass a history key or a list of keys")
    for m in metrics:
        for r in runs:
            if m not in r.history:
                raise ValueError(f"unknown metric {m!r}: available keys are {sorted(r.history)}")
    return metrics


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v)


def _rgba(color: str, alpha: float) -> str:
    r, g, b = plotly.colors.hex_to_rgb(color) if color.startswith("#") else plotly.colors.unlabel_rgb(color)
    return f"rgba({int(r)}, {int(g)}, {int(b)}, {alpha})"


def _config_dict(run) -> dict:
    cfg = getattr(run, "config", None)
    if cfg is None:
        return {}
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg) if isinstance(cfg, dict) else {}


def _phenomenon_of(runs):
    """The phenomenon module whose Config made these runs (None for runs of some other Config)."""
    from . import phenomenon

    types = {type(getattr(r, "config", None)) for r in runs}
    for module in phenomenon.phenomena():
        if types == {module.Config}:
            return module
    return None


def metric_label(runs, metric: str) -> str:
    """The words a reader sees for a metric: the phenomenon's METRICS entry (its key for other runs)."""
    module = _phenomenon_of(_as_list(runs))
    return module.METRICS.get(metric, metric) if module is not None else metric


_UNIT = re.compile(r"\s*\(([^()]*)\)\s*$")


def short_name(words: str) -> str:
    """A metric's words for a legend: up to the first colon, without a trailing "(unit)".

    "train loss (cross-entropy, nats)" -> "train loss"; "training samples in Softmax Collapse: softmax sum
    exactly 1 (fraction)" -> "training samples in Softmax Collapse".
    """
    head = words.split(":", 1)[0].strip() if ":" in words else words
    return _UNIT.sub("", head).strip() or words


def _unit(words: str) -> str | None:
    match = _UNIT.search(words)
    return match.group(1) if match else None


def _y_title(runs, metrics: list[str], words: dict[str, str]) -> str:
    """One metric: its words (with the unit). Several: the phenomenon's PLOT_GROUPS title that holds them
    all, else their short names and the unit they share, else the words of each."""
    if len(metrics) == 1:
        return words[metrics[0]]
    module = _phenomenon_of(runs)
    for title, group in (getattr(module, "PLOT_GROUPS", None) or {}).items():
        if set(metrics) <= set(group):
            return title
    units = {_unit(w) for w in words.values()}
    if len(units) == 1 and None not in units:
        return f"{', '.join(short_name(w) for w in words.values())} ({units.pop()})"
    return ", ".join(words.values())


def _x_title(runs, x_title):
    if x_title is not None:
        return x_title
    module = _phenomenon_of(runs)
    return module.X_TITLE if module is not None else "step"


def default_labels(runs: Sequence) -> list[str]:
    """Legend labels from the config fields that differ between runs (seed excluded), else "run i".

    Runs whose configs differ only in seed/device/dtype all get the label "n seeds", so they form one
    seed group; identical or config-less runs get "run 0", "run 1", ...
    """
    dicts = [_config_dict(r) for r in runs]
    if len(runs) == 1 or not all(dicts):
        return [f"run {i}" for i in range(len(runs))]
    keys = [k for k in dicts[0] if k not in _NOT_A_LABEL]
    differ = [k for k in keys if any(d.get(k) != dicts[0].get(k) for d in dicts)]
    if differ:
        return [", ".join(f"{k}={_fmt(d.get(k))}" for k in differ) for d in dicts]
    if any(d.get(k) != dicts[0].get(k) for d in dicts for k in _NOT_A_LABEL if k in dicts[0]):
        return [f"{len(runs)} seeds"] * len(runs)
    return [f"run {i}" for i in range(len(runs))]


def _members(run, metric: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(steps, values) per replica: a 2-D history [n_logs, n] holds n batched replicas of one run."""
    steps = np.asarray(run.history["step"], dtype=float)
    vals = np.asarray(run.history[metric], dtype=float)
    if vals.ndim == 1:
        return [(steps, vals)]
    vals = vals.reshape(len(steps), -1)
    return [(steps, vals[:, j]) for j in range(vals.shape[1])]


def group_quantiles(members, qs) -> tuple[np.ndarray, list[np.ndarray]]:
    """Steps (union over members) and one array per quantile in qs, across members at each step.

    Members with other steps are linearly interpolated onto the union; outside a member's own step
    range it counts as missing (a stopped run does not pull the band after it stopped).
    """
    union = np.unique(np.concatenate([s for s, _ in members]))
    table = np.full((len(members), len(union)), np.nan)
    for i, (s, v) in enumerate(members):
        order = np.argsort(s, kind="stable")
        s, v = s[order], v[order]
        inside = (union >= s[0]) & (union <= s[-1])
        table[i, inside] = np.interp(union[inside], s, v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (diverged runs) stay NaN
        return union, [np.nanquantile(table, q, axis=0) for q in qs]


def _group_traces(members, *, name, color, dash, log_x, band, legendgroup=None, visible=True, hover_name=None) -> list:
    """Band (if more than one member) then the median line, as scatter traces (hover_name: the words the
    tooltip shows, the legend's name by default)."""
    steps, (lo, mid, hi) = group_quantiles(members, (band[0], 0.5, band[1]))
    if log_x:  # log(0) is undefined: step 0 is dropped, the other steps keep their true values
        keep = steps > 0
        steps, lo, mid, hi = steps[keep], lo[keep], mid[keep], hi[keep]
    legendgroup = legendgroup or name
    traces = []
    if len(members) > 1:
        pct = f"{round(band[0] * 100)}–{round(band[1] * 100)}%"
        common = dict(x=steps, mode="lines", line=dict(width=0, color=color), hoverinfo="skip",
                      showlegend=False, legendgroup=legendgroup, visible=visible)
        traces.append(go.Scatter(y=hi, name=f"{name} ({pct} upper)", **common))
        traces.append(go.Scatter(y=lo, name=f"{name} ({pct} lower)", fill="tonexty",
                                 fillcolor=_rgba(color, 0.2), **common))
    hover_name = hover_name or name
    line_name = hover_name if len(members) == 1 else f"{hover_name} (median of {len(members)})"
    traces.append(go.Scatter(x=steps, y=mid, mode="lines", name=name, line=dict(color=color, dash=dash),
                             legendgroup=legendgroup, visible=visible,
                             hovertemplate=f"{line_name}: %{{y:.4g}}<extra></extra>"))
    return traces


def _check_band(band):
    lo, hi = band
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"band={band!r} is invalid: need 0 <= low < high <= 1 (quantiles)")


def _default_title(metrics: list[str], x_title: str) -> str:
    return f"{', '.join(metrics)} vs {x_title.split(' (')[0]}"


def _axis_kind(log: bool) -> dict:
    return dict(type="log", exponentformat="power") if log else {}


# --------------------------------------------------------------------------------------------- builders
def curves(runs, metrics, *, labels=None, log_x=False, log_y=False, title=None, x_title=None,
           y_title=None, band=(0.2, 0.8)) -> go.Figure:
    """Metric curves over steps; runs sharing a label are a seed group drawn as median + quantile band.

    One colour per label and one dash style per metric (with a single label, colours follow the
    metrics instead). Trace names are short: "label · metric" with several labels and metrics, the label
    alone for one metric (its words, unit included, are the y title), the metric's short name for one
    label (the label is the legend's title). The tooltip gives the metric's full words. With log_x, step
    0 is dropped (not shifted), so the axis shows true step numbers. The x title defaults to the
    phenomenon's X_TITLE.
    """
    runs = _check_runs(runs)
    metrics = _check_metrics(runs, metrics)
    x_title = _x_title(runs, x_title)
    words = {m: metric_label(runs, m) for m in metrics}
    _check_band(band)
    labels = default_labels(runs) if labels is None else [str(lab) for lab in _as_list(labels)]
    if len(labels) != len(runs):
        raise ValueError(f"labels has {len(labels)} entries but there are {len(runs)} runs: need one per run")
    groups: dict[str, list] = {}
    for run, lab in zip(runs, labels, strict=True):
        groups.setdefault(lab, []).append(run)
    fig = go.Figure()
    anonymous = len(runs) == 1 and labels == ["run 0"]
    legend_title = None
    if len(groups) == 1 and not anonymous:
        (lab, group), = groups.items()
        n = sum(len(_members(r, metrics[0])) for r in group)
        legend_title = lab if n == 1 else f"{lab}: median, {round(band[0] * 100)}–{round(band[1] * 100)}% band"
    for gi, (lab, group) in enumerate(groups.items()):
        for mi, m in enumerate(metrics):
            color = COLORS[(mi if len(groups) == 1 else gi) % len(COLORS)]
            members = [mem for r in group for mem in _members(r, m)]
            if anonymous or len(groups) == 1:
                name = short_name(words[m])
            elif len(metrics) == 1:
                name = lab
            else:
                name = f"{lab} · {short_name(words[m])}"
            hover = words[m] if anonymous else f"{lab} · {words[m]}"
            for tr in _group_traces(members, name=name, color=color, hover_name=hover,
                                    dash=DASHES[mi % len(DASHES)], log_x=log_x, band=band):
                fig.add_trace(tr)
    fig.update_layout(template=LAYOUT, title=dict(text=title or _default_title(list(words.values()), x_title)),
                      hovermode="x unified", legend_title_text=legend_title)
    fig.update_xaxes(title_text=x_title, **_axis_kind(log_x))
    fig.update_yaxes(title_text=y_title or _y_title(runs, metrics, words), **_axis_kind(log_y))
    return _wrap_axis_titles(fig)


def final_vs(runs, by: str, metrics, *, title, x_title=None, y_title=None, log_x=False, log_y=False,
             band=(0.2, 0.8)) -> go.Figure:
    """Each metric's final value against a config field `by`; the runs sharing a value (seeds) are drawn
    as their median with error bars spanning the `band` quantiles."""
    runs = _check_runs(runs)
    metrics = _check_metrics(runs, metrics)
    _check_band(band)
    groups: dict = {}
    for r in runs:
        d = _config_dict(r)
        if by not in d:
            raise ValueError(f"by={by!r} is not a config field of these runs: fields are {sorted(d)}")
        groups.setdefault(d[by], []).append(r)
    xs = sorted(groups)
    fig = go.Figure()
    for mi, m in enumerate(metrics):
        finals = [np.array([r.final(m) for r in groups[x]]) for x in xs]
        lo, mid, hi = (np.array([np.quantile(f, q) for f in finals]) for q in (band[0], 0.5, band[1]))
        n = {len(f) for f in finals}
        words = metric_label(runs, m)
        median = f" (median of {n.pop()})" if n == {len(finals[0])} and len(finals[0]) > 1 else ""
        fig.add_scatter(x=xs, y=mid, name=short_name(words) + median, mode="lines+markers",
                        line=dict(color=COLORS[mi % len(COLORS)]),
                        hovertemplate=f"{words}{median}: %{{y:.4g}}<extra></extra>",
                        error_y=dict(type="data", symmetric=False, array=hi - mid, arrayminus=mid - lo))
    fig.update_layout(template=LAYOUT, title=dict(text=title))
    fig.update_xaxes(title_text=x_title or by, **_axis_kind(log_x))
    fig.update_yaxes(title_text=y_title or _y_title(runs, metrics, {m: metric_label(runs, m) for m in metrics}),
                     **_axis_kind(log_y))
    return _wrap_axis_titles(fig)


def first_steps(runs, metric: str, threshold: float, *, rows: str, cols: str, above: bool = True):
    """The first logged step at which `metric` reaches `threshold`, on the grid of two config fields.

    Returns (z, row_values, col_values) with z[i, j] for rows[i], cols[j]; NaN where the run never
    reached it (heatmap draws those grey). Exactly one run per grid cell.
    """
    runs = _check_runs(runs)
    cells: dict = {}
    for r in runs:
        d = _config_dict(r)
        for f in (rows, cols):
            if f not in d:
                raise ValueError(f"{f!r} is not a config field of these runs: fields are {sorted(d)}")
        key = (d[rows], d[cols])
        if key in cells:
            raise ValueError(f"two runs share the grid cell {rows}={key[0]}, {cols}={key[1]}: pass one run per cell")
        cells[key] = r
    row_values = sorted({k[0] for k in cells})
    col_values = sorted({k[1] for k in cells})
    z = np.full((len(row_values), len(col_values)), np.nan)
    for (rv, cv), r in cells.items():
        step = r.first_step(metric, threshold, above=above)
        z[row_values.index(rv), col_values.index(cv)] = np.nan if step is None else step
    return z, row_values, col_values


def _coords(v, name: str, log: bool):
    """Plot coordinates: numbers (checked increasing, positive on a log axis) or category strings."""
    arr = np.asarray(v)
    if arr.dtype.kind not in "iuf":
        if log:
            raise ValueError(f"log scale needs numeric {name} values, got {list(v)!r}")
        return [str(a) for a in arr]
    if log and np.any(arr <= 0):
        raise ValueError(f"log scale needs positive {name} values, got {arr.tolist()!r}")
    if len(arr) > 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} values must be strictly increasing, got {arr.tolist()!r}")
    return arr


def _grid_ticks(c) -> dict:
    """Ticks at the grid values themselves when there are few, so a reader can name every cell."""
    if isinstance(c, list) or len(c) > 12:
        return {}
    return dict(tickmode="array", tickvals=c.tolist(), ticktext=[_fmt(v) for v in c.tolist()])


def heatmap(z, x, y, *, title, x_title, y_title, z_title, log_x=False, log_y=False, text_fmt=None,
            colorscale="Viridis") -> go.Figure:
    """Phase diagram: z[i, j] is the value at (x[j], y[i]); NaN cells show grey as "not reached".

    text_fmt, e.g. ".2f", writes each value in its cell. Numeric x/y must be increasing; non-numeric
    ones become categories.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape != (len(y), len(x)):
        raise ValueError(f"z has shape {z.shape} but needs (len(y), len(x)) = ({len(y)}, {len(x)})")
    xc, yc = _coords(x, "x", log_x), _coords(y, "y", log_y)
    missing = np.isnan(z)
    hover = [[f"{x_title} = {_fmt(xc[j])}<br>{y_title} = {_fmt(yc[i])}<br>"
              + ("not reached" if missing[i, j] else f"{z_title} = {z[i, j]:.4g}")
              for j in range(len(xc))] for i in range(len(yc))]
    fig = go.Figure()
    if missing.any():
        # Drawn underneath: the main trace leaves NaN cells transparent, so this grey shows through.
        fig.add_trace(go.Heatmap(z=np.where(missing, 0.0, np.nan), x=xc, y=yc, showscale=False,
                                 colorscale=[[0, NOT_REACHED_GREY], [1, NOT_REACHED_GREY]],
                                 hoverinfo="skip", hoverongaps=False, name="not reached"))
    main = go.Heatmap(z=z, x=xc, y=yc, colorscale=colorscale, hovertext=hover, hoverinfo="text",
                      name=z_title, colorbar=dict(title=dict(text=z_title, side="right")))
    if text_fmt:
        main.update(texttemplate=f"%{{z:{text_fmt}}}", textfont=dict(size=11))
    fig.add_trace(main)
    fig.update_layout(template=LAYOUT, title=dict(text=title))
    fig.update_xaxes(title_text=x_title, showgrid=False, **_axis_kind(log_x), **_grid_ticks(xc))
    fig.update_yaxes(title_text=y_title, showgrid=False, **_axis_kind(log_y), **_grid_ticks(yc))
    if missing.any():
        fig.add_annotation(text="grey: not reached", xref="paper", yref="paper", x=1.0, y=1.0,
                           xanchor="right", yanchor="bottom", showarrow=False, font=dict(size=12))
    return _wrap_axis_titles(fig)


phase_diagram = heatmap


def _global_range(traces, axis: str, log: bool) -> list[float] | None:
    vals = np.concatenate([np.asarray(getattr(t, axis), dtype=float) for t in traces] or [np.array([])])
    vals = vals[np.isfinite(vals)]
    if log:
        vals = np.log10(vals[vals > 0])
    if vals.size == 0:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    pad = 0.04 * (hi - lo) if hi > lo else (0.5 if log else max(abs(lo) * 0.05, 0.5))
    return [lo - pad, hi + pad]  # on a log axis plotly wants the range in log10 units


def sweep_slider(runs, values, *, metrics, slider_label, title, log_x=False, y_title=None, x_title=None,
                 log_y=False) -> go.Figure:
    """Precomputed sweep: a plotly slider (no kernel needed) shows the curves for one value at a time.

    runs[k] (a Run, or a list of Runs = seeds, drawn as median + 20–80% band) belongs to values[k].
    Axis ranges are fixed to the global range so positions compare; log_x drops step 0.
    """
    if not _as_list(runs):
        raise ValueError("no runs given: pass one Run (or list of seed Runs) per value")
    groups = [_check_runs(g) for g in _as_list(runs)]
    values = list(values)
    if len(values) != len(groups):
        raise ValueError(f"values has {len(values)} entries but there are {len(groups)} runs: need one each")
    flat = [r for g in groups for r in g]
    metrics = _check_metrics(flat, metrics)
    x_title = _x_title(flat, x_title)
    words = {m: metric_label(flat, m) for m in metrics}
    fig = go.Figure()
    owner: list[int] = []  # owner[t] = index of the slider position trace t belongs to
    for k, (group, v) in enumerate(zip(groups, values, strict=True)):
        for mi, m in enumerate(metrics):
            members = [mem for r in group for mem in _members(r, m)]
            traces = _group_traces(members, name=short_name(words[m]), hover_name=words[m],
                                   color=COLORS[mi % len(COLORS)],
                                   dash=DASHES[mi % len(DASHES)], log_x=log_x, band=(0.2, 0.8),
                                   legendgroup=f"{slider_label}={_fmt(v)} · {m}", visible=k == 0)
            for tr in traces:
                tr.meta = {"slider_index": k, "value": _fmt(v)}
                fig.add_trace(tr)
                owner.append(k)

    def title_at(v):
        return f"{title} — {slider_label} = {_fmt(v)}"

    steps = [dict(method="update", label=_fmt(v),
                  args=[{"visible": [o == k for o in owner]}, {"title.text": title_at(v)}])
             for k, v in enumerate(values)]
    fig.update_layout(
        template=LAYOUT, title=dict(text=title_at(values[0])), hovermode="x unified",
        sliders=[dict(active=0, steps=steps, pad=dict(t=60), currentvalue=dict(prefix=f"{slider_label} = "))],
    )
    fig.update_xaxes(title_text=x_title, range=_global_range(fig.data, "x", log_x), **_axis_kind(log_x))
    fig.update_yaxes(title_text=y_title or _y_title(flat, metrics, words), range=_global_range(fig.data, "y", log_y),
                     **_axis_kind(log_y))
    return _wrap_axis_titles(fig)


def add_threshold(fig: go.Figure, y: float, text: str) -> go.Figure:
    """Horizontal dashed reference line at y (data units, also on a log axis) with a label."""
    log = fig.layout.yaxis.type == "log"
    if log and y <= 0:
        raise ValueError(f"threshold y={y} cannot be drawn on a log y-axis: needs y > 0")
    # Shapes take data units on log axes but annotations take log10 units (plotly.js legacy).
    fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y,
                  line=dict(color="#555", width=1.5, dash="dash"))
    fig.add_annotation(text=text, xref="paper", x=1.0, xanchor="right", yref="y",
                       y=math.log10(y) if log else y, yanchor="bottom", showarrow=False,
                       font=dict(size=12, color="#555"))
    return fig


# Characters per line of an axis title: a y title runs along the plot's height (~300 px of a 450 px
# figure), an x title along its width (~650 px in the site's text column), at ~7 px per character. A
# longer title is cut off at the figure's edge (measured in the browser test, tests/browser), so it wraps.
Y_TITLE_CHARS = 40
X_TITLE_CHARS = 80


def _wrap(text, width: int):
    if not text or "<br>" in text or len(text) <= width:
        return text
    return "<br>".join(textwrap.wrap(text, width))


def _wrap_axis_titles(fig: go.Figure) -> go.Figure:
    fig.for_each_xaxis(lambda ax: ax.update(title_text=_wrap(ax.title.text, X_TITLE_CHARS)) if ax.title.text else None)
    fig.for_each_yaxis(lambda ax: ax.update(title_text=_wrap(ax.title.text, Y_TITLE_CHARS)) if ax.title.text else None)
    return fig


def legible(fig: go.Figure) -> go.Figure:
    """Apply the book's legibility rules to a figure built by hand (the builders above already do).

    The legend goes below the plot (LEGEND_BELOW, keeping a legend title set by hand), every log axis
    reads in powers of ten (set the axis type first), every axis margin grows to fit its tick labels and
    title, and a long axis title wraps onto lines that fit the figure. Returns fig, so a chapter can write
    `plots.legible(fig.update_yaxes(title_text=...))` or end a cell with `plots.legible(fig)`.
    """
    title = fig.layout.legend.title.text
    fig.update_layout(legend=LEGEND_BELOW)
    if title:
        fig.update_layout(legend_title_text=title)
    for_each = (fig.for_each_xaxis, fig.for_each_yaxis)
    for each in for_each:
        each(lambda ax: ax.update(automargin=True, **(dict(exponentformat="power") if ax.type == "log" else {})))
    return _wrap_axis_titles(fig)
