"""Chapter 5's phenomenon module: train a PFN on a prior, measure its NLL gap to the exact posterior.

Config -> run() -> Run, as every chapter (minilib.phenomenon). A run trains a PFN with
`train.train_pfn` on fresh datasets from the config's prior and logs, besides the training loss, the
NLL gap per query to the exact posterior predictive at context sizes 0, 1, 2, 5, 10, 20 on a fixed set
of fresh prior datasets. A completed run stores the final evaluation on a larger fixed set in its
artifacts (`gap_table`), and, when `checkpoint` names one, writes the trained network
(`checkpoint.save_checkpoint`, `checkpoint_path`): a reader's run to the user cache
(<MINILIB_CACHE>/pfn/<run key>.pt), and only `python -m minilib precompute pfn` to the shipped
results/pfn/<checkpoint>.pt, which `precompute --check` verifies against the run key recorded in it.

Priors are looked up by name in `PRIORS`: "gp" (fixed lengthscale) and "gp_hyper" (discrete lengthscale
hyperprior) are defined here; "lc" (learning curves) lives in minilib/pfn/lc.py, which registers itself
with `register_prior` when imported (done on first use).
Müller et al. 2022 ("Transformers Can Do Bayesian Inference"). Chapter: nbs/05_pfn.py.
"""

from __future__ import annotations

import importlib
import platform
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .. import cache, replicas, runtime
from ..runs import Config as BaseConfig
from ..runs import ConfigError, Run, param
from . import gp
from .checkpoint import CHECKPOINT_DIR, load_checkpoint, save_checkpoint
from .model import Predictor
from .train import TrainResult, train_pfn

#: Part of every cache key: bump when a change alters what a run computes.
CODE_VERSION = 1

TITLE = "A transformer that does Bayesian inference (PFN)"
CHAPTER = "nbs/05_pfn.py"
#: Context sizes at which the gap to the exact posterior is measured.
CONTEXT_SIZES = (0, 1, 2, 5, 10, 20)
METRICS = {
    "train_loss": "training loss: bar-distribution NLL per query (nats)",
    "eval_nll": "PFN NLL per query on fresh prior datasets, mean over context sizes (nats)",
    "gap_mean": "NLL gap PFN − exact posterior, mean over context sizes (nats per query)",
    **{f"gap_{n}": f"NLL gap PFN − exact posterior at {n} context point{'s' if n != 1 else ''} (nats per query)"
       for n in CONTEXT_SIZES},
}
PLOT_GROUPS = {
    "loss": ("train_loss", "eval_nll"),
    "gap to the exact posterior": ("gap_mean", "gap_2", "gap_10", "gap_20"),
}
X_TITLE = "training step (one batch of fresh prior datasets)"
REPLICA_FIELDS = ("seed",)

#: The evaluation sets: seeds far from any training seed; queries per dataset; datasets per context size.
LOG_EVAL_SEED = 1_000_003
TABLE_EVAL_SEED = 2_000_003
EVAL_QUERIES = 10
TABLE_DATASETS = 2000


