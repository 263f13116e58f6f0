# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Projection heads: why the layer below the head is the better representation
#
# **The claim.** Contrastive methods such as SimCLR {cite:p}`chen2020simclr` train an encoder with a small
# *projection head* on top, compute the loss on the head's output, and then throw the head away: the
# representation used downstream is the one *before* the head, which the loss never sees directly. Xue
# et al. {cite:p}`xue2024projection` explain why this works. In linear networks trained with a
# contrastive loss, the implicit bias of gradient descent weights the input features progressively more
# unequally from layer to layer: the last layer carries the features the loss rewards most, the lower
# layers stay more even. Features that augmentation disrupts, or that are weak, survive better below the
# head, and a downstream task that needs them does better there. With non-linear layers the head can
# discard a feature completely while the encoder keeps it.
#
# This chapter measures each step on this machine: the linear model, with the exact feature weights of
# each layer against the theory; when the lower layer wins (few labels) and when it does not (many
# labels); the optimiser's part in it (gradient descent against Adam); a ReLU network trained with the
# supervised contrastive loss {cite:p}`khosla2020supcon`; and the fixed reweighting head the paper
# proposes as an alternative. The paper's own experiments train ResNets on CIFAR-10/100, UrbanCars and
# shifted ImageNet; every model here is small enough to train on a CPU in seconds.

# %%
import numpy as np
import plotly.graph_objects as go
import torch
from IPython.display import Markdown, display

from minilib import cache, exercises, plots, projection, runtime, widgets
from minilib.projection import shipped

print(runtime.describe())

# %%
exercises.timing_note("04_projection_heads")

# %% [markdown]
# ## The linear model
#
# Eight latent features $z \sim \mathcal N(0, I_8)$ make the input $x = \sum_k a_k z_k e_k$ with scales
# $a = (3, 2, 1.5, 1, 1, 0.7, 0.5, 0.3)$. An augmentation $x^+$ redraws each $z_k$ with probability
# $\rho_k$, $\rho = (0, 0.5, 0.2, 0, 0.9, 0.3, 0, 0.6)$: feature 4 (counting from 0) is as strong as
# feature 3 but the augmentation almost always destroys it. The network is linear,
# $f(x) = W_2 W_1 x$, with an encoder $W_1$ ($16 \times 8$) and a head $W_2$ ($16 \times 16$); the
# pre-projection representation is $W_1 x$.
#
# The loss is the spectral contrastive loss {cite:p}`haochen2021spectral`, which Xue et al. use for their
# analysis, $L = -2\,\mathbb E[f(x)^\top f(x^+)] + \mathbb E[(f(x)^\top f(x'))^2]$ with $x'$ an
# independent input. For a linear $f$ with end-to-end matrix $W = W_2 W_1$ the expectations are exact:
#
# $$
# L(W) = -2\,\mathrm{Tr}(W M W^\top) + \lVert W S W^\top \rVert_F^2, \qquad
# M = \mathrm{diag}\big(a^2 (1-\rho)\big), \quad S = \mathrm{diag}(a^2).
# $$
#
# So `projection` trains by gradient descent on the expectation itself (no sampling noise). Writing
# $P = S^{1/2} W^\top W S^{1/2}$ gives $L = \lVert P - D \rVert_F^2 - \lVert D \rVert_F^2$ with
# $D = \mathrm{diag}(1-\rho)$: the minimum is $-\sum_k (1-\rho_k)^2$, reached when
# $W^\top W = \mathrm{diag}\big((1-\rho)/a^2\big)$. Feature $k$ then has magnitude
# $\lVert W_{:,k} \rVert\, a_k = \sqrt{1-\rho_k}$ at the output. The loss fixes only the product
# $W_2 W_1$; how the weighting is split between the layers is left to the optimiser.
#
# Gradient flow from a small initialisation keeps the layers *balanced*: $W_1 W_1^\top - W_2^\top W_2$
# is conserved by gradient flow {cite:p}`du2018balanced`, so it stays near zero. Then
# $W^\top W = (W_1^\top W_1)^2$, and the encoder's weights are the square root of the end-to-end ones,
# $\lVert W_{1,:,k} \rVert = \lVert W_{:,k} \rVert^{1/2}$: a slope of ½ in log–log. The pre-projection
# magnitude of feature $k$ is $(1-\rho_k)^{1/4} a_k^{1/2}$, much more even across features than the
# output's $(1-\rho_k)^{1/2}$.
#
# `projection.LinearConfig` (the module's `Config` with its defaults) holds this construction. Bad values
# are refused with the allowed range, per-feature entries one by one:

