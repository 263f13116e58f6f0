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
# # Grokking: Softmax Collapse, StableMax and perpendicular gradients
#
# **The claim in one sentence:** without weight decay a network that has fitted modular arithmetic stops
# learning because its softmax rounds to exactly 1 in floating point, and two fixes of that rounding,
# StableMax and ⊥Grad, let it generalise without weight decay.
#
# **You will need:**
#
# - the softmax, the cross-entropy loss and full-batch training of an MLP (Goodfellow, Bengio and
#   Courville, *Deep Learning*, 2016, sections 6.2.2 and 8.5), and {term}`weight decay` as AdamW applies
#   it (Loshchilov and Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019);
# - what {term}`grokking` and {term}`memorisation` are {cite:p}`power2022grokking`;
# - floating-point numbers and the machine epsilon (Goldberg, *What Every Computer Scientist Should Know
#   About Floating-Point Arithmetic*, 1991, section 1.2);
# - chapter 0, for how a chapter runs, stores and checks its experiments.
#
# The chapter introduces {term}`softmax collapse`, the {term}`NLM direction`, {term}`StableMax` and
# {term}`⊥Grad` {cite:p}`prieto2025grokking`.
#
# **You will be able to:** predict the logit gap at which a softmax collapses in a given precision; read
# the collapse fraction, the weight norm and the NLM cosine of a run and say why it stopped learning;
# explain why weight decay, ⊥Grad or StableMax each let the network generalise; and implement StableMax
# and ⊥Grad yourself.
#
# **The claim.** A small network trained on modular arithmetic, $(a + b) \bmod p$, first memorises its
# training pairs and only much later, sometimes thousands of epochs later, generalises to the pairs it
# never saw: *grokking* {cite:p}`power2022grokking`. Prieto, Barsbey, Mediano and Birdal
# {cite:p}`prieto2025grokking` argue that the delay and the need for weight decay
# have a numerical cause. Once the training set is fitted, the cheapest way to lower the cross-entropy
# is to scale the logits up along the current weights (*naive loss minimisation*, NLM), which changes no
# prediction. The logits grow until the softmax's sum rounds to exactly 1 in floating point
# (*Softmax Collapse*, SC): the gradient of the fitted samples becomes exactly zero and learning stops.
# Two fixes follow: **StableMax**, a softmax whose tails shrink polynomially instead of exponentially,
# and **⊥Grad**, which removes the gradient's component along the weights. Both let the network grok
# *without* weight decay.
#
# This chapter measures every claim on this machine, in the narrative order: what grokking looks like,
# why it needs regularisation, the two fixes, the role of floating-point precision, and grokking in two
# transformers: the one-layer model of {cite:t}`nanda2023progress` and the paper's own. The
# benign-overfitting chapter (chapter 2)
# {cite:p}`xu2024benign` proves a grokking transition in a two-layer ReLU network on XOR clusters.

# %%
import numpy as np
import torch
from IPython.display import Markdown, display

from minilib import cache, checks, grokking, plots, runtime, widgets
from minilib.grokking import shipped

print(runtime.describe())
FAST = runtime.FAST

# %%
from minilib import exercises

exercises.timing_note("01_grokking", study="about 3 hours")

# %% [markdown]
# ## The task and the model
#
# All $p^2$ pairs $(a, b)$ with $a, b \in \{0, \dots, p-1\}$ are labelled $y = (a + b) \bmod p$ and split
# at random: a fraction `train_fraction` is the training set, the rest is the test set. The paper's model
# is an MLP on the concatenated one-hot codes of $a$ and $b$: $2p \to 200 \to 200 \to p$, ReLU, no
# biases, trained full batch (one step per epoch). Multiplying a one-hot vector by a matrix just picks a
# column, so `grokking` implements the first layer as a lookup, $W_1[:, a] + W_1[:, p + b]$, instead of a
# $2p$-wide matrix product; the benchmark at the end measures what that saves.
#
# `Config` holds every choice; its defaults are the paper's MLP at $p = 113$ with 40% of the pairs for
# training.

# %% [markdown]
# ## What grokking looks like
#
# The classic recipe: AdamW with learning rate 0.01 and weight decay 1. It runs live on this page.

# %%
P = runtime.fast(113, 53)  # fast mode: p = 53, the smallest size at which signature 1 separates (see below)
classic = grokking.Config(modulus=P, train_fraction=runtime.fast(0.4, 0.5), lr=0.01, weight_decay=1.0,
                          epochs=runtime.fast(800, 1000), num_logs=runtime.fast(161, 101))
run_classic = grokking.run(classic, progress=False)
fit_step = run_classic.first_step("train_acc", 0.99)
grok_step = run_classic.first_step("test_acc", 0.9)

fig = plots.curves(run_classic, ["train_acc", "test_acc"], labels=["AdamW, weight decay 1"],
                   title=f"Grokking: (a + b) mod {P}, AdamW with weight decay",
                   x_title="epoch (full-batch step)", y_title="accuracy (fraction correct)")
plots.add_threshold(fig, 0.9, "90% test accuracy")
fig

# %% [markdown]
# *Figure: training and test accuracy of the MLP over epochs; the test curve rises long after the
# training curve has reached 100%.*

# %% tags=["remove-input"]
display(Markdown(
    f"Measured here: the training accuracy reaches 99% at epoch **{fit_step}**, the test accuracy passes "
    f"90% only at epoch **{grok_step}** and ends at **{run_classic.final('test_acc'):.1%}** after "
    f"{classic.epochs} epochs."
))

# %% tags=["hide-input"]
assert fit_step is not None and grok_step is not None, (fit_step, grok_step)
assert grok_step >= 3 * fit_step, (fit_step, grok_step)
assert run_classic.final("test_acc") >= 0.95
print(f"check passed: memorised by epoch {fit_step}, generalised (test >= 0.9) at epoch {grok_step}")

# %% [markdown]
# ## Why grokking needs regularisation
#
# Remove the weight decay (plain AdamW, lr 0.005, the paper's baseline) and the network still fits the
# training set within a few dozen epochs, but the test accuracy stays at chance. Three quantities tell
# what the optimiser does after the fit:
#
# - the **weight norm** $\lVert\theta\rVert$ keeps growing;
# - the **cosine between the descent direction $-\nabla L$ and the weights $\theta$** approaches 1. For a
#   ReLU network without biases, scaling all weights by $c$ scales the logits by $c^3$; once every
#   training sample is classified correctly, larger logits mean a lower cross-entropy, so the gradient
#   points mostly along $\theta$ itself: the naive-loss-minimisation (NLM) direction, which changes no
#   prediction;
# - the **softmax-collapse fraction**: the share of training samples whose $\sum_k e^{z_k - \max z}$
#   equals exactly 1 in the loss's floating-point format. For those samples the predicted probability of
#   the right class is exactly 1, the loss is exactly 0 and its gradient vanishes.

