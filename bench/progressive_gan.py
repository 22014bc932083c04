"""Lecture 09's quality bars, measured on the shipped checkpoints.

    OMP_NUM_THREADS=2 python bench/progressive_gan.py [--n 1000] [--repeats 5]

The progressive GAN (grown 4x4 -> 64x64) and the fixed-resolution baseline (the same networks trained
at 64x64 from the first step, for the same wall-clock time) each draw ``--n`` images for each of
``--repeats`` seeds; each set is compared with as many fresh phantoms (the same mix: half with a
finding), also drawn afresh per repeat. Reported per model, as median (min-max) over the repeats:

- the texture exponent beta (``gm.imaging.texture_beta``: the power law fitted to the radially
  averaged spectrum inside the breast) and its difference from the phantoms' (the bar: within 0.2);
- the Fréchet distance in the features of the course's phantom network (``gm.imaging.phantom_fd``),
  with the noise floor of two independent sets of real phantoms (the bar: progressive below fixed);
- the memorization ratio (median nearest-neighbour distance to the 4,000 training images, generated
  over fresh real; near 1 or above: no copying);
- the training steps and seconds recorded in each checkpoint, and the generation speed on the CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import gm_helpers as gm
from gm_helpers.data import mammo
from gm_helpers.imaging import recipes

MODELS = {"lecture09-progressive": "progressive (4 -> 64)", "lecture09-fixed": "fixed 64x64"}


def _spread(values) -> str:
    return f"{np.median(values):.2f} ({np.min(values):.2f} to {np.max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="images per set")
    parser.add_argument("--repeats", type=int, default=5, help="independent sets (seeds)")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; {args.n} images per set, {args.repeats} sets")
    training = (recipes.training_images()[:, 0].numpy() + 1) / 2
    reals = [mammo.phantoms(args.n, 64, seed=20_000 + r).images for r in range(args.repeats)]
    floors = [gm.imaging.phantom_fd(mammo.phantoms(args.n, 64, seed=30_000 + r).images, reals[r])
              for r in range(args.repeats)]  # fmt: skip
    real_beta = [gm.imaging.texture_beta(x, n_boot=0).value for x in reals]
    print(f"phantoms: beta {_spread(real_beta)}; Fréchet distance real vs real (floor) {_spread(floors)}")
    print("| model | steps | training s | beta | beta - phantoms' | Fréchet distance | memorization ratio "
          "| images/s (CPU) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in MODELS.items():
        generator, history = gm.pretrained.load(name, device="cpu")
        betas, deltas, fds, ratios = [], [], [], []
        for r in range(args.repeats):
            x = recipes.samples(generator, args.n, seed=r)
            betas.append(gm.imaging.texture_beta(x, n_boot=0).value)
            deltas.append(betas[-1] - real_beta[r])
            fds.append(gm.imaging.phantom_fd(x, reals[r]))
            ratios.append(gm.imaging.memorization_ratio(x[:300], reals[r][:300], training))
        start = time.perf_counter()
        recipes.samples(generator, 2000, seed=99)
        speed = 2000 / (time.perf_counter() - start)
        print(f"| {label} | {len(history['critic']):,} | {history.seconds:.0f} | {_spread(betas)} | "
              f"{_spread(deltas)} | {_spread(fds)} | {_spread(ratios)} | {speed:,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
