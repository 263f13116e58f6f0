"""The figure of chapter 0 that is not a plain curve of a run (those are minilib.plots.curves)."""

from __future__ import annotations

import plotly.graph_objects as go

from .. import plots


def fitted_function(run, *, title: str = "What the network learned") -> go.Figure:
    """The noise-free target f(x), the network's fit on the same grid, and the noisy training points, from
    the artifacts of one curvefit run (x_grid, y_true, y_fit, x_train, y_train)."""
    arts = run.artifacts
    missing = sorted({"x_grid", "y_true", "y_fit", "x_train", "y_train"} - set(arts))
    if missing:
        raise ValueError(f"the run has no artifacts {missing}: fitted_function needs a curvefit run")
    fig = go.Figure(
        [go.Scatter(x=arts["x_grid"], y=arts["y_true"], name="true function f(x)", line=dict(dash="dash")),
         go.Scatter(x=arts["x_grid"], y=arts["y_fit"], name="network"),
         go.Scatter(x=arts["x_train"], y=arts["y_train"], mode="markers", name="noisy training points")],
        layout=dict(template=plots.LAYOUT, title=title, xaxis_title="x (input)", yaxis_title="y (output)"),
    )
    return plots.legible(fig)
