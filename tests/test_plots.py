"""Figure builders on small synthetic Runs: traces, quantile bands, sliders, titles, errors."""

from dataclasses import dataclass

import numpy as np
import pytest

from minilib import plots
from minilib.runs import Config, Run, param


@dataclass(frozen=True)
class Cfg(Config):
    lr: float = param(0.1, low=1e-5, high=10.0, log=True, help="learning rate")
    width: int = param(16, low=1, high=4096, help="hidden units")
    seed: int = param(0, low=0, help="random seed")


def make_run(lr=0.1, seed=0, steps=None, width=16, status="completed"):
    rng = np.random.default_rng(seed * 1000 + int(lr * 1e4) + width)
    steps = np.arange(0, 101, 10) if steps is None else np.asarray(steps)
    loss = np.exp(-steps * lr / 10) + 0.1 * rng.random(len(steps))
    acc = 1 - loss / 2
    return Run(Cfg(lr=lr, seed=seed, width=width), {"step": steps, "train_loss": loss, "test_acc": acc},
               status=status)


def by_name(fig):
    return {t.name: t for t in fig.data}


def test_single_run_single_metric():
    run = make_run()
    fig = plots.curves(run, "train_loss")
    assert len(fig.data) == 1
    (tr,) = fig.data
    assert tr.name == "train_loss"  # a single run: the metric alone (its words, for a phenomenon's runs)
    np.testing.assert_array_equal(tr.x, run.history["step"])
    np.testing.assert_allclose(tr.y, run.history["train_loss"])
    assert fig.layout.title.text and fig.layout.xaxis.title.text == "step"
    assert fig.layout.yaxis.title.text == "train_loss"


def test_seed_groups_draw_median_and_20_80_band():
    runs = [make_run(lr, seed) for lr in (0.1, 0.3) for seed in range(5)]
    fig = plots.curves(runs, ["train_loss", "test_acc"], x_title="epoch (full-batch steps)", y_title="value")
    names = [t.name for t in fig.data]
    # per label and metric: band upper, band lower (filled to the upper), median line
    assert len(fig.data) == 2 * 2 * 3
    assert "lr=0.1 · train_loss" in names and "lr=0.3 · test_acc" in names
    traces = by_name(fig)
    for lr in (0.1, 0.3):
        group = [r for r in runs if r.config.lr == lr]
        table = np.stack([r.history["train_loss"] for r in group])
        median = traces[f"lr={lr} · train_loss"]
        upper = traces[f"lr={lr} · train_loss (20–80% upper)"]
        lower = traces[f"lr={lr} · train_loss (20–80% lower)"]
        np.testing.assert_allclose(median.y, np.median(table, axis=0))
        np.testing.assert_allclose(upper.y, np.quantile(table, 0.8, axis=0))
        np.testing.assert_allclose(lower.y, np.quantile(table, 0.2, axis=0))
        assert lower.fill == "tonexty" and upper.showlegend is False
        # one colour per label, one dash per metric
        assert median.line.color == upper.line.color == traces[f"lr={lr} · test_acc"].line.color
        assert median.line.dash != traces[f"lr={lr} · test_acc"].line.dash
    assert traces["lr=0.1 · train_loss"].line.color != traces["lr=0.3 · train_loss"].line.color
    assert fig.layout.xaxis.title.text == "epoch (full-batch steps)" and fig.layout.yaxis.title.text == "value"


def test_band_interpolates_onto_union_of_steps():
    a = make_run(seed=0, steps=np.arange(0, 11))
    b = make_run(seed=1, steps=np.arange(0, 11, 2))
    c = make_run(seed=2, steps=np.arange(0, 11, 5))
    fig = plots.curves([a, b, c], "train_loss", band=(0.25, 0.75))
    # one seed group: the legend's title names the group and the band, the trace the metric
    assert fig.layout.legend.title.text == "3 seeds: median, 25–75% band"
    med = by_name(fig)["train_loss"]
    np.testing.assert_array_equal(med.x, np.arange(0, 11))
    union = np.arange(0, 11)
    table = np.stack([np.interp(union, r.history["step"], r.history["train_loss"]) for r in (a, b, c)])
    np.testing.assert_allclose(med.y, np.median(table, axis=0))
    np.testing.assert_allclose(by_name(fig)["train_loss (25–75% upper)"].y,
                               np.quantile(table, 0.75, axis=0))


