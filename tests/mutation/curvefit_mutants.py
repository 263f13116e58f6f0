"""Plausible bugs in chapter 0 (minilib.curvefit), each of which tests/test_science_curvefit.py must catch."""

from __future__ import annotations

import torch

from minilib import curvefit

from .registry import Mutant


def _relabel(make_data, change):
    """make_data with its output passed through change(config, gen, x_train, y_train, x_test, y_test)."""
    def patched(config, gen):
        return change(config, gen, *make_data(config, gen))
    return patched


def _f(config, x):
    return curvefit.TARGETS[config.target](x)


def _test_noise_twice(make_data):
    def twice(config, gen, x_tr, y_tr, x_te, y_te):
        return x_tr, y_tr, x_te, y_te + config.noise * torch.randn(y_te.shape, generator=gen)
    return _relabel(make_data, twice)


def _test_noise_free(make_data):
    return _relabel(make_data, lambda c, gen, x_tr, y_tr, x_te, y_te: (x_tr, y_tr, x_te, _f(c, x_te)))


def _train_noise_free(make_data):
    return _relabel(make_data, lambda c, gen, x_tr, y_tr, x_te, y_te: (x_tr, _f(c, x_tr), x_te, y_te))


def _noise_variance_as_std(make_data):
    def squared(c, gen, x_tr, y_tr, x_te, y_te):
        shrink = lambda x, y: _f(c, x) + (y - _f(c, x)) * c.noise  # noise·noise·randn
        return x_tr, shrink(x_tr, y_tr), x_te, shrink(x_te, y_te)
    return _relabel(make_data, squared)


def _test_contains_train(make_data):
    def leak(c, gen, x_tr, y_tr, x_te, y_te):
        n = min(len(x_tr), len(x_te))
        x_te, y_te = x_te.clone(), y_te.clone()
        x_te[:n], y_te[:n] = x_tr[:n], y_tr[:n]
        return x_tr, y_tr, x_te, y_te
    return _relabel(make_data, leak)


def _test_on_half_the_range(make_data):
    def shifted(c, gen, x_tr, y_tr, x_te, y_te):
        noise = y_te - _f(c, x_te)
        return x_tr, y_tr, x_te.abs(), _f(c, x_te.abs()) + noise
    return _relabel(make_data, shifted)


def _ignores_seed(make_data):
    return lambda config, gen: make_data(config, torch.Generator().manual_seed(0))


def _linear_forward(forward):
    def linear(params, x):
        w1, b1, w2, b2 = params
        return (x @ w1 + b1) @ w2 + b2
    return linear


def _output_layer_unscaled(init_weights):
    def init(*args, **kwargs):
        w1, b1, w2, b2 = init_weights(*args, **kwargs)
        s = w2.shape[-2] ** 0.5  # U(±1/sqrt(width)) becomes U(±1)
        return [w1, b1, (w2.detach() * s).requires_grad_(), (b2.detach() * s).requires_grad_()]
    return init


def _decay_sign_flipped(init):
    def flipped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.wd = -self.wd  # w ← w·(1 + lr·wd) for AdamW, g − wd·w for SGD
    return flipped


def _summed_mse(mse):
    def summed(params, x, y):
        return mse(params, x, y) * x.shape[1]  # the sum over points, not the mean
    return summed


CF = "minilib.curvefit.experiment"
NOISE_CHECK = "test_label_noise_has_the_configured_std_on_train_and_test_labels"
INPUT_CHECK = "test_test_inputs_are_fresh_draws_from_the_whole_input_range"

MUTANTS = [
    Mutant("C1 test noise twice", "the test labels get the label noise added twice (std noise·√2)",
           f"{CF}:make_data", _test_noise_twice, (NOISE_CHECK,)),
    Mutant("C2 noise-free test labels", "no noise on the test labels", f"{CF}:make_data", _test_noise_free,
           (NOISE_CHECK,)),
    Mutant("C3 train noise missing", "no noise on the training labels", f"{CF}:make_data", _train_noise_free,
           (NOISE_CHECK,)),
    Mutant("C4 noise std squared", "noise·randn drawn with the variance as the std (noise² · randn)",
           f"{CF}:make_data", _noise_variance_as_std, (NOISE_CHECK,)),
    Mutant("C5 test set leaks the training set", "the first test points are the training points",
           f"{CF}:make_data", _test_contains_train, (INPUT_CHECK,)),
    Mutant("C6 test inputs on [0, 1]", "test inputs drawn from half of the training range",
           f"{CF}:make_data", _test_on_half_the_range, (INPUT_CHECK,)),
    Mutant("C7 data ignores the seed", "make_data uses a generator seeded with 0, whatever the seed",
           f"{CF}:make_data", _ignores_seed, ("test_data_repeat_with_the_seed_and_change_with_it",)),
    Mutant("C8 ReLU dropped", "the hidden layer is linear: the net is a straight line",
           f"{CF}:forward", _linear_forward, ("test_the_relu_net_fits_a_curve_that_no_straight_line_fits",)),
    Mutant("C9 output init U(±1)", "the output layer is drawn from U(±1), not U(±1/√width)",
           f"{CF}:init_weights", _output_layer_unscaled, ("test_initial_output_scale_does_not_grow_with_the_width",)),
    Mutant("C10 weight decay sign flipped", "weight decay pushes the weights away from zero",
           "minilib.replicas:StackedOptimizer.__init__", _decay_sign_flipped,
           ("test_weight_decay_pulls_the_fit_towards_zero",)),
    Mutant("C11 MSE summed", "the loss sums the squared errors over points instead of averaging them",
           f"{CF}:mse", _summed_mse, ("test_reported_losses_are_means_over_points",)),
]
