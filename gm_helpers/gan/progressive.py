"""Progressive growing of GANs (Karras et al., arXiv:1710.10196), one idea per class, for lecture 09.

- **Growing** (section 2, Figure 2): both players start at 4x4 and gain a stage (a block of two
  3x3 convolutions at twice the resolution) at a time, up to ``resolution``. A new stage is *faded
  in*: for a weight alpha rising from 0 to 1, the generator outputs
  ``(1 - alpha) * upsample(toRGB_old(h_old)) + alpha * toRGB_new(block_new(h_old))``
  and the critic reads ``(1 - alpha) * fromRGB_old(downsample(x)) + alpha * block_new(fromRGB_new(x))``
  (:func:`fade_in`), so the networks the previous stage trained are never shocked. ``toRGB`` and
  ``fromRGB`` are 1x1 convolutions between images and features. The state of a network is
  ``stage`` (0 is 4x4, resolution r = 4 * 2**stage) and ``alpha``; :func:`progressive_schedule`
  says which to use at each training step, and :func:`train_progressive` grows both players by it
  while training them with any member of the GAN family (``gm.gan.family``).
- **Minibatch standard deviation** (section 3, :class:`MinibatchStdDev`): the critic sees, as one
  more feature map, the standard deviation of its features across a small group of samples,
  averaged to a single number per group; a generator that produces too little variation is then
  easy to spot, which counters mode collapse.
- **Equalized learning rate** (section 4.1, :class:`EqualizedLinear`, :class:`EqualizedConv2d`):
  weights are drawn from N(0, 1) and multiplied at run time by He's constant c = sqrt(2 / fan_in),
  w_eff = c * w. Adam's steps have about the same size lr for every raw weight, so the effective
  weights of every layer move by c * lr, the same fraction of their own scale: layers with a large
  fan-in no longer learn more slowly than the others.
- **Pixelwise feature normalization** (section 4.2, :class:`PixelNorm`): after each convolution of
  the generator, b = a / sqrt(mean_over_channels(a^2) + eps) at every pixel, so that no feature
  magnitude can escalate during the game (it replaces batch norm; it has no parameters).

The generator's output is linear, as in the paper: the images it learns are scaled to [-1, 1] by
the caller (``x = 2 * phantoms(n, 64, seed).images[:, None] - 1``). The critic has no batch norm
(WGAN-GP penalizes gradients per sample); the minibatch standard deviation is its one intended
coupling of the samples of a batch. Both players take a condition like the other players of
``gm.gan.networks`` (``context_features`` or ``n_classes``): the generator joins it to z, the
critic projects it on its last features (Miyato and Koyama, arXiv:1802.05637).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_helpers.gan.family import FAMILY, CramerGAN, train_gan
from gm_helpers.gan.networks import Generator, _check_shape, _join
from gm_helpers.model import Model
from gm_helpers.nets import Condition
from gm_helpers.train import History

__all__ = [
    "EqualizedConv2d",
    "EqualizedLinear",
    "MinibatchStdDev",
    "PixelNorm",
    "ProgressiveCritic",
    "ProgressiveGenerator",
    "fade_in",
    "progressive_schedule",
    "train_progressive",
]


class EqualizedLinear(nn.Module):
    """A linear layer with an equalized learning rate (section 4.1): y = x (c w)^T + b.

    w ~ N(0, 1), b = 0, c = sqrt(2 / in_features) applied at every call (not at initialization).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = math.sqrt(2 / in_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A 2-D convolution with an equalized learning rate (section 4.1), stride 1.

    w ~ N(0, 1), b = 0, c = sqrt(2 / fan_in) with fan_in = in_channels * kernel**2, applied at every call.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, padding: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2 / (in_channels * kernel * kernel))
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """b = a / sqrt(mean over channels (dimension 1) of a^2 + eps), at every pixel (section 4.2)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, a: Tensor) -> Tensor:
        return a * torch.rsqrt(a.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the standard deviation across a group of samples (section 3).

    As in the paper's code, the batch (B, C, H, W) is split into groups of G samples, sample i going
    to group i mod (B / G); in each group the *population* standard deviation sqrt(var + 1e-8) of
    every feature at every pixel is averaged over features and pixels into one number, written in a
    constant map for each sample of the group. Output: (B, C + 1, H, W).

    G is the largest divisor of B not above ``group_size``: G = group_size when B is a multiple of
    it (the training batches), a smaller group otherwise (B = 6 with 4 gives G = 3). A batch of one
    sample, or of a prime number of samples above ``group_size``, gets G = 1: no spread to measure,
    the map is sqrt(eps) = 1e-4 (the paper's code, G = min(group_size, B), would fail on B = 6).
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"group_size must be at least 1, got {group_size}")
        self.group_size, self.eps = group_size, eps

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, b) + 1) if b % d == 0)
        y = x.reshape(g, b // g, c, h, w)  # [G, M, C, H, W]: group m holds samples m, m + M, ...
        std = (y.var(dim=0, correction=0) + self.eps).sqrt()  # [M, C, H, W]
        std = std.mean(dim=(1, 2, 3)).view(1, b // g, 1, 1, 1).expand(g, -1, 1, h, w)
        return torch.cat([x, std.reshape(b, 1, h, w)], dim=1)


def fade_in(alpha: float, upsampled_low: Tensor, high: Tensor) -> Tensor:
    """(1 - alpha) * upsampled_low + alpha * high: the smooth transition of section 2 (Figure 2).

    ``upsampled_low`` is the old path brought to the new resolution (in the critic: the downsampled
    image through the old fromRGB), ``high`` the new stage's; alpha = 0 gives the old path exactly,
    alpha = 1 the new one.
    """
    alpha = _check_alpha(alpha)
    if upsampled_low.shape != high.shape:
        raise ValueError(
            f"fade_in blends tensors of one shape, got {tuple(upsampled_low.shape)} and {tuple(high.shape)}"
        )
    return (1 - alpha) * upsampled_low + alpha * high


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha, the weight of the newest stage, must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def _stages(resolution: int) -> int:
    """The number of stages from 4x4 to ``resolution``: 5 for 64 (4, 8, 16, 32, 64)."""
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, int)
        or resolution < 4
        or resolution & (resolution - 1)
    ):
        raise ValueError(f"resolution must be a power of two >= 4 (4, 8, ..., 64), got {resolution!r}")
    return resolution.bit_length() - 2


class _Growing:
    """The state of a growing network: ``stage`` (0: 4x4) and ``alpha``, checked, and saved in checkpoints.

    They travel in the ``state_dict`` as its extra state (a float64 tensor [stage, alpha]), so that
    ``Model.save`` / ``load`` bring a grown network back at the stage it was saved at.
    """

    n_stages: int

    def _widths(self, width: int, min_width: int) -> list[int]:
        if width < 1 or min_width < 1:
            raise ValueError(f"width and min_width must be positive, got {width} and {min_width}")
        return [max(width // 2**s, min_width) for s in range(self.n_stages)]

    @property
    def stage(self) -> int:
        return self._stage

    @stage.setter
    def stage(self, stage: int) -> None:
        if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < self.n_stages:
            raise ValueError(
                f"stage must be an integer from 0 (4x4) to {self.n_stages - 1} "
                f"({4 * 2 ** (self.n_stages - 1)}x{4 * 2 ** (self.n_stages - 1)}), got {stage!r}"
            )
        self._stage = stage

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, alpha: float) -> None:
        self._alpha = _check_alpha(alpha)

    @property
    def current_resolution(self) -> int:
        """r = 4 * 2**stage, the resolution of the images at the current stage."""
        return 4 * 2**self.stage

    def grow_to(self, stage: int, alpha: float = 1.0):
        """Set the stage and the fade-in weight of its newest block (both or, if either is wrong,
        neither); returns the network."""
        alpha = _check_alpha(alpha)
        self.stage, self.alpha = stage, alpha
        return self

    def _fading(self) -> bool:
        return self.stage > 0 and self.alpha < 1

    def get_extra_state(self) -> Tensor:
        return torch.tensor([self.stage, self.alpha], dtype=torch.float64)

    def set_extra_state(self, state: Tensor) -> None:
        self.grow_to(int(state[0]), float(state[1]))


def _double(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ProgressiveGenerator(_Growing, Generator):
    """G(z, y): 4x4 -> 8x8 -> ... -> ``resolution``, grown by stages (Table 2 of the paper).

    Stage 0: z normalized by PixelNorm (a point on a sphere), joined to the condition, a dense layer
    to (width, 4, 4), then a 3x3 convolution; stage s > 0: nearest upsampling and two 3x3
    convolutions; every convolution is equalized and followed by LeakyReLU(0.2) and PixelNorm. Stage
    s has max(width / 2**s, min_width) channels and a 1x1 ``to_rgb[s]``. ``forward`` returns linear
    (unbounded) images (B, channels, r, r) at the current stage's resolution r, faded in when
    ``alpha < 1``; train on images in [-1, 1]. The stages above ``stage`` are not used.
    """

    def __init__(
        self,
        latent_features: int = 128,
        resolution: int = 64,
        channels: int = 1,
        width: int = 128,
        min_width: int = 16,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
    ):
        super().__init__()
        self.n_stages = _stages(resolution)
        self.latent_features, self.resolution, self.channels = latent_features, resolution, channels
        self.condition = Condition(context_features, n_classes, embedding_dim)
        widths = self._widths(width, min_width)
        self.latent_norm = PixelNorm()
        first = [EqualizedLinear(latent_features + self.condition.features, widths[0] * 16)]
        first += [nn.Unflatten(1, (widths[0], 4, 4)), nn.LeakyReLU(0.2), PixelNorm()]
        self.blocks = nn.ModuleList([nn.Sequential(*first, *_conv(widths[0], widths[0], norm=True))])
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            convs = [*_conv(a, b, norm=True), *_conv(b, b, norm=True)]
            self.blocks.append(nn.Sequential(nn.Upsample(scale_factor=2), *convs))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(w, channels, 1) for w in widths)
        self.grow_to(0)

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        _check_shape(z, (self.latent_features,), "the noise z")
        h = _join(self.latent_norm(z), self.condition(context, len(z)))
        previous = h = self.blocks[0](h)
        for block in self.blocks[1 : self.stage + 1]:
            previous, h = h, block(h)
        image = self.to_rgb[self.stage](h)
        if self._fading():
            return fade_in(self.alpha, _double(self.to_rgb[self.stage - 1](previous)), image)
        return image


def _conv(n_in: int, n_out: int, norm: bool) -> list[nn.Module]:
    """An equalized 3x3 convolution and LeakyReLU(0.2), then PixelNorm in the generator (``norm``)."""
    return [EqualizedConv2d(n_in, n_out, 3, padding=1), nn.LeakyReLU(0.2)] + ([PixelNorm()] if norm else [])


class ProgressiveCritic(_Growing, Model):
    """C(x, y), the mirror of :class:`ProgressiveGenerator`: one score per sample, shape (B,).

    The image (B, channels, r, r) at the current stage's resolution enters through ``from_rgb[stage]``
    (1x1 + LeakyReLU(0.2)); each stage s > 0 is two 3x3 convolutions (LeakyReLU(0.2)) and a 2x2
    average pooling; when ``alpha < 1`` the newest stage is faded in against the half-size image
    through ``from_rgb[stage - 1]``. Stage 0 ends the critic: minibatch standard deviation, a 3x3
    convolution, a 4x4 convolution to a 1x1 map of features phi, and a linear score psi(phi) (plus
    <V y, phi> when conditional). No batch norm.
    """

    def __init__(
        self,
        resolution: int = 64,
        channels: int = 1,
        width: int = 128,
        min_width: int = 16,
        group_size: int = 4,
        context_features: int = 0,
        n_classes: int = 0,
        embedding_dim: int = 16,
    ):
        super().__init__()
        self.n_stages = _stages(resolution)
        self.resolution, self.channels = resolution, channels
        self.condition = Condition(context_features, n_classes, embedding_dim)
        widths = self._widths(width, min_width)
        self.from_rgb = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(channels, w, 1), nn.LeakyReLU(0.2)) for w in widths
        )
        last = [MinibatchStdDev(group_size), EqualizedConv2d(widths[0] + 1, widths[0], 3, padding=1)]
        last += [nn.LeakyReLU(0.2), EqualizedConv2d(widths[0], widths[0], 4), nn.LeakyReLU(0.2), nn.Flatten()]
        self.blocks = nn.ModuleList([nn.Sequential(*last)])
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            convs = [*_conv(b, b, norm=False), *_conv(b, a, norm=False)]
            self.blocks.append(nn.Sequential(*convs, nn.AvgPool2d(2)))
        self.head = EqualizedLinear(widths[0], 1)  # psi
        self.projection = (
            EqualizedLinear(self.condition.features, widths[0], bias=False)
            if self.condition.features
            else None
        )
        self.grow_to(0)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        r = self.current_resolution
        _check_shape(x, (self.channels, r, r), f"the critic's input at stage {self.stage} ({r}x{r})")
        condition = self.condition(context, len(x))
        h, top = self.from_rgb[self.stage](x), self.stage
        if self._fading():  # the newest block (down to r / 2) against the half-size image
            low = self.from_rgb[self.stage - 1](F.avg_pool2d(x, 2))
            h, top = fade_in(self.alpha, low, self.blocks[self.stage](h)), self.stage - 1
        for block in reversed(self.blocks[: top + 1]):  # r -> r / 2 -> ... -> 4 -> 1
            h = block(h)
        phi = h  # (B, width): blocks[0] ends at a 1x1 map, flattened
        out = self.head(phi).squeeze(1)
        if self.projection is not None:
            out = out + (self.projection(condition) * phi).sum(1)
        return out


def progressive_schedule(stages: int, steps_per_phase: int) -> Iterator[tuple[int, int, float]]:
    """The (step, stage, alpha) of each training step of a progressive GAN, from 4x4 to stage ``stages - 1``.

    Stage 0 trains ``steps_per_phase`` steps at alpha = 1; every later stage s has two phases of
    ``steps_per_phase`` steps: a fade-in, alpha = i / steps_per_phase for i = 0, 1, ... (rising
    linearly from 0 towards 1), then a stabilization at alpha = 1. In all
    ``(2 * stages - 1) * steps_per_phase`` steps (``stages = G.n_stages`` grows to full resolution).

    Example:
        >>> [(stage, alpha) for _, stage, alpha in progressive_schedule(2, 2)]
        [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0)]
    """
    for name, value in (("stages", stages), ("steps_per_phase", steps_per_phase)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def schedule() -> Iterator[tuple[int, int, float]]:
        step = 0
        for stage in range(stages):
            fade = [i / steps_per_phase for i in range(steps_per_phase)] if stage else []
            for alpha in fade + [1.0] * steps_per_phase:
                yield step, stage, alpha
                step += 1

    return schedule()


def _real_at(x: Tensor, n_stages: int, stage: int, alpha: float) -> Tensor:
    """Full-resolution images ``x`` as the critic sees them at (stage, alpha): average-pooled down to
    r = 4 * 2**stage and, during a fade-in, blended like the players (section 2, Figure 2):
    ``fade_in(alpha, upsample(avg_pool(x_r, 2)), x_r)``."""
    factor = 2 ** (n_stages - 1 - stage)
    real = F.avg_pool2d(x, factor) if factor > 1 else x
    if stage > 0 and alpha < 1:
        real = fade_in(alpha, _double(F.avg_pool2d(real, 2)), real)
    return real


def train_progressive(
    generator: ProgressiveGenerator,
    critic: ProgressiveCritic,
    data: Tensor,
    *,
    steps_per_phase: int,
    kind: str = "wgan-gp",
    context: Tensor | None = None,
    batch_size: int = 64,
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
    **options,
) -> History:
    """Grow and train a progressive pair from 4x4 to ``resolution``, following :func:`progressive_schedule`.

    ``gm.gan.train_gan`` with growing (the course's training contract, ``gm_helpers.train``): before
    each of the ``(2 * n_stages - 1) * steps_per_phase`` steps both players are set to that step's
    (stage, alpha) with ``grow_to``, and every real batch is average-pooled down to the current
    resolution r and, during a fade-in, blended between r / 2 and r as the players are
    (:func:`_real_at`); then ``n_critic`` critic updates and one generator update of the family member
    ``kind``. One optimizer per player, over all its stages, for the whole run.

    Arguments:
        generator, critic: a :class:`ProgressiveGenerator` and a :class:`ProgressiveCritic` of one
            ``resolution`` R and ``channels`` C.
        data: the training images (N, C, R, R), scaled to [-1, 1].
        steps_per_phase: the steps of each phase (stage 0; then each stage's fade-in and stabilization).
        kind: "gan", "wgan", "wgan-gp" (the paper's loss) or "wgan-alp"; "cramer" needs an embedding
            critic, which a ProgressiveCritic is not.
        context, batch_size, lr, betas, n_critic, device, seed, progress, desc, eval_every, snapshot,
            options: as in ``train_gan`` (snapshots are taken at the stage of their step).
        val_data, val_context, patience: not available, as in ``train_gan``.

    Returns:
        A ``History`` as ``train_gan``'s, plus ``stage`` and ``alpha`` at every step. Both players end
        at the last stage with alpha = 1, in eval mode.
    """
    if FAMILY.get(kind) is CramerGAN:
        raise ValueError(
            "kind='cramer' needs a critic that embeds (B, k); a ProgressiveCritic gives one score"
        )
    if not isinstance(generator, ProgressiveGenerator) or not isinstance(critic, ProgressiveCritic):
        raise ValueError(
            "train_progressive grows a ProgressiveGenerator and a ProgressiveCritic, got "
            f"{type(generator).__name__} and {type(critic).__name__}"
        )
    if (generator.resolution, generator.channels) != (critic.resolution, critic.channels):
        raise ValueError(
            f"the players must have one resolution and channel count: the generator makes "
            f"{generator.channels}x{generator.resolution}x{generator.resolution}, the critic reads "
            f"{critic.channels}x{critic.resolution}x{critic.resolution}"
        )
    r, c = generator.resolution, generator.channels
    if isinstance(data, torch.Tensor) and (data.dim() != 4 or tuple(data.shape[1:]) != (c, r, r)):
        raise ValueError(
            f"data must be images of shape (N, {c}, {r}, {r}) (the players' channels and resolution), "
            f"got {tuple(data.shape)}"
        )
    schedule = [
        (stage, alpha) for _, stage, alpha in progressive_schedule(generator.n_stages, steps_per_phase)
    ]

    def grow(i: int):
        stage, alpha = schedule[i]
        generator.grow_to(stage, alpha)
        critic.grow_to(stage, alpha)
        logged = {"stage": float(stage), "alpha": float(alpha)}
        return logged, lambda real: _real_at(real, generator.n_stages, stage, alpha)

    history = train_gan(
        generator, critic, data, kind=kind, context=context, steps=len(schedule), batch_size=batch_size,
        lr=lr, betas=betas, n_critic=n_critic, device=device, seed=seed, progress=progress,
        desc=desc or f"progressive {kind}", val_data=val_data, val_context=val_context,
        eval_every=eval_every, patience=patience, snapshot=snapshot, before_step=grow, **options,
    )  # fmt: skip
    generator.grow_to(generator.n_stages - 1, 1.0)
    critic.grow_to(critic.n_stages - 1, 1.0)
    return history
