"""Exercise 02's checks: a participant's gradient penalty and ALP against values worked out by hand."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gm_helpers.train import seeded

__all__ = ["check_alp_penalty", "check_gradient_penalty"]


def _linear_critic(shape: tuple[int, ...], norm: float, seed: int) -> Callable[[Tensor], Tensor]:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    w = w * norm / w.norm()
    return lambda x: (x * w).flatten(1).sum(1)


def _image_pair(seed: int, shape=(64, 3, 8, 8)) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(
        shape, generator=g, dtype=torch.float64
    )


def _value(x) -> float:
    return float(torch.as_tensor(x).detach())


def check_gradient_penalty(penalty: Callable) -> None:
    """Raise an ``AssertionError`` saying what is wrong unless ``penalty`` computes the WGAN-GP term.

    Linear critics C(x) = <w, x> on images (B, 3, 8, 8) have gradient w everywhere, so the penalty
    is lam (||w|| - 1)^2 exactly, whatever the interpolation; a per-pixel norm gets it wrong. A
    quadratic critic with real = 0 gives lam E[a^2] = lam / 3 only if a ~ U(0, 1) per sample.
    """
    real, fake = _image_pair(0)
    for norm in (2.0, 0.5, 1.0):
        got = _value(penalty(_linear_critic(real.shape[1:], norm, seed=1), real, fake, lam=10.0))
        want = 10.0 * (norm - 1) ** 2
        if abs(got - want) > 1e-6:
            hint = " Is the norm taken per sample over all of (C, H, W)?" if norm == 2.0 else ""
            raise AssertionError(
                f"linear critic with ||w|| = {norm}: penalty {got:.6g}, expected {want:.6g}.{hint}"
            )
    with seeded(0):  # the participant's random state is left alone
        unit = F.normalize(torch.randn(20_000, 2, 3, 3, dtype=torch.float64).flatten(1), dim=1).view(
            -1, 2, 3, 3
        )
        got = _value(
            penalty(lambda x: 0.5 * x.flatten(1).pow(2).sum(1), torch.zeros_like(unit), unit, lam=3.0)
        )
    if abs(got - 1.0) > 0.03:
        raise AssertionError(
            f"quadratic critic: penalty {got:.4g}, expected lam / 3 = 1: draw one a ~ U(0, 1) per sample, "
            "shaped (B, 1, 1, 1) to broadcast over the image"
        )


def check_alp_penalty(penalty: Callable) -> None:
    """Raise an ``AssertionError`` unless ``penalty`` computes the WGAN-ALP term.

    A linear critic with Lipschitz constant L gives lam max(0, L - 1)^2 once power iteration has
    turned the step along w; in 50 dimensions a random step alone would see a slope ~ L / 7.
    """
    x = torch.randn(64, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    w = torch.zeros(50, dtype=torch.float64)
    for lipschitz in (0.5, 1.0, 3.0):
        w[0] = lipschitz
        got = _value(penalty(lambda x: x @ w, x, x.flip(0), lam=10.0))
        want = 10.0 * max(0.0, lipschitz - 1) ** 2
        if abs(got - want) > 1e-6 * max(1.0, want):
            raise AssertionError(
                f"linear critic with Lipschitz constant {lipschitz}: penalty {got:.6g}, expected {want:.6g}"
                + (" (is the step r found by power iteration?)" if lipschitz == 3.0 else "")
            )
    real, fake = _image_pair(3)
    got = _value(penalty(_linear_critic(real.shape[1:], 2.0, seed=4), real, fake, lam=10.0))
    if abs(got - 10.0) > 1e-6:
        raise AssertionError(f"linear critic with ||w|| = 2 on images: penalty {got:.6g}, expected 10")
