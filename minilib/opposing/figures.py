"""The figures of chapter 3 that are not plain curves of a run (those are minilib.plots.curves).

Each builder returns a plotly Figure whose traces carry the numbers the caption speaks of, so that
tests/test_science_opposing.py can check that the figure shows what its caption says: the turn-taking
signal changes sign inside its window, the loss (not v²) is on the log axis, every group of the detector
figure is drawn where no other group covers it.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import plots
from . import analysis, data, mechanism

#: Log axes of this chapter's figures label their ticks as powers of ten (10⁻³, not 1m or 0.001).
POWERS = dict(type="log", exponentformat="power")
#: The detector figure's three groups, left to right: name, colour.
GROUPS = {data.GROUP_A: ("group A", plots.COLORS[1]), data.GROUP_B: ("group B", plots.COLORS[2]),
          data.REST: ("other examples", "#999")}


def turn_taking(run, onset: int, before: int = 25) -> go.Figure:
    """ℓ_A − ℓ_B at every logged step of the `before` steps up to and including `onset` (a zero line drawn):
    the two groups take turns where the difference changes sign from one step to the next."""
    h = run.history
    window = (h["step"] > onset - before) & (h["step"] <= onset)
    if window.sum() < 2:
        raise ValueError(f"onset={onset} leaves {int(window.sum())} logged steps in the window of {before}: need 2")
    diff = h["loss_a"][window] - h["loss_b"][window]
    fig = go.Figure()
    fig.add_scatter(x=h["step"][window], y=diff, mode="lines+markers", name="ℓ_A − ℓ_B",
                    line=dict(color=plots.COLORS[0]))
    fig.add_hline(y=0, line_color="#888", line_width=1)
    fig.update_layout(template=plots.LAYOUT, showlegend=False,
                      title=dict(text=f"Before the spike the two groups take turns ({before} steps up to its onset)"))
    fig.update_xaxes(title_text="step (parameter updates)")
    fig.update_yaxes(title_text="ℓ_A − ℓ_B: group A's loss minus group B's")
    return fig


def closed_form_loss_and_v(mech: dict) -> go.Figure:
    """Two panels over the steps of mechanism.gradient_descent runs ({alpha: history}): the population loss
    on a log axis (top) and v² on a linear one (bottom)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for i, (alpha, m) in enumerate(mech.items()):
        color = plots.COLORS[i % len(plots.COLORS)]
        fig.add_scatter(x=m["step"], y=m["loss"], name=f"α = {alpha:g}", legendgroup=str(alpha),
                        line=dict(color=color), row=1, col=1)
        fig.add_scatter(x=m["step"], y=m["v"] ** 2, name=f"α = {alpha:g}", legendgroup=str(alpha), showlegend=False,
                        line=dict(color=color, dash="dash"), row=2, col=1)
    fig.update_layout(template=plots.LAYOUT, height=560, legend=dict(orientation="h", y=-0.12),
                      title=dict(text="Closed form: the loss spikes and the second layer shrinks"))
    fig.update_yaxes(title_text="loss ½E[(f − y)²]", row=1, col=1, **POWERS)
    fig.update_yaxes(title_text="v² (second layer)", row=2, col=1, type="linear")
    fig.update_xaxes(title_text="step (parameter updates)", row=2, col=1)
    return fig


def detector(run, title: str, k: int = 20) -> go.Figure:
    """|Δℓ| of every training example at the run's spike, one column per group (every example a point, with
    its group's box), and a dashed line at the k-th largest change: the detector's top k lie on or above it.
    Each group has its own column, so no group is drawn over another."""
    art = run.artifacts
    change = np.abs(art["jump_after"] - art["jump_before"])
    top = analysis.top_changes(art["jump_before"], art["jump_after"], k)
    fig = go.Figure()
    for g, (name, color) in GROUPS.items():
        mask = art["group"] == g
        if not mask.any():
            continue
        in_top = int(np.isin(np.flatnonzero(mask), top).sum())
        fig.add_box(y=change[mask], name=f"{name}<br>({int(mask.sum())}, {in_top} in the top {k})", boxpoints="all",
                    jitter=0.6, pointpos=0, marker=dict(color=color, size=4), line=dict(color=color, width=1),
                    fillcolor="rgba(0,0,0,0)", hoverinfo="y")
    cutoff = float(np.sort(change)[::-1][k - 1])
    fig.update_layout(template=plots.LAYOUT, showlegend=False, title=dict(text=title))
    fig.update_xaxes(title_text=f"group (examples, how many in the detector's top {k})")
    fig.update_yaxes(title_text="|Δℓ|: change of the example's loss (nats)", **POWERS)
    return plots.add_threshold(fig, cutoff, f"the {k} largest changes lie on or above this line")


