import importlib

import pytest
import torch

from minilib import runtime


def test_pick_device_cpu_and_auto():
    assert runtime.pick_device("cpu") == torch.device("cpu")
    assert runtime.pick_device("auto").type in runtime.available_devices()


def test_absent_device_names_what_is_available(monkeypatch):
    monkeypatch.setattr(runtime, "available_devices", lambda: ["cpu"])
    with pytest.raises(ValueError, match=r"device='cuda' is not available.*available devices are cpu"):
        runtime.pick_device("cuda")


def test_unknown_device_lists_choices():
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, mps"):
        runtime.pick_device("tpu")


def test_seed_everything_repeats():
    runtime.seed_everything(3)
    a = torch.randn(4)
    g = runtime.seed_everything(3)
    assert torch.equal(a, torch.randn(4))
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=runtime.seed_everything(3)))


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0", True])
def test_seed_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="seed="):
        runtime.seed_everything(bad)


def test_fast_mode_from_env(monkeypatch):
    # reload() rebinds the flags in the one shared module; restore them so later tests see this session's mode.
    monkeypatch.setattr(runtime, "FAST", runtime.FAST)
    monkeypatch.setattr(runtime, "IN_BOOK", runtime.IN_BOOK)
    monkeypatch.setenv("MINILIB_FAST", "1")
    fresh = importlib.reload(runtime)
    assert fresh.FAST and fresh.fast(100, 5) == 5
    monkeypatch.setenv("MINILIB_FAST", "0")
    fresh = importlib.reload(runtime)
    assert not fresh.FAST and fresh.fast(100, 5) == 100


def test_as_dtype():
    assert runtime.as_dtype("float64") is torch.float64
    with pytest.raises(ValueError, match="precision='float8'.*float16"):
        runtime.as_dtype("float8")
