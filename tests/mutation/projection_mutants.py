"""Plausible bugs in chapter 4 (minilib.projection), each of which tests/test_science_projection.py must catch."""

from __future__ import annotations

import torch

from .registry import Mutant

PROJ = "minilib.projection"
MC_CHECK = "test_population_spectral_loss_matches_a_monte_carlo_estimate"
AUG_CHECK = "test_augmentation_redraws_each_feature_with_its_drop_probability"
MIN_CHECK = "test_the_minimum_is_reached_where_WtW_is_diag_m_over_s_squared"
GD_CHECK = "test_gradient_descent_from_small_init_reaches_the_balanced_minimum"
SUPCON_CHECK = "test_supcon_loss_matches_the_formula_one_anchor_at_a_time"
PROBE_CHECK = "test_the_probe_is_scikit_learns_logistic_regression"
HELD_OUT_CHECK = "test_a_probe_is_fitted_on_its_labelled_draw_and_scored_on_held_out_points"


def _moments_with_rho(second_moments):
    def wrong(scales, drops):
        return scales**2 * drops, scales**2
    return wrong


def _moments_with_a(second_moments):
    def wrong(scales, drops):
        m, _ = second_moments(scales, drops)
        return m, scales
    return wrong


def _redraw_kept(augment):
    def wrong(z, drops, generator):
        return augment(z, 1 - drops, generator)
    return wrong


def _positive_term_once(spectral_population):
    def wrong(W, m, s):
        pos = (W.pow(2) * m).sum((1, 2))
        return spectral_population(W, m, s) + pos  # −2·Tr(WMWᵀ) became −Tr(WMWᵀ)
    return wrong


def _row_norms(feature_weights):
    # one norm per output unit, cut or zero-padded to one per input feature so the shapes still fit
    def wrong(W):
        rows = W.pow(2).sum(2).sqrt()
        d = W.shape[2]
        return rows[:, :d] if rows.shape[1] >= d else torch.nn.functional.pad(rows, (0, d - rows.shape[1]))
    return wrong


def _anchor_in_denominator(supcon):
    def wrong(z, labels, temperature):
        R, N, _ = z.shape
        tau = torch.as_tensor(temperature, dtype=z.dtype, device=z.device).reshape(-1, 1, 1)
        u = torch.nn.functional.normalize(z, dim=-1)
        sim = u @ u.transpose(1, 2) / tau
        self_mask = torch.eye(N, dtype=torch.bool, device=z.device)
        log_prob = sim - torch.logsumexp(sim, dim=-1, keepdim=True)  # the anchor's own exp(1/τ) included
        pos = (labels[:, :, None] == labels[:, None, :]) & ~self_mask
        n_pos = pos.sum(-1)
        per_anchor = -(log_prob * pos).sum(-1) / n_pos.clamp(min=1)
        has = (n_pos > 0).to(z.dtype)
        return (per_anchor * has).sum(-1) / has.sum(-1).clamp(min=1)
    return wrong


def _not_normalised(supcon):
    return _raw


def _raw(z, labels, temperature):
    R, N, _ = z.shape
    tau = torch.as_tensor(temperature, dtype=z.dtype, device=z.device).reshape(-1, 1, 1)
    sim = z @ z.transpose(1, 2) / tau
    self_mask = torch.eye(N, dtype=torch.bool, device=z.device)
    log_prob = sim - torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=-1, keepdim=True)
    pos = (labels[:, :, None] == labels[:, None, :]) & ~self_mask
    n_pos = pos.sum(-1)
    per_anchor = -(log_prob * pos).sum(-1) / n_pos.clamp(min=1)
    has = (n_pos > 0).to(z.dtype)
    return (per_anchor * has).sum(-1) / has.sum(-1).clamp(min=1)


