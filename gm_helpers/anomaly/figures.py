"""Figures of merit of an anomaly score: the ROC curve and the significance improvement (SIC).

A score ranks events; cutting on it keeps a fraction eps_S of the signal and eps_B of the
background. In a counting experiment with S signal and B background events, the cut turns the
significance S / sqrt(B) into eps_S S / sqrt(eps_B B): it is improved by the factor

    SIC = eps_S / sqrt(eps_B).

SIC = 1 is no gain (a random cut); the LHC Olympics papers quote its maximum over the cuts. At
tiny eps_B the SIC is dominated by the noise of the few background events left, so the curve is
cut where fewer than ``min_background`` background events pass (50 by default; a common choice is
a relative error of eps_B below ~15-20 %, i.e. 25-50 events).

References:
    Collins, Howe, Nachman, arXiv:1805.02664; Hallin et al. (CATHODE), arXiv:2109.00546.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from gm_helpers.core import to_numpy

__all__ = ["max_sic", "roc", "sic_curve"]


def _checked(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(to_numpy(scores), dtype=np.float64).reshape(-1)
    labels = np.asarray(to_numpy(labels)).reshape(-1)
    if len(scores) != len(labels):
        raise ValueError(f"scores and labels differ in length: {len(scores)} and {len(labels)}")
    if np.isnan(scores).any():
        raise ValueError(f"scores contain {int(np.isnan(scores).sum())} NaN values")
    if labels.dtype != bool and not np.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be 0/1 (or booleans): 1 = signal, 0 = background")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("labels must contain both signal (1) and background (0) events")
    return scores, labels


def roc(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of ``scores`` (higher = more signal-like) against truth ``labels`` (1 = signal).

    Returns ``(eps_b, eps_s, thresholds)``: the background and signal efficiencies of the cut
    ``score >= threshold``, for every distinct threshold (``sklearn.metrics.roc_curve``), from the
    tightest cut (nothing passes) to the loosest (everything passes).

    Example:
        >>> eps_b, eps_s, _ = roc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
        >>> eps_b.tolist(), eps_s.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    scores, labels = _checked(scores, labels)
    eps_b, eps_s, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    return eps_b, eps_s, thresholds


def sic_curve(scores, labels, min_background: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The SIC curve: ``(eps_s, sic)`` with sic = eps_S / sqrt(eps_B), for every cut on ``scores``
    that at least ``min_background`` background events pass (the floor against the statistical
    noise at tiny eps_B; see the module docstring).

    Raises:
        ValueError: mismatched lengths, labels other than 0/1, no signal or no background, NaN
            scores, or fewer than ``min_background`` background events in all.

    Example:
        >>> eps_s, sic = sic_curve([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], min_background=1)
        >>> eps_s.tolist(), np.round(sic, 3).tolist()
        ([0.5, 1.0, 1.0], [0.707, 1.414, 1.0])
    """
    if not isinstance(min_background, int | np.integer) or min_background < 1:
        raise ValueError(f"min_background must be an integer >= 1, got {min_background!r}")
    eps_b, eps_s, _ = roc(scores, labels)
    n_background = int(np.sum(~np.asarray(to_numpy(labels)).reshape(-1).astype(bool)))
    if n_background < min_background:
        raise ValueError(f"only {n_background} background events, fewer than min_background={min_background}")
    passing = np.rint(eps_b * n_background)  # background events that pass each cut
    keep = passing >= min_background
    return eps_s[keep], eps_s[keep] / np.sqrt(eps_b[keep])


def max_sic(scores, labels, min_background: int = 50) -> float:
    """The maximum of the SIC curve (``sic_curve``): the best significance improvement of a cut.

    Example:
        >>> round(max_sic([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], min_background=1), 6)
        1.414214
    """
    return float(np.max(sic_curve(scores, labels, min_background)[1]))
