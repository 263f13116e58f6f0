"""PFN checkpoints: one generic file format for every prior, read with torch.load(weights_only=True).

A checkpoint is a dict of plain data (no pickled objects):

    {"format": 1, "state_dict": {name: tensor}, "model_config": {n_buckets, d_model, n_layers, n_heads,
     d_ff, x_dim}, "borders": float64 tensor (K + 1,), "meta": {str: str | int | float | bool | list | dict}}

`meta` records how it was made (prior, training config, steps, seconds, device and card, torch version,
the cache key of the run that wrote it, evaluation tables). Files are written atomically: a temporary file
in the same folder, then a rename, so a crash never leaves half a checkpoint.
The shipped ones live in results/pfn/<name>.pt and load with `load_pretrained(name)`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .. import runtime
from ..cache import RESULTS_DIR
from .bar import BarDistribution
from .model import PFN, ModelConfig, Predictor

FORMAT = 1
CHECKPOINT_DIR = RESULTS_DIR / "pfn"
#: The shipped checkpoints and the precompute entry that regenerates each.
PRETRAINED = {"gp": "gp", "gp_hyper": "gp_hyper", "lc": "lc"}


def _plain(value, where="meta"):
    """A copy of meta made of the plain types torch.load(weights_only=True) reads back (no objects).

    str and number subclasses (torch.__version__ is one) become plain str/int/float; anything else is refused.
    """
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint {where}: key {k!r} must be a str")
            out[str(k)] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, bool):
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    raise TypeError(f"checkpoint {where} is a {type(value).__name__}; only str, numbers, bools, None, lists "
                    "and dicts can be stored")


def save_checkpoint(path, predictor: Predictor, meta: dict | None = None) -> Path:
    """Write `predictor` (weights, model shape, borders) and `meta` to `path` atomically."""
    path = Path(path)
    meta = _plain({**predictor.meta, **(meta or {})})
    blob = {
        "format": FORMAT,
        "state_dict": {k: v.detach().cpu().clone() for k, v in predictor.model.state_dict().items()},
        "model_config": predictor.model.config.to_dict(),
        "borders": predictor.bar.borders.clone(),
        "meta": meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(blob, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, device: str | torch.device = "cpu") -> Predictor:
    """Read a checkpoint written by `save_checkpoint` into a Predictor (eval mode) on `device`."""
    path = Path(path)
    if isinstance(device, str):
        device = runtime.pick_device(device)  # an absent device is a clear error, not torch's
    elif not isinstance(device, torch.device):
        raise ValueError(f"device={device!r} must be one of {', '.join(runtime.DEVICE_NAMES)} or a torch.device")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported as such, with its cause
        raise ValueError(f"{path} is not a readable PFN checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a PFN checkpoint of format {FORMAT}")
    model = PFN.from_config(ModelConfig(**blob["model_config"]))
    model.load_state_dict(blob["state_dict"])
    model.to(device).eval()
    return Predictor(model, BarDistribution(blob["borders"]), blob.get("meta", {}))


def load_pretrained(name: str = "gp", device: str | torch.device = "cpu") -> Predictor:
    """A shipped, pretrained PFN: "gp" (GP prior, ℓ = 0.2, noise variance 0.01), "gp_hyper" (lengthscale
    hyperprior) or "lc" (learning curves). `predict(x_train, y_train, x_test)` gives its posterior predictive.
    """
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained PFN named {name!r}: choose one of {', '.join(PRETRAINED)}")
    path = CHECKPOINT_DIR / f"{name}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; regenerate it with "
                                f"`python -m minilib precompute pfn --only {PRETRAINED[name]}`")
    return load_checkpoint(path, device)
