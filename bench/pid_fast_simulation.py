"""Lecture 08's quality bars, measured on the shipped checkpoints (or on models given on the command line).

    OMP_NUM_THREADS=2 python bench/pid_fast_simulation.py [--test 50000] [--seed 4242] [--repeats 5]

For kaons and pions, each model (pidgan's BCE GAN, the WGAN-GP, the conditional NSF) generates DLLs for
the conditions of fresh simulated tracks. Reported per model and species:

- the fraction of the 12 momentum bins (3-200 GeV, equal in log p) where the efficiency of DLLK > 0
  (kaons: identification; pions: mis-identification) and of DLLK > 5 agrees with the simulator's within
  2 binomial sigma (the pooled two-proportion z of ``gm.pid.curve_agreement``), averaged over
  ``--repeats`` independent test samples (seeds seed, seed + 10, ...), with the lowest in brackets:
  even a perfect model lands within 2 sigma in only ~95 % of the bins, so one sample of 12 bins
  falls below 90 % one time in ten;
- the referee AUC, overall and averaged over the momentum bins (gradient-boosted, out of fold; the first
  half of the tracks as simulated, the second half as generated);
- the generation throughput on the CPU, the whole pipeline (quantile transforms included), in tracks/s,
  with torch's thread count as set by OMP_NUM_THREADS.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import gm_helpers as gm
from gm_helpers.data import pid
from gm_helpers.pid import recipes

KINDS = {"gan": "BCE GAN (pidgan)", "wgan": "WGAN-GP", "flow": "conditional NSF"}
CUTS = {"DLLK > 0": lambda d: d[:, 2] > 0, "DLLK > 5": lambda d: d[:, 2] > 5}


def _mean_min(values) -> str:
    return f"{np.mean(values):.2f} ({np.min(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--test", type=int, default=50_000, help="fresh tracks per species")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument(
        "--repeats", type=int, default=5, help="independent test samples for the efficiencies"
    )
    args = parser.parse_args()
    edges = recipes.MOMENTUM_EDGES
    print(
        f"torch threads: {torch.get_num_threads()}; {args.test:,} test tracks per species, seed {args.seed}"
    )
    print(
        "| species | model | DLLK > 0 within 2 sigma | DLLK > 5 within 2 sigma | referee AUC "
        "| mean AUC over bins | worst bin | tracks/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for i, species in enumerate(("K", "pi")):
        scaler = recipes.training_scaler(species)
        tests = [pid.simulate(species, args.test, seed=args.seed + 10 * r + i) for r in range(args.repeats)]
        for kind, label in KINDS.items():
            model, _ = gm.pretrained.load(f"lecture08-{species}-{kind}", device="cpu")
            model.eval()
            within = {name: [] for name in CUTS}
            for r, test in enumerate(tests):
                p = test.conditions[:, 0]
                with gm.train.seeded(args.seed + r), torch.no_grad():
                    if r == 0:
                        gm.pid.generate_dll(
                            recipes.sampler(model), scaler, test.conditions[:10_000]
                        )  # warm-up
                    dll, rate = gm.pid.generate_dll(recipes.sampler(model), scaler, test.conditions)
                for name, cut in CUTS.items():
                    z = gm.pid.curve_agreement(gm.pid.efficiency_curve(cut(dll), p, edges),
                                               gm.pid.efficiency_curve(cut(test.dll), p, edges))  # fmt: skip
                    within[name].append(np.mean(np.abs(z[np.isfinite(z)]) <= 2))
                    if np.any(np.abs(z) > 2) and kind == "flow":
                        print(f"  {species} {label} {name}, sample {r}: z {np.round(z, 1).tolist()}")
                if r == 0:
                    first = test, dll, rate  # the referee and the throughput: the first sample
            test, dll, rate = first
            p = test.conditions[:, 0]
            half = args.test // 2
            features = np.column_stack([test.conditions[:, :3], test.dll])
            generated = np.column_stack([test.conditions[:, :3], dll])
            auc, per_bin = gm.pid.referee_auc(features[:half], generated[half:], p[:half], p[half:], edges,
                                              seed=args.seed)  # fmt: skip
            print(
                f"| {species} | {label} | {_mean_min(within['DLLK > 0'])} | {_mean_min(within['DLLK > 5'])} "
                f"| {auc:.3f} "
                f"| {np.nanmean(per_bin):.3f} | {np.nanmax(per_bin):.3f} | {rate:,.0f} |"
            )


if __name__ == "__main__":
    main()
