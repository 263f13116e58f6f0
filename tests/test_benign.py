"""Unit tests of minilib.benign at tiny size: data, the GD step by hand (eq. 2.2), configs, runs, the ridge theory."""

import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from minilib import benign, phenomenon
from minilib.benign import data, models, ridge
from minilib.runs import ConfigError

TINY = benign.XorConfig(dim=200, n_train=16, n_test=32, width=8, mu_norm=6.0, label_noise=0.2, init_scale=1e-3,
                        lr=1e-2, steps=4, device="cpu")


# --- data ---------------------------------------------------------------------------------------------


def test_cluster_means_are_orthogonal_with_the_asked_norm_and_follow_the_seed():
    a = data.cluster_means(50, 3.0, torch.Generator().manual_seed(0))
    b = data.cluster_means(50, 3.0, torch.Generator().manual_seed(0))
    c = data.cluster_means(50, 3.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.allclose(a @ a.T, 9.0 * torch.eye(2, dtype=a.dtype), atol=1e-12)
    with pytest.raises(ValueError, match="dim=1 must be >= 2"):
        data.cluster_means(1, 3.0, torch.Generator())


def test_clean_labels_name_the_cluster_and_observed_labels_are_flipped_at_the_rate():
    gen = torch.Generator().manual_seed(4)
    mu = data.cluster_means(20, 50.0, gen)
    x, y, clean = data.xor_clusters(20_000, mu, 0.1, gen)
    # ‖μ‖ = 50 ≫ noise: the cluster of each point is the mean it is nearest to.
    proj = x @ mu.T
    on_first = proj.abs().argmax(1) == 0
    assert torch.equal(on_first, clean > 0), "ỹ = +1 must mean ±μ1, ỹ = −1 must mean ±μ2"
    signs = torch.sign(proj[on_first, 0])
    assert abs(float((signs > 0).double().mean()) - 0.5) < 0.03, "±μ1 must be equally likely"
    rate = float((y != clean).double().mean())
    assert abs(rate - 0.1) < 0.01 and set(y.tolist()) == {-1.0, 1.0}
    _, y0, clean0 = data.xor_clusters(500, mu, 0.0, gen)
    assert torch.equal(y0, clean0), "label_noise = 0 flips nothing"
    with pytest.raises(ValueError, match=r"label_noise=0.5 is out of range: allowed 0 <= label_noise < 0.5"):
        data.xor_clusters(10, mu, 0.5, gen)


# --- the network and eq. 2.2 ----------------------------------------------------------------------------


def test_the_gd_step_equals_eq_2_2_written_out_neuron_by_neuron_and_sample_by_sample():
    gen = torch.Generator().manual_seed(1)
    n, p, m, lr = 6, 5, 4, 0.7
    W = torch.randn(1, m, p, generator=gen, dtype=torch.float64)
    a = torch.tensor([[1, -1, 1, -1]], dtype=torch.float64) / 2
    x = torch.randn(1, n, p, generator=gen, dtype=torch.float64)
    y = torch.tensor([[1, -1, -1, 1, 1, -1]], dtype=torch.float64)
    by_hand = torch.zeros(m, p, dtype=torch.float64)
    for i in range(n):
        f = sum(float(a[0, j]) * max(float(W[0, j] @ x[0, i]), 0.0) for j in range(m))
        g = 1 / (1 + math.exp(float(y[0, i]) * f))  # −ℓ'(y f) for ℓ(z) = log(1 + e^(−z))
        for j in range(m):
            if float(W[0, j] @ x[0, i]) > 0:
                by_hand[j] += lr / n * g * float(y[0, i]) * float(a[0, j]) * x[0, i]
    assert torch.allclose(models.gd_update(W, a, x, y, lr)[0], by_hand, atol=1e-14)
    # The same with precomputed preactivations, and a per-replica step size.
    pre = models.preactivations(W, x)
    assert torch.allclose(models.gd_update(W, a, x, y, torch.tensor([lr], dtype=torch.float64), pre=pre)[0], by_hand)


def test_while_f_is_tiny_the_loss_derivative_is_one_half_and_the_step_scales_with_lr_over_init():
    # ReLU homogeneity: scaling W and lr by c scales ΔW by c and leaves every sign pattern unchanged.
    gen = torch.Generator().manual_seed(2)
    W = torch.randn(1, 8, 30, generator=gen, dtype=torch.float64) * 1e-15
    a = benign.experiment.models.init_second_layer(8, [gen], torch.float64)
    x = torch.randn(1, 10, 30, generator=gen, dtype=torch.float64)
    y = torch.sign(torch.randn(1, 10, generator=gen, dtype=torch.float64))
    g = models.loss_derivative(models.network(W, a, x), y)
    assert (g - 0.5).abs().max() < 1e-14, "g_i = 1/(1 + e^(y f)) is 1/2 up to |f|/4 while |f| ~ 1e-14"
    step = models.gd_update(W, a, x, y, 1e-12)
    scaled = models.gd_update(W * 1e3, a, x, y, 1e-9)
    assert torch.allclose(scaled, step * 1e3, rtol=1e-10)


def test_initial_weights_have_the_asked_scale_and_second_layer_plus_minus_one_over_root_m():
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    W = models.init_first_layer(400, 50, 1e-3, gens, torch.float64)
    assert W.shape == (2, 400, 50) and abs(float(W.std()) / 1e-3 - 1) < 0.02
    a = models.init_second_layer(400, [torch.Generator().manual_seed(0)], torch.float32)
    assert a.dtype == torch.float32 and torch.allclose(a.abs(), torch.full_like(a, 1 / 20))
    assert abs(float((a > 0).float().mean()) - 0.5) < 0.1


# --- configs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    (dict(dim=1), r"XorConfig.dim=1 is out of range: allowed 2 <= dim <= 200000"),
    (dict(n_train=1), r"XorConfig.n_train=1 is out of range: allowed 2 <= n_train"),
    (dict(label_noise=0.5), r"XorConfig.label_noise=0.5 is out of range: allowed 0.0 <= label_noise <= 0.49"),
    (dict(mu_norm=-1.0), r"XorConfig.mu_norm=-1.0 is out of range"),
    (dict(init_scale=0.0), r"XorConfig.init_scale=0.0 is out of range: allowed 1e-30 <= init_scale"),
    (dict(lr=0.0), r"XorConfig.lr=0.0 is out of range"),
    (dict(width=0), r"XorConfig.width=0 is out of range: allowed 1 <= width"),
    (dict(dtype="float16"), r"XorConfig.dtype='float16' is not allowed: one of 'float32', 'float64'"),
    (dict(steps=1.5), r"XorConfig.steps=1.5 has the wrong type: expected int"),
    (dict(log_every=0), r"XorConfig.log_every=0 is out of range"),
    (dict(log_dense_until=-1), r"XorConfig.log_dense_until=-1 is out of range: allowed 0 <= log_dense_until"),
])
def test_bad_xor_configs_are_refused_naming_the_field_and_the_allowed_range(bad, message):
    with pytest.raises(ConfigError, match=message):
        benign.XorConfig(**bad)


