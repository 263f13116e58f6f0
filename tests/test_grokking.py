"""Unit tests of minilib.grokking: losses, ⊥Grad/AdamW, collapse measurement, models, configs, runs."""

import math
import threading

import numpy as np
import pytest
import torch

from minilib import grokking as g
from minilib.grokking import models, optim
from minilib.runs import ConfigError

# --- StableMax ------------------------------------------------------------------------------------


def test_stablemax_matches_the_formula_and_its_log1p_form():
    x = torch.tensor([[-50.0, -3.0, -0.5, 0.0, 0.25, 2.0, 40.0]], dtype=torch.float64)
    s = torch.where(x >= 0, x + 1, 1 / (1 - x))
    assert torch.allclose(g.stablemax_s(x), s)
    assert torch.allclose(g.stablemax(x), s / s.sum(-1, keepdim=True))
    assert torch.allclose(g.stablemax(x), torch.softmax(torch.sign(x) * torch.log1p(x.abs()), -1))


@pytest.mark.parametrize("precision", ["float16", "float32", "float64"])
def test_stablemax_cross_entropy_is_finite_at_huge_logits(precision):
    x = torch.tensor([[1e6, -1e6, 0.0, 3.0], [-1e6, 1e6, 1e6, -2.0]], requires_grad=True)
    y = torch.tensor([0, 3])
    loss = g.cross_entropy(x, y, loss="stablemax", precision=precision)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
    # Softmax at the same logits, in float16, overflows the cast and is not finite.
    assert not torch.isfinite(g.cross_entropy(x.detach(), y, loss="softmax", precision="float16")).all()


def test_stablemax_gradient_matches_the_ratio_form():
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (5,))
    ours = torch.autograd.grad(g.cross_entropy(x, y, loss="stablemax", precision="float64").sum(), x)[0]
    s = g.stablemax_s(x)
    ref = torch.autograd.grad(-(s / s.sum(-1, keepdim=True)).log().gather(1, y[:, None]).sum(), x)[0]
    assert torch.allclose(ours, ref)


# --- Softmax Collapse -------------------------------------------------------------------------------


def test_softmax_collapse_at_the_predicted_gap():
    gap32 = g.collapse_gap("float32")  # ln(2^24) ≈ 16.6
    assert 16 < gap32 < 17.5 and 36 < g.collapse_gap("float64") < 38 and 7 < g.collapse_gap("float16") < 8.5
    logits = torch.tensor([[0.0, -(gap32 - 0.5)], [0.0, -(gap32 + 0.5)], [0.0, -25.0]])
    assert g.softmax_collapse(logits, precision="float32").tolist() == [False, True, True]
    assert g.softmax_collapse(logits, precision="float64").tolist() == [False, False, False]
    assert g.softmax_collapse(logits[:1], precision="float16").tolist() == [True]
    # Collapsed and correct: the loss is exactly zero in float32, not in float64.
    y = torch.tensor([0, 0, 0])
    assert (g.cross_entropy(logits, y, precision="float32")[1:] == 0).all()
    assert (g.cross_entropy(logits, y, precision="float64") > 0).all()


def test_stablemax_in_float64_takes_log_s_after_the_cast():
    # The paper's code casts the logits to float64 before s(.); float32 log1p would round first.
    x = torch.tensor([[3e-8, -7e-8, 1.5, 1234.5678]], dtype=torch.float32)
    y = torch.tensor([2])
    s = g.stablemax_s(x.double())
    ref = -(s / s.sum(-1, keepdim=True)).log()[0, 2]
    assert g.cross_entropy(x, y, loss="stablemax", precision="float64").item() == pytest.approx(ref.item(), rel=1e-14)
    # float16 still takes log s in float32 first, so |x| = 1e6 stays finite (tested above).


def _experiment(**changes):
    from minilib.grokking.experiment import _Experiment

    return _Experiment([g.Config(modulus=5, width=8, **changes)])


def test_zero_loss_is_counted_in_the_loss_precision():
    # Gap 30 collapses the float32 sum (loss exactly 0) but not the float64 one (loss ≈ 4 e^-30 ≈ 3.7e-13).
    logits = torch.tensor([[[0.0, -30.0, -30.0, -30.0, -30.0]]])
    y = torch.tensor([[0]])
    for precision, zero in (("float32", True), ("float64", False)):
        loss, is_zero = _experiment(precision=precision).per_sample_loss(logits, y)
        assert loss.dtype == torch.float32 and is_zero.tolist() == [[zero]], precision


