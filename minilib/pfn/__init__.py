"""Chapter 5 — prior-data fitted networks: a transformer trained on prior samples does Bayesian inference.

Müller, Hollmann, Pineda, Grabocka, Hutter, "Transformers Can Do Bayesian Inference" (ICLR 2022);
Adriaensen, Rakotoarison, Müller, Hutter, "Efficient Bayesian Learning Curve Extrapolation using
Prior-Data Fitted Networks" (NeurIPS 2023).

Submodules: bar (the bar distribution), model (the PFN transformer, Predictor/Predictive), train (one
training loop for any prior: `train_pfn`), gp (the GP prior, its exact posterior and the lengthscale
hyperprior), checkpoint (save/load, `load_pretrained`), experiment (Config, run, run_sweep: the phenomenon
protocol), shipped (the full-size models). lc (the learning-curve prior) and mcmc (its MCMC baseline)
cover the LC-PFN.

    from minilib import pfn
    model = pfn.load_pretrained("gp")
    pred = model.predict(x_train, y_train, x_test)        # shapes (n,), (n,), (m,); n may be 0
    pred.log_prob(y_test), pred.mean(), pred.quantile(0.9), pred.cdf(y_test)
    mean, var = pfn.gp_posterior(x_train, y_train, x_test, lengthscale=0.2, outputscale=1.0, noise=0.01)
"""

from . import exercises  # noqa: F401 - registers the chapter's coded exercises
from .bar import BarDistribution, borders_from_samples
from .checkpoint import load_checkpoint, load_pretrained, save_checkpoint
from .experiment import (
    CHAPTER,
    CODE_VERSION,
    CONTEXT_SIZES,
    METRICS,
    PLOT_GROUPS,
    PRIORS,
    REPLICA_FIELDS,
    TITLE,
    X_TITLE,
    Config,
    Prior,
    checkpoint_path,
    code_version,
    fit,
    gap_table,
    num_steps,
    prior_for,
    register_prior,
    run,
    run_sweep,
    shipped_files,
)
from .gp import (
    HYPER_LENGTHSCALES,
    gp_log_prob,
    gp_posterior,
    gp_predict,
    hyper_log_prob,
    hyper_posterior,
    hyper_predict,
    log_marginal_likelihood,
    mle2_lengthscale,
    rbf_kernel,
    sample_gp,
    sample_gp_hyper,
)
from .model import PFN, ModelConfig, Predictive, Predictor
from .shipped import SHIPPED
from .train import TrainResult, lr_factor, train_pfn

__all__ = ["CHAPTER", "CODE_VERSION", "CONTEXT_SIZES", "HYPER_LENGTHSCALES", "METRICS", "PFN", "PLOT_GROUPS",
           "PRIORS", "REPLICA_FIELDS", "SHIPPED", "TITLE", "X_TITLE", "BarDistribution", "Config", "ModelConfig",
           "Predictive", "Predictor", "Prior", "TrainResult", "borders_from_samples", "checkpoint_path",
           "code_version", "fit", "gap_table",
           "gp_log_prob", "gp_posterior", "gp_predict", "hyper_log_prob", "hyper_posterior", "hyper_predict",
           "load_checkpoint", "load_pretrained", "log_marginal_likelihood", "lr_factor", "mle2_lengthscale",
           "num_steps", "prior_for", "rbf_kernel", "register_prior", "run", "run_sweep", "sample_gp",
           "sample_gp_hyper", "save_checkpoint", "shipped_files", "train_pfn"]
