"""Every registered mutant must make at least one science check of its chapter fail (see registry.py).

A surviving mutant fails here with its name, the bug, the patched attribute and the checks that should
have caught it: either a check lost its teeth or the registry entry needs updating to the code.
"""

from __future__ import annotations

import inspect
import traceback

import pytest

from minilib import phenomenon

from . import registry
from .registry import HERE, KILLS, TESTS, checks, first_failure, raised_in_mutant_code

CHAPTERS = [name.rsplit(".", 1)[-1] for name in phenomenon.PHENOMENA]
MIN_MUTANTS = 5


def _registry_or_none(chapter):
    try:
        return registry.registry(chapter)
    except ModuleNotFoundError as err:
        if err.name != f"mutation.{chapter}_mutants":
            raise
        return None  # test_every_phenomenon_module_has_a_registry_and_science_checks names it


def _registered():
    out = []
    for chapter in CHAPTERS:
        reg = _registry_or_none(chapter)
        for i, m in enumerate(reg.MUTANTS if reg else []):
            out.append(pytest.param(chapter, i, m, id=f"{chapter}-{m.name.split()[0]}"))
    return out


_UNMUTATED: dict[tuple[str, str], BaseException | None] = {}


def _unmutated_failure(chapter, name):
    """The error a check raises on the real code (None when it passes), run once per session."""
    key = (chapter, name)
    if key not in _UNMUTATED:
        hit = first_failure([(name, checks(chapter)[name])])
        _UNMUTATED[key] = hit[1] if hit else None
    return _UNMUTATED[key]


def test_every_phenomenon_module_has_a_registry_and_science_checks():
    problems = []
    for chapter in CHAPTERS:
        if not (TESTS / f"test_science_{chapter}.py").exists():
            problems.append(f"minilib.{chapter}: no science checks tests/test_science_{chapter}.py")
            continue
        reg = _registry_or_none(chapter)
        if reg is None:
            problems.append(f"minilib.{chapter}: no mutant registry {HERE.relative_to(TESTS.parent)}/"
                            f"{chapter}_mutants.py (a list MUTANTS of at least {MIN_MUTANTS} plausible bugs)")
            continue
        found = checks(chapter)
        with_args = [n for n, f in found.items() if inspect.signature(f).parameters]
        if with_args:
            problems.append(f"{chapter}: science checks take arguments, the runner cannot call them: {with_args}")
        mutants = reg.MUTANTS
        if len(mutants) < MIN_MUTANTS:
            problems.append(f"{chapter}: {len(mutants)} mutants registered, at least {MIN_MUTANTS} needed")
        codes = [m.name.split()[0] for m in mutants]
        if len(set(codes)) != len(codes):
            problems.append(f"{chapter}: mutant codes repeat: {codes}")
        for m in mutants:
            if not m.killers or any(k not in found for k in m.killers):
                problems.append(f"{chapter} {m.name}: expected killers {m.killers} are not all science checks")
            try:
                with pytest.MonkeyPatch.context() as mp:
                    m.apply(mp)
            except LookupError as err:
                problems.append(str(err))
            if not m.description.strip():
                problems.append(f"{chapter} {m.name}: no description")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter, order, mutant", _registered())
def test_mutant_is_killed_by_a_science_check(chapter, order, mutant):
    found = checks(chapter)
    expected = [k for k in mutant.killers if k in found]
    # The expected killers first (fast), then every other check of the chapter.
    plan = [(k, found[k]) for k in expected] + [(k, f) for k, f in found.items() if k not in expected]
    with pytest.MonkeyPatch.context() as mp:
        mutant.apply(mp)
        hit = first_failure(plan)
    if hit is None:
        pytest.fail(f"mutant {mutant.name!r} SURVIVED: {mutant.description} (patches {mutant.target}). "
                    f"No science check of tests/test_science_{chapter}.py failed; expected "
                    f"{', '.join(mutant.killers)} to catch it.", pytrace=False)
    name, err = hit
    if raised_in_mutant_code(err):
        pytest.fail(f"mutant {mutant.name!r} itself crashed in {name}, so it proves nothing:\n"
                    + "".join(traceback.format_exception(err)), pytrace=False)
    before = _unmutated_failure(chapter, name)
    assert before is None, (f"{name} fails on the unmutated code too ({before!r}), so its failure says "
                            f"nothing about mutant {mutant.name!r}")
    KILLS.append({"chapter": chapter, "order": order, "mutant": mutant.name, "description": mutant.description,
                  "target": mutant.target, "killer": name, "expected": name in mutant.killers,
                  "error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"})
