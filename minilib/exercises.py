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

`timing_note(chapter)` shows how long a chapter took to execute (results/timings.json, measured by
`make classroom`), for planning a class.
"""

from __future__ import annotations

import inspect
import json
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import curvefit
from .grokking import losses, optim
from .runtime import DTYPES

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


def get(name: str) -> Exercise:
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


# --- chapter 0: curvefit ----------------------------------------------------------------------------


def noise_floor(noise: float) -> float:
    """Expected test MSE of the perfect predictor f when y = f(x) + ε, ε ~ N(0, noise²): E[ε²] = noise²."""
    return noise**2


register(Exercise(
    name="curvefit.noise_floor", chapter="00_start_here", reference=noise_floor,
    summary="the expected test MSE of the noise-free function f, for noise levels 0.3, 1, 0 and 2",
    cases=lambda: [Case(f"noise = {s}", (s,), "the labels are y = f(x) + ε with ε ~ N(0, σ²); the perfect "
                        "predictor misses each one by ε, so its expected squared error is E[ε²]")
                   for s in (0.3, 1.0, 0.0, 2.0)],
    mistakes=(
        Mistake("the standard deviation σ", lambda noise: noise,
                "σ is the noise's standard deviation; the expected squared error E[ε²] is its variance, σ²"),
        Mistake("zero", lambda noise: 0.0,
                "even the true f misses every noisy test label by ε: its error is E[ε²] = σ², not 0"),
        Mistake("2σ²", lambda noise: 2 * noise**2,
                "2σ² is what a predictor pays that copies a nearby noisy training label; the perfect predictor "
                "f pays only the test label's own noise"),
    ),
))


def _forward_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    w = lambda *rows: torch.tensor([rows], dtype=torch.float32)
    fixed = ([w([1.0, -1.0]), w([0.0, 0.5]), w([2.0], [3.0]), w([0.1])], torch.tensor([[[-1.0], [0.0], [1.0]]]))
    net = lambda n, width, dtype=torch.float32: [torch.randn(*shape, generator=gen, dtype=dtype) for shape in
                                                 ((n, 1, width), (n, 1, width), (n, width, 1), (n, 1, 1))]
    three = net(3, 16)
    x3 = torch.rand(3, 7, 1, generator=gen) * 2 - 1
    wide = net(2, 64, torch.float64)
    return [
        Case("one net of width 2, x = [-1, 0, 1] (shape [1, 3, 1])", fixed,
             "h = relu(x @ w1 + b1) of shape [n, batch, width], then h @ w2 + b2"),
        Case("3 stacked nets of width 16, a batch of 7 points", (three, x3),
             "the leading dim stacks independent nets: `@` multiplies each net's matrices (batched matmul)"),
        Case("2 nets of width 64 in float64", (wide, torch.rand(2, 5, 1, generator=gen, dtype=torch.float64)),
             "keep the weights' dtype: no `.float()`"),
        Case("an empty batch (x of shape [2, 0, 1])", (wide, torch.zeros(2, 0, 1, dtype=torch.float64)),
             "an empty batch gives an output of shape [n, 0, 1]"),
    ]


register(Exercise(
    name="curvefit.forward", chapter="00_start_here", reference=curvefit.forward,
    summary="the forward pass of n stacked one-hidden-layer ReLU nets, x [n, batch, 1] -> [n, batch, 1]: "
            "a fixed net, 3 stacked random nets, float64, an empty batch",
    cases=_forward_cases,
    mistakes=(
        Mistake("no ReLU", lambda params, x: (x @ params[0] + params[1]) @ params[2] + params[3],
                "the hidden layer needs its ReLU: without it the two layers are one linear map"),
        Mistake("hidden bias after the ReLU", lambda params, x: (torch.relu(x @ params[0]) + params[1]) @ params[2]
                + params[3], "b1 is added before the ReLU: relu(x @ w1 + b1)"),
        Mistake("ReLU on the output", lambda params, x: torch.relu(torch.relu(x @ params[0] + params[1])
                                                                   @ params[2] + params[3]),
                "the output layer is linear (a regression can be negative): no ReLU after w2"),
        Mistake("no output bias", lambda params, x: torch.relu(x @ params[0] + params[1]) @ params[2],
                "add the output bias b2"),
    ),
))


# --- chapter 1: grokking ----------------------------------------------------------------------------


WHERE_HINT = ("torch.where evaluates both branches everywhere, and the unused branch's gradient is multiplied by 0: "
              "at x = 1 the branch 1 / (1 − x) is infinite, and 0 · inf = NaN. Give that branch only values where "
              "it is finite: 1 / (1 − x.clamp(max=0))")
ELEMENTWISE_HINT = "s acts elementwise on a tensor of any shape: use tensor operations (torch.where), not a loop"


def _stablemax_s_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1)
    t = lambda values, dtype=torch.float32: torch.tensor(values, dtype=dtype)
    return [
        Case("x = [-3, -1, -0.5, 0, 0.5, 1, 2]", (t([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),),
             "s(x) = x + 1 for x ≥ 0 and 1 / (1 − x) for x < 0: s(0) = 1, s(−1) = 0.5"),
        Case("random x of shape [4, 5]", (torch.randn(4, 5, generator=gen) * 10,),
             ELEMENTWISE_HINT),
        Case("random x in float64", (torch.randn(6, generator=gen, dtype=torch.float64) * 3,),
             "keep the input's dtype"),
        Case("x = [-1000, -1, 0, 1, 1000] in float16", (t([-1000.0, -1.0, 0.0, 1.0, 1000.0], torch.float16),),
             "keep the input's dtype: a float16 input gives a float16 result (no `.float()`, no new tensor)"),
        Case("huge x = [-1e30, -1e6, 1e6, 1e30]", (t([-1e30, -1e6, 1e6, 1e30]),),
             "s must stay finite for huge inputs (no exp): s(−1e30) = 1e-30"),
        Case("an empty x (shape [0])", (torch.zeros(0),), "an empty input gives an empty output"),
        Case("x = [-2, -1, 0, 1, 2] in float64", (t([-2.0, -1.0, 0.0, 1.0, 2.0], torch.float64),), grad=True,
             hint=WHERE_HINT),
    ]


register(Exercise(
    name="grokking.stablemax_s", chapter="01_grokking", reference=losses.stablemax_s,
    summary="s(x) elementwise: fixed values, random shapes, float64, float16, |x| = 1e30, empty, and its "
            "gradient at x = 1",
    cases=_stablemax_s_cases,
    mistakes=(
        Mistake("exp on the negative side", lambda x: torch.where(x >= 0, x + 1, torch.exp(x)),
                "for x < 0 the paper's s(x) is 1 / (1 − x), not e^x: the exponential tail is what collapses"),
        Mistake("1 / (1 + x) on the negative side", lambda x: torch.where(x >= 0, x + 1, 1 / (1 + x)),
                "for x < 0, s(x) = 1 / (1 − x): with 1 / (1 + x) it blows up at x = −1"),
        Mistake("torch.where without a clamp", lambda x: torch.where(x >= 0, x + 1, 1 / (1 - x)),
                WHERE_HINT),
        Mistake("a Python loop over x.tolist()",
                lambda x: torch.tensor([v + 1 if v >= 0 else 1 / (1 - v) for v in x.tolist()]),
                ELEMENTWISE_HINT),
    ),
))


def _stablemax_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The library's StableMax cross-entropy, per sample, in the logits' own dtype."""
    precision = {v: k for k, v in DTYPES.items()}[logits.dtype]
    return losses.cross_entropy(logits, targets, loss="stablemax", precision=precision)


