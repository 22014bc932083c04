"""GANs and their stabilization: networks, the family of losses, and one training loop.

The family tree follows the lecture (and pidgan): ``GAN`` -> ``WGAN`` (clipping) -> ``WGANGP``
(gradient penalty) and ``WGANALP`` (adversarial Lipschitz penalty), and ``CramerGAN``. Each member
overrides only what differs. Every network takes an optional condition: a context vector or a
class label, embedded and joined to the input of both players (Mirza and Osindero, arXiv:1411.1784).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_helpers.core import get_device
from gm_helpers.train import infinite_batches, train_loop

__all__ = [
    "FAMILY",
    "GAN",
    "WGAN",
    "WGANALP",
    "WGANGP",
    "Condition",
    "CramerGAN",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANRun",
    "Generator",
    "MLPCritic",
    "MLPGenerator",
    "alp_penalty",
    "check_alp_penalty",
    "check_gradient_penalty",
    "clip_weights",
    "cramer_critic_loss",
    "cramer_generator_loss",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "train_gan",
    "wasserstein_losses",
]


# --- conditioning ------------------------------------------------------------------------------


class Condition(nn.Module):
    """How a network reads its condition: a context vector, or a class label it embeds.

    ``Condition(context_features=k)`` takes float contexts of shape (B, k) as they are;
    ``Condition(n_classes=n)`` takes integer labels of shape (B,) and embeds them in
    ``embedding_dim`` dimensions; ``Condition()`` is the unconditional case and refuses any
    condition. ``features`` is the width of what it hands on (0 when unconditional).

    Example:
        >>> Condition(n_classes=10, embedding_dim=4)(torch.tensor([3, 7]), batch=2).shape
        torch.Size([2, 4])
    """

    def __init__(self, context_features: int = 0, n_classes: int = 0, embedding_dim: int = 16):
        super().__init__()
        if context_features and n_classes:
            raise ValueError("give either context_features (a vector) or n_classes (a label), not both")
        self.context_features, self.n_classes = context_features, n_classes
        self.embedding = nn.Embedding(n_classes, embedding_dim) if n_classes else None
        self.features = embedding_dim if n_classes else context_features

    def forward(self, context: Tensor | None, batch: int) -> Tensor | None:
        if not self.features:
            if context is not None:
                raise ValueError(
                    "this model is unconditional but got a condition; build it with "
                    "context_features=... or n_classes=... to condition it"
                )
            return None
        if context is None:
            raise ValueError("this model is conditional: pass context= (a vector or a class label)")
        if self.embedding is None:
            if context.shape != (batch, self.context_features):
                raise ValueError(
                    f"context must have shape ({batch}, {self.context_features}), got {tuple(context.shape)}"
                )
            return context
        if context.shape != (batch,) or context.dtype not in (torch.int32, torch.int64):
            raise ValueError(
                f"the condition must be integer class labels of shape ({batch},), "
                f"got {context.dtype} of shape {tuple(context.shape)}"
            )
        if context.min() < 0 or context.max() >= self.n_classes:
            raise ValueError(f"class labels must lie in 0..{self.n_classes - 1}")
        return self.embedding(context)


def _join(x: Tensor, condition: Tensor | None) -> Tensor:
    return x if condition is None else torch.cat([x, condition], dim=1)


def _check_shape(x: Tensor, shape: tuple[int, ...], what: str) -> None:
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"{what} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def _mlp(features: int, hidden: int, layers: int, out: int, activation: Callable[[], nn.Module]):
    sizes = [features] + [hidden] * layers
    blocks = [m for a, b in zip(sizes, sizes[1:], strict=False) for m in (nn.Linear(a, b), activation())]
    return nn.Sequential(*blocks, nn.Linear(sizes[-1], out))


# --- networks ----------------------------------------------------------------------------------


class Generator(nn.Module):
    """Base of the generators: ``forward(z, context=None)`` and ``sample(n, context=None)``."""

    latent_features: int

    def sample(self, n: int, context: Tensor | None = None) -> Tensor:
        """Draw ``n`` samples, z ~ N(0, I), on the generator's device."""
        z = torch.randn(n, self.latent_features, device=next(self.parameters()).device)
        return self(z, context)


