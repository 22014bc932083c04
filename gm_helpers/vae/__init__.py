"""Variational autoencoders, in the order of lecture 03.

- ``gm.vae.objective``: the reparameterization trick, the KL term, the decoder likelihoods, the
  (beta, free-bits) ELBO and KL annealing;
- ``gm.vae.models``: ``VAE`` (MLP or convolutional), ``ConditionalVAE`` and ``VQVAE``;
- ``gm.vae.training``: ``train_vae`` and ``importance_log_likelihood`` (the IWAE bound).

Everything is re-exported here: ``gm.vae.VAE``, ``gm.vae.train_vae``, ...
"""

from gm_helpers.vae.models import MNIST_SHAPE, VAE, VQVAE, ConditionalVAE
from gm_helpers.vae.objective import (
    ELBO,
    LIKELIHOODS,
    binarize,
    elbo,
    kl_divergence,
    kl_weight,
    log_likelihood,
    perplexity,
    reparameterize,
)
from gm_helpers.vae.training import importance_log_likelihood, train_vae

__all__ = [
    "ELBO",
    "LIKELIHOODS",
    "MNIST_SHAPE",
    "VAE",
    "VQVAE",
    "ConditionalVAE",
    "binarize",
    "elbo",
    "importance_log_likelihood",
    "kl_divergence",
    "kl_weight",
    "log_likelihood",
    "perplexity",
    "reparameterize",
    "train_vae",
]
