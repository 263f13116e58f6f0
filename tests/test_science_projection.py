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


def test_weights_spread_more_after_the_head_and_magnitudes_less():
    # The chapter's sentences on inequality, at the balanced minimum of its construction: the spread of the
    # encoder's weights is the square root of the end-to-end one (2.58 and 6.67), while the magnitudes
    # (weights × a_k) spread more below the head (a^½ kept) than above it (scales whitened away: 3.16).
    a, rho = A.numpy(), RHO.numpy()
    post_w = np.sqrt(1 - rho) / a
    pre_w = np.sqrt(post_w)
    assert abs(experiment.spread(post_w) - 1 / 0.15) < 1e-9 and abs(experiment.spread(pre_w) ** 2 - 1 / 0.15) < 1e-9
    assert abs(experiment.spread(pre_w * a) - 3 ** 0.5 / (0.4 ** 0.25 * 0.3 ** 0.5)) < 1e-9
    assert abs(experiment.spread(post_w * a) - 10 ** 0.5) < 1e-9
    assert experiment.spread(np.array([2.0, 0.0, 0.5])) == 4.0  # a feature the map drops is left out
    # and gradient descent on three features (quick) ends there: weights spread 2.44 before and 6.00 after the
    # head (theory √6 and 6), magnitudes 2.61 before and 2.24 after (theory 3^½/0.2^¼ and √5), as logged
    a3 = np.array([3.0, 1.0, 0.5])
    cfg = experiment.Config(feature_scales=tuple(a3), drop_probs=(0.0, 0.8, 0.0), hidden=6, head_dim=6,
                            probe_feature=1, init_scale=0.05, lr=0.02, steps=3000, num_logs=2, probe_trials=1,
                            device="cpu")
    run = experiment.run(cfg, progress=False)
    pre, post = run.artifacts["pre_weights"], run.artifacts["post_weights"]
    assert abs(run.final("pre_spread") - experiment.spread(pre * a3)) < 1e-12
    assert abs(run.final("post_spread") - experiment.spread(post * a3)) < 1e-12
    assert abs(experiment.spread(post) - 6) < 0.01 and abs(experiment.spread(pre) - 6**0.5) < 0.03
    assert abs(run.final("pre_spread") - 3**0.5 / 0.2**0.25) < 0.03 and abs(run.final("post_spread") - 5**0.5) < 0.01


def test_excess_loss_is_relative_and_plain_when_the_minimum_is_zero():
    assert math.isclose(experiment.excess(-4.0, -4.55), 0.55 / 4.55) and experiment.excess(0.3, 0.0) == 0.3
    cfg = experiment.Config(feature_scales=(1.0, 2.0), drop_probs=(1.0, 1.0), probe_feature=0, steps=30,
                            num_logs=2, probe_trials=1, device="cpu")
    run = experiment.run(cfg, progress=False)
    np.testing.assert_allclose(run.history["excess_loss"], run.history["loss"], rtol=1e-12)


def test_momentum_is_torch_sgd_with_momentum_0_9():
    # The chapter's SupCon and SimCLR "SGD + momentum" runs: the stacked optimiser against torch.optim.SGD.
    cfg = experiment.supcon_config(optimizer="momentum", lr=0.05, steps=4, num_logs=2, batch_size=16, hidden=8,
                                   head_dim=4, input_dim=6, probe_trials=1, probe_labels=10, device="cpu")
    exp = experiment._SupCon([cfg])
    ref = [w.detach().clone().requires_grad_() for w in exp.model.params]
    sgd = torch.optim.SGD(ref, lr=0.05, momentum=0.9)
    for _ in range(4):
        x, y = exp._batch()
        g = torch.autograd.grad(exp._loss(x, y, exp.model.params, exp.tau).sum(), exp.model.params)
        exp.opt.step(g)
        sgd.zero_grad()
        exp._loss(x, y, ref, exp.tau).sum().backward()
        sgd.step()
    for ours, theirs in zip(exp.model.params, ref, strict=True):
        torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-5, atol=1e-6)
    moved = experiment.run(cfg.replace(optimizer="gd"), progress=False).history["loss"][-1]
    assert moved != experiment.run(cfg, progress=False).history["loss"][-1]  # momentum is not plain GD


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


