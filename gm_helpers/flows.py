"""Normalizing flows: invertible transforms with tractable log-determinants, and the flows built from them.

Every transform maps data towards the base distribution (the *normalizing* direction) and back:
``forward(x, context=None) -> (z, logabsdet)`` and ``inverse(z, context=None) -> (x, logabsdet)``,
where ``logabsdet`` is log |det dz/dx| (resp. log |det dx/dz|), one value per sample. A flow then has

    log p(x | c) = log p_z(f(x; c)) + log |det df/dx|,

and samples as x = f^{-1}(z; c) with z ~ p_z. Conditional flows feed a context vector c to every
conditioner network.

References:
    Papamakarios et al., Normalizing Flows for Probabilistic Modeling and Inference (arXiv:1912.02762).
    Dinh et al., Density estimation using Real NVP (arXiv:1605.08803).
    Durkan et al., Neural Spline Flows (arXiv:1906.04032).
    Papamakarios et al., Masked Autoregressive Flow for Density Estimation (arXiv:1705.07057).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_helpers.train import infinite_batches, train_loop

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

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(_UNIT_SLOPE) + MIN_DERIVATIVE = 1: the boundary slope that joins the linear tails smoothly.
_UNIT_SLOPE = math.log(math.expm1(1 - MIN_DERIVATIVE))


# --------------------------------------------------------------------------------------------------
# The rational-quadratic spline
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Element-wise bijections whose parameters come from a conditioner network
# --------------------------------------------------------------------------------------------------


class _Affine:
    """z = x exp(s) + t with the soft-clamped log-scale s = c tanh(s_raw / c) (RealNVP)."""

    def __init__(self, scale_bound: float = 2.0):
        self.scale_bound = scale_bound
        self.n_params = 2

    def identity_params(self) -> Tensor:
        return torch.zeros(2)

    def __call__(self, x: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        log_scale = self.scale_bound * torch.tanh(params[..., 0] / self.scale_bound)
        shift = params[..., 1]
        if inverse:
            return (x - shift) * torch.exp(-log_scale), -log_scale
        return x * torch.exp(log_scale) + shift, log_scale


class _Spline:
    """Rational-quadratic spline with K bins on [-B, B] and linear tails (Neural Spline Flows)."""

    def __init__(self, bins: int = 8, tail_bound: float = 3.0):
        if bins < 2:
            raise ValueError(f"a spline needs at least 2 bins, got {bins}")
        self.bins, self.tail_bound = bins, tail_bound
        self.n_params = 3 * bins - 1

    def identity_params(self) -> Tensor:
        # Equal widths and heights and unit derivatives: the identity map.
        return torch.cat([torch.zeros(2 * self.bins), torch.full((self.bins - 1,), _UNIT_SLOPE)])

    def __call__(self, x: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        k = self.bins
        return unconstrained_rational_quadratic_spline(
            x, params[..., :k], params[..., k : 2 * k], params[..., 2 * k :], inverse, self.tail_bound
        )


def _mlp(in_features: int, out_features: int, hidden: Sequence[int]) -> nn.Sequential:
    layers, width = [], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def _check_input(x: Tensor, features: int, context: Tensor | None, context_features: int) -> None:
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"expected inputs of shape (batch, {features}), got {tuple(x.shape)}")
    if context_features and (context is None or context.shape != (x.shape[0], context_features)):
        got = None if context is None else tuple(context.shape)
        raise ValueError(f"expected a context of shape ({x.shape[0]}, {context_features}), got {got}")
    if not context_features and context is not None:
        raise ValueError("this transform takes no context (context_features=0), but one was given")


# --------------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------------


class Transform(nn.Module):
    """An invertible map with its log |det Jacobian|: the interface of every flow layer.

    Subclasses implement ``forward(x, context=None) -> (z, logabsdet)`` (data towards the base) and
    ``inverse(z, context=None) -> (x, logabsdet)``; ``logabsdet`` has shape (batch,).
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class Composite(Transform):
    """The composition f = f_L o ... o f_1 of ``transforms`` (applied first to last); log-dets add up."""

    def __init__(self, transforms: Iterable[Transform]):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for transform in self.transforms:
            x, logabsdet = transform(x, context)
            total = total + logabsdet
        return x, total

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for transform in reversed(self.transforms):
            z, logabsdet = transform.inverse(z, context)
            total = total + logabsdet
        return z, total