def test_stopped_run_does_not_extend_band_past_its_last_step():
    full = [make_run(seed=s) for s in range(2)]
    short = make_run(seed=2, steps=np.arange(0, 51, 10), status="stopped")
    fig = plots.curves(full + [short], "train_loss")
    med = by_name(fig)["train_loss"]
    late = med.x > 50
    np.testing.assert_allclose(med.y[late],
                               np.median([r.history["train_loss"][6:] for r in full], axis=0))


def test_batched_replicas_in_one_run_form_a_band():
    steps = np.arange(5)
    vals = np.arange(15, dtype=float).reshape(5, 3)  # [n_logs, n_replicas]
    run = Run(Cfg(), {"step": steps, "loss": vals})
    fig = plots.curves(run, "loss")
    np.testing.assert_allclose(by_name(fig)["loss"].y, np.median(vals, axis=1))
    np.testing.assert_allclose(by_name(fig)["loss (20–80% upper)"].y, np.quantile(vals, 0.8, axis=1))


def test_labels_and_log_axes():
    runs = [make_run(0.1, width=8), make_run(0.1, width=32)]
    fig = plots.curves(runs, "train_loss", log_x=True, log_y=True, title="Loss falls")
    # one metric: the label alone names a trace (the metric is the y title)
    assert [t.name for t in fig.data] == ["width=8", "width=32"]
    assert fig.layout.yaxis.title.text == "train_loss"
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.exponentformat == fig.layout.yaxis.exponentformat == "power"  # 10⁻⁴, not 100μ
    assert min(fig.data[0].x) == 10  # step 0 dropped on a log axis, other steps unshifted
    assert fig.layout.title.text == "Loss falls"
    fig = plots.curves(runs, "train_loss", labels=["narrow", "wide"])
    assert [t.name for t in fig.data] == ["narrow", "wide"]
    fig = plots.curves(runs, ["train_loss", "test_acc"], labels=["narrow", "wide"])
    assert [t.name for t in fig.data] == ["narrow · train_loss", "narrow · test_acc", "wide · train_loss",
                                          "wide · test_acc"]
    fig = plots.curves(runs, "train_loss", labels=["same", "same"])
    assert len(fig.data) == 3  # one seed group: band + median
    with pytest.raises(ValueError, match="labels has 1 entries but there are 2 runs"):
        plots.curves(runs, "train_loss", labels=["x"])


def test_bad_inputs_name_the_problem():
    run = make_run()
    with pytest.raises(ValueError, match=r"unknown metric 'test_loss'.*\['step', 'test_acc', 'train_loss'\]"):
        plots.curves(run, ["train_loss", "test_loss"])
    with pytest.raises(ValueError, match="no runs"):
        plots.curves([], "train_loss")
    with pytest.raises(ValueError, match="band"):
        plots.curves(run, "train_loss", band=(0.8, 0.2))
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        plots.sweep_slider([run], [1], metrics="nope", slider_label="lr", title="t")


def test_heatmap_marks_nan_cells_not_reached():
    x, y = np.array([1e-3, 1e-2, 1e-1, 1.0]), np.array([10, 20, 40])
    z = np.arange(12, dtype=float).reshape(3, 4)
    z[1, 2] = np.nan
    fig = plots.phase_diagram(z, x, y, title="Steps to generalise", x_title="weight decay",
                              y_title="width (units)", z_title="steps", log_x=True, text_fmt=".0f")
    grey, main = fig.data
    assert np.isnan(grey.z[0][0]) and grey.z[1][2] == 0 and grey.showscale is False
    np.testing.assert_array_equal(np.asarray(main.z, dtype=float), z)
    assert "not reached" in main.hovertext[1][2] and "steps = 11" in main.hovertext[2][3]
    assert main.texttemplate == "%{z:.0f}" and main.colorbar.title.text == "steps"
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "weight decay"
    assert fig.layout.yaxis.title.text == "width (units)" and fig.layout.title.text == "Steps to generalise"
    assert list(fig.layout.xaxis.tickvals) == x.tolist()
    full = plots.heatmap(np.ones((3, 4)), x, y, title="t", x_title="a", y_title="b", z_title="c")
    assert len(full.data) == 1  # no grey layer when every cell is reached
    with pytest.raises(ValueError, match=r"z has shape \(4, 3\)"):
        plots.heatmap(z.T, x, y, title="t", x_title="a", y_title="b", z_title="c")
    with pytest.raises(ValueError, match="positive x values"):
        plots.heatmap(z, x - 1, y, title="t", x_title="a", y_title="b", z_title="c", log_x=True)


