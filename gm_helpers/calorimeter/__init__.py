"""Lecture 05, physics: fast simulation of calorimeter showers.

The simulator (the data) lives in ``gm.data.calorimeter``; the methods of the lecture live here:

- ``gm.calorimeter.coding``: how the models see a shower (``ShowerCoding``, ``Gaussianize``,
  ``mirrored``, ``rescale_layers``);
- ``gm.calorimeter.models``: the baselines ``CaloWGAN`` and ``CaloFlow``;
- ``gm.calorimeter.challenge``: the hackathon challenge, ``score``.

Every physics section follows this pattern: ``gm.data.<topic>`` makes the data,
``gm.<topic>`` (named after the lecture) holds its methods.
"""

from gm_helpers.calorimeter.challenge import DEFAULT_LEADERBOARD, SCORE_SEED, ChallengeScore, score
from gm_helpers.calorimeter.coding import Gaussianize, ShowerCoding, mirrored, rescale_layers
from gm_helpers.calorimeter.models import CaloFlow, CaloWGAN

__all__ = [
    "DEFAULT_LEADERBOARD",
    "SCORE_SEED",
    "CaloFlow",
    "CaloWGAN",
    "ChallengeScore",
    "Gaussianize",
    "ShowerCoding",
    "mirrored",
    "rescale_layers",
    "score",
]
