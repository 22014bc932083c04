"""Does an ensemble of side-band flows help CATHODE? (lecture 06, benchmark seed 0)

    OMP_NUM_THREADS=1 python bench/cathode_flow_ensemble.py --flows 5

Flow 0 is the shipped ``lecture06-sideband-flow``; flows 1.. are trained with the lecture's recipe
(20,000 steps of 512 events) and other seeds, and kept in ``--cache`` so a second run only scores.
For each flow alone, and for the mixture of all (the same number of samples, an equal share from
each flow; then all their samples together), it reports the AUC of a classifier of the true SR
background against the samples (0.5: indistinguishable) and CATHODE's max SIC on the benchmark.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from gm_helpers import anomaly, pretrained
from gm_helpers.data import lhco
from gm_helpers.data.lhco import Events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=5)
    parser.add_argument("--cache", default="build/cathode-flows")
    args = parser.parse_args()
    data = lhco.benchmark(0)
    sr = data.signal_region()
    extra = lhco.extra_background(4 * len(data), seed=0)
    true_background = extra[extra.in_region(lhco.SIGNAL_REGION)]
    flows = []
    for k in range(args.flows):
        path = Path(args.cache) / f"flow{k}.pt"
        if path.exists():
            flow = anomaly.SidebandFlow.load(path)
        elif k == 0:
            flow, _ = pretrained.load("lecture06-sideband-flow", device="cpu")
        else:
            start = time.perf_counter()
            flow = anomaly.SidebandFlow(data.sidebands(), seed=k)
            flow.fit(steps=20_000, batch_size=512, seed=k, progress=False)
            print(f"flow {k} trained in {time.perf_counter() - start:.0f} s", flush=True)
            flow.save(path)
        flows.append(flow)
    n = 4 * len(sr)
    samples = [anomaly.cathode_samples(flow, sr.mjj, n, seed=100 + k) for k, flow in enumerate(flows)]

    def auc_against_truth(s: Events) -> float:
        m = min(len(true_background), len(s))
        x = np.concatenate([true_background.features[:m], s.features[:m]])
        y = np.r_[np.ones(m), np.zeros(m)]
        return roc_auc_score(y, anomaly.weak_classifier_scores(x, y, folds=5, seed=0))

    def max_sic(s: Events) -> float:
        return anomaly.max_sic(anomaly.cathode(data, None, samples=s, seed=0), sr.is_signal)

    def pooled(parts: list[Events]) -> Events:
        return Events(np.concatenate([p.mjj for p in parts]), np.concatenate([p.features for p in parts]),
                      np.zeros(sum(len(p) for p in parts), dtype=bool))  # fmt: skip

    for k, s in enumerate(samples):
        print(f"| flow {k} | {auc_against_truth(s):.4f} | {max_sic(s):.2f} |", flush=True)
    share = pooled([s[: n // args.flows] for s in samples])
    name = f"mixture of {args.flows}"
    print(f"| {name}, {n // len(sr)} per SR event | {auc_against_truth(share):.4f} | {max_sic(share):.2f} |")
    everything = pooled(samples)
    print(f"| {name}, {args.flows * n // len(sr)} per SR event | | {max_sic(everything):.2f} |")


if __name__ == "__main__":
    main()
