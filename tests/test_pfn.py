"""Unit tests of minilib.pfn at tiny sizes: the bar distribution, the PFN's attention, the GP prior and its
exact posterior against direct numpy code, the samplers' moments, training, checkpoints and bad configs."""

import math

import numpy as np
import pytest
import torch

from minilib import pfn
from minilib.pfn import bar as bar_module
from minilib.pfn import experiment, gp
from minilib.runs import ConfigError

TINY = pfn.Config(steps=12, n_buckets=20, d_model=16, n_heads=2, d_ff=32, n_layers=2, batch_size=8,
                  eval_datasets=8, num_logs=3, device="cpu")


def _bar(K=12, seed=0, equal=False):
    gen = torch.Generator().manual_seed(seed)
    if equal:
        borders = torch.linspace(-2.0, 4.0, K + 1, dtype=torch.float64)
    else:
        borders = pfn.borders_from_samples(torch.randn(5000, generator=gen, dtype=torch.float64), K)
    logits = torch.randn(3, K, generator=gen, dtype=torch.float64) * 2
    return pfn.BarDistribution(borders), logits


def _tail_integral(density, start, stop, n=200_001):
    y = torch.linspace(start, stop, n, dtype=torch.float64)
    return torch.trapezoid(density(y), y)


# --- the bar distribution -----------------------------------------------------------------------------


def test_the_bar_density_integrates_to_one_including_its_tails():
    bar, logits = _bar()
    b = bar.borders
    for row in logits:
        dens = lambda y, row=row: bar.log_prob(row.expand(len(y), -1), y).exp()
        inner = sum(float(dens(((b[k] + b[k + 1]) / 2).reshape(1))) * float(b[k + 1] - b[k])
                    for k in range(1, bar.n_buckets - 1))  # flat inside each inner bucket: exact
        s_l, s_r = float(b[1] - b[0]) / 0.6745, float(b[-1] - b[-2]) / 0.6745
        edge = 1e-12  # stop just short of b_1 (b_1 itself belongs to the inner bucket next to it)
        left = _tail_integral(dens, float(b[1]) - 12 * s_l, float(b[1]) - edge)
        right = _tail_integral(dens, float(b[-2]), float(b[-2]) + 12 * s_r)
        assert inner + left + right == pytest.approx(1.0, abs=1e-7)
        # each tail holds its bucket's probability, half of it inside the original bucket
        p = torch.softmax(row, -1)
        assert float(left) == pytest.approx(float(p[0]), rel=1e-6)
        half = _tail_integral(dens, float(b[0]), float(b[1]) - edge)
        assert float(half) == pytest.approx(float(p[0]) / 2, rel=1e-3)


def test_uniform_logits_on_equal_buckets_give_the_nll_log_of_the_total_width():
    bar, _ = _bar(K=10, equal=True)
    logits = torch.zeros(5, 10, dtype=torch.float64)
    y = torch.tensor([-1.0, 0.0, 0.5, 1.7, 3.2], dtype=torch.float64)  # inner buckets
    assert torch.allclose(-bar.log_prob(logits, y), torch.full((5,), math.log(6.0), dtype=torch.float64))


def test_cdf_matches_numerical_integration_of_the_density_everywhere():
    bar, logits = _bar()
    b = bar.borders
    lo, hi = float(b[1] - 10 * (b[1] - b[0]) / 0.6745), float(b[-2] + 10 * (b[-1] - b[-2]) / 0.6745)
    y = torch.linspace(lo, hi, 400_001, dtype=torch.float64)
    for row in logits:
        dens = bar.log_prob(row.expand(len(y), -1), y).exp()
        numeric = torch.cumulative_trapezoid(dens, y)
        cdf = bar.cdf(row.expand(len(y), -1), y)
        # the trapezoid rule smears each jump of the density over one grid cell: error <= jump * dy
        dy = float(y[1] - y[0])
        assert float((cdf[1:] - numeric).abs().max()) < 2 * float(dens.max()) * dy + 1e-7
        assert float(cdf[0]) < 1e-12 and float(cdf[-1]) > 1 - 1e-12