# --- SimCLR on the digits ------------------------------------------------------------------------------


def test_simclr_loss_is_nt_xent_written_as_a_cross_entropy():
    # NT-Xent (Chen et al. 2020): for view i of image b, a softmax over the other 2B − 1 views at temperature τ,
    # the other view of b the target. The SupCon loss with one label per image must be exactly that.
    gen = torch.Generator().manual_seed(11)
    B, tau = 6, 0.5
    z = torch.randn(1, 2 * B, 5, generator=gen, dtype=torch.float64)
    u = torch.nn.functional.normalize(z[0], dim=-1)
    logits = (u @ u.T / tau).fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(B, 2 * B), torch.arange(B)])
    ref = float(torch.nn.functional.cross_entropy(logits, target))
    b = torch.arange(B)
    ours = float(losses.supcon(z, torch.cat([b, b])[None], tau)[0])
    assert math.isclose(ours, ref, rel_tol=1e-12), (ours, ref)


def _simclr_config(**changes):
    base = dict(model="simclr", hidden=8, head_dim=4, depth=3, optimizer="adam", lr=1e-3, steps=1, num_logs=2,
                batch_size=16, temperature=0.5, view_noise=0.1, probe_labels=10, probe_trials=1, device="cpu")
    return experiment.Config(**(base | changes))


def test_simclr_batches_pair_two_views_of_one_pool_image():
    from unittest import mock

    exp = experiment._SimCLR([_simclr_config(seed=3), _simclr_config(seed=4)])
    with mock.patch.object(data, "augment_digits", lambda x, noise, generator: x):  # views = the images
        x, labels = exp._batch()
    R, N = labels.shape
    assert x.shape == (2, 32, 8, 8) and N == 32
    pool = {tuple(v) for v in exp.pool_x.flatten(1).tolist()}
    test = {tuple(v) for v in exp.test_x.flatten(1).tolist()}
    for r in range(R):
        flat = x[r].flatten(1)
        same = labels[r][:, None] == labels[r][None, :]
        equal = (flat[:, None, :] == flat[None, :, :]).all(-1)
        assert torch.equal(same, equal), "the views sharing a label must be exactly the views of one image"
        assert (same.sum(1) == 2).all(), "each view has exactly one positive"
        rows = {tuple(v) for v in flat.tolist()}
        assert rows <= pool and not rows & test, "a training batch holds only pool images, never test images"


def test_digit_augmentation_shifts_erases_and_adds_noise():
    gen = torch.Generator().manual_seed(12)
    n = 20_000
    ones = torch.ones(n, 8, 8)
    state = gen.get_state()
    clean = data.augment_digits(ones, 0.0, gen)
    noisy = data.augment_digits(ones, 0.3, torch.Generator().set_state(state))  # the same shifts and squares
    assert abs(float((noisy - clean).std()) - 0.3) < 0.005 and abs(float((noisy - clean).mean())) < 0.005
    # A shift by (dy, dx) moves |dy| zero rows and |dx| zero columns in from the edge; each of the nine
    # shifts of at most SHIFT = 1 pixel is equally likely.
    zero_row = (clean == 0).all(2)  # [n, 8]
    zero_col = (clean == 0).all(1)
    dy = zero_row[:, 0].long() - zero_row[:, -1].long()  # +1: a row moved in at the top
    dx = zero_col[:, 0].long() - zero_col[:, -1].long()
    counts = torch.bincount((dy + 1) * 3 + (dx + 1), minlength=9).double() / n
    assert torch.allclose(counts, torch.full((9,), 1 / 9, dtype=torch.float64), atol=0.01), counts
    # Besides the shifted-in edge, the only zeros are one ERASE × ERASE square, in about half the images (a
    # square always reaches into the inner 6 × 6, where no shift puts a zero).
    inner = clean[:, 1:-1, 1:-1] == 0
    zeros = (clean == 0).sum((1, 2)) - 8 * (dy != 0) - 8 * (dx != 0) + ((dy != 0) & (dx != 0)).long()
    erased = inner.any((1, 2))
    assert abs(float(erased.double().mean()) - data.ERASE_PROB) < 0.02, float(erased.double().mean())
    assert int(zeros.max()) == data.ERASE**2 and int(zeros[erased].min()) >= 1 and (zeros[~erased] == 0).all()


