"""Unit tests of minilib.projection at tiny sizes: configs (per-feature tuples), runs, sweeps, probes."""

import json
import math

import numpy as np
import pytest
import torch

from minilib import cache, replicas
from minilib import projection as p
from minilib.projection import data, probe
from minilib.runs import ConfigError, Run

TINY = p.Config(steps=40, num_logs=4, probe_trials=3, device="cpu")
TINY_SUPCON = p.supcon_config(steps=6, num_logs=3, batch_size=32, hidden=16, head_dim=8, input_dim=8,
                              probe_trials=2, probe_labels=20, device="cpu")
TINY_SIMCLR = p.simclr_config(steps=4, num_logs=3, batch_size=16, hidden=8, head_dim=4, probe_trials=1,
                              probe_labels=10, device="cpu")


# --- configs ------------------------------------------------------------------------------------------


def test_the_linear_config_is_the_construction_of_the_chapter():
    c = p.LinearConfig()
    assert c.feature_scales == (3.0, 2.0, 1.5, 1.0, 1.0, 0.7, 0.5, 0.3)
    assert c.drop_probs == (0.0, 0.5, 0.2, 0.0, 0.9, 0.3, 0.0, 0.6)
    assert (c.hidden, c.head_dim, c.depth, c.init_scale, c.optimizer) == (16, 16, 2, 0.03, "gd")
    assert isinstance(c, p.Config) and c.model == "linear"


@pytest.mark.parametrize("given", [[1, 2.5], np.array([1.0, 2.5]), "1, 2.5", "(1.0, 2.5)", "[1; 2.5]"])
def test_a_per_feature_field_is_stored_as_a_tuple_of_floats(given):
    c = p.Config(feature_scales=given, drop_probs=(0, 0.5), probe_feature=1)
    assert c.feature_scales == (1.0, 2.5) and isinstance(c.feature_scales, tuple)


@pytest.mark.parametrize("changes, message", [
    (dict(drop_probs=(0.0, 0.5, 1.2, 0.0, 0.9, 0.3, 0.0, 0.6)),
     r"Config.drop_probs\[2\]=1.2 is out of range: allowed 0.0 <= drop_probs\[k\] <= 1.0"),
    (dict(feature_scales=(3.0, -2.0, 1.5, 1.0, 1.0, 0.7, 0.5, 0.3)),
     r"Config.feature_scales\[1\]=-2.0 is out of range: allowed 0.001 <= feature_scales\[k\] <= 100.0"),
    (dict(feature_scales=(1.0, float("nan"), 1, 1, 1, 1, 1, 1)),
     r"Config.feature_scales\[1\]=nan must be a finite number"),
    (dict(drop_probs=(0.0, 0.5)), r"drop_probs has 2 entries but feature_scales has 8"),
    (dict(feature_scales=()), r"feature_scales=\(\) has the wrong type: expected a non-empty tuple of numbers"),
    (dict(feature_scales=(1.0,) * 65, drop_probs=(0.0,) * 65), r"feature_scales has 65 entries: allowed 1 to 64"),
    (dict(feature_scales="1, two"), r"must be numbers separated by commas"),
    (dict(drop_probs=(0, 0.5, "x", 0, 0.9, 0.3, 0, 0.6)), r"drop_probs\[2\]='x' has the wrong type"),
    (dict(probe_feature=8), r"probe_feature=8 is out of range: allowed 0 <= probe_feature <= 7"),
    (dict(model="resnet"), r"model='resnet' is not allowed: one of 'linear', 'supcon', 'simclr'"),
    (dict(optimizer="sgd"), r"optimizer='sgd' is not allowed: one of 'gd', 'momentum', 'adam'"),
    (dict(depth=0), r"depth=0 is out of range: allowed 1 <= depth <= 6"),
    (dict(lr=0.0), r"lr=0.0 is out of range"),
    (dict(head="reweight"), r"head='reweight' is for the SupCon and SimCLR models only"),
    (dict(probe_labels=5000), r"probe_labels=5000 is out of range"),
    (dict(model="simclr", probe_labels=5), r"probe_labels=5 is out of range for the digits: allowed 10 <= "),
    (dict(model="simclr", batch_size=2000), r"batch_size=2000 is out of range for the digits: allowed 2 <= batch_size "
                                            r"<= 1297"),
    (dict(hidden=1.5), r"hidden=1.5 has the wrong type: expected int"),
])
def test_bad_configs_are_refused_naming_the_field_and_the_allowed_range(changes, message):
    with pytest.raises(ConfigError, match=message):
        p.Config(**changes)