def test_quantile_inverts_the_cdf_in_the_tails_and_inside():
    bar, logits = _bar()
    q = torch.tensor([1e-6, 0.01, 0.1, 0.3, 0.5, 0.77, 0.95, 0.999, 1 - 1e-6], dtype=torch.float64)
    ys = bar.quantile(logits[:, None, :], q[None, :])
    assert torch.all(ys[:, 1:] > ys[:, :-1])
    assert torch.allclose(bar.cdf(logits[:, None, :], ys), q.expand(3, -1), atol=1e-12)
    assert torch.all(ys[:, 0] < bar.borders[1]) and torch.all(ys[:, -1] > bar.borders[-2])  # tails reached
    ends = bar.quantile(logits[:1], torch.tensor([0.0, 1.0], dtype=torch.float64)[:, None])
    assert ends[0, 0] == -math.inf and ends[1, 0] == math.inf
    with pytest.raises(ValueError, match=r"q must lie in \[0, 1\]"):
        bar.quantile(logits, 1.5)


def test_mean_variance_and_samples_agree_with_the_density():
    bar, logits = _bar()
    b = bar.borders
    y = torch.linspace(float(b[1]) - 15, float(b[-2]) + 15, 600_001, dtype=torch.float64)
    for row in logits:
        dens = bar.log_prob(row.expand(len(y), -1), y).exp()
        m = torch.trapezoid(dens * y, y)
        v = torch.trapezoid(dens * (y - m) ** 2, y)
        assert float(bar.mean(row)) == pytest.approx(float(m), abs=1e-4)
        assert float(bar.variance(row)) == pytest.approx(float(v), abs=1e-3)
    draws = bar.sample(logits, torch.Generator().manual_seed(1), (200_000,))
    assert draws.shape == (200_000, 3)
    se = (bar.variance(logits) / 200_000).sqrt()
    assert torch.all((draws.mean(0) - bar.mean(logits)).abs() < 5 * se)


def test_a_target_far_outside_the_borders_has_a_finite_log_likelihood():
    bar, logits = _bar()
    lp = bar.log_prob(logits, torch.tensor([-50.0, 0.0, 60.0], dtype=torch.float64))
    assert torch.isfinite(lp).all()


