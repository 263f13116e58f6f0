"""Chapter 5's figures: the PFN's posterior predictive next to the exact one, and the inference explorer.

`posterior_figure` draws one dataset: the context points, the exact GP predictive (mean and central
band) and the PFN's (median and the same quantiles of its bar distribution). `context_slider` is the
static-site version over the number of context points (a plotly slider, no kernel). `posterior_explorer`
is the live one: sliders for the number of context points, the data's seed and the lengthscale the data
are drawn with, and a choice of prior (the fixed-ℓ PFN against the exact GP, or the hyperprior PFN against
the exact mixture), redrawn instantly (one forward pass). `bar_figure` shows a bar distribution's density
with its half-normal tails. `gap_curves` draws a run's NLL gap over training, one short-named trace per
context size. `legible` lays any of the chapter's figures out so that nothing is cut off: every axis
reserves the margin its tick labels and title need, and the legend sits in one or two rows between the
title and the plot, never beside it.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from .. import plots, runtime
from ..plots import COLORS, LAYOUT
from . import gp
from .bar import BarDistribution
from .model import Predictor

#: The central band drawn for both predictives: 5% to 95%.
BAND = (0.05, 0.95)
_Z95 = 1.6448536269514722  # standard normal 95% quantile
GRID = 200


def dataset(seed: int, n: int, lengthscale: float = 0.2, noise: float = 0.01, pool: int = 40):
    """A dataset drawn from the GP prior with `lengthscale`; its first n points are the context.

    The same seed gives the same pool of points for every n, so the context grows point by point.
    """
    x, y = gp.sample_gp(1, pool, torch.Generator().manual_seed(seed), lengthscale=lengthscale, noise=noise)
    return x[0, :n, 0], y[0, :n]


def bands(predictor: Predictor, x_train, y_train, *, lengthscale: float = 0.2, outputscale: float = 1.0,
          noise: float = 0.01, grid: int = GRID, hyper: bool = False) -> dict[str, torch.Tensor]:
    """PFN and exact 5–95% band and centre on a grid of x in [0, 1].

    The exact reference is the GP with `lengthscale` (mean and mean ± 1.645 sd), or with `hyper=True` the
    lengthscale-hyperprior mixture (its median and quantiles, by bisection).
    """
    xs = torch.linspace(0, 1, grid)
    pred = predictor.predict(x_train, y_train, xs)
    lo, mid, hi = (pred.quantile(q).cpu() for q in (BAND[0], 0.5, BAND[1]))
    if hyper:
        args = (torch.as_tensor(x_train, dtype=torch.float64).reshape(1, -1, 1),
                torch.as_tensor(y_train, dtype=torch.float64).reshape(1, -1), xs.double().reshape(1, -1, 1))
        g = [gp.hyper_quantile(*args, q, outputscale=outputscale, noise=noise)[0].float()
             for q in (BAND[0], 0.5, BAND[1])]
        return {"x": xs, "pfn_lo": lo, "pfn_mid": mid, "pfn_hi": hi, "gp_lo": g[0], "gp_mean": g[1], "gp_hi": g[2]}
    mean, var = gp.gp_posterior(x_train, y_train, xs, lengthscale, outputscale, noise)
    sd = var.sqrt()
    return {"x": xs, "pfn_lo": lo, "pfn_mid": mid, "pfn_hi": hi, "gp_mean": mean.float(),
            "gp_lo": (mean - _Z95 * sd).float(), "gp_hi": (mean + _Z95 * sd).float()}


def _traces(b: dict, x_train, y_train, visible: bool = True) -> list[go.Scatter]:
    x = b["x"].tolist()
    gp_c, pfn_c = COLORS[0], COLORS[1]
    band = lambda lo, hi, color, name: go.Scatter(
        x=x + x[::-1], y=hi.tolist() + lo.tolist()[::-1], fill="toself", fillcolor=color, opacity=0.25,
        line=dict(width=0), name=name, hoverinfo="skip", visible=visible)
    return [
        band(b["gp_lo"], b["gp_hi"], gp_c, "exact GP: 5–95% band"),
        go.Scatter(x=x, y=b["gp_mean"].tolist(), line=dict(color=gp_c, width=2), name="exact GP: mean",
                   visible=visible),
        go.Scatter(x=x, y=b["pfn_lo"].tolist(), line=dict(color=pfn_c, width=1.5, dash="dash"),
                   name="PFN: 5% and 95% quantiles", legendgroup="pfnband", visible=visible),
        go.Scatter(x=x, y=b["pfn_hi"].tolist(), line=dict(color=pfn_c, width=1.5, dash="dash"),
                   name="PFN: 95%", legendgroup="pfnband", showlegend=False, visible=visible),
        go.Scatter(x=x, y=b["pfn_mid"].tolist(), line=dict(color=pfn_c, width=2, dash="dot"), name="PFN: median",
                   visible=visible),
        go.Scatter(x=torch.as_tensor(x_train).tolist(), y=torch.as_tensor(y_train).tolist(), mode="markers",
                   marker=dict(color="#222", size=8), name="context points", visible=visible),
    ]


#: Top margin of a `legible` figure: the title (one line) and up to two rows of legend above the plot.
LEGEND_TOP = 100


def legible(fig: go.Figure, *, legend: str | None = "below") -> go.Figure:
    """Nothing cut off, nothing squeezed: automatic margins on every axis (a long tick label or axis title
    pushes the margin instead of leaving the figure), and the legend in horizontal rows "below" everything
    (at the bottom of the figure, which grows its margin to hold it) or "above" the plot, between the title
    and the plot (for a figure with a slider underneath); None for a figure without a legend."""
    if legend not in ("above", "below", None):
        raise ValueError(f"legend={legend!r} must be 'above', 'below' or None")
    fig.update_xaxes(automargin=True, title_standoff=6)
    fig.update_yaxes(automargin=True, title_standoff=6)
    fig.update_layout(margin=dict(l=10, r=20, t=LEGEND_TOP if legend == "above" else 60, b=10),
                      title=dict(y=0.985, yref="container", yanchor="top"))
    if legend == "above":
        fig.update_layout(legend=dict(orientation="h", xref="paper", x=0, xanchor="left", yref="paper", y=1.02,
                                      yanchor="bottom"))
    elif legend == "below":
        fig.update_layout(legend=dict(orientation="h", xref="container", x=0, xanchor="left", yref="container",
                                      y=0, yanchor="bottom"))
    return fig


def gap_curves(run, sizes=(0, 2, 5, 10, 20), *, title: str, log_x: bool = False) -> go.Figure:
    """A run's NLL gap to the exact posterior over training, one trace per context size (named "n = 5"),
    on a log y axis."""
    fig = plots.curves(run, [f"gap_{n}" for n in sizes], log_x=log_x, log_y=True, title=title,
                       y_title="NLL gap, PFN − exact (nats per query)")
    for tr, n in zip(fig.data, sizes, strict=True):
        tr.name = f"n = {n}"
        tr.hovertemplate = f"n = {n}: %{{y:.4g}}<extra></extra>"
    log_ticks = dict(dtick=1, exponentformat="power")  # ticks at powers of ten only, written as 10^k
    fig.update_yaxes(**log_ticks)
    if log_x:
        fig.update_xaxes(**log_ticks)
    return legible(fig)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(template=LAYOUT, title=dict(text=title), height=540)
    fig.update_xaxes(title_text="x (input)", range=[0, 1])
    fig.update_yaxes(title_text="y (noisy observation)", range=[-3.5, 3.5])
    return legible(fig, legend="above")  # the slider sits below the plot


def posterior_figure(predictor: Predictor, x_train, y_train, *, title: str, **gp_kwargs) -> go.Figure:
    """One dataset: context points, the exact GP predictive and the PFN's, as bands over x."""
    fig = go.Figure(_traces(bands(predictor, x_train, y_train, **gp_kwargs), x_train, y_train))
    return _layout(fig, title)


