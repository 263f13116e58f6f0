"""The two models of chapter 4, written for R stacked replicas (leading dim R on every weight).

Linear: f(x) = W_L ⋯ W_2 W_1 x. The encoder is W_1 (its output is the pre-projection representation),
the projection head the other depth − 1 layers; depth 1 has no head. Weights start N(0, init_scale²).
SupCon MLP: encoder input_dim → hidden → hidden with a ReLU after each layer (its output h is the
pre-projection representation); head (depth − 1 layers): hidden → … → head_dim with ReLUs between
(SimCLR's MLP head at depth 3), or the fixed reweighting head z_i = h_i·κ^(−i) of Xue et al. 2024.
Digits CNN (the SimCLR model): 8×8 image → conv 3×3 (16 channels) → ReLU → conv 3×3 stride 2 (32
channels, 4×4) → ReLU → linear → hidden → ReLU is the encoder (h); the head is the SupCon model's.
"""

from __future__ import annotations

import torch

from ..replicas import uniform


# --- the linear model --------------------------------------------------------------------------------
def linear_shapes(d: int, hidden: int, head_dim: int, depth: int) -> list[tuple[int, int]]:
    """(out, in) of each layer: W_1 is hidden × d, the last layer head_dim × hidden (depth 1: hidden × d)."""
    outs = [hidden] * (depth - 1) + [head_dim if depth > 1 else hidden]
    ins = [d] + [hidden] * (depth - 1)
    return list(zip(outs, ins))


def linear_weights(d, hidden, head_dim, depth, init_scales, generators, device) -> list[torch.Tensor]:
    """Stacked float64 weights, one list entry per layer [R, out, in]; replica r's are N(0, init_scales[r]²)."""
    shapes = linear_shapes(d, hidden, head_dim, depth)
    ws = [torch.stack([torch.randn(shape, generator=g, dtype=torch.float64) * s
                       for g, s in zip(generators, init_scales)]) for shape in shapes]
    return [w.to(device).requires_grad_() for w in ws]


def products(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """The maps from the input to each layer's output: [W_1, W_2 W_1, …, W_L ⋯ W_1], each [R, out, d]."""
    out = [weights[0]]
    for w in weights[1:]:
        out.append(w @ out[-1])
    return out


def feature_weights(W: torch.Tensor) -> torch.Tensor:
    """How strongly a linear map W [R, out, d] carries each input feature: the column norms ‖W[:, k]‖, [R, d]."""
    return W.pow(2).sum(1).sqrt()


# --- the SupCon MLP ----------------------------------------------------------------------------------
HEADS = ("mlp", "reweight")


class SupConMLP:
    """R stacked encoders (+ heads); `params` = [W, b] per layer, W [R, in, out], b [R, 1, out]."""

    def __init__(self, input_dim, hidden, head_dim, depth, head, kappa, generators, device):
        enc = [(input_dim, hidden), (hidden, hidden)]
        mlp_head = [(hidden, hidden)] * (depth - 2) + [(hidden, head_dim)] if depth > 1 and head == "mlp" else []
        self.n_enc, self.head, self.kappa = len(enc), head, kappa
        self.params = []
        for fan_in, fan_out in enc + mlp_head:
            self.params += [uniform((fan_in, fan_out), fan_in, generators, device),
                            uniform((1, fan_out), fan_in, generators, device)]
        self.depth = depth

    def encode(self, x: torch.Tensor, params=None) -> torch.Tensor:
        """The pre-projection representation h [R, n, hidden] of inputs x [R, n, input_dim]."""
        ps = self.params if params is None else params
        h = x
        for i in range(self.n_enc):
            h = torch.relu(h @ ps[2 * i] + ps[2 * i + 1])
        return h

    def project(self, h: torch.Tensor, params=None) -> torch.Tensor:
        """The head's output z (what the loss sees): the MLP head, the reweighting head, or h (depth 1)."""
        ps = self.params if params is None else params
        if self.depth == 1:
            return h
        if self.head == "reweight":
            return reweight(h, self.kappa)
        layers = ps[2 * self.n_enc:]
        z = h
        for i in range(0, len(layers), 2):
            z = z @ layers[i] + layers[i + 1]
            if i + 2 < len(layers):
                z = torch.relu(z)
        return z


def reweight(h: torch.Tensor, kappa: float) -> torch.Tensor:
    """The fixed reweighting head of Xue et al. 2024: z_i = h_i · κ^(−i), i = 0 … hidden − 1."""
    i = torch.arange(h.shape[-1], device=h.device, dtype=h.dtype)
    return h * kappa ** (-i)


class DigitsCNN(SupConMLP):
    """R stacked small CNNs on 8×8 images with the SupCon model's heads; `params` = [W, b] per layer.

    Conv weights are [R, out, in, 3, 3] and run as one grouped convolution (groups = R), so replicas stay
    independent in one call; the linear layers are [R, in, out] as in SupConMLP.
    """

    CHANNELS = (16, 32)

    def __init__(self, hidden, head_dim, depth, head, kappa, generators, device):
        c1, c2 = self.CHANNELS
        mlp_head = [(hidden, hidden)] * (depth - 2) + [(hidden, head_dim)] if depth > 1 and head == "mlp" else []
        self.n_enc, self.head, self.kappa, self.depth = 3, head, kappa, depth
        self.params = [uniform((c1, 1, 3, 3), 9, generators, device), uniform((c1,), 9, generators, device),
                       uniform((c2, c1, 3, 3), 9 * c1, generators, device), uniform((c2,), 9 * c1, generators, device),
                       uniform((16 * c2, hidden), 16 * c2, generators, device),
                       uniform((1, hidden), 16 * c2, generators, device)]
        for fan_in, fan_out in mlp_head:
            self.params += [uniform((fan_in, fan_out), fan_in, generators, device),
                            uniform((1, fan_out), fan_in, generators, device)]

    def encode(self, x: torch.Tensor, params=None) -> torch.Tensor:
        """The pre-projection representation h [R, n, hidden] of images x [R, n, 8, 8]."""
        ps = self.params if params is None else params
        R, n, height, width = x.shape
        conv = torch.nn.functional.conv2d
        h = x.transpose(0, 1)  # [n, R, 8, 8]: replica r's image is input channel r of group r
        cudnn = torch.backends.cudnn
        # float32 convolutions on a GPU too (cuDNN would use TF32, a 10-bit mantissa, by default), so that a
        # GPU run follows the CPU-made shipped runs as closely as float32 allows
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                         allow_tf32=False):
            for i, stride in ((0, 1), (1, 2)):
                w, b = ps[2 * i], ps[2 * i + 1]
                h = torch.relu(conv(h, w.flatten(0, 1), b.flatten(), stride=stride, padding=1, groups=R))
        h = h.reshape(n, R, -1).transpose(0, 1)  # [R, n, 32·4·4], each replica's channels together
        return torch.relu(h @ ps[4] + ps[5])