def _intercept_penalised(fit):
    def wrong(X, y, C=1.0, steps=50):
        T, n, d = X.shape
        Xa = torch.cat([X.double(), torch.ones(T, n, 1, dtype=torch.float64)], -1)
        theta = torch.zeros(T, d + 1, dtype=torch.float64)
        for _ in range(steps):
            p = torch.sigmoid((Xa @ theta[..., None])[..., 0])
            grad = C * (Xa.transpose(1, 2) @ (p - y.double())[..., None])[..., 0] + theta
            hess = C * (Xa.transpose(1, 2) * (p * (1 - p))[:, None, :]) @ Xa + torch.eye(d + 1, dtype=torch.float64)
            theta = theta - torch.linalg.solve(hess, grad)
        return theta
    return wrong


def _fit_on_test(accuracy):
    def wrong(pool, pool_y, test, test_y, idx):
        from minilib.projection import probe

        pool, test = probe.rms_normalise(pool, test)
        T, n = idx.shape
        theta = probe.fit(test[:n].expand(T, -1, -1), test_y[:n].expand(T, -1))  # labels of test points
        return (probe.predict(theta, test) == test_y).double().mean(-1)
    return wrong


def _gd_is_adam(opt):
    def wrong(params, configs):
        from minilib import replicas

        return replicas.StackedOptimizer(params, "adam", lr=[c.lr / 5 for c in configs])
    return wrong


def _pre_is_post(representations):
    def wrong(self, r, x):
        _, post = representations(self, r, x)
        return post, post
    return wrong


def _reweight_up(reweight):
    return lambda h, kappa: reweight(h, 1 / kappa)


def _subclass_is_class(sample_classes):
    def wrong(*args, **kwargs):
        x, cls, _ = sample_classes(*args, **kwargs)
        return x, cls, cls.clone()
    return wrong


def _other_image_is_positive(instances):
    def wrong(self):
        labels = instances(self)
        B = labels.shape[1] // 2
        return torch.cat([labels[:, :B], labels[:, B:].roll(1, dims=1)], 1)  # view 2 of image b paired with b − 1
    return wrong


def _never_erase(augment_digits):
    def wrong(x, noise, generator):
        from minilib.projection import data

        saved, data.ERASE_PROB = data.ERASE_PROB, 0.0
        try:
            return augment_digits(x, noise, generator)
        finally:
            data.ERASE_PROB = saved
    return wrong


def _test_in_pool(load_digits):
    def wrong():
        pool_x, pool_y, test_x, test_y = load_digits()
        return torch.cat([pool_x, test_x[:100]]), torch.cat([pool_y, test_y[:100]]), test_x, test_y
    return wrong


def _ovr_least_score(predict_multiclass):
    def wrong(theta, X):
        scores = X.double() @ theta[..., :-1].transpose(1, 2) + theta[:, None, :, -1]
        return scores.argmin(-1)
    return wrong


def _ovr_targets_shifted(fit_multiclass):
    def wrong(X, y, classes):
        return fit_multiclass(X, (y + 1) % classes, classes)  # class c's regression learns class c + 1
    return wrong


def _replicas_mixed(encode):
    def wrong(self, x, params=None):
        ps = self.params if params is None else params
        R, n = x.shape[:2]
        h = x.transpose(0, 1)
        F = torch.nn.functional
        for i, stride in ((0, 1), (1, 2)):
            h = torch.relu(F.conv2d(h, ps[2 * i].flatten(0, 1), ps[2 * i + 1].flatten(), stride=stride, padding=1,
                                    groups=R))
        h = h.reshape(R, n, -1)  # [n, R·C, 4, 4] read as [R, n, ·]: images and replicas mixed
        return torch.relu(h @ ps[4] + ps[5])
    return wrong


def _shift_labels_flipped(shift_task):
    def wrong(pool_x, test_x):
        (px, py), (tx, ty) = shift_task(pool_x, test_x)
        return (px, 1 - py), (tx, 1 - ty)  # label 1 now means moved left
    return wrong


def _spread_over_mean(spread):
    def wrong(magnitudes):
        keep = magnitudes > 1e-9 * magnitudes.max()
        return float(magnitudes[keep].max() / magnitudes[keep].mean())
    return wrong


def _no_momentum(opt):
    def wrong(params, configs):
        from minilib import replicas

        kind = "adam" if configs[0].optimizer == "adam" else "sgd"
        return replicas.StackedOptimizer(params, kind, lr=[c.lr for c in configs])  # momentum left at 0
    return wrong