def context_slider(predictor: Predictor, counts, *, seed: int = 0, title: str, **gp_kwargs) -> go.Figure:
    """A plotly slider over the number of context points of one dataset (static: every position precomputed)."""
    counts = list(counts)
    fig, owner = go.Figure(), []
    for k, n in enumerate(counts):
        x, y = dataset(seed, n)
        for tr in _traces(bands(predictor, x, y, **gp_kwargs), x, y, visible=k == 0):
            fig.add_trace(tr)
            owner.append(k)
    steps = [dict(method="update", label=str(n), args=[{"visible": [o == k for o in owner]},
                                                       {"title.text": f"{title} — {n} context points"}])
             for k, n in enumerate(counts)]
    fig.update_layout(sliders=[dict(active=0, steps=steps, pad=dict(t=60),
                                    currentvalue=dict(prefix="context points = "))])
    return _layout(fig, f"{title} — {counts[0]} context points")


def bar_figure(bar: BarDistribution, logits: torch.Tensor, *, title: str, span: float = 1.5) -> go.Figure:
    """The density of one bar distribution (logits (K,)) on and beyond its borders."""
    b = bar.borders
    lo, hi = float(b[0]) - span, float(b[-1]) + span
    y = torch.linspace(lo, hi, 2001, dtype=torch.float64)
    y = torch.sort(torch.cat([y, b, b - 1e-9])).values
    dens = bar.log_prob(logits.double().expand(len(y), -1), y).exp()
    fig = go.Figure([go.Scatter(x=y.tolist(), y=dens.tolist(), line=dict(color=COLORS[1], width=2),
                                name="bar density", fill="tozeroy")])
    for v in b.tolist():
        fig.add_vline(x=v, line=dict(color="#aaa", width=1, dash="dot"))
    fig.update_layout(template=LAYOUT, title=dict(text=title), height=380, showlegend=False)
    fig.update_xaxes(title_text="y (bucket borders dotted)")
    fig.update_yaxes(title_text="density p(y)")
    return legible(fig, legend=None)