# %%
adamw = grokking.Config(modulus=P, **shipped.ADAMW, epochs=400, num_logs=81)
perp = grokking.Config(modulus=P, **shipped.PERP, epochs=runtime.fast(200, 400), num_logs=81)  # see ⊥Grad below
run_adamw = grokking.run(adamw, progress=False)
fig = plots.curves(run_adamw, ["train_acc", "test_acc", "nlm_cosine"], labels=["AdamW, no weight decay"],
                   title="Without weight decay: fitted, not generalising, moving along the weights",
                   x_title="epoch", y_title="accuracy / cosine")
fig

# %% [markdown]
# *Figure: plain AdamW without weight decay: training accuracy, test accuracy and the cosine between the
# descent direction and the weights (1 = the update only rescales the weights).*

# %%
fig = plots.curves(run_adamw, ["weight_norm"], labels=["AdamW, no weight decay"],
                   title="The weight norm keeps growing after the fit", x_title="epoch",
                   y_title="total weight norm ‖θ‖ (L2, all layers)")
fig

# %% [markdown]
# *Figure: total L2 norm of the weights of the same run.*
#
# When does the sum collapse? With one runner-up class at a logit gap $g$ below the top one, the sum is
# $1 + e^{-g}$, which rounds to 1 once $e^{-g}$ is below half the machine epsilon $\epsilon$:
# $g > \ln(2/\epsilon)$. With $p - 1$ equal runners-up, $g > \ln(2(p-1)/\epsilon)$. `collapse_gap`
# computes it and `softmax_collapse` measures it on crafted logits:

# %%
for prec in ("float16", "float32", "float64"):
    gap = grokking.collapse_gap(prec)
    probe = torch.tensor([[0.0, -(gap - 0.5)], [0.0, -(gap + 0.5)]], dtype=torch.float64)
    print(f"{prec}: predicted collapse gap {gap:5.1f} (one runner-up), {grokking.collapse_gap(prec, 113):5.1f} "
          f"(112 runners-up); collapsed at gap-0.5 / gap+0.5: "
          f"{grokking.softmax_collapse(probe, precision=prec).tolist()}")

# %% [markdown]
# The live run above stops at epoch 400. The same run continued to 6000 epochs is shipped with the book
# (how it was made: Reproducibility, at the end of the chapter):

# %%
long_adamw = cache.run_or_load(grokking, shipped.adamw_long()[0], progress=False, shipped=True)
fig = plots.curves(long_adamw, ["train_acc", "test_acc", "sc_fraction", "nlm_cosine"],
                   labels=["AdamW, float32"], log_x=True,
                   title="Plain AdamW for 6000 epochs: collapse instead of generalisation",
                   x_title="epoch (log scale)", y_title="fraction / cosine")
fig

# %% [markdown]
# *Figure: accuracy, softmax-collapse fraction (share of training samples with a sum of exactly 1 in
# float32) and NLM cosine of plain AdamW at p = 113, on a log epoch axis.*

# %% tags=["remove-input"]
sc_start = long_adamw.first_step("sc_fraction", 0.01)
sc_half = long_adamw.first_step("sc_fraction", 0.5)
display(Markdown(
    f"Measured: test accuracy after 6000 epochs **{long_adamw.final('test_acc'):.1%}**; the collapse "
    f"fraction passes 1% at epoch **{sc_start}** and 50% at epoch **{sc_half}**, ending at "
    f"**{long_adamw.final('sc_fraction'):.1%}**. The NLM cosine peaks at "
    f"**{long_adamw.history['nlm_cosine'].max():.2f}** (epoch "
    f"{long_adamw.history['step'][long_adamw.history['nlm_cosine'].argmax()]}) and falls to "
    f"**{long_adamw.final('nlm_cosine'):.2f}** once collapsed samples stop contributing to the gradient; the "
    f"weight norm grows from {long_adamw.history['weight_norm'][0]:.0f} to {long_adamw.final('weight_norm'):.0f}."
))

# %% [markdown]
# ## Two fixes: ⊥Grad and StableMax
#
# **⊥Grad** (`optimizer="perp_adamw"`): for every weight tensor $w$ with gradient $g$, use
#
# $$
# g_\perp = g - \frac{w \cdot g}{w \cdot w}\, w, \qquad
# \tilde g = g_\perp \frac{\lVert g \rVert}{\lVert g_\perp \rVert}
# $$
#
# in AdamW's update instead of $g$. The component that would only rescale the weights is gone, so the
# optimiser has to change what the network computes.
#
# We run ⊥AdamW as the paper's code does, which is not quite what its command line says. Its script asks
# for $\beta_2 = 0.99$ and eps $= 10^{-25}$, but its ⊥Grad wrapper builds the inner AdamW from the
# learning rate and weight decay alone, so the run behind the paper's Fig. 1b uses torch's defaults,
# $\beta_2 = 0.999$ and eps $= 10^{-8}$ (`shipped.PERP`; set `beta2` and `eps` to get the other one). It
# runs live, without weight decay:

# %%
run_perp = grokking.run(perp, progress=False)
fig = plots.curves([run_perp, run_adamw], ["train_acc", "test_acc"], labels=["⊥AdamW lr 0.01", "AdamW lr 0.005"],
                   title="⊥Grad groks without weight decay", x_title="epoch",
                   y_title="accuracy (fraction correct)")
plots.add_threshold(fig, 0.95, "95% test accuracy")
fig

# %% [markdown]
# *Figure: training and test accuracy of ⊥AdamW and plain AdamW, both without weight decay.*

# %% tags=["remove-input"]
perp_step = run_perp.first_step("test_acc", 0.95)
display(Markdown(
    f"Measured (p = {P}): ⊥AdamW reaches 95% test accuracy at epoch **{perp_step}** of {perp.epochs}; "
    f"plain AdamW ends epoch {adamw.epochs} at "
    f"**{run_adamw.final('train_acc'):.0%}** training and **{run_adamw.final('test_acc'):.1%}** test "
    f"accuracy (chance: {1 / P:.1%}). The paper's figure shows ⊥AdamW at about 97% test accuracy at "
    "epoch 110 and 100% at about 120 (the paper's numbers, p = 113)."
))

# %% tags=["hide-input"]
# Signature 1. ⊥AdamW passes 95% test accuracy well within its run (the bound's measurements: shipped.PERP_GROK_BY).
perp_bound = runtime.fast(*shipped.PERP_GROK_BY)
assert perp_step is not None and perp_step <= perp_bound, (perp_step, perp_bound)
# Plain AdamW fits the training set, and a network that only memorised it does no better than chance (1/p).
assert run_adamw.final("train_acc") == 1.0 and run_adamw.final("test_acc") <= 1 / P, run_adamw.final("test_acc")
# ... and without weight decay the fitted network drifts along its weights and collapses (shipped run).
assert long_adamw.final("test_acc") <= 1 / long_adamw.config.modulus, long_adamw.final("test_acc")
assert long_adamw.history["nlm_cosine"].max() > 0.5
assert long_adamw.history["sc_fraction"][0] == 0 and long_adamw.final("sc_fraction") > 0.3
print(f"check passed: ⊥AdamW test >= 0.95 at epoch {perp_step} (bound {perp_bound}); AdamW test "
      f"{run_adamw.final('test_acc'):.3f} <= chance {1 / P:.3f}")