@dataclass(frozen=True)
class Config(BaseConfig):
    """One PFN training run; the defaults are the shipped GP model's prior and network (fewer steps)."""

    prior: str = param("gp", choices=("gp", "gp_hyper", "lc"),
                       help="gp: RBF GP with fixed ℓ; gp_hyper: ℓ uniform on {0.05, 0.1, 0.2, 0.5}; lc: learning "
                            "curves (minilib/pfn/lc.py)")
    lengthscale: float = param(0.2, low=0.01, high=10.0, log=True, widget=(0.02, 2.0),
                               help="GP lengthscale ℓ (prior gp)")
    outputscale: float = param(1.0, low=0.01, high=100.0, log=True, help="GP outputscale s (signal variance)")
    noise: float = param(0.01, low=1e-4, high=10.0, log=True, widget=(1e-3, 1.0),
                         help="observation noise variance σn²")
    seq_len: int = param(30, low=2, high=2000, widget=(5, 100), help="points per training dataset (context + queries)")
    n_buckets: int = param(1000, low=3, high=100_000, log=True, widget=(10, 2000), help="K: buckets of the output")
    d_model: int = param(64, low=4, high=1024, log=True, widget=(8, 256), help="transformer width")
    n_layers: int = param(4, low=1, high=24, widget=(1, 8), help="transformer layers")
    n_heads: int = param(4, low=1, high=16, widget=(1, 8),
                         help="attention heads, each ceil(d_model / n_heads) wide (any d_model works)")
    d_ff: int = param(128, low=4, high=4096, log=True, widget=(16, 512), help="feed-forward width")
    batch_size: int = param(64, low=1, high=8192, log=True, widget=(8, 512), help="prior datasets per step")
    steps: int = param(1000, low=0, high=10_000_000, log=True, widget=(50, 20_000), help="training steps")
    lr: float = param(3e-3, low=1e-6, high=1.0, log=True, widget=(1e-4, 3e-2), help="peak learning rate (AdamW)")
    weight_decay: float = param(0.0, low=0.0, high=10.0, widget=(0.0, 0.1), help="AdamW decoupled weight decay")
    warmup_fraction: float = param(0.1, low=0.0, high=1.0, widget=(0.0, 0.5),
                                   help="share of the steps with a linear warm-up (then cosine decay to 0)")
    min_context: int = param(0, low=0, high=1999, widget=(0, 20),
                             help="smallest context size drawn in training (uniform up to seq_len − 1)")
    eval_datasets: int = param(256, low=8, high=100_000, log=True, widget=(32, 1024),
                               help="fresh datasets per context size in each logged evaluation")
    seed: int = param(0, low=0, high=2**31 - 1, widget=(0, 20), help="seeds the initial weights and the data")
    device: str = param("auto", choices=runtime.DEVICE_NAMES, help="where to train")
    num_logs: int = param(21, low=2, high=100_000, widget=(5, 200), help="evaluations along the run")
    log_spaced: bool = param(False, help="evaluate at log-spaced steps (long runs)")
    checkpoint: str = param("", choices=("", "gp", "gp_hyper", "lc"),
                            help="when set, a completed run writes results/pfn/<checkpoint>.pt (shipped models)")

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if self.min_context >= self.seq_len:
            raise ConfigError(f"{name}.min_context={self.min_context} must be below seq_len={self.seq_len}: "
                              "every training dataset keeps at least one query")
        if self.prior == "lc" and self.seq_len > lc_epochs():
            raise ConfigError(f"{name}.seq_len={self.seq_len} is not allowed with prior='lc': a learning curve of the "
                              f"prior has {lc_epochs()} epochs, so use seq_len <= {lc_epochs()}")
        if self.checkpoint and self.checkpoint != self.prior:
            raise ConfigError(f"{name}.checkpoint={self.checkpoint!r} is the checkpoint of prior "
                              f"{self.checkpoint!r}, but prior={self.prior!r}")


def lc_epochs() -> int:
    """The learning-curve prior's curve length (minilib/pfn/lc.py, imported when first needed)."""
    from .lc import EPOCHS

    return EPOCHS


def num_steps(config: Config) -> int:
    return config.steps


