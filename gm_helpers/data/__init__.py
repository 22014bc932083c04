"""Datasets of the course, all made or loaded locally: nothing here ever downloads."""

from gm_helpers.data.mnist import load_mnist
from gm_helpers.data.toy import TOY2D_NAMES, toy2d, toy2d_modes

__all__ = ["TOY2D_NAMES", "load_mnist", "toy2d", "toy2d_modes"]
