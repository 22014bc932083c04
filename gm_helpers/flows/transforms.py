"""Invertible transforms with tractable log-determinants: the layers flows are built from.

Every transform maps data towards the base distribution (the *normalizing* direction) and back:
``forward(x, context=None) -> (z, logabsdet)`` and ``inverse(z, context=None) -> (x, logabsdet)``,
where ``logabsdet`` is log |det dz/dx| (resp. log |det dx/dz|), one value per sample. Coupling and
autoregressive layers compute the parameters of an element-wise bijection (affine, or a spline)
with a conditioner network that sees the other features and the context vector.

References:
    Dinh et al., Density estimation using Real NVP (arXiv:1605.08803).
    Durkan et al., Neural Spline Flows (arXiv:1906.04032).
    Papamakarios et al., Masked Autoregressive Flow for Density Estimation (arXiv:1705.07057).
    Kingma and Dhariwal, Glow (arXiv:1807.03039).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_helpers.flows.spline import _UNIT_SLOPE, unconstrained_rational_quadratic_spline
from gm_helpers.nets import mlp

__all__ = [
    "AffineCoupling",
    "Composite",
    "LULinear",
    "MaskedAutoregressive",
    "Permutation",
    "RQSplineCoupling",
    "Transform",
]


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


def _check_input(x: Tensor, features: int, context: Tensor | None, context_features: int) -> None:
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"expected inputs of shape (batch, {features}), got {tuple(x.shape)}")
    if context_features and (context is None or context.shape != (x.shape[0], context_features)):
        got = None if context is None else tuple(context.shape)
        raise ValueError(f"expected a context of shape ({x.shape[0]}, {context_features}), got {got}")
    if not context_features and context is not None:
        raise ValueError("this transform takes no context (context_features=0), but one was given")


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
        self.net = mlp(features - n_t + context_features, n_t * elementwise.n_params, hidden)
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
