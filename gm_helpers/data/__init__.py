"""Datasets of the course, all made or loaded locally: nothing here ever downloads.

The physics stand-ins, ``gm.data.calorimeter`` (the CaloGAN-geometry shower simulator, lecture 05),
``gm.data.lhco`` (LHC Olympics-style dijets, lecture 06), ``gm.data.chirp`` (gravitational-wave-like
chirps with an exact likelihood, lecture 07), ``gm.data.pid`` (RICH particle identification,
lecture 08) and ``gm.data.mammo`` (mammogram-like phantoms with power-law tissue texture, lecture 09),
and the dequantization helpers
(``gm.data.dequantize``) are imported on first use.
"""

import importlib

from gm_helpers.data.mnist import load_mnist
from gm_helpers.data.toy import TOY2D_NAMES, toy2d, toy2d_modes

__all__ = [
    "TOY2D_NAMES",
    "calorimeter",
    "chirp",
    "dequantize",
    "lhco",
    "load_mnist",
    "mammo",
    "pid",
    "toy2d",
    "toy2d_modes",
]
_SIMULATORS = ("calorimeter", "chirp", "lhco", "mammo", "pid")


def __getattr__(name: str):
    if name in _SIMULATORS:
        return importlib.import_module(f"gm_helpers.data.{name}")
    dequantization = importlib.import_module("gm_helpers.data.dequantization")
    if name in dequantization.__all__:
        return getattr(dequantization, name)
    raise AttributeError(f"module 'gm_helpers.data' has no attribute {name!r}")
