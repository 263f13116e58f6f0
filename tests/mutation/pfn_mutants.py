"""Plausible bugs in chapter 5 (minilib.pfn), each of which tests/test_science_pfn.py must catch."""

from __future__ import annotations

import math

import torch

from .registry import Mutant

GP_CHECK = "test_the_exact_gp_predictive_of_a_noisy_target_matches_direct_linear_algebra"
MIX_CHECK = "test_the_hyperprior_predictive_is_the_marginal_likelihood_weighted_mixture"
SAMPLER_CHECK = "test_prior_samples_have_the_kernels_covariance"
DENSITY_CHECK = "test_the_bar_density_integrates_to_one_with_half_of_each_tail_inside_its_bucket"
CDF_CHECK = "test_the_bar_cdf_and_quantile_agree_with_the_integrated_density"
UNIFORM_CHECK = "test_uniform_logits_on_equal_buckets_score_log_total_width"
BORDERS_CHECK = "test_quantile_borders_hold_equal_prior_mass"
ATTENTION_CHECK = "test_each_query_sees_the_context_and_itself_only_as_a_masked_full_attention_does"
SPLIT_CHECK = "test_training_splits_each_dataset_into_a_context_and_disjoint_queries"
LC_PRIOR_CHECK = "test_the_learning_curve_prior_keeps_the_share_of_draws_a_direct_implementation_keeps"
LC_CURVE_CHECK = "test_learning_curves_and_their_likelihood_match_the_direct_formulas"
LC_JACOBIAN_CHECK = "test_the_mcmc_density_in_u_space_carries_the_jacobian_of_the_change_of_variables"
LC_PREDICTIVE_CHECK = "test_the_mcmc_predictive_is_the_mean_of_the_samples_densities"
LC_BASELINE_CHECK = "test_the_last_value_baseline_scores_the_epochs_after_the_cut_from_the_last_seen_one"
SUPPORT_ML2_CHECK = "test_ml2_on_the_hyperpriors_support_predicts_with_the_most_probable_lengthscale"


def _noise_free_variance(gp_predict):
    def wrong(x_ctx, y_ctx, x_qry, lengthscale=0.2, outputscale=1.0, noise=0.01):
        mean, var = gp_predict(x_ctx, y_ctx, x_qry, lengthscale, outputscale, noise)
        return mean, var - noise  # the variance of f(x*), scored against noisy y*
    return wrong


def _kernel_without_square(rbf_kernel):
    def wrong(x1, x2, lengthscale, outputscale=1.0):
        ls = torch.as_tensor(lengthscale, dtype=torch.float64)
        return rbf_kernel(x1, x2, ls.sqrt(), outputscale)  # exp(−d²/(2ℓ)) instead of exp(−d²/(2ℓ²))
    return wrong


def _prior_weights(hyper_posterior):
    def wrong(x_ctx, y_ctx, lengthscales=(0.05, 0.1, 0.2, 0.5), outputscale=1.0, noise=0.01):
        w = hyper_posterior(x_ctx, y_ctx, lengthscales, outputscale, noise)
        return torch.full_like(w, 1 / w.shape[-1])  # the data never reweigh the lengthscales
    return wrong


def _no_width(log_prob):
    def wrong(self, logits, y):
        b = self.borders.to(logits.dtype)
        w = b[1:] - b[:-1]
        k = self.bucket_of(torch.as_tensor(y, dtype=logits.dtype))
        return log_prob(self, logits, y) + torch.log(w.to(logits.device))[k]  # p_k instead of p_k / w_k
    return wrong


def _tail_sigma_is_width(constant):
    return 1.0  # σ = bucket width instead of width / 0.6745: the tails are no longer half inside their bucket


def _cdf_tail_without_sqrt2(cdf):
    def wrong(self, logits, y):
        out = cdf(self, logits, y)
        b = self.borders.to(logits.dtype)
        s = (b[-1] - b[-2]) / 0.6744897501960817
        yy = torch.as_tensor(y, dtype=logits.dtype)
        right = yy > b[-2]
        p_last = torch.softmax(logits, -1)[..., -1]
        z = (yy - b[-2]).clamp(min=0)
        fix = p_last * (torch.erf(z / s) - torch.erf(z / (s * math.sqrt(2))))  # erf(z/σ): a normal's σ√2 dropped
        return torch.where(right, out + fix, out).clamp(0, 1)
    return wrong


