"""Every shipped result is re-derived: its early stretch is trained again and every logged metric compared.

The stretch and tolerance of each entry are measured (see the entry's `tolerance` and
docs/adding-a-chapter.md); `make test` runs this file a second time under ATEN_CPU_CAPABILITY=default so
that a check which only holds on one CPU's kernels cannot land.
"""

import pytest

from minilib import cache, checks, phenomenon

ENTRIES = [(m, name, i) for m in phenomenon.phenomena() for name, entry in m.SHIPPED.items()
           for i in range(len(entry.configs()))]


@pytest.mark.parametrize("module, name, index", ENTRIES,
                         ids=[f"{phenomenon.short_name(m)}-{n}-{i}" for m, n, i in ENTRIES])
def test_a_shipped_run_is_reproduced_for_its_early_stretch(module, name, index):
    entry = module.SHIPPED[name]
    config = entry.configs()[index]
    stored = cache.lookup(module, config, shipped_only=True)
    assert stored is not None, f"results/ lacks this run; regenerate: python -m minilib precompute " \
                               f"{phenomenon.short_name(module)} --only {name}"
    comparison = checks.rederive(module, stored, entry.tolerance, device="cpu")
    assert comparison.steps[-1] >= min(entry.tolerance.steps, 1)


def test_rederive_fails_loudly_when_the_science_changes(monkeypatch):
    from minilib import grokking

    stored = cache.lookup(grokking, grokking.SHIPPED["adamw_long"].configs()[0], shipped_only=True)
    tol = grokking.SHIPPED["adamw_long"].tolerance
    changed = stored.config.replace(lr=stored.config.lr * 1.05)  # a 5% different learning rate
    monkeypatch.setattr(stored, "config", changed)
    with pytest.raises(AssertionError, match=r"at step \d+ is [-0-9.e]+, stored [-0-9.e]+ \(allowed"):
        checks.rederive(grokking, stored, tol)


def test_rederive_needs_two_logged_steps_in_the_stretch():
    from minilib import grokking

    stored = cache.lookup(grokking, grokking.SHIPPED["adamw_long"].configs()[0], shipped_only=True)
    with pytest.raises(AssertionError, match="only 1 logged step"):
        checks.rederive(grokking, stored, checks.Tolerance(steps=0, rtol=1e-3))