def _excess_over_one_plus(excess):
    return lambda loss, minimum: (loss - minimum) / (abs(minimum) + 1.0)


def _markers_always_random(marker_classes):
    return lambda labels, p_match, generator: marker_classes(labels, 0.0, generator)


def _probe_markers_name_the_digit(random_marker_task):
    def wrong(pool_x, test_x):
        from minilib.projection import data

        pool, test = random_marker_task(pool_x, test_x)
        _, pool_y, _, test_y = data.load_digits()
        return data.mark_digits(pool_x, pool_y), data.mark_digits(test_x, test_y)
    return wrong


def _logits_halved(logits):
    return lambda self, x, params: logits(self, x, params) / 2


def _momentum_entry_is_adam(supcon_momentum):
    def wrong():
        from minilib.projection import shipped

        return shipped.supcon()
    return wrong


def _no_head_entry_has_a_head(supervised_no_head):
    def wrong():
        from minilib.projection import shipped

        return shipped.supervised()
    return wrong


SIMCLR_PAIRS = "test_simclr_batches_pair_two_views_of_one_pool_image"
ENTRIES_CHECK = "test_the_comparison_entries_differ_from_their_partners_only_where_the_chapter_says"
OVR_CHECK = "test_the_multiclass_probe_is_scikit_learns_one_vs_rest"

