"""Plausible bugs in chapter 2 (minilib.benign), each of which tests/test_science_benign.py must catch."""

from __future__ import annotations

import math

import torch

from .registry import Mutant

BEN = "minilib.benign"
DATA_CHECK = "test_xor_clusters_have_orthogonal_means_unit_noise_the_flip_rate_and_clean_test_labels"
GD_CHECK = "test_gd_update_is_minus_lr_times_the_autograd_gradient_of_the_mean_logistic_loss"
STEP_CHECK = "test_a_run_logs_the_initial_state_at_step_0_and_one_gd_update_at_step_1"
THEORY_CHECK = "test_the_eigenframework_predicts_the_simulated_risks"
KERNEL_CHECK = "test_random_features_average_to_the_kernel"
BAYES_CHECK = "test_in_the_kernel_limit_with_beta_equal_alpha_the_best_ridge_is_the_noise_variance"
FIT_CHECK = "test_ridge_fit_solves_the_regularised_system_with_the_ridge_on_the_summed_kernel"
ALIGN_CHECK = "test_mu_alignment_is_the_max_over_both_means_and_starts_at_the_random_baseline"
RSTAR_CHECK = "test_the_closed_form_optimal_fitting_ratio_minimises_its_risk_and_matches_the_eigenframework"
MONO_CHECK = "test_with_the_ridge_tuned_the_risk_never_rises_with_n_or_with_k_over_a_grid"
PHASE_CHECK = "test_the_phase_diagram_cells_carry_the_papers_separation"
FIT_STEP_CHECK = "test_the_fitting_step_scales_as_init_over_lr_and_first_pass_finds_the_first_logged_step"


def _summed_loss(gd_update):
    def summed(W, a, x, y, lr, pre=None):
        return gd_update(W, a, x, y, lr, pre=pre) * x.shape[1]  # the 1/n of the mean loss forgotten
    return summed


def _every_relu_active(gd_update):
    def all_active(W, a, x, y, lr, pre=None):
        from minilib.benign import models

        f = models.network(W, a, x)
        coeff = models.loss_derivative(f, y) * y
        grad_dir = torch.bmm(coeff[:, None, :], x).expand(-1, W.shape[1], -1)  # ReLU' taken as 1 everywhere
        lr_t = torch.as_tensor(lr, dtype=x.dtype).reshape(-1, 1, 1)
        return lr_t / x.shape[1] * a[:, :, None] * grad_dir
    return all_active


def _ascent(gd_update):
    def up(W, a, x, y, lr, pre=None):
        return -gd_update(W, a, x, y, lr, pre=pre)
    return up


def _noisy_test_labels(draw):
    def noisy(config, generator):
        out = draw(config, generator)
        flip = torch.rand(config.n_test, generator=torch.Generator().manual_seed(1)) < config.label_noise
        out["clean_test"] = torch.where(flip, -out["clean_test"], out["clean_test"])
        return out
    return noisy


def _double_flip_rate(xor_clusters):
    def doubled(n, means, label_noise, generator):
        return xor_clusters(n, means, min(2 * label_noise, 0.49), generator)
    return doubled


def _skewed_means(cluster_means):
    def skewed(dim, mu_norm, generator, dtype=torch.float64):
        mu = cluster_means(dim, mu_norm, generator, dtype)
        second = (mu[1] + 0.3 * mu[0]) / math.sqrt(1.09)  # 17° off orthogonal, the same norm
        return torch.stack([mu[0], second])
    return skewed


def _extra_update_on_the_first_step(step):
    def twice(self, i):
        loss = step(self, i)
        if i == 0:
            self._pre = None
            step(self, i)
        return loss
    return twice


def _train_risk_not_squared(eigenlearning):
    def unsquared(eigvals, target_power, n, k, ridge, noise):
        out = eigenlearning(eigvals, target_power, n, k, ridge, noise)
        ratio = (out["train_risk"] / out["test_risk"]) ** 0.5
        out["train_risk"] = ratio * out["test_risk"]
        return out
    return unsquared


def _ridge_per_sample(ridge_fit):
    def mean_convention(Phi, y, ridges):
        return ridge_fit(Phi, y, ridges * Phi.shape[0])  # δ·n: the ridge of a mean, not a summed, loss
    return mean_convention


