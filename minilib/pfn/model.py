"""The prior-data fitted network: a transformer that maps a dataset and query inputs to a bar distribution.

Tokens: a context point (x, y) is emb_x(x) + emb_y(y); a query is emb_x(x) alone. Each layer is a pre-LN
transformer block whose attention is restricted:

- a context token attends to every context token (not to queries);
- a query token attends to every context token and to itself (not to other queries).

No positional encoding is used, so the output for a query does not depend on the order of the context,
and queries are independent of each other: predicting m queries at once equals predicting them one by
one. The query part of the attention is computed as M×N scores plus one self score per query, never an
(N+M)×(N+M) matrix. **Empty context** (N = 0): each query attends only to itself, so the network's answer is
a function of x alone, which training turns into the prior predictive p(y | x).

`PFN.forward(x_ctx (B,N,x_dim), y_ctx (B,N), x_qry (B,M,x_dim)) -> logits (B,M,K)`; `Predictor` pairs a
PFN with its `BarDistribution` and offers `predict(x_train, y_train, x_test) -> Predictive`, in the
prior's own units (`INPUTS`): the learning-curve PFN takes epoch numbers 1..100 and scales them itself.
Its inputs must be finite; an x outside the range the prior draws from is warned about (the network has
never seen one, and its answer there can be confidently wrong).

Heads: each of the `n_heads` attention heads has width ceil(d_model / n_heads), so every (d_model,
n_heads) is a valid network; where n_heads divides d_model this is the usual multi-head attention.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .bar import BarDistribution


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape (saved in every checkpoint)."""

    n_buckets: int
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 128
    x_dim: int = 1

    def __post_init__(self):
        checks = {"n_buckets": (3, 100_000), "d_model": (1, 4096), "n_layers": (0, 64), "n_heads": (1, 64),
                  "d_ff": (1, 65_536), "x_dim": (1, 1024)}
        for name, (low, high) in checks.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise ValueError(f"PFN {name}={v!r} is out of range: allowed an integer {low} <= {name} <= {high}")

    def to_dict(self) -> dict:
        return asdict(self)


def head_width(d_model: int, n_heads: int) -> int:
    """Each head's width: d_model / n_heads, rounded up (the heads together span n_heads · width >= d_model)."""
    return -(-d_model // n_heads)


class Block(nn.Module):
    """Pre-LN transformer block with the PFN's attention pattern (context → context, query → context + self)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = head_width(d_model, n_heads)
        inner = self.n_heads * self.d_head  # d_model where n_heads divides it
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * inner)
        self.out = nn.Linear(inner, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def _heads(self, t: torch.Tensor) -> torch.Tensor:  # (B, T, H·dh) -> (B, H, T, dh)
        B, T, _ = t.shape
        return t.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, ctx: torch.Tensor, qry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, N, d = ctx.shape
        M = qry.shape[1]
        h = self.ln1(torch.cat([ctx, qry], 1))
        q, k, v = (self._heads(t) for t in self.qkv(h).chunk(3, -1))
        scale = 1 / math.sqrt(self.d_head)
        qc, qq = q[:, :, :N], q[:, :, N:]
        kc, kq = k[:, :, :N], k[:, :, N:]
        vc, vq = v[:, :, :N], v[:, :, N:]
        # context: plain attention among the context tokens
        att_c = torch.softmax(qc @ kc.transpose(-1, -2) * scale, -1) if N else qc.new_zeros(B, self.n_heads, 0, 0)
        out_c = att_c @ vc
        # queries: scores against the context plus one score against itself
        s_ctx = qq @ kc.transpose(-1, -2) * scale  # (B, H, M, N)
        s_self = (qq * kq).sum(-1, keepdim=True) * scale  # (B, H, M, 1)
        att_q = torch.softmax(torch.cat([s_ctx, s_self], -1), -1)
        out_q = att_q[..., :N] @ vc + att_q[..., N:] * vq
        o = torch.cat([out_c, out_q], 2).transpose(1, 2).reshape(B, N + M, self.n_heads * self.d_head)
        x = torch.cat([ctx, qry], 1) + self.out(o)
        x = x + self.ff(self.ln2(x))
        return x[:, :N], x[:, N:]


class PFN(nn.Module):
    """A prior-data fitted network: (x_ctx, y_ctx, x_qry) -> logits of a K-bucket bar distribution."""

    def __init__(self, n_buckets: int, d_model: int = 64, n_layers: int = 4, n_heads: int = 4, d_ff: int = 128,
                 x_dim: int = 1):
        super().__init__()
        self.config = ModelConfig(n_buckets, d_model, n_layers, n_heads, d_ff, x_dim)
        self.x_enc = nn.Linear(x_dim, d_model)
        self.y_enc = nn.Linear(1, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, n_buckets))

    @classmethod
    def from_config(cls, config: ModelConfig | dict) -> PFN:
        c = config.to_dict() if isinstance(config, ModelConfig) else dict(config)
        return cls(**c)

    def forward(self, x_ctx: torch.Tensor, y_ctx: torch.Tensor, x_qry: torch.Tensor) -> torch.Tensor:
        xd = self.config.x_dim
        if x_ctx.dim() != 3 or x_qry.dim() != 3 or x_ctx.shape[-1] != xd or x_qry.shape[-1] != xd:
            raise ValueError(f"PFN inputs: x_ctx must be (B, N, {xd}) and x_qry (B, M, {xd}); got "
                             f"{tuple(x_ctx.shape)} and {tuple(x_qry.shape)}")
        if y_ctx.shape != x_ctx.shape[:2] or x_qry.shape[0] != x_ctx.shape[0]:
            raise ValueError(f"PFN inputs: y_ctx must be (B, N) = {tuple(x_ctx.shape[:2])} and x_qry must have "
                             f"the same batch size; got y_ctx {tuple(y_ctx.shape)}, x_qry {tuple(x_qry.shape)}")
        ctx = self.x_enc(x_ctx) + self.y_enc(y_ctx.unsqueeze(-1))
        qry = self.x_enc(x_qry)
        for block in self.blocks:
            ctx, qry = block(ctx, qry)
        return self.head(self.ln_f(qry))


@dataclass(frozen=True)
class Inputs:
    """What x means to a prior's network: the caller's x, divided by `scale`, is what the network sees; the
    prior draws the caller's x from [low, high] (`name` is how the caller's unit is called)."""

    name: str
    low: float
    high: float
    scale: float = 1.0


#: Per prior (a Predictor's meta["prior"]): the GP priors draw x ~ U[0, 1] (minilib/pfn/gp.py); the
#: learning-curve prior has epochs 1..100, which its network sees as epoch / 100 (minilib/pfn/lc.py).
INPUTS = {"gp": Inputs("x", 0.0, 1.0), "gp_hyper": Inputs("x", 0.0, 1.0), "lc": Inputs("epoch", 1.0, 100.0, 100.0)}


class OutsidePriorWarning(UserWarning):
    """An input lies outside the range the network's prior draws from: its prediction there is untested."""


