"""Bench of lecture 05: a CaloGAN-style conditional WGAN-GP and a simplified CaloFlow on e+ showers.

Each model trains for a wall-clock budget on the CPU (default 10 minutes; the number of steps is
set from the measured time of a few warm-up steps), then ``gm.calorimeter.score`` reports the
classifier AUC, the mean normalized Wasserstein distance and the generation speed, next to the
simulator itself. Models: ``gm_helpers.calorimeter`` (see ``gm_helpers.calorimeter.models`` for
what is simplified); CaloFlow's ``fit`` trains its two flows together, as one flow for p(u, y | E).

    python bench/calorimeter_models.py [--minutes 10] [--train 50000] [--n 10000] [--device cpu]

A smoke test in about a minute: ``--minutes 0.1 --train 1000 --n 200 --leaderboard ''``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import gm_helpers as gm
from gm_helpers.calorimeter import DEFAULT_LEADERBOARD, CaloFlow, CaloWGAN
from gm_helpers.data.calorimeter import simulate


def _steps_for(budget_s: float, fit: Callable[..., object], probe: int, device: str) -> int:
    """Steps that fit in the budget, from the time of ``probe`` steps after a warm-up of 10.

    ``fit(steps=k, seed=s)`` trains the model further: the warm-up and probe steps count as
    training too, on batches of their own seeds, so the steps returned are what is left.
    """
    fit(steps=10, seed=1)
    gm.core.synchronize(device)
    start = time.perf_counter()
    fit(steps=probe, seed=2)
    gm.core.synchronize(device)
    per_step = (time.perf_counter() - start) / probe
    return max(int(0.9 * budget_s / per_step) - probe - 10, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--train", type=int, default=50_000, help="training showers (x4 with mirror images)")
    parser.add_argument("--n", type=int, default=10_000, help="showers in gm.calorimeter.score")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gan-lr", type=float, default=3e-4)
    parser.add_argument("--only", choices=("gan", "flow"), help="bench one model (default: both)")
    parser.add_argument("--leaderboard", default=str(DEFAULT_LEADERBOARD), help="CSV of scores ('' for none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gm.seed_everything(0)
    leaderboard = args.leaderboard or None
    budget = 60.0 * args.minutes
    start = time.perf_counter()
    train = simulate(args.train, "e+", seed=1)
    print(f"simulated {args.train} training showers in {time.perf_counter() - start:.1f} s", flush=True)
    results = []

    result = gm.calorimeter.score(
        gm.calorimeter.simulator_generator(seed=7), n=args.n, name="simulator", leaderboard=None
    )
    print(result, flush=True)
    results.append(result)

    for model in ("gan", "flow"):
        if args.only in (None, model):
            results.append((_bench_gan if model == "gan" else _bench_flow)(train, budget, args, leaderboard))

    print("\n| generator | classifier AUC | mean normalized W1 | showers/s |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.auc:.3f} | {r.w1_normalized:.3f} | {r.showers_per_second:,.0f} |")


def _bench_gan(train, budget, args, leaderboard):
    start = time.perf_counter()
    gan = CaloWGAN(train, latent_features=64, hidden=(512, 512, 512))

    def fit_gan(**kw):
        return gan.fit(lr=args.gan_lr, device=args.device, progress=False, **kw)

    steps = _steps_for(budget - (time.perf_counter() - start), fit_gan, 50, args.device)
    fit_gan(steps=steps)
    print(f"WGAN-GP: {steps + 60} steps (3 runs) in {time.perf_counter() - start:.0f} s", flush=True)
    name = "bench WGAN-GP (CaloGAN recipe)"
    result = gm.calorimeter.score(gan.cpu().generate, n=args.n, name=name, leaderboard=leaderboard)
    print(result, flush=True)
    return result


def _bench_flow(train, budget, args, leaderboard):
    start = time.perf_counter()
    flow = CaloFlow(train, hidden=(256, 256), transforms=8)

    def fit_flow(**kw):
        return flow.fit(device=args.device, progress=False, **kw)

    steps = _steps_for(budget - (time.perf_counter() - start), fit_flow, 100, args.device)
    fit_flow(steps=steps)
    seconds = time.perf_counter() - start
    print(f"CaloFlow: {steps + 110} steps of both flows (3 runs) in {seconds:.0f} s", flush=True)
    name = "bench CaloFlow (simplified)"
    result = gm.calorimeter.score(flow.cpu().generate, n=args.n, name=name, leaderboard=leaderboard)
    print(result, flush=True)
    return result


if __name__ == "__main__":
    main()
