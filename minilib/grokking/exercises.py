"""The coded exercises of chapter 1 (nbs/01_grokking.py), registered with minilib.exercises."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..exercises import IN_PLACE_HINT, Case, Mistake, exercise
from ..runtime import DTYPES
from . import losses, optim

CHAPTER = "01_grokking"


WHERE_HINT = ("torch.where evaluates both branches everywhere, and the unused branch's gradient is multiplied by 0: "
              "at x = 1 the branch 1 / (1 − x) is infinite, and 0 · inf = NaN. Give that branch only values where "
              "it is finite: 1 / (1 − x.clamp(max=0))")
ELEMENTWISE_HINT = "s acts elementwise on a tensor of any shape: use tensor operations (torch.where), not a loop"


def _stablemax_s_cases(gen: torch.Generator) -> list[Case]:
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


exercise(
    name="grokking.stablemax_s", chapter=CHAPTER, reference=losses.stablemax_s,
    summary="s(x) elementwise: fixed values, random shapes, float64, float16, |x| = 1e30, empty, and its "
            "gradient at x = 1",
    cases=_stablemax_s_cases, seed=1,
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
)


def _stablemax_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The library's StableMax cross-entropy, per sample, in the logits' own dtype."""
    precision = {v: k for k, v in DTYPES.items()}[logits.dtype]
    return losses.cross_entropy(logits, targets, loss="stablemax", precision=precision)


def _naive_stablemax_ce(logits, targets):
    s = losses.stablemax_s(logits)
    return -torch.log(s.gather(-1, targets[:, None])[:, 0] / s.sum(-1))


LOG_SPACE_HINT = ("s(x) itself overflows for huge logits (their sum is inf): work in log space, "
                  "log s(x) = sign(x)·log1p(|x|) (grokking.stablemax_log_s), then torch.log_softmax")


def _ce_cases(gen: torch.Generator) -> list[Case]:
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


exercise(
    name="grokking.stablemax_cross_entropy", chapter=CHAPTER, reference=_stablemax_ce,
    summary="per-sample StableMax cross-entropy: fixed logits, [8, 113], float64, logits 3e38 (float32) "
            "and 6e4 (float16), one class, an empty batch",
    cases=_ce_cases, seed=2, forbidden=(losses.cross_entropy, losses.normaliser_logits),
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
)


def _perp_grad(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The library's ⊥Grad for one parameter tensor (it works on a stack of replicas)."""
    return optim.perp_grad(w.unsqueeze(0), g.unsqueeze(0)).squeeze(0)


def _perp_no_rescale(w, g):
    return g - (w * g).sum() / (w * w).sum() * w


def _perp_unguarded(w, g):
    g_perp = _perp_no_rescale(w, g)
    return g_perp * g.norm() / g_perp.norm()


def _perp_w_guard_only(w, g):
    if (w * w).sum() == 0:
        return g.clone()
    return _perp_unguarded(w, g)


def _perp_per_row(w, g):
    g_perp = g - (w * g).sum(-1, keepdim=True) / (w * w).sum(-1, keepdim=True) * w
    return g_perp * g.norm() / g_perp.norm()


def _perp_in_place(w, g):
    norm = g.norm()
    g -= (w * g).sum() / (w * w).sum() * w
    return g * norm / g.norm()


G_ZERO_HINT = "a zero gradient stays zero: guard the division by ‖g⊥‖ (with g = 0, g⊥ = 0 and 0 / 0 is NaN)"


def _perp_cases(gen: torch.Generator) -> list[Case]:
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
        Case("g = 0 (shape [5])", (torch.randn(5, generator=gen), torch.zeros(5)), G_ZERO_HINT),
        Case("empty w and g (shape [0])", (torch.zeros(0), torch.zeros(0)), "an empty tensor gives an empty result"),
    ]


exercise(
    name="grokking.perp_grad", chapter=CHAPTER, reference=_perp_grad,
    summary="⊥Grad with the norm rescale for one tensor: a fixed 2-vector, random vectors, matrices and "
            "float64 3-D tensors, w = 0, g = 0, empty; the arguments must stay unchanged",
    cases=_perp_cases, seed=3, forbidden=(optim.perp_grad,),
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
        Mistake("a guard for w = 0 but none for g = 0", _perp_w_guard_only, G_ZERO_HINT),
    ),
)


FLOAT16_HINT = ("; in float16 keep the arithmetic in Python floats (float(eps)): 2(C − 1)/ε overflows float16 "
                "for C = 113")


def _gap_in_float16(precision, num_classes=2):
    """The gap computed in the precision's own NumPy type: float16 overflows for many classes."""
    with np.errstate(over="ignore"):
        return float(np.log(2 * (num_classes - 1) / np.finfo(precision).eps))


exercise(
    name="grokking.collapse_gap", chapter=CHAPTER, reference=losses.collapse_gap,
    summary="the logit gap at which the softmax sum rounds to 1, for float16/32/64 and 2, 10 or 113 classes",
    cases=lambda: [Case(f"precision = {p!r}, num_classes = {c}", (p, c),
                        "the sum is 1 + (C − 1)·e^(−g); it rounds to 1 once (C − 1)·e^(−g) < ε/2, "
                        "ε = torch.finfo(getattr(torch, precision)).eps" + (FLOAT16_HINT if p == "float16" else ""))
                   for p, c in (("float32", 2), ("float32", 113), ("float16", 2), ("float64", 10),
                                ("float16", 113))],
    # The gap is a threshold on logits, not a float computation to reproduce bit for bit: 1e-3 relative
    # accepts it computed in float16 (np.log(2 / np.finfo("float16").eps) = 7.625 against 7.62462, 5e-5
    # relative; ln(224 / ε16) rounded to float16 is within 3e-4), and still rejects every recorded mistake
    # on the first case (the nearest, C instead of C − 1 runners-up, is off by ln 2 / 16.6 = 4 %).
    rtol=1e-3, atol=0.0,
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
        Mistake("float16 arithmetic (np.finfo(precision).eps is a float16 number)", _gap_in_float16,
                "np.finfo('float16').eps is a NumPy float16, so 2(C − 1)/ε is computed in float16 and overflows "
                "(its largest number is 65504): turn it into a Python float first, float(np.finfo(precision).eps)"),
        Mistake("log10 instead of ln", lambda precision, num_classes=2: losses.collapse_gap(precision, num_classes)
                / math.log(10), "e^(−g) < ... is solved by the natural logarithm (math.log), not log10"),
    ),
)
