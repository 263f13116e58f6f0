"""Learning-curve extrapolation (minilib.pfn.lc, minilib.pfn.mcmc): the prior, its likelihood and the MCMC
baseline, checked against direct implementations written here from the prior's description."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from minilib.pfn import lc, mcmc

# The prior as the LC-PFN authors' code has it, written out again independently of minilib.pfn.lc.
DIRECT = {
    "w_pow3": (0, 1), "w_ilog2": (0, 1), "w_janoschek": (0, 1),
    "pow3_c": (0, 1.25), "pow3_a": (-0.6, 0.6), "pow3_alpha": ("log", 0, 2),
    "ilog2_c": (0, 1), "ilog2_a": (-0.5, 0.5),
    "janoschek_a": (0, 1), "janoschek_beta": (0, 2), "janoschek_k": ("log", -2, 1), "janoschek_delta": ("log", 0, 0.5),
    "sigma": ("log", -4, 1),
}


def direct_draws(n, rng):
    cols = {}
    for name, spec in DIRECT.items():
        cols[name] = rng.lognormal(spec[1], spec[2], n) if spec[0] == "log" else rng.uniform(spec[0], spec[1], n)
    return cols


def direct_curve(p, x):
    pow3 = p["pow3_c"] - p["pow3_a"] * x ** (-p["pow3_alpha"])
    ilog2 = p["ilog2_c"] - p["ilog2_a"] / np.log(x + 1)
    jan = p["janoschek_a"] - (p["janoschek_a"] - p["janoschek_beta"]) * np.exp(
        -p["janoschek_k"] * x ** p["janoschek_delta"])
    return p["w_pow3"] * pow3 + p["w_ilog2"] * ilog2 + p["w_janoschek"] * jan


def direct_accepted(rng, n):
    """Accepted parameter dicts and the acceptance rate, one draw at a time as the authors' loop does."""
    x = np.arange(1, 101, dtype=float)
    d = direct_draws(n, rng)
    keep = []
    with np.errstate(all="ignore"):
        for i in range(n):
            p = {k: v[i] for k, v in d.items()}
            f = direct_curve(p, x)
            if not (f[-1] <= f[0] or np.any(f < 0) or np.any(f > 1) or np.isnan(f).any()):
                keep.append(i)
    return {k: v[keep] for k, v in d.items()}, len(keep) / n


@pytest.fixture(scope="module")
def reference():
    return direct_accepted(np.random.default_rng(7), 60_000)


@pytest.fixture(scope="module")
def drawn():
    return lc.sample_curves(20_000, torch.Generator().manual_seed(3))


def test_parameter_table_is_the_authors_prior():
    assert lc.PARAMS == tuple(DIRECT)
    for name, spec in DIRECT.items():
        dist, p1, p2 = lc.PRIOR[name]
        assert (dist == "lognormal") == (spec[0] == "log"), name
        assert (p1, p2) == ((spec[1], spec[2]) if spec[0] == "log" else spec), name


def test_acceptance_rate_matches_a_direct_implementation(drawn, reference):
    # ~20% in the pilot. Binomial standard errors: 0.0013 (lc, ~97k draws), 0.0017 (direct, 60k);
    # 0.008 is more than 3 standard errors of the difference.
    _, direct_rate = reference
    assert 0.19 < drawn.acceptance < 0.22
    assert abs(drawn.acceptance - direct_rate) < 0.008, (drawn.acceptance, direct_rate)


def test_kept_curves_obey_the_rejection_rule(drawn):
    f = drawn.f
    assert not torch.isnan(f).any()
    assert (f >= 0).all() and (f <= 1).all()
    assert (f[:, -1] > f[:, 0]).all()
    assert drawn.y.shape == (20_000, 100) and drawn.theta.shape == (20_000, lc.NDIM)


def test_rejection_rule_refuses_each_kind_of_bad_curve():
    good = torch.linspace(0.2, 0.8, 100)[None]
    assert lc.accepted(good).item()
    assert not lc.accepted(good.flip(-1)).item()  # ends lower than it starts
    assert not lc.accepted(torch.full((1, 100), 0.5)).item()  # flat: y(100) <= y(1)
    above = good.clone()
    above[0, 50] = 1.01
    below = good.clone()
    below[0, 10] = -0.01
    nan = good.clone()
    nan[0, 3] = float("nan")
    for bad in (above, below, nan):
        assert not lc.accepted(bad).item()
    assert lc.accepted(good.numpy()).item() and not lc.accepted(good.flip(-1).numpy()).item()


