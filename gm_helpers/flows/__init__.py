"""Normalizing flows, in the order of lecture 04.

- ``gm.flows.spline``: the rational-quadratic spline of Neural Spline Flows;
- ``gm.flows.transforms``: invertible layers with their log-determinants (affine and spline
  couplings, masked autoregressive transforms, permutations, LU-linear maps);
- ``gm.flows.flow``: ``Flow`` (a transform towards a base distribution) and the builders
  ``realnvp`` and ``nsf``;
- ``gm.flows.training``: ``train_flow`` (maximum likelihood) and ``evaluate_nll``.

Everything is re-exported here: ``gm.flows.realnvp``, ``gm.flows.train_flow``, ...

References:
    Papamakarios et al., Normalizing Flows for Probabilistic Modeling and Inference (arXiv:1912.02762).
    Dinh et al., Density estimation using Real NVP (arXiv:1605.08803).
    Durkan et al., Neural Spline Flows (arXiv:1906.04032).
    Papamakarios et al., Masked Autoregressive Flow for Density Estimation (arXiv:1705.07057).
"""

from gm_helpers.flows.flow import Flow, StandardNormal, nsf, realnvp
from gm_helpers.flows.spline import unconstrained_rational_quadratic_spline
from gm_helpers.flows.training import evaluate_nll, train_flow
from gm_helpers.flows.transforms import (
    AffineCoupling,
    Composite,
    LULinear,
    MaskedAutoregressive,
    Permutation,
    RQSplineCoupling,
    Transform,
)

__all__ = [
    "AffineCoupling",
    "Composite",
    "Flow",
    "LULinear",
    "MaskedAutoregressive",
    "Permutation",
    "RQSplineCoupling",
    "StandardNormal",
    "Transform",
    "evaluate_nll",
    "nsf",
    "realnvp",
    "train_flow",
    "unconstrained_rational_quadratic_spline",
]
