"""Science checks of chapter 4 (projection heads): each claim the chapter rests on, against a reference.

tests/mutation/ injects plausible bugs (projection_mutants.py) and requires at least one of these checks
to fail with each. So the checks take no fixtures (the mutation runner calls them directly) and reach
library functions through their modules at call time (`losses.supcon`, not a name imported here), so
that a patched function is the one checked. References: Monte-Carlo estimates of the expectations, the
closed-form minimum, loops written one anchor at a time, and scikit-learn's logistic regression.
"""

import math

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from minilib.projection import data, experiment, losses, models, probe

A = torch.tensor([3.0, 2.0, 1.5, 1.0, 1.0, 0.7, 0.5, 0.3], dtype=torch.float64)
RHO = torch.tensor([0.0, 0.5, 0.2, 0.0, 0.9, 0.3, 0.0, 0.6], dtype=torch.float64)


# --- the linear model's loss and data ----------------------------------------------------------------


def test_population_spectral_loss_matches_a_monte_carlo_estimate():
    # L = −2 E[f(x)ᵀf(x⁺)] + E[(f(x)ᵀf(x′))²], estimated from samples of the feature model itself.
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(1, 5, 8, generator=gen, dtype=torch.float64) * 0.4
    m, s = data.second_moments(A, RHO)
    exact = float(losses.spectral_population(W, m, s)[0])
    n, reps = 20_000, 8
    estimates = []
    for _ in range(reps):
        z, x = data.sample_linear(n, A, gen)
        x_pos = data.augment(z, RHO, gen) * A
        _, x_other = data.sample_linear(n, A, gen)
        f = lambda v: v @ W[0].T
        estimates.append(float(losses.spectral_sample(f(x), f(x_pos), f(x_other))))
    mean, se = np.mean(estimates), np.std(estimates, ddof=1) / math.sqrt(reps)
    assert abs(mean - exact) < 5 * se + 1e-3 * abs(exact), (exact, mean, se)
    # and the two terms separately, so a sign or factor error in one of them cannot hide in the sum
    z, x = data.sample_linear(100_000, A, gen)
    x_pos = data.augment(z, RHO, gen) * A
    pos_mc = float(((x @ W[0].T) * (x_pos @ W[0].T)).sum(-1).mean())
    pos_exact = float((W.pow(2) * m).sum())
    assert abs(pos_mc - pos_exact) < 0.03 * abs(pos_exact), (pos_mc, pos_exact)


def test_augmentation_redraws_each_feature_with_its_drop_probability():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(200_000, 8, generator=gen, dtype=torch.float64)
    aug = data.augment(z, RHO, gen)
    changed = (aug != z).double().mean(0)
    assert torch.allclose(changed, RHO, atol=0.005), changed
    # A redrawn value is a fresh N(0, 1): the correlation of z_k and z_k⁺ is 1 − ρ_k, the variance stays 1.
    corr = (z * aug).mean(0) / (z.std(0) * aug.std(0))
    assert torch.allclose(corr, 1 - RHO, atol=0.01), corr
    assert torch.allclose(aug.var(0), torch.ones(8, dtype=torch.float64), atol=0.02)


def test_the_minimum_is_reached_where_WtW_is_diag_m_over_s_squared():
    m, s = data.second_moments(A, RHO)
    assert math.isclose(float(losses.spectral_minimum(m, s)), -float(((1 - RHO) ** 2).sum()), rel_tol=1e-12)
    # W* = Q diag(√m / s) padded to 12 rows, Q a random rotation: the minimum, a stationary point.
    gen = torch.Generator().manual_seed(2)
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))
    core = torch.zeros(12, 8, dtype=torch.float64)
    core[:8] = torch.diag(m.sqrt() / s)
    W = (q @ core)[None].requires_grad_()
    loss = losses.spectral_population(W, m, s)
    assert math.isclose(float(loss.detach()), float(losses.spectral_minimum(m, s)), rel_tol=1e-10)
    (grad,) = torch.autograd.grad(loss.sum(), W)
    assert grad.abs().max() < 1e-10
    for _ in range(5):
        bumped = W.detach() + 1e-3 * torch.randn(W.shape, generator=gen, dtype=torch.float64)
        assert float(losses.spectral_population(bumped, m, s)) > float(loss.detach())
    # The post-projection magnitude of feature k at the minimum: ‖W[:, k]‖·a_k = √(1 − ρ_k).
    assert torch.allclose(models.feature_weights(W.detach())[0] * A, (1 - RHO).sqrt())


