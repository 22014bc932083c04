"""Lecture 07, physics: simulation-based inference of a gravitational-wave-like signal.

The simulator (a chirp in Gaussian noise, with its exact likelihood) lives in ``gm.data.chirp``;
the methods of the lecture live here:

- ``gm.inference.npe``: neural posterior estimation, ``NPE`` (a conditional spline flow q(theta | x)
  with DINGO's ``SVDEmbedding`` of the data), trained on simulations with fresh noise;
- ``gm.inference.calibration``: ``ranks`` of the true parameters, ``expected_coverage``, the P-P
  curve ``pp_curve``, ``coverage_error``, and the joint ``hpd_levels``;
- ``gm.inference.exact``: what an exact likelihood buys: a nested-sampling ``reference_posterior``
  (dynesty) and ``importance_sample`` (weights, effective sample size, efficiency, evidence).

References:
    Green, Gair, "Complete parameter inference for GW150914 using deep learning", arXiv:2008.03312.
    Dax et al., "Real-time gravitational wave science with neural posterior estimation", arXiv:2106.12594.
    Dax et al., "Neural importance sampling for rapid and reliable gravitational-wave inference",
    arXiv:2210.05686.
    Talts et al., "Validating Bayesian inference algorithms with simulation-based calibration",
    arXiv:1804.06788.
"""

from gm_helpers.inference import calibration
from gm_helpers.inference.exact import (
    ImportanceSamples,
    ReferencePosterior,
    effective_sample_size,
    importance_sample,
    reference_posterior,
)
from gm_helpers.inference.npe import NPE, SVDEmbedding

__all__ = [
    "NPE",
    "ImportanceSamples",
    "ReferencePosterior",
    "SVDEmbedding",
    "calibration",
    "effective_sample_size",
    "importance_sample",
    "reference_posterior",
]
