"""Science checks of chapter 1 (grokking): each physical claim the chapter rests on, against a reference.

tests/mutation/ injects plausible bugs (grokking_mutants.py) and requires at least one of these checks
to fail with each. So the checks take no fixtures (the mutation runner calls them directly) and reach
library functions through their modules at call time (`losses.cross_entropy`, not a name imported
here), so that a patched function is the one checked.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minilib import grokking as g
from minilib import replicas
from minilib.grokking import data, losses, models, optim

PRECISIONS = ("float16", "float32", "float64")


def _label(a: int, b: int, p: int, op: str) -> int:
    if op == "add":
        return (a + b) % p
    if op == "div":
        return a * pow(b, p - 2, p) % p
    raise ValueError(op)


# --- the task: which pairs the model trains on ------------------------------------------------------


def test_train_and_test_pairs_are_disjoint_cover_every_pair_and_change_with_the_seed():
    # Record the splits a run itself draws, so the check covers the pairs actually trained on.
    drawn = []
    real = data.split

    def recording(*args, **kwargs):
        out = real(*args, **kwargs)
        drawn.append(out)
        return out

    configs = [g.Config(modulus=11, operation=op, train_fraction=0.4, seed=seed, width=8, epochs=1, num_logs=2,
                        device="cpu") for op in ("add", "div") for seed in (0, 1, 0)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data, "split", recording)
        for c in configs:
            g.run(c, progress=False)
    assert len(drawn) == len(configs), f"{len(configs)} runs drew {len(drawn)} splits through data.split"
    train_sets = []
    for c, s in zip(configs, drawn):
        p, op = c.modulus, c.operation
        every = {(a, b) for a in range(p) for b in range(p) if op != "div" or b != 0}
        parts = {}
        for part in ("train", "test"):
            a, b, y = (t.tolist() for t in s[part])
            parts[part] = set(zip(a, b))
            assert len(parts[part]) == len(a), f"{op}, seed {c.seed}: a pair appears twice in the {part} set"
            wrong = [(x, z, w) for x, z, w in zip(a, b, y) if w != _label(x, z, p, op)]
            assert not wrong, f"{op}: wrong labels (a, b, y) in the {part} set: {wrong[:3]}"
        leak = parts["train"] & parts["test"]
        assert not leak, f"{op}, seed {c.seed}: {len(leak)} training pairs are also test pairs, e.g. {sorted(leak)[:3]}"
        assert parts["train"] | parts["test"] == every, f"{op}: train and test together miss some pairs"
        assert len(parts["train"]) == int(c.train_fraction * len(every)), f"{op}: train set of the wrong size"
        train_sets.append(parts["train"])
    for i in (0, 3):  # per operation: seeds 0, 1, 0
        assert train_sets[i] != train_sets[i + 1], "seeds 0 and 1 train on the same pairs: the split ignores the seed"
        assert train_sets[i] == train_sets[i + 2], "seed 0 twice gives two different splits"


# --- the losses ------------------------------------------------------------------------------------


def test_stablemax_cross_entropy_is_minus_log_of_the_s_ratio():
    # Prieto et al. 2025: StableMax(x)_i = s(x_i) / sum_j s(x_j), s(x) = x + 1 (x >= 0), 1/(1 - x) (x < 0).
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 9, generator=gen, dtype=torch.float64) * 5
    y = torch.randint(0, 9, (6,), generator=gen)
    s = torch.where(x >= 0, x + 1, 1 / (1 - x))
    expected = -torch.log(s.gather(1, y[:, None])[:, 0] / s.sum(1))
    got = losses.cross_entropy(x, y, loss="stablemax", precision="float64")
    assert torch.allclose(got, expected, rtol=1e-10), f"StableMax CE {got.tolist()} != -log s-ratio {expected.tolist()}"
    soft = -torch.log_softmax(x, -1).gather(1, y[:, None])[:, 0]
    assert torch.allclose(losses.cross_entropy(x, y, loss="softmax", precision="float64"), soft, rtol=1e-10)


def test_each_loss_is_computed_in_the_precision_asked_for():
    # A runner-up share below half an ulp of 1 rounds away in float32 (loss exactly 0), not in float64.
    # softmax: gap 20 (share e^-20 = 2e-9); StableMax: s(1e9) / s(0) = 1e9 + 1 (share 1e-9).
    y = torch.tensor([0])
    for loss, top in (("softmax", 20.0), ("stablemax", 1e9)):
        x = torch.tensor([[top, 0.0]])
        lo = losses.cross_entropy(x, y, loss=loss, precision="float32")
        hi = losses.cross_entropy(x, y, loss=loss, precision="float64")
        assert lo.item() == 0.0, f"{loss} loss in float32 is {lo.item()!r}, not 0: computed in higher precision"
        assert 0 < hi.item() < 1e-8, f"{loss} loss in float64 is {hi.item()!r}: not computed in float64"


# --- ⊥Grad ------------------------------------------------------------------------------------------


def test_perp_grad_removes_the_component_along_the_weights_and_keeps_the_norm():
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(3, 8, 5, generator=gen, dtype=torch.float64)
    grad = torch.randn(3, 8, 5, generator=gen, dtype=torch.float64) + 0.7 * w  # a real component along w
    gp = optim.perp_grad(w, grad)
    flat = lambda t: t.flatten(1)  # per replica
    assert (flat(gp) * flat(w)).sum(1).abs().max() < 1e-10, "⊥Grad keeps a component along the weights"
    assert torch.allclose(flat(gp).norm(dim=1), flat(grad).norm(dim=1)), "⊥Grad changes the gradient's norm"
    # Reference, one replica at a time: g − (w·g / w·w) w, rescaled to ‖g‖.
    for r in range(3):
        wr, gr = flat(w)[r], flat(grad)[r]
        ref = gr - (wr @ gr) / (wr @ wr) * wr
        ref = ref * gr.norm() / ref.norm()
        assert torch.allclose(flat(gp)[r], ref), f"replica {r}: ⊥Grad differs from g⊥ rescaled to ‖g‖"


def test_a_perp_sgd_step_changes_the_weight_norm_only_at_second_order():
    # g⊥ is orthogonal to w and as long as g: ‖w − lr·g⊥‖² = ‖w‖² + lr²‖g‖² exactly, so ⊥Grad cannot move
    # the weights along the naive-loss-minimisation direction (scaling them up).
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(2, 6, 4, generator=gen, dtype=torch.float64).requires_grad_()
    grad = torch.randn(2, 6, 4, generator=gen, dtype=torch.float64) - 0.5 * w.detach()
    before = w.detach().flatten(1).square().sum(1)
    lr = 0.1
    optim.make([w], "perp_sgd", lr=lr, weight_decay=0.0).step([grad])
    after = w.detach().flatten(1).square().sum(1)
    expected = before + lr**2 * grad.flatten(1).square().sum(1)
    assert torch.allclose(after, expected, rtol=1e-12), (
        f"‖w‖² after a ⊥SGD step {after.tolist()}, expected {expected.tolist()}")


def _quadratic(seed=0):
    gen = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(32, 6, generator=gen), torch.randn(32, 3, generator=gen)
    return X, Y, torch.randn(6, 3, generator=gen)


def _reference_perp(w, g):
    g_perp = g - (w * g).sum() / (w * w).sum() * w
    return g_perp * g.norm() / g_perp.norm()


def test_optimizer_steps_follow_torch_optim():
    X, Y, W = _quadratic()
    adamw = dict(lr=0.05, weight_decay=0.3, beta2=0.95, eps=1e-3)
    torch_adamw = lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.3, betas=(0.9, 0.95), eps=1e-3)
    cases = [("adamw", adamw, torch_adamw, False), ("perp_adamw", adamw, torch_adamw, True),
             ("sgd", dict(lr=0.1, weight_decay=0.05, momentum=0.8),
              lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05, momentum=0.8), False)]
    for kind, hyper, make_ref, perp in cases:
        ours = W.clone()[None].requires_grad_()
        opt = optim.make([ours], kind, **hyper)
        ref = W.clone().requires_grad_()
        ref_opt = make_ref([ref])
        for _ in range(20):
            opt.step(torch.autograd.grad(((X @ ours[0] - Y) ** 2).mean(), [ours]))
            ref_opt.zero_grad()
            ((X @ ref - Y) ** 2).mean().backward()
            if perp:
                ref.grad = _reference_perp(ref.detach(), ref.grad)
            ref_opt.step()
        gap = (ours[0] - ref).abs().max().item()
        assert gap < 1e-5, f"{kind}: after 20 steps the weights differ from torch.optim's by {gap:.3g}"


# --- Softmax Collapse and NLM, measured by the training loop ---------------------------------------

P, GAP = 7, 28.0  # 6 runner-ups at e^-28: below float32's half ulp (gap 18.4), above float64's (38.5)


def _planted_split(modulus, operation, train_fraction, generator, *_, **__):
    """Every other pair trains: a fixed split, so the planted weights know which pairs are training pairs."""
    a = torch.arange(modulus).repeat_interleave(modulus)
    b = torch.arange(modulus).repeat(modulus)
    y = (a + b) % modulus
    train = torch.arange(modulus * modulus) % 2 == 0
    return {"train": (a[train], b[train], y[train]), "test": (a[~train], b[~train], y[~train])}


def _planted_weights(p: int, gap: float):
    """MLP weights whose logits are gap·onehot(label) on every training pair and 0 on every test pair.

    Hidden unit u = a·p + b fires (value 1) for the input (a, b) only: +1 from a's row, 0 from b's row;
    every other input gets 0 or less. The output layer maps a training unit to `gap` on its label.
    """
    width = p * p
    unit_a, unit_b = torch.arange(width) // p, torch.arange(width) % p
    rows = torch.arange(p)[:, None]
    W1 = torch.cat([torch.where(rows == unit_a, 1.0, -1.0), torch.where(rows == unit_b, 0.0, -1.0)])
    W2 = torch.eye(width)
    W3 = torch.zeros(width, p)
    a, b, y = _planted_split(p, "add", 0.5, None)["train"]
    W3[a * p + b, y] = gap
    return [W1, W2, W3]


def _planted_sweep(precisions, stacked=None):
    """One stacked sweep (a replica per precision) of the planted MLP, evaluated at its planted weights.

    stacked: None takes the device's own code path; True/False force the batched / per-replica one.
    """
    planted = _planted_weights(P, GAP)

    class Planted(models.MLP):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            with torch.no_grad():
                for w, v in zip(self.params, planted, strict=True):
                    w.copy_(v.expand_as(w))

    configs = [g.Config(modulus=P, width=P * P, train_fraction=0.5, precision=prec, optimizer="sgd", lr=1e-6,
                        epochs=1, num_logs=2, device="cpu") for prec in precisions]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data, "split", _planted_split)
        mp.setattr(models, "MLP", Planted)
        with replicas.force_stacked(stacked):
            runs = g.run_sweep(configs, progress=False)
    assert [int(r.history["step"][0]) for r in runs] == [0] * len(runs)
    return planted, runs


def test_softmax_collapse_is_measured_on_the_training_set_in_the_loss_precision():
    for stacked in (False, True):  # the CPU's per-replica path and the GPU's batched one
        _, runs = _planted_sweep(PRECISIONS, stacked)
        at_start = {m: [float(r.history[m][0]) for r in runs]
                    for m in ("sc_fraction", "zero_loss_fraction", "train_acc")}
        path = "batched path" if stacked else "per-replica path"
        assert at_start["train_acc"] == [1.0, 1.0, 1.0], f"{path}: planted weights misfit the training set"
        # The logit gap 28 collapses float16 and float32 (sum of exps rounds to 1), not float64. Test logits
        # are all 0 (no collapse), so a metric read off the test set reads 0 everywhere.
        assert at_start["sc_fraction"] == [1.0, 1.0, 0.0], (
            f"{path}: sc_fraction for {PRECISIONS} = {at_start['sc_fraction']}, expected [1, 1, 0] on the "
            "training set")
        assert at_start["zero_loss_fraction"] == [1.0, 1.0, 0.0], (
            f"{path}: zero_loss_fraction for {PRECISIONS} = {at_start['zero_loss_fraction']}: collapsed and "
            "correct means loss exactly 0")


def test_nlm_cosine_is_the_cosine_between_minus_the_gradient_and_the_weights():
    planted, runs = _planted_sweep(("float64",))
    # Reference: the dense one-hot MLP in float64 on the training pairs, plain autograd.
    W = [w.double().requires_grad_() for w in planted]
    a, b, y = _planted_split(P, "add", 0.5, None)["train"]
    x = torch.cat([F.one_hot(a, P), F.one_hot(b, P)], 1).double()
    logits = torch.relu(torch.relu(x @ W[0]) @ W[1]) @ W[2]
    grads = torch.autograd.grad(F.cross_entropy(logits, y), W)
    dot = sum((w * gr).sum() for w, gr in zip(W, grads))
    norm = lambda ts: math.sqrt(sum(float(t.detach().square().sum()) for t in ts))
    expected = -float(dot.detach()) / (norm(W) * norm(grads))
    # Every training pair is classified correctly, so scaling the weights up lowers the loss: cos > 0.
    assert expected > 0.01
    got = float(runs[0].history["nlm_cosine"][0])
    assert got == pytest.approx(expected, rel=1e-3), f"nlm_cosine {got} != cos(-g, w) {expected}"


# --- the transformer --------------------------------------------------------------------------------


def _reference_transformer(params, a, b, p, heads):
    """Nanda et al. 2023's one-layer transformer, one replica, written plainly over the sequence [a, b, =]."""
    W_E, W_pos, W_qkv, W_O, W_in, b_in, W_out, b_out, W_U = params
    n, d = len(a), W_E.shape[1]
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)  # [n, 3]; token p is "="
    x = W_E[tokens] + W_pos  # [n, 3, d]
    q, k, v = (x @ W_qkv).split(d, dim=-1)
    by_head = lambda t: t.view(n, 3, heads, d // heads).transpose(1, 2)  # [n, heads, 3, d_head]
    z = F.scaled_dot_product_attention(by_head(q), by_head(k), by_head(v), is_causal=True)
    x = x + z.transpose(1, 2).reshape(n, 3, d) @ W_O
    x = x + torch.relu(x @ W_in + b_in) @ W_out + b_out
    return x[:, 2] @ W_U  # read out at "="


def test_transformer_matches_a_full_sequence_reference_in_logits_and_gradients():
    p, n = 7, 20
    model = models.Transformer(p, [torch.Generator().manual_seed(s) for s in (0, 1)], torch.device("cpu"))
    params = [w.detach().double().requires_grad_() for w in model.params]
    gen = torch.Generator().manual_seed(5)
    a, b = torch.randint(0, p, (2, n), generator=gen), torch.randint(0, p, (2, n), generator=gen)
    probe = torch.randn(2, n, p, generator=gen, dtype=torch.float64)  # a fixed direction to differentiate along
    ours = model.logits(a, b, params)
    ours_grads = torch.autograd.grad((ours * probe).sum(), params)
    for r in range(2):
        own = [w[r].detach().requires_grad_() for w in params]
        ref = _reference_transformer(own, a[r], b[r], p, models.Transformer.HEADS)
        assert torch.allclose(ours[r], ref, rtol=1e-9, atol=1e-9), (
            f"replica {r}: logits differ from the reference by {(ours[r] - ref).abs().max().item():.3g}")
        ref_grads = torch.autograd.grad((ref * probe[r]).sum(), own)
        for i, (u, v) in enumerate(zip(ours_grads, ref_grads)):
            gap = (u[r] - v).abs().max().item()
            assert torch.allclose(u[r], v, rtol=1e-8, atol=1e-10), (
                f"replica {r}: gradient of params[{i}] differs from the reference by {gap:.3g}")



# --- the batched (GPU) code path --------------------------------------------------------------------


def test_the_batched_path_forced_on_a_cpu_trains_like_one_replica_at_a_time():
    # SGD, not Adam: Adam's step is blind to the gradient's scale, so a gradient off by a factor R
    # (the mean over replicas differentiated instead of the sum) would pass unseen.
    base = g.Config(modulus=11, train_fraction=0.5, width=24, optimizer="sgd", lr=5.0, epochs=12, num_logs=4,
                    device="cpu")
    configs = [base.replace(seed=0), base.replace(seed=1, lr=4.0, precision="float64"),
               base.replace(seed=2, loss="stablemax", momentum=0.5)]
    with replicas.force_stacked(False):
        one_by_one = g.run_sweep(configs, progress=False)
    with replicas.force_stacked(True):
        batched = g.run_sweep(configs, progress=False)
    for c, a, b in zip(configs, one_by_one, batched):
        assert a.status == b.status == "completed"
        assert a.history["train_loss"][-1] < 0.97 * a.history["train_loss"][0], f"seed {c.seed} did not train"
        for k in a.history:
            # a bmm over three replicas sums in another order than three matmuls: float32 round-off
            np.testing.assert_allclose(b.history[k], a.history[k], rtol=2e-4, atol=1e-6,
                                       err_msg=f"seed {c.seed}, {k}: batched path != per-replica path")
