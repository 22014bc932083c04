"""GANs and their stabilization, in the order of lectures 01-02.

- ``gm.gan.networks``: the players, generators G(z, y) and critics D(x, y) (MLP and DCGAN);
- ``gm.gan.losses``: the losses and penalties (minimax, non-saturating, Wasserstein, WGAN-GP,
  WGAN-ALP, Cramér, clipping);
- ``gm.gan.family``: the family of recipes (``GAN`` -> ``WGAN`` -> ``WGANGP`` / ``WGANALP``,
  ``CramerGAN``) and ``train_gan``, their one training loop;
- ``gm.gan.progressive`` (lecture 09): progressive growing of GANs (Karras et al., arXiv:1710.10196):
  equalized layers, pixel norm, minibatch standard deviation, ``fade_in``, the growing
  ``ProgressiveGenerator`` / ``ProgressiveCritic``, ``progressive_schedule`` and ``train_progressive``;

Everything is re-exported here: ``gm.gan.train_gan``, ``gm.gan.gradient_penalty``, ...
"""

from gm_helpers.gan.family import FAMILY, GAN, WGAN, WGANALP, WGANGP, CramerGAN, train_gan
from gm_helpers.gan.losses import (
    alp_penalty,
    clip_weights,
    cramer_critic_loss,
    cramer_generator_loss,
    critic_scores,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    wasserstein_losses,
)
from gm_helpers.gan.networks import DCGANDiscriminator, DCGANGenerator, Generator, MLPCritic, MLPGenerator
from gm_helpers.gan.progressive import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProgressiveCritic,
    ProgressiveGenerator,
    fade_in,
    progressive_schedule,
    train_progressive,
)
from gm_helpers.nets import Condition

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
    "EqualizedConv2d",
    "EqualizedLinear",
    "Generator",
    "MLPCritic",
    "MLPGenerator",
    "MinibatchStdDev",
    "PixelNorm",
    "ProgressiveCritic",
    "ProgressiveGenerator",
    "alp_penalty",
    "clip_weights",
    "cramer_critic_loss",
    "cramer_generator_loss",
    "critic_scores",
    "discriminator_loss",
    "fade_in",
    "generator_loss",
    "gradient_penalty",
    "progressive_schedule",
    "train_gan",
    "train_progressive",
    "wasserstein_losses",
]