def test_collapse_metrics_of_softmax_and_stablemax_runs():
    # Gap 30 collapses a float32 softmax (gap > 16.6) but neither a float64 softmax nor a StableMax sum.
    logits = torch.tensor([[[0.0, -30.0, -30.0, -30.0, -30.0]]])
    soft64 = _experiment(precision="float64")._collapse(logits)
    assert soft64["sc_fraction"].item() == 0 and "stablemax_sc_fraction" not in soft64
    stable64 = _experiment(loss="stablemax", precision="float64")._collapse(logits)
    # The paper's logger: ordinary softmax of the raw logits in float32, whatever the StableMax precision.
    assert stable64["sc_fraction"].item() == 1 and stable64["stablemax_sc_fraction"].item() == 0
    # The StableMax sum collapses only at gaps near 1/eps: 1e8 in float32 (s(-1e8) ≈ 1e-8 < 2^-24 / 4).
    huge = torch.tensor([[[0.0, -1e9, -1e9, -1e9, -1e9]]])
    assert _experiment(loss="stablemax", precision="float32")._collapse(huge)["stablemax_sc_fraction"].item() == 1
    assert _experiment(loss="stablemax", precision="float64")._collapse(huge)["stablemax_sc_fraction"].item() == 0


def test_code_version_moves_only_the_changed_kinds_of_run():
    base = g.Config()
    assert g.code_version(base) == g.CODE_VERSION
    assert g.code_version(base.replace(precision="float16")) == g.CODE_VERSION
    assert g.code_version(base.replace(precision="float64")) == g.CODE_VERSION
    assert g.code_version(base.replace(loss="stablemax")) == g.CODE_VERSION + 1
    assert g.code_version(g.transformer_config()) == g.CODE_VERSION  # see code_version's docstring


# --- Optimizers ---------------------------------------------------------------------------------


def _toy(seed=0):
    gen = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(32, 6, generator=gen), torch.randn(32, 3, generator=gen)
    W = torch.randn(6, 3, generator=gen)
    return X, Y, W


def _ours(kind, W, X, Y, steps, **kw):
    w = W.clone()[None].requires_grad_()
    opt = optim.make([w], kind, **kw)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(((X @ w[0] - Y) ** 2).mean(), [w])
        opt.step([grad])
    return w[0].detach()


def _torch(W, X, Y, steps, make, perp=False):
    w = W.clone().requires_grad_()
    opt = make([w])
    for _ in range(steps):
        opt.zero_grad()
        ((X @ w - Y) ** 2).mean().backward()
        if perp:
            w.grad = g.perp_grad(w.detach()[None], w.grad[None])[0]
        opt.step()
    return w.detach()


@pytest.mark.parametrize("perp", [False, True])
def test_adamw_honours_betas_and_eps_like_torch(perp):
    X, Y, W = _toy()
    kw = dict(lr=0.05, weight_decay=0.3, beta2=0.9, eps=0.3)
    ours = _ours("perp_adamw" if perp else "adamw", W, X, Y, 25, **kw)
    ref = _torch(W, X, Y, 25, lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.3, betas=(0.9, 0.9),
                                                            eps=0.3), perp)
    assert torch.allclose(ours, ref, atol=1e-5)
    # The bug in the public code (betas/eps silently at torch's defaults) gives a visibly different result.
    default = _torch(W, X, Y, 25, lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.3), perp)
    assert (ours - default).abs().max() > 1e-3


def test_sgd_with_momentum_and_decay_like_torch():
    X, Y, W = _toy(1)
    ours = _ours("sgd", W, X, Y, 20, lr=0.1, weight_decay=0.01, momentum=0.8)
    ref = _torch(W, X, Y, 20, lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01, momentum=0.8))
    assert torch.allclose(ours, ref, atol=1e-5)


