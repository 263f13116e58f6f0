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
# # Start here: how this book works
#
# **The claim in one sentence:** a network wide enough to fit its noisy training data drives its training
# loss below the noise level while its test loss stays above it, and this page measures that instead of
# asserting it.
#
# **You will need:** Python and a first course in deep learning: a one-hidden-layer ReLU network trained
# by gradient descent on the mean squared error (Goodfellow, Bengio and Courville, *Deep Learning*, 2016,
# chapter 6), and what {term}`overparameterisation` and overfitting noise mean (Hastie, Tibshirani and
# Friedman, *The Elements of Statistical Learning*, 2009, section 7.2 on the bias–variance trade-off).
#
# **You will be able to:** run an experiment of this book from its `Config`, train or load it, read its
# figures, say what a check cell asserts, change the experiment in an explorer, and answer a coded
# exercise.
#
# Every chapter of this book is an experiment you can rerun, change and check. A chapter states a
# surprising claim from a paper, reproduces it *quantitatively* on a model small enough for a laptop,
# and lets you change the experiment and watch it train. Every number in the text is measured when the
# page runs; where we quote a paper's number we say so.
#
# This page shows the kit on a tiny experiment that trains in seconds: a one-hidden-layer ReLU network
# fitting a noisy one-dimensional function. The question is an old one: *what happens to training and
# test error as the network gets wider?*
#
# A chapter always has the same parts:
#
# 1. **the claim**, in one paragraph, with the paper cited;
# 2. **the smallest experiment that shows it**, run live on this page;
# 3. **the full-size result**, trained once and then loaded (`run_or_load`);
# 4. **a check cell** that asserts the measured signature, so the book's tests fail if the phenomenon
#    stops reproducing;
# 5. **an explorer** to change the experiment (live in Jupyter, a precomputed slider on the website);
# 6. **takeaways and exercises**: questions with hints and hidden solutions, and coded exercises whose
#    answers a check compares with the library's reference; then what to read next;
# 7. **reproducibility**, folded at the end: sizes, costs, recorded runs and tolerances.
#
# The line under the imports estimates how long studying the page takes, and how long executing it took
# when that was last measured.

# %%
import numpy as np

import minilib
from minilib import cache, curvefit, plots, runtime, widgets
from minilib.curvefit import figures

print(runtime.describe())

# %%
from minilib import exercises

exercises.timing_note("00_start_here", study="about 45 minutes")

# %% [markdown]
# ## Fast mode, CPU and GPU
#
# The book runs anywhere PyTorch runs. `runtime.pick_device("auto")` takes a CUDA GPU when there is
# one (or Apple's `mps`), otherwise the CPU; every experiment's `device` field can also name one, and
# asking for a device that is not there is a clear error. Setting the environment variable
# `MINILIB_FAST=1` shrinks every chapter's experiments (`runtime.fast(full, small)` picks the size) so
# that the whole book executes in minutes on two CPU cores: that is how the tests run each chapter.
# The check cells use thresholds that hold at the size actually run.

# %%
try:
    runtime.pick_device("cuda")
except ValueError as err:
    print("asking for a GPU here:", err)

# %% [markdown]
# ## The experiment contract
#
# Each phenomenon lives in one module of `minilib` with the same three pieces: a `Config` (a frozen
# dataclass of plain numbers and strings, validated when it is made), a `run(config)` function that
# trains and returns a `Run`, and the `Run` itself (its `history` of logged metrics, its `artifacts` and
# how it ended). Here the data are $n$ points $x_i \sim U[-1, 1]$ with labels
# $y_i = f(x_i) + \varepsilon_i$, $\varepsilon_i \sim \mathcal{N}(0, \sigma^2)$, and the network
# minimises the mean squared error
#
# $$\mathcal{L}_{\text{train}} = \frac{1}{n}\sum_{i=1}^{n} \big(\hat f(x_i) - y_i\big)^2 .$$
#
# On fresh test points the best any model can do is the noise level $\sigma^2$: a training loss below
# $\sigma^2$ means the network has started to fit the noise itself.

# %%
config = curvefit.Config(width=64, steps=runtime.fast(2000, 800), seed=0)
config

# %% [markdown]
# A bad value is refused when the config is made, with a message that names the field and the allowed
# range:

# %%
try:
    curvefit.Config(n_train=1)
except minilib.ConfigError as err:
    print(err)

# %%
run = curvefit.run(config, progress=False)
noise_floor = config.noise**2
print(run)
print(f"final train loss {run.final('train_loss'):.4f}, test loss {run.final('test_loss'):.4f}, "
      f"noise level sigma^2 = {noise_floor:.4f}")

# %%
fig = plots.curves(run, ["train_loss", "test_loss"], log_y=True, title="One network, width 64",
                   x_title="training step (full-batch Adam)", y_title="mean squared error")
