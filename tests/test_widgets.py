"""Headless end-to-end drive of the explorer with a tiny fake phenomenon module."""

import json
import math
import signal
import sys
import threading
import time
import types
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from minilib import explorer, liveruns, phenomenon, runtime, widgets
from minilib.runs import Config, ConfigError, Run, param
from minilib.train import log_steps, train

STEP_SECONDS = 0.001  # each fake step sleeps this long so Stop can land mid-run on any machine


@dataclass(frozen=True)
class FakeConfig(Config):
    steps: int = param(200, low=1, high=100_000, help="optimisation steps")
    lr: float = param(0.05, low=1e-4, high=100.0, log=True, help="learning rate")
    width: int = param(8, low=1, high=1024, log=True, help="number of features")
    momentum: float = param(0.0, low=0.0, high=0.99, help="heavy-ball momentum")
    noise: float = param(0.1, low=0.0, help="label noise std")
    optimizer: str = param("sgd", choices=("sgd", "adam"), help="optimiser")
    nesterov: bool = param(False, help="Nesterov momentum")
    note: str = param("", help="free text; 'boom' makes run() fail")
    num_logs: int = param(40, low=2, high=1000, help="evaluations along the run")
    seed: int = param(0, low=0, help="random seed")
    device: str = param("cpu", choices=("cpu",), help="where to train")

    def validate(self):
        super().validate()
        if self.nesterov and self.momentum == 0:
            raise ConfigError("FakeConfig.nesterov=True needs momentum > 0 (got momentum=0.0)")