@pytest.mark.parametrize("bad, message", [
    (dict(alpha=1.0), r"RidgeConfig.alpha=1.0 is out of range: allowed 1.0001 <= alpha <= 10.0"),
    (dict(noise=-0.1), r"RidgeConfig.noise=-0.1 is out of range"),
    (dict(ridge=-1.0), r"RidgeConfig.ridge=-1.0 is out of range: allowed 0.0 <= ridge"),
    (dict(n_features=0), r"RidgeConfig.n_features=0 is out of range"),
    (dict(n_latent=100, n_train=100), r"RidgeConfig.n_train=100 must be < n_latent=100"),
])
def test_bad_ridge_configs_are_refused_naming_the_field_and_the_allowed_range(bad, message):
    with pytest.raises(ConfigError, match=message):
        benign.RidgeConfig(**bad)


@pytest.mark.parametrize("call, message", [
    (lambda: benign.optimal_fitting_ratio(1.0, 1.5, 1.0), r"alpha=1.0 is out of range: allowed alpha > 1"),
    (lambda: benign.optimal_fitting_ratio(1.5, [1.5, 0.5], 1.0), r"beta=0.5 is out of range: allowed beta > 1"),
    (lambda: benign.optimal_fitting_ratio(1.5, 1.5, -1.0), r"noise_rel=-1.0 is out of range: allowed noise_rel >= 0"),
    (lambda: benign.fitting_ratio_risk(1.0, 1.5, 1.5, 1.0), r"ratio must lie in \[0, 1\)"),
    (lambda: benign.random_alignment(1), r"dim=1 must be an integer >= 2"),
])
def test_the_closed_forms_refuse_bad_input_naming_the_value_and_the_allowed_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_optimal_fitting_ratio_broadcasts_and_is_zero_without_noise_when_beta_is_alpha():
    r = benign.optimal_fitting_ratio(1.5, 1.5, np.array([0.0, 1.0, 5.0]))
    assert r.shape == (3,) and r[0] == 0.0 and 0 < r[1] < r[2] < 1
    assert isinstance(benign.optimal_fitting_ratio(1.5, 1.5, 1.0), float)
    # β < α: the noise-free optimum already leaves a training error, u = α(β − 1)/(β(α − 1))
    assert benign.optimal_fitting_ratio(1.5, 1.2, 0.0) == pytest.approx((1 - 1.5 * 0.2 / (1.2 * 0.5)) ** 2)


