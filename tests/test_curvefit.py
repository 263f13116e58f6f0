import numpy as np
import pytest

from minilib import curvefit
from minilib.curvefit import experiment
from minilib.runs import ConfigError

TINY = curvefit.Config(n_train=16, width=16, steps=200, num_logs=5, device="cpu")


def test_same_seed_same_history():
    a, b = curvefit.run(TINY, progress=False), curvefit.run(TINY, progress=False)
    for k in a.history:
        np.testing.assert_array_equal(a.history[k], b.history[k])
    c = curvefit.run(TINY.replace(seed=1), progress=False)
    assert not np.array_equal(a.history["train_loss"], c.history["train_loss"])


def test_a_stacked_group_refuses_mixed_shapes():
    with pytest.raises(ValueError, match=r"these fields differ: \['width'\]"):
        experiment._train([TINY, TINY.replace(width=8)], None, None, False)


def test_training_reduces_loss_and_records_fit():
    run = curvefit.run(TINY, progress=False)
    assert run.history["train_loss"][-1] < 0.5 * run.history["train_loss"][0]
    assert run.artifacts["y_fit"].shape == run.artifacts["x_grid"].shape == (200,)


def test_silly_learning_rate_diverges_cleanly():
    run = curvefit.run(TINY.replace(optimizer="sgd", lr=10.0), progress=False)
    assert run.status == "diverged" and 0 <= run.diverged_at < 200


def test_one_diverging_member_of_a_batch_is_marked():
    runs = curvefit.run_sweep([TINY.replace(optimizer="sgd", lr=0.05),
                               TINY.replace(optimizer="sgd", lr=10.0)], progress=False)
    assert runs[0].status == "completed" and runs[1].status == "diverged"


@pytest.mark.parametrize("kwargs, pattern", [
    ({"width": 0}, r"width=0 is out of range: allowed 1 <= width <= 8192"),
    ({"target": "cubic"}, r"target='cubic' is not allowed: one of 'sine', 'step', 'abs'"),
    ({"lr": -1.0}, r"lr=-1\.0 is out of range"),
    ({"steps": 10, "num_logs": 50}, r"num_logs=50 is out of range: allowed 2 <= num_logs <= steps \+ 1 = 11"),
])
def test_bad_configs(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        curvefit.Config(**kwargs)


def test_stop_keeps_partial_history():
    import threading

    stop = threading.Event()
    run = curvefit.run(TINY.replace(steps=5000, num_logs=50), progress=False,
                       on_step=lambda s, m: stop.set() if s >= 200 else None, stop=stop)
    assert run.status == "stopped" and run.history["step"][-1] < 5000


def test_explorer_drives_the_real_module_headlessly():
    from minilib import widgets

    ex = widgets.explorer(curvefit, TINY, fields=["width", "lr", "optimizer", "steps"])
    ex.controls["width"].value = 8
    ex.start()
    run = ex.wait(timeout=60)
    assert run is not None and run.config.width == 8 and run.status == "completed"
    trace = next(t for t in ex.figure.data if t.meta == "train_loss")
    np.testing.assert_allclose(trace.y, run.history["train_loss"], rtol=1e-6)
    ex.controls["optimizer"].value = "sgd"
    ex.controls["lr"].value = 10.0
    ex.start()
    ex.wait(timeout=60)
    assert ex.message.startswith("diverged: the loss became NaN/inf at training step")
