"""High-resolution image synthesis (lecture 09): the figures of merit of generated phantoms.

- ``gm.imaging.fidelity``: the texture exponent beta, a Fréchet distance in the feature space of a
  network trained on the phantoms, and nearest-neighbour images against copying;
- ``gm.imaging.recipes``: the training phantoms, the players, the paper's settings, equal budgets.

The data are ``gm.data.mammo``; the models are the course's own (``gm.gan.progressive``).
"""

from gm_helpers.imaging.fidelity import (
    Beta,
    Neighbours,
    frechet_distance,
    memorization_ratio,
    nearest_neighbours,
    phantom_fd,
    phantom_features,
    texture_beta,
    to_unit,
)

__all__ = [
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
