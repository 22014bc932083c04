"""The recipes of lecture 09: the training phantoms, the players, the paper's settings, equal budgets.

- ``training_images(size)``: the seeded training phantoms, scaled to [-1, 1] as the generator's
  linear output learns them (the same in the lecture, the exercise, the bench and the tests);
- ``players(size, width)``: a ``ProgressiveGenerator`` and a ``ProgressiveCritic`` of one size;
- ``KARRAS``: the paper's optimization (Karras et al., arXiv:1710.10196, appendix A.1): WGAN-GP with
  lambda = 10, one critic step per generator step, Adam with lr 0.001 and betas (0, 0.99); our
  minibatch is 32 (theirs 16 at 1024x1024, more at lower resolutions);
- ``seconds_per_step``: what one training step costs at the players' current stage, measured on
  copies of them; ``schedule_seconds``: what a whole progressive run costs, from those per-stage
  costs, so that the fixed-resolution baseline can be given the same time as the growing one
  (``steps = schedule seconds / seconds per full-resolution step``);
- ``samples(generator, n)``: images in [0, 1] (n, N, N) from a generator of [-1, 1] images, with a
  fixed seed, for the figures of ``gm.imaging.fidelity``;
- ``stage_snapshot(n)``: a ``snapshot=`` for ``train_progressive``: n images from fixed noise at the
  stage being trained, so that the history keeps a grid of samples per resolution.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import Tensor

from gm_helpers.data import mammo
from gm_helpers.gan import ProgressiveCritic, ProgressiveGenerator, train_gan
from gm_helpers.train import seeded

__all__ = [
    "KARRAS",
    "players",
    "samples",
    "schedule_seconds",
    "seconds_per_step",
    "stage_snapshot",
    "training_images",
]

KARRAS = {"kind": "wgan-gp", "lam": 10.0, "n_critic": 1, "lr": 1e-3, "betas": (0.0, 0.99), "batch_size": 32}
TRAIN_SEED = 1  # the training phantoms; the figures use fresh phantoms (seeds from 12_345)


def training_images(n: int = 4000, size: int = 64, seed: int = TRAIN_SEED) -> Tensor:
    """``n`` phantoms of ``size`` x ``size`` (``gm.data.mammo.phantoms``, half with a finding) as a
    float tensor (n, 1, size, size) in [-1, 1]."""
    return torch.tensor(2 * mammo.phantoms(n, size, seed=seed).images[:, None] - 1)


def players(size: int = 64, width: int = 64, latent_features: int = 128, seed: int = 0):
    """The generator and critic of lecture 09 for images of ``size`` x ``size``: ``width`` channels at
    4x4, halved at each doubling of the resolution down to 16 (8 below width 32)."""
    min_width = 16 if width >= 32 else 8
    with seeded(seed):
        generator = ProgressiveGenerator(latent_features, size, 1, width=width, min_width=min_width)
        critic = ProgressiveCritic(size, 1, width=width, min_width=min_width)
    return generator, critic


def seconds_per_step(generator, critic, data: Tensor, steps: int = 4, **settings) -> float:
    """Seconds per training step (``train_gan`` with ``settings``, e.g. ``**KARRAS``) at the players'
    current stage, on data pooled to that resolution; measured on copies after one warm-up step,
    so the players themselves are not touched."""
    g, c = copy.deepcopy(generator), copy.deepcopy(critic)
    factor = data.shape[-1] // g.current_resolution
    real = torch.nn.functional.avg_pool2d(data[:256], factor) if factor > 1 else data[:256]
    train_gan(g, c, real, steps=1, progress=False, **settings)
    start = time.perf_counter()
    train_gan(g, c, real, steps=steps, progress=False, **settings)
    return (time.perf_counter() - start) / steps


def schedule_seconds(generator, critic, data: Tensor, steps_per_phase: int, **settings) -> float:
    """The time a progressive run of ``steps_per_phase`` costs, from ``seconds_per_step`` measured at
    each stage, back to back: ``steps_per_phase`` steps at 4x4 and twice as many at every later stage
    (a fade-in step costs about a stabilization step). The fixed-resolution baseline gets this budget:
    measured in one go, it does not depend on what else loaded the machine during the long run."""
    stage, alpha = generator.stage, generator.alpha
    total = 0.0
    for s in range(generator.n_stages):
        generator.grow_to(s)
        critic.grow_to(s)
        phases = 1 if s == 0 else 2
        total += phases * steps_per_phase * seconds_per_step(generator, critic, data, **settings)
    generator.grow_to(stage, alpha)
    critic.grow_to(stage, alpha)
    return total


@torch.no_grad()
def samples(generator, n: int = 1000, seed: int = 0) -> np.ndarray:
    """``n`` images (n, N, N) in [0, 1] from a generator of [-1, 1] images (clipped), seeded."""
    generator.eval()
    device = next(generator.parameters()).device
    with seeded(seed, device):
        images = torch.cat([generator.sample(len(i)) for i in torch.arange(n).split(250)])
    return ((images.clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()


def stage_snapshot(n: int = 16, seed: int = 0):
    """A ``snapshot=`` for ``train_progressive``: the generator's images from n fixed noise vectors at
    the stage it is at, in [0, 1], on the CPU (with ``eval_every = steps_per_phase``, one grid per
    phase: the end of each stage and of each fade-in)."""
    fixed: dict[str, Tensor] = {}

    def snapshot(generator) -> Tensor:
        if "z" not in fixed:
            with seeded(seed):
                fixed["z"] = generator.noise(n)
        with torch.no_grad():
            images = generator(fixed["z"].to(next(generator.parameters()).device))
        return ((images.clamp(-1, 1) + 1) / 2).cpu()

    return snapshot
