"""A normalizing flow: a transform f towards a base distribution p_z, and the builders of the lecture.

    log p(x | c) = log p_z(f(x; c)) + log |det df/dx|,    sampling: x = f^{-1}(z; c), z ~ p_z.

The condition c is read through ``gm_helpers.nets.Condition`` (a context vector, or a class label
embedded into one) and handed to every conditioner network.

References:
    Papamakarios et al., Normalizing Flows for Probabilistic Modeling and Inference (arXiv:1912.02762).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from gm_helpers.flows.transforms import (
    AffineCoupling,
    Composite,
    LULinear,
    MaskedAutoregressive,
    Permutation,
    RQSplineCoupling,
    Transform,
)
from gm_helpers.model import Model, built_by
from gm_helpers.nets import Condition

__all__ = ["Flow", "StandardNormal", "nsf", "realnvp"]


class StandardNormal(nn.Module):
    """The base distribution N(0, I_D), as a module so that it follows the flow's device and dtype."""

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries device and dtype

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2).sum(1) + self.features * math.log(2 * math.pi))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.features, generator=generator, dtype=self._anchor.dtype)
        return z.to(self._anchor.device)


def _context_features(transform: Transform) -> int:
    return max((getattr(t, "context_features", 0) for t in transform.modules()), default=0)


class Flow(Model):
    """A normalizing flow: a transform f towards a base distribution p_z.

    log p(x | c) = log p_z(f(x; c)) + log |det df/dx|;  sampling: x = f^{-1}(z; c), z ~ p_z.

    Arguments:
        transform: a ``Transform``, or a list of them (composed in order, data to base).
        base: the base distribution, a module with ``log_prob(z)`` and ``sample(n)``
            (default ``StandardNormal(features)``).
        features: D, needed when ``base`` is not given.
        condition: how the flow reads its condition (``gm.nets.Condition``); by default a context
            vector of the width the transforms expect (none for unconditional transforms).

    Example:
        >>> flow = realnvp(2, transforms=2)
        >>> flow.log_prob(torch.zeros(1, 2))  # a new flow is the identity: log N(0; 0, I)
        tensor([-1.8379], grad_fn=<AddBackward0>)
    """

    def __init__(
        self,
        transform: Transform | Iterable[Transform],
        base: nn.Module | None = None,
        features: int | None = None,
        condition: Condition | None = None,
    ):
        super().__init__()
        if base is None:
            if features is None:
                raise ValueError("give the base distribution or the number of features")
            base = StandardNormal(features)
        self.transform = transform if isinstance(transform, Transform) else Composite(transform)
        self.base = base
        self.condition = condition or Condition(context_features=_context_features(self.transform))

    @property
    def features(self) -> int:
        return self.base.features

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context), shape (batch,)."""
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"expected x of shape (batch, {self.features}), got {tuple(x.shape)}")
        z, logabsdet = self.transform(x, self.condition(context, len(x)))
        return self.base.log_prob(z) + logabsdet

    def sample_and_log_prob(
        self, n: int, context=None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """n samples and their log p, from one pass: log p(x) = log p_z(z) - log |det dx/dz|.

        Differentiable (reparameterized): for training through samples (variational dequantization).
        ``context``: None, one condition for all n samples, or one per sample.
        """
        z = self.base.sample(n, generator)
        embedded = self.condition(self.condition.expand(context, n, z.device), n)
        x, logabsdet = self.transform.inverse(z, embedded)
        return x, self.base.log_prob(z) - logabsdet

    @torch.no_grad()
    def sample(self, n: int, context=None, generator: torch.Generator | None = None) -> Tensor:
        """n samples x = f^{-1}(z; context), shape (n, D), without autograd.

        ``context``: None, one condition for all n samples (a vector (k,) or a label), or one per
        sample ((n, k) or (n,)).
        """
        return self.sample_and_log_prob(n, context, generator)[0]


def _condition(context_features: int, n_classes: int, embedding_dim: int | None) -> Condition:
    return Condition(context_features, n_classes, embedding_dim)


def _stack(
    features: int, transforms: int, linear: bool, make: Callable[[Tensor], Transform]
) -> list[Transform]:
    if features < 2:
        raise ValueError(f"coupling flows need at least 2 features, got {features}")
    if not isinstance(transforms, int) or transforms < 1:
        raise ValueError(f"transforms must be an integer >= 1, got {transforms!r}")
    stack = []
    for i in range(transforms):
        if linear and i:
            stack.append(LULinear(features))
        stack.append(make(torch.arange(features) % 2 == (i + 1) % 2))
    return stack


def realnvp(
    features: int,
    context_features: int = 0,
    transforms: int = 8,
    hidden: Sequence[int] = (64, 64),
    scale_bound: float = 2.0,
    linear: bool = False,
    n_classes: int = 0,
    embedding_dim: int | None = 16,
) -> Flow:
    """A RealNVP flow: ``transforms`` affine couplings with alternating masks (and, with ``linear``,
    a learnable LU linear layer between them to mix the features).

    The condition: a context vector of ``context_features``, or a class label out of ``n_classes``
    (embedded in ``embedding_dim`` dimensions, one-hot with None).

    Example:
        >>> realnvp(2, transforms=4).sample(3).shape
        torch.Size([3, 2])
    """
    condition = _condition(context_features, n_classes, embedding_dim)
    stack = _stack(
        features,
        transforms,
        linear,
        lambda mask: AffineCoupling(features, condition.features, hidden, mask, scale_bound),
    )
    config = dict(features=features, context_features=context_features, transforms=transforms,
                  hidden=tuple(hidden), scale_bound=scale_bound, linear=linear, n_classes=n_classes,
                  embedding_dim=embedding_dim)  # fmt: skip
    return built_by(realnvp, Flow(stack, features=features, condition=condition), **config)


def nsf(
    features: int,
    context_features: int = 0,
    bins: int = 8,
    transforms: int = 4,
    hidden: Sequence[int] = (64, 64),
    tail_bound: float = 3.0,
    autoregressive: bool = False,
    linear: bool = False,
    n_classes: int = 0,
    embedding_dim: int | None = 16,
) -> Flow:
    """A Neural Spline Flow: ``transforms`` rational-quadratic spline couplings with alternating masks
    (or MAF-style autoregressive spline transforms with ``autoregressive=True``, the order reversed
    between them), optionally with LU linear layers in between. The condition as for ``realnvp``.

    References:
        Durkan et al., Neural Spline Flows (arXiv:1906.04032).

    Example:
        >>> flow = nsf(3, context_features=1, bins=8)
        >>> flow.sample(5, context=torch.ones(1)).shape
        torch.Size([5, 3])
    """
    condition = _condition(context_features, n_classes, embedding_dim)
    c = condition.features
    if autoregressive:
        stack = []
        for i in range(transforms):
            if i:
                stack.append(LULinear(features) if linear else Permutation("reverse", features))
            stack.append(MaskedAutoregressive(features, c, hidden, "spline", bins, tail_bound))
    else:
        stack = _stack(
            features,
            transforms,
            linear,
            lambda mask: RQSplineCoupling(features, c, hidden, mask, bins, tail_bound),
        )
    config = dict(features=features, context_features=context_features, bins=bins, transforms=transforms,
                  hidden=tuple(hidden), tail_bound=tail_bound, autoregressive=autoregressive, linear=linear,
                  n_classes=n_classes, embedding_dim=embedding_dim)  # fmt: skip
    return built_by(nsf, Flow(stack, features=features, condition=condition), **config)