def _as_tensor(value, name: str, device, dtype=torch.float32) -> torch.Tensor:
    """A finite float tensor from `value`, or a ValueError naming the argument."""
    try:
        t = torch.as_tensor(value, dtype=dtype, device=device) if not isinstance(value, str) else None
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be numbers (a tensor, array or list): got {type(value).__name__} "
                         f"({str(err)[:120]})") from None
    if t is None:
        raise ValueError(f"{name}={value!r} must be numbers (a tensor, array or list), not a str")
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        where = torch.nonzero(bad)[0].tolist()
        raise ValueError(f"{name} contains NaN or inf (at index {where[0] if len(where) == 1 else tuple(where)}); "
                         "the network needs finite inputs")
    return t


class Predictive:
    """The bar distributions a PFN predicts for m query points (logits (m, K))."""

    def __init__(self, bar: BarDistribution, logits: torch.Tensor):
        self.bar, self.logits = bar, logits

    def __repr__(self):
        return f"Predictive({self.logits.shape[0]} queries, {self.bar.n_buckets} buckets)"

    def _values(self, v, name: str) -> torch.Tensor:
        """A number, or one value per query (m,), as a finite tensor; anything else names the argument."""
        t = _as_tensor(v, name, self.logits.device, self.logits.dtype)
        m = self.logits.shape[:-1]
        if t.dim() > 0 and tuple(t.shape) != tuple(m):
            try:
                torch.broadcast_shapes(t.shape, m)
            except RuntimeError:
                raise ValueError(f"{name} has shape {tuple(t.shape)}: give one number or one per query, shape "
                                 f"{tuple(m)}") from None
        return t

    def log_prob(self, y) -> torch.Tensor:
        """log p(y_i | data) for each query i: shape (m,)."""
        return self.bar.log_prob(self.logits, self._values(y, "y"))

    def mean(self) -> torch.Tensor:
        return self.bar.mean(self.logits)

    def variance(self) -> torch.Tensor:
        return self.bar.variance(self.logits)

    def quantile(self, q) -> torch.Tensor:
        """Quantile q in [0, 1] (a number, or one per query): q = 0 gives −inf, q = 1 gives +inf."""
        q = self._values(q, "q")
        if bool(((q < 0) | (q > 1)).any()):
            raise ValueError(f"q={q.tolist() if q.numel() < 8 else '...'} is out of range: allowed 0 <= q <= 1")
        return self.bar.quantile(self.logits, q)

    def cdf(self, y) -> torch.Tensor:
        return self.bar.cdf(self.logits, self._values(y, "y"))

    def sample(self, generator: torch.Generator | None = None, sample_shape: tuple = ()) -> torch.Tensor:
        return self.bar.sample(self.logits, generator, sample_shape)


