"""The players of a GAN: generators G(z, y) and critics D(x, y) for vectors (MLP) and 28x28 images (DCGAN).

Every network reads its condition y through ``gm_helpers.nets.Condition`` (a context vector or a
class label, embedded and joined to the input: Mirza and Osindero, arXiv:1411.1784), and every
generator has ``sample(n, context)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gm_helpers.model import Model
from gm_helpers.nets import Condition, mlp

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "Generator", "MLPCritic", "MLPGenerator"]


def _join(x: Tensor, condition: Tensor | None) -> Tensor:
    return x if condition is None else torch.cat([x, condition], dim=1)


def _check_shape(x: Tensor, shape: tuple[int, ...], what: str) -> None:
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"{what} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def _leaky_relu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class Generator(Model):
    """Base of the generators: ``forward(z, context=None)``, ``noise(n)`` and ``sample(n, context=None)``.

    ``G(G.noise(n), context)`` is differentiable (a training step); ``sample`` is for looking at
    results: no autograd graph.
    """

    latent_features: int
    condition: Condition

    def noise(self, n: int) -> Tensor:
        """z ~ N(0, I), shape (n, latent_features), on the generator's device."""
        return torch.randn(n, self.latent_features, device=next(self.parameters()).device)

    @torch.no_grad()
    def sample(self, n: int, context=None) -> Tensor:
        """``n`` samples G(z, context), z ~ N(0, I), without autograd, on the generator's device.

        ``context``: None, one condition for all samples (a label, or a vector (k,)), or one per
        sample ((n,) labels or (n, k) vectors).
        """
        z = self.noise(n)
        return self(z, self.condition.expand(context, n, z.device))


class MLPGenerator(Generator):
    """G(z, y) for tabular or 2-D data: an MLP on [z, embedded condition].

    Arguments:
        features: dimension of the data.
        latent_features: dimension of the noise z ~ N(0, I).
        hidden: widths of the hidden layers (ReLU).
        context_features, n_classes, embedding_dim: the condition (see ``Condition``).
        residual: skip connections between the hidden layers (pidgan's ``ResGenerator``; see ``mlp``).
    """

    def __init__(
        self,
        features: int,
        latent_features: int = 8,
        hidden: Sequence[int] = (128, 128, 128),
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
        residual: bool = False,
    ):
        super().__init__()
        self.features, self.latent_features = features, latent_features
        self.condition = Condition(context_features, n_classes, embedding_dim)
        self.net = mlp(latent_features + self.condition.features, features, hidden, residual=residual)

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(z, (self.latent_features,), "the noise z")
        return self.net(_join(z, self.condition(context, len(z))))


class MLPCritic(Model):
    """D(x, y) or C(x, y) for tabular or 2-D data: an MLP on [x, embedded condition].

    Returns one score per sample, shape (B,), or an embedding of shape (B, out_features) when
    ``out_features > 1`` (the Cramér GAN critic). LeakyReLU 0.2, no batch norm, so gradient
    penalties stay per sample. ``hidden``: widths of the hidden layers; ``residual``: skip
    connections between them (see ``mlp``).

    ``aux_differences``: pairs (i, j) of input features whose differences x_i - x_j the critic sees
    as extra inputs (pidgan's ``AuxDiscriminator``: for PID, DLLmu - DLLe and DLLp - DLLK, the
    combinations that analyses cut on, so the critic need not learn to form them).
    """

    def __init__(
        self,
        features: int,
        hidden: Sequence[int] = (128, 128, 128),
        out_features: int = 1,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
        residual: bool = False,
        aux_differences: Sequence[tuple[int, int]] = (),
    ):
        super().__init__()
        self.features, self.out_features = features, out_features
        pairs = [tuple(pair) if isinstance(pair, tuple | list) else (pair,) for pair in aux_differences]
        if any(
            len(pair) != 2 or not all(isinstance(i, int) and 0 <= i < features for i in pair)
            for pair in pairs
        ):
            raise ValueError(
                f"aux_differences must be pairs (i, j) of integer feature indices below {features}, "
                f"e.g. ((1, 0), (3, 2)); got {aux_differences!r}"
            )
        self.aux_differences = pairs
        self.condition = Condition(context_features, n_classes, embedding_dim)
        width = features + len(pairs) + self.condition.features
        self.net = mlp(width, out_features, hidden, _leaky_relu, residual=residual)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(x, (self.features,), "the critic's input")
        if self.aux_differences:
            i, j = zip(*self.aux_differences, strict=True)
            x = torch.cat([x, x[:, list(i)] - x[:, list(j)]], dim=1)
        out = self.net(_join(x, self.condition(context, len(x))))
        return out.squeeze(1) if self.out_features == 1 else out