def test_borders_from_samples_put_equal_mass_in_every_bucket():
    y = torch.randn(100_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    borders = pfn.borders_from_samples(y, 50)
    counts = torch.histc(y, bins=50, min=-100, max=100)  # not used for bins: count per bucket below
    counts = torch.bincount(torch.searchsorted(borders[1:-1], y, right=True), minlength=50)
    assert borders.shape == (51,) and borders[0] == y.min() and borders[-1] == y.max()
    assert int(counts.min()) >= 1990 and int(counts.max()) <= 2010


@pytest.mark.parametrize("borders, message", [
    ([0.0, 1.0, 2.0], "at least 4 borders"),
    ([0.0, 1.0, 1.0, 2.0], r"strictly increasing; borders\[1\]=1 >= borders\[2\]=1"),
    ([0.0, 1.0, float("nan"), 2.0], "must be finite"),
])
def test_bad_borders_are_refused(borders, message):
    with pytest.raises(ValueError, match=message):
        pfn.BarDistribution(borders)


def test_bad_border_samples_and_logits_are_refused():
    with pytest.raises(ValueError, match="n_buckets=2 must be an integer >= 3"):
        pfn.borders_from_samples(torch.randn(100), 2)
    with pytest.raises(ValueError, match="repeated sample values"):
        pfn.borders_from_samples(torch.zeros(100), 10)
    with pytest.raises(ValueError, match="5 samples cannot place 11 borders"):
        pfn.borders_from_samples(torch.randn(5), 10)
    bar, _ = _bar(K=12)
    with pytest.raises(ValueError, match="logits have 7 entries in their last dimension; this distribution has 12"):
        bar.log_prob(torch.zeros(7), 0.0)


# --- the PFN: its attention pattern --------------------------------------------------------------------


def _model(K=16, seed=0):
    torch.manual_seed(seed)
    return pfn.PFN(K, d_model=32, n_layers=3, n_heads=4, d_ff=48).double().eval()


def _data(B=2, N=7, M=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(B, N, 1, generator=gen, dtype=torch.float64), torch.randn(B, N, generator=gen,
            dtype=torch.float64), torch.rand(B, M, 1, generator=gen, dtype=torch.float64))


def test_predictions_do_not_depend_on_the_order_of_the_context():
    model, (xc, yc, xq) = _model(), _data()
    perm = torch.randperm(xc.shape[1], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(model(xc, yc, xq), model(xc[:, perm], yc[:, perm], xq), atol=1e-12)


def test_queries_are_independent_of_each_other():
    model, (xc, yc, xq) = _model(), _data()
    with torch.no_grad():
        together = model(xc, yc, xq)
        alone = torch.cat([model(xc, yc, xq[:, j:j + 1]) for j in range(xq.shape[1])], 1)
        perm = torch.tensor([4, 2, 0, 1, 3])
        assert torch.allclose(together, alone, atol=1e-12)
        assert torch.allclose(model(xc, yc, xq[:, perm]), together[:, perm], atol=1e-12)
        # a query never changes the context: more queries, same answer for the first one
        more = model(xc, yc, torch.cat([xq, xq + 0.1], 1))
        assert torch.allclose(more[:, :5], together, atol=1e-12)


def test_the_context_changes_the_prediction_and_datasets_in_a_batch_are_independent():
    model, (xc, yc, xq) = _model(), _data()
    with torch.no_grad():
        base = model(xc, yc, xq)
        assert not torch.allclose(model(xc, yc + 1, xq), base)
        assert torch.allclose(model(xc[:1], yc[:1], xq[:1]), base[:1], atol=1e-12)


def test_an_empty_context_gives_a_function_of_x_alone():
    model, (xc, yc, xq) = _model(), _data()
    with torch.no_grad():
        empty = model(xc[:, :0], yc[:, :0], xq)
        assert empty.shape == (2, 5, 16) and torch.isfinite(empty).all()
        # both datasets see nothing: the same x gives the same prediction
        assert torch.allclose(empty[0], model(xc[1:, :0], yc[1:, :0], xq[:1])[0], atol=1e-12)
    pred = pfn.Predictor(model.float(), pfn.BarDistribution(torch.linspace(-3, 3, 17)))
    out = pred.predict(torch.zeros(0), torch.zeros(0), torch.rand(4))
    assert out.log_prob(torch.zeros(4)).shape == (4,) and out.mean().shape == (4,)
    assert out.quantile(0.5).shape == (4,) and out.cdf(torch.zeros(4)).shape == (4,)


def test_the_pfn_matches_a_plain_masked_full_sequence_attention():
    """Our attention (context block + query rows) equals one softmax over the full sequence with a mask."""
    model, (xc, yc, xq) = _model(), _data()
    N, M = xc.shape[1], xq.shape[1]
    allowed = torch.zeros(N + M, N + M, dtype=torch.bool)
    allowed[:, :N] = True
    allowed[torch.arange(N, N + M), torch.arange(N, N + M)] = True

    def reference(block, ctx, qry):
        x = torch.cat([ctx, qry], 1)
        h = block.ln1(x)
        out = torch.nn.functional.multi_head_attention_forward(
            h.transpose(0, 1), h.transpose(0, 1), h.transpose(0, 1), x.shape[-1], block.n_heads,
            block.qkv.weight, block.qkv.bias, None, None, False, 0.0, block.out.weight, block.out.bias,
            training=False, attn_mask=~allowed, need_weights=False)[0].transpose(0, 1)
        x = x + out
        x = x + block.ff(block.ln2(x))
        return x[:, :N], x[:, N:]

    with torch.no_grad():
        ctx, qry = model.x_enc(xc) + model.y_enc(yc.unsqueeze(-1)), model.x_enc(xq)
        for block in model.blocks:
            ctx, qry = reference(block, ctx, qry)
        assert torch.allclose(model.head(model.ln_f(qry)), model(xc, yc, xq), atol=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_buckets=2), r"n_buckets=2 is out of range"),
    (dict(n_buckets=10, d_model=0), r"d_model=0 is out of range"),
    (dict(n_buckets=10, n_layers=-1), r"n_layers=-1 is out of range: allowed an integer 0 <= n_layers <= 64"),
])
def test_bad_model_shapes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pfn.PFN(**kwargs)


