import numpy as np
import pytest
from scipy.special import gammainc

from gm_helpers.data.calorimeter import (
    CELL_THRESHOLD_MEV,
    LAYER_SHAPES,
    N_CELLS,
    Showers,
    shower_observables,
    simulate,
)


@pytest.fixture(scope="module")
def samples():
    return {particle: simulate(6000, particle, seed=11) for particle in ("e+", "gamma", "pi+")}


@pytest.fixture(scope="module")
def observables(samples):
    return {particle: shower_observables(showers) for particle, showers in samples.items()}


def test_shapes_units_and_threshold():
    showers = simulate(50, "pi+", energy=(1.0, 100.0), seed=3)
    assert [layer.shape for layer in showers.layers] == [(50, *shape) for shape in LAYER_SHAPES]
    assert all(layer.dtype == np.float32 for layer in showers.layers)
    assert showers.cells.shape == (50, N_CELLS) and len(showers) == 50
    assert showers.overflow.shape == (50, 3) and showers.deposited.shape == (50, 3)
    assert np.all((showers.energy >= 1.0) & (showers.energy <= 100.0))
    cells = showers.cells
    assert np.all((cells == 0) | (cells >= CELL_THRESHOLD_MEV))  # the 0.1 MeV threshold
    assert np.all(showers.overflow >= 0)


def test_same_seed_same_showers():
    a, b, c = simulate(30, "gamma", seed=5), simulate(30, "gamma", seed=5), simulate(30, "gamma", seed=6)
    assert np.array_equal(a.cells, b.cells) and np.array_equal(a.energy, b.energy)
    assert not np.array_equal(a.cells, c.cells)


def test_energy_argument_forms():
    assert np.all(simulate(5, energy=42.0).energy == 42.0)
    given = np.array([1.5, 7.0, 90.0])
    assert np.array_equal(simulate(3, energy=given).energy, given)
    with pytest.raises(ValueError, match="3 values"):
        simulate(3, energy=np.ones(4))
    with pytest.raises(ValueError, match="positive"):
        simulate(2, energy=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="e\\+, gamma, pi\\+"):
        simulate(2, particle="mu-")
    with pytest.raises(ValueError, match="positive integer"):
        simulate(0)


def test_energy_bookkeeping(samples):
    # deposited (visible, per layer) = cells + overflow + what the 0.1 MeV threshold removed.
    for showers in samples.values():
        lost = showers.deposited - showers.layer_energies - showers.overflow
        n_cells = np.array([rows * cols for rows, cols in LAYER_SHAPES])
        assert np.all(lost > -1e-3 * (1 + showers.deposited))  # float32 rounding only
        assert np.all(lost <= CELL_THRESHOLD_MEV * n_cells + 1e-3 * showers.deposited)
        assert showers.overflow.sum() < 0.02 * showers.deposited.sum()  # the grid holds 6.9 R_M


def test_cell_layout_of_from_cells():
    cells = np.zeros((1, N_CELLS))
    cells[0, 1 * 96 + 5] = 1.0  # layer 0, row 1, column 5
    cells[0, 288 + 2 * 12 + 3] = 2.0  # layer 1, row 2, column 3
    cells[0, 432 + 11 * 6 + 5] = 3.0  # layer 2, last cell
    showers = Showers.from_cells(cells, [10.0])
    assert (
        showers.layers[0][0, 1, 5] == 1
        and showers.layers[1][0, 2, 3] == 2
        and showers.layers[2][0, 11, 5] == 3
    )
    assert np.array_equal(showers.cells, cells)
    with pytest.raises(ValueError, match="504"):
        Showers.from_cells(np.zeros((2, 500)), [1.0, 2.0])


