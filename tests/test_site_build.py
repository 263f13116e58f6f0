"""The chapters executed once for nbval and the site: book/scripts/nbval_save.py keeps what nbval ran, and
build_book.py builds only from notebooks that hold the chapter's current cells."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "book" / "scripts"


def load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", SCRIPTS / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chapter(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "nbs" / "01_tiny.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# %% [markdown]\n# # A tiny chapter\n\n# %%\nx = 6 * 7\nprint(x)\n\n# %%\n" + body + "\n")
    return path


def run_nbval(tmp_path: Path, source: Path) -> subprocess.CompletedProcess:
    notebooks = tmp_path / "ipynb"
    notebooks.mkdir(exist_ok=True)
    jupytext.write(jupytext.read(source, fmt="py:percent"), notebooks / f"{source.stem}.ipynb")
    env = dict(os.environ, MINILIB_EXECUTED_DIR=str(tmp_path / "executed"), PYTHONPATH=str(SCRIPTS))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", "-p", "nbval_save", str(notebooks)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_notebook_that_passes_is_kept_with_its_outputs_and_one_that_fails_is_not(tmp_path):
    good = chapter(tmp_path, "x + 1")
    result = run_nbval(tmp_path, good)
    assert result.returncode == 0, result.stdout + result.stderr
    kept = nbformat.read(tmp_path / "executed" / "01_tiny.ipynb", as_version=4)
    code = [c for c in kept.cells if c.cell_type == "code"]
    assert code[0].outputs[0]["text"] == "42\n"
    assert code[1].outputs[0]["data"]["text/plain"] == "43" and code[1].execution_count == 2
    # the kept notebook is what build_book.py accepts for this chapter
    assert load_build_book().executed_notebook(good, tmp_path / "executed") == tmp_path / "executed" / "01_tiny.ipynb"

    (tmp_path / "executed" / "01_tiny.ipynb").unlink()
    bad = chapter(tmp_path, "assert x == 41")
    result = run_nbval(tmp_path, bad)
    assert result.returncode != 0
    assert not (tmp_path / "executed").exists() or not list((tmp_path / "executed").iterdir())


def test_the_site_refuses_a_missing_or_stale_executed_notebook(tmp_path):
    build_book = load_build_book()
    source = chapter(tmp_path, "x + 1")
    executed = tmp_path / "executed"
    executed.mkdir()
    with pytest.raises(SystemExit, match="01_tiny.ipynb is missing"):
        build_book.executed_notebook(source, executed)
    old = jupytext.read(source, fmt="py:percent")
    nbformat.write(old, executed / "01_tiny.ipynb")
    assert build_book.executed_notebook(source, executed) == executed / "01_tiny.ipynb"
    chapter(tmp_path, "x + 2")  # the chapter changed after it was executed
    with pytest.raises(SystemExit, match="executed from an older 01_tiny.py"):
        build_book.executed_notebook(source, executed)