def test_bad_inputs_to_the_model_and_the_predictor_are_named():
    model = _model()
    xc, yc, xq = _data()
    with pytest.raises(ValueError, match=r"x_ctx must be \(B, N, 1\)"):
        model(xc.squeeze(-1), yc, xq)
    with pytest.raises(ValueError, match=r"y_ctx must be \(B, N\)"):
        model(xc, yc[:, :3], xq)
    pred = pfn.Predictor(model.float(), pfn.BarDistribution(torch.linspace(-3, 3, 17)))
    with pytest.raises(ValueError, match="x_train has 3 points but y_train has 2"):
        pred.predict(torch.rand(3), torch.rand(2), torch.rand(1))
    with pytest.raises(ValueError, match="the model outputs 16 logits but the bar distribution has 10 buckets"):
        pfn.Predictor(model, pfn.BarDistribution(torch.linspace(-3, 3, 11)))


# --- the GP prior and its exact posterior ---------------------------------------------------------------


def _numpy_gp(x, y, xs, ls, s, noise):
    k = lambda a, b: s * np.exp(-0.5 * (a[:, None] - b[None, :]) ** 2 / ls**2)
    K = k(x, x) + noise * np.eye(len(x))
    Kinv = np.linalg.inv(K)
    ks = k(x, xs)
    mean = ks.T @ Kinv @ y
    var = s + noise - np.einsum("im,ij,jm->m", ks, Kinv, ks)
    return mean, var


