"""Modular-arithmetic data: all pairs (a, b) with label (a ∘ b) mod p, split by a seeded permutation.

Power et al. 2022 ("Grokking: generalization beyond overfitting on small algorithmic datasets").
"""

from __future__ import annotations

import torch

OPERATIONS = ("add", "sub", "mul", "div")


def is_prime(n: int) -> bool:
    """Trial division; moduli here are small."""
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


def all_pairs(modulus: int, operation: str, nonzero: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every valid (a, b) and its label; division skips b = 0 (no inverse); `nonzero` keeps a, b in 1..p−1
    (the token data of the paper's transformer)."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation={operation!r} is not known: choose one of {', '.join(OPERATIONS)}")
    p = modulus
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    if nonzero:
        keep = (a != 0) & (b != 0)
        a, b = a[keep], b[keep]
    if operation == "add":
        y = (a + b) % p
    elif operation == "sub":
        y = (a - b) % p
    elif operation == "mul":
        y = (a * b) % p
    else:
        if not is_prime(p):
            raise ValueError(f"operation='div' needs a prime modulus, got modulus={p}")
        keep = b != 0
        a, b = a[keep], b[keep]
        # Fermat: b^(p-2) is the inverse of b mod p.
        inverse = torch.tensor([pow(int(v), p - 2, p) for v in range(p)])
        y = (a * inverse[b]) % p
    return a, b, y


def num_train(num_pairs: int, train_fraction: float) -> int:
    """How many pairs go to the training set (the rest are the test set)."""
    return int(train_fraction * num_pairs)


def num_pairs(modulus: int, operation: str, nonzero: bool = False) -> int:
    """How many pairs all_pairs gives."""
    values = modulus - 1 if nonzero else modulus
    return values * (modulus - 1 if operation == "div" else values)


def split(modulus: int, operation: str, train_fraction: float, generator: torch.Generator,
          nonzero: bool = False) -> dict:
    """A seeded train/test split: dict of a, b, y for "train" and "test" (1-D int64 tensors)."""
    a, b, y = all_pairs(modulus, operation, nonzero)
    n = num_train(len(y), train_fraction)
    perm = torch.randperm(len(y), generator=generator)
    parts = {"train": perm[:n], "test": perm[n:]}
    return {name: (a[idx], b[idx], y[idx]) for name, idx in parts.items()}