class MLPGenerator(Generator):
    """G(z, y) for tabular or 2-D data: an MLP on [z, embedded condition].

    Arguments:
        features: dimension of the data.
        latent_features: dimension of the noise z ~ N(0, I).
        hidden, layers: width and number of hidden layers (ReLU).
        context_features, n_classes, embedding_dim: the condition (see ``Condition``).
    """

    def __init__(
        self,
        features: int,
        latent_features: int = 8,
        hidden: int = 128,
        layers: int = 3,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
    ):
        super().__init__()
        self.features, self.latent_features = features, latent_features
        self.condition = Condition(context_features, n_classes, embedding_dim)
        self.net = _mlp(latent_features + self.condition.features, hidden, layers, features, nn.ReLU)

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(z, (self.latent_features,), "the noise z")
        return self.net(_join(z, self.condition(context, len(z))))


class MLPCritic(nn.Module):
    """D(x, y) or C(x, y) for tabular or 2-D data: an MLP on [x, embedded condition].

    Returns one score per sample, shape (B,), or an embedding of shape (B, out_features) when
    ``out_features > 1`` (the Cramér GAN critic). LeakyReLU 0.2, no batch norm, so gradient
    penalties stay per sample.
    """

    def __init__(
        self,
        features: int,
        hidden: int = 128,
        layers: int = 3,
        out_features: int = 1,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
    ):
        super().__init__()
        self.features, self.out_features = features, out_features
        self.condition = Condition(context_features, n_classes, embedding_dim)
        activation = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        self.net = _mlp(features + self.condition.features, hidden, layers, out_features, activation)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(x, (self.features,), "the critic's input")
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


class DCGANDiscriminator(nn.Module):
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


# --- losses ------------------------------------------------------------------------------------


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss of the original GAN, from logits (D = sigmoid(logit)).

    L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))], i.e. minus the value the discriminator
    maximizes in min_G max_D L_GAN. Binary cross-entropy with logits, stable for any logit.

    References:
        Goodfellow et al., Generative Adversarial Nets, arXiv:1406.2661.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: Tensor, kind: str = "nonsaturating") -> Tensor:
    """Generator loss of the original GAN, from the discriminator's logits on generated samples.

    - ``"minimax"``: L_G = E_z[log(1 - D(G(z)))], the game as written; it saturates: its gradient
      vanishes when D confidently rejects the fakes (D(G(z)) -> 0), early in training.
    - ``"nonsaturating"``: L_G = -E_z[log D(G(z))], same fixed point, strong gradients when D wins.

    References:
        Goodfellow et al., Generative Adversarial Nets, arXiv:1406.2661 (section 3).
    """
    if kind == "minimax":
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if kind == "nonsaturating":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    raise ValueError(f"kind must be 'minimax' or 'nonsaturating', got {kind!r}")


def wasserstein_losses(real_scores: Tensor, fake_scores: Tensor) -> tuple[Tensor, Tensor]:
    """Critic and generator losses of the Wasserstein GAN.

    L_WGAN = E_x[C(x)] - E_z[C(G(z))] estimates W_1 when C is 1-Lipschitz. The critic maximizes it
    (critic loss -L_WGAN), the generator minimizes it (generator loss L_WGAN, whose gradient is
    that of -E_z[C(G(z))]). Returns ``(critic_loss, generator_loss)``.

    References:
        Arjovsky, Chintala and Bottou, Wasserstein GAN, arXiv:1701.07875.
    """
    estimate = real_scores.mean() - fake_scores.mean()
    return -estimate, estimate


def _call(critic: Callable, x: Tensor, context: Tensor | None) -> Tensor:
    scores = critic(x) if context is None else critic(x, context)
    if scores.numel() != len(x):
        raise ValueError(f"the critic must give one score per sample, got shape {tuple(scores.shape)}")
    return scores.reshape(len(x))


