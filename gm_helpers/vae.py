"""Variational autoencoders: the reparameterization trick, the ELBO, VAE / conditional VAE / VQ-VAE models,
importance-weighted log-likelihood estimates and one training function.

Every model here follows one small interface, which :func:`elbo` and :func:`importance_log_likelihood`
rely on: ``encode(x, context=None) -> (mu, logvar)``, ``decode(z, context=None) -> decoded`` (Bernoulli
logits or Gaussian means, shaped like ``x``) and ``log_likelihood(x, decoded) -> log p(x | z)`` per sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_helpers.core import get_device
from gm_helpers.train import infinite_batches, train_loop

__all__ = [
    "ELBO",
    "VAE",
    "VQVAE",
    "ConditionalVAE",
    "binarize",
    "elbo",
    "importance_log_likelihood",
    "kl_divergence",
    "kl_weight",
    "log_likelihood",
    "reparameterize",
    "train_vae",
]

LIKELIHOODS = ("bernoulli", "gaussian")
MNIST_SHAPE = (1, 28, 28)


def _check_pair(mu: Tensor, logvar: Tensor) -> None:
    if not isinstance(mu, Tensor) or not isinstance(logvar, Tensor):
        raise ValueError(f"mu and logvar must be tensors, got {type(mu).__name__}, {type(logvar).__name__}")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar differ in shape: {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if mu.ndim < 2:
        raise ValueError(f"mu and logvar must be batched, shape (B, latent_dim), got {tuple(mu.shape)}")


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


# --- networks -------------------------------------------------------------------------------------


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _conv_encoder(out_features: int, channels: int = 32) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, channels, 4, 2, 1), nn.ReLU(),  # 28 -> 14
        nn.Conv2d(channels, 2 * channels, 4, 2, 1), nn.ReLU(),  # 14 -> 7
        nn.Flatten(), nn.Linear(2 * channels * 49, out_features),
    )  # fmt: skip


def _conv_decoder(in_features: int, channels: int = 32) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, 2 * channels * 49), nn.ReLU(), nn.Unflatten(1, (2 * channels, 7, 7)),
        nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1), nn.ReLU(),  # 7 -> 14
        nn.ConvTranspose2d(channels, 1, 4, 2, 1),  # 14 -> 28
    )  # fmt: skip


def _as_shape(data_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (data_shape,) if isinstance(data_shape, int) else tuple(data_shape)
    if not shape or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"data_shape must be a positive int or a tuple of them, got {data_shape!r}")
    return shape


class VAE(nn.Module):
    r"""A variational autoencoder: Gaussian encoder :math:`q(z \mid x)`, prior :math:`\mathcal{N}(0, I)`.

    .. math:: q(z \mid x) = \mathcal{N}\big(\mu(x), \mathrm{diag}\,\sigma^2(x)\big), \quad
        p(x \mid z) = \text{Bernoulli}(\text{logits}(z)) \text{ or } \mathcal{N}(m(z), \sigma_x^2 I)

    Arguments:
        data_shape: the shape of one data point: an int (vectors) or e.g. (1, 28, 28).
        latent_dim: the dimension of z.
        hidden: hidden layer widths of the MLP encoder and decoder (``()``: linear maps).
        architecture: ``"mlp"`` or ``"conv"`` (convolutional, for (1, 28, 28) images).
        likelihood: ``"bernoulli"`` (decoder gives logits) or ``"gaussian"`` (means, width ``sigma``).
        sigma: the fixed width of the Gaussian likelihood.
        context_features: size of a condition vector given to encoder and decoder (0: none).

    References:
        | Auto-Encoding Variational Bayes (Kingma et al., 2013), https://arxiv.org/abs/1312.6114
        | Stochastic Backpropagation (Rezende et al., 2014), https://arxiv.org/abs/1401.4082

    Example:
        >>> model = VAE((1, 28, 28), latent_dim=2)
        >>> model.sample(5).shape
        torch.Size([5, 1, 28, 28])
    """

    def __init__(
        self,
        data_shape: int | Sequence[int] = MNIST_SHAPE,
        latent_dim: int = 16,
        hidden: Sequence[int] = (400,),
        architecture: str = "mlp",
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
        context_features: int = 0,
    ):
        super().__init__()
        self.data_shape = _as_shape(data_shape)
        if architecture not in ("mlp", "conv"):
            raise ValueError(f"architecture must be 'mlp' or 'conv', got {architecture!r}")
        if architecture == "conv" and (self.data_shape != MNIST_SHAPE or context_features):
            raise ValueError("the convolutional VAE is for unconditional (1, 28, 28) images")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.latent_dim, self.likelihood, self.sigma = latent_dim, likelihood, sigma
        self.context_features = context_features
        features = math.prod(self.data_shape)
        if architecture == "conv":
            self.encoder, self.decoder = _conv_encoder(2 * latent_dim), _conv_decoder(latent_dim)
        else:
            self.encoder = _mlp([features + context_features, *hidden, 2 * latent_dim])
            self.decoder = _mlp([latent_dim + context_features, *hidden, features])
        self.architecture = architecture

    def _with_context(self, inputs: Tensor, context: Tensor | None) -> Tensor:
        if self.context_features == 0:
            if context is not None:
                raise ValueError("this model is unconditional; do not pass a context")
            return inputs
        if context is None or context.shape != (len(inputs), self.context_features):
            got = None if context is None else tuple(context.shape)
            want = (len(inputs), self.context_features)
            raise ValueError(f"a context of shape {want} is needed, got {got}")
        return torch.cat([inputs, context.to(inputs.dtype)], 1)

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.data_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            want = ", ".join(map(str, self.data_shape))
            raise ValueError(f"x must be a tensor of shape (B, {want}), got {got}")

    def encode(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The parameters ``(mu, logvar)`` of q(z | x), each of shape (B, latent_dim)."""
        self._check_x(x)
        inputs = x if self.architecture == "conv" else x.flatten(1)
        mu, logvar = self.encoder(self._with_context(inputs, context)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The decoder's output for latent points z (B, latent_dim): logits or means, shaped like the data."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(self._with_context(z, context)).reshape(len(z), *self.data_shape)

    def mean(self, decoded: Tensor) -> Tensor:
        """The mean of p(x | z): sigmoid of the logits, or the Gaussian mean itself."""
        return torch.sigmoid(decoded) if self.likelihood == "bernoulli" else decoded

    def log_likelihood(self, x: Tensor, decoded: Tensor) -> Tensor:
        """log p(x | z) per sample (see :func:`log_likelihood`)."""
        return log_likelihood(x, decoded, self.likelihood, self.sigma)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, draw one z by :func:`reparameterize`, decode: returns ``(decoded, mu, logvar)``."""
        mu, logvar = self.encode(x, context)
        return self.decode(reparameterize(mu, logvar), context), mu, logvar

    def elbo(
        self, x: Tensor, context: Tensor | None = None, beta: float = 1.0, free_bits: float = 0.0
    ) -> ELBO:
        """The (beta-weighted, free-bits) ELBO of a batch with this model's likelihood (see :func:`elbo`)."""
        decoded, mu, logvar = self(x, context)
        return elbo(x, decoded, mu, logvar, self.likelihood, beta, free_bits, self.sigma)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The mean of p(x | z = mu(x)): the reconstruction through the posterior mean."""
        return self.mean(self.decode(self.encode(x, context)[0], context))

    @torch.no_grad()
    def sample(self, n: int, context: Tensor | None = None) -> Tensor:
        """n new data points: z ~ N(0, I), returned as the mean of p(x | z) (the usual 'VAE sample')."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        z = torch.randn(n, self.latent_dim, device=next(self.parameters()).device)
        return self.mean(self.decode(z, context))


class ConditionalVAE(VAE):
    r"""A VAE conditioned on a class label: encoder :math:`q(z \mid x, y)`, decoder :math:`p(x \mid z, y)`.

    The label enters both networks as a one-hot vector; to draw a chosen digit, sample
    :math:`z \sim \mathcal{N}(0, I)` and decode it with that label.

    Arguments:
        n_classes: the number of labels (10 for MNIST digits).
        data_shape, latent_dim, hidden, likelihood, sigma: as for :class:`VAE` (MLP only).

    References:
        Learning Structured Output Representation using Deep Conditional Generative Models
        (Sohn et al., NeurIPS 2015); Semi-Supervised Learning with Deep Generative Models
        (Kingma et al., 2014), https://arxiv.org/abs/1406.5298

    Example:
        >>> model = ConditionalVAE(n_classes=10)
        >>> model.sample(torch.tensor([3, 7])).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        n_classes: int = 10,
        data_shape: int | Sequence[int] = MNIST_SHAPE,
        latent_dim: int = 16,
        hidden: Sequence[int] = (400,),
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
    ):
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        super().__init__(data_shape, latent_dim, hidden, "mlp", likelihood, sigma, context_features=n_classes)
        self.n_classes = n_classes

    def one_hot(self, labels: Tensor) -> Tensor:
        """Integer labels (B,) as one-hot vectors (B, n_classes); already one-hot input passes through."""
        labels = torch.as_tensor(labels, device=next(self.parameters()).device)
        if labels.ndim == 2:
            return labels.float()
        if labels.ndim != 1 or labels.dtype.is_floating_point:
            raise ValueError(f"labels must be integers, shape (B,), got {labels.dtype} {tuple(labels.shape)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(f"labels must lie in 0 .. {self.n_classes - 1}")
        return F.one_hot(labels, self.n_classes).float()

    def _with_context(self, inputs: Tensor, context: Tensor | None) -> Tensor:
        if context is None:
            raise ValueError("a ConditionalVAE needs the labels: pass context=labels")
        return super()._with_context(inputs, self.one_hot(context))

    @torch.no_grad()
    def sample(self, labels: Tensor) -> Tensor:  # type: ignore[override]
        """One new data point per label in ``labels`` (B,): the mean of p(x | z, y), z ~ N(0, I)."""
        context = self.one_hot(labels)
        z = torch.randn(len(context), self.latent_dim, device=context.device)
        return self.mean(self.decode(z, context))


class VQVAE(nn.Module):
    r"""A vector-quantized VAE for (1, 28, 28) images: a 7 x 7 grid of discrete codes from a learned codebook.

    The encoder output :math:`z_e` at each position is replaced by its nearest codebook vector
    :math:`e_k`, :math:`k = \arg\min_j \|z_e - e_j\|`. The argmin has no gradient, so the
    straight-through estimator copies the decoder's gradient to the encoder,
    :math:`z_q = z_e + \mathrm{sg}[e_k - z_e]`. The loss is

    .. math:: -\log p(x \mid z_q) + \|\mathrm{sg}[z_e] - e_k\|^2 + \beta\,\|z_e - \mathrm{sg}[e_k]\|^2

    (reconstruction, codebook and commitment terms; sg = stop-gradient, :math:`\beta = 0.25`).

    Arguments:
        n_codes: the codebook size K.
        code_dim: the dimension of each codebook vector.
        beta: the commitment weight.
        likelihood: ``"bernoulli"`` or ``"gaussian"`` reconstruction term.
        sigma: the width of the Gaussian likelihood.
        channels: the width of the convolutional encoder and decoder.

    References:
        Neural Discrete Representation Learning (van den Oord et al., 2017), https://arxiv.org/abs/1711.00937

    Example:
        >>> model = VQVAE(n_codes=32)
        >>> out = model(torch.rand(4, 1, 28, 28))
        >>> out["codes"].shape
        torch.Size([4, 7, 7])
    """

    def __init__(
        self,
        n_codes: int = 64,
        code_dim: int = 16,
        beta: float = 0.25,
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
        channels: int = 32,
    ):
        super().__init__()
        if not isinstance(n_codes, int) or n_codes < 2:
            raise ValueError(f"n_codes must be an integer >= 2, got {n_codes!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.n_codes, self.code_dim, self.beta = n_codes, code_dim, beta
        self.likelihood, self.sigma = likelihood, sigma
        self.encoder = nn.Sequential(
            nn.Conv2d(1, channels, 4, 2, 1), nn.ReLU(),  # 28 -> 14
            nn.Conv2d(channels, channels, 4, 2, 1), nn.ReLU(),  # 14 -> 7
            nn.Conv2d(channels, code_dim, 1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, channels, 3, 1, 1), nn.ReLU(),
            nn.ConvTranspose2d(channels, channels, 4, 2, 1), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(channels, 1, 4, 2, 1),  # 14 -> 28
        )  # fmt: skip
        self.codebook = nn.Embedding(n_codes, code_dim)
        self.codebook.weight.data.uniform_(-1 / n_codes, 1 / n_codes)

    def quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest codebook vectors of z_e (B, code_dim, H, W): returns ``(e_k, codes)``, codes (B, H, W)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.code_dim)
        codes = torch.cdist(flat, self.codebook.weight).argmin(1)
        b, _, h, w = z_e.shape
        quantized = self.codebook(codes).reshape(b, h, w, self.code_dim).permute(0, 3, 1, 2)
        return quantized, codes.reshape(b, h, w)

    def decode_codes(self, codes: Tensor) -> Tensor:
        """The decoder's output (logits or means) for a grid of code indices (B, H, W)."""
        return self.decoder(self.codebook(codes).permute(0, 3, 1, 2))

    def mean(self, decoded: Tensor) -> Tensor:
        """The mean of p(x | z_q): sigmoid of the logits, or the Gaussian mean."""
        return torch.sigmoid(decoded) if self.likelihood == "bernoulli" else decoded

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Encode, quantize, decode. Returns the decoded batch, the codes and the loss terms (batch means)."""
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != MNIST_SHAPE:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor of shape (B, 1, 28, 28), got {got}")
        z_e = self.encoder(x)
        quantized, codes = self.quantize(z_e)
        z_q = z_e + (quantized - z_e).detach()  # straight-through: forward e_k, backward identity
        decoded = self.decoder(z_q)
        usage = torch.bincount(codes.flatten(), minlength=self.n_codes).float() / codes.numel()
        return {
            "decoded": decoded,
            "codes": codes,
            "reconstruction": -log_likelihood(x, decoded, self.likelihood, self.sigma).mean(),
            "codebook": (z_e.detach() - quantized).square().flatten(1).sum(1).mean(),
            "commitment": (z_e - quantized.detach()).square().flatten(1).sum(1).mean(),
            "perplexity": torch.exp(-(usage * torch.log(usage + 1e-10)).sum()),
        }

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The VQ-VAE loss (reconstruction + codebook + beta * commitment) and its terms."""
        out = self(x)
        return out["reconstruction"] + out["codebook"] + self.beta * out["commitment"], out

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.mean(self(x)["decoded"])

    @torch.no_grad()
    def codebook_usage(self, x: Tensor) -> tuple[Tensor, float]:
        r"""How often each code is used on ``x`` (fractions, shape (K,)) and the perplexity
        :math:`\exp(-\sum_k p_k \log p_k)` (K when all codes are used equally, 1 when one code is)."""
        codes = torch.cat([self.quantize(self.encoder(batch))[1].flatten() for batch in x.split(256)])
        usage = torch.bincount(codes, minlength=self.n_codes).float() / codes.numel()
        return usage, float(torch.exp(-(usage * torch.log(usage + 1e-10)).sum()))

    @torch.no_grad()
    def elbo_bound(self, x: Tensor) -> Tensor:
        r"""A lower bound of log p(x) per sample, with a uniform prior over the codes and the
        deterministic one-hot posterior of the paper: :math:`\log p(x \mid z_q) - HW \log K`."""
        out = self(x)
        positions = out["codes"][0].numel()
        log_px = log_likelihood(x, out["decoded"], self.likelihood, self.sigma)
        return log_px - positions * math.log(self.n_codes)


# --- evaluation -----------------------------------------------------------------------------------


@torch.no_grad()
def importance_log_likelihood(
    model: VAE, x: Tensor, k: int = 100, context: Tensor | None = None, batch_size: int = 10_000
) -> Tensor:
    r"""The importance-weighted estimate of :math:`\log p(x)` per sample (the IWAE bound), in nats.

    .. math:: \log p(x) \gtrsim \log \frac{1}{K} \sum_{k=1}^K \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)},
        \quad z_k \sim q(z \mid x)

    computed with ``logsumexp``. For K = 1 its expectation is the ELBO; it grows towards
    :math:`\log p(x)` as K grows.

    Arguments:
        model: a :class:`VAE` or :class:`ConditionalVAE` (anything with ``encode``, ``decode``,
            ``log_likelihood``).
        x: the data, shape (N, ...).
        k: the number of importance samples per data point.
        context: the labels of a conditional model (then the estimate is of log p(x | y)).
        batch_size: at most this many (data point, sample) pairs are decoded at once.

    Returns:
        A tensor of shape (N,).

    References:
        Importance Weighted Autoencoders (Burda et al., 2015), https://arxiv.org/abs/1509.00519
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise ValueError("x must be a batched tensor (N, ...)")
    if isinstance(model, VQVAE):
        raise ValueError("a VQ-VAE has no Gaussian posterior to sample: use model.elbo_bound(x)")
    if context is not None and len(context) != len(x):
        raise ValueError(f"{len(x)} data points but {len(context)} context rows")
    was_training = model.training
    model.eval()
    per_chunk = max(1, batch_size // k)
    results = []
    for start in range(0, len(x), per_chunk):
        xb = x[start : start + per_chunk]
        cb = None if context is None else context[start : start + per_chunk]
        mu, logvar = model.encode(xb, cb)
        n, d = mu.shape
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, n, d, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps  # (k, n, d)
        log_q = -0.5 * (eps.square() + logvar + math.log(2 * math.pi)).sum(-1)
        log_prior = -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)
        decoded = model.decode(z.reshape(k * n, d), None if cb is None else torch.cat([cb] * k))
        log_px = model.log_likelihood(torch.cat([xb] * k), decoded).reshape(k, n)
        results.append(torch.logsumexp(log_px + log_prior - log_q, dim=0) - math.log(k))
    model.train(was_training)
    return torch.cat(results)


# --- training -------------------------------------------------------------------------------------


def train_vae(
    model: VAE | VQVAE,
    data: Tensor,
    labels: Tensor | None = None,
    n_steps: int = 2000,
    batch_size: int = 100,
    lr: float = 1e-3,
    beta: float = 1.0,
    kl_warmup: int = 0,
    free_bits: float = 0.0,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> dict[str, list[float]]:
    r"""Train a :class:`VAE`, :class:`ConditionalVAE` or :class:`VQVAE` with Adam on ``data``.

    Each step minimizes :math:`-\mathrm{ELBO}` (beta-weighted, with KL annealing over ``kl_warmup``
    steps and free bits as options) or the VQ-VAE loss on one mini-batch, through
    :func:`gm_helpers.train.train_loop` (progress bar, stops with a clear message on a NaN loss).

    Arguments:
        model: the model; moved to ``device``.
        data: the training data (N, ...).
        labels: the labels (N,), required for a :class:`ConditionalVAE`.
        n_steps, batch_size, lr: optimization settings.
        beta: the KL weight (beta-VAE); ``kl_warmup`` > 0 ramps it up from 0 (:func:`kl_weight`).
        free_bits: nats per latent dimension that cost nothing (:func:`elbo`).
        device: where to train (default :func:`gm_helpers.get_device`).

    Returns:
        The history, one value per step: ``loss``, ``reconstruction`` (:math:`-\mathbb{E}\log p(x|z)`,
        the distortion) and ``kl`` (the rate) for VAEs, ``beta`` the KL weight used; ``loss``,
        ``reconstruction``, ``codebook``, ``commitment`` and ``perplexity`` for a VQ-VAE.
    """
    device = torch.device(device) if device is not None else get_device()
    conditional = isinstance(model, ConditionalVAE)
    if conditional and labels is None:
        raise ValueError("a ConditionalVAE is trained on (data, labels): pass labels=")
    if not conditional and labels is not None:
        raise ValueError("labels are only used by a ConditionalVAE")
    if not isinstance(model, VAE | VQVAE):
        raise ValueError(f"model must be a VAE, ConditionalVAE or VQVAE, got {type(model).__name__}")
    model.to(device).train()
    torch.manual_seed(seed)
    tensors = (data, labels) if conditional else (data,)
    batches = infinite_batches(*tensors, batch_size=batch_size, seed=seed, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(i: int) -> dict[str, Tensor | float]:
        batch = next(batches)
        if isinstance(model, VQVAE):
            loss, out = model.loss(batch[0])
            terms = {k: out[k] for k in ("reconstruction", "codebook", "commitment", "perplexity")}
        else:
            weight = kl_weight(i, kl_warmup, beta)
            context = batch[1] if conditional else None
            terms_ = model.elbo(batch[0], context, beta=weight, free_bits=free_bits)
            loss = -terms_.objective
            terms = {"reconstruction": -terms_.reconstruction, "kl": terms_.kl, "beta": weight}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss, **terms}

    history = train_loop(
        step, n_steps, desc=desc or type(model).__name__, progress=progress,
        hint="a learning rate that is too high, or a Bernoulli likelihood on data outside [0, 1]",
    )  # fmt: skip
    model.eval()
    return history