def _naive_stablemax_ce(logits, targets):
    s = losses.stablemax_s(logits)
    return -torch.log(s.gather(-1, targets[:, None])[:, 0] / s.sum(-1))


LOG_SPACE_HINT = ("s(x) itself overflows for huge logits (their sum is inf): work in log space, "
                  "log s(x) = sign(x)·log1p(|x|) (grokking.stablemax_log_s), then torch.log_softmax")


def _ce_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2)
    labels = lambda *ys: torch.tensor(ys, dtype=torch.long)
    return [
        Case("logits [[2, 0, -1], [0, 0, 0], [-3, 5, 1]] with targets [0, 2, 1]",
             (torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-3.0, 5.0, 1.0]]), labels(0, 2, 1)),
             "loss_i = −log( s(z_i,y_i) / Σ_j s(z_i,j) ): one number per row, where softmax would use e^z"),
        Case("random logits of shape [8, 113]", (torch.randn(8, 113, generator=gen) * 5,
                                                 torch.randint(0, 113, (8,), generator=gen)),
             "one loss per sample (shape [N]): pick each row's target class with gather or indexing"),
        Case("random float64 logits of shape [4, 10]", (torch.randn(4, 10, generator=gen, dtype=torch.float64),
                                                        torch.randint(0, 10, (4,), generator=gen)),
             "keep the logits' dtype"),
        Case("huge logits [[3e38, 3e38, 0]] with target 0", (torch.tensor([[3e38, 3e38, 0.0]]), labels(0)),
             LOG_SPACE_HINT),
        Case("float16 logits [[6e4, 6e4, -6e4]] with target 1",
             (torch.tensor([[6e4, 6e4, -6e4]], dtype=torch.float16), labels(1)), LOG_SPACE_HINT),
        Case("a single class (logits [[4], [-4]])", (torch.tensor([[4.0], [-4.0]]), labels(0, 0)),
             "with one class its probability is 1 and the loss 0"),
        Case("an empty batch (logits of shape [0, 5])", (torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)),
             "an empty batch gives an empty result of shape [0]"),
    ]


