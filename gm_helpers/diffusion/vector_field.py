r"""The network of lecture 10, a function of (x, t, condition), and what the models built on it share.

One network serves both families: flow matching reads it as a velocity field
:math:`v_\theta(x, t \mid c)` (t from 0, noise, to 1, data), DDPM as the noise predictor
:math:`\epsilon_\theta(x_t, t / T \mid c)`. Every such network is called as ``network(x, t, context)``
with x of shape (B, D), t of shape (B,) in [0, 1] and context None or one condition per row; any
function or module with that signature can take its place (an exact field, to test a sampler).

Classifier-free guidance (Ho and Salimans, arXiv:2207.12598) needs the conditional and the
unconditional network; one network learns both when it knows a "null" label meaning "no condition":
:class:`VectorField` with ``n_classes = n`` takes labels 0 .. n, label n being the null class, and
``train_diffusion`` replaces a fraction ``cond_dropout`` of the training labels by it. Sampling then
follows :math:`(1 + w)\, v(x, t \mid y) - w\, v(x, t \mid \varnothing)`: w = 0 is the plain conditional
model, w > 0 pushes the samples towards what distinguishes class y.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from gm_helpers.model import Model, _name, _resolve
from gm_helpers.nets import Condition, mlp

__all__ = ["FieldModel", "VectorField", "classifier_free_guidance", "time_embedding"]


def time_embedding(t: Tensor, frequencies: int) -> Tensor:
    r"""Sinusoidal features of the time t (B,) in [0, 1]: shape (B, 1 + 2 K), K = ``frequencies``.

    .. math:: \mathrm{emb}(t) = \big(t,\ \cos(\pi k t),\ \sin(\pi k t)\big)_{k = 1, \dots, K}

    With them a small MLP can change its output quickly with t, which raw t alone makes hard
    (Fourier features: Tancik et al., arXiv:2006.10739; the sinusoidal embedding of the transformer,
    Vaswani et al., arXiv:1706.03762, is what Ho et al. use for the DDPM time step).

    Example:
        >>> time_embedding(torch.tensor([0.0]), 2)  # t, cos(pi t), cos(2 pi t), sin(pi t), sin(2 pi t)
        tensor([[0., 1., 1., 0., 0.]])
        >>> time_embedding(torch.rand(5), 4).shape
        torch.Size([5, 9])
    """
    k = torch.arange(1, frequencies + 1, device=t.device, dtype=t.dtype)
    angles = math.pi * t[:, None] * k
    return torch.cat([t[:, None], torch.cos(angles), torch.sin(angles)], 1)


def _times(t, batch: int, like: Tensor) -> Tensor:
    """t as a (batch,) tensor of x's dtype and device, checked to lie in [0, 1]."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a number or a tensor of shape ({batch},), got shape {tuple(t.shape)}")
    if batch and (t.min() < 0 or t.max() > 1):
        raise ValueError(
            f"the time t must lie in [0, 1] (a DDPM step t is passed as t / T), "
            f"got values in [{float(t.min()):.4g}, {float(t.max()):.4g}]"
        )
    return t


class VectorField(Model):
    r"""A time-conditioned MLP :math:`v_\theta(x, t \mid c)` for vectors: the output has x's shape.

    .. math:: v_\theta(x, t \mid c) = \mathrm{MLP}\big([x,\ \mathrm{emb}(t),\ \mathrm{cond}(c)]\big)

    with the sinusoidal :func:`time_embedding` of t and the condition read by ``gm.nets.Condition``.
    SiLU activations keep the field smooth in x and t, as an ODE solver likes it.

    Arguments:
        features: D, the dimension of x.
        hidden: the hidden-layer widths.
        frequencies: K, the number of frequencies of the time embedding.
        context_features: condition on a context vector of this width, or
        n_classes: condition on a class label 0 .. n_classes - 1; the label ``n_classes`` is the
            null class, "no condition", for classifier-free guidance (see the module docstring).
        embedding_dim: the width of the learned label embedding (one-hot with None).

    Example:
        >>> field = VectorField(2, hidden=(32, 32), n_classes=3)
        >>> field(torch.zeros(4, 2), torch.rand(4), torch.tensor([0, 1, 2, 3])).shape  # 3: the null class
        torch.Size([4, 2])
    """

    def __init__(
        self,
        features: int,
        hidden: Sequence[int] = (128, 128, 128),
        frequencies: int = 4,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int | None = 16,
    ):
        super().__init__()
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        if not isinstance(frequencies, int) or frequencies < 0:
            raise ValueError(f"frequencies must be a non-negative integer, got {frequencies!r}")
        if not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"n_classes must be a non-negative integer, got {n_classes!r}")
        self.features, self.frequencies, self.n_classes = features, frequencies, n_classes
        self.condition = Condition(context_features, n_classes + 1 if n_classes else 0, embedding_dim)
        inputs = features + 1 + 2 * frequencies + self.condition.features
        self.net = mlp(inputs, features, hidden, activation=nn.SiLU)

    @property
    def null_class(self) -> int | None:
        """The label that means "no condition" (``n_classes``), or None without class labels."""
        return self.n_classes if self.n_classes else None

    def forward(self, x: Tensor, t: Tensor | float, context: Tensor | None = None) -> Tensor:
        """v(x, t | context) for x (B, D), t a number or (B,) in [0, 1], context None or one per row."""
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.features:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (B, {self.features}), got {got}")
        t = _times(t, len(x), x)
        condition = self.condition(context, len(x))
        parts = [x, time_embedding(t, self.frequencies)]
        parts += [] if condition is None else [condition.to(x.dtype)]
        return self.net(torch.cat(parts, 1))


