"""LiveFigure: a plotly figure in the page that follows a go.Figure kept in Python.

The explorer's figure (minilib.explorer). Its page side is the JavaScript module `livefigure.js` beside this
file (shipped as package data); plotly.js itself comes from the plotly package, sent once per page. Why
not plotly's own go.FigureWidget, and how a page that lost its messages is noticed, is in the note below
and in `docs/explorer.md`.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import time
from collections.abc import Callable

import anywidget
import numpy as np
import plotly.graph_objects as go
import plotly.utils
import traitlets

from minilib import liveruns

__all__ = ["LiveFigure"]

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

#: The page side: an anywidget ES module, `livefigure.js` beside this file (package data).
ESM = (importlib.resources.files("minilib") / "livefigure.js").read_text(encoding="utf-8")


@functools.cache
def _plotly_js() -> str:
    """The plotly.js that ships inside the plotly package (the version plotly's Python side expects)."""
    return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


class LiveFigure(anywidget.AnyWidget):
    """A plotly figure drawn in the page that follows a go.Figure kept in Python (`show(fig)` redraws it).

    `spec` holds the figure without its x and y arrays, `columns` those arrays as float64 bytes (key
    "<trace index>.x" / ".y"); the page redraws with Plotly.react, which keeps zoom and hover working.
    """

    _esm = ESM
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
        at the top of this module), which is the one way anywidget loses them. A page that drew any change
        is never stuck, however slowly it draws (a busy kernel hears its answers late)."""
        if not self.waiting or liveruns.CELL["busy"]:
            return False  # no page yet; it drew a change; or a cell runs and the page's answer waits for it
        return time.monotonic() - max(self._changed_at, liveruns.CELL["ended"]) > seconds

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

