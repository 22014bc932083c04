"""Lecture 05, physics: fast simulation of calorimeter showers.

The simulator (the data) lives in ``gm.data.calorimeter``; the methods of the lecture live here:

- ``gm.calorimeter.coding``: how the models see a shower (``ShowerCoding``, ``Gaussianize``,
  ``mirrored``, ``rescale_layers``);
- ``gm.calorimeter.models``: the baselines ``CaloWGAN`` and ``CaloFlow``, and lecture 10's
  ``CaloFlowMatching``;
- ``gm.calorimeter.challenge``: the hackathon challenge: ``score``, the official training set
  ``training_showers``, the copying test ``copying_statistic``, ``memory_bytes``, and the
  simulator as the reference floor, ``simulator_generator``.

Every physics section follows this pattern: ``gm.data.<topic>`` makes the data,
``gm.<topic>`` (named after the lecture) holds its methods.
"""

from gm_helpers.calorimeter.challenge import (
    COPYING_THRESHOLD,
    DEFAULT_LEADERBOARD,
    SCORE_SEED,
    TRAIN_SEED,
    TRAIN_SIZE,
    ChallengeScore,
    SimulatorGenerator,
    copying_statistic,
    memory_bytes,
    score,
    simulator_generator,
    training_showers,
)
from gm_helpers.calorimeter.coding import Gaussianize, ShowerCoding, mirrored, rescale_layers
from gm_helpers.calorimeter.models import CaloFlow, CaloFlowMatching, CaloWGAN

__all__ = [
    "COPYING_THRESHOLD",
    "DEFAULT_LEADERBOARD",
    "SCORE_SEED",
    "TRAIN_SEED",
    "TRAIN_SIZE",
    "CaloFlow",
    "CaloFlowMatching",
    "CaloWGAN",
    "ChallengeScore",
    "Gaussianize",
    "ShowerCoding",
    "SimulatorGenerator",
    "copying_statistic",
    "memory_bytes",
    "mirrored",
    "rescale_layers",
    "score",
    "simulator_generator",
    "training_showers",
]
