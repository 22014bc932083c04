"""Lecture 10's recipes on MNIST, shared by the notebook, its checkpoint and the bench.

- ``digit_vectors``: the training digits as vectors in [-1, 1]^784 with their labels;
- ``digit_field``: the class-conditional field (an MLP, with the null class of guidance);
- ``generate_digits``: images in [0, 1] of the digits asked for, by a guided flow-matching model.

The field is an MLP on the 784 pixels: small and fast on a CPU, but blind to which pixels are
neighbours, which is why its digits keep a grain a convolutional U-Net (what Ho et al. and Lipman et
al. use) would remove.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gm_helpers.data.mnist import load_mnist
from gm_helpers.diffusion.flow_matching import FlowMatching
from gm_helpers.diffusion.vector_field import VectorField

__all__ = ["DIGIT_GUIDANCE", "digit_field", "digit_vectors", "generate_digits"]

DIGIT_GUIDANCE = 2.0  # the guidance weight w of the lecture's figure of merit (the checkpoint's figure)


def digit_vectors(split: str = "train", n: int | None = None) -> tuple[Tensor, Tensor]:
    """MNIST digits as (x, labels): x (N, 784) in [-1, 1] (2 * pixel - 1), labels int64 (N,)."""
    images, labels = load_mnist(split, n=n)
    return images.reshape(len(images), -1) * 2 - 1, labels


def digit_field(hidden: tuple[int, ...] = (512, 512, 512)) -> VectorField:
    """The class-conditional field of lecture 10: 10 digits and the null class (label 10)."""
    return VectorField(784, hidden=hidden, frequencies=8, n_classes=10, embedding_dim=32)


@torch.no_grad()
def generate_digits(
    model: FlowMatching,
    labels: Tensor,
    guidance: float = DIGIT_GUIDANCE,
    steps: int = 30,
    method: str = "heun",
    seed: int = 0,
) -> Tensor:
    """Digits (N, 1, 28, 28) in [0, 1] of the classes ``labels`` (N,), sampled with guidance w."""
    labels = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    x = model.sample(len(labels), labels, steps=steps, method=method, guidance=guidance, generator=generator)
    return ((x.clamp(-1, 1) + 1) / 2).reshape(-1, 1, 28, 28).cpu()
