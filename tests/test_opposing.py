"""Unit tests of minilib.opposing at tiny size: configs, data, runs, sweeps, the measurement kit."""

import threading

import numpy as np
import pytest
import torch

from minilib import opposing as o
from minilib import replicas
from minilib.opposing import analysis, sharpness
from minilib.runs import ConfigError

TINY = o.Config(n=60, dim=6, width=4, steps=30, sharpness_every=5, device="cpu")
TINY_DIGITS = o.digits_config(n=200, width=8, steps=20, log_every=5, sharpness_every=10, device="cpu")


# --- configs ------------------------------------------------------------------------------------------


def test_the_defaults_are_the_toy_of_the_issue():
    c = o.ToyConfig()
    assert o.ToyConfig is o.Config
    assert (c.task, c.n, c.dim, c.group_a, c.group_b, c.alpha, c.core, c.noise, c.width, c.lr, c.optimizer,
            c.steps) == ("toy", 1000, 50, 0.06, 0.04, 8.0, 0.2, 0.05, 32, 0.08, "gd", 1500)


@pytest.mark.parametrize("bad, message", [
    (dict(n=5), r"Config.n=5 is out of range: allowed 10 <= n <= 100000"),
    (dict(alpha=-1.0), r"Config.alpha=-1.0 is out of range: allowed 0.0 <= alpha <= 1000.0"),
    (dict(group_a=1.5), r"Config.group_a=1.5 is out of range: allowed 0.0 <= group_a <= 1.0"),
    (dict(group_a=0.7, group_b=0.6), r"group_a \+ group_b = 1.3 is out of range"),
    (dict(optimizer="sgd"), r"Config.optimizer='sgd' is not allowed: one of 'gd', 'adam'"),
    (dict(task="cifar"), r"Config.task='cifar' is not allowed: one of 'toy', 'digits'"),
    (dict(lr=0.0), r"Config.lr=0.0 is out of range: allowed 1e-06 <= lr <= 100.0"),
    (dict(batch_size=2000), r"Config.batch_size=2000 is out of range: allowed 0 <= batch_size <= n = 1000"),
    (dict(log_every=3, sharpness_every=10), r"sharpness_every=10 must be a multiple of log_every=3"),
    (dict(task="digits", n=1797), r"Config.n=1797 is out of range for task='digits': allowed 10 <= n <= 1796"),
    (dict(width=0), r"Config.width=0 is out of range: allowed 1 <= width <= 4096"),
    (dict(steps=2.5), r"Config.steps=2.5 has the wrong type: expected int"),
    (dict(device="mps"), r"Config.device='mps' is not allowed: every run is float64, which mps lacks"),
])
def test_a_bad_config_names_the_field_and_the_allowed_range(bad, message):
    with pytest.raises(ConfigError, match=message):
        o.Config(**bad)


def test_run_refuses_another_config():
    with pytest.raises(TypeError, match="run\\(\\) needs an opposing.Config"):
        o.run(object())


# --- runs ---------------------------------------------------------------------------------------------


def test_a_toy_run_logs_every_step_and_sharpness_on_its_schedule():
    run = o.run(TINY, progress=False)
    h = run.history
    assert set(h) == {"step", "loss", "loss_a", "loss_b", "loss_rest", "sharpness", "grad_norm"}
    assert np.isnan(h["grad_norm"][0]) and (h["grad_norm"][1:] > 0).all(), "no gradient before the first step"
    assert list(h["step"]) == list(range(31)) and run.status == "completed"
    measured = np.isfinite(h["sharpness"])
    assert list(h["step"][measured]) == list(range(0, 31, 5)), "sharpness every 5 steps, NaN between"
    assert (h["sharpness"][measured] > 0).all()
    assert set(run.artifacts) == {"group", "jump_step", "jump_before", "jump_after"}
    assert run.artifacts["jump_before"].shape == (60,) and run.artifacts["jump_step"] >= 3


def test_runs_repeat_with_the_seed_and_change_with_it():
    a, b, c = (o.run(TINY.replace(seed=s), progress=False) for s in (0, 0, 1))
    assert np.array_equal(a.history["loss"], b.history["loss"])
    assert not np.array_equal(a.history["loss"], c.history["loss"])


def test_no_sharpness_when_switched_off_and_an_empty_group_is_nan():
    run = o.run(TINY.replace(sharpness_every=0, group_b=0.0), progress=False)
    assert np.isnan(run.history["sharpness"]).all() and np.isnan(run.history["loss_b"]).all()
    assert np.isfinite(run.history["loss_a"]).all()


