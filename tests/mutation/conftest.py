"""Prints the table mutant -> killing check after a run, and writes it where MINILIB_MUTATION_TABLE says."""

from __future__ import annotations

import os
from pathlib import Path

from .registry import KILLS, TESTS


def table() -> str:
    rows = ["| chapter | mutant | what it patches | killed by |", "|---|---|---|---|"]
    for k in sorted(KILLS, key=lambda k: (k["chapter"], k["order"])):
        killer = k["killer"] if k["expected"] else f"{k['killer']} (not one of its expected checks)"
        rows.append(f"| {k['chapter']} | {k['mutant']}: {k['description']} | `{k['target']}` | `{killer}` |")
    return "\n".join(rows) + "\n"


def pytest_terminal_summary(terminalreporter):
    if not KILLS:
        return
    terminalreporter.write_sep("-", f"mutation table: {len(KILLS)} mutant(s) killed")
    terminalreporter.write(table())
    where = os.environ.get("MINILIB_MUTATION_TABLE", "").strip()
    if where:
        # "1" (or any value not naming a .md file) writes the default place under build/.
        path = Path(where) if where.endswith(".md") else TESTS.parent / "build" / "mutation-table.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Mutant -> the science check that kills it\n\n" + table())
        terminalreporter.write_line(f"mutation table written to {path}")