def classifier_free_guidance(
    network: Callable, x: Tensor, t: Tensor, context: Tensor | None, guidance: float, null_class: int | None
) -> Tensor:
    r"""The guided output :math:`(1 + w)\, f(x, t \mid y) - w\, f(x, t \mid \varnothing)`, w = ``guidance``.

    Both terms come from one call on a doubled batch. With w = 0 it is ``network(x, t, context)``.

    References:
        Ho and Salimans, Classifier-Free Diffusion Guidance, arXiv:2207.12598 (eq. 6).
    """
    if not guidance:
        return network(x, t, context)
    null = torch.full_like(context, null_class)
    both = network(torch.cat([x, x]), torch.cat([t, t]), torch.cat([context, null]))
    conditional, unconditional = both.chunk(2)
    return (1 + guidance) * conditional - guidance * unconditional


def draw(
    fn: Callable, shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """``fn(shape)`` (``torch.randn``, ``torch.rand``) with the dtype and device of ``like``; with a
    ``generator``, drawn on the generator's device and then moved."""
    if generator is None:
        return fn(shape, dtype=like.dtype, device=like.device)
    return fn(shape, generator=generator, dtype=like.dtype, device=generator.device).to(like.device)


def _network_spec(network):
    """A course model as plain values (what built it and its arguments); anything else as it is."""
    if isinstance(network, Model):
        factory = network.__dict__.get("_factory", type(network))
        return {"factory": _name(factory), "config": network.get_config()}
    return network


def _build_network(network):
    if isinstance(network, dict) and set(network) == {"factory", "config"}:
        return _resolve(network["factory"])(**network["config"])
    if not callable(network):
        raise ValueError(
            f"network must be a module or function network(x, t, context), got {type(network).__name__}"
        )
    return network


class FieldModel(Model):
    """What ``FlowMatching`` and ``DDPM`` share: a network of (x, t, context), the data dimension,
    the device, the condition and the null class of guidance.

    Arguments:
        network: a :class:`VectorField`, or any module or function ``network(x, t, context)`` (such a
            model works but can be saved only when the network is a course ``Model``).
        features: D; read from the network when it has a ``features`` attribute.
    """

    def __init__(self, network: Callable, features: int | None = None):
        super().__init__()
        self.network = _build_network(network)
        own = getattr(self.network, "features", None)
        if features is None:
            features = own
        if features is None:
            raise ValueError("give features=D: the network does not say how many features it takes")
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        if own is not None and own != features:
            raise ValueError(f"features={features} but the network takes {own}")
        self.features = features
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries device and dtype

    def get_config(self) -> dict:
        config = super().get_config()
        config["network"] = _network_spec(self.network)
        return config

    @property
    def condition(self) -> Condition | None:
        """How the network reads its condition (None for a network without ``Condition``)."""
        condition = getattr(self.network, "condition", None)
        return condition if isinstance(condition, Condition) else None

    @property
    def null_class(self) -> int | None:
        """The label meaning "no condition", or None when the network has none (no guidance)."""
        return getattr(self.network, "null_class", None)

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.features:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (B, {self.features}), got {got}")

    def _check_n(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")

    def _context(self, context, n: int) -> Tensor | None:
        """One condition per sample, on the model's device (see ``Condition.expand``)."""
        if context is None:
            return None
        if self.condition is not None:
            return self.condition.expand(context, n, self._anchor.device)
        context = torch.as_tensor(context, device=self._anchor.device)
        if context.ndim == 0 or len(context) != n:
            raise ValueError(f"give one condition per sample: {n} rows, got shape {tuple(context.shape)}")
        return context

    def _check_guidance(self, guidance: float, context: Tensor | None) -> None:
        if not isinstance(guidance, int | float) or not math.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance must be a number w >= 0, got {guidance!r}")
        if guidance and self.null_class is None:
            raise ValueError(
                "classifier-free guidance needs a network with a null class: build it with "
                "VectorField(..., n_classes=n) and train it with cond_dropout > 0"
            )
        if guidance and context is None:
            raise ValueError("guidance needs the labels to guide towards: pass context=")