# %% [markdown]
# **StableMax** replaces $e^x$ in the softmax by
#
# $$
# s(x) = \begin{cases} x + 1 & x \ge 0 \\ \dfrac{1}{1 - x} & x < 0 \end{cases}, \qquad
# \mathrm{StableMax}(x)_i = \frac{s(x_i)}{\sum_j s(x_j)}
# = \mathrm{softmax}\big(\operatorname{sign}(x)\log(1 + |x|)\big)_i .
# $$
#
# Its tails decay like $1/|x|$, so a runner-up class keeps a representable share even at huge logit
# gaps and the sum does not collapse, *as long as the logits stay far below the format's precision*.
# The paper trains it for 80 000 epochs with AdamW (lr 0.01, $\beta_2 = 0.999$, no weight decay), and its
# public code computes the StableMax loss in float64. We ran it twice: in float64 like the paper, and in
# float32 (this book's default loss precision). Both runs are shipped with the book.

# %%
stable = cache.run_or_load(grokking, shipped.stablemax()[0], progress=False, shipped=True)
stable32 = cache.run_or_load(grokking, shipped.stablemax_float32()[0], progress=False, shipped=True)
fig = plots.curves([stable, stable32], ["train_acc", "test_acc"],
                   labels=["StableMax, loss in float64", "StableMax, loss in float32"], log_x=True,
                   title="StableMax without regularisation (p = 113, 80 000 epochs)",
                   x_title="epoch (log scale)", y_title="accuracy (fraction correct)")
plots.add_threshold(fig, 0.9, "90% test accuracy")
fig

# %% [markdown]
# *Figure: training and test accuracy of the two StableMax runs (loss in float64 and in float32) over
# 80 000 epochs on a log axis.*

# %% [markdown]
# Two collapse measures answer different questions for a StableMax run. `stablemax_sc_fraction` asks
# whether the StableMax sum itself rounds to 1 in the loss precision (then StableMax stops learning too);
# `sc_fraction` asks, as the paper's logger does, whether an ordinary softmax of the same raw logits would
# have collapsed in float32, i.e. how far past the point where a softmax run stops these logits have grown.

# %%
fig = plots.curves([stable, stable32], ["stablemax_sc_fraction", "sc_fraction"],
                   labels=["StableMax, loss in float64", "StableMax, loss in float32"], log_x=True,
                   title="StableMax runs: their own collapse and a softmax's", x_title="epoch (log scale)",
                   y_title="share of training samples")
fig

# %% [markdown]
# *Figure: for both StableMax runs, the share of training samples whose StableMax sum is exactly 1 in the
# loss precision (solid) and whose ordinary float32 softmax of the same logits would be collapsed (dashed;
# the paper's measure).*

# %%
fig = plots.curves([stable, stable32], ["weight_norm"],
                   labels=["StableMax, loss in float64", "StableMax, loss in float32"], log_x=True, log_y=True,
                   title="StableMax runs: weight norm", x_title="epoch (log scale)",
                   y_title="weight norm ‖θ‖ (log scale)")
fig

# %% [markdown]
# *Figure: total L2 norm of the weights of both runs (log axes).*

# %% tags=["remove-input"]
stable_90 = stable.first_step("test_acc", 0.9)
sc32 = stable32.first_step("stablemax_sc_fraction", 0.5)
soft_sc = stable.first_step("sc_fraction", 0.5)
display(Markdown(
    f"Measured: with the loss in float64, StableMax reaches 90% test accuracy at epoch **{stable_90}** and "
    f"ends at **{stable.final('test_acc'):.1%}** after {stable.config.epochs} epochs; its StableMax sum "
    f"ends collapsed for {stable.final('stablemax_sc_fraction'):.1%} of the training samples, while a float32 "
    f"softmax of its logits would be collapsed for half of them from epoch {soft_sc} on "
    f"({stable.final('sc_fraction'):.1%} at the end). With the loss in float32 the weights grow to "
    f"{stable32.history['weight_norm'].max():.0f}, the StableMax sum collapses for half of the training "
    f"samples at epoch **{sc32}**, and the test accuracy stops at **{stable32.final('test_acc'):.1%}**: "
    "StableMax only postpones the collapse, and float32 is not enough room at this learning rate. The "
    "paper reports about 94% by epoch 50 000 (the paper's number, float64 loss)."
))

# %% tags=["hide-input"]
# Signature 4: StableMax (float64 loss, as in the paper) groks without regularisation within 80k epochs.
assert stable.status == "completed" and stable_90 is not None, stable_90
print(f"check passed: StableMax test >= 0.9 at epoch {stable_90}")

# %% [markdown]
# ## Precision decides when the collapse sets in
#
# If collapse is a floating-point event, computing the loss in a wider format should postpone it. The
# paper's Fig. 2 trains plain AdamW (lr $5\cdot10^{-4}$, $\beta_2 = 0.99$, eps $10^{-25}$, no weight
# decay) on $(a + b) \bmod 113$ with 70% of the pairs for training, casting only the logits to float16,
# float32 or float64 before the softmax, for 20 000 epochs with one seed. Read off its figure: final test
# accuracies of about 48%, 68% and 85–92%, and collapse passing 50% at about 2k, 3k and 7k epochs (the
# paper's numbers). We train the same task with **3 seeds per precision for 10 000 epochs**, by which
# the paper's curves have levelled off.
#
# The size of the training set matters as much as the precision. The same figure's panels with less data
# generalise far less: at train fraction 0.4 the test accuracy stays near 0% in every precision, at 0.6 it
# reaches about 14%, 30% and 53% (the paper's numbers). A smaller modulus shrinks the training set the
# same way, so this experiment is run at the paper's size.

# %%
prec_configs = shipped.precision()
prec_runs = cache.run_or_load_many(grokking, prec_configs, progress=False, shipped=True)
by_prec = {p: [r for r in prec_runs if r.config.precision == p] for p in shipped.PRECISIONS}
fig = plots.curves(prec_runs, ["sc_fraction"], labels=[r.config.precision for r in prec_runs],
                   title=f"Softmax Collapse by loss precision (p = {shipped.PRECISION_MODULUS}, 3 seeds)",
                   x_title="epoch", y_title="collapsed share of training samples")
fig

# %% [markdown]
# *Figure: share of training samples in Softmax Collapse (softmax sum exactly 1 in the loss precision),
# median over 3 seeds with the 20–80% band, for the loss computed in float16, float32 and float64.*

