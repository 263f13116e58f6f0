"""Shared test set-up: a private user cache per test session, one CPU thread (the machine is shared), and
under pytest-xdist the mutation suite's table gathered from the workers."""

import json
import os
import sys

import pytest
import torch

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINILIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# Under pytest-xdist (`make unit`) each worker records the mutants it saw killed (mutation/registry.py's
# KILLS); the controller gathers them and prints the table that a one-process run prints itself.
def pytest_sessionfinish(session):
    registry = sys.modules.get("mutation.registry")
    if hasattr(session.config, "workeroutput") and registry is not None and registry.KILLS:
        session.config.workeroutput["mutation_kills"] = json.dumps(registry.KILLS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    rows = getattr(node, "workeroutput", {}).get("mutation_kills")
    if rows:
        from mutation import registry

        registry.KILLS.extend(json.loads(rows))


def pytest_terminal_summary(terminalreporter, config):
    if config.pluginmanager.hasplugin("dsession") and "mutation.registry" in sys.modules:
        from mutation import conftest

        conftest.pytest_terminal_summary(terminalreporter)