register(Exercise(
    name="grokking.stablemax_cross_entropy", chapter="01_grokking", reference=_stablemax_ce,
    summary="per-sample StableMax cross-entropy: fixed logits, [8, 113], float64, logits 3e38 (float32) "
            "and 6e4 (float16), one class, an empty batch",
    cases=_ce_cases,
    mistakes=(
        Mistake("the softmax cross-entropy",
                lambda logits, targets: torch.nn.functional.cross_entropy(logits, targets, reduction="none"),
                "that is the softmax cross-entropy: StableMax uses s(z) where softmax uses e^z"),
        Mistake("the ratio s / Σ s in linear space", _naive_stablemax_ce, LOG_SPACE_HINT),
        Mistake("the mean over the batch", lambda logits, targets: _stablemax_ce(logits, targets).mean(),
                "return one loss per sample, shape [N], not their mean"),
        Mistake("log p without the minus", lambda logits, targets: -_stablemax_ce(logits, targets),
                "the cross-entropy is −log p (positive): your losses have the wrong sign"),
    ),
))


def _perp_grad(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The library's ⊥Grad for one parameter tensor (it works on a stack of replicas)."""
    return optim.perp_grad(w.unsqueeze(0), g.unsqueeze(0)).squeeze(0)


def _perp_no_rescale(w, g):
    return g - (w * g).sum() / (w * w).sum() * w


def _perp_unguarded(w, g):
    g_perp = _perp_no_rescale(w, g)
    return g_perp * g.norm() / g_perp.norm()


def _perp_per_row(w, g):
    g_perp = g - (w * g).sum(-1, keepdim=True) / (w * w).sum(-1, keepdim=True) * w
    return g_perp * g.norm() / g_perp.norm()


def _perp_in_place(w, g):
    norm = g.norm()
    g -= (w * g).sum() / (w * w).sum() * w
    return g * norm / g.norm()


def _perp_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(3)
    pair = lambda *shape, dtype=torch.float32: (torch.randn(*shape, generator=gen, dtype=dtype),
                                                torch.randn(*shape, generator=gen, dtype=dtype))
    return [
        Case("w = [1, 0], g = [1, 1]", (torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])),
             "g⊥ = g − (w·g / w·w) w = [0, 1], then rescaled to the length of g, ‖g‖ = √2"),
        Case("random w, g of shape [200]", pair(200),
             "g⊥ = g − (w·g / w·w) w, then g⊥ · ‖g‖ / ‖g⊥‖"),
        Case("random w, g of shape [20, 30] (a weight matrix)", pair(20, 30),
             "⊥Grad treats a whole weight tensor as one vector: w·g is one number (a sum over all entries), "
             "not one per row"),
        Case("random w, g of shape [2, 3, 4] in float64", pair(2, 3, 4, dtype=torch.float64),
             "any shape, and keep the dtype"),
        Case("w = 0 (shape [5])", (torch.zeros(5), torch.randn(5, generator=gen)),
             "with w = 0 there is no direction to remove: return g unchanged (guard the division by w·w)"),
        Case("g = 0 (shape [5])", (torch.randn(5, generator=gen), torch.zeros(5)),
             "a zero gradient stays zero: guard the division by ‖g⊥‖"),
        Case("empty w and g (shape [0])", (torch.zeros(0), torch.zeros(0)), "an empty tensor gives an empty result"),
    ]


