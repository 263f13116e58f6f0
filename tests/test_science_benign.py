"""Science checks of chapter 2 (benign overfitting): each claim the chapter rests on, against a reference.

tests/mutation/benign_mutants.py injects plausible bugs and requires at least one of these checks to
fail with each. So the checks take no fixtures and reach library functions through their modules at call
time (`models.gd_update`, not a name imported here), so that a patched function is the one checked.
"""

import math

import numpy as np
import pytest
import torch

from minilib import benign, replicas
from minilib.benign import experiment, models, ridge

TINY = benign.XorConfig(dim=300, n_train=20, n_test=40, width=12, mu_norm=8.0, label_noise=0.2, init_scale=1e-3,
                        lr=1e-2, steps=3, device="cpu")


# --- Part A: the data ---------------------------------------------------------------------------------


def test_xor_clusters_have_orthogonal_means_unit_noise_the_flip_rate_and_clean_test_labels():
    c = TINY.replace(dim=400, n_train=4000, n_test=4000, mu_norm=30.0, label_noise=0.2)
    d = experiment.draw(c, torch.Generator().manual_seed(5))
    mu = d["means"]
    assert abs(float(mu[0] @ mu[1])) < 1e-9 * c.mu_norm**2, "the two cluster means are not orthogonal"
    assert torch.allclose(mu.norm(dim=1), torch.full((2,), c.mu_norm, dtype=mu.dtype)), "‖μ_k‖ != mu_norm"
    for x, labels, n in ((d["x"], d["clean"], c.n_train), (d["x_test"], d["clean_test"], c.n_test)):
        # The nearest of ±μ1, ±μ2 (‖μ‖ = 30 ≫ the noise's projection) names each point's cluster.
        proj = x @ mu.T  # [n, 2]
        cluster = proj.abs().argmax(1)
        expected = torch.where(labels > 0, 0, 1)
        assert (cluster == expected).all(), "a point sits on a cluster of the other clean class"
        noise = x - torch.sign(proj.gather(1, cluster[:, None])) * mu[cluster]
        per_dim = float(noise.pow(2).mean())
        assert abs(per_dim - 1) < 0.02, f"ξ has variance {per_dim:.3f} per coordinate, not 1"
        assert abs(float((labels > 0).double().mean()) - 0.5) < 4 * math.sqrt(0.25 / n), "the classes are not fair"
    flipped = float((d["y"] != d["clean"]).double().mean())
    bound = 4 * math.sqrt(0.2 * 0.8 / c.n_train)
    assert abs(flipped - 0.2) < bound, f"{flipped:.3f} of the training labels are flipped, not 0.2 ± {bound:.3f}"
    assert set(d["clean_test"].tolist()) == {-1.0, 1.0}


# --- Part A: the network and its gradient-descent step ----------------------------------------------------


def test_gd_update_is_minus_lr_times_the_autograd_gradient_of_the_mean_logistic_loss():
    # Weights of scale 1, so f is of order 1 and g_i = sigmoid(−y_i f_i) differs between samples.
    gen = torch.Generator().manual_seed(0)
    R, n, p, m = 2, 9, 7, 5
    W = torch.randn(R, m, p, generator=gen, dtype=torch.float64)
    a = (torch.randint(0, 2, (R, m), generator=gen) * 2 - 1).double() / math.sqrt(m)
    x = torch.randn(R, n, p, generator=gen, dtype=torch.float64) * 2
    y = (torch.randint(0, 2, (R, n), generator=gen) * 2 - 1).double()
    lr = torch.tensor([0.3, 0.05], dtype=torch.float64)
    Wg = W.clone().requires_grad_()
    f = (x @ Wg.transpose(1, 2)).relu() @ a[:, :, None]  # the network written out, [R, n, 1]
    loss = torch.log1p(torch.exp(-y * f[..., 0])).mean(1)  # (1/n) Σ log(1 + e^(−y f)) per replica
    (grad,) = torch.autograd.grad(loss.sum(), Wg)
    expected = -lr[:, None, None] * grad
    got = models.gd_update(W, a, x, y, lr)
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-14), \
        f"ΔW differs from −lr ∇L: max |difference| {float((got - expected).abs().max()):.3g}"
    assert torch.allclose(models.network(W, a, x), f[..., 0], rtol=1e-12)