def test_sweep_slider_toggles_one_value_at_a_time():
    lrs = [0.01, 0.1, 1.0]
    runs = [[make_run(lr, s) for s in range(3)] for lr in lrs[:2]] + [make_run(1.0)]
    fig = plots.sweep_slider(runs, lrs, metrics=["train_loss", "test_acc"], slider_label="lr",
                             title="Loss by learning rate", y_title="loss / accuracy")
    (slider,) = fig.layout.sliders
    assert len(slider.steps) == 3 and slider.active == 0
    owner = [t.meta["slider_index"] for t in fig.data]
    assert owner.count(0) == owner.count(1) == 6 and owner.count(2) == 2  # seeds: band + median per metric
    for k, step in enumerate(slider.steps):
        assert step.method == "update"
        visible, layout = step.args
        assert visible["visible"] == [o == k for o in owner]
        assert layout["title.text"] == f"Loss by learning rate — lr = {lrs[k]:g}"
    assert [t.visible for t in fig.data] == [o == 0 for o in owner]
    assert fig.layout.title.text == "Loss by learning rate — lr = 0.01"
    # the band of the visible group is the 20–80% quantile over its seeds
    table = np.stack([r.history["train_loss"] for r in runs[1]])
    upper = [t for t in fig.data if t.meta["slider_index"] == 1 and t.name.startswith("train_loss (20–80% up")]
    np.testing.assert_allclose(upper[0].y, np.quantile(table, 0.8, axis=0))
    # fixed ranges cover every position's data
    ys = np.concatenate([t.y for t in fig.data])
    lo, hi = fig.layout.yaxis.range
    assert lo < ys.min() and hi > ys.max()
    assert fig.layout.xaxis.range[0] <= 0 and fig.layout.xaxis.range[1] >= 100
    assert fig.layout.xaxis.title.text == "step" and fig.layout.yaxis.title.text == "loss / accuracy"
    with pytest.raises(ValueError, match="values has 2 entries but there are 3 runs"):
        plots.sweep_slider(runs, lrs[:2], metrics="train_loss", slider_label="lr", title="t")


def test_sweep_slider_log_ranges_are_in_log_units():
    runs = [make_run(lr) for lr in (0.1, 1.0)]
    fig = plots.sweep_slider(runs, [0.1, 1.0], metrics="train_loss", slider_label="lr", title="t",
                             log_x=True, log_y=True)
    lo, hi = fig.layout.xaxis.range
    assert lo <= np.log10(10) <= np.log10(100) <= hi and lo > 0
    ys = np.concatenate([t.y for t in fig.data])
    assert fig.layout.yaxis.range[0] < np.log10(ys.min()) and fig.layout.yaxis.range[1] > np.log10(ys.max())


def test_add_threshold_on_linear_and_log_axes():
    fig = plots.add_threshold(plots.curves(make_run(), "test_acc"), 0.95, "95% accuracy")
    (shape,) = fig.layout.shapes
    assert shape.y0 == shape.y1 == 0.95 and shape.line.dash == "dash"
    assert fig.layout.annotations[-1].text == "95% accuracy" and fig.layout.annotations[-1].y == 0.95
    logfig = plots.add_threshold(plots.curves(make_run(), "train_loss", log_y=True), 0.01, "1e-2")
    assert logfig.layout.shapes[0].y0 == 0.01  # shapes use data units on log axes
    assert logfig.layout.annotations[-1].y == pytest.approx(-2)  # annotations use log10 units
    with pytest.raises(ValueError, match="y=0"):
        plots.add_threshold(logfig, 0, "zero")


def test_every_builder_uses_the_shared_template():
    run = make_run()
    figs = [plots.curves(run, "train_loss"),
            plots.heatmap(np.ones((2, 2)), [1, 2], [1, 2], title="t", x_title="a", y_title="b", z_title="c"),
            plots.sweep_slider([run], [1], metrics="train_loss", slider_label="k", title="t")]
    for fig in figs:
        assert fig.layout.template.layout.plot_bgcolor == "white"
        assert fig.layout.template.layout.font.size == plots.LAYOUT.layout.font.size
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_a_phenomenon_run_is_labelled_in_words():
    from minilib import curvefit

    run = curvefit.run(curvefit.Config(n_train=8, width=4, steps=20, num_logs=3, device="cpu"), progress=False)
    fig = plots.curves(run, ["train_loss", "test_loss"])
    # short names in the legend, the unit on the axis, the full words in the tooltip
    assert [t.name for t in fig.data] == ["train loss", "test loss"]
    assert curvefit.METRICS["train_loss"] in fig.data[0].hovertemplate
    assert fig.layout.xaxis.title.text == curvefit.X_TITLE
    assert fig.layout.yaxis.title.text == "loss (mean squared error)"  # the phenomenon's PLOT_GROUPS title


