"""Checks for the coded exercises: a student's function compared with the library's reference.

    from minilib import exercises
    exercises.check("grokking.perp_grad", my_perp_grad)   # prints one verdict

A coded exercise is a code cell of a chapter whose first line is `# Exercise: <one-line task>`; the
reference solution sits between nbgrader's `### BEGIN SOLUTION` / `### END SOLUTION` lines and the cell
ends with a `check` call. The student edition (`make classroom`, book/scripts/classroom.py) replaces the
marked lines by `raise NotImplementedError("<task>")`.

A check runs the function on fixed inputs, seeded random inputs and edge cases (empty tensors, huge
logits, float16, a gradient where it matters), compares each result with the reference (type, shape,
dtype, values) and prints one verdict: what passed, or the first failing input with expected vs got and
a hint. Every check records the plausible wrong answers it must catch (`Exercise.mistakes`); when a
student's result matches one, the hint names that mistake, and the tests prove each one is caught.
Whatever the student's function raises becomes part of the verdict, never a traceback.

Each chapter's exercises live in its phenomenon's package (`minilib/<module>/exercises.py`), which the
package imports, so importing it registers them; `get` imports the package a check's name starts with
(`grokking.perp_grad` -> minilib.grokking) when the check is not registered yet. This module imports no
phenomenon: it is the engine. `exercise(...)` registers one check; a chapter's file is one call per
exercise, each with its reference, its cases and the mistakes it must catch.

`timing_note(chapter)` shows how long a chapter took to execute (results/timings.json, measured by
`make classroom`), for planning a class.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

# Comparison tolerances by dtype: loose enough for any correct order of operations.
TOLERANCES = {torch.float16: (1e-2, 1e-3), torch.bfloat16: (2e-2, 1e-2), torch.float32: (1e-4, 1e-6),
              torch.float64: (1e-7, 1e-12)}
IN_PLACE_HINT = ("do not change the arguments in place (`-=`, `.sub_()`, `x[...] = ...`): the caller still "
                 "needs them; compute a new tensor instead")
TIMINGS = Path(__file__).resolve().parent.parent / "results" / "timings.json"


@dataclass(frozen=True)
class Case:
    """One input to try; `hint` says what failing it usually means. `grad`: compare d(sum f(x))/dx."""

    label: str
    args: tuple
    hint: str
    grad: bool = False


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer, and the hint a student gets whose result matches it."""

    what: str
    fn: Callable
    hint: str


@dataclass(frozen=True)
class Exercise:
    """A registered check: the reference, how to make its cases, and the mistakes it must catch.

    A student's wrong result is matched against the mistakes in order and the first match gives the hint,
    so a mistake whose result coincides with an earlier one's on some case (NaN everywhere, say) comes first.
    """

    name: str
    chapter: str
    summary: str  # what the check compares, one line (the teacher README lists it)
    reference: Callable
    cases: Callable[[], list[Case]]
    mistakes: tuple[Mistake, ...]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: status is "passed", "failed" or "not implemented"."""

    name: str
    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        return self.message


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    EXERCISES[exercise.name] = exercise
    return exercise


def exercise(name: str, chapter: str, *, reference: Callable, summary: str, cases: Callable[..., list[Case]],
             mistakes: tuple[Mistake, ...], seed: int | None = None) -> Exercise:
    """Register a check: `reference` is the solution, `cases()` makes its inputs, `mistakes` are the wrong
    answers it must recognise (see Exercise). With a `seed`, `cases` is called with a torch.Generator seeded
    by it, made afresh for every check, so random inputs are the same each time."""
    make = cases if seed is None else (lambda: cases(torch.Generator().manual_seed(seed)))
    return register(Exercise(name=name, chapter=chapter, summary=summary, reference=reference, cases=make,
                             mistakes=tuple(mistakes)))


def get(name: str) -> Exercise:
    """The check `name`, importing the package its name starts with if that has not registered it yet."""
    if name not in EXERCISES and "." in name:
        package = f"{__package__}.{name.split('.')[0]}"
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as err:
            if err.name != package:
                raise  # the package exists but is broken: say so, not "no exercise"
    if name not in EXERCISES:
        raise ValueError(f"no exercise named {name!r}: known exercises are {', '.join(sorted(EXERCISES))}")
    return EXERCISES[name]


# --- running a function on a case -------------------------------------------------------------------


class _Raised(Exception):
    """The function under test raised `error`."""

    def __init__(self, error: BaseException, where: str):
        super().__init__(str(error))
        self.error, self.where = error, where


class _NoGrad:
    """Marks a result that is not connected to the input, so it has no gradient."""


@dataclass
class _InPlace:
    """Marks a call that changed one of its arguments."""

    name: str


def _where(error: BaseException, fn: Callable) -> str:
    """' (line N of its cell: `source`)' for the deepest frame in the student's own code, else ''."""
    code = getattr(fn, "__code__", None)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if code and f.filename == code.co_filename]
    if not frames:
        return ""
    frame = frames[-1]
    line = f": `{frame.line.strip()}`" if frame.line else ""
    # IPython names a cell's code after a temporary file (ipykernel_NNN/...); elsewhere the file is real.
    place = "its cell" if "ipykernel" in frame.filename or frame.filename.startswith("<") \
        else Path(frame.filename).name
    return f" (line {frame.lineno} of {place}{line})"


