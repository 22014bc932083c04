"""Lecture 07's quality bars: calibration, accuracy against nested sampling, importance sampling,
and amortization of the neural posterior estimate (NPE) of the chirp.

    OMP_NUM_THREADS=1 python bench/simulation_based_inference.py            # the shipped NPE
    OMP_NUM_THREADS=1 python bench/simulation_based_inference.py --train 30000 --noise coloured

- Calibration: expected coverage of the central credible intervals (21 levels) of each parameter over
  ``--tests`` simulated observations, 1,000 posterior samples each; the bar: within 0.05 of the
  diagonal at every level.
- Accuracy: for ``--observations`` observations, 10^4 NPE samples against ``dynesty``'s (500 live
  points, dlogz 0.1): the Wasserstein distance of each 1-D marginal in units of the reference's
  standard deviation (bar: <= 0.1), for the NPE and for the NPE reweighted by importance sampling
  (5 x 10^4 proposals; efficiency and evidence reported); and, as the floor, the distance between
  two dynesty runs with different seeds (the reference is a Monte Carlo answer too). The bar's
  alternative, the classifier two-sample AUC of the joint samples (bar: <= 0.6), is printed with the
  same floor, which shows it unusable here: equally weighted nested-sampling sets (and resampled
  importance samples) repeat points, which the classifier recognizes across its folds (two dynesty
  runs: AUC about 0.8).
- Amortization: the time of 10^4 posterior samples for a new observation (bar: <= 1 s on the CPU),
  against the nested sampler's time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gm_helpers import inference, pretrained
from gm_helpers.core import to_numpy
from gm_helpers.data import chirp
from gm_helpers.inference import calibration
from gm_helpers.metrics import classifier_two_sample_auc, wasserstein_1d


def trained_npe(sim, steps: int, seed: int):
    theta = sim.sample_prior(200_000, seed=seed + 1)
    bank = sim.waveform(theta)
    val_theta, val_x = sim.simulate(2_000, seed=seed + 2)
    npe = inference.NPE(sim.low, sim.high, sim.n_samples, waveforms=bank[:20_000], seed=seed)
    npe.fit(theta, bank, fresh_noise=True, steps=steps, batch_size=512, seed=seed, val_data=val_theta,
            val_context=val_x, eval_every=max(steps // 15, 1), progress=False)  # fmt: skip
    return npe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train", type=int, default=0, help="train an NPE for this many steps (0: the shipped one)"
    )
    parser.add_argument("--noise", default="white", choices=["white", "coloured"])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--observations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    sim = chirp.Chirp(noise=args.noise)
    if args.train:
        start = time.perf_counter()
        npe = trained_npe(sim, args.train, args.seed)
        print(f"trained {args.train} steps in {time.perf_counter() - start:.0f} s")
    else:
        if args.noise != "white":
            parser.error("the shipped NPE is for white noise: use --train with --noise coloured")
        npe, _ = pretrained.load("lecture07-npe", device="cpu")

    theta, x = sim.simulate(args.tests, seed=10_000 + args.seed)
    start = time.perf_counter()
    samples = to_numpy(npe.sample_batched(1_000, x))
    print(f"calibration: {args.tests} x 1,000 samples in {time.perf_counter() - start:.1f} s")
    error = calibration.coverage_error(calibration.ranks(samples, theta))
    print(
        "| largest |coverage - level| | "
        + " | ".join(f"{p} {e:.3f}" for p, e in zip(chirp.PARAMETERS, error, strict=True))
        + " |"
    )

    obs_theta, obs_x = sim.simulate(args.observations, seed=20_000 + args.seed)
    for i in range(args.observations):
        ref, again = (
            inference.reference_posterior(sim, obs_x[i], nlive=500, dlogz=0.1, seed=s) for s in (0, 1)
        )
        npe.sample(100, obs_x[i])  # warm-up
        start = time.perf_counter()
        s = to_numpy(npe.sample(10_000, obs_x[i]))
        seconds = time.perf_counter() - start
        weighted = inference.importance_sample(npe, sim, obs_x[i], 50_000)
        resampled = weighted.resample(len(ref.samples), seed=args.seed)

        def distance(a, b=ref.samples):
            return np.round([wasserstein_1d(a[:, j], b[:, j]) / b[:, j].std() for j in range(4)], 3).tolist()

        def auc(a, b=ref.samples):  # the joint samples, as many of each (the classifier's prior is 1/2)
            n = min(len(a), len(b))
            return f"{classifier_two_sample_auc(a[:n], b[:n], seed=args.seed):.3f}"

        print(f"| observation {i} (SNR {sim.snr(obs_theta[i])[0]:.1f}) | dynesty {ref.seconds:.1f} s, "
              f"{ref.calls:,} calls, log Z {ref.log_evidence:.2f} ± {ref.log_evidence_error:.2f} | "
              f"10^4 NPE samples {seconds:.2f} s ({ref.seconds / seconds:,.0f}x) | W1/sd: NPE {distance(s)}, "
              f"NPE + IS {distance(resampled)}, a second dynesty run {distance(again.samples)} | "
              f"C2ST AUC on the joint samples: NPE {auc(s)}, NPE + IS {auc(resampled)}, "
              f"a second dynesty run {auc(again.samples)} | "
              f"IS efficiency {weighted.efficiency:.2%}, log Z {weighted.log_evidence:.2f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
