"""The two models of the chapter, written for R stacked replicas (leading dim R on every weight).

MLP (Prieto et al. 2025): concat(one-hot a, one-hot b) (2p) -> width -> width -> p, ReLU, no biases.
The one-hot input layer is an embedding gather: W1 @ onehot = W1[:, a] + W1[:, p + b], which skips the
2p-wide matmul of a dense one-hot input (the hot loop of the chapter).
Nanda's transformer (Nanda et al. 2023): tokens [a, b, =], one layer, d_model 128, 4 heads, d_mlp 512,
ReLU, no LayerNorm, learned positions, read out at the last position.
The paper's transformer (Prieto et al. 2025's code): one torch.nn.TransformerEncoderLayer(128, 4) with its
defaults (feed-forward 2048, dropout 0.1, ReLU, LayerNorm after each block), tokens [a, b] with
a, b in 1..p−1, no positional embedding, a linear read-out at the last token.
Only the paper's transformer has dropout: its `logits` also takes `train` (dropout on) and `rows` (whose
generators draw the masks: the CPU path trains one replica at a time).
"""

from __future__ import annotations

import math

import torch

from ..replicas import normal, uniform, zeros

MODELS = ("mlp", "transformer", "paper_transformer")


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


class PaperTransformer:
    """R stacked copies of the paper's transformer: one post-LayerNorm encoder layer on the tokens [a, b].

    As torch.nn.TransformerEncoderLayer(d_model=128, nhead=4) with its defaults, initialised as torch
    does: embedding N(0, 1), attention input projection Xavier-uniform with zero biases, the attention
    output projection U(±1/√d) with a zero bias, the feed-forward and read-out layers as nn.Linear.
    Dropout 0.1 on the attention weights, after attention, inside and after the feed-forward block,
    drawn from each replica's own generator. Only the last token is read, so the query, the attention
    output and the feed-forward block are computed there only; keys and values come from per-token
    tables (no positional embedding: a token's key depends on the token alone).
    """

    D_MODEL, HEADS, D_FF, DROPOUT, LN_EPS = 128, 4, 2048, 0.1, 1e-5

    def __init__(self, modulus: int, generators, device):
        p, d, f = modulus, self.D_MODEL, self.D_FF
        self.p, self.R, self.generators, self.device = p, len(generators), list(generators), device
        R = self.R
        ones = lambda n: torch.ones(R, n, device=device).requires_grad_()
        self.params = [
            normal((p, d), 1.0, generators, device),           # embedding (token 0 exists, unused)
            uniform((d, 3 * d), 4 * d / 6, generators, device),  # in_proj (q, k, v): Xavier bound √(6/4d)
            zeros((3 * d,), R, device),                          # in_proj bias
            uniform((d, d), d, generators, device),              # out_proj
            zeros((d,), R, device),                              # out_proj bias
            ones(d), zeros((d,), R, device),                     # LayerNorm 1
            uniform((d, f), d, generators, device),              # linear1
            uniform((f,), d, generators, device),                # linear1 bias
            uniform((f, d), f, generators, device),              # linear2
            uniform((d,), f, generators, device),                # linear2 bias
            ones(d), zeros((d,), R, device),                     # LayerNorm 2
            uniform((d, p), d, generators, device),              # read-out
            uniform((p,), d, generators, device),                # read-out bias
        ]

    def _dropout(self, x: torch.Tensor, rows) -> torch.Tensor:
        """Inverted dropout with one mask per replica, drawn from that replica's generator."""
        keep = 1 - self.DROPOUT
        masks = [torch.empty(x.shape[1:]).bernoulli_(keep, generator=self.generators[r]) for r in rows]
        return x * torch.stack(masks).to(self.device, x.dtype) / keep

    def logits(self, a: torch.Tensor, b: torch.Tensor, params=None, *, train=False, rows=None) -> torch.Tensor:
        """a, b: [R, n] ints in 1..p−1 -> logits [R, n, p] at the last token (b)."""
        E, W_in, b_in, W_o, b_o, g1, c1, W1, b1, W2, b2, g2, c2, W_U, b_U = self.params if params is None else params
        R, n = a.shape
        d, H = self.D_MODEL, self.HEADS
        dh = d // H
        rows = range(R) if rows is None else rows
        drop = (lambda x: self._dropout(x, rows)) if train else (lambda x: x)
        ln = lambda x, g, c: torch.nn.functional.layer_norm(x, (d,), eps=self.LN_EPS) * g[:, None] + c[:, None]
        table = torch.baddbmm(b_in[:, None], E, W_in)  # [R, p, 3d]: q, k, v of every token
        rows_of = lambda tok, lo: table[..., lo:lo + d].gather(1, tok[..., None].expand(R, n, d))  # [R, n, d]
        q = rows_of(b, 0).view(R, n, H, dh)
        k = torch.stack([rows_of(a, d), rows_of(b, d)], 2).view(R, n, 2, H, dh)
        v = torch.stack([rows_of(a, 2 * d), rows_of(b, 2 * d)], 2).view(R, n, 2, H, dh)
        att = drop(torch.softmax((k * q[:, :, None]).sum(-1) / math.sqrt(dh), dim=2))  # [R, n, 2, H]
        z = (att[..., None] * v).sum(2).reshape(R, n, d)
        x_b = E.gather(1, b[..., None].expand(R, n, d))
        x = ln(x_b + drop(torch.baddbmm(b_o[:, None], z, W_o)), g1, c1)
        hidden = drop(torch.baddbmm(b1[:, None], x, W1).relu_())
        x = ln(x + drop(torch.baddbmm(b2[:, None], hidden, W2)), g2, c2)
        return torch.baddbmm(b_U[:, None], x, W_U)


def build(model: str, modulus: int, width: int, generators, device):
    if model == "mlp":
        return MLP(modulus, width, generators, device)
    if model == "transformer":
        return Transformer(modulus, generators, device)
    if model == "paper_transformer":
        return PaperTransformer(modulus, generators, device)
    raise ValueError(f"model={model!r} is not known: choose one of {', '.join(MODELS)}")