def test_accepted_parameter_moments_match_a_direct_implementation(drawn, reference):
    ref, _ = reference
    theta = drawn.theta.numpy()
    for j, name in enumerate(lc.PARAMS):
        a = np.log(theta[:, j]) if lc.PRIOR[name][0] == "lognormal" else theta[:, j]
        b = np.log(ref[name]) if lc.PRIOR[name][0] == "lognormal" else ref[name]
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4.5 * se, (name, a.mean(), b.mean(), se)  # 13 parameters at 4.5 se
        assert abs(a.std() / b.std() - 1) < 0.05, (name, a.std(), b.std())


def test_noise_is_gaussian_with_the_curves_sigma(drawn):
    eps = ((drawn.y - drawn.f) / drawn.theta[:, -1:]).flatten()
    assert abs(eps.mean().item()) < 0.01 and abs(eps.std().item() - 1) < 0.01  # 2M values: se 7e-4
    log_sigma = drawn.theta[:, -1].log()
    # the rejection rule does not read σ, so log σ keeps its N(−4, 1) prior: se 0.007
    assert abs(log_sigma.mean().item() + 4) < 0.03 and abs(log_sigma.std().item() - 1) < 0.03


def test_curve_functions_match_the_direct_formulas():
    rng = np.random.default_rng(0)
    p = direct_draws(50, rng)
    theta = np.stack([p[k] for k in lc.PARAMS], 1)
    x = np.arange(1, 101, dtype=float)
    want = np.stack([direct_curve({k: v[i] for k, v in p.items()}, x) for i in range(50)])
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(lc.curve(theta), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lc.curve(torch.from_numpy(theta)).numpy(), want, rtol=1e-12, atol=1e-12)


def test_log_likelihood_matches_scipy():
    rng = np.random.default_rng(1)
    c = lc.sample_curves(5, torch.Generator().manual_seed(1))
    theta = c.theta.numpy()
    y = c.y[0, :17].numpy() + rng.normal(0, 0.01, 17)
    want = [stats.norm.logpdf(y, lc.curve(theta[i:i + 1])[0, :17], theta[i, -1]).sum() for i in range(5)]
    np.testing.assert_allclose(lc.log_likelihood(theta, y), want, rtol=1e-12)
    np.testing.assert_allclose(lc.log_likelihood(c.theta, torch.from_numpy(y)).numpy(), want, rtol=1e-12)
    epochs = np.array([3.0, 50.0, 99.0])
    want = [stats.norm.logpdf(y[:3], lc.curve(theta[i:i + 1], epochs)[0], theta[i, -1]).sum() for i in range(5)]
    np.testing.assert_allclose(lc.log_likelihood(theta, y[:3], epochs), want, rtol=1e-12)


def test_log_prior_in_z_space_matches_scipy():
    c = lc.sample_curves(20, torch.Generator().manual_seed(2))
    theta = c.theta.numpy()
    z = mcmc.to_z(theta)
    np.testing.assert_allclose(mcmc.to_theta(z), theta, rtol=1e-12)
    want = np.zeros(20)
    for j, name in enumerate(lc.PARAMS):
        dist, p1, p2 = lc.PRIOR[name]
        want += stats.uniform.logpdf(z[:, j], p1, p2 - p1) if dist == "uniform" else stats.norm.logpdf(z[:, j], p1, p2)
    np.testing.assert_allclose(mcmc.log_prior_z(z), want, rtol=1e-12)
    y = c.y[0, :20].numpy()
    np.testing.assert_allclose(mcmc.log_posterior(z, y), want + lc.log_likelihood(theta, y), rtol=1e-12)


def test_log_posterior_is_minus_infinity_outside_the_prior():
    c = lc.sample_curves(1, torch.Generator().manual_seed(4))
    z = mcmc.to_z(c.theta.numpy())
    y = c.y[0, :10].numpy()
    assert np.isfinite(mcmc.log_posterior(z, y)).all()
    out_of_box = z.copy()
    out_of_box[0, lc.PARAMS.index("pow3_c")] = 1.3  # U(0, 1.25)
    falling = z.copy()
    for name, v in (("w_pow3", 0.0), ("w_ilog2", 0.0), ("janoschek_a", 0.1), ("janoschek_beta", 0.9)):
        falling[0, lc.PARAMS.index(name)] = v  # a curve that falls from ~0.9 towards 0.1
    assert mcmc.log_posterior(out_of_box, y)[0] == -np.inf
    assert mcmc.log_posterior(falling, y)[0] == -np.inf