def _wide_grid_always(mle2_lengthscale):
    def wrong(x_ctx, y_ctx, grid=None, outputscale=1.0, noise=0.01):
        from minilib.pfn import gp
        return mle2_lengthscale(x_ctx, y_ctx, gp.MLE_GRID, outputscale, noise)  # the grid it is given is ignored
    return wrong


def _fits_one_point(plugin_log_prob):
    def wrong(x_ctx, y_ctx, x_qry, y_qry, grid=None, fallback=0.2, outputscale=1.0, noise=0.01):
        from minilib.pfn import gp
        grid = gp.MLE_GRID if grid is None else grid
        ls = gp.mle2_lengthscale(x_ctx, y_ctx, tuple(float(v) for v in grid), outputscale, noise)
        return gp.gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, ls, outputscale, noise)  # no fallback below 2 points
    return wrong


def _linear_borders(borders_from_samples):
    def wrong(y_samples, n_buckets):
        y = torch.as_tensor(y_samples, dtype=torch.float64).reshape(-1)
        return torch.linspace(float(y.min()), float(y.max()), n_buckets + 1, dtype=torch.float64)
    return wrong


def _queries_see_queries(forward):
    def wrong(self, ctx, qry):
        B, N, d = ctx.shape
        h = self.ln1(torch.cat([ctx, qry], 1))
        q, k, v = (self._heads(t) for t in self.qkv(h).chunk(3, -1))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads), -1)  # no mask at all
        o = (att @ v).transpose(1, 2).reshape(B, N + qry.shape[1], d)
        x = torch.cat([ctx, qry], 1) + self.out(o)
        x = x + self.ff(self.ln2(x))
        return x[:, :N], x[:, N:]
    return wrong


def _targets_in_context(split_batch):
    def wrong(x, y, n):
        return x, y, x[:, n:], y[:, n:]  # the whole dataset as context: the queries' targets leak in
    return wrong


def _normalised_weights(draw_params):
    def wrong(n, generator=None):
        theta = draw_params(n, generator)
        theta[:, :3] = theta[:, :3] / theta[:, :3].sum(1, keepdim=True)  # the weights forced to sum to 1
        return theta
    return wrong


def _ilog2_of_x(ilog2):
    def wrong(x, c, a):
        from minilib.pfn import lc
        return c - a / lc._ns(x).log(x)  # infinite at epoch 1
    return wrong


def _sigma_as_variance(gaussian_log_likelihood):
    def wrong(f, sigma, y_obs):
        return gaussian_log_likelihood(f, sigma**2, y_obs)  # σ read as a variance: N(f, σ⁴)
    return wrong


def _jacobian_one_w1(log_jacobian):
    def wrong(u):
        import numpy as np
        return log_jacobian(u) + np.log(u[:, 0])  # 1/w1 instead of 1/w1²
    return wrong


def _no_range_rule(accepted):
    def wrong(f):
        return accepted(f.clip(0, 1))  # curves that leave [0, 1] are kept
    return wrong


def _mean_of_log_densities(log_predictive):
    def wrong(self, epochs, y):
        import numpy as np

        from minilib.pfn import lc
        f = lc.curve(self.theta, np.asarray(epochs, float))
        s = self.theta[:, -1:]
        return (-0.5 * ((np.asarray(y)[None] - f) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)).mean(0)
    return wrong


def _baseline_sees_the_first_held_out_epoch(heldout_last_value):
    def wrong(y_curves, cut, sigma=None):
        return heldout_last_value(y_curves, cut + 1, sigma)  # centred on epoch cut + 1, the first held-out one
    return wrong