# %%
fig = plots.curves(prec_runs, ["test_acc"], labels=[r.config.precision for r in prec_runs],
                   title=f"Test accuracy by loss precision (p = {shipped.PRECISION_MODULUS}, 3 seeds)",
                   x_title="epoch", y_title="test accuracy (fraction correct)")
fig

# %% [markdown]
# *Figure: test accuracy of the same runs, median over 3 seeds with the 20–80% band.*

# %% tags=["remove-input"]
never = float("inf")
onset = {p: [r.first_step("sc_fraction", 0.5) for r in runs] for p, runs in by_prec.items()}
med_acc = {p: float(np.median([r.final("test_acc") for r in runs])) for p, runs in by_prec.items()}
rows = ["| precision | seed | collapse > 50% at epoch | best test accuracy | final test accuracy | "
        "final collapse share |", "|---|---|---|---|---|---|"]
for p, runs in by_prec.items():
    for r, s in zip(runs, onset[p]):
        rows.append(f"| {p} | {r.config.seed} | {'never' if s is None else s} | "
                    f"{r.history['test_acc'].max():.1%} | {r.final('test_acc'):.1%} | {r.final('sc_fraction'):.1%} |")
med_onset = {p: int(np.median([never if s is None else s for s in v])) for p, v in onset.items()}
rising = sum(r.history["test_acc"].argmax() == len(r.history["test_acc"]) - 1 for r in by_prec["float16"])
display(Markdown(
    "Measured:\n\n" + "\n".join(rows) + "\n\nAgainst the paper's figure: the collapse passes 50% at "
    + ", ".join(f"{p} epoch **{s}**" for p, s in med_onset.items()) + " (medians; the paper: about 2k, 3k "
    "and 7k), and the median final test accuracy is "
    + ", ".join(f"{p} **{a:.1%}**" for p, a in med_acc.items())
    + f" (the paper: about 48%, 68% and 85–92%). In float16 the test accuracy is still at its highest at "
    f"the last epoch on {rising} of {len(by_prec['float16'])} seeds."
))

# %% tags=["hide-input"]
# Signature 3: on every seed the collapse passes 50% first in float16, then float32, then float64; and
# more precision generalises more: the medians of final test accuracy are ordered with margins (3 points
# between float16 and float32, whose gap is the smallest: 6 points in the shipped runs, 20 in the paper's
# figure; 10 points between float32 and float64), and float64 generalises (> 60%; chance is 0.9%).
first = {p: [never if s is None else s for s in v] for p, v in onset.items()}
for seed in range(len(shipped.SEEDS)):
    assert first["float16"][seed] < first["float32"][seed] < first["float64"][seed] < never, first
assert med_acc["float16"] + 0.03 < med_acc["float32"] < med_acc["float64"] - 0.1, med_acc
assert med_acc["float64"] > 0.6, med_acc
print("check passed: collapse order float16 < float32 < float64 on every seed; median final test accuracy "
      + " < ".join(f"{med_acc[p]:.1%}" for p in shipped.PRECISIONS))

# %% [markdown]
# ## Transformers
#
# ### Nanda et al.'s one-layer transformer
#
# {cite:t}`nanda2023progress` grok $(a + b) \bmod 113$ with a one-layer transformer: tokens $[a, b, =]$,
# learned positional embeddings, $d_{model} = 128$, 4 heads, MLP width 512, no LayerNorm, AdamW with lr
# $10^{-3}$, $\beta = (0.9, 0.98)$, weight decay 1 and 30% of the pairs for training
# (`grokking.transformer_config()`; without their learning-rate warm-up and their extra output class for
# "="). This is the classic grokking transformer, not the paper's (that one follows below). Its run is
# shipped (16 000 epochs). Our
# implementation computes the attention query and the MLP only at the "=" position, the only one the
# output reads (one layer).

# %%
tf = cache.run_or_load(grokking, shipped.transformer()[0], progress=False, shipped=True)
fig = plots.curves(tf, ["train_acc", "test_acc"], labels=["Nanda et al.'s transformer"],
                   title="Nanda et al.'s one-layer transformer and recipe, p = 113", x_title="epoch",
                   y_title="accuracy (fraction correct)")
fig

# %% [markdown]
# *Figure: training and test accuracy of Nanda et al.'s transformer over 16 000 epochs.*

# %%
fig = plots.curves(tf, ["weight_norm"], labels=["Nanda et al.'s transformer"], title="Its weight norm while it groks",
                   x_title="epoch", y_title="total weight norm ‖θ‖ (L2, all parameters)")
fig

# %% [markdown]
# *Figure: total L2 norm of the transformer's parameters; weight decay shrinks it while the test
# accuracy rises.*

# %% tags=["remove-input"]
tf_fit, tf_grok = tf.first_step("train_acc", 0.99), tf.first_step("test_acc", 0.95)
wn, steps = tf.history["weight_norm"], tf.history["step"]
display(Markdown(
    f"Measured: training accuracy 99% at epoch **{tf_fit}**, test accuracy 95% at epoch **{tf_grok}**, "
    f"final test accuracy **{tf.final('test_acc'):.1%}**; the weight norm peaks at {wn.max():.0f} "
    f"(epoch {steps[wn.argmax()]}) and is {tf.final('weight_norm'):.0f} at the end."
))

# %% tags=["hide-input"]
# Signature 5: Nanda et al.'s transformer groks and its weight norm falls while it does.
assert tf_grok is not None and tf.final("test_acc") >= 0.95, tf_grok
peak = int(wn.argmax())
assert steps[peak] < tf_grok and wn[steps == tf_grok][0] < wn[peak], (steps[peak], tf_grok)
print(f"check passed: transformer test >= 0.95 at epoch {tf_grok}, weight norm {wn[peak]:.0f} -> "
      f"{wn[steps == tf_grok][0]:.0f}")

# %% [markdown]
# ### The paper's transformer
#
# The paper's own transformer experiment (its Fig. 6) uses a standard encoder layer instead:
# `torch.nn.TransformerEncoderLayer(128, 4)` with torch's defaults (feed-forward width 2048, dropout 0.1,
# ReLU, LayerNorm after the attention and after the feed-forward block), an embedding of the two tokens
# $a, b \in \{1, \dots, p-1\}$ with no positional embedding, and a linear read-out at the last token.
# `model="paper_transformer"` implements it for stacked replicas (a unit test compares its logits and
# gradients with torch's layer). The paper's script trains it with ⊥AdamW, lr $10^{-3}$, no weight decay,
# 40% of the pairs, 5000 epochs, and with plain AdamW with and without weight decay 1.5 for comparison.
# We ship the ⊥AdamW run, with $\beta_2 = 0.999$ and eps $= 10^{-8}$ as the paper's code runs ⊥AdamW
# (`grokking.paper_transformer_config()`); the two AdamW runs are not run here.
# Training uses dropout; the accuracies and losses below are measured without it, as the paper's logger
# measures them.