def test_a_digits_run_with_minibatches_logs_every_log_every_steps():
    run = o.run(TINY_DIGITS, progress=False)
    assert list(run.history["step"]) == [0, 5, 10, 15, 20]
    assert np.isfinite(run.history["sharpness"]).sum() == 3
    assert run.history["loss"][-1] < run.history["loss"][0]


def test_a_huge_learning_rate_diverges_and_says_when():
    run = o.run(TINY.replace(lr=50.0, steps=200), progress=False)
    assert run.status == "diverged" and run.diverged_at is not None and run.diverged_at < 200


def test_stop_and_on_step():
    seen, flag = [], threading.Event()

    def on_step(step, m):
        seen.append(m)
        if step >= 10:
            flag.set()

    run = o.run(TINY, on_step=on_step, stop=flag, progress=False)
    assert run.status == "stopped" and run.history["step"][-1] == 10
    assert all(isinstance(m["loss"], float) for m in seen)


def test_a_sweep_of_two_shapes_equals_single_runs_on_both_paths():
    configs = [TINY, TINY.replace(seed=1, lr=0.05, alpha=4.0), TINY.replace(width=3),
               TINY.replace(seed=2, width=3, clip=0.5)]
    swept = o.run_sweep(configs, progress=False)
    with replicas.force_stacked(True):
        batched = o.run_sweep(configs, progress=False)
    for cfg, s, b in zip(configs, swept, batched):
        alone = o.run(cfg, progress=False)
        assert s.config == cfg and set(s.meta) >= {"seconds", "replicas", "code_version"}
        for k in alone.history:
            np.testing.assert_allclose(s.history[k], alone.history[k], rtol=1e-10, err_msg=k)
            np.testing.assert_allclose(b.history[k], alone.history[k], rtol=1e-8, err_msg=k)
        for k in alone.artifacts:
            np.testing.assert_allclose(s.artifacts[k], alone.artifacts[k], rtol=1e-10, err_msg=k)
    assert {r.meta["replicas"] for r in swept} == {2}


# --- the kit ------------------------------------------------------------------------------------------


def test_hessian_helper_and_power_iteration_agree_on_a_tiny_network():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 12, 3, generator=gen, dtype=torch.float64), torch.randn(1, 12, generator=gen,
                                                                                 dtype=torch.float64)
    params = [torch.randn(1, 3, 2, generator=gen, dtype=torch.float64), torch.randn(1, 2, 1, generator=gen,
                                                                                     dtype=torch.float64)]
    loss_fn = lambda ps: o.models.squared_loss(o.models.TwoLayerLinear.forward(ps, x), y).mean(1)
    H = sharpness.hessian(loss_fn, params)
    assert H.shape == (8, 8) and torch.allclose(H, H.T)
    eigs = torch.linalg.eigvalsh(H)
    top = eigs[eigs.abs().argmax()]  # power iteration finds the eigenvalue of largest magnitude
    assert torch.allclose(sharpness.sharpness(loss_fn, params, iters=500, generator=gen), top[None], rtol=1e-6)
    with pytest.raises(ValueError, match="iters=0 must be >= 1"):
        sharpness.power_iteration(loss_fn, params, iters=0)
    for bad in (dict(k=0), dict(k=9), dict(k=2, iters=0)):
        with pytest.raises(ValueError, match="need 1 <= k <= 8 \\(the parameters per replica\\)"):
            sharpness.top_eigenvalues(loss_fn, params, **bad)
    assert torch.allclose(sharpness.top_eigenvalues(loss_fn, params, 1, iters=500, generator=gen)[:, 0], top[None],
                          rtol=1e-6), "k = 1 is power iteration"


def test_warm_started_power_iteration_needs_few_products():
    gen = torch.Generator().manual_seed(1)
    A = torch.diag(torch.tensor([5.0, 1.0, 0.5], dtype=torch.float64))
    quad = lambda ps: 0.5 * torch.einsum("ri,ij,rj->r", ps[0], A, ps[0])
    theta = [torch.ones(1, 3, dtype=torch.float64)]
    eig, vec = sharpness.power_iteration(quad, theta, iters=50, generator=gen)
    again, _ = sharpness.power_iteration(quad, theta, iters=1, start=vec)
    assert torch.allclose(again, eig) and abs(float(eig) - 5.0) < 1e-9


