import csv

import numpy as np
import pytest
import torch

from gm_helpers.calorimeter import CaloFlow, CaloWGAN
from gm_helpers.calorimeter.challenge import (
    COPYING_THRESHOLD,
    TRAIN_SEED,
    _reference_showers,
    classifier_features,
    memory_bytes,
    score,
    simulator_generator,
    training_showers,
)
from gm_helpers.data.calorimeter import LAYER_SHAPES, N_CELLS, SimulatorCalledError, simulate

TRAIN = training_showers(2000)  # the training set of every copying test here (the official one is 50,000)


def shower_library(showers):
    """The 'frozen showers' of the issue: the training shower of nearest energy, rescaled."""
    order = np.argsort(showers.energy)
    energy, cells = showers.energy[order], showers.cells[order]

    def generate(energies):
        e = energies.numpy().astype(np.float64)
        k = np.clip(np.searchsorted(energy, e), 1, len(energy) - 1)
        k -= (e - energy[k - 1]) < (energy[k] - e)
        return cells[k] * (e / energy[k])[:, None]

    return generate


POOL = simulate(1000, "e+", seed=5)  # showers that are not in TRAIN, for the format tests


DOUBLE = shower_library(simulate(1000, "e+", energy=(2.0, 200.0), seed=11))


def twice_the_energy(energies):
    """An obviously wrong generator: showers of twice the asked energy (from another set), rescaled."""
    return DOUBLE(2.0 * energies)


def test_training_set_is_official_and_the_reference_unreachable():
    assert np.array_equal(TRAIN.cells, simulate(2000, "e+", seed=TRAIN_SEED).cells)
    reference = _reference_showers(100, "e+", 2026)
    for seed in (2026, 0, 1):  # no integer seed gives the reference showers
        assert not np.allclose(simulate(100, "e+", seed=seed).energy, reference.energy)


def test_fresh_showers_are_indistinguishable_and_logged(tmp_path):
    board = tmp_path / "board.csv"
    result = score(
        simulator_generator(seed=99), n=600, seed=3, name="simulator", leaderboard=board, training=TRAIN
    )
    assert result.auc == pytest.approx(0.5, abs=0.07)  # 4 standard deviations of the null AUC
    assert result.w1_normalized < 0.1 and result.showers_per_second > 0
    assert result.distances["E_tot/E_inc"] < 0.002  # the resolution is ~0.004 in E_tot/E_inc
    assert not result.copies and abs(result.copying_z) < 3 and result.memory_mb == 0
    score(simulator_generator(seed=98), n=600, seed=3, name="again", leaderboard=board, training=TRAIN)
    rows = list(csv.DictReader(board.open()))
    assert [row["name"] for row in rows] == ["simulator", "again"]
    assert float(rows[0]["auc"]) == pytest.approx(result.auc, abs=1e-4) and rows[0]["particle"] == "e+"
    assert rows[0]["copies"] == "no" and rows[0]["train_n"] == "2000" and float(rows[0]["memory_mb"]) == 0


def test_an_older_leaderboard_gets_the_new_columns(tmp_path):
    board = tmp_path / "board.csv"
    board.write_text(
        "utc,name,particle,n,seed,auc,w1_normalized,showers_per_second\nT,old,e+,10,1,0.9,0.1,5\n"
    )
    score(simulator_generator(), n=100, leaderboard=board, training=TRAIN)
    rows = list(csv.DictReader(board.open()))
    assert [row["name"] for row in rows] == ["old", "unnamed"] and rows[0]["copies"] == ""
    assert "copying_z" in rows[1] and rows[1]["memory_mb"] == "0.000"


def test_the_shower_library_is_flagged_as_copying(tmp_path):
    board = tmp_path / "board.csv"
    result = score(shower_library(TRAIN), n=600, name="library", leaderboard=board, training=TRAIN)
    assert result.auc < 0.7  # the classifier alone is fooled...
    assert result.copies and result.copying_z < -5  # ...the copying test is not
    assert result.memory_mb == pytest.approx(TRAIN.cells.nbytes / 1e6, rel=0.01)  # it holds its data
    assert list(csv.DictReader(board.open()))[0]["copies"] == "yes"


@pytest.mark.parametrize("model", ["gan", "flow"])
def test_the_baselines_do_not_copy(model):
    torch.manual_seed(0)
    if model == "gan":
        generator = CaloWGAN(TRAIN, latent_features=16, hidden=(32, 32), seed=0)
        generator.fit(steps=30, batch_size=128, progress=False)
    else:
        generator = CaloFlow(TRAIN, hidden=(32, 32), transforms=2, seed=0)
        generator.fit(steps=30, batch_size=256, progress=False)
    result = score(generator.generate, n=400, leaderboard=None, training=TRAIN)
    assert not result.copies, result
    parameters = sum(p.numel() * p.element_size() for p in generator.parameters())
    assert result.memory_mb >= parameters / 1e6  # the parameters and the coding's buffers


def test_a_generator_that_calls_the_simulator_is_refused():
    def cheat(energies):
        return simulate(len(energies), energy=energies.numpy().astype(np.float64), seed=7).cells

    with pytest.raises(SimulatorCalledError, match="called gm.data.calorimeter.simulate while being scored"):
        score(cheat, n=100, leaderboard=None, training=TRAIN)

    def quiet_cheat(energies):  # swallows the error and returns something else
        try:
            return cheat(energies)
        except RuntimeError:
            return shower_library(POOL)(energies)

    with pytest.raises(SimulatorCalledError, match="while being scored"):
        score(quiet_cheat, n=100, leaderboard=None, training=TRAIN)
    simulate(10)  # the simulator works again after scoring


def test_memory_bytes_sees_modules_closures_and_globals():
    module = torch.nn.Linear(10, 5)
    assert memory_bytes(module.forward) == 55 * 4
    table = np.zeros((100, 10))
    assert memory_bytes(lambda e: table[: len(e)]) == table.nbytes
    assert memory_bytes(simulator_generator()) == 0
    assert memory_bytes(lambda e: e) is None  # nothing to measure


def test_wrong_showers_are_caught():
    result = score(twice_the_energy, n=300, seed=3, leaderboard=None, training=TRAIN)
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
    return shower_library(POOL)(energies)


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
        score(generate, n=60, leaderboard=None, training=TRAIN)


def test_bad_arguments():
    with pytest.raises(ValueError, match="e\\+, gamma, pi\\+"):
        score(_cells, particle="proton", leaderboard=None)
    with pytest.raises(ValueError, match=">= 50"):
        score(_cells, n=10, leaderboard=None)


def test_too_few_showers_report_the_statistic_but_flag_nobody():
    result = score(shower_library(TRAIN), n=100, name="library", leaderboard=None, training=TRAIN)
    assert result.copying_z < COPYING_THRESHOLD and not result.copies
    assert "too few showers to flag copying" in str(result)
