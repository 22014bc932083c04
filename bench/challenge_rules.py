"""Bench of the challenge rules (issue 11): the leaderboard lines of the shower library, the
simulator and the two baselines, with the copying statistic and the memory column.

The library is the training shower of nearest energy, rescaled ("frozen showers"); the simulator
is ``gm.calorimeter.simulator_generator(seed=7)``; the baselines are small and briefly trained
(the point is the copying test, not their AUC): CaloWGAN 3x128, latent 64, ``--gan-steps`` steps;
CaloFlow 64 hidden, 4 transforms, ``--flow-steps`` steps. Also shows that a generator calling
the simulator is refused.

    python bench/challenge_rules.py [--train 50000] [--n 10000] [--gan-steps 300] [--flow-steps 300]

A quick run: ``--train 10000 --n 2000`` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import gm_helpers as gm
from gm_helpers.calorimeter import CaloFlow, CaloWGAN, score, simulator_generator, training_showers
from gm_helpers.data.calorimeter import SimulatorCalledError, simulate


def shower_library(showers):
    """generate(energies) -> the training shower of nearest energy, rescaled to the asked energy."""
    order = np.argsort(showers.energy)
    energy, cells = showers.energy[order], showers.cells[order]

    def generate(energies):
        e = np.asarray(energies, dtype=np.float64)
        k = np.clip(np.searchsorted(energy, e), 1, len(energy) - 1)
        k -= (e - energy[k - 1]) < (energy[k] - e)
        return cells[k] * (e / energy[k])[:, None]

    return generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=50_000, help="official training showers (50,000)")
    parser.add_argument("--n", type=int, default=10_000, help="showers in gm.calorimeter.score")
    parser.add_argument("--gan-steps", type=int, default=300)
    parser.add_argument("--flow-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gm.seed_everything(0)
    train = training_showers(args.train)
    results = []

    def run(name, generate):
        start = time.perf_counter()
        result = score(generate, n=args.n, name=name, leaderboard=None, training=train)
        print(f"{result}  [{time.perf_counter() - start:.0f} s]", flush=True)
        results.append(result)

    run("shower library", shower_library(train))
    run("simulator (seed 7)", simulator_generator(seed=7))
    gan = CaloWGAN(train, latent_features=64, hidden=(128, 128, 128), seed=0)
    gan.fit(steps=args.gan_steps, progress=False)
    run(f"CaloWGAN 3x128, {args.gan_steps} steps", gan.cpu().generate)
    flow = CaloFlow(train, hidden=(64, 64), transforms=4, seed=0)
    flow.fit(steps=args.flow_steps, progress=False)
    run(f"CaloFlow 64x2, 4 transforms, {args.flow_steps} steps", flow.cpu().generate)
    try:
        score(lambda e: simulate(len(e), energy=e, seed=7).cells, n=args.n, leaderboard=None, training=train)
    except SimulatorCalledError as error:
        print(f"simulate() inside generate: refused ({str(error)[:70]}...)")

    print(f"\ne+, training set {len(train):,} showers (seed 1), n = {args.n:,}")
    print("| generator | classifier AUC | mean W1/std | showers/s | memory (MB) | copying C_T | copies |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r.name} | {r.auc:.3f} | {r.w1_normalized:.3f} | {r.showers_per_second:,.0f} | "
            f"{r.memory_mb:.2f} | {r.copying_z:+.1f} | {'yes' if r.copies else 'no'} |"
        )


if __name__ == "__main__":
    main()