def test_short_names_drop_the_unit_and_the_detail_after_a_colon():
    assert plots.short_name("train loss (cross-entropy, nats)") == "train loss"
    assert plots.short_name("training samples in Softmax Collapse: softmax sum exactly 1 (fraction)") == \
        "training samples in Softmax Collapse"
    assert plots.short_name("weight norm ‖θ‖₂") == "weight norm ‖θ‖₂"
    assert plots.short_name("(fraction)") == "(fraction)"  # nothing left: the words stay


def test_legends_sit_below_the_plot_and_axes_make_room_for_their_titles():
    runs = [make_run(lr, seed) for lr in (0.1, 0.3) for seed in range(3)]
    builders = [plots.curves(runs, ["train_loss", "test_acc"]),
                plots.sweep_slider([runs[:3], runs[3:]], [0.1, 0.3], metrics=["train_loss"], slider_label="lr",
                                   title="t"),
                plots.final_vs(runs, "lr", ["train_loss"], title="t")]
    for fig in builders:
        legend = fig.layout.template.layout.legend
        assert legend.orientation == "h" and legend.yanchor == "bottom" and legend.yref == "container"
        axes = fig.layout.template.layout
        assert axes.xaxis.automargin is True and axes.yaxis.automargin is True
    # a figure built by hand with its own legend gets the same from legible()
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[1, 10], y=[1, 2], name="a"), layout=dict(legend=dict(x=1.02, y=1,
                                                                                          title_text="kept")))
    fig.update_xaxes(type="log")
    plots.legible(fig)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.x == 0 and fig.layout.legend.title.text == "kept"
    assert fig.layout.xaxis.exponentformat == "power" and fig.layout.yaxis.automargin is True
    assert fig.layout.yaxis.exponentformat is None  # a linear axis keeps 2k (power would write 0.2×10⁴)
    # a y title longer than the plot is tall wraps onto lines (it was cut off at the figure's edge)
    long = "probe accuracy for the digit (fraction; mean, bars: range of 3 seeds)"
    plots.legible(fig.update_yaxes(title_text=long))
    lines = fig.layout.yaxis.title.text.split("<br>")
    assert len(lines) == 2 and " ".join(lines) == long and max(map(len, lines)) <= plots.Y_TITLE_CHARS
    assert plots.legible(fig).layout.yaxis.title.text.count("<br>") == 1  # applying it twice changes nothing


def test_final_vs_draws_the_median_and_band_of_seeds():
    runs = [Run(Cfg(lr=lr, seed=s), {"step": np.arange(3), "loss": np.array([9.0, 5.0, lr * 10 + s])})
            for lr in (0.1, 0.3) for s in range(5)]
    fig = plots.final_vs(runs, "lr", "loss", title="t")
    (tr,) = fig.data
    assert list(tr.x) == [0.1, 0.3] and np.allclose(tr.y, [3.0, 5.0])
    assert np.allclose(tr.error_y.array, [1.2, 1.2]) and np.allclose(tr.error_y.arrayminus, [1.2, 1.2])
    assert "median of 5" in tr.name
    with pytest.raises(ValueError, match="by='depth' is not a config field"):
        plots.final_vs(runs, "depth", "loss", title="t")


def test_first_steps_on_a_grid_marks_never_with_nan():
    acc = lambda lr, s: np.array([0, 0.5, 0.95 if lr > 0.2 else 0.5, 1.0 * (s > 0)])
    runs = [Run(Cfg(lr=lr, seed=s), {"step": np.arange(4), "acc": acc(lr, s)}) for lr in (0.1, 0.3) for s in (0, 1)]
    z, rows, cols = plots.first_steps(runs, "acc", 0.9, rows="lr", cols="seed")
    assert rows == [0.1, 0.3] and cols == [0, 1]
    assert np.isnan(z[0, 0]) and z[0, 1] == 3 and z[1, 0] == 2 and z[1, 1] == 2
    with pytest.raises(ValueError, match="two runs share the grid cell"):
        plots.first_steps(runs + runs[:1], "acc", 0.9, rows="lr", cols="seed")