# %%
for bad in (dict(drop_probs=(0, 0.5, 1.2, 0, 0.9, 0.3, 0, 0.6)), dict(drop_probs=(0, 0.5)), dict(depth=0),
            dict(optimizer="sgd")):
    try:
        projection.LinearConfig(**bad)
    except ValueError as err:
        print(err)

# %% [markdown]
# ## The smallest experiment: one run, every feature's weight in both layers
#
# Gradient descent with learning rate 0.02 from weights drawn with standard deviation 0.05, 9000 steps
# (a few seconds). The full-size runs below start smaller (0.03), which balances the layers better but
# needs 24 000 steps.

# %%
live = projection.LinearConfig(init_scale=0.05, steps=9000, num_logs=41)
run_live = projection.run(live, progress=False)
a, rho = np.array(live.feature_scales), np.array(live.drop_probs)
minimum = -((1 - rho) ** 2).sum()
fig = plots.curves(run_live, ["excess_loss"], labels=["gradient descent, lr 0.02"], log_x=True, log_y=True,
                   title="The loss reaches its theoretical minimum",
                   y_title="(loss − minimum) / |minimum| (log scale)", x_title="training step (log scale)")
fig

# %% [markdown]
# *Figure: how far the population loss is above its minimum $-\sum_k(1-\rho_k)^2$, relative to it, over
# training steps; the plateaus are the features being picked up one after another.*

# %%
pre_mag, post_mag = run_live.artifacts["pre_weights"] * a, run_live.artifacts["post_weights"] * a
fig = go.Figure()
features = [f"{k}: a={a[k]:g}, ρ={rho[k]:g}" for k in range(len(a))]
fig.add_bar(x=features, y=pre_mag, name="before the head: ‖W₁[:, k]‖·a_k (measured)")
fig.add_bar(x=features, y=post_mag, name="after the head: ‖W₂W₁[:, k]‖·a_k (measured)")
fig.add_scatter(x=features, y=(1 - rho) ** 0.25 * a**0.5, mode="markers", marker=dict(symbol="x", size=11),
                name="theory before: (1 − ρ)^¼ a^½")
fig.add_scatter(x=features, y=np.sqrt(1 - rho), mode="markers", marker=dict(symbol="circle-open", size=11),
                name="theory after: (1 − ρ)^½")
fig.update_layout(template=plots.LAYOUT, title="Feature magnitudes before and after the head",
                  xaxis_title="latent feature k (scale a, drop probability ρ)",
                  yaxis_title="magnitude of feature k in the representation", barmode="group")
fig

# %% [markdown]
# *Figure: the magnitude of each latent feature in the pre-projection representation $W_1 x$ and in
# the output $W_2 W_1 x$ after 9000 steps, with the balanced-minimum theory.*

# %% tags=["remove-input"]
ratio_pre, ratio_post = pre_mag[4] / pre_mag[3], post_mag[4] / post_mag[3]
display(Markdown(
    f"Measured: after {live.steps} steps the loss is {run_live.final('loss'):.4f} against the minimum "
    f"{minimum:.2f}; it came within 1% at step {run_live.first_step('excess_loss', 0.01, above=False)}. The "
    f"log–log slope of encoder against end-to-end feature weights is **{run_live.final('slope'):.3f}** "
    f"(theory ½). Feature 4, which augmentation destroys 90% of the time, has **{ratio_pre:.3f}** of feature "
    f"3's magnitude before the head and **{ratio_post:.3f}** after it (theory {0.1 ** 0.25:.3f} and "
    f"{0.1 ** 0.5:.3f}). The largest feature magnitude is {run_live.final('pre_spread'):.2f} times the smallest "
    f"before the head and {run_live.final('post_spread'):.2f} times after it: the head's output weights "
    "features more unequally."
))

