"""Plausible bugs in chapter 1 (minilib.grokking), each of which tests/test_science_grokking.py must catch.

M1-M14 are the fourteen mutations of issue 14: each one replaces one function or method.
"""

from __future__ import annotations

import math

import torch

from minilib import replicas
from minilib.grokking import losses

from .registry import Mutant


def _per_replica_dot(u, v):
    return (u * v).flatten(1).sum(1).reshape(-1, *([1] * (u.dim() - 1)))


def _perp_without_rescale(perp_grad):
    def perp(w, g):
        ww = _per_replica_dot(w, w)
        return g - _per_replica_dot(w, g) / ww.clamp(min=torch.finfo(w.dtype).tiny) * w
    return perp


def _collapse_in_float32(softmax_collapse):
    def collapse(*args, **kwargs):
        return softmax_collapse(*args, **{**kwargs, "precision": "float32"})
    return collapse


def _collapse_on_test_logits(evaluate):
    def on_test(self):
        out = evaluate(self)
        a, b, _ = self.sets["test"]
        with torch.no_grad():
            logits = self.model.logits(a, b)
            sc = [losses.softmax_collapse(logits[r], loss=c.loss, precision=c.precision).double().mean()
                  for r, c in enumerate(self.configs)]
        out["sc_fraction"] = torch.stack(sc).cpu().numpy()
        return out
    return on_test


def _leak_train_into_test(split):
    def leaky(*args, **kwargs):
        out = split(*args, **kwargs)
        train, test = out["train"], out["test"]
        k = max(1, round(0.05 * len(train[0])))
        out["test"] = tuple(torch.cat([t, tr[:k]]) for t, tr in zip(test, train))
        return out
    return leaky


def _test_is_all_pairs(split):
    def everything(*args, **kwargs):
        out = split(*args, **kwargs)
        out["test"] = tuple(torch.cat([tr, t]) for tr, t in zip(out["train"], out["test"]))
        return out
    return everything


def _split_ignores_seed(split):
    def fixed(modulus, operation, train_fraction, generator):
        return split(modulus, operation, train_fraction, torch.Generator().manual_seed(0))
    return fixed


def _flip_nlm_sign(evaluate):
    def flipped(self):
        out = evaluate(self)
        out["nlm_cosine"] = -out["nlm_cosine"]
        return out
    return flipped


def _params(self, params):
    return list(self.params if params is None else params)


def _no_mlp_residual(logits):
    def without(self, a, b, params=None):
        ps = _params(self, params)
        # x + MLP(x) read out, minus x read out (the MLP zeroed: W_in, b_in, b_out = 0) = MLP(x) read out.
        bare = list(ps)
        for i in (4, 5, 7):
            bare[i] = torch.zeros_like(ps[i])
        return logits(self, a, b, ps) - logits(self, a, b, bare)
    return without