def posterior_explorer(models: dict[str, Predictor], *, max_points: int = 30, noise: float = 0.01):
    """Live: sliders for context points, data seed and data lengthscale, and the prior (which shipped PFN and
    which exact posterior): PFN vs exact bands redrawn at once (one forward pass per change).

    `models`: {"gp": the fixed-ℓ PFN, "gp_hyper": the hyperprior PFN} (either may be left out). On the static
    site (runtime.IN_BOOK) it returns the explorer note instead (a live figure needs a kernel).
    """
    from ..widgets import BookNote  # imported here: ipywidgets is only needed in a live kernel

    if runtime.IN_BOOK:
        return BookNote()
    import ipywidgets as W

    labels = {"gp": "ℓ = 0.2 (the GP prior)", "gp_hyper": "ℓ ∈ {0.05, 0.1, 0.2, 0.5} (hyperprior)"}
    unknown = set(models) - set(labels)
    if not models or unknown:
        raise ValueError(f"models must map some of {list(labels)} to predictors; got {sorted(models)}")
    prior = W.ToggleButtons(options=[(labels[k], k) for k in models], description="prior")
    n = W.IntSlider(value=5, min=0, max=max_points, description="context points")
    seed = W.IntSlider(value=0, min=0, max=50, description="data seed")
    ls = W.FloatLogSlider(value=0.2, base=10, min=-1.7, max=0.3, step=0.05, description="data ℓ",
                          readout_format=".3f")
    first = next(iter(models.values()))
    fig = go.FigureWidget(_layout(go.Figure(_traces(bands(first, *dataset(0, 5)), *dataset(0, 5))),
                                  "PFN vs exact posterior"))
    note = W.HTML()

    def redraw(*_):
        x, y = dataset(seed.value, n.value, lengthscale=ls.value, noise=noise)
        hyper = prior.value == "gp_hyper"
        b = bands(models[prior.value], x, y, noise=noise, hyper=hyper)
        with fig.batch_update():
            for tr, nt in zip(fig.data, _traces(b, x, y)):
                tr.x, tr.y = nt.x, nt.y
            fig.layout.title.text = (f"PFN vs exact posterior, prior {labels[prior.value]}; "
                                     f"data drawn with ℓ = {ls.value:.3g}")
        gap = float((b["pfn_mid"] - b["gp_mean"]).abs().max())
        note.value = (f"largest |PFN median − exact {'median' if hyper else 'mean'}| on the grid: <b>{gap:.3f}</b> "
                      f"({n.value} context points)")

    for w in (prior, n, seed, ls):
        w.observe(redraw, names="value")
    redraw()
    return W.VBox([prior, W.HBox([n, seed, ls]), fig, note])


def prior_datasets(xs: torch.Tensor, ys: torch.Tensor, *, title: str) -> go.Figure:
    """Datasets from a prior (xs (B, T, 1), ys (B, T)), each joined in the order of x."""
    fig = go.Figure()
    for i in range(xs.shape[0]):
        order = xs[i, :, 0].argsort()
        fig.add_trace(go.Scatter(x=xs[i, order, 0].tolist(), y=ys[i, order].tolist(), mode="lines+markers",
                                 name=f"dataset {i + 1}", marker=dict(size=4)))
    fig.update_layout(template=LAYOUT, title=title)
    fig.update_xaxes(title_text="x (input)")
    fig.update_yaxes(title_text="y (noisy observation)")
    return legible(fig)


