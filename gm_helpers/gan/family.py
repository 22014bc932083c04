"""The GAN family and its one training loop.

The family tree follows the lecture (and pidgan): ``GAN`` -> ``WGAN`` (clipping) -> ``WGANGP``
(gradient penalty) and ``WGANALP`` (adversarial Lipschitz penalty), and ``CramerGAN``. Each member
is a recipe, the losses and optimizer settings of one model, and overrides only what differs;
``train_gan`` runs any of them under the course's training contract (``gm_helpers.train``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

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
from gm_helpers.gan.networks import Generator
from gm_helpers.train import History, infinite_batches, prepare, seeded, train_loop

__all__ = ["FAMILY", "GAN", "WGAN", "WGANALP", "WGANGP", "CramerGAN", "train_gan"]


class GAN:
    """The original GAN: BCE losses from logits, one discriminator step per generator step.

    Two stabilizers of pidgan's ``BceGAN`` (the LHCb PID recipe), both off by default:
    ``label_smoothing`` eps trains the discriminator towards 1 - eps on real samples (one-sided
    label smoothing, Salimans et al., arXiv:1606.03498), and ``injected_noise`` sigma adds
    N(0, sigma^2) to every sample the discriminator sees, real and generated (instance noise,
    Sønderby et al., arXiv:1610.04490): both keep the discriminator from becoming overconfident.
    """

    n_critic = 1
    optimizer = "adam"
    lr, betas = 2e-4, (0.5, 0.999)
    fakes = 1  # generated batches each loss needs

    def __init__(
        self,
        generator_loss_kind: str = "nonsaturating",
        label_smoothing: float = 0.0,
        injected_noise: float = 0.0,
    ):
        generator_loss(torch.zeros(1), generator_loss_kind)  # fail early on a bad kind
        if not 0 <= label_smoothing < 0.5 or injected_noise < 0:
            raise ValueError(
                f"need 0 <= label_smoothing < 0.5 and injected_noise >= 0, "
                f"got {label_smoothing} and {injected_noise}"
            )
        self.generator_loss_kind = generator_loss_kind
        self.label_smoothing, self.injected_noise = label_smoothing, injected_noise

    def _scores(self, critic, x: Tensor, context) -> Tensor:
        if self.injected_noise:
            x = x + self.injected_noise * torch.randn_like(x)
        return critic_scores(critic, x, context)

    def critic_losses(self, critic, real, fakes, context) -> dict[str, Tensor]:
        return {
            "critic": discriminator_loss(
                self._scores(critic, real, context),
                self._scores(critic, fakes[0], context),
                label_smoothing=self.label_smoothing,
            )
        }

    def after_critic_step(self, critic: nn.Module) -> None:
        pass

    def generator_loss(self, critic, real, fakes, context) -> Tensor:
        return generator_loss(self._scores(critic, fakes[0], context), self.generator_loss_kind)


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
            "critic": wasserstein_losses(
                critic_scores(critic, real, context), critic_scores(critic, fakes[0], context)
            )[0]
        }

    def after_critic_step(self, critic):
        clip_weights(critic, self.clip)

    def generator_loss(self, critic, real, fakes, context):
        return wasserstein_losses(
            critic_scores(critic, real, context), critic_scores(critic, fakes[0], context)
        )[1]


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
    context: Tensor | None = None,
    steps: int = 1000,
    batch_size: int = 128,
    lr: float | None = None,
    betas: tuple[float, float] | None = None,
    n_critic: int | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    val_data: Tensor | None = None,
    val_context: Tensor | None = None,
    eval_every: int = 0,
    patience: int | None = None,
    snapshot: Callable[[Generator], object] | None = None,
    before_step: Callable[[int], tuple[Mapping[str, float], Callable[[Tensor], Tensor] | None]] | None = None,
    **options,
) -> History:
    """Train a generator against a critic, for any member of the family: ``kind`` in ``FAMILY``.

    The course's training contract (``gm_helpers.train``). Each of the ``steps`` steps does
    ``n_critic`` critic updates (each on a fresh batch), then one generator update. With a condition
    (``context``: labels or vectors aligned with ``data``), the fakes are generated with the
    condition of the real batch and both players see it.

    Arguments:
        generator: a ``Generator`` (``forward(z, context)``, ``noise(n)``).
        critic: the discriminator / critic (for "cramer", an embedding with out_features > 1).
        data: the training samples (N, ...).
        kind: "gan", "wgan", "wgan-gp", "wgan-alp" or "cramer".
        n_critic, lr, betas: override the family's defaults (see the classes ``GAN`` ... ``CramerGAN``).
        eval_every, snapshot: every ``eval_every`` steps and after the last, record
            ``snapshot(generator)`` (generator in eval mode); with ``eval_every`` and no
            ``snapshot``, 1,000 samples from fixed noise (with the first 1,000 conditions), on the CPU.
        options: for the family member: ``generator_loss_kind``, ``label_smoothing`` and
            ``injected_noise`` ("gan"), ``clip`` ("wgan"),
            ``lam`` and ``penalty`` (a penalty function replacing the default, for the exercises).
        val_data, val_context, patience: not available: a GAN has no likelihood to validate;
            follow it with ``snapshot`` instead.
        before_step: for trainers that change the players as they go (``train_progressive``):
            ``before_step(i)`` is called before step i and returns figures to log with its losses
            and a function applied to each real batch of the step (or None).

    Returns:
        A ``History``: ``critic``, ``generator`` and, for penalized kinds, ``penalty``, one value per
        generator step; the snapshots in ``history.snapshots``.
    """
    if kind not in FAMILY:
        raise ValueError(f"kind must be one of {', '.join(FAMILY)}, got {kind!r}")
    if val_data is not None or val_context is not None or patience is not None:
        raise ValueError(
            "a GAN has no validation likelihood, so val_data / patience do not apply; "
            "follow the training with snapshot= (e.g. a figure of merit of generated samples)"
        )
    if not isinstance(generator, Generator):
        raise ValueError("the generator must be a gm.gan.Generator (with latent_features, noise and sample)")
    try:
        member = FAMILY[kind](**options)
    except TypeError as error:
        raise ValueError(f"option not understood for kind={kind!r}: {error}") from None
    if isinstance(member, WGANGP) and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()
    ):
        raise ValueError(f"kind={kind!r} penalizes per-sample gradients: use a critic without batch norm")
    device = prepare([generator, critic], data, context, device)
    g_optimizer = _optimizer(member, generator.parameters(), lr, betas)
    c_optimizer = _optimizer(member, critic.parameters(), lr, betas)
    n_critic = n_critic or member.n_critic
    batches = infinite_batches(data, context, batch_size=batch_size, seed=seed, device=device)

    def generate(real: Tensor, ctx: Tensor | None) -> tuple[Tensor, ...]:
        fakes = tuple(generator(generator.noise(len(real)), ctx) for _ in range(member.fakes))
        if fakes[0].shape != real.shape:
            raise ValueError(
                f"the generator makes samples of shape {tuple(fakes[0].shape)}, the data {tuple(real.shape)}"
            )
        return fakes

    def step(i: int) -> dict[str, Tensor]:
        logged, view = before_step(i) if before_step else ({}, None)
        for _ in range(n_critic):
            real, ctx = next(batches)
            real = view(real) if view else real
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
        return {**{k: v.detach() for k, v in losses.items()}, "generator": g_loss.detach(), **logged}

    with seeded(seed, device):
        if snapshot is None and eval_every:
            fixed_context = None if context is None else context[:1000].to(device)
            fixed_z = generator.noise(1000 if context is None else len(fixed_context))

            def snapshot(generator: Generator) -> Tensor:
                with torch.no_grad():
                    return generator(fixed_z, fixed_context).cpu()

        history = train_loop(
            step,
            steps,
            desc=desc or kind,
            progress=progress,
            modules=[generator, critic],
            snapshot=None if snapshot is None else lambda: snapshot(generator),
            eval_every=eval_every,
            hint="a learning rate that is too high, or a critic that has run away (try a larger penalty)",
        )
    generator.eval()
    critic.eval()
    return history