def test_analysis_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k=0 is out of range: allowed 1 <= k <= 3"):
        analysis.top_changes(np.zeros(3), np.ones(3), 0)
    with pytest.raises(ValueError, match="before and after must be 1-D of equal length"):
        analysis.top_changes(np.zeros(3), np.ones(4), 1)
    with pytest.raises(ValueError, match="skip=1.0 is out of range"):
        analysis.spike(np.ones(4), np.arange(4), skip=1.0)
    assert analysis.spike(np.array([1.0, 0.5, np.inf, 0.1]), np.arange(4))[0] == np.inf
    assert analysis.sign_changes([1.0, -2.0, 0.0, -1.0, 3.0]) == 2 and analysis.sign_changes([]) == 0


def test_predictions_at_refuses_steps_outside_the_run_and_other_configs():
    with pytest.raises(ValueError, match=r"steps=\[31\] is out of range: allowed 0 <= step <= config.steps = 30"):
        o.predictions_at(TINY, [31])
    with pytest.raises(ValueError, match="out of range"):
        o.predictions_at(TINY, [])
    with pytest.raises(TypeError, match="needs an opposing.Config"):
        o.predictions_at(object(), [0])
    y, out = o.predictions_at(TINY, [0, 30])  # the toy: the sign of the output, and ½(f − y)²
    assert set(np.unique(out[30][0])) <= {-1.0, 0.0, 1.0} and set(np.unique(y)) == {-1.0, 1.0}
    assert out[0][1].shape == (TINY.n,) and not np.allclose(out[0][1], out[30][1])


def test_the_one_group_control_is_labelled_and_differs_from_the_patched_recipe_in_group_b_only():
    from minilib.opposing import shipped

    one = shipped.digits_one_group()
    assert [c.seed for c in one] == list(shipped.DIGIT_SEEDS)
    assert all(shipped.label(c) == "SGD, patched 3s only" for c in one)
    assert all(c.replace(group_b=0.3) == o.digits_config(seed=c.seed) for c in one)
    assert "SGD, patched 3s only" not in {shipped.label(c) for c in shipped.digits()}


def test_the_chapter_figures_refuse_a_window_without_steps_and_draw_the_spike_bars():
    from types import SimpleNamespace

    from minilib.opposing import figures

    run = SimpleNamespace(history=dict(step=np.arange(10), loss_a=np.ones(10), loss_b=np.ones(10)))
    with pytest.raises(ValueError, match="onset=0 leaves 1 logged steps in the window of 25: need 2"):
        figures.turn_taking(run, 0)
    fig = figures.spike_bars({"both": [20.0, 10.0], "one": [2.0, 1.5]}, (0, 1))
    assert [list(tr.y) for tr in fig.data] == [[20.0, 10.0], [2.0, 1.5]] and fig.layout.yaxis.type == "log"
    assert list(fig.data[0].x) == ["seed 0", "seed 1"] and fig.data[1].text == ("2.0×", "1.5×")


# --- the chapter's coded exercises ----------------------------------------------------------------------

EXERCISES = ("opposing.hvp", "opposing.top_eigenvalue", "opposing.top_changes")


@pytest.mark.parametrize("name", EXERCISES)
def test_each_exercise_passes_its_reference_and_catches_its_recorded_mistakes(name):
    from minilib import exercises

    ex = exercises.get(name)
    assert ex.chapter == "03_opposing_signals" and len(ex.mistakes) >= 2
    assert exercises.verdict(name, ex.reference, refuse_library=False).status == "passed"
    for mistake in ex.mistakes:
        verdict = exercises.verdict(name, mistake.fn, refuse_library=False)
        assert verdict.status == "failed", (mistake.what, verdict.message)
        assert f"hint: {mistake.hint}" in verdict.message, (mistake.what, verdict.message)


def test_the_exercise_references_agree_with_the_library():
    from minilib.opposing import exercises as ex

    gen = torch.Generator().manual_seed(4)
    before, after = (torch.rand(50, generator=gen, dtype=torch.float64) for _ in range(2))
    assert ex.top_changes(before, after, 7).tolist() == list(analysis.top_changes(before.numpy(), after.numpy(), 7))
    A = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    quad = lambda ps: 0.5 * torch.einsum("ri,ij,rj->r", ps[0], A, ps[0])
    theta, v = torch.tensor([0.3, -1.0], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)
    ours = sharpness.hvp(quad, [theta[None]], [v[None]])[0][0]
    assert torch.allclose(ex.hvp(lambda t: quad([t[None]])[0], theta, v), ours)
    assert abs(ex.top_eigenvalue(lambda u: A @ u, torch.ones(2, dtype=torch.float64), 60) - 3.0) < 1e-12


# --- the explorer ---------------------------------------------------------------------------------------