def _check_pair(real: Tensor, fake: Tensor) -> None:
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )


def gradient_penalty(
    critic: Callable, real: Tensor, fake: Tensor, lam: float = 10.0, context: Tensor | None = None
) -> Tensor:
    """Gradient penalty of WGAN-GP: lam * E[(||grad_x C(x_hat)||_2 - 1)^2].

    x_hat = a x + (1 - a) g with one a ~ U(0, 1) **per sample**, and the norm taken **per sample
    over all non-batch dimensions** (channels and pixels together: ``norm(dim=1)`` on images
    would be a norm per pixel, a common bug).

    Arguments:
        critic: called as ``critic(x)`` or ``critic(x, context)``; one score per sample.
        real, fake: samples of the same shape (B, ...); ``fake`` is detached.
        lam: weight of the penalty (10 in the paper).
        context: the condition of the pairs, if the critic is conditional.

    References:
        Gulrajani et al., Improved Training of Wasserstein GANs, arXiv:1704.00028.

    Example:
        >>> w = torch.full((3, 4, 4), 2 / 48**0.5)  # a linear critic <w, x> with ||w|| = 2
        >>> x, g = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
        >>> round(gradient_penalty(lambda x: (x * w).flatten(1).sum(1), x, g).item(), 4)
        10.0
    """
    _check_pair(real, fake)
    a = torch.rand(len(real), *[1] * (real.ndim - 1), device=real.device, dtype=real.dtype)
    x_hat = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(_call(critic, x_hat, context).sum(), x_hat, create_graph=True)
    return lam * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _unit(d: Tensor) -> Tensor:
    return d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (d.ndim - 1))


def alp_penalty(
    critic: Callable,
    real: Tensor,
    fake: Tensor,
    lam: float = 10.0,
    eps_range: tuple[float, float] = (0.1, 10.0),
    xi: float = 10.0,
    power_iterations: int = 1,
    context: Tensor | None = None,
) -> Tensor:
    """Adversarial Lipschitz penalty of WGAN-ALP: lam * E[max(0, |C(x) - C(x + r)| / ||r|| - 1)^2].

    On real and fake samples together, the adversarial step r is found by power iteration (as in
    virtual adversarial training): start from a random direction d, replace it ``power_iterations``
    times by grad_d |C(x) - C(x + xi d / ||d||)|, then r = eps d / ||d|| with eps ~ U(eps_range)
    per sample. For a linear critic with Lipschitz constant L the penalty is lam * max(0, L - 1)^2.

    Arguments:
        critic: called as ``critic(x)`` or ``critic(x, context)``; one score per sample.
        real, fake: samples of the same shape (B, ...); ``fake`` is detached.
        lam: weight of the penalty; eps_range: range of the step length; xi: the power-iteration
            step; power_iterations: number of power-iteration steps.
        context: the condition of the pairs, if the critic is conditional.

    References:
        Terjék, Adversarial Lipschitz Regularization, arXiv:1907.05681
        (reference code dterjek/adversarial_lipschitz_regularization).
    """
    _check_pair(real, fake)
    x = torch.cat([real, fake.detach()])
    context = None if context is None else torch.cat([context, context])
    scores = _call(critic, x, context)
    d = torch.randn_like(x)
    for _ in range(power_iterations):
        d = (xi * _unit(d)).requires_grad_(True)
        gap = (scores.detach() - _call(critic, x + d, context)).abs().sum()
        (d,) = torch.autograd.grad(gap, d)
    eps = torch.empty(len(x), device=x.device, dtype=x.dtype).uniform_(*eps_range)
    r = eps.view(-1, *[1] * (x.ndim - 1)) * _unit(d.detach())
    slope = (scores - _call(critic, x + r, context)).abs() / eps
    return lam * (F.relu(slope - 1) ** 2).mean()


