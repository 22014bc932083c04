"""How good are generated phantoms? The figures of lecture 09, as imaging physics would judge them.

- ``texture_beta(images)``: the exponent beta of the tissue's power spectrum P(f) ~ 1 / f^beta,
  measured as Chen et al. measure it on mammograms (``gm.data.mammo.radial_power_spectrum`` on
  regions of interest inside the breast, ``fit_beta``), with a bootstrap error over the images;
- ``phantom_features()``: a small CNN the course trains on the phantoms themselves (which finding,
  if any: none, microcalcifications, a mass), cached like the digit classifier of lecture 01; its
  last hidden layer is the feature space of the Fréchet distance. Nothing is downloaded: the
  Inception network of the usual FID has never seen a mammogram anyway, and a domain-specific
  feature network is what medical imaging uses in its place;
- ``frechet_distance(a, b)``: ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between the
  Gaussians fitted to two sets of features (Heusel et al., arXiv:1706.08500), the squared
  2-Wasserstein distance between those Gaussians; ``phantom_fd(images, reference)`` applies it to
  the features of two sets of images;
- ``nearest_neighbours(generated, training)``: for each generated image, the closest training image
  (Euclidean distance in pixels), to show whether a generator copies its training set; compare the
  distances with those of fresh real images to the same training set (``memorization_ratio``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch
from torch import nn

from gm_helpers.data import mammo

__all__ = [
    "FEATURE_EPOCHS",
    "Beta",
    "Neighbours",
    "frechet_distance",
    "memorization_ratio",
    "nearest_neighbours",
    "phantom_fd",
    "phantom_features",
    "texture_beta",
    "to_unit",
]

FEATURE_EPOCHS = 4
FEATURE_IMAGES = 6000  # phantoms the feature network is trained on (seed 7_000, never a training seed)


def to_unit(images) -> np.ndarray:
    """Images as a float64 numpy array (n, N, N): a tensor (n, 1, N, N) or (n, N, N), or an array.
    Generators of lecture 09 work in [-1, 1]; convert with ``(x + 1) / 2`` before calling this."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().float().numpy()
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be square, of shape (n, N, N) or (n, 1, N, N), got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinite pixels")
    return images


class Beta(NamedTuple):
    """``texture_beta``'s answer: the fitted exponent, its bootstrap standard error, and how many of
    the images had a breast large enough to hold the region of interest."""

    value: float
    error: float
    used: int


def texture_beta(images, n_boot: int = 50, seed: int = 0) -> Beta:
    """The exponent beta of images in [0, 1], with its bootstrap standard error over the images: the
    power law fitted to their radially averaged spectrum over ``mammo.FIT_BAND``, on regions inside
    each breast (``mammo.breast_masks``), as Chen et al. measure mammograms. Needs images of at
    least 64x64 (a region of 3/8 of the side, 24 pixels, gives 5 frequencies in the band). Images
    whose breast cannot hold that region (a generator early in training draws some) are left out,
    and counted in ``used``."""
    x = to_unit(images)
    if x.shape[1] < 64:
        raise ValueError(f"beta needs regions inside the breast: images of 64x64 or more, not {x.shape[1]}")
    masks = mammo.breast_masks(x)
    keep = mammo.roi_fits(masks)
    if not np.any(keep):
        raise ValueError("no image has a breast that holds the region of interest (3/8 of the side)")
    x, masks = x[keep], masks[keep]

    def beta(index) -> float:
        return mammo.fit_beta(*mammo.radial_power_spectrum(x[index], masks[index]))

    rng = np.random.default_rng(seed)
    boot = [beta(rng.integers(0, len(x), len(x))) for _ in range(n_boot)]
    error = float(np.std(boot, ddof=1)) if n_boot > 1 else float("nan")
    return Beta(beta(np.arange(len(x))), error, int(keep.sum()))


