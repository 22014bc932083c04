"""Two-dimensional toy distributions: the playground for GANs and flows.

The mixtures follow the toy scripts of WGAN-GP (arXiv:1704.00028) and FFJORD (arXiv:1810.01367),
rescaled so every dataset lives roughly in [-3, 3]^2 (inside a spline flow's default tail bound).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.datasets import make_moons

__all__ = ["TOY2D_NAMES", "toy2d", "toy2d_modes"]

# name -> (centres of the modes, standard deviation of each mode) for the Gaussian mixtures.
_RING = [(2.0 * math.cos(2 * math.pi * k / 8), 2.0 * math.sin(2 * math.pi * k / 8)) for k in range(8)]
_GRID = [(float(i), float(j)) for i in range(-2, 3) for j in range(-2, 3)]
_MIXTURES = {"8gaussians": (_RING, 0.1), "25gaussians": (_GRID, 0.05)}


def _mixture(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    centres, std = _MIXTURES[name]
    which = rng.integers(len(centres), size=n)
    return np.asarray(centres)[which] + std * rng.standard_normal((n, 2))


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    x, _ = make_moons(n, noise=0.05, random_state=int(rng.integers(2**31)))
    return (x - [0.5, 0.25]) * 2.0


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    # A 4x4 board of unit squares on [-2, 2]^2 where only the 'black' squares carry mass.
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) - 2 * rng.integers(0, 2, n) + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1)


def _rings(n: int, rng: np.random.Generator) -> np.ndarray:
    # Four concentric rings; points per ring in proportion to its circumference.
    radii = np.array([0.6, 1.2, 1.8, 2.4])
    ring = rng.choice(4, size=n, p=radii / radii.sum())
    angle = rng.uniform(0, 2 * math.pi, n)
    r = radii[ring] + 0.05 * rng.standard_normal(n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)


def _spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    # Two interleaved spirals (FFJORD's "2spirals").
    t = np.sqrt(rng.uniform(size=n)) * 3 * math.pi
    arm = np.where(rng.integers(0, 2, n) == 0, 1.0, -1.0)
    x = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) * arm[:, None]
    return x / 3.0 + 0.1 * rng.standard_normal((n, 2))


_GENERATORS = {
    "moons": _moons,
    "8gaussians": lambda n, rng: _mixture("8gaussians", n, rng),
    "25gaussians": lambda n, rng: _mixture("25gaussians", n, rng),
    "checkerboard": _checkerboard,
    "rings": _rings,
    "spirals": _spirals,
}
TOY2D_NAMES = tuple(_GENERATORS)


def toy2d(name: str, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` points of the 2-D toy distribution ``name`` as a float32 tensor of shape (n, 2).

    Arguments:
        name: one of ``TOY2D_NAMES``: "moons", "8gaussians", "25gaussians", "checkerboard",
            "rings", "spirals".
        n: number of points.
        seed: the same seed gives the same points.

    Example:
        >>> toy2d("8gaussians", 5, seed=1).shape
        torch.Size([5, 2])
    """
    if name not in _GENERATORS:
        raise ValueError(f"unknown toy dataset {name!r}; expected one of {', '.join(TOY2D_NAMES)}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    return torch.as_tensor(_GENERATORS[name](n, rng), dtype=torch.float32)


def toy2d_modes(name: str) -> tuple[torch.Tensor, float]:
    """Centres (n_modes, 2) and per-mode standard deviation of a Gaussian-mixture toy dataset.

    Used with ``gm_helpers.metrics.mode_coverage`` to count the modes a generator covers.
    """
    if name not in _MIXTURES:
        raise ValueError(f"{name!r} has no discrete modes; expected one of {', '.join(_MIXTURES)}")
    centres, std = _MIXTURES[name]
    return torch.tensor(centres, dtype=torch.float32), std
