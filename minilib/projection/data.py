"""The data of chapter 4: the linear model's latent features and its augmentation, the classes with an
ignored sub-class that the SupCon model sees, and the handwritten digits the SimCLR model sees.

Linear model (Xue et al. 2024, Section 4): x = Σ_k a_k z_k e_k with z ~ N(0, I); an augmentation x⁺
redraws z_k with probability ρ_k, so feature k survives augmentation with probability 1 − ρ_k. Its
second moments are all the population loss needs: E[x xᵀ] = diag(a²), E[x x⁺ᵀ] = diag(a²(1 − ρ)).

SupCon model: latents with a class sign (±class_scale on axis 0), a sub-class sign that the class label
ignores (±sub_scale on axis 1) and Gaussian noise on the other axes, seen through a random rotation.

SimCLR model: scikit-learn's bundled 8×8 handwritten digits (1797 images, no download), with shifts,
random erasing and pixel noise as augmentations.
"""

from __future__ import annotations

import torch


def second_moments(scales: torch.Tensor, drops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, S) as vectors: the diagonals of E[x x⁺ᵀ] = diag(a²(1 − ρ)) and E[x xᵀ] = diag(a²)."""
    a2 = scales**2
    return a2 * (1 - drops), a2


def sample_linear(n: int, scales: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of the latents z ~ N(0, I) [n, d] and the inputs x = a ⊙ z [n, d] (on the device of `scales`,
    which must be that of the generator)."""
    z = torch.randn(n, len(scales), generator=generator, dtype=scales.dtype, device=scales.device)
    return z, z * scales