def test_the_module_follows_the_protocol_and_config_is_xor_config():
    assert phenomenon.check_module(benign) is benign
    assert benign.Config is benign.XorConfig
    assert benign.num_steps(TINY) == 4


# --- runs -----------------------------------------------------------------------------------------------


def test_a_run_logs_every_step_from_0_and_is_deterministic():
    a = benign.run(TINY, progress=False)
    b = benign.run(TINY, progress=False)
    assert a.history["step"].tolist() == [0, 1, 2, 3, 4]
    assert set(a.history) == {"step", *benign.METRICS}
    for k in a.history:
        np.testing.assert_array_equal(a.history[k], b.history[k])
    assert a.status == "completed" and a.meta["steps"] == 4
    c = benign.run(TINY.replace(seed=1), progress=False)
    assert not np.array_equal(a.history["train_loss"], c.history["train_loss"])
    every = benign.run(TINY.replace(steps=10, log_every=4), progress=False)
    assert every.history["step"].tolist() == [0, 4, 8, 10]
    dense = benign.run(TINY.replace(steps=30, log_every=10, log_dense_until=3), progress=False)
    assert dense.history["step"].tolist() == [0, 1, 2, 3, 10, 20, 30]
    np.testing.assert_array_equal(dense.history["train_loss"][:4], benign.run(TINY.replace(steps=3), progress=False)
                                  .history["train_loss"])  # logging more often changes no number


def test_a_sweep_of_seeds_equals_single_runs_and_groups_by_shape():
    configs = [TINY.replace(seed=0), TINY.replace(seed=1, lr=3e-2), TINY.replace(width=6, seed=2)]
    swept = benign.run_sweep(configs, progress=False)
    assert [r.config for r in swept] == configs
    assert [r.meta["replicas"] for r in swept] == [2, 2, 1]
    for c, r in zip(configs, swept):
        alone = benign.run(c, progress=False)
        for k in alone.history:
            np.testing.assert_allclose(r.history[k], alone.history[k], rtol=1e-12, err_msg=k)
    with pytest.raises(TypeError, match="needs benign.XorConfig"):
        benign.run_sweep([benign.RidgeConfig()], progress=False)


def test_stop_ends_a_run_early_and_on_step_reports_floats():
    class Stop:
        calls = 0

        def is_set(self):
            self.calls += 1
            return self.calls > 2

    seen = []
    r = benign.run(TINY, stop=Stop(), on_step=lambda s, m: seen.append(m), progress=False)
    assert r.status == "stopped" and r.history["step"].tolist() == [0, 1, 2]
    assert all(isinstance(m["test_acc"], float) for m in seen)


def test_float64_on_mps_is_refused_before_any_tensor_reaches_it(monkeypatch):
    from minilib import runtime

    monkeypatch.setattr(runtime, "pick_device", lambda name="auto": torch.device("mps"))
    with pytest.raises(ConfigError, match=r"XorConfig.dtype='float64' cannot run on device 'mps'"):
        benign.run(TINY.replace(device="mps"), progress=False)
    with pytest.raises(ConfigError, match=r"RidgeConfig.device='mps' resolves to mps, which has no float64"):
        benign.ridge_simulate(benign.RidgeConfig(n_latent=50, n_train=5, n_features=5, device="mps"))


