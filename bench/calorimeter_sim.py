"""Time the calorimeter simulator on one core and print its physics-target figures (PHYSICS.md, section 1).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/calorimeter_sim.py [n]`` (n = 100000 by default).
"""

import argparse
import os
import time

import numpy as np

from gm_helpers.data.calorimeter import shower_observables, simulate


def main(n: int = 100_000) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(f"simulate({n}) on one core; figures are medians unless stated")
    observables, samples = {}, {}
    for particle in ("e+", "gamma", "pi+"):
        start = time.perf_counter()
        samples[particle] = simulate(n, particle, seed=0)
        seconds = time.perf_counter() - start
        observables[particle] = shower_observables(samples[particle])
        print(f"{particle:6s} {seconds:6.1f} s  {n / seconds:8.0f} showers/s")
    print("\nfigure                                     e+       gamma    pi+      target (PHYSICS.md)")
    rows = [
        ("visible E_tot/E_inc", lambda o, e: np.median(o["E_tot/E_inc"]), "0.19, 0.19, 0.08-0.10"),
        ("E_tot/E_inc 16-84% width / median", _spread, "pi+ wide"),
        ("layer-0 fraction, E < 10 GeV", lambda o, e: np.median(o["frac_0"][e < 10]), "e+ 0.38, gamma 0.25"),
        ("layer-0 fraction, E > 80 GeV", lambda o, e: np.median(o["frac_0"][e > 80]), "e+ 0.14, gamma 0.08"),
        ("layer-2 fraction", lambda o, e: np.median(o["frac_2"]), "EM ~0.001, pi+ ~0.08"),
        ("layer-2 fraction (mean)", lambda o, e: np.mean(o["frac_2"]), ""),
        ("shower depth sum(i E_i)/E_tot", lambda o, e: np.median(o["depth"]), "gamma > e+; pi+ deepest"),
        ("lateral width x, layer 1 (mm)", lambda o, e: np.median(o["width_x_1"]), "pi+ wider"),
        ("sparsity layer 0", lambda o, e: np.median(o["sparsity_0"]), ""),
        ("sparsity layer 1", lambda o, e: np.median(o["sparsity_1"]), ""),
        ("sparsity layer 2", lambda o, e: np.median(o["sparsity_2"]), ""),
        ("overflow / deposited (all showers)", None, ""),
    ]
    for label, figure, target in rows:
        values = []
        for particle in ("e+", "gamma", "pi+"):
            if figure is None:
                s = samples[particle]
                values.append(s.overflow.sum() / s.deposited.sum())
            else:
                values.append(figure(observables[particle], samples[particle].energy))
        print(f"{label:40s} " + " ".join(f"{v:8.4f}" for v in values) + f"  {target}")
    for energy in (10.0, 50.0, 90.0):
        ratio = shower_observables(simulate(10_000, "e+", energy=energy, seed=1))["E_tot/E_inc"]
        print(
            f"e+ resolution sigma/mean at {energy:4.0f} GeV: {ratio.std() / ratio.mean():.4f} "
            f"(11%/sqrt(E) = {0.11 / np.sqrt(energy):.4f}; target ~0.02 at 50 GeV)"
        )


def _spread(observed, energy):
    low, median, high = np.percentile(observed["E_tot/E_inc"], [16, 50, 84])
    return (high - low) / median


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=100_000, help="showers per particle")
    main(parser.parse_args().n)