def augment(z: torch.Tensor, drops: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The augmented latents: each z_k redrawn from N(0, 1) with probability ρ_k, else kept."""
    redraw = torch.rand(z.shape, generator=generator, dtype=z.dtype, device=z.device) < drops
    fresh = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    return torch.where(redraw, fresh, z)


# --- the SupCon task ---------------------------------------------------------------------------------
def rotation(dim: int, generator: torch.Generator) -> torch.Tensor:
    """A random orthogonal [dim, dim] matrix (QR of a Gaussian matrix, signs fixed so it is Haar)."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def sample_classes(n: int, rot: torch.Tensor, generator: torch.Generator, *, class_scale: float,
                   sub_scale: float, noise: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n inputs [n, dim] = latents @ rotᵀ, their class (sign of latent 0) and sub-class (sign of latent 1).

    Latent 0 is ±class_scale, latent 1 is ±sub_scale, each sign a fair coin; the others are N(0, noise²).
    Labels are 0/1 (long).
    """
    dim = rot.shape[0]
    cls = torch.randint(0, 2, (n,), generator=generator)
    sub = torch.randint(0, 2, (n,), generator=generator)
    lat = torch.randn(n, dim, generator=generator) * noise
    lat[:, 0] = (2 * cls - 1) * class_scale
    lat[:, 1] = (2 * sub - 1) * sub_scale
    return lat @ rot.T, cls, sub


def noisy_view(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """One augmented view: x plus N(0, std²) noise on every coordinate."""
    return x + torch.randn(x.shape, generator=generator) * std


# --- real data: scikit-learn's bundled handwritten digits --------------------------------------------
#: SimCLR-style augmentations of an 8×8 digit: a shift of up to SHIFT pixels in each direction (zeros
#: shifted in), with probability ERASE_PROB a random ERASE×ERASE square set to 0, then N(0, noise²) pixel noise.
SHIFT, ERASE, ERASE_PROB = 1, 3, 0.5
DIGITS_TEST = 500  # held-out images the probes are scored on; the other 1297 are the training/labelled pool
DIGITS_SPLIT_SEED = 0  # the split is the same for every run, so every probe is scored on the same images


def load_digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 bundled 8×8 digits, pixels scaled to [0, 1]: (pool images [1297, 8, 8], pool
    labels, test images [500, 8, 8], test labels), split by a fixed random permutation (nothing downloaded)."""
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    test, pool = perm[:DIGITS_TEST], perm[DIGITS_TEST:]
    return images[pool], labels[pool], images[test], labels[test]


def augment_digits(x: torch.Tensor, noise: float, generator: torch.Generator) -> torch.Tensor:
    """One augmented view of images x [n, h, w]: random shift, random erasing, Gaussian pixel noise."""
    n, h, w = x.shape
    padded = torch.nn.functional.pad(x, (SHIFT, SHIFT, SHIFT, SHIFT))
    dy = torch.randint(0, 2 * SHIFT + 1, (n,), generator=generator)  # the crop's corner in the padded image
    dx = torch.randint(0, 2 * SHIFT + 1, (n,), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    out = padded[torch.arange(n)[:, None, None], (dy[:, None] + rows)[:, :, None], (dx[:, None] + cols)[:, None, :]]
    erase = torch.rand(n, generator=generator) < ERASE_PROB
    ey = torch.randint(0, h - ERASE + 1, (n,), generator=generator)
    ex = torch.randint(0, w - ERASE + 1, (n,), generator=generator)
    in_rows = (rows[None, :] >= ey[:, None]) & (rows[None, :] < ey[:, None] + ERASE)  # [n, h]
    in_cols = (cols[None, :] >= ex[:, None]) & (cols[None, :] < ex[:, None] + ERASE)  # [n, w]
    out = out.masked_fill(in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None], 0.0)
    return out + torch.randn(out.shape, generator=generator) * noise


def shifted(x: torch.Tensor, dx: int) -> torch.Tensor:
    """Images x [..., h, w] with their content moved dx pixels right (dx < 0: left), zeros shifted in."""
    out = torch.zeros_like(x)
    if dx > 0:
        out[..., dx:] = x[..., :-dx]
    elif dx < 0:
        out[..., :dx] = x[..., -dx:]
    else:
        out = x.clone()
    return out


def shift_task(pool_x: torch.Tensor, test_x: torch.Tensor):
    """A property the augmentations disrupt: each image moved one pixel left or right, the direction a fair
    coin from a fixed generator (the same in every run). Returns ((pool images, labels), (test images,
    labels)), label 1 = moved right."""
    gen = torch.Generator().manual_seed(DIGITS_SPLIT_SEED + 1)

    def make(x):
        y = torch.randint(0, 2, (len(x),), generator=gen)
        return torch.where(y[:, None, None] == 1, shifted(x, 1), shifted(x, -1)), y

    return make(pool_x), make(test_x)


# --- a spurious feature for the supervised model -----------------------------------------------------
#: Where the marker of class c goes: one pixel of the top row for digits 0-7, the bottom corners for 8 and 9.
MARKERS = tuple((0, c) for c in range(8)) + ((7, 0), (7, 7))
#: Probability that a training image's marker names its own digit (otherwise a uniformly random class's): 1, a
#: perfect shortcut (at 0.9 a 300-step run still read the digit itself: 0.92 on randomly marked test images).
SPURIOUS = 1.0


def mark_digits(x: torch.Tensor, marker_classes: torch.Tensor) -> torch.Tensor:
    """Images x [n, 8, 8] with the pixel of MARKERS[marker_classes[i]] set to 1 (full ink) in image i."""
    where = torch.tensor(MARKERS)[marker_classes]
    out = x.clone()
    out[torch.arange(len(x)), where[:, 0], where[:, 1]] = 1.0
    return out


def marker_classes(labels: torch.Tensor, p_match: float, generator: torch.Generator) -> torch.Tensor:
    """Per image, its own label with probability p_match, else a class drawn uniformly from the 10."""
    match = torch.rand(len(labels), generator=generator) < p_match
    other = torch.randint(0, len(MARKERS), (len(labels),), generator=generator)
    return torch.where(match, labels, other)


def random_marker_task(pool_x: torch.Tensor, test_x: torch.Tensor):
    """The shifted distribution the probes see: every pool and test image marked with a random class's marker
    (independent of the digit), from a fixed generator (the same in every run). Returns (pool, test) images."""
    gen = torch.Generator().manual_seed(DIGITS_SPLIT_SEED + 2)
    return tuple(mark_digits(x, torch.randint(0, len(MARKERS), (len(x),), generator=gen)) for x in (pool_x, test_x))