def fake_run(config, *, on_step=None, stop=None, progress=True):
    """Linear regression by gradient descent: cheap, and a large lr makes it diverge."""
    if config.note == "boom":
        raise RuntimeError("boom: the fake run failed")
    g = torch.Generator().manual_seed(config.seed)
    X = torch.randn(64, config.width, generator=g)
    y = X @ torch.randn(config.width, generator=g) + config.noise * torch.randn(64, generator=g)
    w = torch.zeros(config.width, requires_grad=True)
    opt_cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD
    kw = {} if config.optimizer == "adam" else dict(momentum=config.momentum, nesterov=config.nesterov)
    opt = opt_cls([w], lr=config.lr, **kw)
    calls = [0]

    def step(i):
        calls[0] += 1
        time.sleep(STEP_SECONDS)
        opt.zero_grad()
        loss = ((X @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    def evaluate():
        with torch.no_grad():
            err = ((X @ w - y) ** 2).mean().item()
        return {"train_loss": err, "weight_norm": w.detach().norm().item()}

    log = train(step, config.steps, evaluate=evaluate, log_at=log_steps(config.steps, num_points=config.num_logs),
                on_step=on_step, stop=stop, progress=progress)
    return Run(config, log.history, {"steps_run": np.asarray(calls[0])}, status=log.status,
               diverged_at=log.diverged_at)


def make_fake(name, **changes):
    """A module that follows the phenomenon protocol, around fake_run."""
    m = types.ModuleType(name)
    m.CODE_VERSION, m.TITLE, m.CHAPTER = 1, "Fitting a line by gradient descent", "nbs/99_fake.py"
    m.Config, m.run, m.num_steps = FakeConfig, fake_run, lambda c: c.steps
    m.run_sweep = lambda configs, *, on_step=None, stop=None, progress=True: [fake_run(c) for c in configs]
    m.METRICS = {"train_loss": "train loss (mean squared error)", "weight_norm": "weight norm ‖w‖₂"}
    m.PLOT_GROUPS = {"loss (mean squared error)": ("train_loss",), "weight norm": ("weight_norm",)}
    m.X_TITLE = "step (gradient descent)"
    m.REPLICA_FIELDS, m.SHIPPED = (), {}
    for k, v in changes.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return phenomenon.check_module(m)


fake = make_fake("fakephen")
one_panel = make_fake("fakephen_one", PLOT_GROUPS={"loss and weights": ("train_loss", "weight_norm")})


@pytest.fixture
def ex():
    e = widgets.explorer(fake, FakeConfig())
    yield e
    e.close()
    assert not e.running


def wait_for(cond, timeout=20.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def explorer_threads() -> int:
    return sum(t.name.startswith(widgets.THREAD_PREFIX) for t in threading.enumerate())


def by_metric(e) -> dict:
    return {t.meta: t for t in e.figure.data if t.meta}


def test_controls_follow_field_metadata(ex):
    c = ex.controls
    assert list(c) == [s.name for s in FakeConfig.field_specs()]
    assert isinstance(c["steps"], W.IntSlider) and (c["steps"].min, c["steps"].max) == (1, 100_000)
    assert isinstance(c["lr"], W.FloatLogSlider)
    assert (c["lr"].min, c["lr"].max, c["lr"].base) == (pytest.approx(-4), pytest.approx(2), 10)
    assert c["lr"].step == pytest.approx(0.1)  # 6 decades: positions at round tenths of a decade
    assert isinstance(c["width"], W.SelectionSlider)
    opts = np.array(c["width"].options)
    assert opts[0] == 1 and opts[-1] == 1024 and 8 in opts and np.all(np.diff(opts) > 0)
    # log spacing: the options thin out geometrically, so the upper half of the range has few of them
    assert np.sum(opts > 512) < np.sum(opts < 32)
    assert isinstance(c["momentum"], W.FloatSlider) and (c["momentum"].min, c["momentum"].max) == (0, 0.99)
    assert c["momentum"].step == pytest.approx(0.01)
    assert isinstance(c["noise"], W.BoundedFloatText) and c["noise"].min == 0
    assert isinstance(c["optimizer"], W.Dropdown) and list(c["optimizer"].options) == ["sgd", "adam"]
    assert isinstance(c["nesterov"], W.Checkbox) and c["nesterov"].value is False
    assert isinstance(c["note"], W.Text) and isinstance(c["seed"], W.BoundedIntText)
    assert c["lr"].value == pytest.approx(0.05) and c["lr"].tooltip == "learning rate"
    assert all(w.description == name for name, w in c.items())
    assert ex.config() == FakeConfig()


def test_widget_range_narrows_the_slider_and_keeps_the_current_value():
    @dataclass(frozen=True)
    class Demo(Config):
        epochs: int = param(300, low=1, high=1_000_000, log=True, widget=(10, 20_000))
        fraction: float = param(0.4, low=0.0, high=1.0, widget=(0.05, 0.95))
        lr: float = param(0.01, low=1e-6, high=100.0, log=True, widget=(1e-4, 1.0))

    specs = {s.name: s for s in Demo.field_specs()}
    epochs = widgets.control_for(specs["epochs"], 300)
    assert isinstance(epochs, W.SelectionSlider) and epochs.options[0] == 10 and epochs.options[-1] == 20_000
    assert 300 in epochs.options and len(epochs.options) < 60
    frac = widgets.control_for(specs["fraction"], 0.4)
    assert (frac.min, frac.max, frac.step) == (0.05, 0.95, pytest.approx(0.01))  # never 0 or 1
    lr = widgets.control_for(specs["lr"], 0.01)
    assert (lr.min, lr.max) == (pytest.approx(-4), pytest.approx(0))
    # a starting value outside the demo range widens the slider so that value is still shown
    wide = widgets.control_for(specs["epochs"], 50_000)
    assert wide.options[-1] == 50_000 and wide.value == 50_000
    assert widgets.control_for(specs["lr"], 3.0).max == pytest.approx(math.log10(3.0))


def test_title_legend_and_axes_come_from_the_protocol(ex):
    fig = ex.figure
    assert fig.layout.title.text == fake.TITLE
    assert [a.text for a in fig.layout.annotations[:2]] == ["loss (mean squared error)", "weight norm"]
    assert [t.name for t in fig.data] == [fake.METRICS["train_loss"], fake.METRICS["weight_norm"]]
    assert fig.layout.xaxis.title.text == fig.layout.xaxis2.title.text == fake.X_TITLE
    assert fig.layout.yaxis.title.text == "loss (mean squared error)"
    # before any run: the axes of the run the settings would make, and a hint instead of an empty plot
    assert tuple(fig.layout.xaxis.range) == (0, 200)
    assert "press Run" in fig.layout.annotations[-1].text
    # side by side panels keep their width: the legend goes below them; one panel keeps it at the right
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0
    e = widgets.explorer(one_panel, FakeConfig(), title="A line")
    assert e.figure.layout.title.text == "A line" and e.figure.layout.yaxis.title.text == "loss and weights"
    assert e.figure.layout.legend.orientation is None
    e.close()


def test_module_outside_the_protocol_is_refused():
    bare = types.ModuleType("bare")
    bare.Config, bare.run = FakeConfig, fake_run
    with pytest.raises(phenomenon.ProtocolError, match="bare lacks TITLE"):
        widgets.explorer(bare, FakeConfig())
    with pytest.raises(TypeError, match="base_config must be a fakephen.Config"):
        widgets.explorer(fake, types.SimpleNamespace())


def test_field_subset_and_bad_names():
    e = widgets.explorer(fake, FakeConfig(steps=50), fields=["lr", "optimizer"])
    assert list(e.controls) == ["lr", "optimizer"]
    e.controls["lr"].value = 0.01
    assert e.config() == FakeConfig(steps=50, lr=0.01)
    with pytest.raises(ValueError, match="unknown field 'learning_rate'.*lr"):
        widgets.explorer(fake, FakeConfig(), fields=["learning_rate"])
    with pytest.raises(ValueError, match="unknown metric 'accuracy'.*train_loss"):
        widgets.explorer(fake, FakeConfig(), metrics=["accuracy"])
    e.close()


def test_run_to_completion_fills_figure_with_history(ex):
    ex.controls["steps"].value = 150
    ex.controls["lr"].value = 0.02
    ex.start()
    assert ex.running and ex.message == "running…"
    assert "press Run" not in str([a.text for a in ex.figure.layout.annotations])
    run = ex.wait(30)
    assert run is not None and run.status == "completed"
    assert run.config.steps == 150 and run.config.lr == pytest.approx(0.02)
    assert ex.message.startswith("completed: 150 steps in ")
    assert ex.progress.value == ex.progress.max == 150 and ex.progress.bar_style == "success"
    assert ex.progress_text.value.startswith("150 / 150 steps · ")
    for m, t in by_metric(ex).items():
        np.testing.assert_array_equal(t.x, run.history["step"])
        np.testing.assert_allclose(t.y, run.history[m])
    assert run.history["train_loss"][-1] < run.history["train_loss"][0]
    assert explorer_threads() == 0


def test_progress_moves_between_logged_points_and_stop_reports_the_real_step(ex):
    ex.controls["steps"].value = 50_000
    ex.controls["num_logs"].value = 2  # logs only at step 0 and at the very end
    ex.start()
    wait_for(lambda: ex.progress.value > 0)  # on the timer, though nothing was logged since step 0
    assert len(ex.figure.data[0].x) <= 1
    assert " steps/s · about " in ex.progress_text.value
    ex.stop()
    run = ex.wait(30)
    assert run.status == "stopped" and list(run.history["step"]) == [0]
    assert ex.stopped_at == int(run.artifacts["steps_run"]) > 0  # the step the loop really stopped at
    assert ex.message.startswith(f"stopped at step {ex.stopped_at:,} of 50,000;")
    assert ex.progress.value == ex.stopped_at and ex.progress.bar_style == "warning"


def test_stop_keeps_partial_curves(ex):
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: len(ex.figure.data[0].x) >= 2)  # live updates reach the figure during the run
    ex.stop()
    run = ex.wait(30)
    assert run.status == "stopped"
    last = int(run.history["step"][-1])
    assert 0 < last <= ex.stopped_at < 50_000
    assert len(ex.figure.data[0].x) == len(run.history["step"])


def test_start_while_running_cancels_old_run(ex):
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: len(ex.figure.data[0].x) >= 1)
    old = ex._thread
    ex.controls["steps"].value = 100
    ex.start()
    assert not old.is_alive() and explorer_threads() == 1
    run = ex.wait(30)
    assert run.config.steps == 100 and run.status == "completed"
    np.testing.assert_array_equal(ex.figure.data[0].x, run.history["step"])
    assert ex.figure.data[0].x[-1] == 100


def test_a_new_explorer_for_the_module_closes_the_old_one(ex):
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: ex.progress.value > 0)
    thread = ex._thread
    again = widgets.explorer(fake, FakeConfig())  # what re-running the cell or Run All does
    assert ex.closed and not thread.is_alive() and explorer_threads() == 0
    assert widgets.live_explorers()["fakephen"] is again
    with pytest.raises(RuntimeError, match="closed"):
        ex.start()
    again.close()
    assert "fakephen" not in widgets.live_explorers()