# %%
# The linear model's signatures at this size: the minimum, the post-projection weights √(1 − ρ)/a, and the
# balanced split (each encoder weight the square root of the end-to-end weight, within 10%).
assert abs(run_live.final("loss") - minimum) <= 0.01 * abs(minimum), run_live.final("loss")
assert np.allclose(post_mag, np.sqrt(1 - rho), rtol=0.01), post_mag
pre_w, post_w = run_live.artifacts["pre_weights"], run_live.artifacts["post_weights"]
assert np.all(np.abs(pre_w**2 / post_w - 1) < 0.10), pre_w**2 / post_w
assert abs(run_live.final("slope") - 0.5) < 0.05 and ratio_pre > ratio_post + 0.15, (run_live.final("slope"), ratio_pre)
print(f"check passed: loss within 1% of {minimum:.2f}, slope {run_live.final('slope'):.3f}")

# %% [markdown]
# Why learning rate 0.02? Near the minimum the loss is steep along the strongest feature ($a_0 = 3$), and
# gradient descent is only stable below two over the largest curvature. At 0.05 it is not:

# %%
too_big = projection.run(live.replace(lr=0.05, steps=1500, num_logs=11), progress=False)
print(f"lr 0.05: {too_big.status} at step {too_big.diverged_at}")
assert too_big.status == "diverged", too_big.status

# %% [markdown]
# ## The full-size result, and the optimiser's part in it
#
# Three seeds from the small initialisation (0.03, 24 000 steps), shipped with the book (regenerate:
# `python -m minilib precompute projection --only linear_gd`). Next to them, the same loss trained with
# Adam (lr 0.003, 5000 steps), and a network without a head (the encoder alone is the whole model).

# %%
gd_runs = cache.run_or_load_many(projection, shipped.linear_gd(), progress=False, shipped=True)
adam_runs = cache.run_or_load_many(projection, shipped.linear_adam(), progress=False, shipped=True)
nohead_runs = cache.run_or_load_many(projection, shipped.linear_no_head(), progress=False, shipped=True)

fig = go.Figure()
for (name, runs), color in zip({"gradient descent": gd_runs, "Adam": adam_runs, "no head": nohead_runs}.items(),
                               plots.COLORS):
    for i, r in enumerate(runs):
        fig.add_scatter(x=r.artifacts["post_weights"], y=r.artifacts["pre_weights"], mode="markers",
                        marker=dict(color=color, size=9), name=name, legendgroup=name, showlegend=i == 0,
                        hovertemplate=f"{name}, seed {r.config.seed}<br>end-to-end %{{x:.3g}}<br>"
                                      "encoder %{y:.3g}<extra></extra>")
xs = np.geomspace(0.2, 4, 20)
fig.add_scatter(x=xs, y=xs**0.5, mode="lines", line=dict(dash="dash", color="#666"), name="slope ½ (balanced)")
fig.add_scatter(x=xs, y=xs, mode="lines", line=dict(dash="dot", color="#666"), name="slope 1")
fig.update_layout(template=plots.LAYOUT, title="Encoder against end-to-end feature weights, per feature")
fig.update_xaxes(type="log", title_text="end-to-end weight ‖(W₂W₁)[:, k]‖ (log scale)")
fig.update_yaxes(type="log", title_text="encoder weight ‖W₁[:, k]‖ (log scale)")
fig

# %% [markdown]
# *Figure: for each of the eight features and each seed, the weight the encoder gives it against the
# weight of the whole network; gradient descent lies on the slope-½ line, Adam does not, and without a
# head the encoder is the whole network (slope 1).*

# %% tags=["remove-input"]
final = lambda runs, m: np.array([r.final(m) for r in runs])
gd_slope, adam_slope, nohead_slope = final(gd_runs, "slope"), final(adam_runs, "slope"), final(nohead_runs, "slope")
display(Markdown(
    f"Measured over 3 seeds: gradient descent ends {final(gd_runs, 'excess_loss').max():.1e} above the minimum "
    f"at worst, with slope **{gd_slope.min():.3f}–{gd_slope.max():.3f}** and layer imbalance "
    f"{final(gd_runs, 'imbalance').max():.3f}. Adam reaches the same loss ({final(adam_runs, 'excess_loss').max():.1e} "
    f"above the minimum) and the same end-to-end weights, but slope **{adam_slope.min():.2f}–{adam_slope.max():.2f}**"
    f" with imbalance {final(adam_runs, 'imbalance').min():.2f}–{final(adam_runs, 'imbalance').max():.2f}: its "
    "per-coordinate step sizes do not conserve the balance, so the split between the layers is another one. "
    f"Without a head the slope is {nohead_slope.min():.2f}. The even weighting below the head is the implicit "
    "bias of gradient descent, not a property of the loss."
))

