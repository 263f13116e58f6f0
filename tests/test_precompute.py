"""python -m minilib precompute: regenerate, --list and --check, on a tiny shipped entry in a temp results/."""

import numpy as np
import pytest

from minilib import cache, grokking, precompute
from minilib.phenomenon import Shipped, Tolerance

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
    assert "all 2 shipped result(s) of 1 chapter(s) exist, load and match" in capsys.readouterr().out


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


def test_python_m_minilib_runs_precompute(tiny_results, capsys, monkeypatch):
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", ["minilib", "precompute", "grokking", "--only", "tiny", "--no-progress"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("minilib", run_name="__main__")
    assert done.value.code == 0
    assert np.all([cache.lookup(grokking, c, shipped_only=True) is not None for c in TINY])


def _edit_header(path, **changes):
    """Rewrite a run file with some header fields changed and no header checksum: the edit of a file saved
    before runs carried one (as every shipped file is today)."""
    import io
    import json

    with np.load(io.BytesIO(path.read_bytes())) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["__header__"].tobytes().decode())
    header.pop("header_sha256", None)
    header["meta"] |= changes.pop("meta", {})
    header |= changes
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


@pytest.mark.parametrize("changes", [{"status": "diverged"}, {"diverged_at": 3}, {"meta": {"seconds": 1}}])
def test_check_finds_an_edited_header(tiny_results, capsys, changes):
    precompute.main(["precompute", "grokking", "--only", "tiny", "--no-progress"])
    path = cache.entry_path(grokking, TINY[0], tiny_results)
    _edit_header(path, **changes)
    capsys.readouterr()
    assert precompute.main(["precompute", "grokking", "--check"]) == 1
    assert f"{path.name} damaged: its bytes differ from the SHA-256" in capsys.readouterr().out
    with pytest.raises(cache.DamagedResultError, match="damaged"):
        cache.lookup(grokking, TINY[0])


def test_manifest_records_only_files_that_pass_the_other_checks(tiny_results, capsys):
    precompute.main(["precompute", "grokking", "--only", "tiny", "--no-progress"])
    (tiny_results / "grokking" / cache.MANIFEST).unlink()
    capsys.readouterr()
    assert precompute.main(["precompute", "grokking", "--check"]) == 1
    assert "has no recorded checksum (record it with `python -m minilib precompute grokking --manifest`)" in \
        capsys.readouterr().out
    first = cache.entry_path(grokking, TINY[0], tiny_results)
    first.write_bytes(first.read_bytes()[:100])
    assert precompute.main(["precompute", "grokking", "--manifest"]) == 1
    assert f"{first.name} damaged" in capsys.readouterr().out
    assert list(cache.read_manifest(first.parent)) == [cache.entry_path(grokking, TINY[1]).name]


# --- pfn: the shipped networks are checked against their run key ----------------------------------------
@pytest.fixture
def tiny_pfn(tmp_path, monkeypatch):
    from minilib import pfn
    from minilib.pfn import experiment

    monkeypatch.setattr(cache, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(experiment, "CHECKPOINT_DIR", tmp_path / "results" / "pfn")
    config = pfn.Config(steps=2, n_buckets=10, d_model=8, n_layers=1, n_heads=2, d_ff=8, batch_size=4, seq_len=6,
                        eval_datasets=8, num_logs=2, device="cpu", checkpoint="gp")
    tiny = Shipped(lambda: [config], "a tiny PFN", Tolerance(steps=1, rtol=1e-3))
    monkeypatch.setattr(pfn, "SHIPPED", {"gp": tiny})
    monkeypatch.setattr(experiment, "TABLE_DATASETS", 8)
    precompute.main(["precompute", "pfn", "--only", "gp", "--no-progress"])
    return config, tmp_path / "results" / "pfn"


def test_check_verifies_the_shipped_network(tiny_pfn, capsys):
    from minilib import pfn

    config, folder = tiny_pfn
    capsys.readouterr()
    assert precompute.main(["precompute", "pfn", "--check"]) == 0, capsys.readouterr().out
    net = folder / "gp.pt"
    good = net.read_bytes()
    net.write_bytes(good[: len(good) // 2])
    assert precompute.main(["precompute", "pfn", "--check"]) == 1
    assert "gp.pt damaged" in capsys.readouterr().out
    net.unlink()
    assert precompute.main(["precompute", "pfn", "--check"]) == 1
    assert "gp.pt missing" in capsys.readouterr().out
    # another run's network in its place (a reader's 1-step run, as fit() once wrote there)
    with cache.shipping():
        pfn.fit(config.replace(steps=1), progress=False)
    assert precompute.main(["precompute", "pfn", "--check"]) == 1
    assert "gp.pt stale: it records run key" in capsys.readouterr().out


def test_a_readers_pfn_run_never_writes_into_results(tiny_pfn, monkeypatch):
    from minilib import pfn

    config, folder = tiny_pfn
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    run = cache.run_or_load(pfn, config.replace(steps=1), progress=False)
    _, predictor = pfn.fit(config.replace(steps=1), progress=False)
    assert run.status == "completed"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    saved = pfn.checkpoint_path(config.replace(steps=1))
    assert saved.is_relative_to(cache.cache_dir()) and saved.exists()
