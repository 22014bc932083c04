"""The VAE models: ``VAE`` (MLP or convolutional), ``ConditionalVAE`` and ``VQVAE``.

Every Gaussian-latent model follows one small interface, which ``elbo`` and
``importance_log_likelihood`` rely on: ``encode(x, context=None) -> (mu, logvar)``,
``decode(z, context=None) -> decoded`` (Bernoulli logits or Gaussian means, shaped like ``x``) and
``log_likelihood(x, decoded) -> log p(x | z)`` per sample; ``sample(n, context=None)`` draws new data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gm_helpers.model import Model
from gm_helpers.nets import Condition, mlp
from gm_helpers.vae.objective import ELBO, LIKELIHOODS, elbo, log_likelihood, perplexity, reparameterize

__all__ = ["MNIST_SHAPE", "VAE", "VQVAE", "ConditionalVAE"]

MNIST_SHAPE = (1, 28, 28)


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


class VAE(Model):
    r"""A variational autoencoder: Gaussian encoder :math:`q(z \mid x)`, prior :math:`\mathcal{N}(0, I)`.

    .. math:: q(z \mid x) = \mathcal{N}\big(\mu(x), \mathrm{diag}\,\sigma^2(x)\big), \quad
        p(x \mid z) = \text{Bernoulli}(\text{logits}(z)) \text{ or } \mathcal{N}(m(z), \sigma_x^2 I)

    Arguments:
        data_shape: the shape of one data point: an int (vectors) or e.g. (1, 28, 28).
        latent_features: the dimension of z.
        hidden: hidden layer widths of the MLP encoder and decoder (``()``: linear maps).
        architecture: ``"mlp"`` or ``"conv"`` (convolutional, for (1, 28, 28) images).
        likelihood: ``"bernoulli"`` (decoder gives logits) or ``"gaussian"`` (means, width ``sigma``).
        sigma: the fixed width of the Gaussian likelihood.
        context_features, n_classes, embedding_dim: the condition given to encoder and decoder: a
            vector of ``context_features``, or a label out of ``n_classes`` (one-hot with
            ``embedding_dim=None``, the default; see ``gm.nets.Condition``).

    References:
        | Auto-Encoding Variational Bayes (Kingma et al., 2013), https://arxiv.org/abs/1312.6114
        | Stochastic Backpropagation (Rezende et al., 2014), https://arxiv.org/abs/1401.4082

    Example:
        >>> model = VAE((1, 28, 28), latent_features=2)
        >>> model.sample(5).shape
        torch.Size([5, 1, 28, 28])
    """

    def __init__(
        self,
        data_shape: int | Sequence[int] = MNIST_SHAPE,
        latent_features: int = 16,
        hidden: Sequence[int] = (400,),
        architecture: str = "mlp",
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int | None = None,
    ):
        super().__init__()
        self.data_shape = _as_shape(data_shape)
        self.condition = Condition(context_features, n_classes, embedding_dim)
        conditional = self.condition.features
        if architecture not in ("mlp", "conv"):
            raise ValueError(f"architecture must be 'mlp' or 'conv', got {architecture!r}")
        if architecture == "conv" and (self.data_shape != MNIST_SHAPE or conditional):
            raise ValueError("the convolutional VAE is for unconditional (1, 28, 28) images")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if not isinstance(latent_features, int) or latent_features < 1:
            raise ValueError(f"latent_features must be a positive integer, got {latent_features!r}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.latent_features, self.likelihood, self.sigma = latent_features, likelihood, sigma
        features = math.prod(self.data_shape)
        if architecture == "conv":
            self.encoder, self.decoder = _conv_encoder(2 * latent_features), _conv_decoder(latent_features)
        else:
            self.encoder = mlp(features + conditional, 2 * latent_features, hidden)
            self.decoder = mlp(latent_features + conditional, features, hidden)
        self.architecture = architecture

    def _with_context(self, inputs: Tensor, context: Tensor | None) -> Tensor:
        condition = self.condition(context, len(inputs))
        return inputs if condition is None else torch.cat([inputs, condition.to(inputs.dtype)], 1)

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.data_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            want = ", ".join(map(str, self.data_shape))
            raise ValueError(f"x must be a tensor of shape (B, {want}), got {got}")

    def encode(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The parameters ``(mu, logvar)`` of q(z | x), each of shape (B, latent_features)."""
        self._check_x(x)
        inputs = x if self.architecture == "conv" else x.flatten(1)
        mu, logvar = self.encoder(self._with_context(inputs, context)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The decoder's output for z (B, latent_features): logits or means, shaped like the data."""
        if z.ndim != 2 or z.shape[1] != self.latent_features:
            raise ValueError(f"z must have shape (B, {self.latent_features}), got {tuple(z.shape)}")
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
        """The mean of p(x | z = mu(x)) (the reconstruction), on the model's device."""
        device = next(self.parameters()).device
        context = None if context is None else context.to(device)
        return self.mean(self.decode(self.encode(x.to(device), context)[0], context))

    @torch.no_grad()
    def sample(self, n: int, context=None) -> Tensor:
        """n new data points: z ~ N(0, I), returned as the mean of p(x | z) (the usual 'VAE sample').

        ``context``: None, one condition for all n samples (a label; a vector (k,)), or one per sample.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        z = torch.randn(n, self.latent_features, device=next(self.parameters()).device)
        return self.mean(self.decode(z, self.condition.expand(context, n, z.device)))


class ConditionalVAE(VAE):
    r"""A VAE conditioned on a class label: encoder :math:`q(z \mid x, y)`, decoder :math:`p(x \mid z, y)`.

    The label enters both networks as a one-hot vector (``gm.nets.Condition``); to draw a chosen
    digit, sample :math:`z \sim \mathcal{N}(0, I)` and decode it with that label:
    ``model.sample(n, context=labels)``.

    Arguments:
        n_classes: the number of labels (10 for MNIST digits).
        data_shape, latent_features, hidden, likelihood, sigma: as for :class:`VAE` (MLP only).

    References:
        Learning Structured Output Representation using Deep Conditional Generative Models
        (Sohn et al., NeurIPS 2015); Semi-Supervised Learning with Deep Generative Models
        (Kingma et al., 2014), https://arxiv.org/abs/1406.5298

    Example:
        >>> model = ConditionalVAE(n_classes=10)
        >>> model.sample(2, context=torch.tensor([3, 7])).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        n_classes: int = 10,
        data_shape: int | Sequence[int] = MNIST_SHAPE,
        latent_features: int = 16,
        hidden: Sequence[int] = (400,),
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
    ):
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        super().__init__(data_shape, latent_features, hidden, "mlp", likelihood, sigma, n_classes=n_classes)
        self.n_classes = n_classes