plots.add_threshold(fig, noise_floor, "noise level σ²")
fig

# %% [markdown]
# *Figure: training and test loss of a width-64 network over training. The dashed line is the noise
# level: the best test loss any model can reach.*

# %%
figures.fitted_function(run)

# %% [markdown]
# *Figure: the fitted function, the noise-free target and the noisy points it was trained on.*
#
# ## Wider networks fit the noise
#
# Now the experiment proper: the same data, networks of growing width, several seeds each. Seeds of
# one width train together as **one batched model** (the weights of all seeds are stacked and trained
# with batched matrix products), which on a CPU costs about as much as one larger model and on a GPU
# almost nothing extra. `cache.run_or_load_many` stores each result under a hash of its config and
# the code version, so a second execution of this page loads instead of training.

# %%
widths = runtime.fast([2, 8, 32, 128, 512], [2, 32, 512])
seeds = range(runtime.fast(5, 3))
sweep = {w: cache.run_or_load_many(curvefit, [config.replace(width=w, seed=s) for s in seeds],
                                   progress=False)
         for w in widths}
final = {m: np.array([[r.final(m) for r in sweep[w]] for w in widths]) for m in ("train_loss", "test_loss")}

# %%
summary = plots.final_vs([r for w in widths for r in sweep[w]], "width", ["train_loss", "test_loss"],
                         title="Final loss against width (median over seeds)", x_title="hidden units (width)",
                         log_x=True, log_y=True)
plots.add_threshold(summary, noise_floor, "noise level σ²")
summary

# %% [markdown]
# *Figure: final training and test loss against width; markers are the median over seeds, bars span
# the 20–80% range.*
#
# The slider below switches between the widths and shows how training unfolds for each (median over
# seeds, shaded 20–80% band). It is a plain plotly figure, so it works on the website without Python.

# %%
plots.sweep_slider([sweep[w] for w in widths], widths, metrics=["train_loss", "test_loss"],
                   slider_label="width", title="Training curves by width", log_x=True,
                   x_title="training step", y_title="mean squared error")

# %%
med = {m: np.median(v, axis=1) for m, v in final.items()}
print("width   median train loss   median test loss")
for w, tr, te in zip(widths, med["train_loss"], med["test_loss"]):
    print(f"{w:5d}   {tr:17.4f}   {te:16.4f}")
print(f"noise level sigma^2 = {noise_floor:.4f}")

# %% [markdown]
# ## Check: the signature this page claims
#
# The check cell turns the claim into assertions on the numbers just measured: the widest network's
# training loss sits below the noise level (it fits the noise) while its test loss stays above it, and
# widening the network lowers the training loss.

# %% tags=["hide-input"]
assert med["train_loss"][-1] < noise_floor < med["test_loss"][-1], med
assert med["train_loss"][-1] < 0.5 * med["train_loss"][0], med
print(f"check passed: width {widths[-1]} trains to {med['train_loss'][-1]:.4f} < sigma^2 = {noise_floor:.2f} "
      f"< test {med['test_loss'][-1]:.4f}; width {widths[0]} trains to {med['train_loss'][0]:.4f}")

# %% [markdown]
# ## When training blows up
#
# A learning rate that is too large makes the loss overflow. The training loop watches for NaN or
# infinite losses and ends such a run cleanly with `status == "diverged"` and the step where it
# happened, so an explorer slider set to a silly value shows a message instead of crashing.

# %%
wild = curvefit.run(config.replace(optimizer="sgd", lr=5.0), progress=False)
print(wild.status, "at step", wild.diverged_at)
assert wild.status == "diverged"

# %% [markdown]
# ## The explorer
#
# Every chapter ends its experiments with an explorer: controls generated from the `Config`'s fields,
# a Run and a Stop button, and a figure that updates while the model trains in the background (the
# notebook stays usable; pressing Run again cancels the old run). Here the losses are on a log axis,
# with the noise level $\sigma^2$ as a dashed line: a training loss below it means the network fits the
# noise, and the test loss can only approach it from above. A learning rate too large ends with a
# message in the status line: "diverged" when the loss became NaN (SGD), "unstable" when it spiked far
# above its start (AdamW). On the website there is no Python running, so the page shows a note and the
# precomputed slider figure above instead.
#
# The explorer lives as long as the kernel that drew it, and the chapter's `.py` source stores no
# outputs. After a browser reload the page shows no outputs while the kernel keeps running (a run in
# progress goes on unseen): re-run this cell, which also stops that run. After a kernel restart, run
# the chapter from the top (Run > Run All Cells). Kernel > Interrupt stops a run as well.
#
# **Try this → you should see that** (one seed, 2000 steps, the defaults otherwise; the cell after the
# explorer runs these settings and checks each outcome):
#
# - `width` 512 → the training loss ends below the dashed noise level $\sigma^2 = 0.09$ and the test loss
#   far above it: the network fits the noise.
# - `width` 2 → both losses stay above the noise level: too narrow to fit the noise.
# - `noise` 0 → there is no noise to fit: both losses fall below 0.01.
# - `width` 512 and `n_train` 200 → the training loss stays near the noise level (within 20%) and the test
#   loss only just above the training loss.
# - `optimizer` sgd and `lr` 5 → the status line reports that the run diverged.