def test_gp_posterior_matches_a_direct_numpy_implementation_with_the_observation_noise():
    rng = np.random.default_rng(0)
    for n, ls, s, noise in [(5, 0.2, 1.0, 0.01), (12, 0.07, 2.5, 0.3), (1, 1.0, 0.5, 1e-3)]:
        x, y, xs = rng.uniform(size=n), rng.normal(size=n), rng.uniform(size=7)
        mean, var = pfn.gp_posterior(torch.tensor(x), torch.tensor(y), torch.tensor(xs), ls, s, noise)
        m_np, v_np = _numpy_gp(x, y, xs, ls, s, noise)
        np.testing.assert_allclose(mean.numpy(), m_np, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(var.numpy(), v_np, rtol=1e-9, atol=1e-12)
        assert (var.numpy() > noise - 1e-12).all()  # a noisy observation is never more certain than its noise


def test_an_empty_context_gives_the_prior_predictive():
    mean, var = pfn.gp_posterior(torch.zeros(0), torch.zeros(0), torch.rand(3), 0.2, 1.0, 0.01)
    assert mean.tolist() == [0.0] * 3 and var.tolist() == pytest.approx([1.01] * 3)


def test_the_marginal_likelihood_and_the_hyperprior_mixture_match_numpy():
    rng = np.random.default_rng(1)
    x, y, xs, ys = rng.uniform(size=6), rng.normal(size=6), rng.uniform(size=4), rng.normal(size=4)
    t = lambda a: torch.tensor(a)[None]
    lmls = []
    for ls in gp.HYPER_LENGTHSCALES:
        K = np.exp(-0.5 * (x[:, None] - x[None]) ** 2 / ls**2) + 0.01 * np.eye(6)
        direct = -0.5 * (y @ np.linalg.solve(K, y) + np.linalg.slogdet(K)[1] + 6 * np.log(2 * np.pi))
        lmls.append(direct)
        got = gp.log_marginal_likelihood(t(x)[..., None], t(y), ls)
        assert float(got) == pytest.approx(direct, rel=1e-10)
    w = np.exp(np.array(lmls) - max(lmls))
    w /= w.sum()
    np.testing.assert_allclose(gp.hyper_posterior(t(x)[..., None], t(y))[0].numpy(), w, rtol=1e-9)
    dens = 0
    for wj, ls in zip(w, gp.HYPER_LENGTHSCALES):
        m, v = _numpy_gp(x, y, xs, ls, 1.0, 0.01)
        dens = dens + wj * np.exp(-0.5 * (ys - m) ** 2 / v) / np.sqrt(2 * np.pi * v)
    got = gp.hyper_log_prob(t(x)[..., None], t(y), t(xs)[..., None], t(ys))[0]
    np.testing.assert_allclose(got.numpy(), np.log(dens), rtol=1e-9)
    mean, var = gp.hyper_predict(t(x)[..., None], t(y), t(xs)[..., None])
    assert torch.isfinite(mean).all() and (var > 0).all()


def test_the_gp_sampler_has_the_prior_moments():
    x, y = gp.sample_gp(20_000, 3, torch.Generator().manual_seed(0), lengthscale=0.2, noise=0.01)
    assert x.shape == (20_000, 3, 1) and y.shape == (20_000, 3) and x.dtype == y.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and abs(float(x.mean()) - 0.5) < 0.01
    yy = y.double()
    n = yy.numel()
    assert abs(float(yy.mean())) < 4 * math.sqrt(1.01 / n)
    assert float(yy.var()) == pytest.approx(1.01, rel=0.03)
    # E[y_i y_j - k(x_i, x_j)] = 0 for i != j: the sample covariance follows the kernel
    k01 = torch.exp(-0.5 * (x[:, 0, 0] - x[:, 1, 0]).double() ** 2 / 0.04)
    resid = yy[:, 0] * yy[:, 1] - k01
    assert abs(float(resid.mean())) < 4 * float(resid.std()) / math.sqrt(len(resid))
    # a wrong lengthscale in the check would be detected at this sample size
    k_wrong = torch.exp(-0.5 * (x[:, 0, 0] - x[:, 1, 0]).double() ** 2 / 0.09)
    wrong = yy[:, 0] * yy[:, 1] - k_wrong
    assert abs(float(wrong.mean())) > 4 * float(wrong.std()) / math.sqrt(len(wrong))


def test_the_hyperprior_sampler_draws_each_lengthscale_equally_often():
    _, _, ls = gp.sample_gp_hyper(8000, 2, torch.Generator().manual_seed(0), return_lengthscale=True)
    counts = torch.stack([(ls == v).sum() for v in gp.HYPER_LENGTHSCALES]).double() / 8000
    assert torch.allclose(counts, torch.full((4,), 0.25, dtype=torch.float64), atol=0.02)


def test_ml2_picks_the_lengthscale_that_generated_long_datasets():
    gen = torch.Generator().manual_seed(0)
    for true in (0.05, 0.5):
        x, y = gp.sample_gp(20, 60, gen, lengthscale=true)
        ls = gp.mle2_lengthscale(x, y)
        assert float(torch.log(ls / true).abs().median()) < 0.35


@pytest.mark.parametrize("kwargs, message", [
    (dict(lengthscale=0.0), r"lengthscale=0.0 must be > 0"),
    (dict(noise=-1.0), r"noise=-1.0 \(the observation noise variance\) must be a number > 0"),
    (dict(outputscale=float("inf")), r"outputscale=inf must be a number > 0"),
])
def test_bad_gp_hyperparameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gp.sample_gp(2, 3, **kwargs)


def test_the_support_plug_in_uses_the_grid_it_is_given_and_refuses_a_bad_one():
    x, y = gp.sample_gp(50, 12, torch.Generator().manual_seed(1), lengthscale=0.5)
    xc, yc, xq, yq = x[:, :10], y[:, :10], x[:, 10:], y[:, 10:]
    ls = gp.mle2_lengthscale(xc, yc, gp.HYPER_LENGTHSCALES)
    assert set(ls.tolist()) <= set(gp.HYPER_LENGTHSCALES)
    got = gp.mle2_plugin_log_prob(xc, yc, xq, yq, grid=gp.HYPER_LENGTHSCALES)
    assert torch.allclose(got, gp.gp_log_prob(xc, yc, xq, yq, ls))
    # the wide grid is the default; its choices lie off the hyperprior's support
    wide = gp.mle2_lengthscale(xc, yc)
    assert torch.allclose(gp.mle2_plugin_log_prob(xc, yc, xq, yq), gp.gp_log_prob(xc, yc, xq, yq, wide))
    assert not set(wide.tolist()) & set(gp.HYPER_LENGTHSCALES)
    for bad in ((), (0.1, -0.2), (float("nan"),)):
        with pytest.raises(ValueError, match=r"grid=.* must be a non-empty list of lengthscales > 0"):
            gp.mle2_plugin_log_prob(xc, yc, xq, yq, grid=bad)


def test_the_chapters_figures_keep_their_axis_titles_and_legends_inside_the_figure():
    from minilib.pfn import figures

    run, model = pfn.fit(TINY.replace(steps=4, num_logs=3), progress=False)
    made = {
        "gap curves": figures.gap_curves(run, title="gap"),
        "slider": figures.context_slider(model, [0, 2], seed=0, title="slider"),
        "bar": figures.bar_figure(model.bar, torch.zeros(TINY.n_buckets), title="bar"),
    }
    for name, fig in made.items():
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            assert axis.automargin is True and axis.title.text, name  # a long title pushes the margin
    gap = made["gap curves"]
    assert [tr.name for tr in gap.data] == ["n = 0", "n = 2", "n = 5", "n = 10", "n = 20"]
    assert gap.layout.yaxis.type == "log" and gap.layout.legend.orientation == "h"
    assert (gap.layout.legend.yref, gap.layout.legend.y) == ("container", 0)  # below the x axis title
    slider = made["slider"].layout  # the slider takes the bottom: the legend goes between title and plot
    assert (slider.legend.yref, slider.legend.y) == ("paper", 1.02) and slider.margin.t == figures.LEGEND_TOP
    assert len(slider.sliders[0].steps) == 2
    with pytest.raises(ValueError, match=r"legend='left' must be 'above', 'below' or None"):
        figures.legible(gap, legend="left")


# --- training -----------------------------------------------------------------------------------------


def test_the_learning_rate_warms_up_then_decays_to_zero():
    f = [pfn.lr_factor(i, 100, 0.1) for i in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 1e-3


def test_train_pfn_learns_and_follows_the_loop_contract():
    sample = lambda B, g: gp.sample_gp(B, 12, g)
    seen = []
    res = pfn.train_pfn(sample, n_buckets=20, d_model=16, n_heads=2, d_ff=32, n_layers=1, steps=60,
                        batch_size=16, lr=1e-2, device="cpu", num_logs=4, on_step=lambda s, m: seen.append(s),
                        progress=False)
    h = res.log.history
    assert res.log.status == "completed" and seen == [0, 20, 40, 60] and res.steps == 60
    assert math.isnan(h["train_loss"][0]) and h["train_loss"][-1] < h["train_loss"][1]
    again = pfn.train_pfn(sample, n_buckets=20, d_model=16, n_heads=2, d_ff=32, n_layers=1, steps=60,
                          batch_size=16, lr=1e-2, device="cpu", num_logs=4, progress=False)
    np.testing.assert_array_equal(again.log.history["train_loss"], h["train_loss"])  # seeded


def test_a_nan_prior_ends_the_run_as_diverged_and_stop_is_honoured():
    def bad(B, g):
        x, y = gp.sample_gp(B, 8, g)
        return x, y * float("nan")
    res = pfn.train_pfn(bad, n_buckets=10, d_model=8, n_heads=2, d_ff=8, n_layers=1, steps=30, device="cpu",
                        borders=torch.linspace(-3, 3, 11), progress=False)
    assert res.log.status == "diverged" and res.log.diverged_at == 0

    class Stop:
        asked = 0

        def is_set(self):
            self.asked += 1
            return self.asked > 5
    res = pfn.train_pfn(lambda B, g: gp.sample_gp(B, 8, g), n_buckets=10, d_model=8, n_heads=2, d_ff=8,
                        n_layers=1, steps=30, device="cpu", stop=Stop(), progress=False)
    assert res.log.status == "stopped" and res.steps == 5


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=-1), r"steps=-1 must be an integer >= 0"),
    (dict(lr=0.0), r"lr=0.0 is out of range"),
    (dict(min_context=8), r"min_context=8 must be below the datasets' length T=8"),
    (dict(x_dim=2), r"sample_batch must return x \(B, T, 2\)"),
    (dict(borders=torch.linspace(-3, 3, 5)), r"5 borders given for n_buckets=10"),
    (dict(device="cuda" if not torch.cuda.is_available() else "nodevice"), r"device="),
])
def test_bad_training_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pfn.train_pfn(lambda B, g: gp.sample_gp(B, 8, g), **({"n_buckets": 10, "steps": 2} | kwargs))