def _features_without_eigenvalues(random_features):
    def flat(x, eigvals, Z):
        return random_features(x, torch.ones_like(eigvals), Z)
    return flat


def _kernel_limit_bias_not_squared(eigenlearning):
    import numpy as np

    def linear_bias(eigvals, target_power, n, k, ridge, noise):
        out = eigenlearning(eigvals, target_power, n, k, ridge, noise)
        gamma, omega = np.asarray(out["gamma"]), np.asarray(out["overfitting_coefficient"])
        L = np.asarray(eigvals)[None, :] / (np.asarray(eigvals)[None, :] + gamma.reshape(-1, 1))
        bias = (1 - L) @ np.asarray(target_power)  # (1 − L_i) instead of (1 − L_i)²
        noise_b = np.broadcast_to(np.asarray(noise, float), gamma.shape).ravel()
        out["test_risk"] = (omega.ravel() * (bias + noise_b)).reshape(gamma.shape)
        return out
    return linear_bias


def _ridgeless_train_risk_zero(eigenlearning):
    import numpy as np

    def zero(eigvals, target_power, n, k, ridge, noise):
        out = eigenlearning(eigvals, target_power, n, k, ridge, noise)
        out["train_risk"] = np.where(np.asarray(ridge) == 0, 0.0, out["train_risk"])
        return out
    return zero


def _alignment_with_one_mean(mu_alignment):
    def one(W, means):
        return mu_alignment(W, means[:, :1])  # |cos| with μ1 only: no max over the two means
    return one


def _single_mean_baseline(random_alignment):
    def single(dim):
        return math.sqrt(2 / (math.pi * dim))  # E|cos| with one mean, not the max over two
    return single


def _ratio_not_squared(optimal_fitting_ratio):
    import numpy as np

    def root(alpha, beta, noise_rel):
        return np.sqrt(optimal_fitting_ratio(alpha, beta, noise_rel))  # √R* = 1 − u, the square forgotten
    return root


def _noise_without_alpha(fitting_ratio_risk):
    def risk(ratio, alpha, beta, noise_rel):
        import numpy as np

        s = np.sqrt(np.asarray(ratio, float))
        return ((1 - s) + noise_rel * (1 - s) ** beta) / ((1 + (alpha - 1) * s) * (1 - s) ** beta)  # α σ² -> σ²
    return risk


def _omega_without_z_squared(eigenlearning):
    import numpy as np

    def dropped(eigvals, target_power, n, k, ridge, noise):
        out = eigenlearning(eigvals, target_power, n, k, ridge, noise)
        lam = np.asarray(eigvals, float)
        gamma = np.asarray(out["gamma"], float)
        L = lam / (lam + gamma.reshape(-1, 1))
        z, q = L.sum(1).reshape(gamma.shape), (L * L).sum(1).reshape(gamma.shape)
        nn, kk = np.broadcast_arrays(np.asarray(n, float), np.asarray(k, float), gamma)[:2]
        finite = np.isfinite(kk)
        kf = np.where(finite, kk, 1.0)
        x = np.where(finite, q * (kf - 2 * z) / (nn * np.where(finite, kf - q, 1.0)), q / nn)  # z² dropped
        omega = 1 / (1 - x)
        out["test_risk"] = out["test_risk"] / out["overfitting_coefficient"] * omega
        out["overfitting_coefficient"] = omega
        return out
    return dropped


def _fixed_separation(phase_mu_norm):
    def fixed(dim, n_train):
        return 25.0  # the separation of the cheap run in every cell, not 2.5·√(p/n)
    return fixed


def _strictly_above(first_pass):
    def strict(runs, metric, threshold):
        import numpy as np

        out = []
        for r in runs:
            hit = np.flatnonzero(r.history[metric] > threshold)  # > where the chapter means "reaches" (>=)
            out.append(float(r.history["step"][hit[0]]) if len(hit) else math.nan)
        return np.array(out)
    return strict


