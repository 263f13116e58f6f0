"""Fixtures for the Lab test: one JupyterLab server (`make lab`) for the whole session (the browsers are
started by the test's lanes, tests/lab/test_lab.py)."""

from __future__ import annotations

import pytest

from .lab import LabServer


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("lab")).start()
    yield server
    server.stop()
