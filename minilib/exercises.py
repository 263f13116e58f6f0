"""Checks for the coded exercises: a student's function compared with the library's reference.

    from minilib import exercises
    exercises.check("grokking.perp_grad", my_perp_grad)   # prints one verdict

A coded exercise is a code cell of a chapter whose first line is `# Exercise: <one-line task>`; the
reference solution sits between nbgrader's `### BEGIN SOLUTION` / `### END SOLUTION` lines and the cell
ends with a `check` call. The student edition (`make classroom`, book/scripts/classroom.py) replaces the
marked lines by `raise NotImplementedError("<task>")`.

A check runs the function on fixed inputs, seeded random inputs and edge cases (empty tensors, huge
logits, float16, a gradient where it matters), compares each result with the reference (type, shape,
dtype, values, within the tolerances `tolerance_text` states; a task that asks for a number takes any
one-number container) and prints one verdict: what passed, or the first failing input with expected vs
got and a hint. Every check records the plausible wrong answers it must catch (`Exercise.mistakes`); the
hint names a mistake only when it does what the student's function does on every case, and the tests
prove each one is caught. Whatever the student's function raises (SystemExit included; KeyboardInterrupt
still stops the cell) becomes part of the verdict, never a traceback; a case that runs past its time
limit (TIME_LIMIT) is stopped with a verdict; a function that calls the library's reference (or a
function listed in `Exercise.forbidden`) is refused; where the task is an algorithm
(`Exercise.counts`), the calls of its callable arguments are counted against the reference's.
`grade` is `check` for nbgrader's grade cells: it raises AssertionError with the verdict.

Each chapter's exercises live in its phenomenon's package (`minilib/<module>/exercises.py`), which the
package imports, so importing it registers them; `get` imports the package a check's name starts with
(`grokking.perp_grad` -> minilib.grokking) when the check is not registered yet. This module imports no
phenomenon: it is the engine. `exercise(...)` registers one check; a chapter's file is one call per
exercise, each with its reference, its cases and the mistakes it must catch.

`timing_note(chapter)` shows how long a chapter took to execute as recorded in results/timings.json
(`make classroom` now writes its measurements to build/classroom/timings.json and never to results/).
"""

from __future__ import annotations

import ctypes
import importlib
import inspect
import json
import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .cache import RESULTS_DIR

# Comparison tolerances by dtype: loose enough for any correct order of operations.
TOLERANCES = {torch.float16: (1e-2, 1e-3), torch.bfloat16: (2e-2, 1e-2), torch.float32: (1e-4, 1e-6),
              torch.float64: (1e-7, 1e-12)}
IN_PLACE_HINT = ("do not change the arguments in place (`-=`, `.sub_()`, `x[...] = ...`): the caller still "
                 "needs them; compute a new tensor instead")
# Seconds each case may take before the check stops the function: the slowest reference case took 0.38 s on
# a busy 2-core CPU (the process's first torch call included; every check's every case on the reference took
# 0.03 s after that; tests/test_exercises.py keeps it under a tenth of the limit), so 10 s stops an endless
# loop without ever stopping a slow but honest solution.
TIME_LIMIT = 10.0
TIMINGS = RESULTS_DIR / "timings.json"  # results/ of a checkout, or an installed package's copy (minilib.cache)


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
    # Library functions that compute the answer: a student's function that calls one (or the reference) is
    # refused.
    forbidden: tuple[Callable, ...] = ()
    tensor_result: bool = False  # the task asks for a tensor: a 0-d result must be one (else any number does)
    rtol: float = 1e-6  # tolerance of a result that is a number (tensors: TOLERANCES by dtype)
    atol: float = 1e-9
    time_limit: float = 10.0  # seconds per case (TIME_LIMIT)
    counts: str | None = None  # count the calls of the callable arguments: how many the task asks for


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
             mistakes: tuple[Mistake, ...], seed: int | None = None, forbidden: tuple[Callable, ...] = (),
             tensor_result: bool = False, rtol: float = 1e-6, atol: float = 1e-9, time_limit: float | None = None,
             counts: str | None = None) -> Exercise:
    """Register a check: `reference` is the solution, `cases()` makes its inputs, `mistakes` are the wrong
    answers it must recognise, `forbidden` the library functions a student may not call (see Exercise). With
    a `seed`, `cases` is called with a torch.Generator seeded by it, made afresh for every check, so random
    inputs are the same each time."""
    make = cases if seed is None else (lambda: cases(torch.Generator().manual_seed(seed)))
    return register(Exercise(name=name, chapter=chapter, summary=summary, reference=reference, cases=make,
                             mistakes=tuple(mistakes), forbidden=tuple(forbidden), tensor_result=tensor_result,
                             rtol=rtol, atol=atol, time_limit=TIME_LIMIT if time_limit is None else time_limit,
                             counts=counts))


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