def test_the_digits_split_is_fixed_disjoint_and_has_every_class():
    pool_x, pool_y, test_x, test_y = data.load_digits()
    again = data.load_digits()
    assert all(torch.equal(a, b) for a, b in zip((pool_x, pool_y, test_x, test_y), again))
    assert pool_x.shape == (1297, 8, 8) and test_x.shape == (500, 8, 8)
    assert float(pool_x.min()) == 0.0 and float(pool_x.max()) == 1.0
    assert set(pool_y.tolist()) == set(test_y.tolist()) == set(range(10))
    assert torch.bincount(pool_y).min() >= 100, "a probe with 1000 labels needs 100 pool images of each digit"
    from sklearn.datasets import load_digits

    everything = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).flatten(1)
    index = {tuple(v): i for i, v in enumerate(everything.tolist())}
    pool_i = {index[tuple(v)] for v in pool_x.flatten(1).tolist()}
    test_i = {index[tuple(v)] for v in test_x.flatten(1).tolist()}
    assert not pool_i & test_i and len(pool_i | test_i) >= 1790, "pool and test images overlap"


def test_the_multiclass_probe_is_scikit_learns_one_vs_rest():
    from sklearn.multiclass import OneVsRestClassifier

    gen = torch.Generator().manual_seed(13)
    T, n, d, C, m = 2, 60, 5, 4, 300
    centres = torch.randn(C, d, generator=gen, dtype=torch.float64) * 1.5
    y = torch.randint(0, C, (T, n), generator=gen)
    X = centres[y] + torch.randn(T, n, d, generator=gen, dtype=torch.float64)
    test_y = torch.randint(0, C, (m,), generator=gen)
    test = centres[test_y] + torch.randn(m, d, generator=gen, dtype=torch.float64)
    theta = probe.fit_multiclass(X, y, C)
    pred = probe.predict_multiclass(theta, test)
    for t in range(T):
        ref = OneVsRestClassifier(LogisticRegression(C=probe.C, tol=1e-12, max_iter=10_000)).fit(X[t], y[t])
        coefs = np.stack([e.coef_[0] for e in ref.estimators_])
        np.testing.assert_allclose(theta[t, :, :-1].numpy(), coefs, atol=1e-5)
        np.testing.assert_array_equal(pred[t].numpy(), ref.predict(test.numpy()))
    assert float((pred == test_y).double().mean()) > 0.6  # well above chance (0.25): the classes are learnable


def test_the_stacked_cnn_computes_each_replica_like_torch_layers():
    gens = [torch.Generator().manual_seed(s) for s in (14, 15, 16)]
    cnn = models.DigitsCNN(6, 3, 2, "mlp", 1.0, gens, "cpu")
    x = torch.randn(3, 5, 8, 8, generator=gens[0])
    h = cnn.encode(x)
    F = torch.nn.functional
    for r in range(3):
        p = [w[r].detach() for w in cnn.params]
        a = F.relu(F.conv2d(x[r][:, None], p[0], p[1], padding=1))
        a = F.relu(F.conv2d(a, p[2], p[3], stride=2, padding=1))
        ref = F.relu(a.flatten(1) @ p[4] + p[5])
        assert torch.allclose(h[r], ref, atol=1e-5), r
        assert torch.allclose(cnn.project(h)[r], h[r] @ p[6] + p[7], atol=1e-5)