# --- checkpoints --------------------------------------------------------------------------------------


def test_a_checkpoint_round_trips_and_is_plain_data(tmp_path):
    run, pred = pfn.fit(TINY, progress=False)
    path = pfn.save_checkpoint(tmp_path / "m.pt", pred, {"note": "tiny", "table": {"gap": [0.1, 0.2]}})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind
    back = pfn.load_checkpoint(path)
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"format", "state_dict", "model_config", "borders", "meta"}
    assert back.meta["note"] == "tiny" and back.meta["prior"] == "gp" and back.meta["card"]
    x, y, xs = torch.rand(4), torch.randn(4), torch.rand(3)
    assert torch.equal(back.predict(x, y, xs).logits, pred.predict(x, y, xs).logits)
    with pytest.raises(TypeError, match=r"meta\['obj'\] is a object"):
        pfn.save_checkpoint(tmp_path / "bad.pt", pred, {"obj": object()})
    assert not (tmp_path / "bad.pt").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable PFN checkpoint"):
        pfn.load_checkpoint(tmp_path / "junk.pt")


def test_load_pretrained_names_the_known_models_and_the_command_for_a_missing_one(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="no pretrained PFN named 'bert': choose one of gp, gp_hyper, lc"):
        pfn.load_pretrained("bert")
    monkeypatch.setattr("minilib.pfn.checkpoint.CHECKPOINT_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"python -m minilib precompute pfn --only gp"):
        pfn.load_pretrained("gp")


def test_a_completed_run_with_a_checkpoint_name_writes_it(monkeypatch, tmp_path):
    from minilib import cache

    monkeypatch.setattr(experiment, "CHECKPOINT_DIR", tmp_path)
    with cache.shipping():  # as `python -m minilib precompute` runs it; a reader's run goes to the user cache
        run, pred = pfn.fit(TINY.replace(checkpoint="gp"), progress=False)
    back = pfn.load_checkpoint(tmp_path / "gp.pt")
    assert back.meta["run_key"] and back.meta["gap_table"]["gap"] == run.artifacts["table_gap"].tolist()

    class Stop:
        def is_set(self):
            return True
    (tmp_path / "gp.pt").unlink()
    with cache.shipping():
        assert pfn.run(TINY.replace(checkpoint="gp"), stop=Stop(), progress=False).status == "stopped"
    assert not (tmp_path / "gp.pt").exists()  # a stopped run writes no checkpoint


# --- the experiment -----------------------------------------------------------------------------------


def test_a_run_logs_every_metric_and_stores_the_gap_table():
    run = pfn.run(TINY, progress=False)
    assert run.status == "completed" and list(run.history["step"]) == [0, 6, 12]
    assert set(pfn.METRICS) <= set(run.history)
    assert run.artifacts["table_context_sizes"].tolist() == list(pfn.CONTEXT_SIZES)
    assert run.artifacts["borders"].shape == (TINY.n_buckets + 1,)
    assert np.isfinite(run.artifacts["table_gap"]).all()


def test_context_sizes_beyond_the_training_length_are_not_evaluated():
    run = pfn.run(TINY.replace(seq_len=8, steps=2, num_logs=2), progress=False)
    assert np.isnan(run.history["gap_10"]).all() and np.isfinite(run.history["gap_5"]).all()


def test_the_hyperprior_run_compares_with_both_plug_in_gps():
    run = pfn.run(TINY.replace(prior="gp_hyper", steps=2, num_logs=2), progress=False)
    for k in ("nll_fixed", "nll_mle2", "nll_exact", "nll_pfn"):
        assert np.isfinite(run.artifacts[f"table_{k}"]).all()
    # the exact mixture is at least as good as either plug-in on average
    a = run.artifacts
    assert (a["table_nll_exact"] <= a["table_nll_fixed"] + 0.01).all()


def test_a_sweep_of_seeds_equals_single_runs():
    configs = [TINY.replace(seed=0), TINY.replace(seed=1)]
    swept = pfn.run_sweep(configs, progress=False)
    for c, r in zip(configs, swept):
        alone = pfn.run(c, progress=False)
        np.testing.assert_allclose(r.history["train_loss"], alone.history["train_loss"], rtol=1e-6)


@pytest.mark.parametrize("changes, message", [
    (dict(prior="bnn"), r"prior='bnn' is not allowed: one of 'gp', 'gp_hyper', 'lc'"),
    (dict(prior="lc", seq_len=101), r"seq_len=101 is not allowed with prior='lc'.*seq_len <= 100"),
    (dict(min_context=30), r"min_context=30 must be below seq_len=30"),
    (dict(checkpoint="gp", prior="gp_hyper"), r"checkpoint='gp' is the checkpoint of prior 'gp', but prior='gp_hyper'"),
    (dict(noise=0.0), r"noise=0.0 is out of range: allowed 0.0001 <= noise <= 10.0"),
    (dict(lengthscale=-0.2), r"lengthscale=-0.2 is out of range"),
    (dict(n_buckets=2), r"n_buckets=2 is out of range"),
    (dict(steps=1.5), r"steps=1.5 has the wrong type: expected int"),
])
def test_bad_configs_are_refused_naming_the_field_and_the_allowed_range(changes, message):
    with pytest.raises(ConfigError, match=message):
        pfn.Config(**changes)


def test_an_unregistered_prior_is_named():
    with pytest.raises(ValueError, match="prior 'nope' is not available"):
        experiment.prior_for("nope")


def test_half_normal_median_constant():
    assert bar_module.HALF_NORMAL_MEDIAN == pytest.approx(math.sqrt(2) * float(torch.erfinv(torch.tensor(0.5,
                                                          dtype=torch.float64))), rel=1e-12)


def test_the_hyperprior_quantile_inverts_the_mixture_cdf():
    x, y = gp.sample_gp_hyper(3, 8, torch.Generator().manual_seed(4))
    xc, yc, xq = x[:, :5].double(), y[:, :5].double(), x[:, 5:].double()
    w = gp.hyper_posterior(xc, yc)
    for q in (0.05, 0.5, 0.95):
        yq = gp.hyper_quantile(xc, yc, xq, q)
        cdf = sum(w[:, j:j + 1] * torch.distributions.Normal(*_mv(gp.gp_predict(xc, yc, xq, ls))).cdf(yq)
                  for j, ls in enumerate(gp.HYPER_LENGTHSCALES))
        assert torch.allclose(cdf, torch.full_like(cdf, q), atol=1e-9)
    with pytest.raises(ValueError, match="q=1.0 must lie strictly between 0 and 1"):
        gp.hyper_quantile(xc, yc, xq, 1.0)


def _mv(mean_var):
    mean, var = mean_var
    return mean, var.sqrt()
