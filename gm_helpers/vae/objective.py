"""The VAE objective: the reparameterization trick, the KL term, the decoder's likelihood and the ELBO
(with beta, free bits and KL annealing), as plain functions a notebook can write a training step with.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ELBO",
    "LIKELIHOODS",
    "binarize",
    "elbo",
    "kl_divergence",
    "kl_weight",
    "log_likelihood",
    "perplexity",
    "reparameterize",
]

LIKELIHOODS = ("bernoulli", "gaussian")


def _check_pair(mu: Tensor, logvar: Tensor) -> None:
    if not isinstance(mu, Tensor) or not isinstance(logvar, Tensor):
        raise ValueError(f"mu and logvar must be tensors, got {type(mu).__name__}, {type(logvar).__name__}")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar differ in shape: {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if mu.ndim < 2:
        raise ValueError(f"mu and logvar must be batched, shape (B, latent_features), got {tuple(mu.shape)}")


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""The reparameterization trick: draw :math:`z \sim \mathcal{N}(\mu, \sigma^2)` so that gradients
    flow to :math:`\mu` and :math:`\log\sigma^2`.

    .. math:: z = \mu + \sigma \odot \varepsilon, \quad \sigma = e^{\frac12 \log\sigma^2},
        \quad \varepsilon \sim \mathcal{N}(0, I)

    The randomness sits in :math:`\varepsilon`, which does not depend on the parameters.

    Arguments:
        mu: the means, shape (B, D).
        logvar: the log-variances :math:`\log\sigma^2`, same shape.

    References:
        Auto-Encoding Variational Bayes (Kingma et al., 2013), https://arxiv.org/abs/1312.6114

    Example:
        >>> z = reparameterize(torch.zeros(3, 2), torch.zeros(3, 2))
        >>> z.shape
        torch.Size([3, 2])
    """
    _check_pair(mu, logvar)
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal, one value per sample (nats).

    .. math:: D_{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, I)\big)
        = -\frac12 \sum_j \left(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\right)

    Arguments:
        mu: the means, shape (B, D, ...); summed over every dimension but the first.
        logvar: the log-variances, same shape.

    Returns:
        A tensor of shape (B,).

    References:
        Auto-Encoding Variational Bayes (Kingma et al., 2013), appendix B, https://arxiv.org/abs/1312.6114

    Example:
        >>> kl_divergence(torch.ones(2, 4), torch.zeros(2, 4))
        tensor([2., 2.])
    """
    _check_pair(mu, logvar)
    return -0.5 * (1 + logvar - mu.square() - logvar.exp()).flatten(1).sum(1)


def log_likelihood(x: Tensor, decoded: Tensor, likelihood: str = "bernoulli", sigma: float = 1.0) -> Tensor:
    r"""The decoder's log-density :math:`\log p(x \mid z)` per sample, summed over every non-batch dimension.

    - ``"bernoulli"``: ``decoded`` are logits :math:`\ell`,
      :math:`\log p = \sum_i x_i \log s(\ell_i) + (1 - x_i) \log(1 - s(\ell_i))`, :math:`s` the sigmoid;
    - ``"gaussian"``: ``decoded`` are means :math:`m`, fixed width :math:`\sigma`,
      :math:`\log p = -\sum_i \left[\frac{(x_i - m_i)^2}{2\sigma^2} + \log\sigma + \frac12\log 2\pi\right]`.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if x.shape != decoded.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but the decoder gave {tuple(decoded.shape)}")
    if likelihood == "bernoulli":
        return -F.binary_cross_entropy_with_logits(decoded, x, reduction="none").flatten(1).sum(1)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    per_entry = (x - decoded).square() / (2 * sigma**2) + math.log(sigma) + 0.5 * math.log(2 * math.pi)
    return -per_entry.flatten(1).sum(1)


class ELBO(NamedTuple):
    """The terms of the (beta-weighted) evidence lower bound, averaged over the batch (nats)."""

    objective: Tensor  #: reconstruction - beta * (KL, or its free-bits version): maximize it
    reconstruction: Tensor  #: E_q log p(x | z), estimated with one z per sample
    kl: Tensor  #: KL(q(z | x) || p(z)), always the true KL (also with free bits)


