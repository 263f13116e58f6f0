import threading

import numpy as np
import pytest
import torch

from minilib import train as train_mod
from minilib.train import log_steps, train


def test_log_steps_every_and_spaced():
    np.testing.assert_array_equal(log_steps(10, every=4), [0, 4, 8, 10])
    s = log_steps(1000, num_points=20, log=True)
    assert s[0] == 0 and s[-1] == 1000 and np.all(np.diff(s) > 0)
    assert s[1] == 1 and len(s) <= 20
    lin = log_steps(100, num_points=11)
    np.testing.assert_array_equal(lin, np.arange(0, 101, 10))


@pytest.mark.parametrize("kwargs, pattern", [
    ({"num_steps": -1}, "num_steps=-1"), ({"num_steps": 5, "every": 0}, "every=0"),
    ({"num_steps": 5, "num_points": 1}, "num_points=1"),
])
def test_log_steps_rejects(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        log_steps(**kwargs)


def _quadratic(lr=0.1, n=1):
    """Gradient descent on 0.5*||w||^2 for n replicas: w shrinks by (1 - lr) per step."""
    w = torch.ones(n, requires_grad=True)

    def step(i):
        loss = 0.5 * w**2
        loss.sum().backward()
        with torch.no_grad():
            w.sub_(lr * w.grad)
            w.grad = None
        return loss.detach()

    def evaluate():
        return {"w": w.detach().numpy().copy() if n > 1 else float(w.detach()[0])}

    return w, step, evaluate


def test_history_matches_closed_form():
    _, step, evaluate = _quadratic(lr=0.1)
    log = train(step, 30, evaluate=evaluate, log_at=log_steps(30, every=10), progress=False)
    assert log.status == "completed" and log.diverged_at is None
    np.testing.assert_array_equal(log.history["step"], [0, 10, 20, 30])
    np.testing.assert_allclose(log.history["w"], 0.9 ** np.array([0, 10, 20, 30]), rtol=1e-5)


def test_on_step_called_at_each_log():
    seen = []
    _, step, evaluate = _quadratic()
    train(step, 20, evaluate=evaluate, log_at=[0, 5, 20], on_step=lambda s, m: seen.append((s, m["step"])),
          progress=False)
    assert seen == [(0, 0), (5, 5), (20, 20)]


def test_stop_event_keeps_history_so_far():
    stop = threading.Event()
    _, step, evaluate = _quadratic()

    def on_step(s, m):
        if s == 40:
            stop.set()

    log = train(step, 1000, evaluate=evaluate, log_at=log_steps(1000, every=20), on_step=on_step, stop=stop,
                progress=False)
    assert log.status == "stopped"
    np.testing.assert_array_equal(log.history["step"], [0, 20, 40])


@pytest.mark.parametrize("blow_up_at", [3, 77, 149])
def test_divergence_reports_exact_step(blow_up_at):
    w = torch.ones(1)

    def step(i):
        if i >= blow_up_at:
            w.fill_(float("inf"))
        return (w * 0 + w).sum() - w.sum() if i >= blow_up_at else w.sum()

    log = train(step, 1000, evaluate=lambda: {"w": float(w[0])}, log_at=log_steps(1000, every=100),
                progress=False)
    assert log.status == "diverged" and log.diverged_at == blow_up_at
    assert log.history["step"][-1] <= blow_up_at + train_mod.GUARD_EVERY
    assert not np.isfinite(log.history["w"][-1])


def test_batched_replicas_only_diverge_when_all_do():
    w, step, evaluate = _quadratic(lr=0.1, n=2)

    def half_bad(i):
        out = step(i)
        return torch.stack([out[0], torch.tensor(float("nan"))])

    log = train(half_bad, 60, evaluate=evaluate, log_at=[0, 60], progress=False)
    assert log.status == "completed"
    assert log.history["w"].shape == (2, 2)
    assert log.replica_diverged_at == [None, 0]
    hist, status, at = log.replica(0)
    assert status == "completed" and at is None and hist["w"].shape == (2,)
    assert log.replica(1)[1:] == ("diverged", 0)


def test_float_losses_are_guarded_too():
    log = train(lambda i: float("nan") if i == 4 else 1.0, 20, evaluate=lambda: {}, log_at=[0, 20],
                progress=False)
    assert log.status == "diverged" and log.diverged_at == 4


def _blows_up_in_last_update(n_steps, replicas=1, which=None):
    """A loss finite before every update, whose last update sends the weights (of `which` replicas) to inf."""
    w = torch.ones(replicas, dtype=torch.float64)
    which = list(range(replicas)) if which is None else which

    def step(i):
        loss = 0.5 * w**2
        if i == n_steps - 1:
            w[which] = float("inf")
        return loss

    return step, lambda: {"train_loss": (0.5 * w**2).numpy().copy()}


def test_a_divergence_in_the_last_update_is_not_reported_completed():
    step, evaluate = _blows_up_in_last_update(5)
    log = train(step, 5, evaluate=evaluate, log_at=[0, 5], progress=False)
    assert (log.status, log.diverged_at) == ("diverged", 5)


def test_the_last_update_is_judged_per_replica():
    step, evaluate = _blows_up_in_last_update(4, replicas=3, which=[1])
    log = train(step, 4, evaluate=evaluate, log_at=[0, 4], progress=False)
    assert log.status == "completed" and log.replica_diverged_at == [None, 4, None]
    assert log.replica(1)[1:] == ("diverged", 4) and log.replica(0)[1] == "completed"


def test_a_module_whose_last_update_diverges_says_so():
    from minilib import curvefit

    run = curvefit.run(curvefit.Config(optimizer="sgd", lr=10.0, steps=13, num_logs=2, n_train=16, width=8),
                       progress=False)
    assert run.status == "diverged" and run.diverged_at == 13, (run.status, run.history["train_loss"])