class _TookTooLong(BaseException):
    """Raised inside a function that ran past its case's time limit (a BaseException: no `except
    Exception` in the student's code can swallow it)."""


@dataclass
class _Outcome:
    """What one function did on one case.

    kind: "value" (value holds the result), "raised" (error, where), "no grad" (the result is not
    connected to the input), "in place" (changed: the argument's name), "too long" (past the time limit),
    "forbidden" (called: the library function it must not call)."""

    kind: str
    value: object = None
    error: BaseException | None = None
    where: str = ""
    changed: str = ""
    called: str = ""
    calls: tuple = ()  # per callable argument: (number of calls, shapes of their first arguments)
    seconds: float = 0.0


class _Counted:
    """A callable argument that counts its calls and the shapes of their first arguments."""

    def __init__(self, fn: Callable):
        self.fn, self.calls, self.shapes = fn, 0, set()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if args and isinstance(args[0], torch.Tensor):
            self.shapes.add(tuple(args[0].shape))
        return self.fn(*args, **kwargs)


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


def _with_time_limit(call: Callable, seconds: float | None):
    """call() stopped with _TookTooLong after `seconds`: by SIGALRM in the main thread where there is one
    (Linux, macOS: a kernel runs its cells there), else in a worker thread that is interrupted by an
    asynchronous exception (Windows). Either stops Python code (an endless loop); a single long torch
    operation is stopped when it returns."""
    if seconds is None:
        return call()
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def alarm(signum, frame):
            raise _TookTooLong()

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return call()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box = {}

    def work():
        try:
            box["value"] = call()
        except BaseException as error:  # handed to the caller below
            box["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(_TookTooLong))
        worker.join(1.0)
        raise _TookTooLong()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _watching(call: Callable, forbidden: dict) -> tuple[object, str]:
    """(call(), the name of the first forbidden function it called or ''): a profile hook sees every Python
    function call while it runs, so a call through any helper is seen too."""
    if not forbidden:
        return call(), ""
    seen = []

    def profile(frame, event, arg):
        if event == "call" and id(frame.f_code) in forbidden and not seen:
            seen.append(forbidden[id(frame.f_code)])

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = call()
    finally:
        sys.setprofile(previous)
    return result, (seen[0] if seen else "")


def _run(fn: Callable, case: Case, arg_names: tuple[str, ...], *, limit: float | None = None,
         forbidden: dict | None = None, count: bool = False) -> _Outcome:
    """fn's outcome on fresh copies of the case's arguments (its input gradient when case.grad)."""
    args = list(_copy(case.args))
    counted = [i for i, a in enumerate(args) if count and callable(a) and not isinstance(a, torch.Tensor)]
    for i in counted:
        args[i] = _Counted(args[i])

    def call():
        if case.grad:
            x = args[0].requires_grad_()
            out = fn(x, *args[1:])
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                return _NO_GRAD
            (result,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
            return _NO_GRAD if result is None else result
        return fn(*args)

    started, profile = time.perf_counter(), sys.getprofile()
    try:
        result, called = _with_time_limit(lambda: _watching(call, forbidden or {}), limit)
    except _TookTooLong:
        sys.setprofile(profile)  # the alarm may have struck before _watching restored it
        return _Outcome("too long", seconds=time.perf_counter() - started)
    except KeyboardInterrupt:
        raise  # the reader stopped the cell: stop the check too
    except BaseException as error:  # the student's code, SystemExit included: its error is reported as a verdict
        return _Outcome("raised", error=error, where=_where(error, fn))
    seconds = time.perf_counter() - started
    calls = tuple((args[i].calls, frozenset(args[i].shapes)) for i in counted)
    if called:
        return _Outcome("forbidden", called=called, seconds=seconds)
    for name, before, after in zip(arg_names, case.args, args):
        if not _unchanged(before, after):
            return _Outcome("in place", changed=name, seconds=seconds)
    if result is _NO_GRAD:
        return _Outcome("no grad", seconds=seconds, calls=calls)
    return _Outcome("value", value=result, seconds=seconds, calls=calls)


_NO_GRAD = object()  # a result that is not connected to the input, so it has no gradient


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
    """A plain float from any one-number container (Python or NumPy number, one-element tensor or array);
    None for anything else."""
    if isinstance(value, torch.Tensor):
        return float(value.detach().reshape(-1)[0]) if value.numel() == 1 else None
    if isinstance(value, np.ndarray):
        return float(value.reshape(-1)[0]) if value.size == 1 else None
    if isinstance(value, (str, bytes, bool)):  # float("16.6") would work, but a text is not an answer
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _close(value: float, expected: float, rtol: float, atol: float) -> bool:
    return (math.isnan(value) and math.isnan(expected)) or abs(value - expected) <= atol + rtol * abs(expected)


def _mismatch(expected, got, case: Case, arg_names: tuple[str, ...], exercise: Exercise) -> str | None:
    """How `got` differs from `expected` (None when it matches, within the tolerances tolerance_text states)."""
    if isinstance(expected, torch.Tensor):
        # A task that asks for a number (not a tensor) takes any one-number container, a float included.
        scalar = expected.dim() == 0 and not exercise.tensor_result
        if not isinstance(got, torch.Tensor) and not scalar:
            return f"expected a tensor, got a {type(got).__name__}: {str(got)[:80]}"
        if isinstance(got, torch.Tensor) and got.dtype != expected.dtype:
            return f"expected dtype {expected.dtype} (the input's), got {got.dtype}"
        rtol, atol = TOLERANCES.get(expected.dtype, (0, 0))
        if scalar:
            value = _number(got)
            if value is None:
                shape = f" of shape {list(got.shape)}" if hasattr(got, "shape") else ""
                return f"expected a number, got a {type(got).__name__}{shape}: {str(got)[:80]}"
            return None if _close(value, float(expected), rtol, atol) else \
                f"expected {float(expected):.8g}, got {value:.8g} (allowed: within {atol:g} + {rtol:g}·|expected|)"
        if got.shape != expected.shape:
            return f"expected shape {list(expected.shape)}, got shape {list(got.shape)}"
        bad = ~torch.isclose(got.detach(), expected, rtol=rtol, atol=atol, equal_nan=True)
        if not bad.any():
            return None
        index = tuple(int(i) for i in bad.nonzero()[0])
        x, name = case.args[0], arg_names[0]
        at = f"{name}[{', '.join(map(str, index))}]" if index else name
        where = f" at {at} = {float(x[index]):.6g}" if isinstance(x, torch.Tensor) and x.shape == got.shape \
            else f" at index {list(index)}"
        count = f" ({int(bad.sum())} of {bad.numel()} entries differ)" if bad.numel() > 1 else ""
        count += f" (allowed in {str(expected.dtype).removeprefix('torch.')}: within {atol:g} + {rtol:g}·|expected|)"
        return (f"expected {float(expected[index]):.6g}{where}, got {float(got[index]):.6g}{count}"
                + ("" if got.numel() > 8 else f"\n    expected {_fmt(expected)}\n    got      {_fmt(got)}"))
    value = _number(got)
    if value is None:
        return f"expected a number, got a {type(got).__name__}: {str(got)[:80]}"
    if _close(value, expected, exercise.rtol, exercise.atol):
        return None
    allowed = f"within {exercise.atol:g} + {exercise.rtol:g}·|expected|"
    return f"expected {expected:.8g}, got {value:.8g} (allowed: {allowed})"


def _calls_mismatch(expected: _Outcome, got: _Outcome, arg_names: tuple[str, ...], case: Case,
                    exercise: Exercise) -> str | None:
    """How the student's calls of the callable arguments differ from the reference's (exercise.counts)."""
    callables = [n for n, a in zip(arg_names, case.args) if callable(a) and not isinstance(a, torch.Tensor)]
    for name, (n_ref, shapes_ref), (n_got, shapes_got) in zip(callables, expected.calls, got.calls):
        odd = sorted(shapes_got - shapes_ref)
        if n_got != n_ref or odd:
            shapes = (f", on arguments of shape {', '.join(str(list(s)) for s in odd)} where the reference passes "
                      f"{' or '.join(str(list(s)) for s in sorted(shapes_ref))}") if odd else ""
            return (f"your function called `{name}` {n_got} time{'s' if n_got != 1 else ''}{shapes}; the reference "
                    f"calls it {n_ref} time{'s' if n_ref != 1 else ''} here ({exercise.counts})")
    return None


def _same(a, b) -> bool:
    """Two results agree (used to recognise a recorded mistake in a student's result)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(torch.isclose(a.detach(), b.detach(), rtol=1e-5, atol=1e-8, equal_nan=True).all())
    x, y = _number(a), _number(b)
    return x is not None and y is not None and (math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
                                                or (math.isnan(x) and math.isnan(y)))


def _agree(a: _Outcome, b: _Outcome) -> bool:
    """Two functions did the same on a case: equal results, or the same error, or both changed the same
    argument, or both returned a result without gradient."""
    if a.kind != b.kind:
        return False
    if a.kind == "value":
        return _same(a.value, b.value)
    if a.kind == "raised":
        return type(a.error) is type(b.error) and str(a.error) == str(b.error)
    return a.kind in ("no grad", "too long") or (a.kind == "in place" and a.changed == b.changed)


def _recognise(exercise: Exercise, cases: list[Case], arg_names, theirs: list[_Outcome], student: Callable,
               limit: float | None, forbidden: dict) -> Mistake | None:
    """The first recorded mistake that does what the student's function does on *every* case, if any.

    `theirs` holds the student's outcomes on the cases run so far; the rest are run here. Matching on the
    failing case alone would blame a mistake that happens to fail the same way there (a missing g = 0
    guard gives the same NaN as a missing w = 0 guard on the g = 0 case)."""
    outcomes = list(theirs)
    for case in cases[len(outcomes):]:
        outcome = _run(student, case, arg_names, limit=limit, forbidden=forbidden)
        if outcome.kind in ("too long", "forbidden"):
            return None  # no recorded mistake runs that long or calls the library's answer
        outcomes.append(outcome)
    for mistake in exercise.mistakes:
        if all(_agree(_run(mistake.fn, case, arg_names), outcome) for case, outcome in zip(cases, outcomes)):
            return mistake
    return None


# --- the check --------------------------------------------------------------------------------------


def _forbidden(exercise: Exercise) -> dict:
    """id of a code object -> name, of the reference and the library functions that compute the exercise's answer."""
    found = {}
    for fn in (exercise.reference, *exercise.forbidden):
        code = getattr(inspect.unwrap(fn), "__code__", None)
        if code is not None:
            found[id(code)] = f"{fn.__module__}.{fn.__qualname__}"
    return found


def _failed(name: str, case: Case, passed: str, problem: str, hint: str) -> Verdict:
    return Verdict(name, "failed", f"✗ {name}: failed on {case.label} ({passed}).\n  {problem}\n  hint: {hint}")


def verdict(name: str, fn, *, time_limit: float | None = None, refuse_library: bool = True) -> Verdict:
    """Run the check `name` on `fn` and return its verdict (`check` prints it).

    Each case may take `time_limit` seconds (default: the exercise's, TIME_LIMIT). With `refuse_library`
    False a function may call the reference (the tests check the reference itself that way)."""
    exercise = get(name)
    title = f"{name}:"
    if not callable(fn):
        return Verdict(name, "failed", f"✗ {title} pass your function itself, e.g. check({name!r}, my_function), "
                                       f"not its result (got {type(fn).__name__})")
    limit = exercise.time_limit if time_limit is None else time_limit
    arg_names = tuple(inspect.signature(exercise.reference).parameters)
    forbidden = _forbidden(exercise) if refuse_library else {}
    count = exercise.counts is not None
    cases = exercise.cases()
    theirs: list[_Outcome] = []
    for number, case in enumerate(cases):
        passed = f"passed {number} of {len(cases)} cases before this one" if number else "the first case"
        got = _run(fn, case, arg_names, limit=limit, forbidden=forbidden, count=count)
        theirs.append(got)
        recognise = lambda: _recognise(exercise, cases, arg_names, theirs, fn, limit, forbidden)  # noqa: B023
        if got.kind == "raised" and isinstance(got.error, NotImplementedError):
            task = str(got.error).strip() or "write the function's body"
            return Verdict(name, "not implemented", f"… {title} not implemented yet. Your task: {task}\n"
                           f"  The check compares {tolerance_text(exercise)}.\n"
                           "  Replace the line `raise NotImplementedError(...)` with your code, then run the "
                           "cell again.")
        if got.kind == "too long":
            return Verdict(name, "failed", f"✗ {title} took longer than {limit:g} s on {case.label} ({passed}); "
                           "it was stopped.\n  hint: look for a loop that never ends (a `while` whose condition "
                           "stays true), or work on whole tensors instead of one entry at a time")
        if got.kind == "forbidden":
            return Verdict(name, "failed", f"✗ {title} refused: your function calls the library's own "
                           f"`{got.called}` (on {case.label}), which computes the answer.\n  Write it yourself "
                           "from tensor operations; the check compares your code with that function.")
        if got.kind == "in place":
            return _failed(name, case, passed, f"Your function changed its argument `{got.changed}`.", IN_PLACE_HINT)
        if got.kind == "raised":
            mistake = recognise()
            raised = f"{type(got.error).__name__}: {got.error}" if str(got.error) else type(got.error).__name__
            hint = mistake.hint if mistake else case.hint
            if isinstance(got.error, SystemExit):
                hint = "`sys.exit()` / `exit()` would end the whole program: return the result instead"
            return _failed(name, case, passed, f"Your function raised {raised}{got.where}", hint)
        expected = _run(exercise.reference, case, arg_names, count=count)
        if got.kind == "no grad":
            problem = ("the gradient d(sum f(x))/dx: the result has no gradient with respect to x: build it with "
                       "tensor operations on x, not from `.item()`, `.tolist()` or a new `torch.tensor(...)`")
        else:
            problem = _mismatch(expected.value, got.value, case, arg_names, exercise)
            if problem is not None and case.grad:
                problem = f"the gradient d(sum f(x))/dx: {problem}"
        if problem is None and count:
            problem = _calls_mismatch(expected, got, arg_names, case, exercise)
        if problem is not None:
            mistake = recognise()
            return _failed(name, case, passed, problem, mistake.hint if mistake else case.hint)
    labels = "; ".join(c.label for c in cases)
    return Verdict(name, "passed", f"✓ {title} passed all {len(cases)} cases ({labels}).")


def check(name: str, fn) -> None:
    """Compare your function with the library's reference and print one verdict."""
    print(verdict(name, fn))


def grade(name: str, fn) -> None:
    """The graded form of `check` (nbgrader's locked grade cells call it): prints the verdict when the
    function passes, and otherwise raises AssertionError with the verdict as its message, so the cell
    fails and the grader's feedback shows why."""
    result = verdict(name, fn)
    if not result:
        raise AssertionError(result.message)
    print(result)


def tolerance_text(exercise: Exercise) -> str:
    """What the check compares and within which tolerance, in one sentence part (the student's task and
    the teacher README state it)."""
    results = [_run(exercise.reference, case, tuple(inspect.signature(exercise.reference).parameters)).value
               for case in exercise.cases()]
    tensors = [r for r in results if isinstance(r, torch.Tensor)]
    parts = []
    if any(r.dim() > 0 or exercise.tensor_result for r in tensors):
        dtypes = sorted({r.dtype for r in tensors}, key=lambda d: torch.finfo(d).bits if d.is_floating_point else 0)
        within = ", ".join(f"{str(d).removeprefix('torch.')} {atol:g} + {rtol:g}·|expected|"
                           for d in dtypes if d in TOLERANCES for rtol, atol in [TOLERANCES[d]])
        parts.append("tensors of the reference's shape and dtype" + (f", each entry within {within}" if within else
                                                                      ", entry by entry exactly"))
    if any(r.dim() == 0 and not exercise.tensor_result for r in tensors):
        parts.append("a number (a float or a one-element tensor) within the dtype's tolerance above"
                     if parts else "a number (a float or a one-element tensor), within "
                     + ", ".join(f"{atol:g} + {rtol:g}·|expected| in {str(d).removeprefix('torch.')}"
                                 for d in sorted({r.dtype for r in tensors}, key=str) for rtol, atol in
                                 [TOLERANCES[d]]))
    if any(not isinstance(r, torch.Tensor) for r in results):
        parts.append(f"a number (a float, NumPy number or one-element tensor) within {exercise.atol:g} + "
                     f"{exercise.rtol:g}·|expected|")
    counted = f"; it also counts the calls: {exercise.counts}" if exercise.counts else ""
    return (f"your results with the reference's: {'; '.join(parts)}, each case within {exercise.time_limit:g} s"
            f"{counted}")


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