def test_a_run_logs_the_initial_state_at_step_0_and_one_gd_update_at_step_1():
    c = TINY
    run = benign.run(c, progress=False)
    assert run.history["step"].tolist() == list(range(c.steps + 1)), "not logged at every step from 0"
    # The same data and weights, drawn in the same order from the seed, updated by hand.
    exp = experiment._Experiment([c])
    W0 = exp.W.clone()
    at_init = exp.evaluate()
    for k, v in at_init.items():
        np.testing.assert_allclose(run.history[k][0], v[0], rtol=1e-12, err_msg=f"{k} at step 0 is not the init's")
    s = exp.sets
    manual = W0 + models.gd_update(W0, exp.a, s["x"], s["y"], c.lr)
    f_train = models.network(manual, exp.a, s["x"])[0]
    f_test = models.network(manual, exp.a, s["x_test"])[0]
    train_acc = float((torch.sign(f_train) == s["y"][0]).double().mean())  # against the observed labels
    test_acc = float((torch.sign(f_test) == s["clean_test"][0]).double().mean())  # against clean labels
    assert run.history["train_acc"][1] == pytest.approx(train_acc), "train accuracy at step 1 is not after one update"
    assert run.history["test_acc"][1] == pytest.approx(test_acc), "test accuracy at step 1 is not after one update"
    flipped = s["y"][0] != s["clean"][0]
    fit = float(((torch.sign(f_train) == s["y"][0]) & flipped).double().sum() / flipped.double().sum())
    assert run.history["flipped_fit"][1] == pytest.approx(fit)


def test_the_benign_overfitting_signature_at_a_small_size():
    # Xu et al.'s regime (lr/init = 1000, p ≫ n): all noisy labels fitted after ONE step, test near chance
    # then; test near 1 a few steps later, with the noisy labels still fitted.
    base = benign.XorConfig(dim=3000, n_train=30, n_test=300, width=60, mu_norm=25.0, label_noise=0.1,
                            steps=8, device="cpu")
    runs = benign.run_sweep([base.replace(seed=s) for s in range(4)], progress=False)
    train1 = np.median([r.history["train_acc"][1] for r in runs])
    test1 = np.median([r.history["test_acc"][1] for r in runs])
    test_end = np.median([r.final("test_acc") for r in runs])
    assert train1 == 1.0, f"median train accuracy after one step {train1}"
    assert abs(test1 - 0.5) <= 0.15, f"median test accuracy after one step {test1}: not near chance"
    assert test_end >= 0.9, f"median test accuracy after {base.steps} steps {test_end}"
    assert np.median([r.final("train_acc") for r in runs]) >= 0.95, "the noisy labels are no longer fitted"


def test_the_batched_path_forced_on_a_cpu_trains_like_one_replica_at_a_time():
    configs = [TINY.replace(seed=s, lr=lr) for s, lr in ((0, 1e-2), (1, 3e-2), (2, 1e-2))]
    alone = benign.run_sweep(configs, progress=False)
    with replicas.force_stacked(True):
        batched = benign.run_sweep(configs, progress=False)
    for a, b in zip(alone, batched):
        for k in a.history:
            np.testing.assert_allclose(b.history[k], a.history[k], rtol=1e-9, atol=1e-12, err_msg=k)


# --- Part B: random-feature ridge regression -------------------------------------------------------------


def test_random_features_average_to_the_kernel():
    gen = torch.Generator().manual_seed(1)
    M, k = 30, 200_000
    lam = torch.arange(1, M + 1, dtype=torch.float64) ** -1.5
    x = torch.randn(4, M, generator=gen, dtype=torch.float64)
    Z = torch.randn(k, M, generator=gen, dtype=torch.float64)
    phi = ridge.random_features(x, lam, Z)
    kernel = (x * lam) @ x.T
    assert torch.allclose(phi @ phi.T, kernel, atol=0.02 * float(kernel.diag().max())), "φ·φ' is not Σ λ_i x_i x'_i"


def test_ridge_fit_solves_the_regularised_system_with_the_ridge_on_the_summed_kernel():
    gen = torch.Generator().manual_seed(2)
    for n, k in ((12, 5), (5, 12)):
        Phi = torch.randn(n, k, generator=gen, dtype=torch.float64)
        y = torch.randn(n, generator=gen, dtype=torch.float64)
        ridges = torch.tensor([0.3, 2.0], dtype=torch.float64)
        got = ridge.ridge_fit(Phi, y, ridges)
        for j, d in enumerate(ridges):
            ref = Phi.T @ torch.linalg.solve(Phi @ Phi.T + d * torch.eye(n, dtype=torch.float64), y)
            assert torch.allclose(got[:, j], ref, atol=1e-10), f"n={n}, k={k}, ridge={float(d)}"


