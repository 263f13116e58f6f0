"""The book's plotly renderer: both mimetypes, no inlined plotly.js, registration is idempotent."""

import json
import re

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from minilib import display

PLOTLY_JSON = "application/vnd.plotly.v1+json"


@pytest.fixture(autouse=True)
def restore_plotly_default():
    before = pio.renderers.default
    yield
    pio.renderers.default = before


def small_figure():
    return go.Figure(go.Scatter(x=[0, 1, 2], y=[3.0, 1.5, 0.25], name="loss"), layout_title_text="t")


def test_register_makes_the_book_renderer_the_default():
    pio.renderers.default = "json"
    assert display.register() == display.RENDERER_NAME
    assert pio.renderers.default == display.RENDERER_NAME
    assert isinstance(pio.renderers[display.RENDERER_NAME], display.BookRenderer)


def test_register_twice_changes_nothing():
    display.register()
    first = pio.renderers[display.RENDERER_NAME]
    display.register()
    assert pio.renderers[display.RENDERER_NAME] is first
    assert pio.renderers.default == display.RENDERER_NAME
    assert list(pio.renderers).count(display.RENDERER_NAME) == 1


def test_bundle_has_plotly_json_and_html():
    display.register()
    bundle = small_figure()._repr_mimebundle_()
    assert set(bundle) == {PLOTLY_JSON, "text/html"}
    assert bundle[PLOTLY_JSON]["data"][0]["y"] == [3.0, 1.5, 0.25]
    assert bundle[PLOTLY_JSON]["layout"]["title"]["text"] == "t"
    json.dumps(bundle[PLOTLY_JSON])  # the notebook stores it as JSON


def test_html_references_plotly_without_inlining_or_fetching_it():
    html = display.BookRenderer().to_mimebundle(small_figure().to_dict())["text/html"]
    assert "Plotly.newPlot" in html
    assert "<script src" not in html and "cdn.plot.ly" not in html and "mathjax" not in html.lower()
    # plotly.js itself is ~4.8 MB; a three-point figure's div must stay tiny.
    assert len(html) < 20_000
    assert "<html" not in html
    div_id = re.search(r'<div id="([^"]+)"', html).group(1)
    assert f'"{div_id}"' in html.split("<script", 1)[1]


def test_html_has_a_fixed_height_so_the_figure_is_visible_in_a_page():
    html = display.BookRenderer().to_mimebundle(small_figure().to_dict())["text/html"]
    assert f"height:{display.DEFAULT_HEIGHT}" in html.replace(" ", "")


def test_show_config_reaches_both_outputs_and_leaves_the_figure_alone():
    display.register()
    fig = small_figure()
    bundle = fig._repr_mimebundle_(config={"displayModeBar": False})
    assert bundle[PLOTLY_JSON]["config"]["displayModeBar"] is False
    assert '"displayModeBar": false' in bundle["text/html"]
    assert "config" not in fig.to_dict()


def test_slider_figure_keeps_its_sliders_in_both_outputs():
    fig = go.Figure([go.Scatter(y=[i, i + 1], visible=i == 0) for i in range(3)])
    steps = [dict(method="update", args=[{"visible": [j == i for j in range(3)]}]) for i in range(3)]
    fig.update_layout(sliders=[dict(steps=steps)])
    bundle = display.BookRenderer().to_mimebundle(fig.to_dict())
    assert len(bundle[PLOTLY_JSON]["layout"]["sliders"][0]["steps"]) == 3
    assert '"sliders"' in bundle["text/html"]