MUTANTS = [
    Mutant("P1 positive moment uses ρ", "E[x x⁺ᵀ] = diag(a²ρ) instead of diag(a²(1 − ρ))",
           f"{PROJ}.data:second_moments", _moments_with_rho, (MC_CHECK, MIN_CHECK)),
    Mutant("P2 S = diag(a)", "the second moment E[x xᵀ] uses a instead of a²",
           f"{PROJ}.data:second_moments", _moments_with_a, (MC_CHECK,)),
    Mutant("P3 augmentation keeps the dropped features", "augmentation redraws z_k with probability 1 − ρ_k",
           f"{PROJ}.data:augment", _redraw_kept, (AUG_CHECK, MC_CHECK)),
    Mutant("P4 positive term without its factor 2", "the population loss is −Tr(WMWᵀ) + ‖WSWᵀ‖², not −2·Tr",
           f"{PROJ}.losses:spectral_population", _positive_term_once, (MC_CHECK, MIN_CHECK)),
    Mutant("P5 feature weights as row norms", "‖W[k, :]‖ (a row: one output unit) instead of the column ‖W[:, k]‖",
           f"{PROJ}.models:feature_weights", _row_norms,
           ("test_feature_weights_are_the_column_norms_of_each_replica",)),
    Mutant("P6 SupCon counts the anchor in its denominator", "Σ over every view a, the anchor itself included",
           f"{PROJ}.losses:supcon", _anchor_in_denominator, (SUPCON_CHECK,)),
    Mutant("P7 SupCon without normalisation", "the embeddings are not projected to the unit sphere",
           f"{PROJ}.losses:supcon", _not_normalised, (SUPCON_CHECK,)),
    Mutant("P8 probe penalises the intercept", "the L2 penalty also shrinks the intercept",
           f"{PROJ}.probe:fit", _intercept_penalised, (PROBE_CHECK,)),
    Mutant("P9 probe fitted on test points", "the probe learns from labelled test points and is scored on them",
           f"{PROJ}.probe:accuracy", _fit_on_test, (HELD_OUT_CHECK,)),
    Mutant("P10 gd trains with Adam", "optimizer='gd' builds an Adam optimiser", f"{PROJ}.experiment:_opt",
           _gd_is_adam, (GD_CHECK,)),
    Mutant("P11 pre-projection taken after the head", "the 'pre' representation is the model's output",
           f"{PROJ}.experiment:_Linear.representations", _pre_is_post,
           ("test_the_pre_projection_representation_is_the_encoder_output",)),
    Mutant("P12 reweighting head multiplies by κ^i", "z_i = h_i κ^(+i): the later features are amplified",
           f"{PROJ}.models:reweight", _reweight_up, ("test_the_reweighting_head_divides_feature_i_by_kappa_to_the_i",)),
    Mutant("P13 the sub-class is the class", "the ignored sub-class label is a copy of the class label",
           f"{PROJ}.data:sample_classes", _subclass_is_class,
           ("test_supcon_data_has_a_class_and_an_ignored_subclass_seen_through_a_rotation",)),
    Mutant("P14 SimCLR pairs views of different images", "the second view of image b is paired with image b − 1",
           f"{PROJ}.experiment:_SimCLR._instances", _other_image_is_positive, (SIMCLR_PAIRS,)),
    Mutant("P15 digit augmentation never erases", "random erasing is skipped (probability 0 instead of ERASE_PROB)",
           f"{PROJ}.data:augment_digits", _never_erase, ("test_digit_augmentation_shifts_erases_and_adds_noise",)),
    Mutant("P16 test digits in the training pool", "100 test images are also in the pool SimCLR and the probes use",
           f"{PROJ}.data:load_digits", _test_in_pool,
           ("test_the_digits_split_is_fixed_disjoint_and_has_every_class", SIMCLR_PAIRS)),
    Mutant("P17 one-vs-rest predicts the least likely class", "argmin instead of argmax over the class scores",
           f"{PROJ}.probe:predict_multiclass", _ovr_least_score, (OVR_CHECK,)),
    Mutant("P18 one-vs-rest targets off by one", "regression c is fitted on the labels of class c + 1",
           f"{PROJ}.probe:fit_multiclass", _ovr_targets_shifted, (OVR_CHECK,)),
    Mutant("P19 the stacked CNN mixes replicas", "the grouped convolution's output reshaped without the transpose",
           f"{PROJ}.models:DigitsCNN.encode", _replicas_mixed,
           ("test_the_stacked_cnn_computes_each_replica_like_torch_layers",)),
    Mutant("P20 shift labels flipped", "the shift task's label 1 means moved left, not right",
           f"{PROJ}.data:shift_task", _shift_labels_flipped,
           ("test_the_shift_task_moves_each_digit_one_pixel_the_way_its_label_says",)),
    Mutant("P21 spread as largest over mean", "the inequality of feature weights measured as max / mean, not max / min",
           f"{PROJ}.experiment:spread", _spread_over_mean,
           ("test_weights_spread_more_after_the_head_and_magnitudes_less",)),
    Mutant("P22 momentum without momentum", "optimizer='momentum' builds plain SGD (momentum 0)",
           f"{PROJ}.experiment:_opt", _no_momentum, ("test_momentum_is_torch_sgd_with_momentum_0_9",)),
    Mutant("P23 excess loss over the minimum's size plus 1", "the relative excess divides by abs(minimum) + 1",
           f"{PROJ}.experiment:excess", _excess_over_one_plus,
           ("test_excess_loss_is_relative_and_plain_when_the_minimum_is_zero",)),
    Mutant("P24 training markers at random", "the marker never names the digit: there is no shortcut to learn",
           f"{PROJ}.data:marker_classes", _markers_always_random,
           ("test_training_markers_name_the_digit_and_probe_markers_do_not",)),
    Mutant("P25 probe images keep the shortcut", "the probes' markers name the digit instead of a random class",
           f"{PROJ}.data:random_marker_task", _probe_markers_name_the_digit,
           ("test_training_markers_name_the_digit_and_probe_markers_do_not",)),
    Mutant("P26 supervised logits halved", "the classifier's logits are divided by 2 before the cross-entropy",
           f"{PROJ}.experiment:_Supervised._logits", _logits_halved,
           ("test_the_supervised_loss_is_cross_entropy_ln_10_at_zero_logits",)),
    Mutant("P27 the SGD SupCon entry trained with Adam", "supcon_momentum ships the Adam configs",
           f"{PROJ}.shipped:supcon_momentum", _momentum_entry_is_adam, (ENTRIES_CHECK,)),
    Mutant("P28 the no-head entry has a head", "supervised_no_head ships the depth-3 configs",
           f"{PROJ}.shipped:supervised_no_head", _no_head_entry_has_a_head, (ENTRIES_CHECK,)),
]
