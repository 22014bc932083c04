"""Run-mode and device helpers that every notebook calls first."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["cache_dir", "get_device", "quick_mode", "seed_everything", "synchronize", "to_numpy"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """Whether the course runs in quick mode (tiny data, few steps: every code path in seconds).

    Quick mode is on when the environment variable ``GM_QUICK`` is ``1``, ``true`` or ``yes``
    (any case). Anything that is not a clear yes or no raises, so a typo is not silently ignored.

    Example (in a notebook, ``QUICK = quick_mode()`` in the parameters cell):
        >>> isinstance(quick_mode(), bool)
        True
    """
    value = os.environ.get("GM_QUICK", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"GM_QUICK={value!r} is not understood; expected 1/true/yes or 0/false/no.")


def get_device(prefer: str | None = None) -> torch.device:
    """The device to train on: CUDA, then Apple MPS, then CPU.

    The environment variable ``GM_DEVICE`` (or the ``prefer`` argument) overrides the choice,
    e.g. ``GM_DEVICE=cpu`` on a shared GPU hub. Asking for a device that is not available raises
    an error instead of silently falling back.
    """
    wanted = prefer or os.environ.get("GM_DEVICE", "").strip()
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"GM_DEVICE={wanted!r} but CUDA is not available on this machine.")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"GM_DEVICE={wanted!r} but Apple MPS is not available here.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) and return a seeded ``torch.Generator``."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cache_dir() -> Path:
    """Folder for caches the course rebuilds when missing (parsed data, the fixed digit classifier).

    ``data/cache/`` beside the package (git-ignored) when writable, else ``~/.cache/gm_helpers``.
    """
    for folder in (
        Path(__file__).resolve().parent.parent / "data" / "cache",
        Path.home() / ".cache" / "gm_helpers",
    ):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        except OSError:
            continue
    raise OSError("no writable cache folder: data/cache/ and ~/.cache/gm_helpers both failed")


def to_numpy(x) -> np.ndarray:
    """A tensor (on any device, with or without a graph) or an array-like, as a NumPy array.

    Example:
        >>> to_numpy(torch.ones(2, requires_grad=True))
        array([1., 1.], dtype=float32)
    """
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until ``device`` has finished its queued work (a no-op on the CPU).

    GPU kernels run asynchronously: time a GPU computation only after synchronizing, or the
    clock stops before the work is done.
    """
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
