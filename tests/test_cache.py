import multiprocessing as mp
import warnings

import pytest

from minilib import cache, curvefit
from minilib.runs import Run

TINY = curvefit.Config(n_train=8, width=4, steps=30, num_logs=4, device="cpu")


@pytest.fixture
def no_shipped(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "RESULTS_DIR", tmp_path / "shipped")
    return tmp_path / "shipped"


def test_miss_trains_and_stores_then_hits(no_shipped, monkeypatch):
    first = cache.run_or_load(curvefit, TINY, progress=False)
    path = cache.entry_path(curvefit, TINY)
    assert path.exists()
    calls = []
    monkeypatch.setattr(curvefit, "run", lambda *a, **k: calls.append(1))
    again = cache.run_or_load(curvefit, TINY, progress=False)
    assert calls == [] and again.final("test_loss") == first.final("test_loss")


def test_shipped_results_come_first(no_shipped, monkeypatch):
    run = curvefit.run(TINY, progress=False)
    run.meta["marker"] = "shipped"
    cache.store(curvefit, run, no_shipped)
    monkeypatch.setattr(curvefit, "run", lambda *a, **k: pytest.fail("should not train"))
    assert cache.run_or_load(curvefit, TINY).meta["marker"] == "shipped"


def test_key_depends_on_config_and_code_version(monkeypatch):
    k = cache.entry_key(curvefit, TINY)
    assert k == cache.entry_key(curvefit, curvefit.Config.from_dict(TINY.to_dict()))
    assert k != cache.entry_key(curvefit, TINY.replace(seed=1))
    monkeypatch.setattr(curvefit, "CODE_VERSION", curvefit.CODE_VERSION + 1)
    assert k != cache.entry_key(curvefit, TINY)


def test_corrupt_entry_is_reported_and_recomputed(no_shipped):
    cache.run_or_load(curvefit, TINY, progress=False)
    path = cache.entry_path(curvefit, TINY)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(cache.StaleResultWarning, match="damaged"):
        run = cache.run_or_load(curvefit, TINY, progress=False)
    assert run.status == "completed"
    Run.load(path)  # rewritten whole


def test_stale_entry_is_recomputed(no_shipped):
    other = curvefit.run(TINY.replace(seed=5), progress=False)
    other.meta["code_version"] = curvefit.CODE_VERSION
    other.save(cache.entry_path(curvefit, TINY))  # right place, wrong content
    with pytest.warns(cache.StaleResultWarning, match="stale"):
        run = cache.run_or_load(curvefit, TINY, progress=False)
    assert run.config == TINY


def test_stopped_runs_are_not_stored(no_shipped):
    run = curvefit.run(TINY, progress=False)
    run.status = "stopped"
    with pytest.raises(ValueError, match="stopped"):
        cache.store(curvefit, run)


def test_run_or_load_many_batches_misses(no_shipped, monkeypatch):
    cfgs = [TINY.replace(seed=s) for s in range(3)]
    cache.run_or_load(curvefit, cfgs[1], progress=False)
    batches = []
    real = curvefit.run_sweep
    monkeypatch.setattr(curvefit, "run_sweep", lambda c, **k: batches.append(len(c)) or real(c, **k))
    runs = cache.run_or_load_many(curvefit, cfgs, progress=False)
    assert batches == [2] and [r.config.seed for r in runs] == [0, 1, 2]


def _writer(args):
    root, seed = args
    run = curvefit.run(TINY, progress=False)
    run.meta["writer"] = seed
    for _ in range(15):
        cache.store(curvefit, run, root)
    return seed


def test_concurrent_writers_never_leave_a_broken_file(tmp_path):
    root = tmp_path / "shared"
    path = cache.entry_path(curvefit, TINY, root)
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        pending = pool.map_async(_writer, [(root, s) for s in range(3)])
        reads = 0
        while not pending.ready():
            if path.exists():
                Run.load(path)  # must never see a half-written file
                reads += 1
        assert sorted(pending.get()) == [0, 1, 2]
    assert reads > 0, "the reader never saw the file while the writers ran: the test checked nothing"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Run.load(path).meta["writer"] in (0, 1, 2)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_missing_shipped_result_is_refused_when_required(no_shipped, monkeypatch):
    monkeypatch.setenv("MINILIB_REQUIRE_RESULTS", "1")
    monkeypatch.setattr(curvefit, "run", lambda *a, **k: pytest.fail("should not train"))
    with pytest.raises(cache.MissingResultError, match=r"missing from .*curvefit.*make precompute"):
        cache.run_or_load(curvefit, TINY, shipped=True)
    with pytest.raises(cache.MissingResultError, match="2 result"):
        cache.run_or_load_many(curvefit, [TINY, TINY.replace(seed=3)], shipped=True)


def test_fast_mode_never_trains_a_missing_shipped_result(no_shipped, monkeypatch):
    from minilib import runtime

    monkeypatch.delenv("MINILIB_REQUIRE_RESULTS", raising=False)
    monkeypatch.setattr(runtime, "FAST", True)
    monkeypatch.setattr(curvefit, "run", lambda *a, **k: pytest.fail("should not train"))
    with pytest.raises(cache.MissingResultError, match=r"fast mode \(MINILIB_FAST=1\) never trains"):
        cache.run_or_load(curvefit, TINY, shipped=True)


def test_missing_shipped_result_warns_then_trains(no_shipped, monkeypatch):
    from minilib import runtime

    monkeypatch.delenv("MINILIB_REQUIRE_RESULTS", raising=False)
    monkeypatch.setattr(runtime, "FAST", False)
    with pytest.warns(cache.StaleResultWarning, match="training them now"):
        run = cache.run_or_load(curvefit, TINY, shipped=True, progress=False)
    assert run.status == "completed"