def test_close_stops_the_run():
    e = widgets.explorer(fake, FakeConfig(steps=50_000))
    e.start()
    wait_for(lambda: e.progress.value > 0)
    e.close()
    assert not e.running and explorer_threads() == 0
    assert e.view.comm is None and e.run_button.comm is None  # the widgets are closed too


def test_kernel_interrupt_stops_every_run(ex):
    other = widgets.explorer(one_panel, FakeConfig(steps=50_000))
    ex.controls["steps"].value = 50_000
    ex.start()
    other.start()
    wait_for(lambda: ex.progress.value > 0 and other.progress.value > 0)
    handler = liveruns.InterruptHandler(signal.SIG_IGN)  # what ipykernel runs on SIGINT while idle
    handler(signal.SIGINT, None)
    assert ex.wait(30).status == other.wait(30).status == "stopped"
    assert "(kernel interrupted)" in ex.message and "(kernel interrupted)" in other.message
    with pytest.raises(KeyboardInterrupt):  # the handler it replaced still runs
        liveruns.InterruptHandler(signal.default_int_handler)(signal.SIGINT, None)
    other.close()


def test_interrupted_cell_stops_runs(ex):
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: ex.progress.value > 0)
    liveruns.after_cell(types.SimpleNamespace(error_in_exec=ValueError("not an interrupt")))
    assert ex.running
    liveruns.after_cell(types.SimpleNamespace(error_in_exec=KeyboardInterrupt()))
    assert ex.wait(30).status == "stopped" and "(kernel interrupted)" in ex.message


