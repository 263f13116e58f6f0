"""pytest plugin for nbval: keep each notebook it executed, with the outputs the cells produced.

    MINILIB_EXECUTED_DIR=build/nbs-executed PYTHONPATH=book/scripts \
        python -m pytest --nbval-lax -p nbval_save build/nbs-fast

A notebook is written (to MINILIB_EXECUTED_DIR, under its own name) only when every one of its code cells
ran and passed, so a folder of executed notebooks never holds a half-run chapter. `make kernels` runs the
chapters this way and the fast site is built from the result (build_book.py --executed), so the chapters
are executed once for both the nbval check and the site.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_STATE = "_minilib_nbval_save"


def _target() -> Path | None:
    where = os.environ.get("MINILIB_EXECUTED_DIR", "").strip()
    return Path(where) if where else None


def _is_cell(item) -> bool:
    return hasattr(item, "cell") and hasattr(item, "test_outputs") and hasattr(item.parent, "nb")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not _is_cell(item) or _target() is None:
        return
    state = item.parent.__dict__.setdefault(_STATE, {"passed": 0, "failed": False})
    if report.failed:
        state["failed"] = True
    if report.when == "call":
        outputs = list(item.test_outputs or [])
        item.cell.outputs = outputs
        item.cell.execution_count = item.cell_num + 1
        for out in outputs:
            if out.get("output_type") == "execute_result":
                out["execution_count"] = item.cell_num + 1
        if report.passed:
            state["passed"] += 1


def pytest_runtest_teardown(item, nextitem):
    target = _target()
    if target is None or not _is_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    import nbformat

    notebook = item.parent.nb
    state = item.parent.__dict__.get(_STATE, {"passed": 0, "failed": True})
    code_cells = sum(c.cell_type == "code" for c in notebook.cells)
    if state["failed"] or state["passed"] != code_cells:
        return
    target.mkdir(parents=True, exist_ok=True)
    path = target / Path(str(item.parent.fspath)).name
    partial = path.with_suffix(".ipynb.partial")
    nbformat.write(notebook, str(partial))
    partial.replace(path)