def test_feature_weights_are_the_column_norms_of_each_replica():
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    ours = models.feature_weights(W)
    ref = torch.tensor([[math.sqrt(sum(float(W[r, i, k]) ** 2 for i in range(5))) for k in range(4)]
                        for r in range(3)], dtype=torch.float64)
    assert ours.shape == (3, 4) and torch.allclose(ours, ref)


def test_gradient_descent_from_small_init_reaches_the_balanced_minimum():
    # Three features, so the check is quick: GD finds the minimum, the end-to-end weights √(1 − ρ)/a, and
    # the balanced encoder ‖W₁[:, k]‖² = ‖(W₂W₁)[:, k]‖ (slope ½); Adam reaches the minimum unbalanced.
    a, rho = (1.0, 1.0, 0.8), (0.0, 0.5, 0.2)
    base = experiment.Config(feature_scales=a, drop_probs=rho, hidden=6, head_dim=6, probe_feature=1,
                             init_scale=0.05, lr=0.05, steps=1000, num_logs=3, log_spaced=False,
                             probe_trials=2, device="cpu")
    gd = experiment.run(base, progress=False)
    pre, post = gd.artifacts["pre_weights"], gd.artifacts["post_weights"]
    assert gd.final("excess_loss") < 1e-3, gd.final("excess_loss")
    np.testing.assert_allclose(post * np.array(a), np.sqrt(1 - np.array(rho)), rtol=0.01)
    np.testing.assert_allclose(pre**2 / post, 1.0, rtol=0.03)
    assert abs(gd.final("slope") - 0.5) < 0.02 and gd.final("imbalance") < 0.06, gd.history
    adam = experiment.run(base.replace(optimizer="adam", lr=0.01), progress=False)
    assert adam.final("excess_loss") < 1e-3 and adam.final("slope") > 0.6, adam.final("slope")