def test_divergence_is_reported_with_its_step(ex):
    ex.controls["lr"].value = 50.0
    ex.start()
    run = ex.wait(30)
    assert run.status == "diverged" and run.diverged_at is not None
    assert 0 <= run.diverged_at < 200
    noticed = int(run.history["step"][-1])
    assert ex.message == (f"diverged: the loss became NaN/inf at step {run.diverged_at} (noticed at step "
                          f"{noticed}) — try a smaller lr")
    assert ex.progress.value == noticed > 0 and ex.progress.bar_style == "danger"
    assert tuple(ex.figure.layout.xaxis.range) == (0, 200)  # the axis shows the planned run, not just its start
    assert "Traceback" not in ex.status.value


def test_loss_spike_is_reported_as_unstable(ex):
    ex.controls["lr"].value = 0.9  # just under the divergence threshold: the loss oscillates and grows
    ex.controls["steps"].value = 40
    ex.start()
    run = ex.wait(30)
    loss = run.history["train_loss"]
    assert run.status == "completed" and np.nanmax(loss) > widgets.UNSTABLE_FACTOR * loss[0]
    assert ex.message.startswith("completed in ") and ", but unstable: train loss (mean squared error) peaked" \
        in ex.message and ex.message.endswith("— try a smaller lr")
    assert ex.progress.bar_style == "warning"
    ex.controls["lr"].value = 0.02
    ex.start()
    ex.wait(30)
    assert ex.message.startswith("completed: 40 steps")