def _embedder(critic: Callable, context: Tensor | None) -> Callable[[Tensor], Tensor]:
    def h(x: Tensor) -> Tensor:
        out = critic(x) if context is None else critic(x, context)
        if out.ndim != 2 or len(out) != len(x):
            raise ValueError(f"the Cramér critic must give an embedding (B, k), got shape {tuple(out.shape)}")
        return out

    return h


def _energy(h_x: Tensor, h_g: Tensor) -> Tensor:
    """f(x) = ||h(x) - h(g')|| - ||h(x)|| of the Cramér GAN, per sample."""
    return (h_x - h_g).norm(dim=1) - h_x.norm(dim=1)


def cramer_critic_loss(
    critic: Callable,
    real: Tensor,
    fake: Tensor,
    fake2: Tensor,
    lam: float = 10.0,
    context: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Critic loss of the Cramér GAN: -(E f(x_r) - E f(x_g)) + lam * GP(f), with the embedding h.

    f(x) = ||h(x) - h(x_g')||_2 - ||h(x)||_2 with x_g' an independent generated batch; the gradient
    penalty is that of WGAN-GP applied to f on interpolates of real and ``fake``. Returns
    ``(surrogate_loss, penalty)``: the critic minimizes their sum.

    Arguments:
        critic: the embedding h, called as ``critic(x)`` or ``critic(x, context)``, output (B, k).
        real, fake, fake2: a real batch and two independent generated batches, same shape.

    References:
        Bellemare et al., The Cramer Distance as a Solution to Biased Wasserstein Gradients,
        arXiv:1705.10743 (algorithm 1).
    """
    _check_pair(real, fake)
    _check_pair(fake, fake2)
    h = _embedder(critic, context)
    h_g2 = h(fake2.detach())
    surrogate = _energy(h(real), h_g2).mean() - _energy(h(fake.detach()), h_g2).mean()
    penalty = gradient_penalty(lambda x: _energy(h(x), h_g2), real, fake, lam)
    return -surrogate, penalty


def cramer_generator_loss(
    critic: Callable, real: Tensor, fake: Tensor, fake2: Tensor, context: Tensor | None = None
) -> Tensor:
    """Generator loss of the Cramér GAN: the energy distance of the embeddings (up to a constant).

    L_G = E||h(x_r) - h(x_g)|| + E||h(x_r) - h(x_g')|| - E||h(x_g) - h(x_g')||, with x_g, x_g'
    independent generated batches; it equals 2 E||h(X) - h(Y)|| - E||h(Y) - h(Y')|| (X real, Y
    generated), the squared energy distance plus E||h(X) - h(X')||, which does not depend on G.

    References:
        Bellemare et al., The Cramer Distance as a Solution to Biased Wasserstein Gradients,
        arXiv:1705.10743 (algorithm 1).
    """
    _check_pair(real, fake)
    _check_pair(fake, fake2)
    h = _embedder(critic, context)
    h_r, h_g, h_g2 = h(real), h(fake), h(fake2)
    return (h_r - h_g).norm(dim=1).mean() + (h_r - h_g2).norm(dim=1).mean() - (h_g - h_g2).norm(dim=1).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, clip: float = 0.01) -> None:
    """Clamp every parameter of ``module`` to [-clip, clip] in place: the original WGAN's crude way
    to keep the critic K-Lipschitz (Arjovsky, Chintala and Bottou, arXiv:1701.07875)."""
    for parameter in module.parameters():
        parameter.clamp_(-clip, clip)


# --- the family: each member overrides only what differs --------------------------------------


class GAN:
    """The original GAN: BCE losses from logits, one discriminator step per generator step."""

    n_critic = 1
    optimizer = "adam"
    lr, betas = 2e-4, (0.5, 0.999)
    fakes = 1  # generated batches each loss needs

    def __init__(self, generator_loss_kind: str = "nonsaturating"):
        generator_loss(torch.zeros(1), generator_loss_kind)  # fail early on a bad kind
        self.generator_loss_kind = generator_loss_kind

    def critic_losses(self, critic, real, fakes, context) -> dict[str, Tensor]:
        return {"critic": discriminator_loss(_call(critic, real, context), _call(critic, fakes[0], context))}

    def after_critic_step(self, critic: nn.Module) -> None:
        pass

    def generator_loss(self, critic, real, fakes, context) -> Tensor:
        return generator_loss(_call(critic, fakes[0], context), self.generator_loss_kind)


class WGAN(GAN):
    """Wasserstein GAN: critic loss -L_WGAN, generator loss L_WGAN, weights clipped after each
    critic step, RMSprop 5e-5, five critic steps per generator step."""

    n_critic = 5
    optimizer = "rmsprop"
    lr = 5e-5

    def __init__(self, clip: float = 0.01):
        self.clip = clip

    def critic_losses(self, critic, real, fakes, context):
        return {
            "critic": wasserstein_losses(_call(critic, real, context), _call(critic, fakes[0], context))[0]
        }

    def after_critic_step(self, critic):
        clip_weights(critic, self.clip)

    def generator_loss(self, critic, real, fakes, context):
        return wasserstein_losses(_call(critic, real, context), _call(critic, fakes[0], context))[1]


class WGANGP(WGAN):
    """WGAN-GP: the WGAN losses plus ``gradient_penalty`` instead of clipping; Adam 1e-4 (0.5, 0.9)."""

    optimizer = "adam"
    lr, betas = 1e-4, (0.5, 0.9)

    def __init__(self, lam: float = 10.0, penalty: Callable | None = None):
        self.lam, self.penalty = lam, penalty or gradient_penalty

    def critic_losses(self, critic, real, fakes, context):
        losses = super().critic_losses(critic, real, fakes, context)
        losses["penalty"] = self.penalty(critic, real, fakes[0], lam=self.lam, context=context)
        losses["critic"] = losses["critic"] + losses["penalty"]
        return losses

    def after_critic_step(self, critic):
        pass


class WGANALP(WGANGP):
    """WGAN-ALP: the WGAN losses plus ``alp_penalty``; Adam 2e-4 betas (0, 0.9)."""

    lr, betas = 2e-4, (0.0, 0.9)

    def __init__(self, lam: float = 10.0, penalty: Callable | None = None):
        super().__init__(lam, penalty or alp_penalty)


class CramerGAN(WGANGP):
    """Cramér GAN: the critic is an embedding h; energy-distance losses; two generated batches."""

    fakes = 2

    def __init__(self, lam: float = 10.0):
        super().__init__(lam)

    def critic_losses(self, critic, real, fakes, context):
        surrogate, penalty = cramer_critic_loss(critic, real, *fakes, lam=self.lam, context=context)
        return {"critic": surrogate + penalty, "penalty": penalty}

    def generator_loss(self, critic, real, fakes, context):
        return cramer_generator_loss(critic, real, *fakes, context=context)


FAMILY: dict[str, type[GAN]] = {
    "gan": GAN,
    "wgan": WGAN,
    "wgan-gp": WGANGP,
    "wgan-alp": WGANALP,
    "cramer": CramerGAN,
}


# --- one training loop for the whole family ----------------------------------------------------


@dataclass
class GANRun:
    """What ``train_gan`` returns: the loss history (one value per generator step) and snapshots."""

    history: dict[str, list[float]]
    snapshots: list[tuple[int, Any]] = field(default_factory=list)


def _optimizer(member: GAN, parameters, lr: float | None, betas: tuple[float, float] | None):
    lr = lr or member.lr
    if member.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    return torch.optim.Adam(parameters, lr=lr, betas=betas or member.betas)


def train_gan(
    generator: Generator,
    critic: nn.Module,
    data: Tensor,
    *,
    kind: str = "gan",
    n_steps: int = 1000,
    context: Tensor | None = None,
    batch_size: int = 128,
    n_critic: int | None = None,
    lr: float | None = None,
    betas: tuple[float, float] | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    snapshot_every: int = 0,
    snapshot: Callable[[Generator, nn.Module], Any] | None = None,
    progress: bool = True,
    **options,
) -> GANRun:
    """Train a generator against a critic, for any member of the family: ``kind`` in ``FAMILY``.

    Each of the ``n_steps`` steps does ``n_critic`` critic updates (each on a fresh batch), then one
    generator update. With a condition (``context``: labels or vectors aligned with ``data``), the
    fakes are generated with the condition of the real batch and both players see it.

    Arguments:
        generator: a ``Generator`` (``forward(z, context)``, ``latent_features``).
        critic: the discriminator / critic (for "cramer", an embedding with out_features > 1).
        data: the training samples (N, ...).
        kind: "gan", "wgan", "wgan-gp", "wgan-alp" or "cramer".
        n_critic, lr, betas: override the family's defaults (see the classes ``GAN`` ... ``CramerGAN``).
        device: where to train (default ``get_device()``); the networks are moved there.
        snapshot_every: every so many steps (and after the last) record ``snapshot(generator, critic)``,
            by default 1,000 samples from fixed noise (and the first 1,000 conditions), on the CPU.
        options: for the family member: ``generator_loss_kind`` ("gan"), ``clip`` ("wgan"),
            ``lam`` and ``penalty`` (a penalty function replacing the default, for the exercises).

    Returns:
        A ``GANRun`` with the history (critic, generator and, for penalized kinds, penalty) and
        the snapshots as (step, value) pairs.
    """
    if kind not in FAMILY:
        raise ValueError(f"kind must be one of {', '.join(FAMILY)}, got {kind!r}")
    if not hasattr(generator, "latent_features"):
        raise ValueError("the generator needs a `latent_features` attribute (the size of z)")
    if context is not None and len(context) != len(data):
        raise ValueError(f"context has {len(context)} rows but data has {len(data)}")
    try:
        member = FAMILY[kind](**options)
    except TypeError as error:
        raise ValueError(f"option not understood for kind={kind!r}: {error}") from None
    if isinstance(member, WGANGP) and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()
    ):
        raise ValueError(f"kind={kind!r} penalizes per-sample gradients: use a critic without batch norm")
    device = torch.device(device) if device is not None else get_device()
    generator.to(device).train()
    critic.to(device).train()
    g_optimizer = _optimizer(member, generator.parameters(), lr, betas)
    c_optimizer = _optimizer(member, critic.parameters(), lr, betas)
    n_critic = n_critic or member.n_critic
    tensors = (data,) if context is None else (data, context)
    batches = infinite_batches(*tensors, batch_size=batch_size, seed=seed, device=device)

    def generate(real: Tensor, ctx: Tensor | None) -> tuple[Tensor, ...]:
        fakes = tuple(generator.sample(len(real), ctx) for _ in range(member.fakes))
        if fakes[0].shape != real.shape:
            raise ValueError(
                f"the generator makes samples of shape {tuple(fakes[0].shape)}, the data {tuple(real.shape)}"
            )
        return fakes

    def step(i: int) -> dict[str, Tensor]:
        for _ in range(n_critic):
            real, *ctx = next(batches)
            ctx = ctx[0] if ctx else None
            with torch.no_grad():
                fakes = generate(real, ctx)
            losses = member.critic_losses(critic, real, fakes, ctx)
            c_optimizer.zero_grad(set_to_none=True)
            losses["critic"].backward()
            c_optimizer.step()
            member.after_critic_step(critic)
        g_loss = member.generator_loss(critic, real, generate(real, ctx), ctx)
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()
        return {**{k: v.detach() for k, v in losses.items()}, "generator": g_loss.detach()}

    torch.manual_seed(seed)
    fixed_z = torch.randn(1000, generator.latent_features, device=device)
    fixed_context = None if context is None else context[:1000].to(device)

    @torch.no_grad()
    def default_snapshot(generator: Generator, critic: nn.Module) -> Tensor:
        n = len(fixed_z) if fixed_context is None else len(fixed_context)
        return generator(fixed_z[:n], fixed_context).cpu()

    run = GANRun({})

    def record(i: int, history: dict) -> None:
        generator.eval()
        critic.eval()
        run.snapshots.append((i + 1, (snapshot or default_snapshot)(generator, critic)))
        generator.train()
        critic.train()

    run.history = train_loop(
        step,
        n_steps,
        desc=kind,
        progress=progress,
        callback=record if snapshot_every else None,
        callback_every=snapshot_every,
        hint="a learning rate that is too high, or a critic that has run away (try a larger penalty)",
    )
    generator.eval()
    critic.eval()
    return run


# --- exercise checks (exercise 02): a participant's penalty against values worked out by hand ----


def _linear_critic(shape: tuple[int, ...], norm: float, seed: int) -> Callable[[Tensor], Tensor]:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    w = w * norm / w.norm()
    return lambda x: (x * w).flatten(1).sum(1)


def _image_pair(seed: int, shape=(64, 3, 8, 8)) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(
        shape, generator=g, dtype=torch.float64
    )


def _value(x) -> float:
    return float(torch.as_tensor(x).detach())


def check_gradient_penalty(penalty: Callable) -> None:
    """Raise an ``AssertionError`` saying what is wrong unless ``penalty`` computes the WGAN-GP term.

    Linear critics C(x) = <w, x> on images (B, 3, 8, 8) have gradient w everywhere, so the penalty
    is lam (||w|| - 1)^2 exactly, whatever the interpolation; a per-pixel norm gets it wrong. A
    quadratic critic with real = 0 gives lam E[a^2] = lam / 3 only if a ~ U(0, 1) per sample.
    """
    real, fake = _image_pair(0)
    for norm in (2.0, 0.5, 1.0):
        got = _value(penalty(_linear_critic(real.shape[1:], norm, seed=1), real, fake, lam=10.0))
        want = 10.0 * (norm - 1) ** 2
        if abs(got - want) > 1e-6:
            hint = " Is the norm taken per sample over all of (C, H, W)?" if norm == 2.0 else ""
            raise AssertionError(
                f"linear critic with ||w|| = {norm}: penalty {got:.6g}, expected {want:.6g}.{hint}"
            )
    torch.manual_seed(0)
    unit = F.normalize(torch.randn(20_000, 2, 3, 3, dtype=torch.float64).flatten(1), dim=1).view(-1, 2, 3, 3)
    got = _value(penalty(lambda x: 0.5 * x.flatten(1).pow(2).sum(1), torch.zeros_like(unit), unit, lam=3.0))
    if abs(got - 1.0) > 0.03:
        raise AssertionError(
            f"quadratic critic: penalty {got:.4g}, expected lam / 3 = 1: draw one a ~ U(0, 1) per sample, "
            "shaped (B, 1, 1, 1) to broadcast over the image"
        )


def check_alp_penalty(penalty: Callable) -> None:
    """Raise an ``AssertionError`` unless ``penalty`` computes the WGAN-ALP term.

    A linear critic with Lipschitz constant L gives lam max(0, L - 1)^2 once power iteration has
    turned the step along w; in 50 dimensions a random step alone would see a slope ~ L / 7.
    """
    x = torch.randn(64, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    w = torch.zeros(50, dtype=torch.float64)
    for lipschitz in (0.5, 1.0, 3.0):
        w[0] = lipschitz
        got = _value(penalty(lambda x: x @ w, x, x.flip(0), lam=10.0))
        want = 10.0 * max(0.0, lipschitz - 1) ** 2
        if abs(got - want) > 1e-6 * max(1.0, want):
            raise AssertionError(
                f"linear critic with Lipschitz constant {lipschitz}: penalty {got:.6g}, expected {want:.6g}"
                + (" (is the step r found by power iteration?)" if lipschitz == 3.0 else "")
            )
    real, fake = _image_pair(3)
    got = _value(penalty(_linear_critic(real.shape[1:], 2.0, seed=4), real, fake, lam=10.0))
    if abs(got - 10.0) > 1e-6:
        raise AssertionError(f"linear critic with ||w|| = 2 on images: penalty {got:.6g}, expected 10")
