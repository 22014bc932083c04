"""gm_helpers: the small, GPU-aware helper package of the course 'Generative Models for Physics'.

The pedagogy lives in the notebooks; this package holds what would distract from it (data,
metrics, plotting, training boilerplate, exercise checks) and the models that two or more
notebooks share. Notebooks use it as ``import gm_helpers as gm``.
"""

from gm_helpers import checks, data, metrics, plotting, train
from gm_helpers.core import get_device, quick_mode, seed_everything

__all__ = [
    "checks",
    "data",
    "get_device",
    "metrics",
    "plotting",
    "quick_mode",
    "seed_everything",
    "train",
]
__version__ = "0.1.0"