# %%
# Full size: the minimum within 1% for every seed, the slope-½ law within 10%, Adam unbalanced, no head slope 1.
assert (final(gd_runs, "excess_loss") < 0.01).all() and (np.abs(gd_slope - 0.5) < 0.05).all(), gd_slope
for r in gd_runs:
    assert np.all(np.abs(r.artifacts["pre_weights"] ** 2 / r.artifacts["post_weights"] - 1) < 0.10)
assert (final(adam_runs, "excess_loss") < 0.01).all() and (adam_slope > 0.6).all(), adam_slope
for r in adam_runs:
    assert np.allclose(r.artifacts["post_weights"] * a, np.sqrt(1 - rho), rtol=0.02)
assert np.allclose(nohead_slope, 1.0), nohead_slope
print(f"check passed: GD slope {gd_slope.round(3)}, Adam slope {adam_slope.round(2)}, no head {nohead_slope}")

# %% [markdown]
# ## When the layer below the head wins, and when it does not
#
# A downstream task that needs feature 4: predict the sign of $z_4$ with a linear probe (logistic
# regression with scikit-learn's default penalty, each representation scaled to unit mean norm so the
# penalty acts alike) from $n$ labelled examples, scored on 1000 held-out inputs, averaged over 100 draws
# of the labelled set.

# %%
grid = gd_runs[0].artifacts["probe_grid"]
pre_acc = np.mean([r.artifacts["probe_pre_grid"] for r in gd_runs], axis=0)
post_acc = np.mean([r.artifacts["probe_post_grid"] for r in gd_runs], axis=0)
fig = go.Figure()
fig.add_scatter(x=grid, y=pre_acc, mode="lines+markers", name="before the head (W₁x)")
fig.add_scatter(x=grid, y=post_acc, mode="lines+markers", name="after the head (W₂W₁x)")
fig.update_layout(template=plots.LAYOUT, title="Probing the augmentation-destroyed feature 4")
fig.update_xaxes(type="log", title_text="labelled examples (log scale)")
fig.update_yaxes(title_text="probe accuracy for sign(z₄) (fraction, mean of 3 seeds × 100 draws)")
fig

# %% [markdown]
# *Figure: test accuracy of a linear probe for the sign of feature 4 from the representation before and
# after the head, against the number of labelled examples.*

# %% tags=["remove-input"]
at = {int(n): i for i, n in enumerate(grid)}
display(Markdown(
    f"Measured: with 10 labels the probe reaches **{pre_acc[at[10]]:.1%}** before the head and "
    f"**{post_acc[at[10]]:.1%}** after it; with 50 labels {pre_acc[at[50]]:.1%} and {post_acc[at[50]]:.1%}; with "
    f"1000 labels **{pre_acc[at[1000]]:.1%}** and **{post_acc[at[1000]]:.1%}**. With many labels the difference "
    "vanishes: both representations are invertible linear images of the same eight features, and a linear "
    "probe can undo any invertible linear map once it has enough data. With few labels the penalised probe "
    "prefers directions of large variance, and feature 4 is a larger share of the variance below the head."
))

# %%
# Few labels: the lower layer wins; many labels: equal (within 2 points).
assert pre_acc[at[10]] > post_acc[at[10]] + 0.02, (pre_acc[at[10]], post_acc[at[10]])
assert abs(pre_acc[at[1000]] - post_acc[at[1000]]) < 0.02, (pre_acc[at[1000]], post_acc[at[1000]])
print(f"check passed: 10 labels {pre_acc[at[10]]:.3f} > {post_acc[at[10]]:.3f}; "
      f"1000 labels {pre_acc[at[1000]]:.3f} ≈ {post_acc[at[1000]]:.3f}")

