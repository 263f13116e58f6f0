"""A reader's actions never destroy a shipped result, and no wrong result is reported as right.

The shipped networks stay untouched by a reader's PFN run; the PFN's predictions refuse what they cannot
answer (non-finite inputs, another shape, a device this machine lacks) and warn outside the prior's range;
the LC-PFN takes epoch numbers; chapter 5's explorer offers only settings that run; the MCMC baseline
refuses configs that keep no sample.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from minilib import cache, pfn
from minilib.pfn import experiment, lc, shipped
from minilib.pfn.mcmc import MCMCConfig
from minilib.pfn.model import OutsidePriorWarning
from minilib.runs import ConfigError

SMALL = dict(steps=1, n_buckets=10, d_model=8, n_layers=1, n_heads=2, d_ff=8, batch_size=4, eval_datasets=8,
             num_logs=2, device="cpu")


def test_a_readers_run_of_the_shipped_config_leaves_results_alone(monkeypatch):
    """The chapter's model config, changed by .replace (as a reader does), once replaced results/pfn/gp.pt."""
    monkeypatch.setattr(experiment, "TABLE_DATASETS", 8)
    net = experiment.CHECKPOINT_DIR / "gp.pt"
    before = (net.read_bytes(), net.stat().st_mtime_ns) if net.exists() else None
    config = shipped.gp_model()[0].replace(**SMALL)
    assert config.checkpoint == "gp"
    run = cache.run_or_load(pfn, config, progress=False)
    _, predictor = pfn.fit(config, progress=False)
    assert run.status == "completed"
    after = (net.read_bytes(), net.stat().st_mtime_ns) if net.exists() else None
    assert after == before, "a reader's run wrote into results/pfn/gp.pt"
    saved = pfn.checkpoint_path(config)
    assert saved.is_relative_to(cache.cache_dir()) and pfn.load_checkpoint(saved).meta["steps"] == 1


# --- predictions -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gp_model():
    return pfn.load_pretrained("gp")


@pytest.fixture(scope="module")
def lc_model():
    return pfn.load_pretrained("lc")