def elbo(
    x: Tensor,
    decoded: Tensor,
    mu: Tensor,
    logvar: Tensor,
    likelihood: str = "bernoulli",
    beta: float = 1.0,
    free_bits: float = 0.0,
    sigma: float = 1.0,
) -> ELBO:
    r"""The evidence lower bound, from one reparameterized sample :math:`z \sim q(z \mid x)` per data point.

    .. math:: \log p(x) \geq \mathrm{ELBO} = \mathbb{E}_{q(z|x)}[\log p(x \mid z)]
        - \beta\, D_{KL}\big(q(z \mid x) \,\|\, \mathcal{N}(0, I)\big)

    With :math:`\beta = 1` it is the ELBO; :math:`\beta \neq 1` gives the beta-VAE objective. Free bits
    replace the KL term by :math:`\sum_j \max(\lambda, \overline{KL}_j)`, the batch-mean KL of latent
    dimension :math:`j` floored at :math:`\lambda` nats, so that the encoder may use :math:`\lambda` nats
    per dimension at no cost (a cure for posterior collapse). KL annealing is ``beta`` growing with the
    step (:func:`kl_weight`).

    Arguments:
        x: the data, shape (B, ...); in [0, 1] for the Bernoulli likelihood.
        decoded: the decoder's output for ``z`` (logits or means), shaped like ``x``.
        mu: the encoder's means, shape (B, D).
        logvar: the encoder's log-variances, shape (B, D).
        likelihood: ``"bernoulli"`` or ``"gaussian"`` (see :func:`log_likelihood`).
        beta: the weight of the KL term.
        free_bits: :math:`\lambda`, nats per latent dimension (0: off).
        sigma: the width of the Gaussian likelihood.

    Returns:
        An :class:`ELBO` of batch means; the loss to minimize is ``-elbo(...).objective``.

    References:
        | Auto-Encoding Variational Bayes (Kingma et al., 2013), https://arxiv.org/abs/1312.6114
        | beta-VAE (Higgins et al., ICLR 2017), https://openreview.net/forum?id=Sy2fzU9gl
        | Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016),
          free bits, https://arxiv.org/abs/1606.04934
    """
    _check_pair(mu, logvar)
    if x.shape[0] != mu.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but mu has {mu.shape[0]}")
    if beta < 0 or free_bits < 0:
        raise ValueError(f"beta and free_bits must be non-negative, got beta={beta}, free_bits={free_bits}")
    if likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
        raise ValueError("the Bernoulli likelihood needs x in [0, 1]; rescale x or use likelihood='gaussian'")
    reconstruction = log_likelihood(x, decoded, likelihood, sigma).mean()
    kl = kl_divergence(mu, logvar).mean()
    if free_bits > 0:
        per_dim = -0.5 * (1 + logvar - mu.square() - logvar.exp()).flatten(1).mean(0)
        penalty = per_dim.clamp(min=free_bits).sum()
    else:
        penalty = kl
    return ELBO(reconstruction - beta * penalty, reconstruction, kl)


def kl_weight(step: int, warmup_steps: int, beta: float = 1.0) -> float:
    r"""KL annealing: the KL weight grows linearly from 0 to ``beta`` over ``warmup_steps`` steps.

    .. math:: \beta_t = \beta \min(1, t / T_\text{warmup})

    References:
        Generating Sentences from a Continuous Space (Bowman et al., 2015), https://arxiv.org/abs/1511.06349
    """
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    return beta if warmup_steps == 0 else beta * min(1.0, step / warmup_steps)


def binarize(images: Tensor, seed: int = 0) -> Tensor:
    """Stochastically binarized images: each pixel is 1 with probability its grey value (seeded)."""
    if images.min() < 0 or images.max() > 1:
        raise ValueError("binarize needs grey values in [0, 1]")
    generator = torch.Generator(device=images.device).manual_seed(seed)
    return torch.bernoulli(images, generator=generator)


def perplexity(usage: Tensor) -> Tensor:
    r"""The perplexity :math:`\exp(-\sum_k p_k \log p_k)` of code frequencies ``usage`` (K,) summing to 1:
    the effective number of codes in use (K when all are used equally, 1 when one code does all).

    Example:
        >>> round(float(perplexity(torch.full((4,), 0.25))), 4)
        4.0
    """
    return torch.exp(-(usage * torch.log(usage + 1e-10)).sum())
