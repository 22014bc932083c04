"""gm_helpers: the small, GPU-aware helper package of the course 'Generative Models for Physics'.

The pedagogy lives in the notebooks; this package holds what would distract from it (data,
metrics, plotting, training boilerplate, exercise checks) and the models that two or more
notebooks share. Notebooks use it as ``import gm_helpers as gm``; submodules (``gm.data``,
``gm.metrics``, ``gm.gan``, ...) are imported on first use, so ``import gm_helpers`` stays quick.
"""

import importlib

from gm_helpers.core import get_device, quick_mode, seed_everything

_SUBMODULES = (
    "challenge",
    "checks",
    "data",
    "flows",
    "gan",
    "metrics",
    "notebooks",
    "plotting",
    "train",
    "vae",
)
__all__ = ["get_device", "quick_mode", "seed_everything", *_SUBMODULES]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"gm_helpers.{name}")
    raise AttributeError(f"module 'gm_helpers' has no attribute {name!r}")
