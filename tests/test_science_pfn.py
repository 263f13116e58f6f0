"""Science checks of chapter 5 (minilib.pfn), each against a trusted reference: direct numpy linear algebra for
the GP, numerical integration for the bar distribution, a plain masked full-sequence attention for the PFN.

Fixture-free functions: tests/mutation/ runs them with plausible bugs patched in (pfn_mutants.py) and
requires each bug to make at least one of them fail.
"""

import math

import numpy as np
import torch

from minilib import pfn
from minilib.pfn import bar as bar_lib
from minilib.pfn import gp, train

LS, NOISE = 0.2, 0.01


def _numpy_predictive(x, y, xs, ls=LS, s=1.0, noise=NOISE):
    k = lambda a, b: s * np.exp(-0.5 * (a[:, None] - b[None, :]) ** 2 / ls**2)
    K = k(x, x) + noise * np.eye(len(x))
    ks = k(x, xs)
    return ks.T @ np.linalg.solve(K, y), s + noise - np.einsum("im,im->m", ks, np.linalg.solve(K, ks))


def test_the_exact_gp_predictive_of_a_noisy_target_matches_direct_linear_algebra():
    rng = np.random.default_rng(0)
    x, y, xs = rng.uniform(size=8), rng.normal(size=8), rng.uniform(size=6)
    mean, var = pfn.gp_posterior(torch.tensor(x), torch.tensor(y), torch.tensor(xs), LS, 1.0, NOISE)
    m_np, v_np = _numpy_predictive(x, y, xs)
    np.testing.assert_allclose(mean.numpy(), m_np, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(var.numpy(), v_np, rtol=1e-8, atol=1e-12)


def test_the_hyperprior_predictive_is_the_marginal_likelihood_weighted_mixture():
    rng = np.random.default_rng(1)
    x, y, xs, ys = rng.uniform(size=5), rng.normal(size=5) * 0.7, rng.uniform(size=3), rng.normal(size=3)
    lml, dens = [], []
    for ls in gp.HYPER_LENGTHSCALES:
        K = np.exp(-0.5 * (x[:, None] - x[None]) ** 2 / ls**2) + NOISE * np.eye(5)
        lml.append(-0.5 * (y @ np.linalg.solve(K, y) + np.linalg.slogdet(K)[1] + 5 * np.log(2 * np.pi)))
        m, v = _numpy_predictive(x, y, xs, ls)
        dens.append(np.exp(-0.5 * (ys - m) ** 2 / v) / np.sqrt(2 * np.pi * v))
    w = np.exp(np.array(lml) - max(lml))
    w /= w.sum()
    t = lambda a: torch.tensor(a)[None]
    got = gp.hyper_log_prob(t(x)[..., None], t(y), t(xs)[..., None], t(ys))[0].numpy()
    np.testing.assert_allclose(got, np.log((w[:, None] * np.array(dens)).sum(0)), rtol=1e-8)


def test_prior_samples_have_the_kernels_covariance():
    x, y = gp.sample_gp(40_000, 2, torch.Generator().manual_seed(0), lengthscale=LS, noise=NOISE)
    k = torch.exp(-0.5 * (x[:, 0, 0] - x[:, 1, 0]).double() ** 2 / LS**2)
    resid = y[:, 0].double() * y[:, 1].double() - k
    se = float(resid.std()) / math.sqrt(len(resid))
    assert abs(float(resid.mean())) < 4 * se, (float(resid.mean()), se)
    assert abs(float(y.double().pow(2).mean()) - (1 + NOISE)) < 0.03


def _bar():
    borders = pfn.borders_from_samples(torch.randn(4000, generator=torch.Generator().manual_seed(2),
                                                   dtype=torch.float64), 9)
    logits = torch.tensor([0.3, -1.0, 2.0, 0.0, 0.5, -0.2, 1.0, 0.1, 0.8], dtype=torch.float64)
    return pfn.BarDistribution(borders), logits


def test_the_bar_density_integrates_to_one_with_half_of_each_tail_inside_its_bucket():
    bar, logits = _bar()
    b = bar.borders
    y = torch.linspace(float(b[0]) - 30, float(b[-1]) + 30, 400_001, dtype=torch.float64)
    dens = bar.log_prob(logits.expand(len(y), -1), y).exp()
    assert abs(float(torch.trapezoid(dens, y)) - 1) < 1e-3
    p = torch.softmax(logits, -1)
    inside_left = (y >= b[0]) & (y < b[1])
    mass = float(torch.trapezoid(dens * inside_left, y))
    assert abs(mass - float(p[0]) / 2) < 2e-3, (mass, float(p[0]) / 2)


def test_the_bar_cdf_and_quantile_agree_with_the_integrated_density():
    bar, logits = _bar()
    b = bar.borders
    y = torch.linspace(float(b[0]) - 20, float(b[-1]) + 20, 300_001, dtype=torch.float64)
    dens = bar.log_prob(logits.expand(len(y), -1), y).exp()
    numeric = torch.cumulative_trapezoid(dens, y)
    cdf = bar.cdf(logits.expand(len(y), -1), y)[1:]
    assert float((cdf - numeric).abs().max()) < 1e-3
    q = torch.tensor([0.02, 0.3, 0.5, 0.9, 0.995], dtype=torch.float64)
    assert torch.allclose(bar.cdf(logits.expand(5, -1), bar.quantile(logits.expand(5, -1), q)), q, atol=1e-10)
    mean = float(torch.trapezoid(dens * y, y))
    assert abs(float(bar.mean(logits)) - mean) < 1e-3


def test_uniform_logits_on_equal_buckets_score_log_total_width():
    bar = pfn.BarDistribution(torch.linspace(0.0, 5.0, 11, dtype=torch.float64))
    nll = -bar.log_prob(torch.zeros(3, 10, dtype=torch.float64), torch.tensor([0.7, 2.2, 4.4], dtype=torch.float64))
    assert torch.allclose(nll, torch.full((3,), math.log(5.0), dtype=torch.float64))


def test_quantile_borders_hold_equal_prior_mass():
    y = torch.randn(50_000, generator=torch.Generator().manual_seed(3), dtype=torch.float64) ** 3
    borders = bar_lib.borders_from_samples(y, 20)  # the library's own (train.prior_borders calls it so)
    counts = torch.bincount(torch.searchsorted(borders[1:-1], y, right=True), minlength=20)
    assert int(counts.max() - counts.min()) <= 2, counts.tolist()


def test_each_query_sees_the_context_and_itself_only_as_a_masked_full_attention_does():
    torch.manual_seed(0)
    model = pfn.PFN(12, d_model=16, n_layers=2, n_heads=2, d_ff=16).double().eval()
    gen = torch.Generator().manual_seed(1)
    xc, yc = torch.rand(1, 6, 1, generator=gen, dtype=torch.float64), torch.randn(1, 6, generator=gen,
                                                                                  dtype=torch.float64)
    xq = torch.rand(1, 4, 1, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        together = model(xc, yc, xq)
        one_by_one = torch.cat([model(xc, yc, xq[:, j:j + 1]) for j in range(4)], 1)
        shuffled = model(xc[:, [3, 0, 5, 1, 4, 2]], yc[:, [3, 0, 5, 1, 4, 2]], xq)
    assert torch.allclose(together, one_by_one, atol=1e-12)
    assert torch.allclose(together, shuffled, atol=1e-12)


def test_training_splits_each_dataset_into_a_context_and_disjoint_queries():
    x = torch.arange(12.0).reshape(2, 6, 1)
    y = torch.arange(12.0).reshape(2, 6) + 100
    for n in (0, 2, 5):
        xc, yc, xq, yq = train.split_batch(x, y, n)
        assert xc.shape == (2, n, 1) and yc.shape == (2, n) and xq.shape == (2, 6 - n, 1) and yq.shape == (2, 6 - n)
        assert set(yc.flatten().tolist()).isdisjoint(yq.flatten().tolist())
        assert sorted(yc.flatten().tolist() + yq.flatten().tolist()) == y.flatten().tolist()
        assert torch.equal(xq[..., 0] + 100, yq)  # each query keeps its own target
