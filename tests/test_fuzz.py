"""Property-based fuzzing of every phenomenon module's Config, run and (for the PFN) predict.

- Config: any value of any type in any field ends in a valid config or a ConfigError naming the field.
- run: tiny runs with fuzzed learning rates, seeds and optimisers end "completed" with a finite loss, or
  "diverged" (never a NaN reported as a completed result).
- predict: any inputs to a PFN give finite predictions or a ValueError naming the argument.
- misuse: a dict or another chapter's Config for a module, a non-flag `stop`: a TypeError naming it.

Sizes are tiny and examples few: each module takes seconds.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minilib import cache, phenomenon
from minilib.runs import STATUSES, ConfigError

MODULES = {phenomenon.short_name(m): m for m in phenomenon.phenomena()}
# derandomize: the same examples on every run of the suite (a failure is reproducible, never flaky)
FAST = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
RUNS = settings(max_examples=6, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

ANY = st.one_of(st.none(), st.booleans(), st.text(max_size=6), st.integers(-10**15, 10**15),
                st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e3, 1e3),
                st.lists(st.floats(allow_nan=True), max_size=3), st.just(-0.0), st.just(2**63))


def _config_classes():
    from minilib.pfn.mcmc import MCMCConfig

    return [(name, m.Config) for name, m in MODULES.items()] + [("pfn-mcmc", MCMCConfig)]


@pytest.mark.parametrize("name, cls", _config_classes(), ids=[n for n, _ in _config_classes()])
@FAST
@given(data=st.data())
def test_any_field_value_is_accepted_valid_or_refused_by_name(name, cls, data):
    field = data.draw(st.sampled_from([s.name for s in cls.field_specs()]), label="field")
    value = data.draw(ANY, label="value")
    try:
        config = cls().replace(**{field: value})
    except ConfigError as err:
        assert field in str(err), f"{cls.__name__}.{field}={value!r}: the message does not name it: {err}"
        return
    # accepted: the stored value passes validation again and keys like an equal config's
    again = cls.from_dict(config.to_dict())
    assert again == config and again.key() == config.key()


def _tiny(name):
    m = MODULES[name]
    if name == "curvefit":
        return m.Config(n_train=8, width=4, steps=12, num_logs=3, device="cpu")
    if name == "grokking":
        return m.Config(modulus=11, train_fraction=0.5, width=16, epochs=12, num_logs=3, device="cpu")
    if name == "benign":
        return m.Config(dim=50, n_train=8, n_test=16, width=4, steps=4, device="cpu")
    if name == "opposing":
        return m.Config(n=40, dim=4, width=4, steps=12, sharpness_every=6, device="cpu")
    if name == "projection":
        return m.Config(steps=12, num_logs=3, probe_trials=1, device="cpu")
    if name == "pfn":
        return m.Config(steps=6, n_buckets=10, d_model=8, n_layers=1, n_heads=2, d_ff=8, batch_size=4, seq_len=8,
                        eval_datasets=8, num_logs=3, device="cpu")
    raise AssertionError(f"no tiny config for {name}: add one")


def _watched(run):
    return next((k for k in ("train_loss", "loss") if k in run.history), None)


@pytest.mark.parametrize("name", list(MODULES))
@RUNS
@given(data=st.data())
def test_a_run_is_completed_with_a_finite_loss_or_reported_diverged(name, data, monkeypatch):
    if name == "pfn":
        from minilib.pfn import experiment

        monkeypatch.setattr(experiment, "TABLE_DATASETS", 8)
    base = _tiny(name)
    specs = {s.name: s for s in type(base).field_specs()}
    changes = {"seed": data.draw(st.integers(0, 2**20), label="seed")}
    if "lr" in specs:
        spec = specs["lr"]
        changes["lr"] = data.draw(st.floats(spec.low, spec.high, allow_nan=False).filter(lambda v: v > 0), label="lr")
    if "optimizer" in specs and specs["optimizer"].choices:
        changes["optimizer"] = data.draw(st.sampled_from(specs["optimizer"].choices), label="optimizer")
    try:
        config = base.replace(**changes)
    except ConfigError as err:  # a joint constraint (e.g. an optimiser's lr range): named, so fine
        assert any(k in str(err) for k in changes), err
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = MODULES[name].run(config, progress=False)
    assert run.status in STATUSES
    metric = _watched(run)
    if metric is not None and run.status == "completed":
        final = np.asarray(run.history[metric][-1], dtype=float)
        assert np.isfinite(final).all(), f"{config}: completed with {metric} = {final}"
    if run.status == "diverged":
        assert run.diverged_at is not None


@pytest.fixture(scope="module")
def gp_predictor():
    from minilib import pfn

    return pfn.load_pretrained("gp")


NUMBERS = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FAST
@given(n=st.integers(0, 6), m=st.integers(1, 4), data=st.data())
def test_predict_is_finite_or_names_the_bad_argument(gp_predictor, n, m, data):
    from minilib.pfn.model import OutsidePriorWarning

    x_train = data.draw(st.lists(NUMBERS, min_size=n, max_size=n), label="x_train")
    y_train = data.draw(st.lists(NUMBERS, min_size=data.draw(st.sampled_from([n, n, n + 1])),
                                 max_size=n + 1), label="y_train")
    x_test = data.draw(st.lists(NUMBERS, min_size=m, max_size=m), label="x_test")
    q = data.draw(st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.lists(st.floats(0, 1), max_size=5)),
                  label="q")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutsidePriorWarning)
            pred = gp_predictor.predict(x_train, y_train, x_test)
    except ValueError as err:
        assert any(a in str(err) for a in ("x_train", "y_train", "x_test")), err
        return
    assert torch.isfinite(pred.mean()).all() and torch.isfinite(pred.variance()).all()
    assert torch.isfinite(pred.log_prob(pred.mean())).all()
    try:
        values = pred.quantile(q)
    except ValueError as err:
        assert "q" in str(err), err
        return
    qs = torch.broadcast_to(torch.as_tensor(q, dtype=torch.float32), values.shape)
    assert not torch.isnan(values).any()
    assert torch.all(torch.isfinite(values) | (qs < 1e-6) | (qs > 1 - 1e-6))  # float32 reaches ±inf beyond
    assert torch.all(values[qs == 1] == math.inf) and torch.all(values[qs == 0] == -math.inf)


@pytest.mark.parametrize("name", list(MODULES))
def test_misuse_is_a_named_type_error(name):
    module = MODULES[name]
    config = _tiny(name)
    other = next(m for n, m in MODULES.items() if n != name).Config()
    with pytest.raises(TypeError, match="config must be a"):
        cache.run_or_load(module, config.to_dict())
    with pytest.raises(TypeError, match="config must be a"):
        cache.run_or_load(module, other)
    with pytest.raises(TypeError, match="stop=True must be None or have an is_set"):
        module.run(config, stop=True, progress=False)


def test_negative_zero_is_zero_in_every_float_field():
    for _, cls in _config_classes():
        for spec in cls.field_specs():
            if spec.type is float and (spec.low is None or spec.low <= 0 <= (spec.high or math.inf)):
                try:
                    a, b = cls().replace(**{spec.name: 0.0}), cls().replace(**{spec.name: -0.0})
                except ConfigError:
                    continue
                assert a == b and a.key() == b.key(), (cls.__name__, spec.name)