def test_invalid_combination_shows_config_error_and_greys_old_curves(ex):
    ex.controls["steps"].value = 30
    ex.start()
    ex.wait(30)
    ex.controls["nesterov"].value = True  # momentum is 0: the Config's cross-field check refuses it
    with pytest.raises(ConfigError):
        ex.config()
    ex.start()
    assert not ex.running and ex.wait(1) is None
    assert ex.message == ("invalid settings: FakeConfig.nesterov=True needs momentum > 0 (got momentum=0.0) "
                          "(the curves shown are from the previous settings)")
    assert isinstance(ex.error, ConfigError) and "Traceback" not in ex.status.value
    assert {t.opacity for t in by_metric(ex).values()} == {0.3}


def test_error_in_background_thread_is_shown(ex):
    ex.controls["note"].value = "boom"
    ex.start()
    assert ex.wait(30) is None
    assert isinstance(ex.error, RuntimeError)
    assert ex.message == "error: RuntimeError: boom: the fake run failed"


def test_reference_lines_follow_the_settings():
    e = widgets.explorer(fake, FakeConfig(steps=20), log_y=True,
                         hlines=lambda c: {"noise level σ²": c.noise ** 2})
    line = next(t for t in e.figure.data if t.name == "noise level σ²")
    assert tuple(line.y) == pytest.approx((0.01, 0.01)) and tuple(line.x) == (0, 20)
    assert e.figure.layout.yaxis.type == "log"
    e.controls["noise"].value = 0.5
    e.start()
    e.wait(30)
    assert tuple(line.y) == pytest.approx((0.25, 0.25))
    e.controls["noise"].value = 0.0  # log axis: a zero line cannot be drawn, so it is hidden
    e.start()
    e.wait(30)
    assert line.visible is False
    e.close()


def test_display_in_book_shows_note(ex, monkeypatch):
    monkeypatch.setattr(runtime, "IN_BOOK", True)
    bundle = ex._repr_mimebundle_()
    assert "needs a running Python kernel" in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    monkeypatch.setattr(runtime, "IN_BOOK", False)
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id


def test_plot_groups_give_one_subplot_per_group():
    e = widgets.explorer(fake, FakeConfig(steps=30), log_x=True)
    assert [a.text for a in e.figure.layout.annotations[:2]] == list(fake.PLOT_GROUPS)
    assert {t.xaxis for t in e.figure.data} == {"x", "x2"}
    assert e.figure.layout.xaxis.type == "log" and e.figure.layout.xaxis2.type == "log"
    e.start()
    run = e.wait(30)
    steps = run.history["step"]
    np.testing.assert_array_equal(e.figure.data[0].x, steps[steps > 0])  # log axis: step 0 dropped
    assert math.isclose(e.figure.data[1].y[-1], run.history["weight_norm"][-1])
    e.close()


def test_book_build_makes_no_widgets(monkeypatch):
    monkeypatch.setattr(runtime, "IN_BOOK", True)
    note = widgets.explorer(fake, FakeConfig())
    assert isinstance(note, widgets.BookNote)
    assert "needs a running Python kernel" in note._repr_mimebundle_()["text/html"]


def test_running_the_explorers_cell_again_stops_its_run_before_the_cell_body(ex):
    ex.cell_id = "cell-7"  # in Jupyter, the id of the cell that made it (pre_run_cell records it)
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: ex.progress.value > 0)
    liveruns.before_cell(types.SimpleNamespace(cell_id="cell-8"))  # another cell: the run goes on
    assert ex.running
    shown = len(ex.figure.data[0].x)
    liveruns.before_cell(types.SimpleNamespace(cell_id="cell-7"))
    assert not ex.running and explorer_threads() == 0  # ended before the cell body runs
    assert len(ex.figure.data[0].x) == shown and ex.message == "running…"  # nothing more sent to the page


