"""The PID stand-in's speed and its identification figures (lecture 08's data, gm.data.pid).

    OMP_NUM_THREADS=1 python bench/pid_data.py

2 x 10^5 tracks of each species (seeds 0-4); the efficiency of DLLK > 0 and of DLLp - DLLK > 0 in
momentum bins for pions, kaons and protons; the DLL medians and the fractions at the +-150 clip; the
kaon DLLK median at low and high occupancy and at low and high eta (10 < p < 30 GeV).
"""

from __future__ import annotations

import time

import numpy as np

from gm_helpers.data import pid

BINS = [3, 6, 10, 15, 20, 30, 50, 100, 200]


def main() -> None:
    start = time.perf_counter()
    tracks = {s: pid.simulate(s, 200_000, seed=i) for i, s in enumerate(pid.SPECIES)}
    print(f"10^6 tracks in {time.perf_counter() - start:.2f} s")
    for species in ("pi", "K", "p"):
        t = tracks[species]
        which = np.digitize(t.p, BINS) - 1
        for name, passed in [("DLLK > 0", t.dll[:, 2] > 0), ("DLLp - DLLK > 0", t.dll[:, 3] > t.dll[:, 2])]:
            efficiency = [passed[which == b].mean() for b in range(len(BINS) - 1)]
            print(f"| {species} | {name} | {' | '.join(f'{e:.3f}' for e in efficiency)} |")
    for species, t in tracks.items():
        clipped = np.mean(np.abs(t.dll) >= 150, 0).round(3)
        print(f"{species}: median DLL {np.median(t.dll, 0).round(1)}, at the clip {clipped}")
    k = tracks["K"]
    window = (k.p > 10) & (k.p < 30)
    for name, mask in [("nTracks < 100", k.n_tracks < 100), ("nTracks > 300", k.n_tracks > 300),
                       ("eta < 3", k.eta < 3), ("eta > 4.3", k.eta > 4.3)]:  # fmt: skip
        print(f"kaons, 10 < p < 30 GeV, {name}: median DLLK {np.median(k.dll[window & mask, 2]):.1f}")


if __name__ == "__main__":
    main()
