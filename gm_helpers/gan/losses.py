"""The losses of the GAN family: the original game, Wasserstein, gradient and adversarial Lipschitz
penalties, the Cramér GAN, and weight clipping. Each is a plain function of critic scores or of a
critic and a batch, so that a notebook can write a training step with them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "alp_penalty",
    "clip_weights",
    "critic_scores",
    "cramer_critic_loss",
    "cramer_generator_loss",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "wasserstein_losses",
]


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Discriminator loss of the original GAN, from logits (D = sigmoid(logit)).

    L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))], i.e. minus the value the discriminator
    maximizes in min_G max_D L_GAN. Binary cross-entropy with logits, stable for any logit.
    ``label_smoothing`` eps: the real samples' target is 1 - eps instead of 1 (one-sided).

    References:
        Goodfellow et al., Generative Adversarial Nets, arXiv:1406.2661.
        Salimans et al., Improved Techniques for Training GANs, arXiv:1606.03498 (label smoothing).
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1 - label_smoothing))
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


def critic_scores(critic: Callable, x: Tensor, context: Tensor | None = None) -> Tensor:
    """One score per sample, shape (B,): ``critic(x)``, or ``critic(x, context)`` when conditional."""
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
    (grad,) = torch.autograd.grad(critic_scores(critic, x_hat, context).sum(), x_hat, create_graph=True)
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
    scores = critic_scores(critic, x, context)
    d = torch.randn_like(x)
    for _ in range(power_iterations):
        d = (xi * _unit(d)).requires_grad_(True)
        gap = (scores.detach() - critic_scores(critic, x + d, context)).abs().sum()
        (d,) = torch.autograd.grad(gap, d)
    eps = torch.empty(len(x), device=x.device, dtype=x.dtype).uniform_(*eps_range)
    r = eps.view(-1, *[1] * (x.ndim - 1)) * _unit(d.detach())
    slope = (scores - critic_scores(critic, x + r, context)).abs() / eps
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