def learning_curves(y: torch.Tensor, *, title: str) -> go.Figure:
    """Learning curves (y (N, epochs)), one trace each over epochs 1, 2, ..."""
    epochs = list(range(1, y.shape[-1] + 1))
    fig = go.Figure([go.Scatter(x=epochs, y=y[i].tolist(), mode="lines", name=f"curve {i + 1}")
                     for i in range(y.shape[0])])
    fig.update_layout(template=LAYOUT, title=title)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="y (performance, with observation noise)")
    return legible(fig)


def extrapolations(predictor: Predictor, y: torch.Tensor, f: torch.Tensor, cut: int, panels: dict[str, int], *,
                   title: str) -> go.Figure:
    """One panel per test curve (panels: subplot title -> row of y and f (N, epochs)): the curve's observed
    values, its noise-free values, and the predictor's median and 5–95% band for every epoch after `cut`,
    given the epochs up to it."""
    from plotly.subplots import make_subplots

    epochs = y.shape[-1]
    if not 1 <= cut < epochs:
        raise ValueError(f"cut={cut} is out of range: allowed 1 <= cut <= {epochs - 1}")
    x_all = torch.arange(1, epochs + 1)
    later, every = list(range(cut + 1, epochs + 1)), list(range(1, epochs + 1))
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=list(panels))
    for col, i in enumerate(panels.values(), start=1):
        pred = predictor.predict(x_all[:cut], y[i, :cut].float(), x_all[cut:])
        first = col == 1
        lo, hi = pred.quantile(BAND[0]).tolist(), pred.quantile(BAND[1]).tolist()
        traces = [
            go.Scatter(x=later + later[::-1], y=hi + lo[::-1], fill="toself", line=dict(width=0),
                       fillcolor="rgba(31,119,180,0.2)", name="LC-PFN 5–95%", legendgroup="band"),
            go.Scatter(x=later, y=pred.quantile(0.5).tolist(), mode="lines", line=dict(color="#1f77b4"),
                       name="LC-PFN median", legendgroup="median"),
            go.Scatter(x=every, y=y[i].tolist(), mode="markers", marker=dict(size=4, color="black"),
                       name="observed values", legendgroup="y"),
            go.Scatter(x=every, y=f[i].tolist(), mode="lines", line=dict(color="black", dash="dot", width=1),
                       name="noise-free curve", legendgroup="f"),
        ]
        for tr in traces:
            tr.showlegend = first
            fig.add_trace(tr, row=1, col=col)
        fig.add_vline(x=cut + 0.5, line_dash="dot", line_color="gray", row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_yaxes(title_text="y (performance)", row=1, col=1)
    fig.update_layout(template=LAYOUT, title=title)
    return legible(fig, legend="below")


def early_stopping_sweep(curves, stopped_at, *, epochs: int, title: str) -> go.Figure:
    """One sweep of runs in training order, each drawn up to the epoch it was stopped at: runs stopped early
    in grey, runs trained to `epochs` in blue."""
    fig, shown = go.Figure(), set()
    for curve, stop in zip(curves, [int(s) for s in stopped_at], strict=True):
        done = stop == epochs
        fig.add_trace(go.Scatter(x=list(range(1, stop + 1)), y=[float(v) for v in curve[:stop]], mode="lines",
                                 line=dict(color="#1f77b4" if done else "#bbbbbb", width=1.5 if done else 1),
                                 name=f"trained to epoch {epochs}" if done else "stopped early",
                                 legendgroup=str(done), showlegend=done not in shown))
        shown.add(done)
    fig.update_layout(template=LAYOUT, title=title)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="y (performance)")
    return legible(fig)


def gap_slider(runs: dict, sizes=(0, 2, 10), *, title: str, slider_label: str = "prior") -> go.Figure:
    """Precomputed: the NLL gap over training of several runs ({slider position: run}), one run at a time on a
    plotly slider, one short-named trace per context size ("n = 2"), both axes logarithmic."""
    fig = plots.sweep_slider(list(runs.values()), list(runs), metrics=[f"gap_{n}" for n in sizes],
                             slider_label=slider_label, title=title, log_x=True, log_y=True,
                             y_title="NLL gap, PFN − exact (nats per query)")
    for tr in fig.data:
        n = tr.legendgroup.rsplit("gap_", 1)[1]
        tr.name = f"n = {n}"
        tr.hovertemplate = f"n = {n}: %{{y:.4g}}<extra></extra>"
    return legible(fig, legend="above")  # the slider sits below the plot
