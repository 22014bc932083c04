"""Ablation of CaloFlow's flow 2: which coding of the cells lets a RealNVP fool the classifier?

Flow 1 (u-variables, as in ``gm_helpers.calorimeter``) is trained once; flow 2 is trained with
the chosen coding of the cells, then the challenge's classifier (5-fold HistGradientBoosting AUC)
compares the reference showers (seed 2026) with (a) the layer energies of nearby simulator
showers and flow 2's shapes, and (b) the full flow. Unlike ``gm.calorimeter.CaloFlow.fit``, which
trains both flows together, the two flows are trained one after the other here (on the CPU), so
that flow 1 stays the same across the codings of flow 2.

    python bench/calorimeter_flow_ablation.py [--steps 2000] [--scale threshold|layer]
        [--gaussianize] [--coupling affine|spline] [--lu] [--mirror] [--transforms 8]

A smoke test in about a minute: ``--train 1000 --steps 30 --n 500 --hidden 32 --transforms 2``.

--scale layer: y = log(cell / E_layer) (the threshold moves from shower to shower);
--scale threshold: y = log(cell / 0.1 MeV) (the threshold is y = 0 everywhere).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from gm_helpers.calorimeter import Gaussianize, ShowerCoding, mirrored, rescale_layers
from gm_helpers.calorimeter.challenge import SCORE_SEED, _challenge_classifier, classifier_features
from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, LAYER_SHAPES, Showers, simulate
from gm_helpers.flows import AffineCoupling, Flow, LULinear, RQSplineCoupling, nsf, train_flow
from gm_helpers.metrics import classifier_two_sample_auc

LAYER = np.repeat(np.arange(3), [rows * cols for rows, cols in LAYER_SHAPES])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--steps", type=int, default=2000, help="flow-2 steps (flow 1: a third)")
    parser.add_argument("--scale", choices=["threshold", "layer"], default="threshold")
    parser.add_argument("--gaussianize", action="store_true")
    parser.add_argument("--coupling", choices=["affine", "spline"], default="affine")
    parser.add_argument("--lu", action="store_true")
    parser.add_argument("--mirror", action="store_true")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--transforms", type=int, default=8, help="couplings of flow 2")
    parser.add_argument("--n", type=int, default=10_000, help="reference showers (seed 2026)")
    args = parser.parse_args()
    print(args)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    reference = simulate(args.n, "e+", seed=SCORE_SEED)
    train = simulate(args.train, "e+", seed=1)
    data = mirrored(train) if args.mirror else train
    coding = ShowerCoding.fit(data)  # flow 1's u-variables and the active cells
    context, u, _ = coding.encode(data)
    flow1 = nsf(3, context_features=1, transforms=6, hidden=(64, 64))
    train_flow(flow1, u, context=context, steps=args.steps // 3, batch_size=512, device="cpu", progress=False)

    def cells_to_y(cells: np.ndarray, layer_energy: np.ndarray) -> np.ndarray:
        y = coding.log_cells(cells, rng)  # log(cell / 0.1 MeV), empty cells dequantized
        if args.scale == "layer":
            y -= np.log(_per_cell(layer_energy, coding.active))
        return y

    raw = cells_to_y(data.cells, data.layer_energies)
    gaussianize = Gaussianize.fit(raw) if args.gaussianize else None
    mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-6
    y = gaussianize.forward(raw) if gaussianize else torch.as_tensor((raw - mean) / std, dtype=torch.float32)
    features, generator = coding.features, torch.Generator().manual_seed(0)
    transforms = []
    for i in range(args.transforms):
        if args.lu and i:
            transforms.append(LULinear(features))
        mask = torch.randperm(features, generator=generator) < features // 2
        make = AffineCoupling if args.coupling == "affine" else RQSplineCoupling
        transforms.append(make(features, 4, (args.hidden, args.hidden), mask))
    flow2 = Flow(transforms, features=features)
    start = time.perf_counter()
    train_flow(flow2, y, context=torch.cat([context, u], 1), steps=args.steps, device="cpu", progress=False)
    print(f"flow 2: {args.steps} steps in {time.perf_counter() - start:.0f} s")

    def generate(u_std: torch.Tensor) -> np.ndarray:
        energy = reference.energy
        y_new = flow2.sample(len(energy), torch.cat([coding.context(energy), u_std], 1))
        if gaussianize:
            values = gaussianize.inverse(y_new).double().numpy()
        else:
            values = y_new.double().numpy() * std + mean
        layer_energy = coding.layer_energies(energy, u_std).double().numpy()
        cells = np.zeros((len(energy), LAYER.size))
        cells[:, coding.active] = CELL_THRESHOLD_MEV * np.exp(values)
        if args.scale == "layer":
            cells[:, coding.active] *= _per_cell(layer_energy, coding.active)
        cells[cells < CELL_THRESHOLD_MEV] = 0.0
        cells = rescale_layers(torch.from_numpy(cells), torch.from_numpy(layer_energy)).numpy()
        return np.where(cells < CELL_THRESHOLD_MEV, 0.0, cells)

    order = np.argsort(train.energy)
    position = np.searchsorted(train.energy[order], reference.energy).clip(0, len(order) - 1)
    near = order[(position + rng.integers(-50, 50, len(position))).clip(0, len(order) - 1)]
    _, u_near, _ = coding.encode(train[near])
    u_flow = flow1.sample(len(reference), coding.context(reference.energy))
    for name, u_std in [("simulator layer energies + flow 2", u_near), ("full flow", u_flow)]:
        generated = Showers.from_cells(generate(u_std), reference.energy)
        with threadpool_limits(limits=1, user_api="openmp"):
            auc = classifier_two_sample_auc(
                classifier_features(reference), classifier_features(generated),
                seed=SCORE_SEED, classifier=_challenge_classifier(SCORE_SEED),
            )  # fmt: skip
        occupied = [(generated.layers[i] > 0).sum(axis=(1, 2)).mean() for i in range(3)]
        print(f"{name}: AUC {auc:.3f}; non-empty cells per layer {np.round(occupied, 1)}")
    occupied = [(layer > 0).sum(axis=(1, 2)).mean() for layer in reference.layers]
    print(f"reference: non-empty cells per layer {np.round(occupied, 1)}")


def _per_cell(layer_energy: np.ndarray, active: np.ndarray) -> np.ndarray:
    """E_layer(j) / 0.1 MeV for each active cell j, (n, active)."""
    return np.maximum(layer_energy, CELL_THRESHOLD_MEV)[:, LAYER[active]] / CELL_THRESHOLD_MEV


if __name__ == "__main__":
    main()