# %%
explorer = widgets.explorer(curvefit, config, fields=["target", "n_train", "noise", "width", "optimizer", "lr",
                                                      "weight_decay", "steps", "seed"],
                            metrics=["train_loss", "test_loss"], log_y=True,
                            hlines=lambda c: {"noise level σ² (the lowest possible test loss)": c.noise**2})
explorer

# %% tags=["hide-input"]
# The explorer's try-this list, run at the explorer's size (each run takes a second or two).
tries = {name: curvefit.run(config.replace(steps=2000, **change), progress=False) for name, change in {
    "wide": dict(width=512), "narrow": dict(width=2), "no noise": dict(width=512, noise=0.0),
    "more data": dict(width=512, n_train=200), "sgd lr 5": dict(optimizer="sgd", lr=5.0)}.items()}
ends = {name: (r.final("train_loss"), r.final("test_loss")) for name, r in tries.items() if r.status == "completed"}
assert ends["wide"][0] < noise_floor < ends["wide"][1], ends["wide"]
assert min(ends["narrow"]) > noise_floor, ends["narrow"]
assert max(ends["no noise"]) < 0.01, ends["no noise"]
assert abs(ends["more data"][0] / noise_floor - 1) < 0.2 and ends["more data"][1] > ends["more data"][0]
assert tries["sgd lr 5"].status == "diverged", tries["sgd lr 5"].status
print("check passed: every outcome of the try-this list, " + "; ".join(
    f"{name}: train {tr:.3f}, test {te:.3f}" for name, (tr, te) in ends.items()) + "; sgd lr 5 diverged")

# %% [markdown]
# ## Train or load
#
# Full-size experiments can take minutes to hours. `run_or_load(module, config)` first looks for a
# stored result, in the book's shipped `results/` folder and then in your cache
# (`$MINILIB_CACHE`, by default `~/.cache/minilib`); if there is none it trains and stores one. The
# key is a hash of the config and the module's `CODE_VERSION`, so changing either retrains. A
# damaged or stale file is reported and recomputed, never loaded silently.

# %% [markdown]
# ## Takeaways
#
# - A `Config` holds every number of an experiment and refuses a bad one when it is made; `run` trains
#   it, `run_or_load` trains it once and loads it afterwards.
# - A training loss below the noise level $\sigma^2$ means the network fits the noise; the test loss
#   cannot go below $\sigma^2$, whatever the model.
# - On 24 noisy points, widening the network lowers the training loss below $\sigma^2$ while the test loss
#   stays above it; the check cell asserts both on the numbers measured on this page.
# - A chapter's claims are check cells: if the phenomenon stops reproducing, the book's tests fail.
# - The explorer changes one field at a time and trains live; a run that blows up ends with a message.
#
# ## Exercises
#
# 0. **Explain the claim.** *(5 minutes, easy.)* In two sentences: why is a training loss below
#    $\sigma^2$ evidence that the network fits the noise, and why can its test loss not follow it below?
#
# :::{dropdown} Hint
# Compare the network's prediction at a training point with the noisy label there and with $f(x)$.
# :::
#
# :::{dropdown} Solution
# Even the true function $f$ misses each noisy label by $\varepsilon_i$, so its training loss is about
# $\sigma^2$; going below that means the network has bent towards the particular $\varepsilon_i$ of its
# training points. Those $\varepsilon_i$ do not repeat at fresh test points, whose noise no model can
# predict, so the test loss stays at $\sigma^2$ or above.
# :::
#
# 1. *(10 minutes, easy.)* With the explorer, set `noise` to 0. Does the widest network still overfit?
#    What is the test loss now bounded by?
#
# :::{dropdown} Hint
# Without noise the dashed line sits at 0: what is left for the test loss to measure?
# :::
#
# :::{dropdown} Solution
# With no noise there is nothing to overfit: training and test loss both fall towards zero, and the
# remaining test error is approximation and optimisation error, not noise.
# :::
#
# 2. *(10 minutes, easy.)* Add weight decay (try 0.01 to 0.1) to the widest network. Which loss rises,
#    which falls?
#
# :::{dropdown} Hint
# Weight decay pulls the weights towards zero: which is cheaper for the network, a smooth curve or one
# that passes through every noisy point?
# :::
#
# :::{dropdown} Solution
# Weight decay keeps the function smoother: the training loss rises back towards the noise level and
# the test loss usually falls, because the network stops chasing individual noisy points.
# :::
#
# 3. *(10 minutes, medium.)* Predict, then measure: with `n_train` = 200 instead of 24, does width 512
#    still fit the noise?
#
# :::{dropdown} Hint
# Compare the number of points with what 2000 steps of Adam can bend a width-512 curve through.
# :::
#
# :::{dropdown} Solution
# Much less: with many more points than it can memorise in the same number of steps, the network's
# training loss stays close to $\sigma^2$ and its test loss approaches it from above.
# :::
#
# ### Coded exercises
#
# A coded exercise asks you to write a function and ends with `exercises.check(name, your_function)`. The
# check calls your function on fixed inputs, random inputs and edge cases, compares every result with the
# library's reference and prints one verdict: what passed, or the first input that fails, with the
# expected and the actual result and a hint. On the website the solution is behind the cell's "Show code
# cell source" toggle; in the student edition of this book (`make classroom`) the solution lines are
# replaced by `raise NotImplementedError(...)`, and the check answers "not implemented yet".
#
# 4. *(10 minutes, easy.)* The dashed line in the figures is the noise level $\sigma^2$. Why is it the best
#    test loss any model can reach? Write the expected test MSE of the perfect predictor $\hat f = f$ for labels
#    $y = f(x) + \varepsilon$, $\varepsilon \sim \mathcal{N}(0, \sigma^2)$, as a function of `noise` $= \sigma$.
#
#    *Hint:* expand $\mathbb{E}[(f(x) - y)^2]$ with $y - f(x) = \varepsilon$. The solution is behind the
#    cell's "Show code cell source" toggle.