def test_the_eigenframework_predicts_the_simulated_risks():
    # Simon et al. 2023: theory and simulation agree within ~5–10% away from the interpolation peak.
    base = benign.RidgeConfig(n_latent=600, n_train=60, n_features=90, noise=0.5, n_trials=24, seed=3)
    # The last change is ridgeless least squares (k < n, δ = 0): measured train 0.532 vs 0.523 in theory.
    changes = (dict(ridge=0.05), dict(n_features=30, ridge=0.05), dict(ridge=1.0), dict(n_features=400, ridge=1e-4),
               dict(n_features=30, ridge=0.0))
    for change in changes:
        c = base.replace(**change)
        th, sim = benign.ridge_theory(c), benign.ridge_simulate(c)
        for key in ("test_risk", "train_risk"):
            assert sim[key] == pytest.approx(th[key], rel=0.12), f"{change}: {key} simulated {sim[key]:.4g}, " \
                                                                 f"theory {th[key]:.4g}"


def test_in_the_kernel_limit_with_beta_equal_alpha_the_best_ridge_is_the_noise_variance():
    # β = α: v_i² = λ_i, the target's power is the GP prior whose covariance is the kernel; kernel ridge
    # regression with (K + δ I)^(−1) is then the posterior mean exactly when δ = σ², so δ = σ² is optimal.
    for noise in (0.1, 0.5, 2.0):
        c = benign.RidgeConfig(n_latent=2000, alpha=1.5, beta=1.5, noise=noise, n_train=100)
        ridges = np.geomspace(noise / 30, noise * 30, 601)
        risk = benign.ridge_theory(c, n_features=np.inf, ridge=ridges)["test_risk"]
        best = ridges[np.argmin(risk)]
        assert best == pytest.approx(noise, rel=0.03), f"σ² = {noise}: the theory's best ridge is {best:.4g}"


def test_mu_alignment_is_the_max_over_both_means_and_starts_at_the_random_baseline():
    # An independent computation (numpy, neuron by neuron) of mean_j max_k |cos(w_j, μ_k)| on random weights,
    # and the expectation at a random direction, √(2/π)·Γ(p/2)/Γ((p+1)/2) ≈ 2/√(π p) (the max of two |cos|):
    # √2 times the single-mean value √(2/(π p)), which an alignment over one mean would give.
    gen = torch.Generator().manual_seed(11)
    p, m = 400, 4000
    means = benign.cluster_means(p, 7.0, gen)
    W = torch.randn(1, m, p, generator=gen, dtype=torch.float64) * 1e-15
    got = float(experiment.mu_alignment(W, means[None])[0])
    w, mu = W[0].numpy(), means.numpy()
    ref = np.mean([max(abs(w[j] @ mu[k]) / (np.linalg.norm(w[j]) * np.linalg.norm(mu[k])) for k in range(2))
                   for j in range(m)])
    assert got == pytest.approx(ref, rel=1e-10), f"mu_alignment {got:.6g}, computed neuron by neuron {ref:.6g}"
    # The random baseline: one neuron's max |cos| spreads by 53% of its mean (E max² = 2(1/2 + 1/π)/p), so over
    # m = 4000 neurons the standard error is 0.84%; 3% is 3.6 standard errors.
    base = experiment.random_alignment(p)
    assert got == pytest.approx(base, rel=0.03), f"at a random init mu_alignment {got:.5f}, expected {base:.5f}"
    assert experiment.random_alignment(2) == pytest.approx(2 * math.sqrt(2) / math.pi, rel=1e-12)  # ρ = 1 at p = 2
    assert experiment.random_alignment(40_000) == pytest.approx(0.005642, abs=5e-6)


