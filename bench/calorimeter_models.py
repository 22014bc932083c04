"""Bench of lecture 05: a CaloGAN-style conditional WGAN-GP and a simplified CaloFlow on e+ showers.

Each model trains for a wall-clock budget on the CPU (default 10 minutes; the number of steps is
set from the measured time of a few warm-up steps), then ``gm.challenge.score`` reports the
classifier AUC, the mean normalized Wasserstein distance and the generation speed, next to the
simulator itself. Models: ``gm_helpers.calo_models`` (see its docstring for what is simplified).

    python bench/calorimeter_models.py [--minutes 10] [--train 50000] [--n 10000] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

import gm_helpers as gm
from gm_helpers.calo_models import CaloFlow, CaloWGAN
from gm_helpers.data.calorimeter import simulate


def _steps_for(budget_s: float, run_some, probe: int) -> int:
    """Steps that fit in the budget, from the time of ``probe`` steps after a warm-up of 10."""
    run_some(10)
    start = time.perf_counter()
    run_some(probe)
    per_step = (time.perf_counter() - start) / probe
    return max(int(0.9 * budget_s / per_step) - probe - 10, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--train", type=int, default=50_000, help="training showers (x4 with mirror images)")
    parser.add_argument("--n", type=int, default=10_000, help="showers in challenge.score")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gan-lr", type=float, default=3e-4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gm.seed_everything(0)
    budget = 60.0 * args.minutes
    start = time.perf_counter()
    train = simulate(args.train, "e+", seed=1)
    print(f"simulated {args.train} training showers in {time.perf_counter() - start:.1f} s", flush=True)
    results = []

    result = gm.challenge.score(
        lambda e: simulate(len(e), energy=e, seed=7).cells, n=args.n, name="simulator", leaderboard=None
    )
    print(result, flush=True)
    results.append(result)

    start = time.perf_counter()
    gan = CaloWGAN(train, latent=64, hidden=512, layers=3)
    run_gan = lambda k: gan.train(k, lr=args.gan_lr, device=args.device, progress=False)  # noqa: E731
    steps = _steps_for(budget - (time.perf_counter() - start), run_gan, 50)
    run_gan(steps)
    print(f"WGAN-GP: {steps + 60} steps (3 runs) in {time.perf_counter() - start:.0f} s", flush=True)
    result = gm.challenge.score(gan.generate, n=args.n, name="bench WGAN-GP (CaloGAN recipe)")
    print(result, flush=True)
    results.append(result)

    start = time.perf_counter()
    flow = CaloFlow(train, hidden=256, layers=8)
    run_flow = lambda k: flow.train(k // 3, k, device=args.device, progress=False)  # noqa: E731
    steps = _steps_for(budget - (time.perf_counter() - start), run_flow, 100)
    run_flow(steps)
    print(f"CaloFlow: {steps + 110} flow-2 steps (3 runs) in {time.perf_counter() - start:.0f} s", flush=True)
    result = gm.challenge.score(flow.generate, n=args.n, name="bench CaloFlow (simplified)")
    print(result, flush=True)
    results.append(result)

    print("\n| generator | classifier AUC | mean normalized W1 | showers/s |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.auc:.3f} | {r.w1_normalized:.3f} | {r.showers_per_second:,.0f} |")


if __name__ == "__main__":
    main()
