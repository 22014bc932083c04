"""Is a posterior estimate calibrated? Ranks of the true parameters and expected coverage.

Draw (theta*, x) from the prior and the simulator; a posterior estimate q(theta | x) is calibrated
when, over many such pairs, the true theta* falls inside its x% credible region x% of the time
(Talts et al., simulation-based calibration, arXiv:1804.06788; Hermans et al., "A trust crisis in
simulation-based inference?", arXiv:2110.06581). Everything follows from one number per pair and
parameter, the *rank*: the fraction of posterior samples below the true value. For a calibrated
posterior the ranks are uniform on [0, 1]:

- the P-P plot (bilby's and DINGO's convention) draws the empirical CDF of the ranks against the
  credible level: on the diagonal when calibrated;
- the expected coverage of the central credible interval of level alpha is the fraction of pairs
  with |rank - 1/2| <= alpha / 2: below the diagonal means overconfident (intervals too narrow),
  above it underconfident (too wide).

For the joint posterior the same idea ranks the density: the true parameters' highest-posterior-
density level is the fraction of samples with q(theta | x) > q(theta* | x) (Deistler et al.,
"Truncated proposals for scalable and hassle-free simulation-based inference", arXiv:2210.04815).
"""

from __future__ import annotations

import numpy as np

from gm_helpers.core import to_numpy

__all__ = ["coverage_error", "expected_coverage", "hpd_levels", "pp_curve", "ranks"]

LEVELS = np.linspace(0.0, 1.0, 21)


def ranks(samples, truths) -> np.ndarray:
    """The fraction of posterior samples below each true value: (m, d) from ``samples`` (m, n, d)
    (n posterior samples for each of m observations) and ``truths`` (m, d)."""
    samples = np.asarray(to_numpy(samples), dtype=np.float64)
    truths = np.asarray(to_numpy(truths), dtype=np.float64)
    if samples.ndim == 2:
        samples = samples[..., None]
    if truths.ndim == 1:
        truths = truths[:, None]
    if samples.ndim != 3 or truths.shape != (samples.shape[0], samples.shape[2]):
        raise ValueError(
            f"samples must be (m, n, d) and truths (m, d); got {samples.shape} and {truths.shape}"
        )
    if not (np.all(np.isfinite(samples)) and np.all(np.isfinite(truths))):
        raise ValueError("samples and truths must be finite")
    return np.mean(samples < truths[:, None, :], axis=1)


def _ranks_array(r) -> np.ndarray:
    r = np.asarray(to_numpy(r), dtype=np.float64)
    r = r[:, None] if r.ndim == 1 else r
    if r.ndim != 2 or not len(r):
        raise ValueError(f"ranks must be (m,) or (m, d) with m >= 1, got shape {r.shape}")
    if np.any(~np.isfinite(r)) or np.any((r < 0) | (r > 1)):
        raise ValueError("ranks must lie in [0, 1] (fractions of posterior samples below the truth)")
    return r


def _levels(levels) -> np.ndarray:
    levels = LEVELS if levels is None else np.asarray(levels, dtype=np.float64).reshape(-1)
    if not len(levels) or not np.all(np.isfinite(levels)) or np.any((levels < 0) | (levels > 1)):
        raise ValueError("credible levels must be a non-empty sequence of numbers in [0, 1]")
    return levels


def expected_coverage(r, levels=None) -> np.ndarray:
    """The fraction of observations whose true value lies inside the central credible interval of
    each level alpha: (len(levels), d) from ranks (m, d). Calibrated: equal to alpha."""
    r, levels = _ranks_array(r), _levels(levels)
    return np.mean(np.abs(r[None] - 0.5) <= levels[:, None, None] / 2, axis=1)


def pp_curve(r, levels=None) -> np.ndarray:
    """The P-P plot: the empirical CDF of the ranks at each level, (len(levels), d): the fraction
    of observations whose true value lies below the ``level`` quantile of its posterior."""
    r, levels = _ranks_array(r), _levels(levels)
    return np.mean(r[None] <= levels[:, None, None], axis=1)


def coverage_error(r, levels=None) -> np.ndarray:
    """The largest |expected coverage - level| over the levels, per parameter (d,)."""
    levels = _levels(levels)
    return np.max(np.abs(expected_coverage(r, levels) - levels[:, None]), axis=0)


def hpd_levels(log_q_samples, log_q_truth) -> np.ndarray:
    """The credibility of the smallest (highest-density) region that holds the truth: the
    fraction of posterior samples denser than the true parameters, (m,) from the log-densities
    of n samples per observation (m, n) and of the truths (m,). Calibrated: uniform on [0, 1];
    ``expected_coverage`` of the joint posterior is then ``np.mean(levels >= hpd[:, None], 0)``."""
    log_q_samples = np.asarray(to_numpy(log_q_samples), dtype=np.float64)
    log_q_truth = np.asarray(to_numpy(log_q_truth), dtype=np.float64).reshape(-1)
    if log_q_samples.ndim != 2 or len(log_q_samples) != len(log_q_truth):
        raise ValueError(
            f"need (m, n) and (m,) log-densities, got {log_q_samples.shape} and {log_q_truth.shape}"
        )
    return np.mean(log_q_samples > log_q_truth[:, None], axis=1)