# %% [markdown]
# ## Non-linearity: the head can discard a feature completely
#
# Now a ReLU network and labels. Inputs are 32-dimensional: a random rotation of latents with a class sign
# ($\pm 2$ on latent 0), a *sub-class* sign that the class label ignores ($\pm 1$ on latent 1), and
# $\mathcal N(0, 0.5^2)$ noise on the other 30. The encoder is 32–64–64 with ReLUs, the head 64–64–32
# (SimCLR's MLP head). Training uses the supervised contrastive loss (SupCon, temperature 0.1, every view
# of the same class a positive) on two noisy views ($+\mathcal N(0, 0.3^2)$) of fresh batches of 256, Adam
# with lr $10^{-3}$. The probes now predict the sub-class from $n$ labels (10 draws). Three seeds, shipped
# with the book (`--only supcon`), 500 steps each: the experiment was designed at 1500 steps, but the
# probes settle within about 100 steps, as the figure shows, so 500 show the same end state at a third
# of the cost.

# %%
sc_runs = cache.run_or_load_many(projection, shipped.supcon(), progress=False, shipped=True)
fig = plots.curves(sc_runs[0], ["probe_pre", "probe_post", "class_post"], labels=["SupCon, MLP head"],
                   title="SupCon keeps the sub-class below the head, not after it",
                   y_title="probe accuracy, 200 labels (fraction)")
fig

# %% [markdown]
# *Figure: accuracy of linear probes with 200 labels over training (seed 0): the ignored sub-class from
# the encoder's output and from the head's output, and the class from the head's output.*

# %%
sc_grid = sc_runs[0].artifacts["probe_grid"]
fig = go.Figure()
for key, name, dash in (("probe_pre_grid", "sub-class, before the head", "solid"),
                        ("probe_post_grid", "sub-class, after the head", "solid"),
                        ("class_pre_grid", "class, before the head", "dot"),
                        ("class_post_grid", "class, after the head", "dot")):
    vals = np.array([r.artifacts[key] for r in sc_runs])
    fig.add_scatter(x=sc_grid, y=vals.mean(0), mode="lines+markers", name=name, line=dict(dash=dash),
                    error_y=dict(type="data", symmetric=False, array=vals.max(0) - vals.mean(0),
                                 arrayminus=vals.mean(0) - vals.min(0)))
fig.update_layout(template=plots.LAYOUT, title="SupCon: probes before and after the head, by labels")
fig.update_xaxes(type="log", title_text="labelled examples (log scale)")
fig.update_yaxes(title_text="probe accuracy (fraction; mean, bars: range of 3 seeds)")
fig

# %% [markdown]
# *Figure: linear-probe accuracy for the sub-class (solid) and the class (dotted) from the representation
# before and after the head, at the end of training.*

# %% tags=["remove-input"]
sc = {k: np.array([r.artifacts[k] for r in sc_runs]) for k in ("probe_pre_grid", "probe_post_grid", "class_post_grid")}
sat = {int(n): i for i, n in enumerate(sc_grid)}
rng = lambda k, n: f"{sc[k][:, sat[n]].min():.2f}–{sc[k][:, sat[n]].max():.2f}"
display(Markdown(
    f"Measured (range over 3 seeds): the sub-class probe reaches {rng('probe_pre_grid', 20)} before the head and "
    f"{rng('probe_post_grid', 20)} after it with 20 labels, **{rng('probe_pre_grid', 200)}** against "
    f"**{rng('probe_post_grid', 200)}** with 200, and **{rng('probe_pre_grid', 1000)}** against "
    f"**{rng('probe_post_grid', 1000)}** with 1000. The class is read perfectly from both "
    f"({rng('class_post_grid', 20)} after the head with 20 labels). Unlike the linear model, the gap does not "
    f"close with more labels: the final training loss, {np.mean([r.final('loss') for r in sc_runs]):.3f}, is "
    f"that of every view of a class mapped to one point (ln 255 = {np.log(255):.3f} for 255 positives), so the "
    "head's output has no sub-class left to find, while the encoder below it still has."
))

# %%
# The sub-class survives below the head (with 200 and 1000 labels, every seed), the head discards it (the
# gap stays with 1000 labels), both keep the class, and the loss sits at its floor (classes collapsed).
for n in (200, 1000):
    assert (sc["probe_pre_grid"][:, sat[n]] > sc["probe_post_grid"][:, sat[n]] + 0.15).all(), (n, sc)
assert (sc["probe_post_grid"][:, sat[1000]] < 0.7).all() and (sc["class_post_grid"] > 0.95).all()
assert all(abs(r.final("loss") - np.log(255)) < 0.05 for r in sc_runs), [r.final("loss") for r in sc_runs]
print("check passed: sub-class", sc["probe_pre_grid"][:, sat[1000]].round(3), "before vs",
      sc["probe_post_grid"][:, sat[1000]].round(3), "after, with 1000 labels")