# --- priors ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """How to train and evaluate on one prior.

    sampler(config) -> sample_batch(batch_size, generator) -> (x (B, T, x_dim), y (B, T));
    evaluate(config) -> (predictor -> dict of floats), logged along training (None: only the loss);
    final(config, predictor) -> dict of arrays stored in a completed run's artifacts (None: nothing).
    """

    name: str
    sampler: Callable
    evaluate: Callable | None = None
    final: Callable | None = None
    x_dim: int = 1


PRIORS: dict[str, Prior] = {}


def register_prior(prior: Prior) -> Prior:
    PRIORS[prior.name] = prior
    return prior


def prior_for(name: str) -> Prior:
    """The registered prior `name`; "lc" is registered by importing minilib.pfn.lc."""
    if name not in PRIORS:
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ImportError as err:
            raise ValueError(f"prior {name!r} is not available: {__package__}.{name} does not import ({err})") from None
        if name not in PRIORS:
            raise ValueError(f"prior {name!r} is not registered: {__package__}.{name} must call "
                             f"register_prior(Prior({name!r}, ...))")
    return PRIORS[name]


def gp_sampler(config: Config) -> Callable:
    def sample_batch(batch_size: int, generator: torch.Generator):
        return gp.sample_gp(batch_size, config.seq_len, generator, lengthscale=config.lengthscale,
                            outputscale=config.outputscale, noise=config.noise)
    return sample_batch


def gp_hyper_sampler(config: Config) -> Callable:
    def sample_batch(batch_size: int, generator: torch.Generator):
        return gp.sample_gp_hyper(batch_size, config.seq_len, generator, outputscale=config.outputscale,
                                  noise=config.noise)
    return sample_batch


@lru_cache(maxsize=16)
def _eval_set(prior: str, n: int, n_datasets: int, seed: int, lengthscale: float, outputscale: float,
              noise: float) -> tuple[torch.Tensor, ...]:
    """A fixed set of fresh prior datasets with n context points and EVAL_QUERIES queries each, and the
    exact log-likelihood of every query: (x_ctx, y_ctx, x_qry, y_qry, exact log p (B, M) float64)."""
    gen = torch.Generator().manual_seed(seed * 1009 + n)
    T = n + EVAL_QUERIES
    if prior == "gp":
        x, y = gp.sample_gp(n_datasets, T, gen, lengthscale=lengthscale, outputscale=outputscale, noise=noise)
    else:
        x, y = gp.sample_gp_hyper(n_datasets, T, gen, outputscale=outputscale, noise=noise)
    xc, yc, xq, yq = x[:, :n], y[:, :n], x[:, n:], y[:, n:]
    if prior == "gp":
        exact = gp.gp_log_prob(xc, yc, xq, yq, lengthscale, outputscale, noise)
    else:
        exact = gp.hyper_log_prob(xc, yc, xq, yq, gp.HYPER_LENGTHSCALES, outputscale, noise)
    return xc, yc, xq, yq, exact


def eval_set(config: Config, n: int, n_datasets: int, seed: int):
    """The fixed evaluation datasets of a GP config (see `_eval_set`)."""
    return _eval_set(config.prior, n, n_datasets, seed, config.lengthscale, config.outputscale, config.noise)


def pfn_log_prob(predictor: Predictor, x_ctx, y_ctx, x_qry, y_qry, chunk: int = 512) -> torch.Tensor:
    """log p(y_qry | context) under the PFN, (B, M) on the CPU, computed in chunks of datasets."""
    out = []
    for i in range(0, x_ctx.shape[0], chunk):
        sl = slice(i, i + chunk)
        logits = predictor.batch_logits(x_ctx[sl], y_ctx[sl], x_qry[sl])
        out.append(predictor.bar.log_prob(logits, y_qry[sl].to(logits.device)).double().cpu())
    return torch.cat(out)


def gp_evaluate(config: Config) -> Callable:
    sizes = [n for n in CONTEXT_SIZES if n < config.seq_len]

    def evaluate(predictor: Predictor) -> dict:
        out, nlls, gaps = {}, [], []
        for n in CONTEXT_SIZES:
            if n not in sizes:
                out[f"gap_{n}"] = float("nan")
                continue
            xc, yc, xq, yq, exact = eval_set(config, n, config.eval_datasets, LOG_EVAL_SEED)
            lp = pfn_log_prob(predictor, xc, yc, xq, yq)
            nlls.append(float(-lp.mean()))
            gaps.append(float((exact - lp).mean()))
            out[f"gap_{n}"] = gaps[-1]
        out["eval_nll"] = float(np.mean(nlls))
        out["gap_mean"] = float(np.mean(gaps))
        return out
    return evaluate


def gap_table(predictor: Predictor, config: Config, n_datasets: int = TABLE_DATASETS,
              seed: int = TABLE_EVAL_SEED) -> dict[str, np.ndarray]:
    """The NLL gap table on a fixed set of fresh datasets: per context size in CONTEXT_SIZES, the mean NLL
    per query of the PFN and of the exact posterior, their difference and its standard error (over datasets).
    For the hyperprior, also the GP with the fixed (wrong) ℓ = 0.2 and the plug-in type-II ML GP."""
    rows = {k: [] for k in ("nll_pfn", "nll_exact", "gap", "gap_se")}
    if config.prior == "gp_hyper":
        rows |= {k: [] for k in ("nll_fixed", "nll_mle2", "mle2_minus_pfn_se", "fixed_minus_pfn_se")}
    for n in CONTEXT_SIZES:
        xc, yc, xq, yq, exact = eval_set(config, n, n_datasets, seed)
        lp = pfn_log_prob(predictor, xc, yc, xq, yq)
        diff = (exact - lp).mean(1)
        rows["nll_pfn"].append(float(-lp.mean()))
        rows["nll_exact"].append(float(-exact.mean()))
        rows["gap"].append(float(diff.mean()))
        rows["gap_se"].append(float(diff.std() / np.sqrt(len(diff))))
        if config.prior == "gp_hyper":
            fixed = gp.gp_log_prob(xc, yc, xq, yq, FIXED_LENGTHSCALE, config.outputscale, config.noise)
            mle = mle2_log_prob(xc, yc, xq, yq, config.outputscale, config.noise)
            rows["nll_fixed"].append(float(-fixed.mean()))
            rows["nll_mle2"].append(float(-mle.mean()))
            rows["fixed_minus_pfn_se"].append(float((lp - fixed).mean(1).std() / np.sqrt(len(diff))))
            rows["mle2_minus_pfn_se"].append(float((lp - mle).mean(1).std() / np.sqrt(len(diff))))
    return {"context_sizes": np.asarray(CONTEXT_SIZES)} | {k: np.asarray(v) for k, v in rows.items()}


#: The plug-in GP of the hyperprior comparison that uses one fixed lengthscale (the hyperprior's 0.2).
FIXED_LENGTHSCALE = 0.2


def mle2_log_prob(x_ctx, y_ctx, x_qry, y_qry, outputscale: float = 1.0, noise: float = 0.01) -> torch.Tensor:
    """log p(y*) under the plug-in GP whose ℓ maximises each dataset's marginal likelihood (type-II ML).

    With fewer than 2 context points the marginal likelihood does not depend on ℓ, so there is no ML-II
    choice; the plug-in then uses FIXED_LENGTHSCALE.
    """
    if x_ctx.shape[1] < 2:
        return gp.gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, FIXED_LENGTHSCALE, outputscale, noise)
    ls = gp.mle2_lengthscale(x_ctx, y_ctx, outputscale=outputscale, noise=noise)
    return gp.gp_log_prob(x_ctx, y_ctx, x_qry, y_qry, ls, outputscale, noise)


def gp_final(config: Config, predictor: Predictor) -> dict[str, np.ndarray]:
    return {f"table_{k}": v for k, v in gap_table(predictor, config).items()}


register_prior(Prior("gp", gp_sampler, gp_evaluate, gp_final))
register_prior(Prior("gp_hyper", gp_hyper_sampler, gp_evaluate, gp_final))


# --- runs --------------------------------------------------------------------------------------------
def _module():
    return sys.modules[__package__]


def card(device: torch.device) -> str:
    """The accelerator's name (or the CPU's) for the record."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def fit(config: Config, *, on_step=None, stop=None, progress: bool = True) -> tuple[Run, Predictor]:
    """Train one PFN: its Run (history of METRICS, final gap table in artifacts) and the trained predictor."""
    if not isinstance(config, Config):
        raise TypeError(f"pfn.fit/run need a pfn.Config, got {type(config).__name__}")
    prior = prior_for(config.prior)
    evaluate = prior.evaluate(config) if prior.evaluate is not None else None
    result: TrainResult = train_pfn(
        prior.sampler(config), n_buckets=config.n_buckets, d_model=config.d_model, n_layers=config.n_layers,
        n_heads=config.n_heads, d_ff=config.d_ff, x_dim=prior.x_dim, steps=config.steps,
        batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
        warmup_fraction=config.warmup_fraction, min_context=config.min_context, seed=config.seed,
        device=config.device, evaluate=evaluate,
        num_logs=config.num_logs, log_spaced=config.log_spaced, on_step=on_step, stop=stop, progress=progress,
        desc=f"PFN {config.prior}")
    log, predictor = result.log, result.predictor
    artifacts = {"borders": predictor.bar.borders.numpy()}
    if log.status == "completed" and prior.final is not None:
        artifacts |= prior.final(config, predictor)
    meta = replicas.meta(_module(), config, seconds=result.seconds, replicas=1, steps=result.steps,
                         device=result.device)
    run = Run(config, log.history, artifacts, log.status, log.diverged_at, meta)
    predictor.meta = {"prior": config.prior, "config": config.to_dict(), "steps": result.steps,
                      "seconds": round(result.seconds, 1), "cpu_seconds": round(result.cpu_seconds, 1),
                      "device": str(result.device), "card": card(result.device), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "code_version": CODE_VERSION}
    if log.status == "completed" and config.checkpoint:
        table = {k[len("table_"):]: v.tolist() for k, v in artifacts.items() if k.startswith("table_")}
        path = checkpoint_path(config)
        try:
            save_checkpoint(cache.guard_write(path), predictor,
                            {"run_key": cache.entry_key(_module(), config), "gap_table": table})
        except OSError as err:
            if cache.is_shipping():
                raise
            warnings.warn(f"the trained network could not be written to {path} ({type(err).__name__}: {err}); "
                          "the run and the predictor are returned unsaved", cache.CacheWriteWarning, stacklevel=2)
    return run, predictor


