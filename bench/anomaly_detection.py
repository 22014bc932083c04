"""Lecture 06's quality bars: every method of the weakly supervised bump hunt on the same events,
medians and spreads over several runs (a run = a benchmark seed: new events, new flows, new
classifiers), the bump hunt after the CATHODE cut, and the background-only control.

    OMP_NUM_THREADS=1 python bench/anomaly_detection.py --runs 5

Per run: the benchmark (1,000 signal events in 10^6 background, ``gm.data.lhco.benchmark``); the
side-band flow (``SidebandFlow``, trained on everything outside the signal region: lecture 06's
recipe, 20,000 steps of 512 events) and an SR flow for ANODE (trained on one half of the SR
events, scoring the other half); 4 CATHODE samples per SR event; the k-fold gradient-boosted
classifiers of ``gm.anomaly``. The bump hunt cuts on the CATHODE score at the threshold that keeps
``--keep`` of the SR data, then fits the dijet function outside the signal region. The control runs
the same pipeline (a new side-band flow and classifier) on the same events without the signal.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gm_helpers import anomaly
from gm_helpers.data import lhco

METHODS = ("supervised", "idealized", "CWoLa", "ANODE", "CATHODE")


def cut_and_hunt(data, flow, keep: float, seed: int) -> tuple[float, float]:
    """Local significance (fit uncertainty included) before and after the CATHODE cut."""
    scores = anomaly.cathode(data, flow, everywhere=True, seed=seed)
    threshold = np.quantile(scores[data.in_region()], 1 - keep)
    before = anomaly.bump_hunt(data).significance_profiled
    after = anomaly.bump_hunt(data[scores >= threshold]).significance_profiled
    return before, after


def one_run(seed: int, args) -> dict:
    start = time.perf_counter()
    data = lhco.benchmark(seed, n_background=args.background, n_signal=args.signal)
    sr = data.signal_region()
    truth = sr.is_signal
    flow = anomaly.SidebandFlow(data.sidebands(), seed=seed)
    flow.fit(steps=args.flow_steps, batch_size=512, seed=seed, progress=False)
    # ANODE: the SR flow learns from one half of the SR events and scores the other half
    half = np.random.default_rng(seed).random(len(sr)) < 0.5
    sr_flow = anomaly.SidebandFlow(sr[half], seed=seed)
    sr_flow.fit(steps=args.sr_steps, batch_size=512, seed=seed, progress=False)
    labelled = lhco.simulate(300_000, 20_000, seed=10_000 + seed)
    extra = lhco.extra_background(4 * len(data), seed=seed)
    scores = {
        "supervised": anomaly.supervised(labelled, data, seed=seed),
        "idealized": anomaly.idealized(data, extra, seed=seed),
        "CWoLa": anomaly.cwola(data, seed=seed),
        "CATHODE": anomaly.cathode(data, flow, seed=seed),
    }
    result = {name: anomaly.max_sic(s, truth) for name, s in scores.items()}
    result["ANODE"] = anomaly.max_sic(anomaly.anode(sr[~half], flow, sr_flow, region=lhco.SIGNAL_REGION),
                                      truth[~half])  # fmt: skip
    result["Z before"], result["Z after"] = cut_and_hunt(data, flow, args.keep, seed)
    background_only = data[~data.is_signal]
    control_flow = anomaly.SidebandFlow(background_only.sidebands(), seed=seed)
    control_flow.fit(steps=args.flow_steps, batch_size=512, seed=seed, progress=False)
    result["control Z before"], result["control Z after"] = cut_and_hunt(
        background_only, control_flow, args.keep, seed
    )
    result["seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--background", type=int, default=1_000_000)
    parser.add_argument("--signal", type=int, default=1_000)
    parser.add_argument("--flow-steps", type=int, default=20_000, help="side-band flows (batches of 512)")
    parser.add_argument("--sr-steps", type=int, default=4_000, help="ANODE's signal-region flow")
    parser.add_argument("--keep", type=float, default=0.01, help="fraction of SR data kept by the cut")
    args = parser.parse_args()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.runs):
        rows.append(one_run(seed, args))
        print(f"run {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()), flush=True)
    print(f"\n{args.runs} runs, {args.signal} signal in {args.background:,} background, "
          f"{args.flow_steps} flow steps; median [min, max]")  # fmt: skip
    for key in rows[0]:
        values = np.array([row[key] for row in rows])
        print(f"| {key} | {np.median(values):.2f} [{values.min():.2f}, {values.max():.2f}] |")


if __name__ == "__main__":
    main()
