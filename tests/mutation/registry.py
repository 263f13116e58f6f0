"""What a mutant is, and how the runner applies one and finds the check that kills it.

A mutant is one plausible bug: a single attribute of the library (a function, a method, a constant)
replaced for the duration of a `pytest.MonkeyPatch` context. Every phenomenon module `minilib.<name>`
has a registry `tests/mutation/<name>_mutants.py` (a list `MUTANTS`) and science checks in
`tests/test_science_<name>.py`: plain `test_*` functions without fixtures, which pass on the real code
and must fail, at least one of them, with each mutant in place.
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent


@dataclass(frozen=True)
class Mutant:
    """One bug: `target` ("package.module:attr" or "package.module:Class.attr") becomes `bug(original)`."""

    name: str  # short and unique within its chapter, e.g. "M4 collapse always float32"
    description: str  # one line: the bug as a reader of the chapter would describe it
    target: str
    bug: Callable  # original -> replacement
    killers: tuple[str, ...]  # the science checks expected to fail with it (tried first)

    def owner_and_attr(self):
        module_name, _, path = self.target.partition(":")
        owner = importlib.import_module(module_name)
        *outer, attr = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        return owner, attr

    def apply(self, mp: pytest.MonkeyPatch) -> None:
        try:
            owner, attr = self.owner_and_attr()
            original = inspect.getattr_static(owner, attr)  # a class's own function, not a bound method
        except (AttributeError, ImportError) as err:
            raise LookupError(f"mutant {self.name!r}: its target {self.target} does not exist ({err}); "
                              "the code moved, so move the mutant with it") from err
        mp.setattr(owner, attr, self.bug(original))


def registry(module_short_name: str):
    """tests/mutation/<name>_mutants.py as a module (it defines MUTANTS)."""
    return importlib.import_module(f"mutation.{module_short_name}_mutants")


def checks(module_short_name: str) -> dict[str, Callable]:
    """The science checks of a chapter, in file order: name -> function."""
    mod = importlib.import_module(f"test_science_{module_short_name}")
    found = [(f.__code__.co_firstlineno, n, f) for n, f in vars(mod).items()
             if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
    return {n: f for _, n, f in sorted(found)}


def raised_in_mutant_code(err: BaseException) -> bool:
    """True when an error other than a failed assertion passes through a registry file: the mutant broke."""
    if isinstance(err, AssertionError):
        return False
    frames = traceback.extract_tb(err.__traceback__)
    return any(Path(f.filename).resolve().parent == HERE and f.filename.endswith("_mutants.py") for f in frames)


def first_failure(order: list[tuple[str, Callable]]) -> tuple[str, BaseException] | None:
    """Run checks in order; the name of the first that fails and its error, or None if all pass."""
    for name, check in order:
        try:
            check()
        except Exception as err:  # any failure of a check kills the mutant, not only a failed assert
            return name, err
    return None


#: Filled by the runner: one row per killed mutant (the table conftest.py prints and writes).
KILLS: list[dict] = []
