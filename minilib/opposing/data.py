"""The data of chapter 3: a toy with two opposing outlier groups, and digits with an injected patch.

Rosenfeld & Risteski 2024 ("Outliers with opposing signals have an outsized effect on neural network
optimization"): a few training examples share one large feature (a bright sky, say) whose association
with the label is opposite between two groups. Every function returns the group of each example:
0 for the rest, 1 for group A, 2 for group B.
"""

from __future__ import annotations

import torch

REST, GROUP_A, GROUP_B = 0, 1, 2
#: Digits: the two classes whose patched examples form groups A and B, and the patched pixels (a 2x2
#: corner of the 8x8 image: pixels 0, 1, 8, 9).
DIGIT_CLASSES = (3, 8)
PATCH_PIXELS = (0, 1, 8, 9)
DIGITS_TOTAL = 1797  # images in scikit-learn's bundled copy of the UCI digits


def toy(n: int, dim: int, group_a: float, group_b: float, alpha: float, core: float, noise: float,
        generator: torch.Generator, dtype=torch.float64):
    """x = noise·N(0, I_dim), x[0] += core·y (the weak core feature), y = ±1 at random.

    Group A (a fraction `group_a` of the n points) all have y = +1, group B (`group_b`) all y = −1; both
    get x[1] += alpha, the shared large feature whose label association is opposite between them.
    Returns x [n, dim], y [n] (±1) and group [n].
    """
    n_a, n_b = round(group_a * n), round(group_b * n)
    if n_a + n_b > n:
        raise ValueError(f"group_a + group_b = {group_a + group_b} exceeds 1: the groups need "
                         f"{n_a + n_b} of n = {n} points")
    y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(dtype)
    group = torch.zeros(n, dtype=torch.long)
    order = torch.randperm(n, generator=generator)
    group[order[:n_a]] = GROUP_A
    group[order[n_a:n_a + n_b]] = GROUP_B
    y[group == GROUP_A] = 1.0
    y[group == GROUP_B] = -1.0
    x = noise * torch.randn(n, dim, generator=generator, dtype=dtype)
    x[:, 0] += core * y
    x[group != REST, 1] += alpha
    return x, y, group


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits (no download): pixels / 16 in [0, 1] [1797, 64], labels [1797]."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return torch.tensor(d.data / 16.0, dtype=torch.float64), torch.tensor(d.target, dtype=torch.long)


def digits(n_train: int, group_a: float, group_b: float, alpha: float, generator: torch.Generator,
           dtype=torch.float64):
    """Digits split at random into n_train training and the rest test images; in the training set a random
    fraction `group_a` of the 3s (group A) and `group_b` of the 8s (group B) get `alpha` added to the
    corner patch: one bright feature shared by two classes. Returns (x, y, group) for train and test;
    the test set is never patched.
    """
    if not 0 < n_train < DIGITS_TOTAL:
        raise ValueError(f"n_train={n_train} is out of range: allowed 0 < n_train < {DIGITS_TOTAL}")
    x, y = load_digits()
    order = torch.randperm(len(y), generator=generator)
    tr, te = order[:n_train], order[n_train:]
    x_tr, y_tr = x[tr].clone(), y[tr]
    group = torch.zeros(n_train, dtype=torch.long)
    for cls, frac, g in ((DIGIT_CLASSES[0], group_a, GROUP_A), (DIGIT_CLASSES[1], group_b, GROUP_B)):
        members = torch.nonzero(y_tr == cls).ravel()
        pick = members[torch.randperm(len(members), generator=generator)[:round(frac * len(members))]]
        group[pick] = g
    patched = torch.nonzero(group != REST).ravel()
    x_tr[patched[:, None], torch.tensor(PATCH_PIXELS)] += alpha
    return (x_tr.to(dtype), y_tr, group), (x[te].to(dtype), y[te], torch.zeros(len(te), dtype=torch.long))