def test_per_feature_fields_are_part_of_the_cache_key_and_survive_a_save(tmp_path):
    a, b = p.Config(), p.Config(drop_probs=(0.0, 0.5, 0.2, 0.0, 0.8, 0.3, 0.0, 0.6))
    assert a.key() != b.key() and cache.entry_key(p, a) != cache.entry_key(p, b)
    assert p.Config.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    run = p.run(TINY, progress=False)
    back = Run.load(run.save(tmp_path / "r.npz"))
    assert back.config == TINY and isinstance(back.config.drop_probs, tuple)


# --- the data and the losses ------------------------------------------------------------------------


def test_the_second_moments_of_the_feature_model():
    m, s = data.second_moments(torch.tensor([2.0, 1.0]), torch.tensor([0.5, 0.0]))
    assert m.tolist() == [2.0, 1.0] and s.tolist() == [4.0, 1.0]


def test_augmentation_keeps_every_feature_when_nothing_is_dropped_and_none_when_all_are():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(500, 3, generator=gen)
    assert torch.equal(data.augment(z, torch.zeros(3), gen), z)
    assert not (data.augment(z, torch.ones(3), gen) == z).any()


def test_the_spectral_minimum_of_the_chapter_is_minus_4_55():
    m, s = data.second_moments(torch.tensor(p.FEATURE_SCALES), torch.tensor(p.DROP_PROBS))
    assert math.isclose(float(p.spectral_minimum(m, s)), -4.55, rel_tol=1e-6)


def test_supcon_is_lowest_when_classes_are_separated():
    labels = torch.tensor([[0, 0, 1, 1]])
    apart = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]]])
    mixed = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]]])
    assert float(p.supcon(apart, labels, 0.1)) < float(p.supcon(mixed, labels, 0.1))


def test_a_probe_draw_that_asks_for_more_labels_than_the_pool_has_is_refused():
    with pytest.raises(ValueError, match="a probe with 10 labels needs 5"):
        probe.draw_labelled(torch.tensor([0, 0, 0, 1, 1, 1, 1, 1]), 10, 1, torch.Generator().manual_seed(0))


# --- runs --------------------------------------------------------------------------------------------


def test_a_linear_run_logs_every_metric_and_the_feature_weights():
    run = p.run(TINY, progress=False)
    assert run.status == "completed" and run.history["step"][-1] == 40
    assert set(run.history) == {"step", *p.METRICS}
    assert run.artifacts["pre_weights"].shape == (8,) and run.artifacts["post_weights"].shape == (8,)
    assert run.artifacts["layer_weights"].shape == (2, 8)
    assert run.history["loss"][-1] < run.history["loss"][0] < 0
    assert np.isnan(run.history["class_pre"]).all()
    assert ((run.artifacts["probe_pre_grid"] >= 0) & (run.artifacts["probe_pre_grid"] <= 1)).all()


def test_runs_are_deterministic_and_seeded():
    a, b = p.run(TINY, progress=False), p.run(TINY, progress=False)
    c = p.run(TINY.replace(seed=1), progress=False)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    assert not np.array_equal(a.history["loss"], c.history["loss"])


def test_a_supcon_run_logs_probes_of_class_and_subclass():
    run = p.run(TINY_SUPCON, progress=False)
    assert run.status == "completed" and set(run.history) == {"step", *p.METRICS}
    assert np.isfinite(run.history["class_pre"]).all() and np.isnan(run.history["slope"]).all()
    assert run.artifacts["class_post_grid"].shape == (len(p.PROBE_GRID),)