def test_float32_runs_in_float32():
    r = benign.run(TINY.replace(dtype="float32"), progress=False)
    assert r.status == "completed" and np.isfinite(r.history["train_loss"]).all()


def test_median_band_and_first_pass():
    runs = benign.run_sweep([TINY.replace(seed=s) for s in range(3)], progress=False)
    steps, lo, mid, hi = benign.median_band(runs, "test_acc")
    assert steps.tolist() == [0, 1, 2, 3, 4] and (lo <= mid).all() and (mid <= hi).all()
    assert np.isnan(benign.first_pass(runs, "train_acc", 2.0)).all()
    assert benign.first_pass(runs, "train_acc", 0.0).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="logged at different steps"):
        benign.median_band([runs[0], benign.run(TINY.replace(steps=2), progress=False)], "test_acc")


# --- Part B: the theory solver ----------------------------------------------------------------------------


def test_the_theory_solves_both_equations():
    c = benign.RidgeConfig(n_latent=3000, n_train=80, n_features=120, ridge=0.03)
    lam, _ = benign.spectrum(c)
    out = benign.ridge_theory(c)
    L = lam / (lam + out["gamma"])
    assert L.sum() + c.ridge / out["kappa"] == pytest.approx(c.n_train, rel=1e-8)
    assert L.sum() + c.n_features * out["kappa"] / out["gamma"] == pytest.approx(c.n_features, rel=1e-8)


def test_the_theory_is_vectorised_and_equals_point_by_point():
    c = benign.RidgeConfig(n_latent=2000, n_train=64)
    ks = np.array([8.0, 64.0, 500.0, np.inf])
    ridges = np.array([0.0, 1e-3, 0.1, 10.0])
    grid = benign.ridge_theory(c, n_features=ks[:, None], ridge=ridges[None, :])
    assert grid["test_risk"].shape == (4, 4)
    for i, k in enumerate(ks):
        for j, d in enumerate(ridges):
            one = benign.ridge_theory(c.replace(n_features=int(k) if np.isfinite(k) else 50_000, ridge=float(d))) \
                if np.isfinite(k) else benign.ridge_theory(c, n_features=np.array([k]), ridge=np.array([d]))
            got = one["test_risk"] if np.isscalar(one["test_risk"]) else one["test_risk"][0]
            assert grid["test_risk"][i, j] == pytest.approx(got, rel=1e-7)
    with pytest.raises(ValueError, match="ridge_theory takes arrays for"):
        benign.ridge_theory(c, alpha=np.ones(2))


def test_the_kernel_limit_is_kernel_ridge_regression():
    # k = ∞: κ = γ solves n = Σ L_i + δ/κ, Ω = n/(n − Σ L_i²), test risk Ω(Σ (1 − L_i)² v_i² + σ²).
    c = benign.RidgeConfig(n_latent=1500, n_train=50, ridge=0.2, noise=0.3)
    lam, v2 = benign.spectrum(c)
    out = benign.ridge_theory(c, n_features=np.array(np.inf))
    kappa = float(out["kappa"])
    L = lam / (lam + kappa)
    assert L.sum() + c.ridge / kappa == pytest.approx(c.n_train, rel=1e-8)
    omega = c.n_train / (c.n_train - (L**2).sum())
    assert float(out["test_risk"]) == pytest.approx(omega * (((1 - L) ** 2 * v2).sum() + c.noise), rel=1e-8)
    assert float(out["train_risk"]) == pytest.approx((c.ridge / (c.n_train * kappa)) ** 2 * float(out["test_risk"]))


def test_ridgeless_theory_diverges_at_the_interpolation_threshold():
    c = benign.RidgeConfig(n_latent=2000, n_train=100, ridge=0.0)
    ks = np.array([50.0, 90.0, 99.0, 101.0, 110.0, 400.0])
    risk = benign.ridge_theory(c, n_features=ks)["test_risk"]
    assert risk[2] > 10 * risk[0] and risk[3] > 10 * risk[-1] and risk[2] > risk[1] and risk[3] > risk[4]