# %%
ptf = cache.run_or_load(grokking, shipped.paper_transformer()[0], progress=False, shipped=True)
fig = plots.curves(ptf, ["train_acc", "test_acc"], labels=["the paper's transformer, ⊥AdamW"],
                   title="The paper's transformer with ⊥AdamW and no weight decay, p = 113", x_title="epoch",
                   y_title="accuracy (fraction correct)")
plots.add_threshold(fig, 0.95, "95% test accuracy")
fig

# %% [markdown]
# *Figure: training and test accuracy of the paper's transformer trained with ⊥AdamW and no weight decay
# (dropout off for the measurement).*

# %% tags=["remove-input"]
ptf_fit, ptf_grok = ptf.first_step("train_acc", 0.99), ptf.first_step("test_acc", 0.95)
display(Markdown(
    f"Measured: training accuracy 99% at epoch **{ptf_fit}**, test accuracy 95% at epoch **{ptf_grok}**, "
    f"final test accuracy **{ptf.final('test_acc'):.1%}** after {ptf.config.epochs} epochs, without weight "
    f"decay; the weight norm goes from {ptf.history['weight_norm'][0]:.0f} to {ptf.final('weight_norm'):.0f}."
))

# %% tags=["hide-input"]
# Signature 6: the paper's transformer groks with ⊥AdamW and no weight decay: the test accuracy passes 95%
# well after the training set is fitted (at least twice as many epochs) and stays there.
assert ptf_fit is not None and ptf_grok is not None and ptf_grok >= 2 * ptf_fit, (ptf_fit, ptf_grok)
assert ptf.final("test_acc") >= 0.95, ptf.final("test_acc")
print(f"check passed: the paper's transformer fits by epoch {ptf_fit} and passes 95% test accuracy at "
      f"epoch {ptf_grok} with ⊥AdamW and no weight decay")

# %% [markdown]
# ## Explore
#
# The explorer trains the model live with the controls you choose (in Jupyter; on the website it shows a
# note and the precomputed figures below). It starts from ⊥AdamW at p = 113 (53 in fast mode), lr 0.01, no
# weight decay, 300 epochs.
#
# **Try this → you should see that** (seed 0; a run takes about half a minute on a laptop CPU; what to
# expect, from runs made when this list was written, not checked by this page):
#
# - the defaults (⊥AdamW, no weight decay) → training and test accuracy rise together, and the test
#   accuracy reaches 100% well within the 300 epochs.
# - `optimizer` adamw → the training accuracy reaches 100% within the first hundred epochs while the test
#   accuracy stays at chance: fitted, not generalising.
# - `optimizer` adamw and `precision` float16 → the same accuracies, and the collapsed share
#   (`sc_fraction`) climbs well above zero by epoch 300, where in float32 it stays at 0.
# - `operation` mul → ⊥AdamW learns multiplication about as fast as addition.
# - `optimizer` adamw, `weight_decay` 1 and `epochs` 800 → the run of this chapter's first figure, whose
#   delay between fitting and generalising is checked there.


# %%
widgets.explorer(grokking, grokking.Config(modulus=P, optimizer="perp_adamw", epochs=300),
                 fields=["modulus", "operation", "train_fraction", "loss", "precision", "optimizer", "lr",
                         "weight_decay", "epochs", "seed"],
                 metrics=["train_acc", "test_acc", "sc_fraction"])

# %% [markdown]
# Below, precomputed: how weight decay shapes grokking. The slider switches between weight decays
# (AdamW lr 0.01, train fraction 0.5, p = 47); the phase diagram summarises the whole grid of train
# fraction and weight decay by the epoch at which test accuracy first reaches 90% (p = 47 instead of 113,
# so that the whole grid of 3000-epoch runs trains in well under an hour on one CPU core).

# %%
phase_runs = cache.run_or_load_many(grokking, shipped.phase(), progress=False, shipped=True)
grid = {(r.config.train_fraction, r.config.weight_decay): r for r in phase_runs}
slider_fraction = 0.5
plots.sweep_slider([grid[(slider_fraction, wd)] for wd in shipped.PHASE_DECAYS], list(shipped.PHASE_DECAYS),
                   metrics=["train_acc", "test_acc"], slider_label="weight decay",
                   title=f"AdamW on (a + b) mod {shipped.PHASE_MODULUS}, train fraction {slider_fraction}",
                   x_title="epoch", y_title="accuracy (fraction correct)")

# %% [markdown]
# *Figure: training and test accuracy for one weight decay at a time (move the slider).*

# %%
to_grok, fractions, decays = plots.first_steps(phase_runs, "test_acc", 0.9, rows="train_fraction",
                                               cols="weight_decay")
assert (fractions, decays) == (list(shipped.PHASE_FRACTIONS), list(shipped.PHASE_DECAYS))
plots.heatmap(to_grok, [str(wd) for wd in shipped.PHASE_DECAYS], list(shipped.PHASE_FRACTIONS),
              title=f"Epochs to grok (test accuracy 0.9), p = {shipped.PHASE_MODULUS}, AdamW lr 0.01",
              x_title="weight decay", y_title="train fraction", z_title="epochs", text_fmt=".0f")

# %% [markdown]
# *Figure: epochs until the test accuracy first reaches 90%, for each train fraction and weight decay;
# grey cells did not get there within 3000 epochs.*

# %% tags=["remove-input"]
no_wd = to_grok[:, 0]
best_f, best_wd = np.unravel_index(np.nanargmin(to_grok), to_grok.shape)
display(Markdown(
    f"Measured: without weight decay {int(np.isnan(no_wd).sum())} of {len(no_wd)} train fractions never "
    f"reach 90% test accuracy within {shipped.PHASE_EPOCHS} epochs; over the whole grid "
    f"{int(np.isfinite(to_grok).sum())} of {to_grok.size} cells do, the fastest at epoch "
    f"{np.nanmin(to_grok):.0f} (train fraction {shipped.PHASE_FRACTIONS[best_f]}, weight decay "
    f"{shipped.PHASE_DECAYS[best_wd]})."
))

# %% tags=["hide-input"]
# The phase diagram's claim: without weight decay AdamW never groks here, with enough of it and data it does.
assert np.isnan(no_wd).all(), no_wd
assert np.isfinite(to_grok[-1, 1:]).all(), to_grok[-1]
print("check passed: no cell without weight decay groks; every weight decay > 0 groks at train fraction "
      f"{shipped.PHASE_FRACTIONS[-1]}")

# %% tags=["remove-input"]
# Exercise 2's answer, measured by the shipped `multiplication` runs and quoted in its solution.
try:
    from myst_nb import glue  # the site's {glue:text} values (the `book` extra)
except ImportError:  # a chapter run outside the site build quotes nothing
    def glue(name, value, display=True):
        pass