def test_a_simclr_run_logs_digit_probes_before_and_after_the_head_and_a_pixel_baseline():
    run = p.run(TINY_SIMCLR, progress=False)
    assert run.status == "completed" and set(run.history) == {"step", *p.METRICS}
    assert np.isfinite(run.history["probe_pre"]).all() and np.isfinite(run.history["probe_post"]).all()
    assert np.isnan(run.history["class_pre"]).all() and np.isnan(run.history["slope"]).all()
    for k in ("probe_pre_grid", "probe_post_grid", "probe_input_grid", "shift_pre_grid", "shift_post_grid",
              "shift_input_grid"):
        assert run.artifacts[k].shape == (len(p.PROBE_GRID),) and (run.artifacts[k] > 0.1).all(), k
    # the pixel baseline depends on the seed's label draws only, not on training: the same for another head
    other = p.run(TINY_SIMCLR.replace(head="reweight", depth=2, kappa=1.2), progress=False)
    for k in ("probe_input_grid", "shift_input_grid"):
        np.testing.assert_array_equal(other.artifacts[k], run.artifacts[k])


def test_the_reweighting_head_and_no_head_train_the_encoder_alone():
    for cfg in (TINY_SUPCON.replace(head="reweight", depth=2, kappa=1.5), TINY_SUPCON.replace(depth=1),
                TINY_SIMCLR.replace(head="reweight", depth=2, kappa=1.5), TINY_SIMCLR.replace(depth=1)):
        assert p.run(cfg, progress=False).status == "completed"


@pytest.mark.parametrize("base", [TINY, TINY_SUPCON, TINY_SIMCLR], ids=["linear", "supcon", "simclr"])
def test_a_sweep_of_two_shapes_equals_single_runs(base):
    configs = [base.replace(seed=0), base.replace(seed=1, lr=base.lr / 2), base.replace(hidden=8),
               base.replace(hidden=8, seed=2)]
    swept = p.run_sweep(configs, progress=False)
    for cfg, run in zip(configs, swept):
        alone = p.run(cfg, progress=False)
        for k in alone.history:
            np.testing.assert_allclose(run.history[k], alone.history[k], rtol=1e-5, atol=1e-7, err_msg=k)
    with replicas.force_stacked(True):
        batched = p.run_sweep(configs[:2], progress=False)
    for a, b in zip(swept[:2], batched):
        np.testing.assert_allclose(b.history["loss"], a.history["loss"], rtol=2e-4, err_msg="stacked path")


def test_a_diverging_run_ends_as_diverged_with_its_metrics_undefined():
    run = p.run(TINY.replace(lr=1.0, init_scale=0.5, steps=200, num_logs=3, log_spaced=False), progress=False)
    assert run.status == "diverged" and run.diverged_at is not None
    assert np.isnan(run.history["slope"][-1]) and np.isnan(run.history["probe_pre"][-1])


def test_a_stop_ends_the_run_early():
    class Stop:
        calls = 0

        def is_set(self):
            Stop.calls += 1
            return Stop.calls > 5

    run = p.run(TINY, stop=Stop(), progress=False)
    assert run.status == "stopped"
    assert "pre_weights" in run.artifacts and "probe_pre_grid" not in run.artifacts  # no grids for a stopped run


def test_run_refuses_another_config_type():
    from minilib import curvefit

    with pytest.raises(TypeError, match="needs a projection.Config"):
        p.run(curvefit.Config(), progress=False)


# --- the coded exercises -----------------------------------------------------------------------------

from minilib import exercises  # noqa: E402 - the chapter's exercises are registered by importing projection

PROJECTION_EXERCISES = sorted(n for n in exercises.EXERCISES if n.startswith("projection."))


def test_the_chapter_registers_two_coded_exercises():
    assert PROJECTION_EXERCISES == ["projection.balanced_encoder_weights", "projection.spectral_loss"]


@pytest.mark.parametrize("name", PROJECTION_EXERCISES)
def test_the_reference_passes_and_every_recorded_mistake_fails_with_its_hint(name):
    ex = exercises.EXERCISES[name]
    assert exercises.verdict(name, ex.reference, refuse_library=False).status == "passed"
    assert len(ex.mistakes) >= 2
    for mistake in ex.mistakes:
        verdict = exercises.verdict(name, mistake.fn, refuse_library=False)
        assert verdict.status == "failed" and f"hint: {mistake.hint}" in verdict.message, verdict.message


