import numpy as np
import pytest
import torch

from minilib.pfn import figures, gp


class _Constant:
    """A predictor whose predictive is N(0.5, 0.1²) at every query (quantiles by the normal's formula)."""

    def predict(self, x_train, y_train, x_test):
        n = len(x_test)

        class Pred:
            def quantile(self, q):
                return 0.5 + 0.1 * torch.distributions.Normal(0.0, 1.0).icdf(torch.full((n,), q))

        return Pred()


def test_prior_datasets_joins_each_dataset_in_the_order_of_x():
    xs, ys = gp.sample_gp(3, 20, torch.Generator().manual_seed(0), lengthscale=0.2, noise=0.01)
    fig = figures.prior_datasets(xs, ys, title="t")
    assert [t.name for t in fig.data] == ["dataset 1", "dataset 2", "dataset 3"]
    assert np.all(np.diff(fig.data[0].x) >= 0)
    order = xs[0, :, 0].argsort()
    np.testing.assert_allclose(fig.data[0].y, ys[0, order].numpy(), rtol=1e-6)


def test_learning_curves_draws_one_trace_per_curve_over_epochs():
    y = torch.rand(4, 10)
    fig = figures.learning_curves(y, title="t")
    assert len(fig.data) == 4 and list(fig.data[2].x) == list(range(1, 11))
    np.testing.assert_allclose(fig.data[2].y, y[2].numpy(), rtol=1e-6)


def test_extrapolations_predicts_only_after_the_cut_and_names_a_bad_cut():
    y, f = torch.rand(3, 10), torch.rand(3, 10)
    fig = figures.extrapolations(_Constant(), y, f, 4, {"first": 0, "third": 2}, title="t")
    medians = [t for t in fig.data if t.name == "LC-PFN median"]
    assert len(medians) == 2 and list(medians[0].x) == list(range(5, 11))
    np.testing.assert_allclose(medians[0].y, 0.5)
    observed = [t for t in fig.data if t.name == "observed values"]
    np.testing.assert_allclose(observed[1].y, y[2].numpy(), rtol=1e-6)
    assert sum(t.showlegend is not False for t in fig.data) == 4  # one legend entry per kind, not per panel
    with pytest.raises(ValueError, match="cut=10"):
        figures.extrapolations(_Constant(), y, f, 10, {"first": 0}, title="t")


def test_early_stopping_sweep_draws_each_run_up_to_its_stop():
    curves = np.linspace(0, 1, 30).reshape(3, 10)
    fig = figures.early_stopping_sweep(curves, [10, 3, 10], epochs=10, title="t")
    assert [len(t.x) for t in fig.data] == [10, 3, 10]
    assert [t.name for t in fig.data] == ["trained to epoch 10", "stopped early", "trained to epoch 10"]
    assert [t.showlegend for t in fig.data] == [True, True, False]


def test_gap_slider_names_each_trace_by_its_context_size():
    from minilib import pfn
    from minilib.runs import Run

    def run(scale):
        steps = np.array([0, 10, 100])
        history = {"step": steps, **{f"gap_{n}": scale * (n + 1) / (steps + 1.0) for n in (0, 2, 10)}}
        return Run(config=pfn.Config(steps=100, seed=int(scale)), history=history)

    fig = figures.gap_slider({"a": run(1.0), "b": run(2.0)}, title="t")
    assert [t.name for t in fig.data] == ["n = 0", "n = 2", "n = 10"] * 2
    assert [t.visible for t in fig.data] == [True] * 3 + [False] * 3
    assert fig.layout.yaxis.type == "log" and [s.label for s in fig.layout.sliders[0].steps] == ["a", "b"]
