"""Science checks of chapter 0 (curvefit): the data, the net and its training, each against a reference.

tests/mutation/ injects plausible bugs (curvefit_mutants.py) and requires at least one of these checks
to fail with each. So the checks take no fixtures (the mutation runner calls them directly) and reach
library functions through the module at call time (`curvefit.make_data`), so a patched function is the
one checked.
"""

import numpy as np
import torch

from minilib import curvefit, runtime
from minilib.curvefit import experiment  # the code the mutants patch


def _data(seed=0, **changes):
    config = curvefit.Config(**({"device": "cpu"} | changes))
    return experiment.make_data(config, runtime.seed_everything(seed))


def _sine(x):
    return torch.sin(3 * x)  # the "sine" target, written out independently


def test_label_noise_has_the_configured_std_on_train_and_test_labels():
    noise = 0.3
    x_train, y_train, x_test, y_test = _data(target="sine", n_train=2048, noise=noise)
    for part, x, y, tol in (("train", x_train, y_train, 0.08), ("test", x_test, y_test, 0.12)):
        resid = (y - _sine(x)).flatten()
        std, mean = float(resid.std()), float(resid.mean())
        # tol: about 4 standard errors of a std estimated from len(x) Gaussian draws
        assert abs(std / noise - 1) < tol, f"{part} labels: noise std {std:.3f}, configured {noise}"
        assert abs(mean) < 4 * noise / len(x) ** 0.5, f"{part} labels: noise mean {mean:.3f}, not 0"
    x_train, y_train, x_test, y_test = _data(target="sine", n_train=64, noise=0.0)
    assert torch.allclose(y_train, _sine(x_train), atol=1e-6) and torch.allclose(y_test, _sine(x_test), atol=1e-6)


def test_test_inputs_are_fresh_draws_from_the_whole_input_range():
    x_train, _, x_test, _ = _data(n_train=512)
    shared = set(x_train.flatten().tolist()) & set(x_test.flatten().tolist())
    assert not shared, f"{len(shared)} test inputs are training inputs: the test set leaks the training set"
    for part, x in (("train", x_train), ("test", x_test)):
        x = x.flatten()
        below = float((x < 0).double().mean())
        assert float(x.min()) < -0.95 and float(x.max()) > 0.95, f"{part} inputs do not span [-1, 1]"
        assert abs(below - 0.5) < 0.1, f"{part} inputs: {below:.2f} of them below 0, expected a half"


def test_data_repeat_with_the_seed_and_change_with_it():
    a, b, c = _data(0), _data(0), _data(1)
    assert all(torch.equal(u, v) for u, v in zip(a, b)), "the same seed gives different data"
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[2], c[2]), "seeds 0 and 1 give the same inputs"


def test_forward_is_one_hidden_relu_layer():
    gen = torch.Generator().manual_seed(0)
    w1, b1 = torch.randn(2, 1, 5, generator=gen), torch.randn(2, 1, 5, generator=gen)
    w2, b2 = torch.randn(2, 5, 1, generator=gen), torch.randn(2, 1, 1, generator=gen)
    x = torch.linspace(-1, 1, 7).view(1, 7, 1).expand(2, 7, 1)
    ref = torch.stack([torch.clamp(x[r] @ w1[r] + b1[r], min=0) @ w2[r] + b2[r] for r in range(2)])
    assert torch.allclose(experiment.forward([w1, b1, w2, b2], x), ref, atol=1e-6)


def test_the_relu_net_fits_a_curve_that_no_straight_line_fits():
    configs = [curvefit.Config(target="sine", noise=0.0, n_train=32, width=64, steps=300, num_logs=2, seed=s,
                               device="cpu") for s in range(2)]
    for run in curvefit.run_sweep(configs, progress=False):
        x, y = run.artifacts["x_train"], run.artifacts["y_train"]
        A = np.stack([x, np.ones_like(x)], 1)
        line = np.mean((A @ np.linalg.lstsq(A, y, rcond=None)[0] - y) ** 2)  # the best straight line
        fit = run.history["train_loss"][-1]
        assert fit < 0.1 * line, f"seed {run.config.seed}: trained loss {fit:.4f} vs best straight line {line:.4f}"


def test_initial_output_scale_does_not_grow_with_the_width():
    # PyTorch's default init, U(±1/sqrt(fan_in)), keeps E[f(x)²] at 2/27 + 1/(3·width) on x ~ U[-1, 1]:
    # E[relu(w1·x + b1)²] = 2/9 per hidden unit and width·(1/(3·width)) from the output layer. One step
    # of lr 1e-5 leaves y_fit (the net on a grid of [-1, 1]) at its initial function.
    for width in (16, 1024):
        configs = [curvefit.Config(width=width, steps=1, num_logs=2, lr=1e-5, seed=s, device="cpu")
                   for s in range(128)]
        runs = curvefit.run_sweep(configs, progress=False)
        got = float(np.mean([np.mean(r.artifacts["y_fit"] ** 2) for r in runs]))
        expected = 2 / 27 + 1 / (3 * width)
        # 128 nets: the mean of E[f²] has a relative standard error of about 12%
        assert abs(got / expected - 1) < 0.4, f"width {width}: initial E[f(x)²] = {got:.4f}, expected {expected:.4f}"


def test_reported_losses_are_means_over_points():
    # At initialisation train and test loss estimate the same expectation on 16 and 512 points: a loss
    # summed over points instead would differ by 512/16.
    runs = curvefit.run_sweep([curvefit.Config(n_train=16, steps=1, num_logs=2, lr=1e-5, seed=s, device="cpu")
                               for s in range(32)], progress=False)
    train = np.mean([r.history["train_loss"][0] for r in runs])
    test = np.mean([r.history["test_loss"][0] for r in runs])
    assert 0.7 < train / test < 1.4, f"initial train loss {train:.3f} vs test loss {test:.3f}"
    assert 0.3 < test < 1.5, f"initial test loss {test:.3f}: labels and untrained outputs have E[y²] < 1"


def test_weight_decay_pulls_the_fit_towards_zero():
    base = curvefit.Config(steps=300, num_logs=2, device="cpu")
    for optimizer, lr, wd in ((base.optimizer, 1e-2, 2.0), ("sgd", 0.1, 1.0)):
        sizes = {}
        for decay in (0.0, wd):
            configs = [base.replace(optimizer=optimizer, lr=lr, weight_decay=decay, seed=s) for s in range(4)]
            runs = curvefit.run_sweep(configs, progress=False)
            assert all(r.status == "completed" for r in runs), f"{optimizer}, decay {decay}: a run diverged"
            sizes[decay] = float(np.mean([np.mean(r.artifacts["y_fit"] ** 2) for r in runs]))
        assert sizes[wd] < 0.95 * sizes[0.0], f"{optimizer}: E[f²] with decay {wd} is {sizes[wd]:.3f}, " \
                                              f"without {sizes[0.0]:.3f}: decay did not shrink the fit"