def test_observables_on_a_hand_made_shower():
    layers = [np.zeros((1, *shape), dtype=np.float32) for shape in LAYER_SHAPES]
    layers[0][0, 1, 48] = 10.0  # x centre -240 + 5 * 48.5 = 2.5 mm, y centre 0
    layers[0][0, 1, 47] = 30.0  # x centre -2.5 mm
    layers[1][0, 6, 6] = 60.0  # x = y = -240 + 40 * 6.5 = 20 mm
    obs = shower_observables(Showers(tuple(layers), np.array([0.5])))
    expected = {
        "E_0": 40.0, "E_1": 60.0, "E_2": 0.0, "E_tot": 100.0, "E_tot/E_inc": 0.2,
        "frac_0": 0.4, "frac_1": 0.6, "frac_2": 0.0, "depth": 0.6, "depth_width": np.sqrt(0.24),
        "sparsity_0": 2 / 288, "sparsity_1": 1 / 144, "sparsity_2": 0.0,
        "centroid_x_0": -1.25, "width_x_0": np.sqrt(6.25 - 1.25**2), "centroid_y_0": 0.0, "width_y_0": 0.0,
        "centroid_x_1": 20.0, "centroid_y_1": 20.0, "width_x_1": 0.0, "width_y_1": 0.0,
        "centroid_x_2": 0.0, "width_x_2": 0.0, "E_ratio_0": 0.5, "E_ratio_1": 1.0, "E_ratio_2": 0.0,
    }  # fmt: skip
    for key, value in expected.items():
        assert obs[key][0] == pytest.approx(value, abs=1e-9), key
    assert all(values.shape == (1,) for values in obs.values())


# --- the physics targets of lecture 05 (medians; CaloGAN and Grindhammer-Peters figures) ---------------


def test_visible_fraction(observables):
    for particle in ("e+", "gamma"):
        assert np.median(observables[particle]["E_tot/E_inc"]) == pytest.approx(0.19, abs=0.01)
    pion = observables["pi+"]["E_tot/E_inc"]
    assert 0.07 < np.median(pion) < 0.11
    low, median, high = np.percentile(pion, [16, 50, 84])
    assert (high - low) / median > 0.8  # pions fluctuate wildly; EM showers by a few percent
    low, median, high = np.percentile(observables["e+"]["E_tot/E_inc"], [16, 50, 84])
    assert (high - low) / median < 0.1


def test_layer_zero_fraction_falls_with_energy(samples, observables):
    targets = {"e+": (0.38, 0.14), "gamma": (0.25, 0.08)}
    for particle, (at_low, at_high) in targets.items():
        energy, frac = samples[particle].energy, observables[particle]["frac_0"]
        assert np.median(frac[energy < 10]) == pytest.approx(at_low, abs=0.04), particle
        assert np.median(frac[energy > 80]) == pytest.approx(at_high, abs=0.03), particle


def test_layer_zero_fraction_follows_the_gamma_profile():
    # Grindhammer-Peters at the median (ln T, ln alpha) of a 20 GeV positron, worked out here.
    ln_y = np.log(20_000 / 9.3)
    depth_max = ln_y - 0.812
    alpha = 0.81 + (0.458 + 2.26 / 82) * ln_y
    expected = gammainc(alpha, (alpha - 1) / depth_max * 90 / 15.6)
    frac = shower_observables(simulate(2000, "e+", energy=20.0, seed=2))["frac_0"]
    assert np.median(frac) == pytest.approx(expected, abs=0.03)


def test_layer_two_and_depth(observables):
    for particle in ("e+", "gamma"):
        assert np.median(observables[particle]["frac_2"]) < 0.003
    assert 0.05 < np.median(observables["pi+"]["frac_2"]) < 0.11
    depth = {particle: np.median(obs["depth"]) for particle, obs in observables.items()}
    assert depth["e+"] < depth["gamma"] < depth["pi+"]  # photons convert first; pions interact late


def test_pions_are_wider(observables):
    # In layer 1, which holds most of the energy; layer 2 of an EM shower holds only its far tail.
    for key in ("width_x_1", "width_y_1"):
        assert np.median(observables["pi+"][key]) > 1.1 * np.median(observables["e+"][key])


def test_pions_cross_as_mips_without_interacting():
    showers = simulate(4000, "pi+", energy=(20.0, 100.0), seed=4)
    mip_like = shower_observables(showers)["E_tot"] < 90.0  # a MIP leaves 0.14 MeV/mm * 480 mm = 67 MeV
    assert mip_like.mean() == pytest.approx(np.exp(-480 / 374), abs=0.03)


def test_positron_resolution_at_50_gev():
    ratio = shower_observables(simulate(3000, "e+", energy=50.0, seed=8))["E_tot/E_inc"]
    assert 0.013 < ratio.std() / ratio.mean() < 0.025  # 11%/sqrt(50) = 1.6% plus leakage; ~2% target
