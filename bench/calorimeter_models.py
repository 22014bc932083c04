"""Bench of lectures 05 and 10: a CaloGAN-style conditional WGAN-GP, a simplified CaloFlow and
conditional flow matching on e+ showers.

Each model trains for a wall-clock budget on the CPU (default 10 minutes; the number of steps is
set from the measured time of a few warm-up steps), then ``gm.calorimeter.score`` reports the
classifier AUC, the mean normalized Wasserstein distance and the generation speed, next to the
simulator itself. Models: ``gm_helpers.calorimeter`` (see ``gm_helpers.calorimeter.models`` for
what is simplified); CaloFlow's ``fit`` trains its two flows together, as one flow for p(u, y | E);
``--only fm`` benches lecture 10's ``CaloFlowMatching`` alone.

    python bench/calorimeter_models.py [--minutes 10] [--train 50000] [--n 10000] [--device cpu]

A smoke test in about a minute: ``--minutes 0.1 --train 1000 --n 200 --leaderboard ''``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import gm_helpers as gm
from gm_helpers.calorimeter import DEFAULT_LEADERBOARD, CaloFlow, CaloFlowMatching, CaloWGAN
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
    parser.add_argument("--fm-lr", type=float, default=1e-3)
    parser.add_argument("--fm-steps", type=int, default=32, help="Heun steps of flow matching's sampler")
    parser.add_argument("--fm-hidden", default="512,512,512", help="hidden widths of flow matching's field")
    parser.add_argument(
        "--only", help=f"models to bench, comma-separated, of {', '.join(MODELS)} (default: all)"
    )
    parser.add_argument("--leaderboard", default=str(DEFAULT_LEADERBOARD), help="CSV of scores ('' for none)")
    args = parser.parse_args()
    args.fm_hidden = tuple(int(h) for h in args.fm_hidden.split(","))
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

    for kind in MODELS if args.only is None else args.only.split(","):
        results.append(_bench(kind, train, budget, args, leaderboard))

    print("\n| generator | classifier AUC | mean normalized W1 | showers/s |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.auc:.3f} | {r.w1_normalized:.3f} | {r.showers_per_second:,.0f} |")


MODELS = {  # name: (what is benched, how it is built, fit's extra keywords, probe steps)
    "gan": ("WGAN-GP (CaloGAN recipe)", lambda train, args: CaloWGAN(train, 64, (512, 512, 512)),
            lambda args: {"lr": args.gan_lr}, 50),
    "flow": ("CaloFlow (simplified)", lambda train, args: CaloFlow(train, (256, 256), transforms=8),
             lambda args: {}, 100),
    "fm": ("flow matching (lecture 10)",
           lambda train, args: CaloFlowMatching(train, args.fm_hidden, sample_steps=args.fm_steps),
           lambda args: {"lr": args.fm_lr}, 100),
}  # fmt: skip


def _bench(kind, train, budget, args, leaderboard):
    """Build, train for what is left of the budget, and score one model."""
    name, build, options, probe = MODELS[kind]
    start = time.perf_counter()
    model = build(train, args)

    def fit(**kw):
        return model.fit(device=args.device, progress=False, **options(args), **kw)

    steps = _steps_for(budget - (time.perf_counter() - start), fit, probe, args.device)
    fit(steps=steps)
    print(f"{name}: {steps + probe + 10} steps (3 runs) in {time.perf_counter() - start:.0f} s", flush=True)
    result = gm.calorimeter.score(
        model.cpu().generate, n=args.n, name=f"bench {name}", leaderboard=leaderboard
    )
    print(result, flush=True)
    return result


if __name__ == "__main__":
    main()
