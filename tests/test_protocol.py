"""Every phenomenon module follows the written protocol (minilib.phenomenon); a broken one is named."""

import importlib
import importlib.resources
import types

import pytest

from minilib import phenomenon


@pytest.mark.parametrize("name", phenomenon.PHENOMENA)
def test_every_phenomenon_follows_the_protocol(name):
    module = importlib.import_module(name)
    assert phenomenon.check_module(module) is module
    chapter = importlib.resources.files("minilib").parent / module.CHAPTER
    assert chapter.is_file(), f"{name}.CHAPTER={module.CHAPTER!r} is not a file"


def _copy(module, **changes):
    fake = types.ModuleType("minilib.fake_phenomenon")
    fake.__dict__.update({k: getattr(module, k) for k in phenomenon.REQUIRED})
    for k, v in changes.items():
        if v is None:
            delattr(fake, k)
        else:
            setattr(fake, k, v)
    return fake


def test_a_module_missing_pieces_is_told_which():
    from minilib import curvefit

    with pytest.raises(phenomenon.ProtocolError) as err:
        phenomenon.check_module(_copy(curvefit, TITLE=None, SHIPPED=None))
    assert "lacks TITLE" in str(err.value) and "lacks SHIPPED" in str(err.value)


@pytest.mark.parametrize("change, message", [
    (dict(METRICS=("train_loss", "test_loss")), "METRICS must be a non-empty dict"),
    (dict(METRICS={"train_loss": "train_loss", "test_loss": "test loss"}), "must be words, not the keys"),
    (dict(PLOT_GROUPS={"loss": ("train_loss", "val_loss")}), "unknown: ['val_loss']"),
    (dict(REPLICA_FIELDS=("seed", "momentum")), "REPLICA_FIELDS names fields Config does not have: ['momentum']"),
    (dict(SHIPPED={"x": lambda: []}), "use minilib.phenomenon.Shipped"),
    (dict(run=lambda config: None), "run lacks the keyword argument(s) ['on_step', 'stop', 'progress']"),
    (dict(CODE_VERSION=0), "CODE_VERSION=0 must be an int >= 1"),
    (dict(X_TITLE=""), "X_TITLE must be a non-empty str"),
])
def test_a_malformed_piece_is_named(change, message):
    from minilib import curvefit

    with pytest.raises(phenomenon.ProtocolError) as err:
        phenomenon.check_module(_copy(curvefit, **change))
    assert message in str(err.value)


def test_chapters_are_found_by_name_or_number():
    assert phenomenon.find("grokking") is phenomenon.find("1") is phenomenon.find("01")
    assert phenomenon.short_name(phenomenon.find("0")) == "curvefit"
    with pytest.raises(ValueError, match=r"no chapter 'nine': known chapters are curvefit \(nbs/00_start_here.py\)"):
        phenomenon.find("nine")


def test_every_chapter_file_has_a_phenomenon_module():
    root = importlib.resources.files("minilib").parent
    chapters = sorted(p.name for p in (root / "nbs").iterdir() if p.name[:2].isdigit() and p.suffix == ".py")
    claimed = sorted(importlib.import_module(n).CHAPTER.rsplit("/", 1)[-1] for n in phenomenon.PHENOMENA)
    assert chapters == claimed, "each chapter in nbs/ is backed by one module listed in phenomenon.PHENOMENA"
