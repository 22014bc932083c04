"""Training and evaluating VAEs: ``train_vae`` (the course's training contract) and the
importance-weighted estimate of log p(x)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from gm_helpers.train import History, infinite_batches, prepare, seeded, train_loop
from gm_helpers.vae.models import VAE, VQVAE
from gm_helpers.vae.objective import kl_weight

__all__ = ["importance_log_likelihood", "train_vae"]


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
        A tensor of shape (N,), on the model's device (the data are moved there).

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
    device = next(model.parameters()).device
    x = x.to(device)
    context = None if context is None else context.to(device)
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


def train_vae(
    model: VAE | VQVAE,
    data: Tensor,
    *,
    context: Tensor | None = None,
    steps: int = 2000,
    batch_size: int = 100,
    lr: float = 1e-3,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    val_data: Tensor | None = None,
    val_context: Tensor | None = None,
    eval_every: int = 0,
    patience: int | None = None,
    snapshot: Callable[[nn.Module], object] | None = None,
    beta: float = 1.0,
    kl_warmup: int = 0,
    free_bits: float = 0.0,
) -> History:
    r"""Train a :class:`VAE`, :class:`ConditionalVAE` or :class:`VQVAE` with Adam on ``data``.

    The course's training contract (``gm_helpers.train``). Each step minimizes
    :math:`-\mathrm{ELBO}` (beta-weighted, with KL annealing over ``kl_warmup`` steps and free bits as
    options) or the VQ-VAE loss on one mini-batch.

    Arguments:
        model: the model; moved to ``device``.
        context: the condition of each sample (the labels of a ``ConditionalVAE``).
        beta: the KL weight (beta-VAE); ``kl_warmup`` > 0 ramps it up from 0 (:func:`kl_weight`).
        free_bits: nats per latent dimension that cost nothing (:func:`elbo`).

    Returns:
        A ``History``, one value per step: ``loss``, ``reconstruction`` (:math:`-\mathbb{E}\log p(x|z)`,
        the distortion), ``kl`` (the rate) and ``beta`` (the KL weight used) for VAEs; ``loss``,
        ``reconstruction``, ``codebook``, ``commitment`` and ``perplexity`` for a VQ-VAE. With
        ``val_data``: ``val_loss``, the loss on the validation data (for a VAE the negative ELBO with
        beta = 1), and the model ends with the state of its best value.
    """
    if not isinstance(model, VAE | VQVAE):
        raise ValueError(f"model must be a VAE, ConditionalVAE or VQVAE, got {type(model).__name__}")
    if isinstance(model, VQVAE) and context is not None:
        raise ValueError("a VQVAE is unconditional: do not pass context")
    device = prepare(model, data, context, device, val_data, val_context)
    batches = infinite_batches(data, context, batch_size=batch_size, seed=seed, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_terms(x: Tensor, c: Tensor | None, weight: float) -> tuple[Tensor, dict]:
        if isinstance(model, VQVAE):
            loss, out = model.loss(x)
            return loss, {k: out[k] for k in ("reconstruction", "codebook", "commitment", "perplexity")}
        terms = model.elbo(x, c, beta=weight, free_bits=free_bits)
        return -terms.objective, {"reconstruction": -terms.reconstruction, "kl": terms.kl}

    def step(i: int) -> dict[str, Tensor | float]:
        x, c = next(batches)
        weight = kl_weight(i, kl_warmup, beta)
        loss, terms = loss_terms(x, c, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss, **terms} | ({} if isinstance(model, VQVAE) else {"beta": weight})

    @torch.no_grad()
    def validate() -> dict[str, float]:
        total = 0.0
        for start in range(0, len(val_data), 1000):
            x = val_data[start : start + 1000].to(device)
            c = None if val_context is None else val_context[start : start + 1000].to(device)
            total += float(loss_terms(x, c, 1.0)[0]) * len(x)
        return {"val_loss": total / len(val_data)}

    with seeded(seed, device):
        history = train_loop(
            step,
            steps,
            desc=desc or type(model).__name__,
            progress=progress,
            modules=[model],
            validate=validate if val_data is not None else None,
            snapshot=None if snapshot is None else lambda: snapshot(model),
            eval_every=eval_every,
            monitor="val_loss" if val_data is not None else None,
            patience=patience,
            hint="a learning rate that is too high, or a Bernoulli likelihood on data outside [0, 1]",
        )
    model.eval()
    return history