def test_perp_grad_is_orthogonal_to_the_weights_and_keeps_the_norm():
    gen = torch.Generator().manual_seed(3)
    w, grad = torch.randn(4, 10, 7, generator=gen, dtype=torch.float64), torch.randn(4, 10, 7, generator=gen,
                                                                                    dtype=torch.float64)
    gp = g.perp_grad(w, grad)
    dots = (gp * w).flatten(1).sum(1)
    assert dots.abs().max() < 1e-10
    assert torch.allclose(gp.flatten(1).norm(dim=1), grad.flatten(1).norm(dim=1))
    # A gradient along the weights would only scale them; ⊥Grad leaves nothing of it... except zero.
    assert torch.isfinite(g.perp_grad(torch.zeros(2, 3), torch.ones(2, 3))).all()


def test_per_replica_hyperparameters_match_separate_runs():
    X, Y, W = _toy(2)
    lrs, wds = [0.01, 0.03], [0.0, 0.5]
    w = torch.stack([W, W]).requires_grad_()
    opt = optim.make([w], "adamw", lr=lrs, weight_decay=wds, beta2=[0.99, 0.999], eps=1e-8)
    for _ in range(10):
        loss = sum(((X @ w[r] - Y) ** 2).mean() for r in range(2))
        opt.step(list(torch.autograd.grad(loss, [w])))
    for r in range(2):
        alone = _ours("adamw", W, X, Y, 10, lr=lrs[r], weight_decay=wds[r], beta2=[0.99, 0.999][r], eps=1e-8)
        assert torch.allclose(w[r].detach(), alone, atol=1e-6)


# --- Models ---------------------------------------------------------------------------------------


def test_embedding_gather_mlp_equals_the_dense_one_hot_mlp():
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    m = models.MLP(11, 16, gens, torch.device("cpu"))
    a, b = torch.randint(0, 11, (2, 30)), torch.randint(0, 11, (2, 30))
    z1, z2 = m.logits(a, b), m.logits_dense(a, b)
    assert torch.allclose(z1, z2, atol=1e-5)
    g1 = torch.autograd.grad(z1.square().sum(), m.params)
    g2 = torch.autograd.grad(z2.square().sum(), m.params)
    for u, v in zip(g1, g2):
        assert torch.allclose(u, v, atol=1e-4)


def test_labels_of_each_operation():
    for op, f in [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b)]:
        a, b, y = g.all_pairs(7, op)
        assert len(y) == 49 and all(int(yy) == f(int(aa), int(bb)) % 7 for aa, bb, yy in zip(a, b, y))
    a, b, y = g.all_pairs(7, "div")
    assert len(y) == 42 and all((int(yy) * int(bb)) % 7 == int(aa) for aa, bb, yy in zip(a, b, y))


# --- Configs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, words", [
    (dict(modulus=1), ["modulus=1", "2 <= modulus"]),
    (dict(train_fraction=0.0), ["train_fraction=0.0", "0 < train_fraction < 1"]),
    (dict(train_fraction=1.0), ["train_fraction=1.0", "0 < train_fraction < 1"]),
    (dict(optimizer="lion"), ["optimizer='lion'", "perp_adamw"]),
    (dict(operation="div", modulus=12), ["div", "prime", "modulus=12"]),
    (dict(precision="bfloat16"), ["precision='bfloat16'", "float64"]),
    (dict(modulus=3, train_fraction=0.05), ["train_fraction=0.05", "leaves 0 of 9"]),
    (dict(lr=-1.0), ["lr=-1.0", "lr <="]),
])
def test_bad_configs_name_the_field_the_value_and_the_range(changes, words):
    with pytest.raises(ConfigError) as err:
        g.Config(**changes)
    for w in words:
        assert w in str(err.value)


def test_defaults_are_the_papers_mlp():
    c = g.Config()
    assert (c.modulus, c.operation, c.model, c.width, c.precision, c.loss, c.beta2) == (
        113, "add", "mlp", 200, "float32", "softmax", 0.99)
    t = g.transformer_config()
    assert (t.model, t.lr, t.beta2, t.weight_decay, t.train_fraction) == ("transformer", 1e-3, 0.98, 1.0, 0.3)


# --- Runs -----------------------------------------------------------------------------------------

TINY = dict(modulus=13, width=32, epochs=30, num_logs=7)