def _attention_unscaled(logits):
    def unscaled(self, a, b, params=None):
        ps = _params(self, params)
        d = self.D_MODEL
        # Scaling W_Q by sqrt(d_head) is the same as not dividing the scores q·k by sqrt(d_head).
        ps[2] = torch.cat([ps[2][..., :d] * math.sqrt(d // self.HEADS), ps[2][..., d:]], dim=-1)
        return logits(self, a, b, ps)
    return unscaled


def _stablemax_always_float64(cross_entropy):
    def ce(*args, **kwargs):
        if kwargs.get("loss") == "stablemax":
            kwargs["precision"] = "float64"
        return cross_entropy(*args, **kwargs)
    return ce


def _adamw_decay_twice(step):
    def twice(self, grads):
        if self.kind == "adamw":
            with torch.no_grad():
                for w in self.params:
                    shape = (-1,) + (1,) * (w.dim() - 1)
                    w.mul_(1 - (self.lr * self.wd).to(w.dtype).reshape(shape))
        return step(self, grads)
    return twice


def _stacked_grad_of_the_mean(forward_backward):
    def mean_not_sum(self):
        loss, grads, *rest = forward_backward(self)
        R = len(self.configs)
        if replicas.stacked(self.device, R):
            grads = [g / R for g in grads]  # d(loss.mean())/dθ = d(loss.sum())/dθ / R
        return (loss, grads, *rest)
    return mean_not_sum


GROK = "minilib.grokking"
SPLIT_CHECK = "test_train_and_test_pairs_are_disjoint_cover_every_pair_and_change_with_the_seed"
COLLAPSE_CHECK = "test_softmax_collapse_is_measured_on_the_training_set_in_the_loss_precision"
PERP_CHECK = "test_perp_grad_removes_the_component_along_the_weights_and_keeps_the_norm"
TRANSFORMER_CHECK = "test_transformer_matches_a_full_sequence_reference_in_logits_and_gradients"

MUTANTS = [
    Mutant("M1 perp_grad without rescale", "⊥Grad drops the component along w but does not rescale to ‖g‖",
           f"{GROK}.optim:perp_grad", _perp_without_rescale, (PERP_CHECK,)),
    Mutant("M2 perp_grad is identity", "⊥Grad leaves the gradient unchanged",
           f"{GROK}.optim:perp_grad", lambda perp_grad: (lambda w, g: g), (PERP_CHECK,)),
    Mutant("M3 stablemax is softmax", "the StableMax loss uses exp, i.e. log s(x) = x (plain softmax)",
           f"{GROK}.losses:stablemax_log_s", lambda log_s: (lambda x: x),
           ("test_stablemax_cross_entropy_is_minus_log_of_the_s_ratio",)),
    Mutant("M4 collapse always float32", "the collapse metric ignores the loss precision, always float32",
           f"{GROK}.losses:softmax_collapse", _collapse_in_float32, (COLLAPSE_CHECK,)),
    Mutant("M5 collapse on test logits", "sc_fraction is measured on the test logits, not the training logits",
           f"{GROK}.experiment:_Experiment.evaluate", _collapse_on_test_logits, (COLLAPSE_CHECK,)),
    Mutant("M6 5% train-test leak", "5% of the training pairs are also in the test set",
           f"{GROK}.data:split", _leak_train_into_test, (SPLIT_CHECK,)),
    Mutant("M7 test set is all pairs", "the test set is every pair, training pairs included",
           f"{GROK}.data:split", _test_is_all_pairs, (SPLIT_CHECK,)),
    Mutant("M8 split ignores the seed", "every seed trains on the same split (generator seeded with 0)",
           f"{GROK}.data:split", _split_ignores_seed, (SPLIT_CHECK,)),
    Mutant("M9 AdamW decay twice", "AdamW multiplies the weights by (1 − lr·wd) twice per step",
           "minilib.replicas:StackedOptimizer.step", _adamw_decay_twice, ("test_optimizer_steps_follow_torch_optim",)),
    Mutant("M10 NLM cosine sign flipped", "nlm_cosine reports cos(+g, w) instead of cos(−g, w)",
           f"{GROK}.experiment:_Experiment.evaluate", _flip_nlm_sign,
           ("test_nlm_cosine_is_the_cosine_between_minus_the_gradient_and_the_weights",)),
    Mutant("M11 transformer without MLP residual", "the MLP block replaces the residual stream: x = MLP(x)",
           f"{GROK}.models:Transformer.logits", _no_mlp_residual, (TRANSFORMER_CHECK,)),
    Mutant("M12 attention without 1/sqrt(d)", "attention scores q·k are not divided by sqrt(d_head)",
           f"{GROK}.models:Transformer.logits", _attention_unscaled, (TRANSFORMER_CHECK,)),
    Mutant("M13 stablemax loss always float64", "the StableMax loss ignores `precision` and runs in float64",
           f"{GROK}.losses:cross_entropy", _stablemax_always_float64,
           ("test_each_loss_is_computed_in_the_precision_asked_for",)),
    Mutant("M14 batched path differentiates the mean", "the batched (GPU) path differentiates loss.mean() "
           "over replicas instead of the sum", f"{GROK}.experiment:_Experiment.forward_backward",
           _stacked_grad_of_the_mean, ("test_the_batched_path_forced_on_a_cpu_trains_like_one_replica_at_a_time",)),
]