class VQVAE(Model):
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
            "perplexity": perplexity(usage),
        }

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The VQ-VAE loss (reconstruction + codebook + beta * commitment) and its terms."""
        out = self(x)
        return out["reconstruction"] + out["codebook"] + self.beta * out["commitment"], out

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The mean of p(x | z_q(x)), on the model's device."""
        return self.mean(self(x.to(self.codebook.weight.device))["decoded"])

    @torch.no_grad()
    def codebook_usage(self, x: Tensor) -> tuple[Tensor, float]:
        r"""How often each code is used on ``x`` (fractions, shape (K,)) and the perplexity
        :math:`\exp(-\sum_k p_k \log p_k)` (K when all codes are used equally, 1 when one code is)."""
        device = self.codebook.weight.device
        codes = torch.cat([self.quantize(self.encoder(b.to(device)))[1].flatten() for b in x.split(256)])
        usage = torch.bincount(codes, minlength=self.n_codes).float() / codes.numel()
        return usage, float(perplexity(usage))

    @torch.no_grad()
    def elbo_bound(self, x: Tensor) -> Tensor:
        r"""A lower bound of log p(x) per sample, with a uniform prior over the codes and the
        deterministic one-hot posterior of the paper: :math:`\log p(x \mid z_q) - HW \log K`."""
        out = self(x.to(self.codebook.weight.device))
        x = x.to(out["decoded"].device)
        positions = out["codes"][0].numel()
        log_px = log_likelihood(x, out["decoded"], self.likelihood, self.sigma)
        return log_px - positions * math.log(self.n_codes)
