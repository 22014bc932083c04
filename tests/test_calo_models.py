"""The lecture-05 baselines: their shower coding against independent references, and smoke tests
that they train and generate valid showers."""

import numpy as np
import pytest
import torch

from gm_helpers.calorimeter import CaloFlow, CaloFlowMatching, CaloWGAN, Gaussianize, ShowerCoding, mirrored
from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, shower_observables, simulate


@pytest.fixture(scope="module")
def showers():
    return simulate(256, particle="e+", seed=3)


def _assert_valid(cells: torch.Tensor, n: int):
    assert cells.shape == (n, 504)
    assert torch.isfinite(cells).all() and (cells >= 0).all()
    assert not ((cells > 0) & (cells < CELL_THRESHOLD_MEV)).any(), "cells below threshold must be 0"


def test_calo_wgan_trains_and_generates(showers):
    model = CaloWGAN(showers, latent_features=8, hidden=(32,))
    before = [p.detach().clone() for p in model.generator.parameters()]
    history = model.fit(steps=3, batch_size=64, device="cpu", progress=False)
    assert all(torch.isfinite(torch.tensor(v)).all() for v in history.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, model.generator.parameters(), strict=True))
    _assert_valid(model.generate(torch.tensor([5.0, 50.0, 95.0])), 3)


def test_calo_flow_trains_and_generates(showers):
    model = CaloFlow(showers, hidden=(16, 16), transforms=2)
    history = model.fit(steps=3, batch_size=64, device="cpu", progress=False)
    assert history.steps("nll") == [1, 2, 3]
    _assert_valid(model.generate(torch.full((4,), 20.0)), 4)


def test_calo_flow_matching_trains_generates_and_reloads(showers, tmp_path):
    model = CaloFlowMatching(showers, hidden=(16, 16), sample_steps=3)
    history = model.fit(steps=3, batch_size=64, device="cpu", progress=False)
    assert history.steps("loss") == [1, 2, 3]
    energies = torch.tensor([5.0, 50.0, 95.0])
    torch.manual_seed(0)
    cells = model.generate(energies)
    _assert_valid(cells, 3)
    loaded = CaloFlowMatching.load(model.save(tmp_path / "fm.pt"))  # no training showers needed
    assert loaded.sample_steps == 3
    torch.manual_seed(0)
    assert torch.equal(loaded.generate(energies), cells)
    with pytest.raises(ValueError, match="sample_steps"):
        CaloFlowMatching(showers, hidden=(8,), sample_steps=0)


def test_generators_reject_bad_energies(showers):
    model = CaloWGAN(showers, latent_features=8, hidden=(16,))
    with pytest.raises(ValueError, match="positive"):
        model.generate(torch.tensor([10.0, -1.0]))


def test_gaussianize_matches_the_exact_normal_score_map():
    # Reference: for Exp(1) data, Phi^-1(F(x)) with the exact CDF F (scipy), not our own code.
    from scipy import stats

    x = np.random.default_rng(0).exponential(size=(200_000, 1))
    g = Gaussianize.fit(x)
    grid = np.linspace(0.05, 4.0, 50)[:, None]
    want = stats.norm.ppf(stats.expon.cdf(grid))
    np.testing.assert_allclose(g.forward(grid).numpy(), want, atol=0.02)
    np.testing.assert_allclose(g.inverse(torch.as_tensor(want, dtype=torch.float32)).numpy(), grid, rtol=0.02)


def test_gaussianize_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        Gaussianize.fit(np.zeros(10))


def test_shower_coding_round_trip_and_u_variables(showers):
    coding = ShowerCoding.fit(showers)
    context, u, y = coding.encode(showers)
    assert context.shape == (256, 1) and u.shape == (256, 3) and y.shape == (256, coding.features)
    # u_0 is log(E_tot / E_inc), computed here by hand from the cells (an empty layer is
    # dequantized to less than 0.1 MeV)
    u0 = float(coding.u_mean[0]) + float(coding.u_std[0]) * u[:, 0].double().numpy()
    total = showers.cells.sum(1, dtype=np.float64)
    np.testing.assert_allclose(np.exp(u0) * 1000 * showers.energy, total, rtol=1e-5, atol=0.1)
    cells = coding.decode(showers.energy, u, y).numpy()
    assert (cells[:, np.setdiff1d(np.arange(504), coding.active)] == 0).all()
    np.testing.assert_allclose(cells[:, coding.active], showers.cells[:, coding.active], rtol=1e-2, atol=0.2)
    _assert_valid(torch.as_tensor(cells), 256)


def test_mirrored_reflects_each_layer_and_keeps_the_energies(showers):
    both = mirrored(showers)
    assert len(both) == 4 * len(showers)
    np.testing.assert_array_equal(both.energy[256:512], showers.energy)
    np.testing.assert_array_equal(both.layers[0][256:512], showers.layers[0][:, :, ::-1])  # x -> -x
    np.testing.assert_array_equal(both.layers[1][512:768], showers.layers[1][:, ::-1, :])  # y -> -y
    np.testing.assert_allclose(both.layer_energies[768:], showers.layer_energies, rtol=1e-6)
    original, flipped = shower_observables(showers), shower_observables(both[256:512])
    np.testing.assert_allclose(flipped["centroid_x_1"], -original["centroid_x_1"], atol=1e-4)
    np.testing.assert_allclose(flipped["centroid_y_1"], original["centroid_y_1"], atol=1e-4)