def test_the_explorer_draws_two_over_eta_on_the_sharpness_panel_and_hides_it_for_adam():
    from minilib import widgets

    e = widgets.Explorer(o, TINY, fields=["lr", "optimizer"], log_y=["training loss by group"],
                         hlines=o.stability_line)
    try:
        (line,) = [t for t in e.figure.data if t.name.startswith("2/η")]
        sharp = next(t for t in e.figure.data if t.meta == "sharpness")
        loss = next(t for t in e.figure.data if t.meta == "loss")
        assert (line.xaxis, line.yaxis) == (sharp.xaxis, sharp.yaxis) != (loss.xaxis, loss.yaxis), \
            "the 2/η line must share the sharpness panel's axes"
        assert tuple(line.y) == pytest.approx((25.0, 25.0)) and tuple(line.x) == (0, 30)
        e._show_expected(TINY.replace(lr=0.04))
        assert tuple(line.y) == pytest.approx((50.0, 50.0)) and line.visible is not False
        e._show_expected(TINY.replace(optimizer="adam", lr=0.01))
        assert line.visible is False, "Adam has no 2/η threshold: the line must be hidden"
    finally:
        e.close()


# --- the closed form's helpers and the cost measurements -------------------------------------------------


def test_critical_v_is_where_the_outlier_curvature_reaches_two_over_eta():
    from minilib.opposing import mechanism

    v = mechanism.critical_v(8.0, 0.08)
    assert abs(float(mechanism.outlier_curvature(v, 8.0)) - 2 / 0.08) < 1e-12
    assert mechanism.outlier_curvature([0.0, 1.0], 8.0).tolist() == pytest.approx([0.0, 6.4])
    for bad in (dict(alpha=0.0, lr=0.1), dict(alpha=8.0, lr=-1.0), dict(alpha=8.0, lr=0.1, group_a=0, group_b=0)):
        with pytest.raises(ValueError, match="each must be > 0"):
            mechanism.critical_v(**bad)


def test_tracking_costs_and_accuracy_at_tiny_size():
    from minilib.opposing import costs

    t = costs.tracking_costs(TINY, warm=(1, 2), reps=2, rounds=1)
    assert set(t) == {"step", "hvp", "cold", "warm 1", "step + warm 1", "warm 2", "step + warm 2", "multiple 1",
                      "multiple 2"}
    assert all(v > 0 for v in t.values())
    gaps = costs.tracking_gaps(TINY, (1, 2), steps=10, compare_at=[5, 10])
    assert set(gaps) == {1, 2} and all(g.shape == (2,) for g in gaps.values())
    # Measured: 2 products at most 2.5e-9 (seeds 0-2); a bound far above it, far below a wrong eigenvalue.
    assert gaps[2].max() < 1e-3, gaps
    rows, worst = costs.accuracy_table(TINY, products=(2,), steps=10, every=5, peak=3, around=1)
    assert len(rows) == 3 and set(worst) == {2} and max(worst[2]) < 1e-3, (rows, worst)
    with pytest.raises(ValueError, match="warm=\\(0,\\)"):
        costs.tracking_costs(TINY, warm=(0,))
    with pytest.raises(ValueError, match="products=\\(0,\\)"):
        costs.tracking_gaps(TINY, (0,), steps=10, compare_at=[5])
    with pytest.raises(ValueError, match="compare_at=\\[11\\]"):
        costs.tracking_gaps(TINY, (1,), steps=10, compare_at=[11])
    with pytest.raises(ValueError, match="reps=\\[0\\]"):
        costs.round_times({"f": (lambda: None, 0)}, 1, torch.device("cpu"))
    with pytest.raises(ValueError, match="rounds=0"):
        costs.round_times({"f": (lambda: None, 1)}, 0, torch.device("cpu"))


def test_timing_waits_for_a_gpu_to_finish(monkeypatch):
    # The CUDA branch of the cost measurements, forced on a CPU: each clock starts and stops only after a
    # synchronize, and all functions are timed inside every round.
    from minilib.opposing import costs

    calls, order = [], []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    fns = {"a": (lambda: order.append("a"), 2), "b": (lambda: order.append("b"), 1)}
    times = costs.round_times(fns, 3, torch.device("cuda", 0))
    assert len(calls) == 2 * 2 * 3, "a synchronize before and after each function in each round"
    assert order == ["a", "b"] + ["a", "a", "b"] * 3, "a warm-up call of each, then both in every round"
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    costs.round_times(fns, 2, torch.device("cpu"))
    assert len(calls) == 12, "no synchronize on a CPU"
