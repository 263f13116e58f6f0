"""The bar (Riemann) distribution: a PFN's output over a real-valued target, from K logits.

The real line is cut into K buckets at K + 1 sorted borders b_0 < ... < b_K. Softmax probabilities p_k of
the logits put mass p_k on bucket k. Inside an interior bucket (1 <= k <= K - 2) the density is flat,
p_k / w_k with w_k = b_{k+1} − b_k. The two outer buckets are replaced by half-normal tails, so the
distribution has full support (a target outside [b_0, b_K] still has a finite log-likelihood):

- left:  y = b_1 − |z|, |z| half-normal with σ_0 = w_0 / 0.6745, holding mass p_0;
- right: y = b_{K−1} + |z|, |z| half-normal with σ_{K−1} = w_{K−1} / 0.6745, holding mass p_{K−1}.

0.6745 is the half-normal's median in units of σ, so half of each tail's mass lies inside its original
bucket, as in Müller et al. (2022)'s full-support bar distribution. Every method accounts for the
tails: `log_prob`, `cdf`, `quantile`, `mean`, `variance` and `sample` agree with each other and with
numerical integration of the density (tests/test_pfn.py).
"""

from __future__ import annotations

import math

import torch

#: The standard half-normal's median: σ = (outer bucket width) / HALF_NORMAL_MEDIAN.
HALF_NORMAL_MEDIAN = 0.6744897501960817
_LOG_SQRT_2_OVER_PI = 0.5 * math.log(2 / math.pi)