# ---------------------------------------------------------------------------------------------- live figure
def decoded(view) -> dict:
    return {k: np.frombuffer(v, dtype=np.float64) for k, v in view.columns.items()}


def test_live_figure_sends_curves_as_binary_and_the_rest_as_json():
    fig = go.Figure([go.Scatter(x=[0, 5, 10], y=[1.0, math.nan, 0.25], name="loss"), go.Scatter(x=[], y=[])])
    fig.update_layout(title="t", xaxis_range=[0, 10])
    view = widgets.LiveFigure(fig)
    assert [t.get("name") for t in view.spec["data"]] == ["loss", None]
    assert all("x" not in t and "y" not in t for t in view.spec["data"])  # the arrays travel as bytes
    assert view.spec["layout"]["title"]["text"] == "t" and view.spec["layout"]["xaxis"]["range"] == [0, 10]
    cols = decoded(view)
    np.testing.assert_array_equal(cols["0.x"], [0, 5, 10])
    np.testing.assert_array_equal(cols["0.y"], [1.0, math.nan, 0.25])  # NaN survives (a gap in the line)
    assert cols["1.x"].size == 0
    json.dumps(view.spec, allow_nan=False)  # the JSON part is valid JSON
    # plotly.js comes from the plotly package (offline), and the page's module stays small: anywidget gives
    # a widget's module 2 s to load, which plotly's own 5 MB FigureWidget module missed on a busy machine.
    assert view._plotly_js.startswith("/**\n* plotly.js v") and len(view._plotly_js) > 1_000_000
    assert len(widgets.LiveFigure._esm) < 5_000
    cats = widgets.LiveFigure(go.Figure(go.Bar(x=["a", "b"], y=[1, 2])), with_plotly_js=False)
    assert cats.spec["data"][0]["x"] == ["a", "b"] and list(cats.columns) == ["0.y"]  # names stay JSON
    cats.close()
    v0 = view.version
    fig.data[0].y = [3.0, 2.0, 1.0]
    view.show(fig)
    assert view.version == v0 + 1 and decoded(view)["0.y"].tolist() == [3.0, 2.0, 1.0]
    view.close()


def test_the_explorers_page_figure_follows_its_python_figure(ex):
    ex.controls["steps"].value = 60
    ex.start()
    run = ex.wait(30)
    cols = decoded(ex.view)
    for i, trace in enumerate(ex.figure.data):
        np.testing.assert_array_equal(cols[f"{i}.x"], np.asarray(trace.x, dtype=float))
    assert np.array_equal(cols["0.x"], run.history["step"])
    assert ex.views_replaced == 0  # no page ever drew it (no browser here): nothing to replace


def test_a_page_that_never_draws_a_change_gets_a_new_figure(ex, monkeypatch):
    monkeypatch.setattr(explorer, "STUCK_SECONDS", 0.2)
    monkeypatch.setitem(liveruns.CELL, "busy", False)
    monkeypatch.setitem(liveruns.CELL, "ended", 0.0)
    first = ex.view
    # The page's first report (it drew version 0) gets a probe at once: version 1, nothing changed.
    first._on_page_message(first, {"drawn": 0}, [])
    assert first.version == 1 and first.waiting
    # That page never answers (its widget lost its messages): replaced without waiting for a run.
    wait_for(lambda: ex.views_replaced == 1, timeout=5)
    assert ex.widget.children[-1] is ex.view is not first and first.comm is None
    assert ex.view._plotly_js == ""  # that page has plotly.js already
    # the new figure's page answers the probe: it stays
    ex.view._on_page_message(ex.view, {"drawn": 0}, [])
    ex.view._on_page_message(ex.view, {"drawn": 1}, [])
    ex.controls["steps"].value = 300
    ex.start()
    ex.wait(30)
    time.sleep(0.5)
    assert ex.views_replaced == 1 and not ex.view.stuck(0.2)


