"""How sensitive is the challenge classifier? AUCs of simulator showers spoiled on purpose.

Each 'generator' takes showers of a second simulator sample (30,000 e+ showers, seed 1) at the
incident energies nearest to those of the reference (within +-50 places in energy order, about
0.2 GeV) and spoils one thing: nothing, the correlation between layers, between cells, the energy
scale, or each cell by noise. Shows what a model must get right to score below 0.85.

    python bench/calorimeter_sensitivity.py [--n 10000] [--pool 30000]

A smoke test in about a minute: ``--n 500 --pool 2000``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from gm_helpers.calorimeter import rescale_layers
from gm_helpers.calorimeter.challenge import SCORE_SEED, _challenge_classifier, classifier_features
from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, LAYER_SHAPES, Showers, simulate
from gm_helpers.metrics import classifier_two_sample_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="reference showers (seed 2026)")
    parser.add_argument("--pool", type=int, default=30_000, help="neighbour showers (seed 1)")
    args = parser.parse_args()
    reference = simulate(args.n, "e+", seed=SCORE_SEED)
    pool = simulate(args.pool, "e+", seed=1)
    rng = np.random.default_rng(0)
    order = np.argsort(pool.energy)
    position = np.searchsorted(pool.energy[order], reference.energy).clip(0, len(order) - 1)
    layers = np.repeat(np.arange(3), [rows * cols for rows, cols in LAYER_SHAPES])

    def neighbours() -> np.ndarray:
        return order[(position + rng.integers(-50, 50, len(position))).clip(0, len(order) - 1)]

    def auc(cells: np.ndarray) -> float:
        cells = np.where(cells >= CELL_THRESHOLD_MEV, cells, 0.0)
        generated = Showers.from_cells(cells, reference.energy)
        with threadpool_limits(limits=1, user_api="openmp"):
            return classifier_two_sample_auc(
                classifier_features(reference), classifier_features(generated),
                seed=SCORE_SEED, classifier=_challenge_classifier(SCORE_SEED),
            )  # fmt: skip

    cells = pool.cells.astype(np.float64)
    same = cells[neighbours()]
    per_layer, per_cell = np.zeros_like(same), np.zeros_like(same)
    for i in range(3):
        per_layer[:, layers == i] = cells[neighbours()][:, layers == i]
    for j in range(cells.shape[1]):
        per_cell[:, j] = cells[neighbours(), j]
    energies = pool.layer_energies[neighbours()]
    cases = {
        "neighbour showers, unchanged": same,
        "each layer from a different neighbour": per_layer,
        "each cell from a different neighbour": per_cell,
        "layer energies of one neighbour, shapes of another": rescale_layers(
            torch.from_numpy(cells[neighbours()]), torch.from_numpy(energies)
        ).numpy(),
        "all cells x 1.02": 1.02 * same,
        "all cells x 1.05": 1.05 * same,
        "each cell x exp(0.05 N(0, 1))": same * np.exp(0.05 * rng.standard_normal(same.shape)),
        "each cell x exp(0.2 N(0, 1))": same * np.exp(0.2 * rng.standard_normal(same.shape)),
    }
    print("| spoiled showers | classifier AUC |\n|---|---:|")
    for name, spoiled in cases.items():
        print(f"| {name} | {auc(spoiled):.3f} |", flush=True)


if __name__ == "__main__":
    main()
