"""Input checks the simulators share: a seed that may also be a numpy Generator, and a count."""

from __future__ import annotations

import numbers

import numpy as np


def generator(seed) -> np.random.Generator:
    """A numpy Generator from ``seed`` (a non-negative integer or None), or ``seed`` itself if it is one."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be a non-negative integer, None or a numpy Generator, got {seed!r}")


def count(n, what: str) -> int:
    """``n`` as an int; a ValueError naming ``what`` ("the number of tracks") unless it is a
    non-negative integer."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {n!r}")
    return int(n)