def test_same_seed_same_history_and_other_seed_differs():
    # Bit-identical only on a CPU: on CUDA the index_add_ in the gather's backward is nondeterministic.
    c = g.Config(**TINY, device="cpu")
    r1, r2 = g.run(c, progress=False), g.run(c, progress=False)
    for k in r1.history:
        np.testing.assert_array_equal(r1.history[k], r2.history[k])
    r3 = g.run(c.replace(seed=1), progress=False)
    assert not np.array_equal(r1.history["train_loss"], r3.history["train_loss"])
    # A softmax run logs every metric but the StableMax-only one.
    assert set(g.METRICS) - {"stablemax_sc_fraction"} == set(r1.history) - {"step"}
    assert r1.history["step"][-1] == 30


def test_run_sweep_equals_single_runs():
    base = g.Config(**TINY, optimizer="perp_adamw")
    configs = [base.replace(seed=1), base.replace(lr=0.003, weight_decay=0.5),
               base.replace(precision="float64", seed=2), base.replace(loss="stablemax", beta2=0.999)]
    sweep = g.run_sweep(configs, progress=False)
    for c, rs in zip(configs, sweep):
        alone = g.run(c, progress=False)
        assert rs.config == c
        # One sweep logs the same keys for every replica (NaN where a metric does not apply).
        assert set(rs.history) == set(g.METRICS) | {"step"}
        for k in alone.history:
            np.testing.assert_allclose(rs.history[k], alone.history[k], rtol=1e-4, atol=1e-5, err_msg=k)
        if c.loss == "softmax":
            assert np.isnan(rs.history["stablemax_sc_fraction"]).all()


def test_transformer_runs_and_sweeps_like_single_runs():
    base = g.transformer_config(modulus=7, epochs=5, num_logs=3)
    configs = [base, base.replace(seed=4)]
    sweep = g.run_sweep(configs, progress=False)
    for c, rs in zip(configs, sweep):
        alone = g.run(c, progress=False)
        np.testing.assert_allclose(rs.history["train_loss"], alone.history["train_loss"], rtol=1e-4)
    assert np.isfinite(sweep[0].history["weight_norm"]).all()


def _torch_encoder(m, r):
    """torch.nn.TransformerEncoderLayer (the paper's model) holding replica r's weights of a PaperTransformer."""
    d, p = m.D_MODEL, m.p
    layer = torch.nn.TransformerEncoderLayer(d, m.HEADS)  # its defaults: feed-forward 2048, dropout 0.1
    emb, out = torch.nn.Embedding(p, d), torch.nn.Linear(d, p)
    E, W_in, b_in, W_o, b_o, g1, c1, W1, b1, W2, b2, g2, c2, W_U, b_U = [w[r].detach() for w in m.params]
    pairs = [(emb.weight, E), (layer.self_attn.in_proj_weight, W_in.T), (layer.self_attn.in_proj_bias, b_in),
             (layer.self_attn.out_proj.weight, W_o.T), (layer.self_attn.out_proj.bias, b_o),
             (layer.norm1.weight, g1), (layer.norm1.bias, c1), (layer.linear1.weight, W1.T),
             (layer.linear1.bias, b1), (layer.linear2.weight, W2.T), (layer.linear2.bias, b2),
             (layer.norm2.weight, g2), (layer.norm2.bias, c2), (out.weight, W_U.T), (out.bias, b_U)]
    with torch.no_grad():
        for theirs, ours in pairs:
            theirs.copy_(ours)
    layer.eval()
    # The paper's forward: embed [a, b], sequence first, one encoder layer, read-out at the last token.
    return lambda a, b: out(layer(emb(torch.stack([a, b], 1)).transpose(0, 1)).transpose(0, 1))[:, -1]