register(Exercise(
    name="grokking.perp_grad", chapter="01_grokking", reference=_perp_grad,
    summary="⊥Grad with the norm rescale for one tensor: a fixed 2-vector, random vectors, matrices and "
            "float64 3-D tensors, w = 0, g = 0, empty; the arguments must stay unchanged",
    cases=_perp_cases,
    mistakes=(
        Mistake("no guard for w = 0", _perp_unguarded,
                "with w = 0 there is no direction to remove: return g unchanged (guard the division by w·w)"),
        Mistake("forgetting the norm rescale", _perp_no_rescale,
                "rescale g⊥ to the length of g, g⊥ · ‖g‖ / ‖g⊥‖: ⊥Grad keeps the gradient's size and only "
                "turns its direction"),
        Mistake("dividing by ‖w‖ instead of w·w",
                lambda w, g: (lambda p: p * g.norm() / p.norm())(g - (w * g).sum() / w.norm() * w),
                "the projection on w is (w·g / w·w) w: divide by the squared norm w·w, not by ‖w‖"),
        Mistake("projecting each row on its own", _perp_per_row,
                "⊥Grad treats a whole weight tensor as one vector: w·g is one number (a sum over all entries), "
                "not one per row"),
        Mistake("changing g in place", _perp_in_place, IN_PLACE_HINT),
    ),
))


register(Exercise(
    name="grokking.collapse_gap", chapter="01_grokking", reference=losses.collapse_gap,
    summary="the logit gap at which the softmax sum rounds to 1, for float16/32/64 and 2, 10 or 113 classes",
    cases=lambda: [Case(f"precision = {p!r}, num_classes = {c}", (p, c),
                        "the sum is 1 + (C − 1)·e^(−g); it rounds to 1 once (C − 1)·e^(−g) < ε/2, "
                        "ε = torch.finfo(getattr(torch, precision)).eps")
                   for p, c in (("float32", 2), ("float32", 113), ("float16", 2), ("float64", 10),
                                ("float16", 113))],
    mistakes=(
        Mistake("ln(1/ε), without the half ulp",
                lambda precision, num_classes=2: math.log((num_classes - 1) / torch.finfo(DTYPES[precision]).eps),
                "a sum rounds to 1 once what is added is below half an ulp of 1, ε/2: the threshold is "
                "ln(2(C − 1)/ε), not ln((C − 1)/ε)"),
        Mistake("ignoring num_classes", lambda precision, num_classes=2: losses.collapse_gap(precision),
                "with C − 1 equal runners-up the sum is 1 + (C − 1)·e^(−g): the gap grows by ln(C − 1)"),
        Mistake("C instead of C − 1 runners-up",
                lambda precision, num_classes=2: math.log(num_classes * 2 / torch.finfo(DTYPES[precision]).eps),
                "the top class is not a runner-up: there are C − 1 of them"),
        Mistake("log10 instead of ln", lambda precision, num_classes=2: losses.collapse_gap(precision, num_classes)
                / math.log(10), "e^(−g) < ... is solved by the natural logarithm (math.log), not log10"),
    ),
))


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


def timing_note(chapter: str, path: Path = TIMINGS):
    """How long executing `chapter` (e.g. "01_grokking") took, as measured by `make classroom`."""
    from IPython.display import Markdown

    lines = timing_lines(chapter, path)
    if not lines:
        return Markdown(f"*Time:* not measured yet for `{chapter}` (`make classroom` measures it).")
    gpu = "" if set(lines) - {"cpu"} else " Not measured on a GPU yet; the CPU is enough."
    return Markdown("*Time:* executing this page top to bottom took " + "; ".join(lines.values()) + " by "
                    "`make classroom`, from an empty result cache (shipped results are loaded, the rest is "
                    "trained)." + gpu)