def spike_bars(spikes: dict[str, list[float]], seeds) -> go.Figure:
    """The largest spike per seed (x) of each variant (one bar colour each), on a log axis."""
    fig = go.Figure()
    for i, (name, values) in enumerate(spikes.items()):
        fig.add_bar(x=[f"seed {s}" for s in seeds], y=list(values), name=name, marker_color=plots.COLORS[i],
                    text=[f"{v:.1f}×" for v in values], textposition="outside")
    fig.update_layout(template=plots.LAYOUT, barmode="group", legend=dict(orientation="h", y=-0.15),
                      title=dict(text="Digits: the largest spike with both classes patched, one, or none"))
    top = max(max(values) for values in spikes.values())
    # From 1× (no spike), so that a bar's height is the spike's size.
    fig.update_yaxes(title_text="largest spike (× running minimum)", range=[0, np.log10(top) + 0.15], **POWERS)
    return fig


def closed_form_sharpness(mech: dict, lr: float) -> go.Figure:
    """The exact top Hessian eigenvalue of mechanism.gradient_descent runs ({alpha: history}) over the steps,
    each with its predicted plateau (p_A + p_B) α² / 0.2 dotted, and the stability threshold 2/lr."""
    fig = go.Figure()
    for i, (alpha, m) in enumerate(mech.items()):
        color = plots.COLORS[i % len(plots.COLORS)]
        fig.add_scatter(x=m["step"], y=m["sharpness"], name=f"α = {alpha:g}: sharpness", line=dict(color=color))
        last = float(np.max(m["step"]))
        fig.add_scatter(x=[0, last], y=[mechanism.predicted_sharpness(alpha)] * 2, mode="lines",
                        name=f"α = {alpha:g}: predicted (p_A + p_B) α² / 0.2", line=dict(color=color, dash="dot"))
    fig.update_layout(template=plots.LAYOUT, title=dict(text="Closed form: sharpness of the one-unit network"))
    fig.update_xaxes(title_text="step (parameter updates)")
    fig.update_yaxes(title_text="top eigenvalue of the 3×3 Hessian")
    return plots.legible(plots.add_threshold(fig, 2 / lr, f"2/η = {2 / lr:g}"))


def landscape(w_s, v, loss, iterates: dict, v_star: float) -> go.Figure:
    """log10 of the closed form's loss on a slice over (w_s, v) (loss: [len(w_s), len(v)], as
    mechanism.landscape returns it), the gradient-descent iterates on it (iterates: {"w_s", "v", "step"}
    arrays) and a dashed line at v*."""
    fig = go.Figure()
    fig.add_contour(x=w_s, y=v, z=np.log10(loss).T, colorscale="Viridis", ncontours=24,
                    colorbar=dict(title="log10 loss"), name="loss")
    fig.add_scatter(x=iterates["w_s"], y=iterates["v"], mode="lines+markers", name="gradient descent iterates",
                    line=dict(color="white", width=1),
                    marker=dict(size=5, color=iterates["step"], colorscale="Reds", line=dict(color="black", width=0.5)),
                    text=[f"step {t}" for t in iterates["step"]], hoverinfo="text")
    fig.add_hline(y=v_star, line_dash="dash", line_color="white",
                  annotation_text="v*: above it the valley along w_s is sharper than 2/η",
                  annotation_font_color="white")
    fig.update_layout(template=plots.LAYOUT,
                      title=dict(text="Closed form: the loss over (w_s, v), and gradient descent"))
    fig.update_xaxes(title_text="w_s: the first-layer weight on the outlier feature")
    fig.update_yaxes(title_text="v: the second-layer weight")
    return plots.legible(fig)