MUTANTS = [
    Mutant("B1 summed loss", "the GD step differentiates the summed logistic loss, not the mean (no 1/n)",
           f"{BEN}.models:gd_update", _summed_loss, (GD_CHECK,)),
    Mutant("B2 every ReLU active", "the GD step drops ReLU'(<w_j, x_i>): every neuron sees every sample",
           f"{BEN}.models:gd_update", _every_relu_active, (GD_CHECK,)),
    Mutant("B3 gradient ascent", "the GD step adds +lr ∇L instead of −lr ∇L", f"{BEN}.models:gd_update",
           _ascent, (GD_CHECK, STEP_CHECK)),
    Mutant("B4 g_i fixed at 1/2", "the loss derivative g_i is taken as 1/2 always (valid only while |f| ≪ 1)",
           f"{BEN}.models:loss_derivative", lambda fn: (lambda f, y: torch.full_like(f, 0.5)), (GD_CHECK,)),
    Mutant("B5 noisy test labels", "test accuracy is measured against flipped labels, not clean ones",
           f"{BEN}.experiment:draw", _noisy_test_labels, (DATA_CHECK, STEP_CHECK)),
    Mutant("B6 flip rate doubled", "labels are flipped with probability 2·label_noise",
           f"{BEN}.data:xor_clusters", _double_flip_rate, (DATA_CHECK,)),
    Mutant("B7 means not orthogonal", "μ2 is 17° off orthogonal to μ1", f"{BEN}.data:cluster_means",
           _skewed_means, (DATA_CHECK,)),
    Mutant("B8 two updates at step 1", "the first logged step is after two GD updates (an off-by-one)",
           f"{BEN}.experiment:_Experiment.step", _extra_update_on_the_first_step, (STEP_CHECK,)),
    Mutant("B9 train risk not squared", "the theory's train risk is (δ/nκ)·E_te instead of (δ/nκ)²·E_te",
           f"{BEN}.ridge:eigenlearning", _train_risk_not_squared, (THEORY_CHECK,)),
    Mutant("B10 ridge per sample", "the simulation adds n·δ to the kernel (the mean-loss convention)",
           f"{BEN}.ridge:ridge_fit", _ridge_per_sample, (FIT_CHECK, THEORY_CHECK)),
    Mutant("B11 features ignore the spectrum", "random features drop Λ^(1/2): the kernel is flat, not i^(−α)",
           f"{BEN}.ridge:random_features", _features_without_eigenvalues, (KERNEL_CHECK, THEORY_CHECK)),
    Mutant("B12 bias not squared", "the theory's bias term uses (1 − L_i) where kernel regression has (1 − L_i)²",
           f"{BEN}.ridge:eigenlearning", _kernel_limit_bias_not_squared, (BAYES_CHECK, THEORY_CHECK)),
    Mutant("B13 ridgeless train risk zero", "at δ = 0 the theory's train risk is 0 even for k < n (least squares, "
           "which cannot interpolate)", f"{BEN}.ridge:eigenlearning", _ridgeless_train_risk_zero, (THEORY_CHECK,)),
    Mutant("B14 alignment with one mean", "mu_alignment takes |cos| with μ1 only, not the max over μ1 and μ2",
           f"{BEN}.experiment:mu_alignment", _alignment_with_one_mean, (ALIGN_CHECK,)),
    Mutant("B15 single-mean baseline", "the random-init alignment is √(2/(π p)), the value for one mean, not two",
           f"{BEN}.experiment:random_alignment", _single_mean_baseline, (ALIGN_CHECK,)),
    Mutant("B16 R* not squared", "the optimal fitting ratio returns √R* = 1 − u instead of R* = (1 − u)²",
           f"{BEN}.ridge:optimal_fitting_ratio", _ratio_not_squared, (RSTAR_CHECK,)),
    Mutant("B17 noise without α", "the powerlaw risk of the fitting ratio adds σ²_rel (1 − √R)^β without the factor α",
           f"{BEN}.ridge:fitting_ratio_risk", _noise_without_alpha, (RSTAR_CHECK,)),
    Mutant("B18 Ω without z²", "the theory's overfitting coefficient drops the z² of (q(k − 2z) + z²) / (n(k − q))",
           f"{BEN}.ridge:eigenlearning", _omega_without_z_squared, (MONO_CHECK, THEORY_CHECK)),
    Mutant("B19 fixed separation", "the phase diagram keeps ‖μ‖ = 25 in every cell instead of 2.5·√(p/n)",
           f"{BEN}.shipped:phase_mu_norm", _fixed_separation, (PHASE_CHECK,)),
    Mutant("B20 first pass strictly above", "first_pass finds the first step strictly above the threshold, so "
           "100% training accuracy is never 'reached'", f"{BEN}.experiment:first_pass", _strictly_above,
           (FIT_STEP_CHECK,)),
]