def _run(fn: Callable, case: Case, arg_names: tuple[str, ...]):
    """fn's result on fresh copies of the case's arguments (its input gradient when case.grad)."""
    args = _copy(case.args)
    try:
        if case.grad:
            x = args[0].requires_grad_()
            out = fn(x, *args[1:])
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                return _NoGrad()
            (result,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
            if result is None:
                return _NoGrad()
        else:
            result = fn(*args)
    except Exception as error:  # the student's code: its error is reported as a verdict
        raise _Raised(error, _where(error, fn)) from None
    for name, before, after in zip(arg_names, case.args, args):
        if not _unchanged(before, after):
            return _InPlace(name)
    return result


def _copy(value):
    """Fresh copies of a case's arguments (tensors, or lists of tensors such as a net's parameters)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def _unchanged(before, after) -> bool:
    if isinstance(before, torch.Tensor):
        return torch.equal(before, after.detach())
    if isinstance(before, (list, tuple)):
        return all(_unchanged(b, a) for b, a in zip(before, after))
    return True


def _fmt(value: torch.Tensor) -> str:
    """A small tensor's values, shape and dtype on one line."""
    body = ", ".join(f"{v:.6g}" for v in value.detach().flatten().double().tolist())
    shape = "" if value.dim() == 1 else f" (shape {list(value.shape)})"
    return f"[{body}]{shape}, {str(value.dtype).removeprefix('torch.')}"


def _number(value) -> float | None:
    """A plain float from a Python/NumPy number or a one-element tensor; None for anything else."""
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else None
    if isinstance(value, (str, bytes)):  # float("16.6") would work, but a text is not an answer
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _mismatch(expected, got, case: Case, arg_names: tuple[str, ...]) -> str | None:
    """How `got` differs from `expected` (None when it matches)."""
    if isinstance(got, _NoGrad):
        return ("the result has no gradient with respect to x: build it with tensor operations on x, not from "
                "`.item()`, `.tolist()` or a new `torch.tensor(...)`")
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got a {type(got).__name__}: {str(got)[:80]}"
        if got.shape != expected.shape:
            return f"expected shape {list(expected.shape)}, got shape {list(got.shape)}"
        if got.dtype != expected.dtype:
            return f"expected dtype {expected.dtype} (the input's), got {got.dtype}"
        rtol, atol = TOLERANCES.get(expected.dtype, (0, 0))
        bad = ~torch.isclose(got.detach(), expected, rtol=rtol, atol=atol, equal_nan=True)
        if not bad.any():
            return None
        index = tuple(int(i) for i in bad.nonzero()[0])
        x, name = case.args[0], arg_names[0]
        at = f"{name}[{', '.join(map(str, index))}]" if index else name
        where = f" at {at} = {float(x[index]):.6g}" if isinstance(x, torch.Tensor) and x.shape == got.shape \
            else f" at index {list(index)}"
        count = f" ({int(bad.sum())} of {bad.numel()} entries differ)" if bad.numel() > 1 else ""
        return (f"expected {float(expected[index]):.6g}{where}, got {float(got[index]):.6g}{count}"
                + ("" if got.numel() > 8 else f"\n    expected {_fmt(expected)}\n    got      {_fmt(got)}"))
    value = _number(got)
    if value is None:
        return f"expected a number, got a {type(got).__name__}: {str(got)[:80]}"
    if math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
        return None
    return f"expected {expected:.8g}, got {value:.8g}"


def _same(a, b) -> bool:
    """Two results agree (used to recognise a recorded mistake in a student's result)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(torch.isclose(a.detach(), b.detach(), rtol=1e-5, atol=1e-8, equal_nan=True).all())
    if isinstance(a, (_NoGrad, _InPlace)) or isinstance(b, (_NoGrad, _InPlace)):
        return type(a) is type(b)
    x, y = _number(a), _number(b)
    return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _recognise(exercise: Exercise, case: Case, arg_names, got=None, error: BaseException | None = None):
    """The recorded mistake whose result (or error) on this case equals the student's, if any."""
    for mistake in exercise.mistakes:
        try:
            theirs = _run(mistake.fn, case, arg_names)
        except _Raised as raised:
            if error is not None and type(raised.error) is type(error) and str(raised.error) == str(error):
                return mistake
            continue
        if error is None and _same(theirs, got):
            return mistake
    return None


# --- the check --------------------------------------------------------------------------------------


def verdict(name: str, fn) -> Verdict:
    """Run the check `name` on `fn` and return its verdict (`check` prints it)."""
    exercise = get(name)
    title = f"{name}:"
    if not callable(fn):
        return Verdict(name, "failed", f"✗ {title} pass your function itself, e.g. check({name!r}, my_function), "
                                       f"not its result (got {type(fn).__name__})")
    arg_names = tuple(inspect.signature(exercise.reference).parameters)
    cases = exercise.cases()
    for number, case in enumerate(cases):
        passed = f"passed {number} of {len(cases)} cases before this one" if number else "the first case"
        try:
            got = _run(fn, case, arg_names)
        except _Raised as raised:
            if isinstance(raised.error, NotImplementedError):
                task = str(raised.error).strip() or "write the function's body"
                return Verdict(name, "not implemented", f"… {title} not implemented yet. Your task: {task}\n"
                               "  Replace the line `raise NotImplementedError(...)` with your code, then run the "
                               "cell again.")
            mistake = _recognise(exercise, case, arg_names, error=raised.error)
            return Verdict(name, "failed", f"✗ {title} failed on {case.label} ({passed}).\n"
                           f"  Your function raised {type(raised.error).__name__}: {raised.error}{raised.where}\n"
                           f"  hint: {(mistake.hint if mistake else case.hint)}")
        if isinstance(got, _InPlace):
            return Verdict(name, "failed", f"✗ {title} failed on {case.label} ({passed}).\n"
                           f"  Your function changed its argument `{got.name}`.\n  hint: {IN_PLACE_HINT}")
        expected = _run(exercise.reference, case, arg_names)
        problem = _mismatch(expected, got, case, arg_names)
        if problem is not None:
            mistake = _recognise(exercise, case, arg_names, got=got)
            what = "the gradient d(sum f(x))/dx: " if case.grad else ""
            return Verdict(name, "failed", f"✗ {title} failed on {case.label} ({passed}).\n"
                           f"  {what}{problem}\n  hint: {(mistake.hint if mistake else case.hint)}")
    labels = "; ".join(c.label for c in cases)
    return Verdict(name, "passed", f"✓ {title} passed all {len(cases)} cases ({labels}).")


def check(name: str, fn) -> None:
    """Compare your function with the library's reference and print one verdict."""
    print(verdict(name, fn))


# --- time per chapter --------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} minutes"


def timing_lines(chapter: str, path: Path = TIMINGS) -> dict[str, str]:
    """device ("cpu", "cuda", ...) -> how long executing `chapter` took there, from results/timings.json."""
    data = json.loads(path.read_text()) if path.exists() else {}
    lines = {}
    for device, modes in sorted(data.get("chapters", {}).get(chapter, {}).items()):
        parts = [f"{_duration(m['seconds'])} {'at full size' if mode == 'full' else 'in fast mode'}"
                 for mode, m in sorted(modes.items(), key=lambda kv: kv[0] != "full")]
        latest = max(modes.values(), key=lambda m: m["date"])
        load = max(m.get("load", 0.0) for m in modes.values())
        # A busy shared machine runs slower: say so rather than let the number pass for an idle one.
        shared = f" shared with other jobs (load average up to {load:.1f})" if load > latest.get("cores", 1e9) else ""
        lines[device] = f"{' and '.join(parts)} on {latest['machine']}{shared}, measured {latest['date']}"
    return lines


def timing_note(chapter: str, path: Path = TIMINGS, *, study: str | None = None):
    """How long studying `chapter` (e.g. "01_grokking") takes (`study`, an estimate such as "about 3 hours")
    and how long executing it took, as measured by `make classroom`."""
    from IPython.display import Markdown

    lines = timing_lines(chapter, path)
    studying = f"*Time:* {study} of study (reading, running the cells and the exercises)." if study else ""
    if not lines:
        if studying:
            return Markdown(studying)
        return Markdown(f"*Time:* not measured yet for `{chapter}` (`make classroom` measures it).")
    gpu = "" if set(lines) - {"cpu"} else " Not measured on a GPU yet; the CPU is enough."
    executing = ("executing this page top to bottom took " + "; ".join(lines.values()) + " by "
                 "`make classroom`, from an empty result cache (shipped results are loaded, the rest is "
                 "trained)." + gpu)
    return Markdown(f"{studying} Running it: {executing}" if studying else f"*Time:* {executing}")