class Permutation(Transform):
    """z = x[:, perm]: a reordering of the features (log-det 0).

    Arguments:
        perm: a permutation of 0..D-1, or ``"reverse"``, or ``"random"`` (with ``features`` and ``seed``).

    Example:
        >>> Permutation("reverse", features=3)(torch.tensor([[1.0, 2.0, 3.0]]))[0]
        tensor([[3., 2., 1.]])
    """

    def __init__(self, perm: Sequence[int] | Tensor | str, features: int | None = None, seed: int = 0):
        super().__init__()
        if isinstance(perm, str):
            if features is None:
                raise ValueError(f"Permutation({perm!r}) needs the number of features")
            if perm == "reverse":
                perm = torch.arange(features - 1, -1, -1)
            elif perm == "random":
                perm = torch.randperm(features, generator=torch.Generator().manual_seed(seed))
            else:
                raise ValueError(f"perm must be 'reverse', 'random' or a permutation, got {perm!r}")
        perm = torch.as_tensor(perm, dtype=torch.long)
        if not torch.equal(perm.sort().values, torch.arange(len(perm))):
            raise ValueError(f"not a permutation of 0..{len(perm) - 1}: {perm.tolist()}")
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z[:, self.inverse_perm], z.new_zeros(z.shape[0])


class LULinear(Transform):
    """A learnable invertible linear map z = W x + b with W = L U (Glow, arXiv:1807.03039).

    L is unit lower-triangular and U upper-triangular with diagonal exp(log_diag), so
    log |det W| = sum(log_diag) costs O(D) and the inverse is two triangular solves. Starts as the
    identity.
    """

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.lower = nn.Parameter(torch.zeros(features, features))
        self.upper = nn.Parameter(torch.zeros(features, features))
        self.log_diag = nn.Parameter(torch.zeros(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.features, dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower.tril(-1) + eye
        upper = self.upper.triu(1) + torch.diag(self.log_diag.exp())
        return lower, upper

    def weight(self) -> Tensor:
        """The matrix W = L U."""
        lower, upper = self._factors()
        return lower @ upper

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z = x @ self.weight().T + self.bias
        return z, self.log_diag.sum().expand(x.shape[0])

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lower, upper = self._factors()
        many = z.shape[0] > self.features  # many samples: solve for W^-1 once, then one matmul (faster)
        rhs = torch.eye(self.features, dtype=z.dtype, device=z.device) if many else (z - self.bias).T
        y = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
        solved = torch.linalg.solve_triangular(upper, y, upper=True)  # W^-1 or W^-1 (z - b)^T
        x = (z - self.bias) @ solved.T if many else solved.T
        return x, -self.log_diag.sum().expand(z.shape[0])


class _Coupling(Transform):
    """Coupling layer: the features where ``mask`` is True are transformed element-wise with
    parameters computed by an MLP from the other features (and the context); the rest pass through.
    The Jacobian is block-triangular, so log |det| is the sum of the element-wise log-derivatives."""

    def __init__(self, features, elementwise, context_features, hidden, mask):
        super().__init__()
        if features < 2:
            raise ValueError(f"a coupling layer needs at least 2 features, got {features}")
        mask = torch.arange(features) % 2 == 1 if mask is None else torch.as_tensor(mask, dtype=torch.bool)
        if mask.shape != (features,) or mask.all() or not mask.any():
            raise ValueError(f"mask must be a boolean vector of length {features} with both values")
        self.features, self.context_features, self.elementwise = features, context_features, elementwise
        self.register_buffer("transformed", mask.nonzero().squeeze(1))
        self.register_buffer("identity", (~mask).nonzero().squeeze(1))
        n_t = len(self.transformed)
        self.net = _mlp(features - n_t + context_features, n_t * elementwise.n_params, hidden)
        nn.init.zeros_(self.net[-1].weight)  # a new layer is the identity map
        with torch.no_grad():
            self.net[-1].bias.copy_(elementwise.identity_params().repeat(n_t))

    def _couple(self, x: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        _check_input(x, self.features, context, self.context_features)
        condition = x[:, self.identity]
        if context is not None:
            condition = torch.cat([condition, context], dim=1)
        params = self.net(condition).view(x.shape[0], len(self.transformed), self.elementwise.n_params)
        y, logabsdet = self.elementwise(x[:, self.transformed], params, inverse)
        out = x.clone()
        out[:, self.transformed] = y
        return out, logabsdet.sum(1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(x, context, inverse=False)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(z, context, inverse=True)


class AffineCoupling(_Coupling):
    r"""RealNVP affine coupling: z_B = x_B exp(s(x_A, c)) + t(x_A, c), z_A = x_A.

    The log-scale is soft-clamped, s = b tanh(s_raw / b) with b = ``scale_bound``, so deep stacks
    cannot blow up; log |det| = sum s. The last layer of the MLP starts at zero: a new layer is the
    identity.

    Arguments:
        features: dimension D.
        context_features: dimension of the context vector (0: unconditional).
        hidden: widths of the conditioner MLP's hidden layers.
        mask: boolean (D,), True for the transformed features x_B (default: odd indices).
        scale_bound: b, the largest |log-scale|.

    References:
        Dinh et al., Density estimation using Real NVP (arXiv:1605.08803).
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        hidden: Sequence[int] = (64, 64),
        mask: Sequence[bool] | Tensor | None = None,
        scale_bound: float = 2.0,
    ):
        super().__init__(features, _Affine(scale_bound), context_features, hidden, mask)


class RQSplineCoupling(_Coupling):
    """Rational-quadratic spline coupling: z_B = g(x_B; theta(x_A, c)), z_A = x_A, with K bins on
    [-B, B] and linear tails (see ``unconstrained_rational_quadratic_spline``). Starts as the identity.

    Arguments:
        features: dimension D.
        context_features: dimension of the context vector (0: unconditional).
        hidden: widths of the conditioner MLP's hidden layers.
        mask: boolean (D,), True for the transformed features (default: odd indices).
        bins: K.
        tail_bound: B.

    References:
        Durkan et al., Neural Spline Flows (arXiv:1906.04032).
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        hidden: Sequence[int] = (64, 64),
        mask: Sequence[bool] | Tensor | None = None,
        bins: int = 8,
        tail_bound: float = 3.0,
    ):
        super().__init__(features, _Spline(bins, tail_bound), context_features, hidden, mask)


class _MaskedLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, mask: Tensor):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MaskedAutoregressive(Transform):
    """Masked autoregressive transform (MAF): z_i = tau(x_i; theta_i(x_{<i}, c)), with all theta_i
    from one MADE network whose weight masks hide x_{>=i} from theta_i.

    The density direction (``forward``) takes one network pass; ``inverse`` (sampling) takes D
    passes. The Jacobian is triangular; log |det| = sum_i log |dtau/dx_i|.

    Arguments:
        features: dimension D.
        context_features: dimension of the context (connected to every output).
        hidden: widths of the MADE hidden layers.
        transform: ``"spline"`` (rational-quadratic, ``bins``, ``tail_bound``) or ``"affine"``.

    References:
        Germain et al., MADE (arXiv:1502.03509); Papamakarios et al., MAF (arXiv:1705.07057);
        Durkan et al., Neural Spline Flows (arXiv:1906.04032).
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        hidden: Sequence[int] = (64, 64),
        transform: str = "spline",
        bins: int = 8,
        tail_bound: float = 3.0,
    ):
        super().__init__()
        if transform not in ("spline", "affine"):
            raise ValueError(f"transform must be 'spline' or 'affine', got {transform!r}")
        self.elementwise = _Spline(bins, tail_bound) if transform == "spline" else _Affine()
        self.features, self.context_features = features, context_features
        p = self.elementwise.n_params
        degree_in = torch.cat(
            [torch.arange(1, features + 1), torch.zeros(context_features, dtype=torch.long)]
        )
        layers, previous = [], degree_in
        for width in hidden:
            degree = torch.arange(width) % max(1, features - 1) + 1
            layers += [_MaskedLinear(len(previous), width, degree[:, None] >= previous[None, :]), nn.ReLU()]
            previous = degree
        degree_out = torch.arange(1, features + 1).repeat_interleave(p)  # output d * p + j -> feature d
        layers.append(_MaskedLinear(len(previous), features * p, degree_out[:, None] > previous[None, :]))
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():
            self.net[-1].bias.copy_(self.elementwise.identity_params().repeat(features))

    def _params(self, x: Tensor, context: Tensor | None) -> Tensor:
        inputs = x if context is None else torch.cat([x, context], dim=1)
        return self.net(inputs).view(x.shape[0], self.features, self.elementwise.n_params)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_input(x, self.features, context, self.context_features)
        z, logabsdet = self.elementwise(x, self._params(x, context), inverse=False)
        return z, logabsdet.sum(1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_input(z, self.features, context, self.context_features)
        x = torch.zeros_like(z)
        for _ in range(self.features):  # after pass i, x_1..x_i are exact
            x, logabsdet = self.elementwise(z, self._params(x, context), inverse=True)
        return x, logabsdet.sum(1)


# --------------------------------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------------------------------


class StandardNormal(nn.Module):
    """The base distribution N(0, I_D), as a module so that it follows the flow's device and dtype."""

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.register_buffer("_anchor", torch.zeros(()))  # carries the device and dtype

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2).sum(1) + self.features * math.log(2 * math.pi))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.features, generator=generator, dtype=self._anchor.dtype)
        return z.to(self._anchor.device)