def test_the_theory_makes_the_same_few_passes_over_the_modes_for_10_points_or_1000(monkeypatch):
    # Vectorised root finding: the sums over modes (ridge.mode_sums) are computed for all points at once, so
    # their count does not grow with the number of points (a loop per point would make 1000 times as many).
    calls = []
    original = ridge.mode_sums
    monkeypatch.setattr(ridge, "mode_sums", lambda lam, g, a, b: calls.append(len(g)) or original(lam, g, a, b))
    c = benign.RidgeConfig(n_latent=2000)
    counts = {}
    for points in (10, 1000):
        calls.clear()
        out = benign.ridge_theory(c, ridge=np.geomspace(1e-4, 1e2, points))
        assert np.isfinite(out["test_risk"]).all()
        counts[points] = len(calls)
        assert calls[1:] == [points] * (len(calls) - 1), "a pass over the modes did not take every point at once"
    assert counts[10] == counts[1000] <= 1 + ridge.EXACT_STEPS, counts


def test_the_ridgeless_threshold_is_infinite_and_ridgeless_least_squares_keeps_a_train_error():
    c = benign.RidgeConfig(n_latent=2000, n_train=64, ridge=0.0)
    at = benign.ridge_theory(c, n_features=np.array([64.0]))
    assert at["test_risk"][0] == np.inf and at["train_risk"][0] == 0.0
    # k < n, no ridge: least squares. n = z + δ/κ gives train/test = ((n − z)/n)² = (1 − k/n)² (z = k).
    under = benign.ridge_theory(c.replace(n_features=16))
    assert under["train_risk"] == pytest.approx((1 - 16 / 64) ** 2 * under["test_risk"], rel=1e-9)
    over = benign.ridge_theory(c.replace(n_features=256))
    assert over["train_risk"] == 0.0 and np.isfinite(over["test_risk"])


def test_the_simulation_returns_both_risks_and_follows_the_seed():
    c = benign.RidgeConfig(n_latent=300, n_train=20, n_features=30, n_trials=2)
    a, b = benign.ridge_simulate(c), benign.ridge_simulate(c)
    assert set(a) == {"test_risk", "train_risk"} and a == b
    many = benign.ridge_simulate(c, ridges=np.array([c.ridge, 1.0]))
    assert many["test_risk"][0] == pytest.approx(a["test_risk"]) and many["test_risk"].shape == (2,)
    assert benign.ridge_simulate(c.replace(seed=1))["test_risk"] != a["test_risk"]
    with pytest.raises(ValueError, match="ridges must be >= 0"):
        benign.ridge_simulate(c, ridges=np.array([-1.0]))
    th = benign.ridge_theory(c)
    assert set(th) >= {"test_risk", "train_risk"} and isinstance(th["test_risk"], float)
    assert ridge.spectrum(c)[0][0] == 1.0


# --- the benchmark's paper-size path (run on a GPU with --device cuda), forced at a tiny size on the CPU ----


def test_the_paper_size_benchmark_runs_records_and_stops_at_its_budget(tmp_path, capsys):
    bench = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "benign.py"), run_name="bench")
    args = ["--device", "cpu", "--skip-tables", "--paper", "--paper-size", "300,12,10", "--seeds", "2",
            "--grok-steps", "30", "--record", str(tmp_path)]
    assert bench["main"](args) == 0
    rec = json.loads((tmp_path / "benign_paper.json").read_text())
    assert rec["size"] == {"p": 300, "n": 12, "m": 10, "mu_norm": 2.5 * math.sqrt(300 / 12), "seeds": 2,
                           "n_test": 500, "dtype": "float64"}
    assert rec["benign"]["steps_run"] == 40 and rec["grokking"]["steps_run"] == 30
    assert [e["step"] for e in rec["benign"]["test_acc"]] == [0, 1, 2, 5, 10, 40]
    assert "lr 1e-16: first step train >= 0.99" in capsys.readouterr().out
    assert bench["main"](args + ["--budget", "0"]) == 0  # the long run is stopped at once, and says so
    rec = json.loads((tmp_path / "benign_paper.json").read_text())
    assert rec["grokking"]["status"] == ["stopped"] and rec["grokking"]["steps_run"] == 0
    with pytest.raises(SystemExit):
        bench["main"](["--paper-size", "40000,200"])