@pytest.mark.parametrize("arg", ["x_train", "y_train", "x_test"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_raise_naming_the_argument(gp_model, arg, bad):
    data = {"x_train": [0.1, 0.5, 0.9], "y_train": [0.0, 1.0, 0.5], "x_test": [0.2, 0.7]}
    data[arg][1] = bad
    with pytest.raises(ValueError, match=rf"{arg} contains NaN or inf \(at index 1\)"):
        gp_model.predict(**data)


def test_misuse_gets_a_named_error_not_a_torch_one(gp_model):
    pred = gp_model.predict(torch.rand(5), torch.rand(5), torch.rand(3))
    with pytest.raises(ValueError, match="q='0.5' must be numbers"):
        pred.quantile("0.5")
    with pytest.raises(ValueError, match=r"q=\[1.5\] is out of range: allowed 0 <= q <= 1"):
        pred.quantile([1.5, 0.5, 0.5][:1])
    with pytest.raises(ValueError, match=r"y has shape \(4,\): give one number or one per query, shape \(3,\)"):
        pred.log_prob(torch.rand(4))
    with pytest.raises(ValueError, match=r"y has shape \(2,\)"):
        pred.cdf(torch.rand(2))
    with pytest.raises(ValueError, match="x_train has 5 points but y_train has 4"):
        gp_model.predict(torch.rand(5), torch.rand(4), torch.rand(3))
    with pytest.raises(ValueError, match="x_test=.0.3. must be numbers"):
        gp_model.predict(torch.rand(2), torch.rand(2), "0.3")


def test_an_absent_device_is_a_clear_error():
    absent = next((d for d in ("cuda", "mps") if d not in __import__("minilib").runtime.available_devices()), None)
    if absent is None:
        pytest.skip("every device is present here")
    with pytest.raises(ValueError, match=rf"device='{absent}' is not available on this machine"):
        pfn.load_pretrained("gp", device=absent)
    with pytest.raises(ValueError, match="device='tpu' is not a known device"):
        pfn.load_pretrained("gp", device="tpu")


def test_quantile_ends_are_infinite_for_every_query(gp_model):
    gen = torch.Generator().manual_seed(0)
    for n in (0, 1, 5, 20):
        x, y = pfn.sample_gp(1, n + 50, gen)
        pred = gp_model.predict(x[0, :n, 0], y[0, :n], x[0, n:, 0])
        assert torch.all(pred.quantile(1.0) == math.inf), pred.quantile(1.0)
        assert torch.all(pred.quantile(0.0) == -math.inf)
        assert torch.all(torch.isfinite(pred.quantile(0.999)))


def test_x_outside_the_prior_warns(gp_model):
    with pytest.warns(OutsidePriorWarning, match=r"x_train has 3 value\(s\) outside \[0, 1\], the x range"):
        gp_model.predict(torch.linspace(10, 11, 3), torch.zeros(3), torch.rand(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gp_model.predict(torch.rand(3), torch.zeros(3), torch.rand(2))


def test_the_lc_pfn_takes_epoch_numbers(lc_model):
    """The authors' lcpfn and the learning-curve literature pass epochs 1..100; the network sees epoch / 100."""
    curves = lc.test_curves(5).y.float()
    epochs = torch.arange(1, lc.EPOCHS + 1)
    by_epoch = np.array([float(lc_model.predict(epochs[:20], y[:20], epochs[20:]).log_prob(y[20:]).mean())
                         for y in curves])
    np.testing.assert_allclose(by_epoch, lc.heldout_pfn(lc_model, curves, 20), rtol=1e-5, atol=1e-5)
    assert by_epoch.mean() > 1.5  # +2.2 measured on these curves; epochs taken as x gave -3.2
    with pytest.warns(OutsidePriorWarning, match=r"outside \[1, 100\], the epoch range"):
        lc_model.predict(epochs[:20] / 100, curves[0, :20], epochs[20:] / 100)
    with pytest.warns(OutsidePriorWarning, match="x_test"):
        lc_model.predict(epochs[:20], curves[0, :20], torch.tensor([150.0]))


# --- chapter 5's training explorer: every position of every control is a valid run --------------------------
def _positions(control):
    kind = type(control).__name__
    if hasattr(control, "options") and control.options:
        return [o[1] if isinstance(o, tuple) else o for o in control.options]
    if kind == "Checkbox":
        return [False, True]
    if kind == "IntSlider":
        return list(range(control.min, control.max + 1, control.step))
    if kind == "FloatLogSlider":
        n = round((control.max - control.min) / control.step)
        return [control.base ** (control.min + k * control.step) for k in range(n + 1)]
    if kind == "FloatSlider":
        n = round((control.max - control.min) / control.step)
        return [control.min + k * control.step for k in range(n + 1)]
    raise AssertionError(f"unknown control {kind}")


EXPLORER_BASE = pfn.Config(steps=300, n_buckets=200, eval_datasets=64, num_logs=16)  # nbs/05_pfn.py's explorer
EXPLORER_FIELDS = ["prior", "lengthscale", "noise", "n_buckets", "d_model", "n_layers", "batch_size", "steps", "lr",
                   "seed"]


def test_every_position_of_the_pfn_explorer_is_a_valid_config():
    from minilib.controls import control_for

    specs = {s.name: s for s in pfn.Config.field_specs()}
    refused = []
    for prior in ("gp", "gp_hyper", "lc"):
        base = EXPLORER_BASE.replace(prior=prior)
        for field in EXPLORER_FIELDS:
            for value in _positions(control_for(specs[field], getattr(EXPLORER_BASE, field))):
                try:
                    config = base.replace(**{field: value})
                    pfn.prior_for(config.prior).sampler(config)
                except (ConfigError, ValueError) as err:
                    refused.append(f"{prior} {field}={value}: {err}")
    assert not refused, f"{len(refused)} positions refused, e.g. {refused[:3]}"


def test_the_lc_prior_runs_with_the_explorers_seq_len():
    run = pfn.run(EXPLORER_BASE.replace(prior="lc", steps=2, num_logs=2, n_buckets=20, d_model=10, n_layers=1,
                                        batch_size=4, eval_datasets=8), progress=False)
    assert run.status == "completed" and np.isfinite(run.history["eval_nll"]).all()


def test_any_width_works_with_any_head_count():
    for d_model, n_heads in ((10, 4), (8, 3), (4, 16), (64, 4)):
        model = pfn.PFN(n_buckets=5, d_model=d_model, n_layers=1, n_heads=n_heads, d_ff=8)
        out = model(torch.rand(2, 3, 1), torch.rand(2, 3), torch.rand(2, 4, 1))
        assert out.shape == (2, 4, 5) and torch.isfinite(out).all()
    # where the heads divide the width, the network is the usual one (the shipped checkpoints load)
    assert pfn.load_pretrained("gp").model.blocks[0].qkv.weight.shape == (3 * 64, 64)


# --- the MCMC baseline's config ------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    (dict(steps=100, burn=50, thin=60), r"thin=60 keeps no sample: it must be at most steps − burn = 50"),
    (dict(cuts=(10, 10, 20)), r"names the cut\(s\) \[10\] more than once"),
])
def test_mcmc_configs_that_keep_no_sample_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        MCMCConfig(**changes)
    MCMCConfig(steps=100, burn=50, thin=50)  # one kept step per walker: allowed


# --- sizes that cannot fit are refused before they start, with the estimate ----------------------------------
def test_a_pfn_run_larger_than_the_machine_is_refused_with_its_estimate(monkeypatch):
    from minilib.pfn import train as pfn_train

    monkeypatch.setattr(pfn_train, "available_bytes", lambda device: 2**30)
    with pytest.raises(ValueError, match=r"needs about [0-9.]+ GiB for one training step .*seq_len=2000.*"
                                         r"has 1.0 GiB available"):
        pfn.run(pfn.Config(seq_len=2000, steps=1, device="cpu"), progress=False)
    pfn.run(pfn.Config(**SMALL, seq_len=8), progress=False)  # a small one still runs


def test_an_mcmc_run_larger_than_the_machine_is_refused(monkeypatch):
    from minilib.pfn import mcmc
    from minilib.pfn import train as pfn_train

    monkeypatch.setattr(pfn_train, "available_bytes", lambda device: 2**30)
    with pytest.raises(ConfigError, match=r"steps=10000000.*needs about [0-9.]+ GiB"):
        mcmc.run_sweep(pfn, [MCMCConfig(steps=10_000_000, burn=0)], processes=1)


def test_the_network_overflowing_is_an_error_not_nan(gp_model):
    with pytest.raises(ValueError, match=r"output overflowed .*x_test reaches"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutsidePriorWarning)
            gp_model.predict([], [], [5.9e19])
