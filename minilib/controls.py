"""The explorer's controls: one widget per Config field, its kind read from the field's declaration.

`control_for(spec, value)` picks a dropdown for choices, a checkbox for a bool, a (log) slider for a bounded
number, a text box otherwise; a slider spans the field's `widget` range (runs.param) when it declares one.
"""

from __future__ import annotations

import math
import sys

import ipywidgets as W
import numpy as np

from minilib.runs import FieldSpec

__all__ = ["control_for"]


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
