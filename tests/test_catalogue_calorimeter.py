"""Catalogue of wrong answers to exercise 05 (``make_generator``): each must fail
``gm.exercises.calorimeter.check_generator`` with a message that names its cause."""

import numpy as np
import pytest
import torch

from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, simulate
from gm_helpers.exercises.calorimeter import check_generator

POOL = simulate(2000, "e+", seed=5)
ORDER = np.argsort(POOL.energy)
POOL_E, POOL_CELLS = POOL.energy[ORDER], torch.from_numpy(POOL.cells[ORDER])


def layers_and_cells(energies):
    """A correct (if lazy) generator: one of the 10 pool showers nearest in energy, rescaled."""
    e = energies.double().numpy()
    k = np.clip(np.searchsorted(POOL_E, e) - 5 + np.random.randint(0, 10, len(e)), 0, len(POOL_E) - 1)
    cells = POOL_CELLS[k] * torch.from_numpy(e / POOL_E[k]).float()[:, None]
    return torch.where(cells >= CELL_THRESHOLD_MEV, cells, torch.zeros(()))


def reference(energies):
    return layers_and_cells(energies)


def split_layers(cells):
    return (
        cells[:, :288].reshape(-1, 3, 96),
        cells[:, 288:432].reshape(-1, 12, 12),
        cells[:, 432:].reshape(-1, 12, 6),
    )


FROZEN = reference(torch.full((1,), 50.0))


def same_noise(energies):
    """One shower drawn for the batch and rescaled to every energy (noise shared across the batch)."""
    e = energies.double().numpy()
    k = np.clip(np.searchsorted(POOL_E, e), 0, len(POOL_E) - 1)
    return POOL_CELLS[k] * torch.from_numpy(e / POOL_E[k]).float()[:, None]  # same energy -> same shower


def no_threshold(energies):
    e = energies.double().numpy()
    k = np.clip(np.searchsorted(POOL_E, e) - 5 + np.random.randint(0, 10, len(e)), 0, len(POOL_E) - 1)
    return POOL_CELLS[k] * torch.from_numpy(e / POOL_E[k]).float()[:, None] + 0.01 * (POOL_CELLS[k] == 0)


def normalized(cells):
    return cells / cells.sum(dim=1, keepdim=True)


def seeded_every_call(energies):
    np.random.seed(0)  # a fixed seed inside generate: every call returns the same showers
    return reference(energies)


def calls_simulator(energies):
    return simulate(len(energies), energy=energies.double().numpy(), seed=7).cells


WRONG = [
    # cells in GeV: a unit problem, not a threshold problem
    (lambda e: reference(e) / 1000.0, r"unit problem, not a threshold problem.*GeV"),
    # the three layers returned separately
    (lambda e: split_layers(reference(e)), r"layers one by one.*torch.cat"),
    # only layer 0, shaped (n, 3, 96)
    (lambda e: split_layers(reference(e))[0], r"one layer \(3, 96\)"),
    # layers not flattened: (n, 1, 504)
    (lambda e: reference(e)[:, None, :], r"flatten each shower"),
    # transposed: (504, n)
    (lambda e: reference(e).T, r"transposed"),
    # a fixed number of showers, not one per energy
    (lambda e: reference(torch.full((64,), 50.0)), r"one shower per asked energy"),
    # negative energies (no clamp after a linear output)
    (lambda e: reference(e) - 0.05 * torch.rand(len(e), 504), r"negative cell energies.*clamp"),
    # cells below the threshold not zeroed
    (no_threshold, r"between 0 and 0.1 MeV.*torch.where"),
    # NaN from a log of zero decoded badly
    (lambda e: torch.log(torch.log(reference(e) + 1)), r"NaN or infinite"),
    # float16 (numpy)
    (lambda e: reference(e).numpy().astype(np.float16), r"float16.*float32"),
    # float16 (torch .half())
    (lambda e: reference(e).half(), r"float16.*float32"),
    # the energy argument ignored: the same shower for every energy
    (lambda e: FROZEN.expand(len(e), -1).clone(), r"same shower for every energy.*ignores its argument"),
    # the energy argument ignored, but fresh showers: all drawn at 50 GeV
    (lambda e: reference(torch.full_like(e, 50.0)), r"ignores \(or misreads\) the energy argument"),
    # normalized showers not scaled back
    (lambda e: normalized(reference(e)), r"normalized showers.*unit problem"),
    # cells in keV (x1000)
    (lambda e: reference(e) * 1000.0, r"unit problem.*too large"),
    # one noise vector for the batch: identical showers at the same energy
    (same_noise, r"identical: draw fresh noise for every shower"),
    # a fixed seed inside generate
    (seeded_every_call, r"deterministic"),
    # calls the simulator inside generate
    (calls_simulator, r"called gm.data.calorimeter.simulate while being scored"),
    # returns nothing
    (lambda e: None, r"returned None"),
    # make_generator returned the model, not a function (here: a tensor)
    (torch.zeros(3), r"must return a function"),
]


@pytest.mark.parametrize(("answer", "message"), WRONG, ids=[m[:30] for _, m in WRONG])
def test_wrong_generator_is_caught_with_its_cause(answer, message):
    with pytest.raises(AssertionError, match=message):
        check_generator(answer)


def test_the_reference_passes():
    check_generator(reference)


def test_a_baseline_model_passes():
    from gm_helpers.calorimeter import CaloWGAN

    gan = CaloWGAN(POOL, latent_features=8, hidden=(16,), seed=0)
    check_generator(gan.generate)  # untrained, but its output has the right form