class Predictor:
    """A trained PFN with its bar distribution: `predict(x_train, y_train, x_test) -> Predictive`.

    x is in the units of the prior the network was trained on (`inputs`, from meta["prior"]): the GP
    priors' x in [0, 1], the learning-curve prior's epoch numbers 1..100.
    """

    def __init__(self, model: PFN, bar: BarDistribution, meta: dict | None = None):
        if model.config.n_buckets != bar.n_buckets:
            raise ValueError(f"the model outputs {model.config.n_buckets} logits but the bar distribution has "
                             f"{bar.n_buckets} buckets")
        self.model, self.bar, self.meta = model, bar, dict(meta or {})

    def __repr__(self):
        c = self.model.config
        return (f"Predictor(PFN d={c.d_model}, {c.n_layers} layers, {c.n_heads} heads, {c.n_buckets} buckets, "
                f"{sum(p.numel() for p in self.model.parameters())} parameters)")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def inputs(self) -> Inputs | None:
        """The units and range of x for this network's prior (None: a network of unknown prior, x as is)."""
        return INPUTS.get(self.meta.get("prior"))

    def _as_x(self, x, name: str) -> torch.Tensor:
        x = _as_tensor(x, name, self.device)
        xd = self.model.config.x_dim
        if xd == 1 and x.dim() == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 2 or x.shape[-1] != xd:
            want = "(n,) or (n, 1)" if xd == 1 else f"(n, {xd})"
            raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
        inputs = self.inputs
        if inputs is None:
            return x
        outside = (x < inputs.low) | (x > inputs.high)
        if bool(outside.any()):
            warnings.warn(f"{name} has {int(outside.sum())} value(s) outside [{inputs.low:g}, {inputs.high:g}], the "
                          f"{inputs.name} range of the network's prior ({self.meta.get('prior')!r}); its predictions "
                          f"there are extrapolations it was never trained for (e.g. {name}={float(x[outside][0]):g})",
                          OutsidePriorWarning, stacklevel=4)
        return x / inputs.scale

    @torch.no_grad()
    def logits(self, x_train, y_train, x_test) -> torch.Tensor:
        """Logits (m, K) for one dataset: x_train (n,), y_train (n,), x_test (m,) (n may be 0)."""
        xc, xq = self._as_x(x_train, "x_train"), self._as_x(x_test, "x_test")
        yc = _as_tensor(y_train, "y_train", self.device).reshape(-1)
        if yc.shape[0] != xc.shape[0]:
            raise ValueError(f"x_train has {xc.shape[0]} points but y_train has {yc.shape[0]}")
        was = self.model.training
        self.model.eval()
        try:
            out = self.model(xc[None], yc[None], xq[None])[0]
        finally:
            self.model.train(was)
        if not bool(torch.isfinite(out).all()):
            largest = {n: float(t.abs().max()) for n, t in (("x_train", xc), ("y_train", yc), ("x_test", xq))
                       if t.numel()}
            worst = max(largest, key=largest.get)
            raise ValueError(f"the network's output overflowed (NaN/inf) for these inputs: {worst} reaches "
                             f"|{worst}| = {largest[worst]:.3g} (in the network's units), far outside what its prior "
                             "draws; give inputs in the prior's range")
        return out

    def predict(self, x_train, y_train, x_test) -> Predictive:
        """The posterior predictive at each test input, as a bar distribution over m queries."""
        return Predictive(self.bar, self.logits(x_train, y_train, x_test))

    @torch.no_grad()
    def batch_logits(self, x_ctx, y_ctx, x_qry) -> torch.Tensor:
        """Logits (B, M, K) for B datasets at once (shapes as PFN.forward), x as the network sees it (for
        the learning-curve prior: epoch / 100, `lc.epochs_as_x`)."""
        dev = self.device
        return self.model(x_ctx.to(dev, torch.float32), y_ctx.to(dev, torch.float32), x_qry.to(dev, torch.float32))