mul_perp, mul_adamw = cache.run_or_load_many(grokking, shipped.multiplication(), progress=False, shipped=True)
mul_step = mul_perp.first_step("test_acc", 0.95)
# Plain AdamW's bound is not chance here: the 2p − 1 pairs with a zero factor all have label 0.
assert mul_step is not None and mul_adamw.final("test_acc") < 0.05, (mul_step, mul_adamw.final("test_acc"))
glue("mul_perp_step", mul_step, display=False)
glue("mul_perp_final", f"{mul_perp.final('test_acc'):.0%}", display=False)
glue("mul_adamw_train", f"{mul_adamw.final('train_acc'):.0%}", display=False)
glue("mul_adamw_test", f"{mul_adamw.final('test_acc'):.1%}", display=False)

# %% [markdown]
# ## Takeaways
#
# - Grokking with weight decay is a delay: the MLP fits its training pairs early and generalises hundreds
#   of epochs later (measured above).
# - Without weight decay, plain AdamW fits the training set and then moves along the weights (the
#   {term}`NLM direction`): the logits grow, the weight norm grows, and the test accuracy stays at chance.
# - Growing logits end in {term}`softmax collapse`: the softmax's sum rounds to exactly 1, the loss and
#   gradient of the fitted samples to exactly 0, and learning stops; a wider float format postpones it.
# - ⊥Grad removes the update along the weights and StableMax keeps the sum from rounding to 1: both let
#   the network generalise without weight decay, in the MLP and, for ⊥Grad, in the paper's transformer.
# - Each of these sentences is a check cell above: if the phenomenon stops reproducing, the book's tests
#   fail.
#
# ## Exercises
#
# 0. **Explain the claim.** *(10 minutes, medium.)* In your own words: why does a network that has fitted
#    its training set, trained without weight decay, stop learning instead of generalising? Use the NLM
#    direction and softmax collapse, and say what each of the two fixes changes.
#
# :::{dropdown} Hint
# Once every training sample is right, what is the cheapest change of the weights that lowers the
# cross-entropy? What happens to a sample's gradient when its softmax sum is exactly 1?
# :::
#
# :::{dropdown} Solution
# After the fit, scaling the logits up lowers the cross-entropy without changing a prediction, so the
# gradient points mostly along the weights (the NLM cosine rises towards 1) and the optimiser spends its
# steps growing the weights. The logit gaps grow until the softmax's sum rounds to exactly 1 in the loss's
# precision; for those samples the loss and its gradient are exactly 0, so once most samples have
# collapsed nothing is left to push the network towards the rule that generalises. ⊥Grad removes the
# component of the update along the weights, so every step has to change what the network computes;
# StableMax's tails shrink like $1/|x|$ instead of $e^{-x}$, so the sum does not round to 1 at the logit
# gaps reached here. Weight decay does both indirectly: it keeps the weights, and with them the logits,
# small.
# :::
#
# 1. *(10 minutes, easy.)* Predict the logit gap at which a float32 softmax over 113 classes collapses
#    when all 112 wrong classes share the same logit. Then measure it with `grokking.softmax_collapse` on
#    crafted logits.
#
# :::{dropdown} Hint
# Write the sum of the exponentials relative to the top logit, and ask when the small part is below half
# the gap between 1 and the next float32 number.
# :::
#
# :::{dropdown} Solution
# The sum is $1 + 112\,e^{-g}$; it rounds to 1 once $112\,e^{-g} < \epsilon/2 = 2^{-24}$, i.e.
# $g > \ln(112 \cdot 2^{24}) \approx 21.4$. `grokking.collapse_gap("float32", 113)` gives the same
# number, and `softmax_collapse` on `[[0] + [-g] * 112]` flips from False to True around it (the exact
# point can move by a fraction of a unit with the order in which the sum is accumulated).
# :::
#
# 2. *(15 minutes, easy.)* Does ⊥Grad grok multiplication? Set `operation="mul"` in the explorer with
#    ⊥AdamW, lr 0.01 and no weight decay.
#
# :::{dropdown} Hint
# For a prime $p$, what does multiplying by a fixed nonzero $a$ do to the residues $0, \dots, p-1$?
# :::
#
# :::{dropdown} Solution
# Yes: for a prime modulus, multiplication by a nonzero number permutes the residues, so the task is
# as learnable as addition (only the pairs with a zero factor behave differently). Measured by the
# shipped runs `multiplication` (p = 113, train fraction 0.4, 300 epochs, ⊥AdamW as in signature 1):
# ⊥AdamW reached 95% test accuracy at epoch {glue:text}`mul_perp_step` and
# {glue:text}`mul_perp_final` at the end, plain AdamW (lr 0.005) {glue:text}`mul_adamw_train` training and
# {glue:text}`mul_adamw_test` test accuracy.
# :::
#
# 3. *(15 minutes, medium.)* Compute the softmax loss in float64 for plain AdamW (explorer:
#    `precision="float64"`). Does it grok by epoch 400? Why is that not a contradiction?
#
# :::{dropdown} Hint
# Precision changes the gap at which the sum rounds to 1. Does it change the direction the gradient points
# in before that?
# :::
#
# :::{dropdown} Solution
# No. float64 postpones the collapse (the gap must reach ~38 instead of ~21), but before the collapse
# the gradient is still dominated by the NLM direction: the network keeps scaling its logits instead of
# changing its predictions. Precision decides *when* learning stops, ⊥Grad or weight decay decide
# whether the optimiser leaves the NLM direction.
# :::
#
# 4. *(10 minutes, medium.)* StableMax in float16: does the loss stay finite when the logits reach $10^6$?
#
# :::{dropdown} Hint
# The largest float16 number is 65 504. Where in `grokking.cross_entropy` is the cast to float16 made?
# :::
#
# :::{dropdown} Solution
# Yes. `grokking.cross_entropy(x, y, loss="stablemax", precision="float16")` applies
# $\operatorname{sign}(x)\log(1+|x|)$ before the cast, which maps $10^6$ to 13.8; the softmax loss in
# float16 overflows already when casting a logit above 65 504.
# :::
#
# ### Coded exercises
#
# Each coded exercise asks for a function and ends with `exercises.check(name, your_function)`, which
# compares it with the library's reference on fixed inputs, random inputs and edge cases and prints one
# verdict: what passed, or the first input that fails, with expected vs got and a hint. On the website
# the solution is behind the cell's "Show code cell source" toggle; in the student edition
# (`make classroom`) it is replaced by `raise NotImplementedError(...)`. The rest of the chapter uses the
# library's own functions, so nothing depends on your answers.
#
# 5. *(15 minutes, medium.)* Write StableMax's $s(x)$ (the formula above) with tensor operations, so that
#    it works on any shape and dtype, stays finite at $|x| = 10^{30}$ and has a finite gradient everywhere.
#    The check also differentiates it, at $x = 1$ among other points: why could that fail?
#
#    *Hint:* `torch.where` computes both branches everywhere; what is $1/(1 - x)$ at $x = 1$?