# %% [markdown]
# ## A head you can read: the fixed reweighting head
#
# Xue et al. propose replacing the trained head by a fixed one that down-weights later coordinates,
# $z_i = h_i\,\kappa^{-i}$ for $i = 0, \dots, 63$, with the loss on $z$ and the probes on $h$ and $z$.
# $\kappa = 1$ is no head at all. Four runs (300 steps each; fast mode: 100) train the same encoder with
# $\kappa \in \{1, 1.05, 1.2, 1.5\}$; the slider shows the sub-class probes over training:

# %%
rw_configs = [c.replace(steps=runtime.fast(c.steps, 100)) for c in shipped.reweight()]
rw_runs = cache.run_or_load_many(projection, rw_configs, progress=False)
plots.sweep_slider([[r] for r in rw_runs], list(shipped.KAPPAS), metrics=["probe_pre", "probe_post"],
                   slider_label="κ", title="Reweighting head: sub-class probes (200 labels)",
                   y_title="probe accuracy (fraction)")

# %% [markdown]
# *Figure: sub-class probe accuracy with 200 labels before ($h$) and after ($z$) the fixed reweighting
# head, over training; the slider picks $\kappa$.*

# %% tags=["remove-input"]
rows = "\n".join(f"| {k} | {r.final('probe_pre'):.3f} | {r.final('probe_post'):.3f} | {r.final('class_pre'):.3f} |"
                 for k, r in zip(shipped.KAPPAS, rw_runs))
best = max(zip(shipped.KAPPAS, rw_runs), key=lambda kr: kr[1].final("probe_pre"))
display(Markdown(
    f"Measured after {rw_configs[0].steps} steps (seed 0), probes with 200 labels:\n\n"
    f"| κ | sub-class before (h) | sub-class after (z) | class before (h) |\n|---|---|---|---|\n{rows}\n\n"
    "The SupCon runs with the trained MLP head reach "
    f"{sc['probe_pre_grid'][:, sat[200]].mean():.3f} before their head. The highest sub-class accuracy below "
    f"the reweighting head is {best[1].final('probe_pre'):.3f} at κ = {best[0]}; this is one seed of a small "
    "synthetic task, so read it as what happened here, not as a ranking of the two heads."
))

# %%
# κ = 1 is the identity: the probes before and after the head see the same numbers.
assert rw_runs[0].config.kappa == 1.0
assert np.allclose(rw_runs[0].history["probe_pre"], rw_runs[0].history["probe_post"])
assert all(r.final("class_pre") > 0.95 for r in rw_runs)
print("check passed: κ = 1 is no head; every κ keeps the class")

# %% [markdown]
# ## Explore
#
# The explorer trains the linear model live (in Jupyter; on the website it shows a note). Per-feature
# fields take comma-separated numbers, e.g. set `drop_probs` to `0, 0.5, 0.2, 0, 0.99, 0.3, 0, 0.6`, or
# `depth` to 3 (the encoder is then the first of three layers), or the optimiser to Adam, and watch the
# spread of feature magnitudes before and after the head and the probes (with `probe_labels` labels).

# %%
widgets.explorer(projection, projection.LinearConfig(init_scale=0.05, steps=9000, num_logs=31),
                 fields=["feature_scales", "drop_probs", "depth", "hidden", "optimizer", "lr", "init_scale",
                         "steps", "probe_labels", "seed"],
                 metrics=["excess_loss", "probe_pre", "probe_post", "pre_spread", "post_spread", "slope"],
                 log_x=True, title="Projection-head explorer (linear model)")