def checkpoint_path(config: Config) -> Path:
    """Where a completed run of `config` (with `checkpoint` set) writes its network: results/pfn/<name>.pt
    when `python -m minilib precompute` ships it, else the user cache's pfn/<run key>.pt."""
    if cache.is_shipping():
        return CHECKPOINT_DIR / f"{config.checkpoint}.pt"
    return cache.cache_dir() / "pfn" / f"{cache.entry_key(_module(), config)}.pt"


def checkpoint_problem(config: Config, path) -> str:
    """'' when the network at `path` is the one a run of `config` trained (its recorded run key), else why not."""
    import torch as _torch

    try:
        blob = _torch.load(path, map_location="cpu", weights_only=True)
        meta = blob["meta"]
        load_checkpoint(path)
    except FileNotFoundError:
        return "missing"
    except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is reported, with its cause
        return f"damaged ({type(err).__name__}: {str(err)[:200]})"
    want = cache.entry_key(_module(), config)
    if meta.get("run_key") != want:
        return (f"stale: it records run key {meta.get('run_key')!r}, not {want!r} of the shipped config "
                f"({meta.get('steps')} steps)")
    return ""


def shipped_files(config) -> dict:
    """The files besides its .npz that a shipped run writes into results/pfn/: a PFN with `checkpoint` set
    writes its network, checked by `checkpoint_problem`; an MCMC run writes none."""
    if not isinstance(config, Config) or not config.checkpoint:
        return {}
    return {f"{config.checkpoint}.pt": lambda path: checkpoint_problem(config, path)}