# %%
import torch  # the coded exercises work on tensors


# %% tags=["hide-input"]
# Exercise: return the expected test MSE of the perfect predictor f when the labels are f(x) + noise * N(0, 1).
def my_noise_floor(noise):
    ### BEGIN SOLUTION
    return noise**2  # the error left is the label noise itself: E[eps^2] = its variance
    ### END SOLUTION


exercises.check("curvefit.noise_floor", my_noise_floor)

# %% [markdown]
# Measured with the library's data (so this runs whether or not your function is done): the true
# function's squared error on 4096 fresh noisy points, against $\sigma^2$.

# %%
probe = curvefit.Config(n_train=4096)
x, y, _, _ = curvefit.make_data(probe, runtime.seed_everything(1))
print(f"mean squared error of the true f: {float(((curvefit.TARGETS[probe.target](x) - y) ** 2).mean()):.4f}; "
      f"sigma^2 = {probe.noise**2:.4f}")

# %% [markdown]
# 5. *(15 minutes, medium.)* The network of this page, for $n$ networks trained together: each weight has
#    a leading dimension of size $n$, `params = [w1, b1, w2, b2]` of shapes `[n, 1, width]`,
#    `[n, 1, width]`, `[n, width, 1]`, `[n, 1, 1]`, and the inputs `x` have shape `[n, batch, 1]`. Write
#    its forward pass: one hidden ReLU layer, a linear output. (`@` multiplies the matrices of each of the
#    $n$ networks.)
#
#    *Hint:* `x @ w1` has shape `[n, batch, width]`; the biases broadcast over the batch.

# %% tags=["hide-input"]
# Exercise: return the outputs [n, batch, 1] of n stacked one-hidden-layer ReLU nets for params [w1, b1, w2, b2].
def my_forward(params, x):
    ### BEGIN SOLUTION
    w1, b1, w2, b2 = params
    hidden = torch.relu(x @ w1 + b1)  # [n, batch, width]
    return hidden @ w2 + b2
    ### END SOLUTION


exercises.check("curvefit.forward", my_forward)

# %% [markdown]
# ## What next
#
# Chapter 1 takes the same kit to **grokking**, where a network first memorises its training set and
# only much later generalises, and asks why that delay needs regularisation at all.

# %% [markdown]
# ## Reproducibility
#
# :::{dropdown} Sizes, costs and where results are stored
# Every experiment of this page trains in seconds on a CPU: 24 training points, widths 2 to 512,
# 2000 full-batch steps and five seeds per width (three widths, three seeds and 800 steps in fast mode,
# `MINILIB_FAST=1`). The check cell's thresholds hold at both sizes. Nothing here is shipped in
# `results/`: the sweep is trained on the first execution and loaded from your cache afterwards. The cell
# below prints where one of its runs is stored.
# :::

# %% tags=["hide-input"]
print("this run is stored at", cache.entry_path(curvefit, config.replace(width=widths[-1], seed=0)))
