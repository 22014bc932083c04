"""Run-mode and device helpers that every notebook calls first."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["cache_dir", "get_device", "quick_mode", "seed_everything"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """Whether the course runs in quick mode (tiny data, few steps: every code path in seconds).

    Quick mode is on when the environment variable ``GM_QUICK`` is ``1``, ``true`` or ``yes``
    (any case). Anything that is not a clear yes or no raises, so a typo is not silently ignored.

    Example:
        >>> import os; os.environ["GM_QUICK"] = "yes"; quick_mode()
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
