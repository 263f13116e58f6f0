"""How plotly figures display: interactive in JupyterLab and on the book's static site.

Plotly's own notebook renderer emits only the plotly JSON mimetype, which JupyterLab draws but the
static site builder (myst-nb) drops. The renderer here emits that JSON *and* an HTML snippet that calls
``Plotly.newPlot``; the snippet does not inline plotly.js (4.8 MB) because the site loads one local copy
on every page. Introduced by the book set-up (book/testing.md); every chapter uses it through
``import minilib``.
"""

from __future__ import annotations

import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer, PlotlyRenderer

RENDERER_NAME = "minilib"
# Plotly's own HTML renderers use 525 px; "100%" would collapse to zero height inside a page's text flow.
DEFAULT_HEIGHT = "525px"


class BookRenderer(MimetypeRenderer):
    """Emits ``application/vnd.plotly.v1+json`` plus a ``text/html`` div that does not inline plotly.js."""

    def __init__(self, config: dict | None = None):
        # pio.show(fig, config=...) sets this attribute on a copy of the renderer.
        self.config = dict(config) if config else {}

    def to_mimebundle(self, fig_dict: dict) -> dict:
        html = pio.to_html(
            fig_dict,
            config=self.config or None,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=DEFAULT_HEIGHT,
            validate=False,
        )
        # PlotlyRenderer writes "config" into the dict it is given, so it gets its own shallow copy.
        bundle = PlotlyRenderer(config=self.config).to_mimebundle(dict(fig_dict))
        bundle["text/html"] = html
        return bundle


def register() -> str:
    """Register the book renderer under RENDERER_NAME and make it plotly's default (idempotent)."""
    if not isinstance(pio.renderers._renderers.get(RENDERER_NAME), BookRenderer):
        pio.renderers[RENDERER_NAME] = BookRenderer()
    if pio.renderers.default != RENDERER_NAME:
        pio.renderers.default = RENDERER_NAME
    pio.renderers.render_on_display = True
    return RENDERER_NAME
