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
    with cache.shipping():
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
    with pytest.raises(cache.MissingResultError, match=r"missing from .*curvefit.*`python -m minilib precompute"):
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


# --- shipped results are never overwritten, never retrained silently ---------------------------------------
def _ship(run, root):
    with cache.shipping():
        return cache.store(curvefit, run, root)


def test_only_precompute_writes_into_results(no_shipped):
    run = curvefit.run(TINY, progress=False)
    with pytest.raises(cache.ShippedWriteError, match="only `python -m minilib precompute` writes"):
        cache.store(curvefit, run, no_shipped)
    assert not no_shipped.exists()
    assert _ship(run, no_shipped).exists()


def test_a_cache_inside_results_is_refused_and_the_run_kept(no_shipped, monkeypatch):
    monkeypatch.setenv("MINILIB_CACHE", str(no_shipped))
    with pytest.warns(cache.CacheWriteWarning, match="could not be stored"):
        run = cache.run_or_load(curvefit, TINY, progress=False)
    assert run.status == "completed" and not no_shipped.exists()


@pytest.mark.parametrize("damage", ["truncate", "stale", "header"])
def test_a_damaged_or_stale_shipped_result_raises_at_once_with_the_command(no_shipped, monkeypatch, damage):
    run = curvefit.run(TINY, progress=False)
    path = _ship(run, no_shipped)
    with cache.shipping():
        cache.record_checksums(path.parent, [path.name])
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "stale":
        other = curvefit.run(TINY.replace(seed=5), progress=False)
        other.meta["code_version"] = curvefit.CODE_VERSION
        other.save(path)  # right place, another config's run
    else:  # an edited header in a file saved without a header checksum: only the manifest can tell
        from minilib import runs

        monkeypatch.setattr(runs, "_header_checksum", lambda header: "x")
        run.status = "diverged"
        run.save(path)
        monkeypatch.undo()
        monkeypatch.setattr(cache, "RESULTS_DIR", no_shipped)
    monkeypatch.setattr(curvefit, "run", lambda *a, **k: pytest.fail("must not retrain"))
    word = "stale" if damage == "stale" else "damaged"
    with pytest.raises(cache.DamagedResultError, match=rf"{word}.*restore it with `python -m minilib precompute"):
        cache.run_or_load(curvefit, TINY, shipped=True)
    with pytest.raises(cache.DamagedResultError, match=word):
        cache.run_or_load(curvefit, TINY)  # without shipped=True as well


def test_git_checkout_is_the_command_when_git_holds_the_file(tmp_path, monkeypatch):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    monkeypatch.setattr(cache, "RESULTS_DIR", repo / "results")
    path = _ship(curvefit.run(TINY, progress=False), repo / "results")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "r"], check=True)
    rel = path.relative_to(repo).as_posix()
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(cache.DamagedResultError, match=f"damaged.*`git checkout -- {rel}`"):
        cache.run_or_load(curvefit, TINY, shipped=True)
    path.unlink()
    monkeypatch.setenv("MINILIB_REQUIRE_RESULTS", "1")
    with pytest.raises(cache.MissingResultError, match=f"`git checkout -- {rel}`"):
        cache.run_or_load(curvefit, TINY, shipped=True)


def test_a_missing_config_of_a_shipped_entry_warns_without_shipped_true(no_shipped, monkeypatch):
    from minilib import runtime
    from minilib.phenomenon import Shipped, Tolerance

    monkeypatch.setattr(curvefit, "SHIPPED", {"tiny": Shipped(lambda: [TINY], "tiny", Tolerance(steps=2, rtol=0.1))})
    monkeypatch.delenv("MINILIB_REQUIRE_RESULTS", raising=False)
    monkeypatch.setattr(runtime, "FAST", False)
    with pytest.warns(cache.StaleResultWarning, match=r"missing.*precompute curvefit --only tiny.*training them now"):
        cache.run_or_load(curvefit, TINY, progress=False)
    cache.entry_path(curvefit, TINY).unlink()  # the user cache's copy: the shipped one is still missing
    with pytest.warns(cache.StaleResultWarning, match=r"1 result\(s\).*--only tiny"):
        cache.run_or_load_many(curvefit, [TINY, TINY.replace(seed=7)], progress=False)


@pytest.mark.parametrize("where", ["read-only", "under a file"])
def test_an_unwritable_cache_warns_and_returns_the_run(tmp_path, monkeypatch, where, no_shipped):
    import os

    if where == "read-only":
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):  # root ignores permissions
            folder = tmp_path / "file" / "below"
            (tmp_path / "file").write_text("a file, not a folder")
    else:
        (tmp_path / "file").write_text("a file, not a folder")
        folder = tmp_path / "file" / "below"
    monkeypatch.setenv("MINILIB_CACHE", str(folder))
    with pytest.warns(cache.CacheWriteWarning, match="returned unsaved"):
        run = cache.run_or_load(curvefit, TINY, progress=False)
    assert run.status == "completed"
    with pytest.warns(cache.CacheWriteWarning):
        runs = cache.run_or_load_many(curvefit, [TINY, TINY.replace(seed=2)], progress=False)
    assert [r.status for r in runs] == ["completed", "completed"]


def test_negative_zero_gives_the_same_key():
    a, b = TINY.replace(weight_decay=0.0), TINY.replace(weight_decay=-0.0)
    assert a == b and cache.entry_key(curvefit, a) == cache.entry_key(curvefit, b)


def test_concurrent_checksum_records_keep_every_entry(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(cache, "RESULTS_DIR", tmp_path)
    folder = tmp_path / "curvefit"
    folder.mkdir()
    names = [f"{i}.npz" for i in range(12)]
    for n in names:
        (folder / n).write_bytes(n.encode())

    def record(name):
        with cache.shipping():
            for _ in range(5):
                cache.record_checksums(folder, [name])

    threads = [threading.Thread(target=record, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(cache.read_manifest(folder)) == sorted(names)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names + [cache.MANIFEST])  # no lock file left
