"""Headless end-to-end drive of the explorer with a tiny fake phenomenon module."""

import math
import sys
import time
import types
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import pytest
import torch

from minilib import runtime, widgets
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
    seed: int = param(0, low=0, help="random seed")

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

    def step(i):
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

    log = train(step, config.steps, evaluate=evaluate, log_at=log_steps(config.steps, num_points=40),
                on_step=on_step, stop=stop, progress=progress)
    return Run(config, log.history, status=log.status, diverged_at=log.diverged_at)


fake = types.ModuleType("fakephen")
fake.Config, fake.run, fake.CODE_VERSION = FakeConfig, fake_run, 1
fake.METRICS = ("train_loss", "weight_norm")
sys.modules.setdefault("fakephen", fake)


@pytest.fixture
def ex():
    e = widgets.explorer(fake, FakeConfig())
    yield e
    e.stop()
    e.wait(10)


def wait_for(cond, timeout=20.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_controls_follow_field_metadata(ex):
    c = ex.controls
    assert list(c) == [s.name for s in FakeConfig.field_specs()]
    assert isinstance(c["steps"], W.IntSlider) and (c["steps"].min, c["steps"].max) == (1, 100_000)
    assert isinstance(c["lr"], W.FloatLogSlider)
    assert (c["lr"].min, c["lr"].max, c["lr"].base) == (pytest.approx(-4), pytest.approx(2), 10)
    assert isinstance(c["width"], W.SelectionSlider)
    opts = np.array(c["width"].options)
    assert opts[0] == 1 and opts[-1] == 1024 and 8 in opts and np.all(np.diff(opts) > 0)
    # log spacing: the options thin out geometrically, so the upper half of the range has few of them
    assert np.sum(opts > 512) < np.sum(opts < 32)
    assert isinstance(c["momentum"], W.FloatSlider) and (c["momentum"].min, c["momentum"].max) == (0, 0.99)
    assert isinstance(c["noise"], W.BoundedFloatText) and c["noise"].min == 0
    assert isinstance(c["optimizer"], W.Dropdown) and list(c["optimizer"].options) == ["sgd", "adam"]
    assert isinstance(c["nesterov"], W.Checkbox) and c["nesterov"].value is False
    assert isinstance(c["note"], W.Text) and isinstance(c["seed"], W.BoundedIntText)
    assert c["lr"].value == pytest.approx(0.05) and c["lr"].tooltip == "learning rate"
    assert all(w.description == name for name, w in c.items())
    assert ex.config() == FakeConfig()


def test_field_subset_and_bad_names():
    e = widgets.explorer(fake, FakeConfig(steps=50), fields=["lr", "optimizer"])
    assert list(e.controls) == ["lr", "optimizer"]
    e.controls["lr"].value = 0.01
    assert e.config() == FakeConfig(steps=50, lr=0.01)
    with pytest.raises(ValueError, match="unknown field 'learning_rate'.*lr"):
        widgets.explorer(fake, FakeConfig(), fields=["learning_rate"])
    with pytest.raises(ValueError, match="unknown metric 'accuracy'.*train_loss"):
        widgets.explorer(fake, FakeConfig(), metrics=["accuracy"])


def test_run_to_completion_fills_figure_with_history(ex):
    ex.controls["steps"].value = 150
    ex.controls["lr"].value = 0.02
    ex.start()
    assert ex.running and ex.message == "running…"
    run = ex.wait(30)
    assert run is not None and run.status == "completed"
    assert run.config.steps == 150 and run.config.lr == pytest.approx(0.02)
    assert ex.message.startswith("completed")
    assert ex.progress.value == ex.progress.max == 150
    by_name = {t.name: t for t in ex.figure.data}
    for m in ("train_loss", "weight_norm"):
        np.testing.assert_array_equal(by_name[m].x, run.history["step"])
        np.testing.assert_allclose(by_name[m].y, run.history[m])
    assert run.history["train_loss"][-1] < run.history["train_loss"][0]


def test_stop_keeps_partial_curves(ex):
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: len(ex.figure.data[0].x) >= 2)  # live updates reach the figure during the run
    ex.stop()
    run = ex.wait(30)
    assert run.status == "stopped"
    last = int(run.history["step"][-1])
    assert 0 < last < 50_000
    assert ex.message == f"stopped at step {last}"
    assert len(ex.figure.data[0].x) == len(run.history["step"])


def test_start_while_running_cancels_old_run(ex):
    ex.controls["steps"].value = 50_000
    ex.start()
    wait_for(lambda: len(ex.figure.data[0].x) >= 1)
    old = ex._thread
    ex.controls["steps"].value = 100
    ex.start()
    assert not old.is_alive()
    run = ex.wait(30)
    assert run.config.steps == 100 and run.status == "completed"
    np.testing.assert_array_equal(ex.figure.data[0].x, run.history["step"])
    assert ex.figure.data[0].x[-1] == 100


def test_divergence_is_reported_with_its_step(ex):
    ex.controls["lr"].value = 50.0
    ex.start()
    run = ex.wait(30)
    assert run.status == "diverged" and run.diverged_at is not None
    assert 0 <= run.diverged_at < 200
    assert ex.message == (f"diverged at step {run.diverged_at} (loss became NaN/inf) — try a smaller lr")
    assert "Traceback" not in ex.status.value


def test_invalid_combination_shows_config_error(ex):
    ex.controls["nesterov"].value = True  # momentum is 0: the Config's cross-field check refuses it
    with pytest.raises(ConfigError):
        ex.config()
    ex.start()
    assert not ex.running and ex.wait(1) is None
    assert ex.message == "FakeConfig.nesterov=True needs momentum > 0 (got momentum=0.0)"
    assert isinstance(ex.error, ConfigError) and "Traceback" not in ex.status.value


def test_error_in_background_thread_is_shown(ex):
    ex.controls["note"].value = "boom"
    ex.start()
    assert ex.wait(30) is None
    assert isinstance(ex.error, RuntimeError)
    assert ex.message == "error: RuntimeError: boom: the fake run failed"


def test_display_in_book_shows_note(ex, monkeypatch):
    monkeypatch.setattr(runtime, "IN_BOOK", True)
    bundle = ex._repr_mimebundle_()
    assert "needs a running Python kernel" in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    monkeypatch.setattr(runtime, "IN_BOOK", False)
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id


def test_plot_groups_give_one_subplot_per_group():
    grouped = types.ModuleType("grouped")
    grouped.Config, grouped.run = FakeConfig, fake_run
    grouped.METRICS = ("train_loss", "weight_norm")
    grouped.PLOT_GROUPS = {"loss": ("train_loss",), "weights": ("weight_norm",)}
    e = widgets.explorer(grouped, FakeConfig(steps=30), log_x=True)
    assert [a.text for a in e.figure.layout.annotations] == ["loss", "weights"]
    assert {t.xaxis for t in e.figure.data} == {"x", "x2"}
    assert e.figure.layout.xaxis.type == "log" and e.figure.layout.xaxis2.type == "log"
    e.start()
    run = e.wait(30)
    steps = run.history["step"]
    np.testing.assert_array_equal(e.figure.data[0].x, steps[steps > 0])  # log axis: step 0 dropped
    assert math.isclose(e.figure.data[1].y[-1], run.history["weight_norm"][-1])


def test_book_build_makes_no_widgets(monkeypatch):
    monkeypatch.setattr(runtime, "IN_BOOK", True)
    note = widgets.explorer(fake, FakeConfig())
    assert isinstance(note, widgets.BookNote)
    assert "needs a running Python kernel" in note._repr_mimebundle_()["text/html"]