class Flow(nn.Module):
    """A normalizing flow: a transform f towards a base distribution p_z.

    log p(x | c) = log p_z(f(x; c)) + log |det df/dx|;  sampling: x = f^{-1}(z; c), z ~ p_z.

    Arguments:
        transform: a ``Transform``, or a list of them (composed in order, data to base).
        base: the base distribution, a module with ``log_prob(z)`` and ``sample(n)``
            (default ``StandardNormal(features)``).
        features: D, needed when ``base`` is not given.

    Example:
        >>> flow = realnvp(2, layers=2)
        >>> flow.log_prob(torch.zeros(1, 2))  # a new flow is the identity: log N(0; 0, I)
        tensor([-1.8379], grad_fn=<AddBackward0>)
    """

    def __init__(
        self,
        transform: Transform | Iterable[Transform],
        base: nn.Module | None = None,
        features: int | None = None,
    ):
        super().__init__()
        if base is None:
            if features is None:
                raise ValueError("give the base distribution or the number of features")
            base = StandardNormal(features)
        self.transform = transform if isinstance(transform, Transform) else Composite(transform)
        self.base = base

    @property
    def features(self) -> int:
        return self.base.features

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context), shape (batch,)."""
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"expected x of shape (batch, {self.features}), got {tuple(x.shape)}")
        z, logabsdet = self.transform(x, context)
        return self.base.log_prob(z) + logabsdet

    def _context(self, n: int, context: Tensor | None) -> Tensor | None:
        if context is None or context.ndim == 2:
            return context
        return context.expand(n, -1)

    def sample_and_log_prob(
        self, n: int, context: Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """n samples and their log p, from one pass: log p(x) = log p_z(z) - log |det dx/dz|.

        ``context`` is (context_features,), shared by all samples, or (n, context_features).
        """
        context = self._context(n, context)
        z = self.base.sample(n, generator)
        x, logabsdet = self.transform.inverse(z, context)
        return x, self.base.log_prob(z) - logabsdet

    def sample(
        self, n: int, context: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """n samples x = f^{-1}(z; context), shape (n, D). See ``sample_and_log_prob`` for ``context``."""
        return self.sample_and_log_prob(n, context, generator)[0]


def realnvp(
    features: int,
    context_features: int = 0,
    layers: int = 8,
    hidden: Sequence[int] = (64, 64),
    scale_bound: float = 2.0,
    linear: bool = False,
) -> Flow:
    """A RealNVP flow: ``layers`` affine couplings with alternating masks (and, with ``linear``, a
    learnable LU linear layer between them to mix the features).

    Example:
        >>> realnvp(2, layers=4).sample(3).shape
        torch.Size([3, 2])
    """
    return Flow(
        _stack(
            features,
            layers,
            linear,
            lambda mask: AffineCoupling(features, context_features, hidden, mask, scale_bound),
        ),
        features=features,
    )


def nsf(
    features: int,
    context_features: int = 0,
    bins: int = 8,
    layers: int = 4,
    hidden: Sequence[int] = (64, 64),
    tail_bound: float = 3.0,
    autoregressive: bool = False,
    linear: bool = False,
) -> Flow:
    """A Neural Spline Flow: ``layers`` rational-quadratic spline couplings with alternating masks
    (or MAF-style autoregressive spline transforms with ``autoregressive=True``, the order reversed
    between them), optionally with LU linear layers in between.

    References:
        Durkan et al., Neural Spline Flows (arXiv:1906.04032).

    Example:
        >>> flow = nsf(3, context_features=1, bins=8)
        >>> flow.sample(5, context=torch.ones(1)).shape
        torch.Size([5, 3])
    """
    if autoregressive:
        transforms = []
        for i in range(layers):
            if i:
                transforms.append(LULinear(features) if linear else Permutation("reverse", features))
            transforms.append(
                MaskedAutoregressive(features, context_features, hidden, "spline", bins, tail_bound)
            )
        return Flow(transforms, features=features)
    return Flow(
        _stack(
            features,
            layers,
            linear,
            lambda mask: RQSplineCoupling(features, context_features, hidden, mask, bins, tail_bound),
        ),
        features=features,
    )


def _stack(features: int, layers: int, linear: bool, make: Callable[[Tensor], Transform]) -> list[Transform]:
    if features < 2:
        raise ValueError(f"coupling flows need at least 2 features, got {features}")
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    transforms = []
    for i in range(layers):
        if linear and i:
            transforms.append(LULinear(features))
        transforms.append(make(torch.arange(features) % 2 == (i + 1) % 2))
    return transforms


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _nll(flow: Flow, x: Tensor, context: Tensor | None, preprocess) -> Tensor:
    if preprocess is None:
        return -flow.log_prob(x, context)
    y, logdet = preprocess(x)
    return -(flow.log_prob(y, context) + logdet)


def train_flow(
    flow: Flow,
    data: Tensor,
    context: Tensor | None = None,
    *,
    val_data: Tensor | None = None,
    val_context: Tensor | None = None,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    cosine: bool = True,
    clip: float = 5.0,
    eval_every: int = 100,
    patience: int | None = None,
    preprocess: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "flow",
) -> dict[str, list[float]]:
    """Fit ``flow`` by maximum likelihood: minimize the NLL -E[log p(x | c)] with Adam.

    Arguments:
        flow: the flow (moved to ``device``, default ``gm.get_device()``).
        data, context: training inputs (N, D) and contexts (N, C) or None.
        val_data, val_context: validation set; its NLL is computed every ``eval_every`` steps, and
            the flow ends with the parameters of the best validation NLL.
        steps, batch_size, lr: optimization budget; ``cosine`` decays lr to 0; ``clip`` is the
            gradient-norm clip (0: none).
        patience: stop early after this many evaluations without a better validation NLL.
        preprocess: maps a batch x to (y, logdet) with log p(x) = log p_flow(y) + logdet, e.g.
            dequantization (``gm.data.dequantize``); a module's parameters are trained too.

    Returns:
        History: ``nll`` per step, and ``val_step``, ``val_nll`` per evaluation (mean nats per sample).
    """
    from gm_helpers.core import get_device

    device = torch.device(device) if device is not None else get_device()
    flow.to(device)
    parameters = list(flow.parameters())
    if isinstance(preprocess, nn.Module):
        preprocess.to(device)
        parameters += list(preprocess.parameters())
    optimizer = torch.optim.Adam(parameters, lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    tensors = (data,) if context is None else (data, context)
    batches = infinite_batches(*tensors, batch_size=min(batch_size, len(data)), seed=seed, device=device)
    best = {"nll": math.inf, "state": None, "bad": 0}
    record: dict[str, list[float]] = {"val_step": [], "val_nll": []}

    def step(i: int) -> dict[str, Tensor]:
        batch = next(batches)
        loss = _nll(flow, batch[0], batch[1] if len(batch) > 1 else None, preprocess).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"nll": loss}

    def evaluate(i: int, history: dict[str, list[float]]) -> bool:
        value = evaluate_nll(flow, val_data, val_context, preprocess=preprocess)
        record["val_step"].append(i)
        record["val_nll"].append(value)
        if value < best["nll"]:
            best.update(nll=value, state=copy.deepcopy(flow.state_dict()), bad=0)
        else:
            best["bad"] += 1
        return patience is not None and best["bad"] >= patience  # True: stop early

    flow.train()
    history = train_loop(
        step,
        steps,
        desc=desc,
        progress=progress,
        callback=evaluate if val_data is not None else None,
        callback_every=eval_every,
        hint="a learning rate that is too high, or data far outside the spline's tail bound",
    )
    flow.eval()
    if best["state"] is not None:
        flow.load_state_dict(best["state"])
    history.update(val_step=record["val_step"], val_nll=record["val_nll"])
    return history


@torch.no_grad()
def evaluate_nll(
    flow: Flow,
    data: Tensor,
    context: Tensor | None = None,
    batch_size: int = 4096,
    preprocess: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
) -> float:
    """Mean negative log-likelihood -E[log p(x | c)] (nats per sample) over ``data``, in batches."""
    device = next(flow.parameters()).device
    total = 0.0
    for start in range(0, len(data), batch_size):
        x = data[start : start + batch_size].to(device)
        c = None if context is None else context[start : start + batch_size].to(device)
        total += float(_nll(flow, x, c, preprocess).sum())
    return total / len(data)