def test_u_space_is_a_bijection_with_the_stated_jacobian():
    z = mcmc.to_z(lc.sample_curves(6, torch.Generator().manual_seed(8)).theta.numpy())
    u = mcmc.z_to_u(z)
    np.testing.assert_allclose(mcmc.u_to_z(u), z, rtol=1e-12, atol=1e-14)
    # the curve depends on u's linear coordinates as the module says: f = b0 − p1 x^−α − p2/log(x+1) − p3 e^(−k x^δ)
    th, x = mcmc.to_theta(z), np.arange(1.0, 101.0)
    i = {n: k for k, n in enumerate(lc.PARAMS)}
    col = {n: (u[:, [k]], th[:, [k]]) for n, k in i.items()}
    f = (col["pow3_c"][0] - col["pow3_a"][0] * x ** -col["pow3_alpha"][1] - col["ilog2_a"][0] / np.log(x + 1)
         - col["janoschek_beta"][0] * np.exp(-col["janoschek_k"][1] * x ** col["janoschek_delta"][1]))
    np.testing.assert_allclose(f, lc.curve(th), rtol=1e-10, atol=1e-12)
    for row in range(6):  # log |det ∂z/∂u| by central differences
        jac = np.zeros((lc.NDIM, lc.NDIM))
        for k in range(lc.NDIM):
            h = np.zeros(lc.NDIM)
            h[k] = 1e-6
            jac[:, k] = (mcmc.u_to_z(u[row:row + 1] + h) - mcmc.u_to_z(u[row:row + 1] - h))[0] / 2e-6
        assert abs(np.linalg.slogdet(jac)[1] - mcmc.log_jacobian(u[row:row + 1])[0]) < 1e-6


def test_mcmc_without_data_samples_the_prior():
    # With no observations the u-space sampler must return the prior (rejection rule included). Measured
    # with these settings, seeds 0-2: largest |mean shift| over the 13 parameters 0.11-0.17 prior standard
    # deviations; with one factor w1 dropped from the Jacobian it is 0.34 (w_pow3).
    import emcee

    ref = lc.sample_curves(20_000, torch.Generator().manual_seed(9)).theta.numpy()
    u0 = mcmc.z_to_u(mcmc.to_z(lc.sample_curves(64, torch.Generator().manual_seed(1)).theta.numpy()))
    sampler = emcee.EnsembleSampler(64, lc.NDIM, mcmc.log_posterior_u, args=(np.zeros(0),), vectorize=True)
    sampler.random_state = np.random.RandomState(0).get_state()
    sampler.run_mcmc(u0, 2500)
    theta = mcmc.to_theta(mcmc.u_to_z(sampler.get_chain(discard=500, thin=10, flat=True)))
    shift = np.abs(theta.mean(0) - ref.mean(0)) / ref.std(0)
    assert shift.max() < 0.25, dict(zip(lc.PARAMS, shift.round(2)))
    assert lc.accepted(lc.curve(theta)).all()


def test_sample_batch_is_curves_in_epoch_order_and_seeded():
    x, y = lc.sample_batch(8, torch.Generator().manual_seed(5))
    assert x.shape == (8, 100, 1) and y.shape == (8, 100) and x.dtype == y.dtype == torch.float32
    assert torch.equal(x[3, :, 0], torch.arange(1, 101) / 100)
    x2, y2 = lc.sample_batch(8, torch.Generator().manual_seed(5))
    assert torch.equal(y, y2)
    c = lc.sample_curves(8, torch.Generator().manual_seed(5))
    assert torch.equal(y, c.y.float())


def test_predictive_is_the_mixture_of_the_samples_gaussians():
    c = lc.sample_curves(40, torch.Generator().manual_seed(6))
    post = mcmc.Posterior(c.theta.numpy(), 0.3, 0.0, 0.0)
    epochs, y = np.array([30.0, 70.0]), np.array([0.5, 0.6])
    dens = stats.norm.pdf(y[None], lc.curve(post.theta, epochs), post.theta[:, -1:])
    np.testing.assert_allclose(post.log_predictive(epochs, y), np.log(dens.mean(0)), rtol=1e-10)


