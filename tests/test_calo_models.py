"""Smoke tests of the lecture-05 baselines: they train, and what they generate is a valid shower."""

import pytest
import torch

from gm_helpers.calo_models import CaloFlow, CaloWGAN
from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, simulate


@pytest.fixture(scope="module")
def showers():
    return simulate(256, particle="e+", seed=3)


def _assert_valid(cells: torch.Tensor, n: int):
    assert cells.shape == (n, 504)
    assert torch.isfinite(cells).all() and (cells >= 0).all()
    assert not ((cells > 0) & (cells < CELL_THRESHOLD_MEV)).any(), "cells below threshold must be 0"


def test_calo_wgan_trains_and_generates(showers):
    model = CaloWGAN(showers, latent=8, hidden=32, layers=1)
    before = [p.detach().clone() for p in model.generator.parameters()]
    history = model.train(3, batch_size=64, device="cpu", progress=False)
    assert all(torch.isfinite(torch.tensor(v)).all() for v in history.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, model.generator.parameters(), strict=True))
    _assert_valid(model.generate(torch.tensor([5.0, 50.0, 95.0])), 3)


def test_calo_flow_trains_and_generates(showers):
    model = CaloFlow(showers, hidden=16, layers=2)
    h1, h2 = model.train(3, 3, batch_size=64, device="cpu", progress=False)
    assert len(h1["nll"]) == 3 and len(h2["nll"]) == 3
    _assert_valid(model.generate(torch.full((4,), 20.0)), 4)


def test_generators_reject_bad_energies(showers):
    model = CaloWGAN(showers, latent=8, hidden=16, layers=1)
    with pytest.raises(ValueError, match="positive"):
        model.generate(torch.tensor([10.0, -1.0]))