def test_stuck_means_no_answer_since_the_first_draw_while_the_kernel_could_hear_it(monkeypatch):
    monkeypatch.setitem(liveruns.CELL, "busy", False)
    monkeypatch.setitem(liveruns.CELL, "ended", 0.0)
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))
    view = widgets.LiveFigure(fig, with_plotly_js=False)
    time.sleep(0.3)
    assert not view.stuck(0.2)  # no page drew it: nothing to replace (a closed tab, a script, a test)
    view._on_page_message(view, {"drawn": 0}, [])
    view.show(fig)
    monkeypatch.setitem(liveruns.CELL, "busy", True)
    time.sleep(0.3)
    assert not view.stuck(0.2)  # a cell runs: the page's answer waits for it
    monkeypatch.setitem(liveruns.CELL, "busy", False)
    assert view.stuck(0.2)
    monkeypatch.setitem(liveruns.CELL, "ended", time.monotonic())
    assert not view.stuck(0.2)  # the answer may come now that the cell ended
    # a page that drew any change is never stuck, however late its next answer (a busy kernel hears it late)
    view._on_page_message(view, {"drawn": 2}, [])
    view.show(fig)
    monkeypatch.setitem(liveruns.CELL, "ended", 0.0)
    time.sleep(0.3)
    assert not view.stuck(0.2)
    view.close()


def test_new_figures_for_a_silent_page_are_limited(monkeypatch):
    monkeypatch.setattr(explorer, "STUCK_SECONDS", 0.2)
    monkeypatch.setitem(liveruns.CELL, "busy", False)
    monkeypatch.setitem(liveruns.CELL, "ended", 0.0)
    e = widgets.explorer(fake, FakeConfig(steps=20))
    for n in range(1, widgets.MAX_VIEWS_REPLACED + 1):
        e.view._on_page_message(e.view, {"drawn": 0}, [])  # each new figure's page draws it once, no more
        wait_for(lambda n=n: e.views_replaced == n, timeout=5)
    e.view._on_page_message(e.view, {"drawn": 0}, [])
    time.sleep(0.6)
    assert e.views_replaced == widgets.MAX_VIEWS_REPLACED
    assert e.message == "the figure stopped following the run in this page: run this cell again"
    e.close()


def test_live_updates_wait_for_the_page_to_draw_the_previous_one(ex):
    ex.view._on_page_message(ex.view, {"drawn": 0}, [])  # a page drew it; the kernel's probe is in flight
    sent = ex.view.version
    ex.controls["steps"].value = 5000
    ex.start()
    wait_for(lambda: ex.progress.value > 0 and len(ex.figure.data[0].x) >= 3)
    assert ex.view.version == sent + 1  # the run's first (not live) update; live ones wait for the page
    ex.view._on_page_message(ex.view, {"drawn": ex.view.version}, [])  # the page catches up
    wait_for(lambda: ex.view.version > sent + 1)  # the next live update goes
    ex.stop()
    ex.wait(30)
    # the end of a run is always sent, whatever the page has drawn: all its points
    assert ex.view.drawing
    np.testing.assert_array_equal(decoded(ex.view)["0.x"], np.asarray(ex.figure.data[0].x, dtype=float))


def test_long_curves_lose_their_markers(ex):
    ex.controls["steps"].value = 400
    ex.controls["num_logs"].value = 300
    ex.start()
    ex.wait(30)
    assert len(ex.figure.data[0].x) > widgets.MARKERS_UP_TO and ex.figure.data[0].mode == "lines"
    assert ex.view.spec["data"][0]["mode"] == "lines"
    ex.controls["num_logs"].value = 20
    ex.start()
    ex.wait(30)
    assert ex.figure.data[0].mode == "lines+markers"