def borders_from_samples(y_samples: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """K + 1 bucket borders at the quantiles 0, 1/K, ..., 1 of samples of the target (float64).

    Each bucket then holds the same share of the prior's targets. The samples must contain at least
    n_buckets + 1 distinct values, so that every bucket has a positive width.
    """
    if not isinstance(n_buckets, int) or isinstance(n_buckets, bool) or n_buckets < 3:
        raise ValueError(f"n_buckets={n_buckets!r} must be an integer >= 3 (two tails and one inner bucket)")
    y = torch.as_tensor(y_samples).detach().reshape(-1).to(torch.float64).cpu()
    if not torch.isfinite(y).all():
        raise ValueError("borders_from_samples: the samples contain NaN or inf")
    if y.numel() < n_buckets + 1:
        raise ValueError(f"borders_from_samples: {y.numel()} samples cannot place {n_buckets + 1} borders; "
                         f"give at least {n_buckets + 1} (ideally 100x more)")
    qs = torch.linspace(0, 1, n_buckets + 1, dtype=torch.float64)
    borders = torch.quantile(y, qs) if y.numel() <= 16_000_000 else _quantile_sorted(y, qs)
    if not (borders[1:] > borders[:-1]).all():
        raise ValueError("borders_from_samples: repeated sample values give buckets of zero width; use more "
                         "(continuous) samples or fewer buckets")
    return borders


def _quantile_sorted(y: torch.Tensor, qs: torch.Tensor) -> torch.Tensor:
    s = y.sort().values
    pos = qs * (len(s) - 1)
    lo = pos.floor().long()
    hi = pos.ceil().long()
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class BarDistribution:
    """A distribution over the real line given by K logits on K buckets, with half-normal outer tails.

    `borders`: K + 1 strictly increasing finite numbers (a tensor or sequence). The methods take
    logits of shape (..., K) and broadcast targets/quantile levels against logits.shape[:-1].
    Computation happens in the logits' dtype, on the logits' device.
    """

    def __init__(self, borders):
        b = torch.as_tensor(borders, dtype=torch.float64).detach().reshape(-1)
        if b.numel() < 4:
            raise ValueError(f"BarDistribution needs at least 4 borders (3 buckets), got {b.numel()}")
        if not torch.isfinite(b).all():
            raise ValueError("BarDistribution: borders must be finite")
        if not (b[1:] > b[:-1]).all():
            bad = int(torch.nonzero(b[1:] <= b[:-1])[0])
            raise ValueError(f"BarDistribution: borders must be strictly increasing; borders[{bad}]="
                             f"{float(b[bad]):.6g} >= borders[{bad + 1}]={float(b[bad + 1]):.6g}")
        self.borders = b.cpu()

    # --- shapes and constants ----------------------------------------------------------------------
    @property
    def n_buckets(self) -> int:
        return self.borders.numel() - 1

    def __repr__(self):
        return (f"BarDistribution({self.n_buckets} buckets on [{float(self.borders[0]):.4g}, "
                f"{float(self.borders[-1]):.4g}], half-normal tails)")

    def _consts(self, like: torch.Tensor):
        b = self.borders.to(device=like.device, dtype=like.dtype)
        w = b[1:] - b[:-1]
        s_left = w[0] / HALF_NORMAL_MEDIAN
        s_right = w[-1] / HALF_NORMAL_MEDIAN
        return b, w, s_left, s_right

    def _check(self, logits: torch.Tensor) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise TypeError(f"logits must be a floating-point tensor of shape (..., {self.n_buckets})")
        if logits.shape[-1] != self.n_buckets:
            raise ValueError(f"logits have {logits.shape[-1]} entries in their last dimension; this "
                             f"distribution has {self.n_buckets} buckets")
        return logits

    def _target(self, logits, y) -> torch.Tensor:
        y = torch.as_tensor(y, dtype=logits.dtype, device=logits.device)
        return torch.broadcast_to(y, torch.broadcast_shapes(y.shape, logits.shape[:-1]))

    # --- density and cdf ---------------------------------------------------------------------------
    def log_prob(self, logits: torch.Tensor, y) -> torch.Tensor:
        """log density at y, shape broadcast(y, logits.shape[:-1])."""
        logits = self._check(logits)
        b, w, s_left, s_right = self._consts(logits)
        y = self._target(logits, y)
        logp = torch.log_softmax(logits, -1).expand(*y.shape, self.n_buckets)
        K = self.n_buckets
        # bucket index by the interior borders b_1 .. b_{K-1}: 0 = left tail, K-1 = right tail
        k = torch.searchsorted(b[1:-1].contiguous(), y.contiguous(), right=True).clamp(0, K - 1)
        log_pk = logp.gather(-1, k.unsqueeze(-1)).squeeze(-1)
        inner = log_pk - torch.log(w)[k]
        z_left = (b[1] - y).clamp(min=0)
        z_right = (y - b[K - 1]).clamp(min=0)
        left = log_pk + _LOG_SQRT_2_OVER_PI - torch.log(s_left) - 0.5 * (z_left / s_left) ** 2
        right = log_pk + _LOG_SQRT_2_OVER_PI - torch.log(s_right) - 0.5 * (z_right / s_right) ** 2
        return torch.where(k == 0, left, torch.where(k == K - 1, right, inner))

    def cdf(self, logits: torch.Tensor, y) -> torch.Tensor:
        """P(Y <= y), shape broadcast(y, logits.shape[:-1])."""
        logits = self._check(logits)
        b, w, s_left, s_right = self._consts(logits)
        y = self._target(logits, y)
        p = torch.softmax(logits, -1).expand(*y.shape, self.n_buckets)
        K = self.n_buckets
        below = torch.cumsum(p, -1) - p  # mass of the buckets before k
        k = torch.searchsorted(b[1:-1].contiguous(), y.contiguous(), right=True).clamp(0, K - 1)
        pk = p.gather(-1, k.unsqueeze(-1)).squeeze(-1)
        before = below.gather(-1, k.unsqueeze(-1)).squeeze(-1)
        frac = ((y - b[k]) / w[k]).clamp(0, 1)
        inner = before + pk * frac
        left = pk * torch.erfc((b[1] - y).clamp(min=0) / (s_left * math.sqrt(2)))
        right = before + pk * torch.erf((y - b[K - 1]).clamp(min=0) / (s_right * math.sqrt(2)))
        return torch.where(k == 0, left, torch.where(k == K - 1, right, inner)).clamp(0, 1)

    # --- quantiles, moments, samples ---------------------------------------------------------------
    def quantile(self, logits: torch.Tensor, q) -> torch.Tensor:
        """The y with cdf(y) = q, for q in [0, 1] (q = 0 gives −inf, q = 1 gives +inf)."""
        logits = self._check(logits)
        b, w, s_left, s_right = self._consts(logits)
        q = self._target(logits, q)
        if bool(((q < 0) | (q > 1) | torch.isnan(q)).any()):
            raise ValueError("quantile: q must lie in [0, 1]")
        p = torch.softmax(logits, -1).expand(*q.shape, self.n_buckets)
        K = self.n_buckets
        upto = torch.cumsum(p, -1)
        # bucket k with upto[k-1] < q <= upto[k] (the last bucket takes what round-off leaves over)
        k = torch.searchsorted(upto.contiguous(), q.unsqueeze(-1).contiguous()).squeeze(-1).clamp(0, K - 1)
        pk = p.gather(-1, k.unsqueeze(-1)).squeeze(-1)
        before = upto.gather(-1, k.unsqueeze(-1)).squeeze(-1) - pk
        tiny = torch.finfo(logits.dtype).tiny
        inner = b[k] + w[k] * ((q - before) / pk.clamp(min=tiny)).clamp(0, 1)
        u_left = (q / pk.clamp(min=tiny)).clamp(0, 1)  # mass of the left tail below y, as a fraction of p_0
        left = b[1] - s_left * math.sqrt(2) * torch.erfinv(1 - u_left)
        u_right = ((q - before) / pk.clamp(min=tiny)).clamp(0, 1)
        right = b[K - 1] + s_right * math.sqrt(2) * torch.erfinv(u_right)
        out = torch.where(k == 0, left, torch.where(k == K - 1, right, inner))
        # The ends exactly: the cumulative sum can reach 1 before the last bucket in round-off, which would
        # put q = 1 inside an inner bucket (a finite value) instead of at +inf.
        return torch.where(q >= 1, math.inf, torch.where(q <= 0, -math.inf, out))

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        """E[Y], shape logits.shape[:-1]; the tails contribute their half-normal means."""
        logits = self._check(logits)
        b, w, s_left, s_right = self._consts(logits)
        centres = (b[1:] + b[:-1]) / 2
        c = centres.clone()
        c[0] = b[1] - s_left * math.sqrt(2 / math.pi)
        c[-1] = b[-2] + s_right * math.sqrt(2 / math.pi)
        return torch.softmax(logits, -1) @ c

    def variance(self, logits: torch.Tensor) -> torch.Tensor:
        """Var[Y], shape logits.shape[:-1] (uniform buckets, half-normal tails)."""
        logits = self._check(logits)
        b, w, s_left, s_right = self._consts(logits)
        second = (b[1:] ** 2 + b[1:] * b[:-1] + b[:-1] ** 2) / 3  # E[Y^2] of a uniform bucket
        m_l, m_r = math.sqrt(2 / math.pi) * s_left, math.sqrt(2 / math.pi) * s_right
        second = second.clone()
        second[0] = b[1] ** 2 - 2 * b[1] * m_l + s_left**2  # E[(b1 - Z)^2], E[Z^2] = σ²
        second[-1] = b[-2] ** 2 + 2 * b[-2] * m_r + s_right**2
        ey2 = torch.softmax(logits, -1) @ second
        return (ey2 - self.mean(logits) ** 2).clamp(min=0)

    def sample(self, logits: torch.Tensor, generator: torch.Generator | None = None,
               sample_shape: tuple = ()) -> torch.Tensor:
        """Draws of shape sample_shape + logits.shape[:-1], by inverting the cdf at uniform levels."""
        logits = self._check(logits)
        shape = tuple(sample_shape) + tuple(logits.shape[:-1])
        dev = generator.device if generator is not None else logits.device
        u = torch.rand(shape, generator=generator, device=dev, dtype=logits.dtype).to(logits.device)
        u = u.clamp(min=torch.finfo(logits.dtype).eps, max=1 - torch.finfo(logits.dtype).eps)
        return self.quantile(logits.expand(*shape, self.n_buckets), u)

    def bucket_of(self, y: torch.Tensor) -> torch.Tensor:
        """The bucket index (0 .. K−1) of each target; the tails take everything beyond b_1 and b_{K−1}."""
        y = torch.as_tensor(y)
        b = self.borders.to(device=y.device, dtype=y.dtype if y.is_floating_point() else torch.float64)
        return torch.searchsorted(b[1:-1].contiguous(), y.contiguous(), right=True).clamp(0, self.n_buckets - 1)