def test_mcmc_recovers_a_noise_light_curve():
    # A known curve with σ = 0.01, observed for 30 epochs: the posterior finds its noise level and
    # extrapolates the noise-free curve to epoch 100. Measured at these settings over seeds 0-2: median σ
    # 0.0101-0.0104, |mean f(100) − f(100)| <= 0.0035 (posterior sd of f(100) 0.010-0.012), acceptance 0.08.
    theta = lc.sample_curves(1, torch.Generator().manual_seed(11)).theta.numpy()
    theta[0, -1] = 0.01
    f = lc.curve(theta)[0]
    y = f + 0.01 * np.random.default_rng(0).normal(size=100)
    post = mcmc.sample_posterior(y[:30], mcmc.MCMCConfig(walkers=128, steps=3000, burn=1500, thin=5), seed=0)
    assert 0.008 < np.median(post.theta[:, -1]) < 0.013
    f100 = lc.curve(post.theta, [100.0])[:, 0]
    assert abs(f100.mean() - f[-1]) < 0.015, (f100.mean(), f[-1])
    assert 0.03 < post.acceptance < 0.5


def test_parallel_scores_equal_serial_ones():
    import minilib.pfn as pfn

    c = mcmc.MCMCConfig(cuts=(10, 40), curves=2, walkers=26, steps=60, burn=30, thin=1, init_draws=200)
    serial, = mcmc.run_sweep(pfn, [c], processes=1)
    parallel, = mcmc.run_sweep(pfn, [c], processes=2)
    assert serial.history["step"].tolist() == [0, 1, 2, 3, 4] and np.isnan(serial.history["mcmc_loglik"][0])
    np.testing.assert_array_equal(serial.history["mcmc_loglik"], parallel.history["mcmc_loglik"])
    assert serial.artifacts["cut"].tolist() == [10, 10, 40, 40] and serial.artifacts["curve"].tolist() == [0, 1, 0, 1]
    one = mcmc.heldout_score(lc.test_curves(2).y[1].numpy(), 40, c, seed=c.seed + 1000 * 40 + 1)
    assert one["loglik"] == serial.history["mcmc_loglik"][4]


@pytest.mark.parametrize("call, match", [
    (lambda: lc.check_cut(0), r"cut=0 is not allowed: use an integer in 1 <= cut <= 99"),
    (lambda: lc.check_cut(100), r"cut=100 is not allowed"),
    (lambda: lc.check_cut(2.5), r"cut=2.5 is not allowed"),
    (lambda: lc.sample_curves(0), r"n=0 is not allowed: use an integer >= 1"),
    (lambda: lc.sample_batch(-3), r"batch_size=-3 is not allowed"),
    (lambda: lc.curve(np.zeros((2, 5))), r"theta has shape \(2, 5\): expected \(n, 13\)"),
    (lambda: lc.accepted(torch.zeros(1, 40)), r"got 40 epochs, need 100"),
    (lambda: lc.log_likelihood(np.ones((1, 13)), np.ones(4), np.ones(3)), r"y_obs has 4 values but epochs has 3"),
    (lambda: mcmc.MCMCConfig(walkers=20), r"MCMCConfig.walkers=20 is out of range: allowed 26 <= walkers"),
    (lambda: mcmc.MCMCConfig(walkers=33), r"MCMCConfig.walkers=33 must be even"),
    (lambda: mcmc.MCMCConfig(steps=100, burn=100), r"MCMCConfig.burn=100 must be below steps=100"),
    (lambda: mcmc.MCMCConfig(thin=0), r"MCMCConfig.thin=0 is out of range"),
    (lambda: mcmc.MCMCConfig(cuts=(10, 100)), r"MCMCConfig.cuts"),
    (lambda: mcmc.MCMCConfig(cuts=(10.5,)), r"MCMCConfig.cuts=\(10.5,\) must be whole epochs"),
    (lambda: mcmc.MCMCConfig(walkers=64, init_draws=32), r"init_draws=32 must be at least walkers=64"),
    (lambda: mcmc.sample_posterior(np.ones(100)), r"cut=100 is not allowed"),
    (lambda: mcmc.sample_posterior(np.array([0.1, np.nan])), r"y_obs contains NaN"),
    (lambda: mcmc.heldout_score(np.ones(50), 10), r"y_curve has shape \(50,\): expected \(100,\)"),
    (lambda: mcmc.sample_posterior(np.ones(10), space="x"), r"space='x' is not allowed: 'u'"),
])
def test_bad_input_gives_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the LC-PFN side: training batches, scores, baseline, early stopping ----------------------------------

