"""The two models of the chapter, written for R stacked replicas (leading dim R on every weight).

MLP (Prieto et al. 2025): concat(one-hot a, one-hot b) (2p) -> width -> width -> p, ReLU, no biases.
The one-hot input layer is an embedding gather: W1 @ onehot = W1[:, a] + W1[:, p + b], which skips the
2p-wide matmul of a dense one-hot input (the hot loop of the chapter).
Transformer (Nanda et al. 2023): tokens [a, b, =], one layer, d_model 128, 4 heads, d_mlp 512, ReLU,
no LayerNorm, read out at the last position.
"""

from __future__ import annotations

import math

import torch

from ..replicas import normal, uniform, zeros


class PairGather(torch.autograd.Function):
    """rows(E, i) + rows(E, j): the first layer applied to two one-hot blocks, without the one-hots."""

    @staticmethod
    def forward(ctx, table, i, j):
        ctx.save_for_backward(i, j)
        ctx.rows = table.shape[0]
        return table.index_select(0, i).add_(table.index_select(0, j))

    @staticmethod
    def backward(ctx, grad):
        i, j = ctx.saved_tensors
        out = grad.new_zeros(ctx.rows, grad.shape[-1])
        out.index_add_(0, i, grad).index_add_(0, j, grad)
        return out, None, None


class MLP:
    """R stacked MLPs 2p -> width -> width -> p; `params` = [W1 as a (2p, width) table, W2, W3]."""

    def __init__(self, modulus: int, width: int, generators, device):
        p, R = modulus, len(generators)
        self.p, self.R = p, R
        self.params = [uniform((2 * p, width), 2 * p, generators, device),
                       uniform((width, width), width, generators, device),
                       uniform((width, modulus), width, generators, device)]
        self._offsets = (torch.arange(R, device=device) * 2 * p)[:, None]  # replica r's rows in the flat table

    def logits(self, a: torch.Tensor, b: torch.Tensor, params=None) -> torch.Tensor:
        """a, b: [R, n] ints -> logits [R, n, p] (params: the weights to use, default self.params)."""
        W1, W2, W3 = self.params if params is None else params
        R, n = a.shape
        i = (a + self._offsets[:R]).reshape(-1)
        j = (b + self.p + self._offsets[:R]).reshape(-1)
        h = PairGather.apply(W1.reshape(R * 2 * self.p, -1), i, j).view(R, n, -1).relu_()
        h = torch.bmm(h, W2).relu_()
        return torch.bmm(h, W3)

    def logits_dense(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The same function with explicit one-hot inputs (the reference the gather is tested against)."""
        W1, W2, W3 = self.params
        onehot = torch.cat([torch.nn.functional.one_hot(a, self.p), torch.nn.functional.one_hot(b, self.p)],
                           dim=-1).to(W1.dtype)  # [R, n, 2p]
        h = torch.bmm(onehot, W1).relu()
        h = torch.bmm(h, W2).relu()
        return torch.bmm(h, W3)


class Transformer:
    """R stacked one-layer transformers (Nanda et al. 2023) without LayerNorm, read out at "=".

    Init scales as in Nanda's code: N(0, 1/d_model) for every matrix but the unembedding (1/d_vocab).
    Only the last position feeds the output, so the query, the attention output and the MLP are
    computed there only; keys and values of each position are gathered from per-token tables.
    """

    D_MODEL, HEADS, D_MLP = 128, 4, 512

    def __init__(self, modulus: int, generators, device):
        p, d, H, m = modulus, self.D_MODEL, self.HEADS, self.D_MLP
        self.p, self.R = p, len(generators)
        R = self.R
        dh = d // H
        self.params = [
            normal((p + 1, d), 1 / math.sqrt(d), generators, device),   # W_E (token p is "=")
            normal((3, d), 1 / math.sqrt(d), generators, device),       # W_pos
            normal((d, 3 * H * dh), 1 / math.sqrt(d), generators, device),  # W_Q, W_K, W_V
            normal((H * dh, d), 1 / math.sqrt(d), generators, device),  # W_O
            normal((d, m), 1 / math.sqrt(d), generators, device),       # W_in
            zeros((m,), R, device),              # b_in
            normal((m, d), 1 / math.sqrt(d), generators, device),       # W_out
            zeros((d,), R, device),              # b_out
            normal((d, p), 1 / math.sqrt(p + 1), generators, device),   # W_U
        ]

    def logits(self, a: torch.Tensor, b: torch.Tensor, params=None) -> torch.Tensor:
        """a, b: [R, n] ints -> logits [R, n, p] at the "=" position."""
        W_E, W_pos, W_qkv, W_O, W_in, b_in, W_out, b_out, W_U = self.params if params is None else params
        R, n = a.shape
        d, H = self.D_MODEL, self.HEADS
        dh = d // H
        # Residual stream of every (position, token): [R, 3, p+1, d]; q, k, v tables from it.
        resid = W_E[:, None] + W_pos[:, :, None]
        qkv = torch.matmul(resid, W_qkv[:, None])  # [R, 3, p+1, 3*d]
        q, k, v = qkv.split(d, dim=-1)
        eq = self.p
        q2 = q[:, 2, eq].view(R, 1, H, dh)  # the "=" query, the same for every sample
        rows = lambda t, pos, tok: t[:, pos].gather(1, tok[..., None].expand(R, n, d))  # [R, n, d]
        keys = torch.stack([rows(k, 0, a), rows(k, 1, b), k[:, 2, eq][:, None].expand(R, n, d)], 2)
        vals = torch.stack([rows(v, 0, a), rows(v, 1, b), v[:, 2, eq][:, None].expand(R, n, d)], 2)
        keys, vals = keys.view(R, n, 3, H, dh), vals.view(R, n, 3, H, dh)
        att = torch.softmax((keys * q2[:, :, None]).sum(-1) / math.sqrt(dh), dim=2)  # [R, n, 3, H]
        z = (att[..., None] * vals).sum(2).reshape(R, n, d)
        x = resid[:, 2, eq][:, None] + torch.bmm(z, W_O)
        hidden = torch.baddbmm(b_in[:, None], x, W_in).relu_()
        x = x + torch.baddbmm(b_out[:, None], hidden, W_out)
        return torch.bmm(x, W_U)


def build(model: str, modulus: int, width: int, generators, device):
    if model == "mlp":
        return MLP(modulus, width, generators, device)
    if model == "transformer":
        return Transformer(modulus, generators, device)
    raise ValueError(f"model={model!r} is not known: choose 'mlp' or 'transformer'")
