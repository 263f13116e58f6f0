"""python -m minilib precompute: regenerate, --list and --check, on a tiny shipped entry in a temp results/."""

import numpy as np
import pytest

from minilib import cache, grokking, precompute
from minilib.checks import Tolerance
from minilib.phenomenon import Shipped

TINY = [grokking.Config(modulus=11, train_fraction=0.5, width=16, epochs=12, num_logs=4, seed=s, device="cpu")
        for s in (0, 1)]


@pytest.fixture
def tiny_results(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "RESULTS_DIR", tmp_path / "results")
    tiny = Shipped(lambda: TINY, "two tiny runs", Tolerance(steps=4, rtol=1e-3))
    monkeypatch.setattr(grokking, "SHIPPED", {"tiny": tiny})
    return tmp_path / "results"


def test_regenerate_stores_loadable_results_and_check_passes(tiny_results, capsys):
    assert precompute.main(["precompute", "grokking", "--check"]) == 1
    assert "tiny: " in capsys.readouterr().out
    assert precompute.main(["precompute", "1", "--only", "tiny", "--no-progress"]) == 0
    assert "tiny: 2 run(s) of up to 12 steps" in capsys.readouterr().out
    loaded = [cache.lookup(grokking, c, shipped_only=True) for c in TINY]
    assert all(r is not None and r.status == "completed" for r in loaded)
    assert loaded[1].config == TINY[1] and loaded[1].history["step"][-1] == 12
    assert precompute.main(["precompute", "grokking", "--check"]) == 0
    assert "all 2 shipped result(s) of 1 chapter(s) exist and load" in capsys.readouterr().out


def test_list_names_the_command_and_the_recorded_cost(tiny_results, capsys):
    precompute.main(["precompute", "grokking", "--only", "tiny", "--no-progress"])
    capsys.readouterr()
    assert precompute.main(["precompute", "grokking", "--list"]) == 0
    out = capsys.readouterr().out
    assert "tiny: two tiny runs" in out and "2 run(s), ok; recorded cost" in out and "cpu, 1 thread(s)" in out
    assert "regenerate: python -m minilib precompute grokking --only tiny" in out


def test_check_reports_damaged_stale_and_orphan_files(tiny_results, capsys):
    precompute.main(["precompute", "grokking", "--only", "tiny", "--no-progress"])
    first = cache.entry_path(grokking, TINY[0], tiny_results)
    first.write_bytes(first.read_bytes()[:100])
    (tiny_results / "grokking" / "0123456789abcdef0123.npz").write_bytes(b"")
    capsys.readouterr()
    assert precompute.main(["precompute", "grokking", "--check"]) == 1
    out = capsys.readouterr().out
    assert "damaged" in out and "belongs to no shipped entry" in out
    assert "-> python -m minilib precompute grokking --only tiny" in out


def test_bad_arguments_name_what_is_allowed(tiny_results, capsys):
    with pytest.raises(SystemExit):
        precompute.main(["precompute", "grokking", "--only", "nope"])
    assert "unknown entries ['nope'] for grokking: choose from tiny" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        precompute.main(["precompute", "chapter9"])
    assert "no chapter 'chapter9'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        precompute.main(["precompute", "--only", "tiny"])
    assert "--only needs exactly one chapter" in capsys.readouterr().err


def test_the_module_alias_still_works(tiny_results, capsys, monkeypatch):
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", ["minilib.grokking", "precompute", "--only", "tiny", "--no-progress"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("minilib.grokking", run_name="__main__")
    assert done.value.code == 0
    assert np.all([cache.lookup(grokking, c, shipped_only=True) is not None for c in TINY])