MUTANTS = [
    Mutant("M1 predictive without noise", "the exact GP scores noisy targets with the variance of f, not of y",
           "minilib.pfn.gp:gp_predict", _noise_free_variance, (GP_CHECK,)),
    Mutant("M2 kernel ℓ not squared", "the RBF kernel divides the squared distance by 2ℓ instead of 2ℓ²",
           "minilib.pfn.gp:rbf_kernel", _kernel_without_square, (GP_CHECK, SAMPLER_CHECK)),
    Mutant("M3 mixture with prior weights", "the hyperprior predictive mixes the GPs with their prior weights, "
           "ignoring the marginal likelihood", "minilib.pfn.gp:hyper_posterior", _prior_weights, (MIX_CHECK,)),
    Mutant("M4 density without width", "the bar distribution's density is p_k instead of p_k / w_k",
           "minilib.pfn.bar:BarDistribution.log_prob", _no_width, (UNIFORM_CHECK, DENSITY_CHECK)),
    Mutant("M5 tail σ = width", "the half-normal tails use σ = bucket width instead of width / 0.6745",
           "minilib.pfn.bar:HALF_NORMAL_MEDIAN", _tail_sigma_is_width, (DENSITY_CHECK,)),
    Mutant("M6 tail cdf without √2", "the right tail's cdf uses erf(z/σ) instead of erf(z/(σ√2))",
           "minilib.pfn.bar:BarDistribution.cdf", _cdf_tail_without_sqrt2, (CDF_CHECK,)),
    Mutant("M7 equal-width borders", "bucket borders evenly spaced between the samples' extremes instead of at "
           "their quantiles", "minilib.pfn.bar:borders_from_samples", _linear_borders, (BORDERS_CHECK,)),
    Mutant("M8 queries see queries", "no attention mask: queries attend to each other and the context to them",
           "minilib.pfn.model:Block.forward", _queries_see_queries, (ATTENTION_CHECK,)),
    Mutant("M9 targets in the context", "the training split puts every point, queries included, in the context",
           "minilib.pfn.train:split_batch", _targets_in_context, (SPLIT_CHECK,)),
    Mutant("M10 ML-II ignores its grid", "ML-II restricted to the hyperprior's four lengthscales searches the "
           "wide grid instead", "minilib.pfn.gp:mle2_lengthscale", _wide_grid_always, (SUPPORT_ML2_CHECK,)),
    Mutant("M11 ML-II fits one point", "the ML-II plug-in picks a lengthscale from a single context point, "
           "where every lengthscale fits equally well (the grid's first value wins)",
           "minilib.pfn.gp:mle2_plugin_log_prob", _fits_one_point, (SUPPORT_ML2_CHECK,)),
    Mutant("L1 curve weights normalised", "the learning-curve prior's three weights are made to sum to 1 (the "
           "authors' code draws them independently)", "minilib.pfn.lc:draw_params", _normalised_weights,
           (LC_PRIOR_CHECK,)),
    Mutant("L2 ilog2 of log x", "ilog2 divides by log(x) instead of log(x + 1)", "minilib.pfn.lc:ilog2",
           _ilog2_of_x, (LC_CURVE_CHECK,)),
    Mutant("L3 noise σ as a variance", "the curve likelihood uses σ as the noise variance, not its standard "
           "deviation", "minilib.pfn.lc:gaussian_log_likelihood", _sigma_as_variance, (LC_CURVE_CHECK,)),
    Mutant("L4 Jacobian 1/w1", "the MCMC's change of variables counts w1 once instead of twice",
           "minilib.pfn.mcmc:log_jacobian", _jacobian_one_w1, (LC_JACOBIAN_CHECK,)),
    Mutant("L5 no range rule", "the prior keeps curves that leave [0, 1]", "minilib.pfn.lc:accepted",
           _no_range_rule, (LC_PRIOR_CHECK,)),
    Mutant("L6 mean of log densities", "the MCMC predictive averages the samples' log densities instead of "
           "their densities", "minilib.pfn.mcmc:Posterior.log_predictive", _mean_of_log_densities,
           (LC_PREDICTIVE_CHECK,)),
    Mutant("L7 baseline sees a held-out epoch", "the last-value baseline is centred on the first held-out "
           "epoch", "minilib.pfn.lc:heldout_last_value", _baseline_sees_the_first_held_out_epoch,
           (LC_BASELINE_CHECK,)),
]