def test_the_lc_prior_is_registered_and_checks_seq_len():
    import minilib.pfn as pfn

    prior = pfn.prior_for("lc")
    assert prior.sampler(pfn.Config(prior="lc", seq_len=100)) is lc.sample_batch
    x, y = prior.sampler(pfn.Config(prior="lc"))(4, torch.Generator().manual_seed(0))  # the first 30 epochs
    assert x.shape == (4, 30, 1) and y.shape == (4, 30) and torch.equal(x[0, :, 0], torch.arange(1, 31) / 100)
    with pytest.raises(ValueError, match=r"seq_len=101 is not allowed with prior='lc'.*seq_len <= 100"):
        pfn.Config(prior="lc", seq_len=101)


@pytest.fixture(scope="module")
def tiny_lc():
    import minilib.pfn as pfn

    torch.manual_seed(0)
    run, predictor = pfn.fit(pfn.Config(prior="lc", seq_len=100, min_context=1, steps=20, n_buckets=50, d_model=16,
                                        n_layers=1, n_heads=2, d_ff=32, eval_datasets=8, num_logs=2, device="cpu"),
                             progress=False)
    return run, predictor


def test_a_tiny_lc_run_logs_eval_nll_and_stores_the_heldout_table(tiny_lc):
    run, predictor = tiny_lc
    assert run.status == "completed" and np.isfinite(run.history["eval_nll"]).all()
    assert run.artifacts["heldout_cuts"].tolist() == list(lc.CUTS)
    assert run.artifacts["heldout_pfn"].shape == run.artifacts["heldout_last_value"].shape == (3, lc.TEST_CURVES)
    y = lc.test_curves().y
    np.testing.assert_allclose(run.artifacts["heldout_pfn"][1], lc.heldout_pfn(predictor, y, 20), rtol=1e-6)


def test_heldout_pfn_equals_one_curve_at_a_time(tiny_lc):
    _, predictor = tiny_lc
    y = lc.test_curves(3).y
    x = torch.arange(1, 101)  # epoch numbers: the LC-PFN's predict scales them
    for i in range(3):
        one = predictor.predict(x[:20], y[i, :20].float(), x[20:]).log_prob(y[i, 20:].float()).double().mean()
        assert abs(lc.heldout_pfn(predictor, y, 20)[i] - float(one)) < 1e-5


def test_last_value_baseline_matches_scipy():
    y = lc.test_curves(4).y.numpy()
    s = lc.last_value_sigma(10)
    want = stats.norm.logpdf(y[:, 10:], y[:, 9:10], s).mean(1)
    np.testing.assert_allclose(lc.heldout_last_value(y, 10, s), want, rtol=1e-12)
    # its width is the root-mean-square change from the last observed epoch, over fresh prior curves
    assert 0.02 < s < 0.2


def test_early_stopping_stops_hopeless_runs_and_keeps_the_best(monkeypatch):
    # Five runs with final values 0.5, 0.9, 0.3, 0.95, 0.6 and a predictor that knows each run's final value
    # (P(improvement) is 1 or 0): run 1 always completes; runs 3 and 5 stop at their first check (epoch 5).
    finals = [0.5, 0.9, 0.3, 0.95, 0.6]
    y = torch.tensor([[0.01 * (i + 1)] * 99 + [f] for i, f in enumerate(finals)])
    checks = []

    def oracle(predictor, y_obs, best):
        i = round(float(y_obs[0]) * 100) - 1
        checks.append((i, len(y_obs), best))
        return float(finals[i] > best)

    monkeypatch.setattr(lc, "prob_improvement", oracle)
    out = lc.early_stopping(None, y, threshold=0.05, check_every=10, min_epochs=5)
    assert out["stopped_at"].tolist() == [100, 100, 5, 100, 5]
    assert out["best_found"] == pytest.approx(0.95) and out["regret"] == pytest.approx(0.0)
    assert out["epochs_used"] == 310 and out["epochs_all"] == 500
    assert not any(i == 0 for i, _, _ in checks)  # nothing to beat yet: the first run is never checked
    assert [n for i, n, _ in checks if i == 1] == list(range(5, 100, 10))  # checked at 5, 15, ..., 95
    assert [b for i, _, b in checks if i == 4] == [pytest.approx(0.95)]


def test_early_stopping_rejects_bad_settings():
    y = lc.test_curves(2).y
    for kw, match in ((dict(threshold=0), r"threshold=0 is not allowed"), (dict(threshold=1.5), r"threshold=1.5"),
                      (dict(min_epochs=0), r"cut=0 is not allowed"), (dict(check_every=0), r"check_every=0")):
        with pytest.raises(ValueError, match=match):
            lc.early_stopping(None, y, **kw)