def test_the_shift_task_moves_each_digit_one_pixel_the_way_its_label_says():
    pool_x, _, test_x, _ = data.load_digits()
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 8, 8) + 1
    right, left = data.shifted(x, 1), data.shifted(x, -1)
    assert torch.equal(right[..., 1:], x[..., :-1]) and (right[..., 0] == 0).all()
    assert torch.equal(left[..., :-1], x[..., 1:]) and (left[..., -1] == 0).all()
    assert torch.equal(data.shifted(x, 0), x)
    (px, py), (tx, ty) = data.shift_task(pool_x, test_x)
    for images, labels, source in ((px, py, pool_x), (tx, ty, test_x)):
        moved = torch.where(labels[:, None, None] == 1, data.shifted(source, 1), data.shifted(source, -1))
        assert torch.equal(images, moved), "an image is moved the other way than its label says"
        assert abs(float(labels.double().mean()) - 0.5) < 0.06, "the directions are a fair coin"
    assert torch.equal(data.shift_task(pool_x, test_x)[0][1], py), "the task is the same in every run"


# --- supervised learning on digits with a spurious marker --------------------------------------------


def test_the_marker_is_one_full_ink_pixel_where_its_class_says():
    x = torch.zeros(10, 8, 8)
    marked = data.mark_digits(x, torch.arange(10))
    for c in range(10):
        row, col = data.MARKERS[c]
        assert marked[c, row, col] == 1.0 and marked[c].sum() == 1.0
    assert len(set(data.MARKERS)) == 10 and x.sum() == 0  # ten distinct places; the input is left as it was


def test_training_markers_name_the_digit_and_probe_markers_do_not():
    labels = torch.arange(10).repeat(2000)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(data.marker_classes(labels, 1.0, gen), labels)
    match = float((data.marker_classes(labels, 0.9, gen) == labels).float().mean())
    assert abs(match - (0.9 + 0.1 / 10)) < 0.01, match  # 20 000 draws: standard error 0.002
    pool_x, pool_y, test_x, test_y = data.load_digits()
    for images, y in zip(data.random_marker_task(pool_x, test_x), (pool_y, test_y), strict=True):
        where = torch.tensor(data.MARKERS)[y]
        named = images[torch.arange(len(y)), where[:, 0], where[:, 1]] == 1.0
        # the digit's own marker pixel is inked in about 1 image in 10 (plus digits whose ink is full there)
        assert float(named.float().mean()) < 0.25, float(named.float().mean())


def test_the_supervised_loss_is_cross_entropy_ln_10_at_zero_logits():
    cfg = experiment.supervised_config(steps=1, num_logs=2, batch_size=16, hidden=8, head_dim=4, probe_trials=1,
                                       probe_labels=10, device="cpu")
    exp = experiment._Supervised([cfg])
    x, y = exp._batch()
    with torch.no_grad():
        for w in exp.clf:
            w.zero_()
    assert torch.allclose(exp._loss(x, y, exp.params), torch.tensor([math.log(10)]))
    with torch.no_grad():
        exp.clf[1][0, 0, :] = torch.arange(10.0)
    ref = torch.nn.functional.cross_entropy(torch.arange(10.0).expand(16, 10), y[0])
    assert torch.allclose(exp._loss(x, y, exp.params), ref[None])


def test_the_comparison_entries_differ_from_their_partners_only_where_the_chapter_says():
    # The chapter compares Adam with SGD + momentum, and a head with none: each pair shares everything else.
    from minilib.projection import shipped

    pairs = ((shipped.supcon(), shipped.supcon_momentum(), dict(optimizer="momentum", lr=0.01)),
             (shipped.simclr(), shipped.simclr_momentum(), dict(optimizer="momentum", lr=0.1)),
             (shipped.supervised(), shipped.supervised_no_head(), dict(depth=1)))
    for base, other, changes in pairs:
        assert [c.replace(**changes) for c in base] == other, (base[0], other[0])
    assert all(c.optimizer == "adam" for c in shipped.supcon() + shipped.simclr())
    assert all(c.model == "supervised" and c.depth == 3 for c in shipped.supervised())