# %% tags=["hide-input"]
# Exercise: return s(x) elementwise (x + 1 for x >= 0, 1 / (1 - x) for x < 0) for a tensor of any shape and dtype.
def my_s(x):
    ### BEGIN SOLUTION
    return torch.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))  # clamped: the unused branch is computed too
    ### END SOLUTION


exercises.check("grokking.stablemax_s", my_s)

# %% [markdown]
# 6. Write the per-sample StableMax cross-entropy $-\log \mathrm{StableMax}(z)_y$ for logits of shape
#    `[N, C]` and integer targets of shape `[N]`, in the logits' dtype. It must stay finite for logits of
#    $3\cdot10^{38}$ in float32 and $6\cdot10^{4}$ in float16, where $s$ itself overflows: the identity
#    $\mathrm{StableMax}(x) = \mathrm{softmax}(\operatorname{sign}(x)\log(1 + |x|))$ helps
#    (`grokking.stablemax_log_s` computes the inner part). *(15 minutes, medium.)*
#
#    *Hint:* `torch.log_softmax` of the inner part is the log-probability you need; pick the target's entry
#    with `gather`.

# %% tags=["hide-input"]
# Exercise: return the per-sample StableMax cross-entropy of logits [N, C] and targets [N], finite for huge logits.
def my_stablemax_ce(logits, targets):
    ### BEGIN SOLUTION
    log_s = grokking.stablemax_log_s(logits)  # log s(z) = sign(z) log(1 + |z|): s(z) itself overflows
    return -torch.log_softmax(log_s, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    ### END SOLUTION


exercises.check("grokking.stablemax_cross_entropy", my_stablemax_ce)

# %% [markdown]
# 7. *(15 minutes, medium.)* Write ⊥Grad for one weight tensor $w$ and its gradient $g$ of any shape:
#    $g_\perp$ rescaled to $\lVert g \rVert$ (the formula in "Two fixes"). What should it return when
#    $w = 0$, or $g = 0$?
#
#    *Hint:* both special cases divide by zero in the formula: with no direction to remove, return $g$.

# %% tags=["hide-input"]
# Exercise: return g minus its projection on w, rescaled to the norm of g (w and g: one tensor each, any shape).
def my_perp_grad(w, g):
    ### BEGIN SOLUTION
    ww = (w * w).sum()
    g_perp = g - (w * g).sum() / ww * w if ww > 0 else g  # w = 0: no direction to remove
    norm = g_perp.norm()
    return g_perp * (g.norm() / norm) if norm > 0 else g_perp  # g = 0 stays 0
    ### END SOLUTION


exercises.check("grokking.perp_grad", my_perp_grad)

# %% [markdown]
# 8. *(10 minutes, easy.)* Exercise 1 in code: the logit gap $g$ above which $1 + (C - 1)\,e^{-g}$ rounds
#    to exactly 1 in a given precision (`"float16"`, `"float32"` or `"float64"`), for $C$ classes of which
#    $C - 1$ share the runner-up logit. `torch.finfo(getattr(torch, precision)).eps` is the machine epsilon.
#
#    *Hint:* your answer to exercise 1, with $\epsilon$ and $C$ as arguments.

# %% tags=["hide-input"]
# Exercise: return the logit gap above which 1 + (num_classes - 1) * exp(-gap) rounds to 1 in `precision`.
def my_collapse_gap(precision, num_classes=2):
    ### BEGIN SOLUTION
    eps = torch.finfo(getattr(torch, precision)).eps
    return float(np.log(2 * (num_classes - 1) / eps))  # below half an ulp of 1, e^(-gap) is rounded away
    ### END SOLUTION


exercises.check("grokking.collapse_gap", my_collapse_gap)

# %% [markdown]
# The prediction, measured with the library's `collapse_gap` and `softmax_collapse` (so this runs whether
# or not your function is done): the smallest gap, in steps of 0.05, at which crafted logits with $C - 1$
# equal runners-up collapse.

# %% tags=["hide-input"]
gaps = np.arange(5.0, 45.0, 0.05)
print("precision  classes  predicted gap  first collapsed gap")
for prec in ("float16", "float32", "float64"):
    for classes in (2, 113):
        crafted = torch.tensor([[0.0] + [-gap] * (classes - 1) for gap in gaps], dtype=torch.float64)
        collapsed = grokking.softmax_collapse(crafted, precision=prec).numpy()
        predicted, measured = grokking.collapse_gap(prec, classes), gaps[collapsed.argmax()]
        print(f"{prec:9}  {classes:7d}  {predicted:13.2f}  {measured:19.2f}")
        assert collapsed.any() and measured <= predicted + 0.05, (prec, classes, measured)

# %% [markdown]
# The prediction is a bound: it assumes the $C - 1$ small terms are added up before they meet the 1.
# Where the measured gap is smaller, the sum was computed in several partial sums, each small enough to
# be rounded away on its own, so the collapse comes earlier; it never comes later (asserted above).

# %% [markdown]
# ## What to read next
#
# - {cite:t}`prieto2025grokking`: Softmax Collapse, StableMax and ⊥Grad; this chapter reproduces its MLP
#   experiments (Figs. 1 and 2) and runs its transformer (Fig. 6).
# - {cite:t}`power2022grokking`: the original grokking experiments on algorithmic datasets.
# - {cite:t}`nanda2023progress`: what their grokked one-layer transformer computes (Fourier features of
#   $a$ and $b$).
# - Chapter 2 (benign overfitting) for a proof of a grokking transition in a two-layer network.

# %% [markdown]
# ## Reproducibility
#
# How this page's numbers were produced, folded away: the runs shipped with the book and what they cost,
# how a shipped run is re-derived, the fast mode's size, and the benchmarks. Only
# `python -m minilib precompute grokking --only <entry>` writes a shipped run; a reader's run goes to the
# cache.

# %% [markdown]
# :::{dropdown} Re-deriving the shipped StableMax runs
# A shipped result is not taken on trust: the first epochs of the same config are trained again here
# and must reproduce the stored history, every logged metric. Only an early stretch can match on every
# machine: round-off from other CPU kernels or a GPU grows with each step of a chaotic training run, so
# the stretch and its tolerance were measured across CPU kernel sets (see `shipped.EARLY`). The cell below
# prints the comparison.
# :::

# %% tags=["hide-cell"]
for name, shipped_run in (("stablemax", stable), ("stablemax_float32", stable32)):
    print(name, checks.rederive(grokking, shipped_run, grokking.SHIPPED[name].tolerance))

# %% [markdown]
# :::{dropdown} Why p = 53 in fast mode
# The fast mode (`MINILIB_FAST=1`, how the book's tests execute every chapter) needs the smallest task on
# which signature 1 still separates clearly. The shipped `fast_sizes` runs measure it: ⊥AdamW (as above)
# and plain AdamW without weight decay, train fraction 0.4, 400 epochs, three seeds per modulus. The
# table and its check are folded below.
# :::

# %% tags=["remove-input", "hide-output"]
sizes = cache.run_or_load_many(grokking, shipped.fast_sizes(), progress=False, shipped=True)
rows = ["| p | ⊥AdamW: first epoch with test ≥ 0.95, per seed | ⊥AdamW final test | AdamW final test | "
        "AdamW best test | chance |", "|---|---|---|---|---|---|"]
for p in shipped.SIZES_MODULI:
    perps = [r for r in sizes if r.config.modulus == p and r.config.optimizer == "perp_adamw"]
    plains = [r for r in sizes if r.config.modulus == p and r.config.optimizer == "adamw"]
    steps = ", ".join("never" if (s := r.first_step("test_acc", 0.95)) is None else str(s) for r in perps)
    span = lambda rs, f: f"{min(map(f, rs)):.1%}–{max(map(f, rs)):.1%}"
    rows.append(f"| {p} | {steps} | {span(perps, lambda r: r.final('test_acc'))} | "
                f"{span(plains, lambda r: r.final('test_acc'))} | "
                f"{span(plains, lambda r: r.history['test_acc'].max())} | {1 / p:.1%} |")
display(Markdown("\n".join(rows)))

# %% tags=["hide-cell"]
# The fast mode's size: at p = 53 every seed of ⊥AdamW reaches 95% within the run and plain AdamW ends at
# or below chance; at p = 41 and below ⊥AdamW does not get there in 400 epochs.
at = lambda p, opt: [r for r in sizes if r.config.modulus == p and r.config.optimizer == opt]
assert all(r.first_step("test_acc", 0.95) is not None for r in at(53, "perp_adamw"))
assert all(r.final("test_acc") <= 1 / 53 for r in at(53, "adamw"))
assert all(r.first_step("test_acc", 0.95) is None for p in (23, 31, 41) for r in at(p, "perp_adamw"))
print("check passed: p = 53 is the smallest modulus tried on which signature 1 holds for every seed")

# %% tags=["remove-input", "hide-output"]
on_page = {"adamw_long": [long_adamw], "stablemax": [stable], "stablemax_float32": [stable32],
           **{f"precision_{p}": runs for p, runs in by_prec.items()}, "transformer": [tf],
           "paper_transformer": [ptf], "phase": phase_runs, "fast_sizes": sizes,
           "multiplication": [mul_perp, mul_adamw]}
rows = ["| shipped entry | what | CPU time, minutes (runs of one batch share theirs) | machine |",
        "|---|---|---|---|"]
for name, entry in grokking.SHIPPED.items():
    runs = on_page.get(name, [])
    minutes = sum({round(r.meta["seconds"], 3) for r in runs}) / 60
    machine = f"{runs[0].meta['threads']} thread(s) of an {runs[0].meta['machine']} CPU" if runs else ""
    rows.append(f"| `{name}` | {entry.what} | {minutes:.0f} | {machine} |")
live = {"AdamW with weight decay": run_classic, "⊥AdamW": run_perp, "plain AdamW": run_adamw}
display(Markdown(
    "Regenerate an entry with `python -m minilib precompute grokking --only <entry>`.\n\n" + "\n".join(rows)
    + "\n\nThe live runs of this page took " + ", ".join(f"{k} {r.meta['seconds']:.0f} s" for k, r in live.items())
    + " on the machine that executed it."
))

# %% [markdown]
# :::{dropdown} Benchmarks: what one training step costs on a CPU and on a GPU
# *Quoted benchmark numbers, not measured by this page: `python benchmarks/grokking.py`, recorded on an
# AMD EPYC (AVX-512) virtual machine with torch 2.13 (CPU build), one thread. Earlier recordings and
# what changed between them are in `benchmarks/README.md`.*
#
# | full-batch MLP step, p = 113, 5107 training pairs, width 200, float32, AdamW | ms per step |
# |---|---|
# | ours: first layer as an embedding gather | 25.6 |
# | the same model with a dense one-hot input matmul | 34.4 |
# | GEMM-only floor: the six bare matrix products of our step | 21.0 |
# | four seeds trained as one sweep, per seed (single runs: 24.19) | 24.18 |
#
# Dense / ours = 1.34x: removing the 2p-wide matmul saves ~42% of the FLOPs, so ~1.7x is the bound.
# Ours / floor = 1.22x: the rest of the step (ReLU masks, softmax, the scatter-add of the gather's
# backward, AdamW) costs about a fifth of the matmuls. On a CPU a sweep trains its replicas one after the
# other inside each step, so a seed costs what a single run costs; on a GPU the replicas are computed as
# one batch. The shipped runs above print their own cost.
#
# **On a GPU.** The explorer and every run here train on the GPU when torch sees one (`device="auto"`).
# There the step is about 40 small kernels, and launching them from Python costs more than their
# arithmetic; so on a GPU the library records the whole step (forward, backward, AdamW) once as a CUDA
# graph and replays it with a single launch (`minilib/graphs.py`). Quoted from `benchmarks/gpu.json`
# (`make bench-gpu`, recorded on an idle GPU; not measured by this page):
# :::

# %% tags=["remove-input", "hide-output"]
gpu = shipped.gpu_record()
if gpu is None:
    display(Markdown("*No GPU recording ships with this copy of the book (`make bench-gpu` makes one).*"))
else:
    step, sweep = gpu["by_name"]["grokking step p=113"], gpu["by_name"]["grokking sweep 64 seeds / one run"]
    display(Markdown(
        f"On one {gpu['device']} ({gpu['recorded']}, torch {gpu['torch']}) the step above takes "
        f"**{step['gpu_ms']:.2f} ms** replayed as a graph and {step['gpu_eager_ms']:.2f} ms launched kernel by "
        f"kernel, against {step['cpu_ms']:.1f} ms on one CPU thread of the same machine: "
        f"**{step['speedup']:.0f}x** and {step['speedup_eager']:.0f}x faster. A thousand epochs then take "
        f"about {step['gpu_ms']:.1f} s. Sixty-four seeds stacked into one step take {sweep['gpu_ms']:.1f} ms, "
        f"{sweep['ratio']:.0f}x one graphed run but {step['gpu_ms'] * 64 / sweep['gpu_ms']:.1f}x cheaper per "
        f"seed than 64 single runs: past a few seeds the GPU's arithmetic, not the launches, sets the pace."))
    # the sentence's claims: the graph is faster than the eager launches, the GPU >= 10x one CPU thread,
    # and a stacked seed costs less than a single run's step
    assert step["gpu_ms"] < step["gpu_eager_ms"] and step["speedup"] >= 10, step
    assert sweep["gpu_ms"] / 64 < step["gpu_ms"], sweep
    print("check passed: on the recorded GPU the graphed step is >= 10x one CPU thread, and stacked seeds are "
          "cheaper per seed than single runs")