def _dcgan_init(module: nn.Module) -> None:
    """Normal(0, 0.02) weights, as in DCGAN (Radford et al., arXiv:1511.06434)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(Generator):
    """DCGAN generator for 28x28 images: [z, condition] -> 7x7 -> 14x14 -> 28x28, pixels in [0, 1].

    Dense layer, then two stride-2 transposed convolutions with batch norm and ReLU, and a
    sigmoid output (Radford et al., arXiv:1511.06434).
    """

    def __init__(
        self,
        latent_features: int = 64,
        channels: int = 1,
        width: int = 64,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
    ):
        super().__init__()
        self.latent_features = latent_features
        self.condition = Condition(context_features, n_classes, embedding_dim)
        self.dense = nn.Sequential(
            nn.Linear(latent_features + self.condition.features, 2 * width * 7 * 7),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Sigmoid(),
        )
        self.apply(_dcgan_init)

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(z, (self.latent_features,), "the noise z")
        return self.deconv(self.dense(_join(z, self.condition(context, len(z)))))


class DCGANDiscriminator(Model):
    """DCGAN discriminator / critic for 28x28 images.

    Two stride-2 convolutions with LeakyReLU 0.2 and a dense output: a score per sample (B,), or an
    embedding (B, out_features). Use ``batch_norm=False`` with gradient penalties (a per-sample
    penalty is meaningless when batch norm mixes the samples of a batch).

    The condition y is read in one of two ways:

    - ``projection=False``: y is mapped to a 28x28 plane joined to the image as an extra channel
      (the input concatenation of Mirza and Osindero, arXiv:1411.1784);
    - ``projection=True``: D(x, y) = psi(phi(x)) + <V y, phi(x)>, with phi(x) the convolutional
      features (Miyato and Koyama, cGANs with Projection Discriminator, arXiv:1802.05637). The label
      then weighs every feature the critic sees instead of one input channel, so a digit of the
      wrong class is caught directly; on the MNIST subset this lifts the fraction of generated
      digits of the class asked for from 50-80% to above 90% (bench/gan_quality.py).
    """

    def __init__(
        self,
        channels: int = 1,
        width: int = 64,
        out_features: int = 1,
        batch_norm: bool = True,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
        projection: bool = False,
    ):
        super().__init__()
        self.channels, self.out_features = channels, out_features
        self.condition = Condition(context_features, n_classes, embedding_dim)
        if projection and (not self.condition.features or out_features != 1):
            raise ValueError("projection=True needs a condition and one score per sample (out_features=1)")
        hidden = 2 * width * 7 * 7
        self.plane = self.projection = None
        if self.condition.features and projection:
            self.projection = nn.Linear(self.condition.features, hidden, bias=False)  # V
            nn.init.normal_(self.projection.weight, 0.0, 0.02 / embedding_dim**0.5)  # <V y, .> ~ DCGAN scale
        elif self.condition.features:
            self.plane = nn.Linear(self.condition.features, 28 * 28)
        self.features = nn.Sequential(
            nn.Conv2d(channels + (self.plane is not None), width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )  # phi
        self.head = nn.Linear(hidden, out_features)  # psi
        self.features.apply(_dcgan_init)  # the label plane keeps PyTorch's default scale, O(1) like a pixel
        self.head.apply(_dcgan_init)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(x, (self.channels, 28, 28), "the discriminator's input")
        condition = self.condition(context, len(x))
        if self.plane is not None:
            x = torch.cat([x, self.plane(condition).view(-1, 1, 28, 28)], dim=1)
        features = self.features(x)
        out = self.head(features)
        if self.projection is not None:
            out = out + (self.projection(condition) * features).sum(1, keepdim=True)
        return out.squeeze(1) if self.out_features == 1 else out