def run(config: Config, *, on_step=None, stop=None, progress: bool = True) -> Run:
    """Train one PFN and return its Run (see `fit` for the trained predictor too). An MCMCConfig runs the
    learning-curve MCMC baseline instead (minilib/pfn/mcmc.py; one job at a time when `stop` is given)."""
    from .mcmc import MCMCConfig
    from .mcmc import run_sweep as mcmc_sweep

    if isinstance(config, MCMCConfig):
        return mcmc_sweep(_module(), [config], stop=stop, processes=1 if stop is not None else None)[0]
    return fit(config, on_step=on_step, stop=stop, progress=progress)[0]


def code_version(config) -> int:
    """CODE_VERSION for PFN runs; the MCMC baseline's runs carry minilib.pfn.mcmc.CODE_VERSION."""
    from . import mcmc

    return mcmc.CODE_VERSION if isinstance(config, mcmc.MCMCConfig) else CODE_VERSION


def run_sweep(configs, *, on_step=None, stop=None, progress: bool = True) -> list[Run]:
    """Train several configs, one after the other (a PFN step is one batched pass already; seeds are not
    stacked into one model). MCMCConfigs run as the MCMC baseline, all their jobs in one process pool."""
    from .mcmc import MCMCConfig
    from .mcmc import run_sweep as mcmc_sweep

    configs = list(configs)
    if any(isinstance(c, MCMCConfig) for c in configs):
        chains = [i for i, c in enumerate(configs) if isinstance(c, MCMCConfig)]
        done = dict(zip(chains, mcmc_sweep(_module(), [configs[i] for i in chains], stop=stop)))
        rest = [c for i, c in enumerate(configs) if i not in done]
        trained = iter(run_sweep(rest, on_step=on_step, stop=stop, progress=progress) if rest else [])
        return [done[i] if i in done else next(trained) for i in range(len(configs))]

    def train_group(group):
        return [run(c, on_step=on_step, stop=stop, progress=progress) for c in group]
    return replicas.sweep(configs, train_group, REPLICA_FIELDS)