def test_paper_transformer_matches_torch_encoder_layer():
    p = 11
    m = models.PaperTransformer(p, [torch.Generator().manual_seed(s) for s in (0, 1)], torch.device("cpu"))
    gen = torch.Generator().manual_seed(5)
    a, b = torch.randint(1, p, (2, 40), generator=gen), torch.randint(1, p, (2, 40), generator=gen)
    ours = m.logits(a, b)
    grads = torch.autograd.grad(ours[1].square().sum(), m.params)
    ref = _torch_encoder(m, 1)
    theirs = ref(a[1], b[1])
    torch.testing.assert_close(ours[1], theirs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[0], _torch_encoder(m, 0)(a[0], b[0]), rtol=1e-5, atol=1e-5)
    # Gradients: the embedding, the attention input projection and the read-out, against torch's.
    layer_params = torch.autograd.grad(theirs.square().sum(), [p for p in _params_of(ref)])
    for ours_g, theirs_g in zip((grads[0][1], grads[1][1].T, grads[13][1].T), layer_params):
        torch.testing.assert_close(ours_g, theirs_g, rtol=1e-4, atol=1e-5)
    # Dropout only in training mode; a replica's masks come from its own generator.
    assert torch.equal(m.logits(a, b), ours)
    assert not torch.allclose(m.logits(a, b, train=True), ours)


def _params_of(ref):
    cell = {c.cell_contents for c in ref.__closure__ if isinstance(c.cell_contents, torch.nn.Module)}
    emb = next(c for c in cell if isinstance(c, torch.nn.Embedding))
    layer = next(c for c in cell if isinstance(c, torch.nn.TransformerEncoderLayer))
    out = next(c for c in cell if isinstance(c, torch.nn.Linear))
    return emb.weight, layer.self_attn.in_proj_weight, out.weight


def test_paper_transformer_data_and_sweeps_like_single_runs():
    base = g.paper_transformer_config(modulus=7, epochs=4, num_logs=3)
    from minilib.grokking import data

    split = data.split(7, "add", 0.4, torch.Generator().manual_seed(0), nonzero=True)
    assert all((split[s][i] > 0).all() for s in ("train", "test") for i in (0, 1))
    assert sum(len(split[s][2]) for s in ("train", "test")) == 36
    configs = [base, base.replace(seed=4)]
    sweep = g.run_sweep(configs, progress=False)
    for c, rs in zip(configs, sweep):
        alone = g.run(c, progress=False)
        for k in alone.history:
            np.testing.assert_allclose(rs.history[k], alone.history[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_stop_event_and_on_step_reports():
    seen = []
    stop = threading.Event()

    def on_step(step, metrics):
        seen.append((step, metrics["test_acc"]))
        if step >= 10:
            stop.set()

    r = g.run(g.Config(**TINY), on_step=on_step, stop=stop, progress=False)
    assert r.status == "stopped" and seen[0][0] == 0 and isinstance(seen[0][1], float)
    assert r.history["step"][-1] < 30


def test_evaluation_does_not_change_the_trajectory():
    # evaluate() hands its gradients to the next step; logging more often must not change the run.
    c = g.Config(**TINY)
    dense, sparse = g.run(c.replace(num_logs=31), progress=False), g.run(c.replace(num_logs=2), progress=False)
    np.testing.assert_allclose(dense.history["test_loss"][-1], sparse.history["test_loss"][-1], rtol=1e-6)
    assert math.isfinite(dense.final("weight_norm"))


# --- Signatures and shipped results ----------------------------------------------------------------


def test_signature_1_at_the_fast_size():
    # The chapter's fast size: p = 53, 400 epochs, ⊥AdamW as the paper's code runs it. ⊥AdamW groks without
    # weight decay (by epoch 300, the chapter's bound), AdamW fits and stays at or below chance.
    from minilib.grokking import shipped

    perp = g.run(g.Config(modulus=53, **shipped.PERP, epochs=400, num_logs=41), progress=False)
    adam = g.run(g.Config(modulus=53, **shipped.ADAMW, epochs=400, num_logs=41), progress=False)
    step = perp.first_step("test_acc", 0.95)
    assert step is not None and step <= 300 and perp.final("test_acc") >= 0.9, step
    assert adam.final("train_acc") == 1.0 and adam.final("test_acc") <= 1 / 53
    assert adam.final("nlm_cosine") > 0.5 and adam.final("weight_norm") > adam.history["weight_norm"][0]


def test_shipped_configs_are_valid_and_distinct():
    from minilib.grokking import shipped

    keys = [c.key() for entry in shipped.SHIPPED.values() for c in entry.configs()]
    assert len(keys) == len(set(keys))
    assert {c.precision for c in shipped.precision()} == set(shipped.PRECISIONS)
