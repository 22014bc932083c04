"""The monotonic rational-quadratic spline of Neural Spline Flows (Durkan et al., arXiv:1906.04032),
with the parameterization of the paper's reference code (linear tails, K - 1 interior derivatives)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["unconstrained_rational_quadratic_spline"]

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(_UNIT_SLOPE) + MIN_DERIVATIVE = 1: the boundary slope that joins the linear tails smoothly.
_UNIT_SLOPE = math.log(math.expm1(1 - MIN_DERIVATIVE))


def unconstrained_rational_quadratic_spline(
    inputs: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_derivatives: Tensor,
    inverse: bool = False,
    tail_bound: float = 3.0,
    min_bin_width: float = MIN_BIN_WIDTH,
    min_bin_height: float = MIN_BIN_HEIGHT,
    min_derivative: float = MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    r"""Monotonic rational-quadratic spline on [-B, B], identity (linear tails) outside.

    The K bins have widths w_k = m + (1 - m K) softmax(unnormalized_widths)_k (times 2B), and heights
    likewise; the K + 1 knot derivatives are d_k = m_d + softplus(u_k) inside, and exactly 1 at the
    two ends so the spline joins the identity tails with a continuous slope. Inside bin k, with
    xi = (x - x_k) / w_k and s_k = h_k / w_k,

    .. math:: g(x) = y_k + \frac{h_k [s_k \xi^2 + d_k \xi (1 - \xi)]}
                              {s_k + (d_{k+1} + d_k - 2 s_k) \xi (1 - \xi)}.

    The inverse solves a quadratic in xi (root in the numerically stable form 2c / (-b - sqrt(D))).

    Arguments:
        inputs: values, any shape (...).
        unnormalized_widths: (..., K) bin widths before the softmax.
        unnormalized_heights: (..., K) bin heights before the softmax.
        unnormalized_derivatives: (..., K - 1) interior knot derivatives before the softplus.
        inverse: evaluate g^{-1} instead of g.
        tail_bound: B, the half-width of the spline's interval.

    Returns:
        outputs (...) and log |dg/dx| (resp. log |dg^{-1}/dy|) (...).

    Robust by construction: the spline is evaluated on inputs clamped to [-B, B] and merged with the
    tails by ``torch.where``, so a batch entirely in the tails, inputs on the bound and a slightly
    negative discriminant (clamped to 0; the root clamped to its bin) give neither NaN values nor
    NaN gradients.

    References:
        Durkan et al., Neural Spline Flows (arXiv:1906.04032); Gregory & Delbourgo (1982).

    Example:
        >>> x = torch.linspace(-4, 4, 5)
        >>> w, h, d = torch.zeros(5, 8), torch.zeros(5, 8), torch.full((5, 7), _UNIT_SLOPE)
        >>> y, ladj = unconstrained_rational_quadratic_spline(x, w, h, d)  # identity parameters
        >>> torch.allclose(y, x), torch.allclose(ladj, torch.zeros(5), atol=1e-6)
        (True, True)
    """
    bins = unnormalized_widths.shape[-1]
    if unnormalized_heights.shape[-1] != bins or unnormalized_derivatives.shape[-1] != bins - 1:
        raise ValueError(
            f"expected K widths, K heights and K - 1 derivatives, got {unnormalized_widths.shape[-1]}, "
            f"{unnormalized_heights.shape[-1]} and {unnormalized_derivatives.shape[-1]}"
        )
    if min_bin_width * bins > 1 or min_bin_height * bins > 1:
        raise ValueError(f"minimal bin width/height too large for {bins} bins")
    bound = float(tail_bound)
    inside = (inputs >= -bound) & (inputs <= bound)
    clamped = inputs.clamp(-bound, bound)

    cumwidths, widths = _knots(unnormalized_widths, min_bin_width, bound)
    cumheights, heights = _knots(unnormalized_heights, min_bin_height, bound)
    unit = torch.ones_like(unnormalized_derivatives[..., :1])
    derivatives = torch.cat([unit, min_derivative + F.softplus(unnormalized_derivatives), unit], dim=-1)

    knots = cumheights if inverse else cumwidths
    k = torch.searchsorted(knots.contiguous(), clamped.unsqueeze(-1).contiguous(), right=True) - 1
    k = k.clamp(0, bins - 1)

    def at(table: Tensor) -> Tensor:
        return table.gather(-1, k).squeeze(-1)

    x_k, w_k, y_k, h_k = at(cumwidths), at(widths), at(cumheights), at(heights)
    d_k, d_k1 = at(derivatives[..., :-1]), at(derivatives[..., 1:])
    s_k = h_k / w_k
    curvature = d_k + d_k1 - 2 * s_k

    if inverse:
        dy = clamped - y_k
        a = dy * curvature + h_k * (s_k - d_k)
        b = h_k * d_k - dy * curvature
        c = -s_k * dy
        discriminant = (b.pow(2) - 4 * a * c).clamp(min=0)
        xi = ((2 * c) / (-b - torch.sqrt(discriminant))).clamp(0, 1)  # rounding can step out of the bin
        outputs = xi * w_k + x_k
    else:
        xi = (clamped - x_k) / w_k
    xi_1m_xi = xi * (1 - xi)
    denominator = s_k + curvature * xi_1m_xi
    numerator = s_k.pow(2) * (d_k1 * xi.pow(2) + 2 * s_k * xi_1m_xi + d_k * (1 - xi).pow(2))
    logabsdet = torch.log(numerator) - 2 * torch.log(denominator)
    if inverse:
        logabsdet = -logabsdet
    else:
        outputs = y_k + h_k * (s_k * xi.pow(2) + d_k * xi_1m_xi) / denominator

    outputs = torch.where(inside, outputs, inputs)
    logabsdet = torch.where(inside, logabsdet, torch.zeros_like(logabsdet))
    return outputs, logabsdet


def _knots(unnormalized: Tensor, minimum: float, bound: float) -> tuple[Tensor, Tensor]:
    """Knot positions (..., K + 1) on [-B, B] and bin sizes (..., K) from unnormalized sizes."""
    bins = unnormalized.shape[-1]
    sizes = minimum + (1 - minimum * bins) * torch.softmax(unnormalized, dim=-1)
    cum = F.pad(torch.cumsum(sizes, dim=-1), (1, 0))
    cum = 2 * bound * cum - bound
    cum = torch.cat(
        [torch.full_like(cum[..., :1], -bound), cum[..., 1:-1], torch.full_like(cum[..., :1], bound)], -1
    )
    return cum, cum[..., 1:] - cum[..., :-1]