def test_the_closed_form_optimal_fitting_ratio_minimises_its_risk_and_matches_the_eigenframework():
    # (1) R* is where Simon et al.'s powerlaw risk E(R) is least, found on a fine grid of R (independent of the
    # root equation R* solves).
    grid = np.linspace(0, 0.999, 99_901)
    for a, b, s in ((1.5, 1.5, 1.0), (1.5, 1.5, 0.2), (1.17, 1.14, 1.0), (2.0, 1.4, 0.0), (1.3, 2.0, 3.0)):
        best = grid[np.argmin(ridge.fitting_ratio_risk(grid, a, b, s))]
        got = ridge.optimal_fitting_ratio(a, b, s)
        assert got == pytest.approx(best, abs=2e-5), f"α={a}, β={b}, σ²_rel={s}: R* {got:.5f}, grid minimum {best:.5f}"
    assert ridge.fitting_ratio_risk(0.0, 1.5, 1.5, 1.0) == pytest.approx(2.5)  # ridgeless: E_0 (1 + α σ²_rel)
    # (2) The eigenframework at n = 256 (kernel limit, M = 10 000 modes, α = β = 1.5) with σ² = σ²_rel times its
    # own noise-free ridgeless risk: the train/test ratio at its best ridge is within 10% of R* (measured: <= 5%).
    c = benign.RidgeConfig(n_latent=10_000, alpha=1.5, beta=1.5, n_train=256)
    ridges = np.geomspace(1e-6, 1e3, 181)
    e0 = benign.ridge_theory(c, n_features=np.inf, ridge=1e-9, noise=0.0)["test_risk"]
    for rel in (0.5, 1.0, 5.0):
        out = benign.ridge_theory(c, n_features=np.inf, ridge=ridges, noise=rel * e0)
        i = int(np.argmin(out["test_risk"]))
        measured = out["train_risk"][i] / out["test_risk"][i]
        closed = ridge.optimal_fitting_ratio(1.5, 1.5, rel)
        assert measured == pytest.approx(closed, rel=0.1), \
            f"σ²_rel={rel}: eigenframework {measured:.4f}, R* {closed:.4f}"


def test_with_the_ridge_tuned_the_risk_never_rises_with_n_or_with_k_over_a_grid():
    # Simon et al.'s first result: tuned, the test risk decreases monotonically in the number of samples n and
    # of features k. Every point of a 6 x 19 grid, each at the best of 91 ridges (measured: every step in n
    # lowers the risk by >= 1.3%, every step in k by >= 0.07%).
    c = benign.RidgeConfig(n_latent=1000, alpha=1.5, beta=1.5, noise=0.5)
    ns, ks, ridges = np.array([8, 16, 32, 64, 128, 256]), np.geomspace(4, 2048, 19), np.geomspace(1e-6, 1e3, 91)
    risk = benign.ridge_theory(c, n_train=ns[:, None, None], n_features=ks[None, :, None],
                               ridge=ridges[None, None, :])["test_risk"].min(2)
    assert (np.diff(risk, axis=0) < 0).all(), "the tuned risk rises with n somewhere on the grid"
    assert (np.diff(risk, axis=1) < 0).all(), "the tuned risk rises with k somewhere on the grid"


def test_the_phase_diagram_cells_carry_the_papers_separation():
    # Xu et al.'s App. A.7 scales the separation as ‖μ‖ = 2.5·√(p/n): every cell of the shipped grid does.
    from minilib.benign import shipped

    configs = shipped.phase()
    assert len(configs) == len(shipped.PHASE_DIMS) * len(shipped.PHASE_SAMPLES) * len(shipped.SEEDS)
    for c in configs:
        assert c.mu_norm == pytest.approx(2.5 * math.sqrt(c.dim / c.n_train), rel=1e-12), (c.dim, c.n_train, c.mu_norm)
    assert {(c.dim, c.n_train) for c in configs} == {(p, n) for p in shipped.PHASE_DIMS for n in shipped.PHASE_SAMPLES}


def test_the_fitting_step_scales_as_init_over_lr_and_first_pass_finds_the_first_logged_step():
    # The chapter explains the small-step run's fitting step by the ratio α/ω_init: while |f| ≪ 1 the number of
    # steps to fit scales as ω_init/α. At a tiny size with a step ten times below the initialisation, each seed
    # fits its (clean) labels twice as fast with twice the step (measured: 17/9, 17/9, 28/14 steps).
    base = benign.XorConfig(dim=600, n_train=12, n_test=40, width=20, mu_norm=10.0, label_noise=0.0,
                            init_scale=1e-15, lr=1e-16, steps=32, device="cpu")
    fits = {}
    for lr in (1e-16, 2e-16):
        runs = benign.run_sweep([base.replace(lr=lr, seed=s) for s in range(3)], progress=False)
        fits[lr] = experiment.first_pass(runs, "train_acc", 1.0)
        for r, got in zip(runs, fits[lr]):  # a direct scan of the logged history
            hit = np.flatnonzero(r.history["train_acc"] >= 1.0)
            assert got == (r.history["step"][hit[0]] if len(hit) else np.nan) or (np.isnan(got) and not len(hit))
    assert np.isfinite(fits[1e-16]).all() and (fits[1e-16] >= 10).all(), fits
    ratio = fits[1e-16] / fits[2e-16]
    assert ((ratio >= 1.7) & (ratio <= 2.1)).all(), f"fitting steps {fits}: not halved by twice the step"