def test_the_pre_projection_representation_is_the_encoder_output():
    cfg = experiment.Config(hidden=5, head_dim=4, depth=3, steps=1, num_logs=2, probe_trials=1, device="cpu")
    exp = experiment._Linear([cfg])
    x = torch.randn(7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    pre, post = exp.representations(0, x)
    W1, W2, W3 = (w[0].detach() for w in exp.weights)
    assert pre.shape == (7, 5) and post.shape == (7, 4), (pre.shape, post.shape)
    assert torch.allclose(pre, x @ W1.T) and torch.allclose(post, x @ (W3 @ W2 @ W1).T)
    table = exp.feature_table(0)
    assert np.allclose(table[0], W1.norm(dim=0).numpy()) and np.allclose(table[-1], (W3 @ W2 @ W1).norm(dim=0).numpy())


# --- the SupCon model --------------------------------------------------------------------------------


def _supcon_one_anchor_at_a_time(z, labels, tau):
    u = z / z.norm(dim=-1, keepdim=True)
    n, total, anchors = len(u), 0.0, 0
    for i in range(n):
        others = [a for a in range(n) if a != i]
        denom = sum(math.exp(float(u[i] @ u[a]) / tau) for a in others)
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue
        total += -sum(math.log(math.exp(float(u[i] @ u[p]) / tau) / denom) for p in positives) / len(positives)
        anchors += 1
    return total / anchors


def test_supcon_loss_matches_the_formula_one_anchor_at_a_time():
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(2, 9, 4, generator=gen, dtype=torch.float64) * 3
    labels = torch.tensor([[0, 1, 0, 2, 1, 0, 1, 2, 3], [1, 1, 0, 0, 1, 0, 1, 0, 1]])
    for tau in (0.1, 0.5):
        ours = losses.supcon(z, labels, tau)
        for r in range(2):
            ref = _supcon_one_anchor_at_a_time(z[r], labels[r].tolist(), tau)
            assert math.isclose(float(ours[r]), ref, rel_tol=1e-9), (tau, r, float(ours[r]), ref)
    # per-replica temperatures
    both = losses.supcon(z, labels, torch.tensor([0.1, 0.5], dtype=torch.float64))
    assert math.isclose(float(both[1]), _supcon_one_anchor_at_a_time(z[1], labels[1].tolist(), 0.5), rel_tol=1e-9)


def test_supcon_data_has_a_class_and_an_ignored_subclass_seen_through_a_rotation():
    gen = torch.Generator().manual_seed(6)
    rot = data.rotation(12, gen)
    assert torch.allclose(rot @ rot.T, torch.eye(12), atol=1e-5)
    x, cls, sub = data.sample_classes(20_000, rot, gen, class_scale=2.0, sub_scale=1.0, noise=0.5)
    lat = x @ rot  # back to the latents
    assert torch.equal(cls, (lat[:, 0] > 0).long()) and torch.equal(sub, (lat[:, 1] > 0).long())
    assert torch.allclose(lat[:, 0].abs(), torch.full((20_000,), 2.0), atol=1e-4)
    assert torch.allclose(lat[:, 1].abs(), torch.ones(20_000), atol=1e-4)
    assert abs(float(lat[:, 2:].std()) - 0.5) < 0.01
    assert abs(float((cls == sub).double().mean()) - 0.5) < 0.02  # the class label ignores the sub-class
    views = data.noisy_view(x, 0.3, gen)
    assert abs(float((views - x).std()) - 0.3) < 0.01


def test_the_reweighting_head_divides_feature_i_by_kappa_to_the_i():
    h = torch.ones(2, 3, 5)
    z = models.reweight(h, 1.5)
    assert torch.allclose(z[0, 0], torch.tensor([1.5**-i for i in range(5)]))


# --- the probes --------------------------------------------------------------------------------------


def test_the_probe_is_scikit_learns_logistic_regression():
    gen = torch.Generator().manual_seed(7)
    T, n, d = 3, 40, 6
    X = torch.randn(T, n, d, generator=gen, dtype=torch.float64)
    y = (X[..., 0] + 0.8 * torch.randn(T, n, generator=gen, dtype=torch.float64) > 0).long()
    theta = probe.fit(X, y)
    for t in range(T):
        ref = LogisticRegression(C=probe.C, tol=1e-12, max_iter=10_000).fit(X[t].numpy(), y[t].numpy())
        np.testing.assert_allclose(theta[t, :-1].numpy(), ref.coef_[0], atol=1e-5)
        np.testing.assert_allclose(theta[t, -1].item(), ref.intercept_[0], atol=1e-5)


def test_a_probe_is_fitted_on_its_labelled_draw_and_scored_on_held_out_points():
    gen = torch.Generator().manual_seed(8)
    d, P, M = 60, 400, 60
    pool = torch.randn(P, d, generator=gen, dtype=torch.float64)
    pool_y = (pool[:, 0] > 0).long()
    test = torch.randn(M, d, generator=gen, dtype=torch.float64)
    noise_y = torch.randint(0, 2, (M,), generator=gen)  # labels unrelated to the inputs
    idx = probe.draw_labelled(pool_y, 20, 200, gen)
    assert idx.shape == (200, 20) and (idx < P).all()
    assert ((pool_y[idx] == 1).sum(-1) == 10).all(), "each draw is stratified: half of each class"
    assert all(len(set(row.tolist())) == 20 for row in idx), "a draw repeats an example"
    acc = probe.accuracy(pool, pool_y, test, noise_y, idx)
    # Unrelated test labels are predicted at chance, whatever was learned (a probe fit on the test set would not be).
    assert abs(float(acc.mean()) - 0.5) < 0.05, float(acc.mean())
    real = probe.accuracy(pool, pool_y, test, (test[:, 0] > 0).long(), idx)
    assert float(real.mean()) > 0.6