def test_the_explorer_shows_a_per_feature_field_as_text_and_reads_it_back():
    from minilib import widgets

    ex = widgets.Explorer(p, TINY, fields=["drop_probs", "depth"], metrics=["loss", "probe_pre"])
    try:
        assert ex.controls["drop_probs"].value == str(TINY.drop_probs)
        ex.controls["drop_probs"].value = "0, 0.5, 0.2, 0, 0.99, 0.3, 0, 0.6"
        assert ex.config().drop_probs == (0.0, 0.5, 0.2, 0.0, 0.99, 0.3, 0.0, 0.6)
        ex.controls["drop_probs"].value = "0, 0.5, 0.2"
        with pytest.raises(ConfigError, match="drop_probs has 3 entries but feature_scales has 8"):
            ex.config()
    finally:
        ex.close()


@pytest.mark.parametrize("drops", [(1.0,) * 8, (1.0,)])
def test_every_drop_probability_at_one_trains_to_the_zero_map_and_reports_the_plain_excess(drops):
    # Regression: the minimum −Σ(1 − ρ)² is 0 here, and the excess relative to it was a ZeroDivisionError.
    c = TINY.replace(drop_probs=drops, feature_scales=TINY.feature_scales[:len(drops)], probe_feature=0)
    run = p.run(c, progress=False)
    assert run.status == "completed"
    np.testing.assert_allclose(run.history["excess_loss"], run.history["loss"])  # the minimum is 0
    assert (run.history["loss"] >= 0).all() and run.history["loss"][-1] < run.history["loss"][0]
    assert p.excess(2.0, -4.0) == 1.5 and p.excess(0.25, 0.0) == 0.25


def test_the_explorer_runs_every_drop_probability_at_one():
    from minilib import widgets

    ex = widgets.explorer(p, TINY, fields=["drop_probs"], metrics=["excess_loss", "probe_pre"])
    try:
        ex.controls["drop_probs"].value = "1, 1, 1, 1, 1, 1, 1, 1"
        ex.start()
        run = ex.wait(timeout=60)
        assert run is not None and run.status == "completed" and run.config.drop_probs == (1.0,) * 8
        assert np.isfinite(run.history["excess_loss"]).all()
    finally:
        ex.close()


def test_momentum_is_torch_sgd_with_momentum_0_9():
    c = TINY.replace(optimizer="momentum", lr=0.01, steps=5, num_logs=2)
    run = p.run(c, progress=False)
    exp = p.experiment._Linear([c])
    ws = [w.detach().clone().requires_grad_() for w in exp.weights]
    opt = torch.optim.SGD(ws, lr=0.01, momentum=0.9)
    for _ in range(5):
        opt.zero_grad()
        exp.loss(ws).sum().backward()
        opt.step()
    got = np.asarray(exp.loss([w.detach() for w in ws]))[0]
    np.testing.assert_allclose(run.history["loss"][-1], got, rtol=1e-10)


TINY_SUPERVISED = p.supervised_config(steps=4, num_logs=3, batch_size=16, hidden=8, head_dim=4, probe_trials=1,
                                      probe_labels=10, device="cpu")


@pytest.mark.parametrize("depth", [3, 1])
def test_a_supervised_run_logs_digit_probes_and_its_classifier_on_both_test_sets(depth):
    run = p.run(TINY_SUPERVISED.replace(depth=depth), progress=False)
    assert run.status == "completed" and np.isfinite(run.history["loss"]).all()
    assert np.isfinite(run.history["probe_pre"]).all() and np.isnan(run.history["class_pre"]).all()
    a = run.artifacts
    for key in ("probe_pre_grid", "probe_post_grid", "probe_input_grid"):
        assert a[key].shape == (len(p.PROBE_GRID),) and ((a[key] >= 0) & (a[key] <= 1)).all()
    assert 0 <= a["classifier_random"][0] <= 1 and 0 <= a["classifier_matched"][0] <= 1
    if depth == 1:  # no head: the representation after it is h itself
        np.testing.assert_array_equal(a["probe_pre_grid"], a["probe_post_grid"])


def test_the_supervised_model_needs_one_label_per_digit():
    with pytest.raises(ConfigError, match=r"probe_labels=5 is out of range for the digits"):
        p.supervised_config(probe_labels=5)
