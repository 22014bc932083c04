import csv

import numpy as np
import pytest
import torch

from gm_helpers.calorimeter.challenge import classifier_features, score
from gm_helpers.data.calorimeter import LAYER_SHAPES, N_CELLS, simulate


def fresh_simulator(energies):
    """A perfect 'generator': new simulator showers at the asked energies, as torch layer tensors."""
    showers = simulate(len(energies), "e+", energy=energies.numpy().astype(np.float64), seed=99)
    return tuple(torch.from_numpy(layer) for layer in showers.layers)


def twice_the_energy(energies):
    """An obviously wrong generator: the showers of twice the asked energy, as an (n, 504) array."""
    return simulate(len(energies), "e+", energy=2.0 * energies.numpy().astype(np.float64), seed=99).cells


def test_fresh_showers_are_indistinguishable_and_logged(tmp_path):
    board = tmp_path / "board.csv"
    result = score(fresh_simulator, n=600, seed=3, name="simulator", leaderboard=board)
    assert result.auc == pytest.approx(0.5, abs=0.07)  # 4 standard deviations of the null AUC
    assert result.w1_normalized < 0.1 and result.showers_per_second > 0
    assert result.distances["E_tot/E_inc"] < 0.002  # the resolution is ~0.004 in E_tot/E_inc
    score(fresh_simulator, n=600, seed=3, name="again", leaderboard=board)
    rows = list(csv.DictReader(board.open()))
    assert [row["name"] for row in rows] == ["simulator", "again"]
    assert float(rows[0]["auc"]) == pytest.approx(result.auc, abs=1e-4) and rows[0]["particle"] == "e+"


def test_wrong_showers_are_caught():
    result = score(twice_the_energy, n=300, seed=3, leaderboard=None)
    assert result.auc > 0.95
    assert result.distances["E_tot/E_inc"] == pytest.approx(0.19, abs=0.02)  # 0.38 instead of 0.19
    assert result.w1_normalized > 1.0


def test_classifier_features():
    showers = simulate(20, seed=1)
    features = classifier_features(showers)
    assert features.shape == (20, N_CELLS + 8) and np.all(np.isfinite(features))
    incident = 1000 * showers.energy
    assert np.allclose(features[:, -2], showers.cells.sum(axis=1) / incident, rtol=1e-6)
    assert np.allclose(features[:, -1], np.log(incident))


def _cells(energies):
    return simulate(len(energies), energy=energies.numpy().astype(np.float64), seed=5).cells


@pytest.mark.parametrize(
    ("generate", "error", "match"),
    [
        (lambda e: _cells(e)[:, :500], ValueError, r"shape \(16, 500\)"),
        (lambda e: _cells(e).reshape(len(e), 1, N_CELLS), ValueError, "flatten"),
        (lambda e: [np.zeros((len(e), *shape)) for shape in LAYER_SHAPES[:2]], ValueError, "shapes"),
        (lambda e: _cells(e) - 1.0, ValueError, ">= 0 MeV"),
        (lambda e: np.full((len(e), N_CELLS), np.nan), ValueError, "NaN"),
        (lambda e: _cells(e) / 1000.0, ValueError, "MeV"),  # cells in GeV
        (lambda e: _cells(e) / _cells(e).sum(axis=1, keepdims=True), ValueError, "normalized"),
        (lambda e: "showers", ValueError, "must return"),
        ("not a function", TypeError, "function"),
    ],
)
def test_bad_generators_raise_clear_errors(generate, error, match):
    with pytest.raises(error, match=match):
        score(generate, n=60, leaderboard=None)


def test_bad_arguments():
    with pytest.raises(ValueError, match="e\\+, gamma, pi\\+"):
        score(_cells, particle="proton", leaderboard=None)
    with pytest.raises(ValueError, match=">= 50"):
        score(_cells, n=10, leaderboard=None)