def _feature_net() -> nn.Sequential:
    def block(n_in, n_out):  # 3x3 convolution, batch norm, ReLU, 2x2 max pooling
        return [nn.Conv2d(n_in, n_out, 3, padding=1), nn.BatchNorm2d(n_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(1, 16), *block(16, 32), *block(32, 64), *block(64, 64), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(),  # the features
        nn.Linear(128, len(mammo.LABELS)),
    )  # fmt: skip


_FEATURES: dict[str, nn.Sequential] = {}


def phantom_features(size: int = 64, seed: int = 0) -> nn.Sequential:
    """The feature network of ``phantom_fd``: a CNN trained to tell the findings of phantoms of
    ``size`` x ``size`` (``FEATURE_IMAGES`` of them, ``FEATURE_EPOCHS`` epochs, about a minute on a
    laptop CPU at 64x64), cached in ``data/cache/`` and in memory. ``net[:-1]`` gives the 128
    features; ``net.test_accuracy`` is its accuracy on 2,000 fresh phantoms (chance is 0.5)."""
    from gm_helpers.core import cache_dir
    from gm_helpers.train import seeded

    key = f"phantom_features_size{size}_seed{seed}_epochs{FEATURE_EPOCHS}"
    if key in _FEATURES:
        return _FEATURES[key]
    with seeded(seed):
        net = _feature_net()
    path = cache_dir() / f"{key}.pt"
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(saved["state"])
        net.test_accuracy = float(saved["test_accuracy"])
    else:
        data = mammo.phantoms(FEATURE_IMAGES, size, seed=7_000 + seed)
        x, y = torch.tensor(data.images[:, None]), torch.tensor(data.labels, dtype=torch.long)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        with seeded(seed):
            for _ in range(FEATURE_EPOCHS):
                net.train()
                for index in torch.randperm(len(x), generator=generator).split(64):
                    loss = nn.functional.cross_entropy(net(x[index]), y[index])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        test = mammo.phantoms(2000, size, seed=7_500 + seed)
        net.eval()
        with torch.no_grad():
            predicted = net(torch.tensor(test.images[:, None])).argmax(1).numpy()
        net.test_accuracy = float(np.mean(predicted == test.labels))
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"state": net.state_dict(), "test_accuracy": net.test_accuracy}, tmp)
        os.replace(tmp, path)  # atomic: parallel notebooks never read half a file
    net.eval()
    _FEATURES[key] = net
    return net


def frechet_distance(a, b) -> float:
    """The Fréchet distance between Gaussians fitted to features a (n, d) and b (m, d):
    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr (S_a S_b)^(1/2) is computed as the sum of the square roots of the eigenvalues of the symmetric
    R S_b R, R = S_a^(1/2) (the same eigenvalues as S_a S_b), with ``scipy.linalg.eigh``: stable when
    a covariance is singular (features that are always 0 after a ReLU), where ``sqrtm`` warns."""
    a, b = (np.asarray(v, dtype=np.float64) for v in (a, b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (n, d) and (m, d) with one d, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("each set needs at least 2 samples to estimate a covariance")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("features contain NaN or infinite values")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    values, vectors = scipy.linalg.eigh(s_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    cross = np.sum(np.sqrt(np.clip(scipy.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + max(np.trace(s_a) + np.trace(s_b) - 2 * cross, 0.0))


@torch.no_grad()
def _features(images: np.ndarray) -> np.ndarray:
    net = phantom_features(images.shape[1])
    x = torch.tensor(images[:, None], dtype=torch.float32)
    return torch.cat([net[:-1](batch) for batch in x.split(500)]).numpy()


def phantom_fd(images, reference) -> float:
    """The Fréchet distance between two sets of phantom-like images in [0, 1] of one size, in the
    feature space of ``phantom_features``. Between two independent sets of 1,000 phantoms it is the
    noise floor (about 1, see tests/test_imaging.py); the lower, the closer."""
    x, r = to_unit(images), to_unit(reference)
    if x.shape[1:] != r.shape[1:]:
        raise ValueError(f"the two sets must have one image size, got {x.shape[1:]} and {r.shape[1:]}")
    return frechet_distance(_features(x), _features(r))


@dataclass
class Neighbours:
    """``index[i]``: the training image nearest to generated image i, at pixel distance ``distance[i]``
    (root mean square over the pixels)."""

    index: np.ndarray
    distance: np.ndarray


def nearest_neighbours(generated, training) -> Neighbours:
    """For each image of ``generated`` the closest of ``training`` (both (n, N, N) or (n, 1, N, N),
    one size), by the root-mean-square pixel difference."""
    g, t = (torch.tensor(to_unit(v)).flatten(1) for v in (generated, training))
    if g.shape[1] != t.shape[1]:
        raise ValueError(f"the two sets must have one image size, not {g.shape[1]} and {t.shape[1]} pixels")
    distance = torch.cdist(g, t)  # (n_generated, n_training)
    best = distance.min(1)
    return Neighbours(best.indices.numpy(), best.values.numpy() / g.shape[1] ** 0.5)


def memorization_ratio(generated, fresh, training) -> float:
    """The median nearest-neighbour distance of generated images to the training set, over that of
    fresh real images (never trained on) to the same set. About 1 or more: the generator makes new
    images; well below 1: it reproduces training images."""
    return float(
        np.median(nearest_neighbours(generated, training).distance)
        / np.median(nearest_neighbours(fresh, training).distance)
    )