# %% [markdown]
# ## Exercises
#
# 1. Predict the encoder's magnitude of a feature with $\rho = 0.99$ relative to one with $\rho = 0$ (same
#    $a$), and the same ratio after the head. Then set feature 4's drop probability to 0.99 in the
#    explorer.
#
# :::{dropdown} Solution
# Before the head $(0.01)^{1/4} \approx 0.32$, after it $(0.01)^{1/2} = 0.1$: the encoder keeps three
# times more of it, relative to an undisturbed feature. Small initialisation and enough steps are needed
# for the balanced split; with Adam the encoder's share is not the square root.
# :::
#
# 2. With $\rho_4 = 1$ the feature is destroyed by every augmentation. What happens to it in both layers?
#
# :::{dropdown} Solution
# Its entry of $M$ is 0, so the loss only penalises it: at the minimum $W_{:,4} = 0$. Gradient descent
# shrinks it in both layers; no layer keeps it (the magnitude ratio of the bar figure goes to 0). The
# lower layer keeps *more* of a weakly rewarded feature, not features the loss removes.
# :::
#
# 3. Does a deeper head (`depth=3`) make the encoder more or less even? Predict the slope.
#
# :::{dropdown} Solution
# With $L$ balanced layers $W^\top W = (W_1^\top W_1)^L$, so the encoder's weights are the $L$-th root of
# the end-to-end weights: slope $1/L = 1/3$, more even still. Small initialisation makes a deeper linear
# network slower to leave its starting point, so it needs more steps.
# :::
#
# ### Coded exercises
#
# Each coded exercise ends with `exercises.check(name, your_function)`, which compares your function with
# the library's reference on fixed and random inputs and prints one verdict (the first failing input with
# expected vs got and a hint). In the student edition (`make classroom`) the solution is replaced by
# `raise NotImplementedError(...)`.
#
# 4. Write the population spectral contrastive loss of one linear map $W$ (`[out, d]`) for feature scales
#    $a$ and drop probabilities $\rho$ (both `[d]`): $-2\,\mathrm{Tr}(W M W^\top) + \lVert W S W^\top
#    \rVert_F^2$. Then compare it with the sampled loss `projection.spectral_sample` on 100 000 draws.

# %% tags=["hide-input"]
# Exercise: return the population spectral contrastive loss of a linear map W [out, d] for scales a and drops rho.
def my_spectral_loss(W, a, rho):
    ### BEGIN SOLUTION
    M, S = a**2 * (1 - rho), a**2  # diagonals of E[x x⁺ᵀ] and E[x xᵀ]
    return -2 * ((W * M) @ W.T).trace() + ((W * S) @ W.T).pow(2).sum()
    ### END SOLUTION


exercises.check("projection.spectral_loss", my_spectral_loss)

# %% [markdown]
# 5. Write the encoder's column norms $\lVert W_{1,:,k} \rVert$ at the balanced minimum of the two-layer
#    model, for scales $a$ and drop probabilities $\rho$.

# %% tags=["hide-input"]
# Exercise: return the encoder's column norms at the balanced minimum of the two-layer linear model.
def my_balanced_encoder_weights(a, rho):
    ### BEGIN SOLUTION
    return ((1 - rho) / a**2) ** 0.25  # the square root of the end-to-end weights √(1 − ρ)/a
    ### END SOLUTION


exercises.check("projection.balanced_encoder_weights", my_balanced_encoder_weights)

# %% [markdown]
# The sampled loss against the population formula (the library's, so this runs whether or not your
# function is done):

# %%
gen = torch.Generator().manual_seed(0)
W = torch.randn(5, 8, generator=gen, dtype=torch.float64) * 0.3
construction = projection.LinearConfig()  # the chapter's construction: its feature scales and drop probabilities
A = torch.tensor(construction.feature_scales, dtype=torch.float64)
RHO = torch.tensor(construction.drop_probs, dtype=torch.float64)
z, x = projection.sample_linear(100_000, A, gen)
x_pos = projection.augment(z, RHO, gen) * A
x_other = projection.sample_linear(100_000, A, gen)[1]
sampled = float(projection.spectral_sample(x @ W.T, x_pos @ W.T, x_other @ W.T))
exact = float(projection.spectral_population(W[None], *projection.second_moments(A, RHO))[0])
print(f"population {exact:.4f}, sampled (100 000 draws) {sampled:.4f}")
assert abs(sampled - exact) < 0.05 * abs(exact), (sampled, exact)

# %% [markdown]
# ## What to read next
#
# - {cite:t}`xue2024projection`: the analysis this chapter follows, with the CIFAR, UrbanCars and ImageNet
#   experiments and the reweighting head.
# - {cite:t}`chen2020simclr`: SimCLR, where the representation below the head was found to be the better one.
# - {cite:t}`haochen2021spectral`: the spectral contrastive loss and its guarantees.
# - {cite:t}`khosla2020supcon`: the supervised contrastive loss.
# - {cite:t}`du2018balanced`: why gradient descent keeps the layers of a linear network balanced.
