"""How far apart are two nested-sampling references, and where does the reweighted NPE fall?

    OMP_NUM_THREADS=1 python bench/sbi_reference_scatter.py --observation 1

The observation is one of those of ``bench/simulation_based_inference.py`` (seed 20,000, 3 drawn). The shipped
NPE of lecture 07 proposes 2 x 10^5 samples, reweighted with the exact likelihood; dynesty runs with
500 live points (seeds 0 and 1) and with 2,000. Printed: the Wasserstein distance of each 1-D marginal,
in units of the reference's standard deviation, between the reweighted NPE and each run, and between
the two runs with 500 live points.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from gm_helpers import inference, pretrained
from gm_helpers.data import chirp
from gm_helpers.metrics import wasserstein_1d


def distance(a: np.ndarray, b: np.ndarray) -> list[float]:
    return np.round([wasserstein_1d(a[:, j], b[:, j]) / b[:, j].std() for j in range(a.shape[1])], 3).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observation", type=int, default=1, help="which of the bench's observations")
    parser.add_argument("--observations", type=int, default=3, help="how many the bench drew (its default)")
    args = parser.parse_args()
    torch.manual_seed(0)  # the NPE's proposals
    sim = chirp.Chirp()
    _, x = sim.simulate(args.observations, seed=20_000)  # the same draw as the bench's
    x = x[args.observation]
    npe, _ = pretrained.load("lecture07-npe", device="cpu")
    weighted = inference.importance_sample(npe, sim, x, 200_000)
    print(f"importance sampling: efficiency {weighted.efficiency:.3f}, log Z {weighted.log_evidence:.3f}")
    reweighted = weighted.resample(20_000, seed=1)
    runs = {}
    for nlive, seed in [(500, 0), (500, 1), (2000, 0)]:
        ref = inference.reference_posterior(sim, x, nlive=nlive, dlogz=0.1, seed=seed)
        runs[nlive, seed] = ref.samples
        evidence = f"log Z {ref.log_evidence:.2f} ± {ref.log_evidence_error:.2f}"
        print(f"| dynesty {nlive} live points, seed {seed} | {ref.seconds:.0f} s | {evidence} | "
              f"W1/sd of the reweighted NPE {distance(reweighted, ref.samples)} |", flush=True)  # fmt: skip
    print(
        f"| dynesty seed 0 against seed 1 (500 live points) | W1/sd {distance(runs[500, 0], runs[500, 1])} |"
    )


if __name__ == "__main__":
    main()
