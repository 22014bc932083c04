import numpy as np
import pytest
import torch

import gm_helpers as gm


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("no", False), ("", False)],
)
def test_quick_mode_reads_gm_quick(monkeypatch, value, expected):
    monkeypatch.setenv("GM_QUICK", value)
    assert gm.quick_mode() is expected


def test_quick_mode_rejects_typos(monkeypatch):
    monkeypatch.setenv("GM_QUICK", "quick")
    with pytest.raises(ValueError, match="GM_QUICK"):
        gm.quick_mode()


def test_get_device_honours_override(monkeypatch):
    monkeypatch.setenv("GM_DEVICE", "cpu")
    assert gm.get_device() == torch.device("cpu")


def test_get_device_refuses_missing_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("GM_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        gm.get_device()


def test_get_device_default_order(monkeypatch):
    monkeypatch.delenv("GM_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gm.get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert gm.get_device().type == "cpu"


def test_seed_everything_makes_runs_repeatable():
    gm.seed_everything(3)
    first = (torch.randn(3), np.random.rand(3))
    generator = gm.seed_everything(3)
    assert torch.equal(first[0], torch.randn(3))
    assert np.array_equal(first[1], np.random.rand(3))
    assert torch.equal(torch.randn(2, generator=generator), torch.randn(2, generator=gm.seed_everything(3)))


def test_seed_everything_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        gm.seed_everything(-1)
