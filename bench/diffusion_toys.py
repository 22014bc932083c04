"""Benchmark: lecture 10's flow matching and DDPM against lecture 04's coupling NSF on 2-D toys (issue 17).

For each toy of lecture 04 (moons, checkerboard, rings; 30,000 training points drawn with seed 0, a test
set of 5,000 points with seed 1, as in the notebook) and each seed, three models are trained on the same
data with the same batch size (256) and, by default, the same number of optimizer steps:

- the coupling NSF of lecture 04: ``gm.flows.nsf(2, bins=8, transforms=4, hidden=(64, 64))`` trained by
  ``gm.flows.train_flow`` with lecture 04's settings (Adam 2e-3, cosine decay, clip 5);
- flow matching: ``FlowMatching(VectorField(2, hidden, frequencies), coupling)`` trained by
  ``train_diffusion`` (Adam ``--lr``, cosine decay, clip 1); ``--coupling ot`` pairs noise and data by
  the minibatch optimal transport plan (OT-CFM);
- DDPM: the same ``VectorField`` as noise predictor, T = 1000, trained the same way.

Reported per toy and model, mean ± std over the seeds:

- the test NLL in nats per point: the NSF's exact ``log_prob``; flow matching's exact likelihood of the
  continuous flow (instantaneous change of variables, exact trace, ``--ode-steps`` RK4 steps: the
  convergence table below shows the figure is converged). DDPM has no exact likelihood here: "-";
- sample quality of 5,000 samples against the 5,000 test points (``gm.metrics``): the classifier
  two-sample AUC (gradient-boosted trees, 5-fold; 0.5: indistinguishable) and the energy distance; the
  row "data" is a fresh draw of 5,000 points from the toy itself, the floor of both figures at this
  sample size (the energy distance is the V-statistic: its floor, about sqrt(E|X - X'| (1/n + 1/m)),
  is 0.03-0.04 on checkerboard and rings, larger than most differences between the models, so the AUC
  is the figure to read; the sliced Wasserstein distance is as blunt);
- training time (seconds) and sampling speed (samples per second, 5,000 samples: the NSF in one pass,
  flow matching with ``--sample-steps`` Heun steps, DDPM with all T ancestral steps).

Then, for the first seed: flow matching's test NLL against the number of RK4 steps of the likelihood
ODE, and its sample quality and time against the number of Euler and Heun steps of the sampling ODE.

Usage:
    OMP_NUM_THREADS=1 python bench/diffusion_toys.py          # 3,000 steps (lecture 04's), 3 seeds: ~8 min
    OMP_NUM_THREADS=1 python bench/diffusion_toys.py --quick  # a smoke test: 300 steps, one seed: ~3 min
    # what flow matching needs to reach the NSF (the NSF keeps lecture 04's 3,000 steps), ~5 min per seed:
    OMP_NUM_THREADS=1 python bench/diffusion_toys.py --toys checkerboard --models nsf,fm \\
        --diffusion-steps 100000 --seeds 1 --first-seed 0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import gm_helpers as gm
from gm_helpers import diffusion

TOYS = ("moons", "checkerboard", "rings")
MODELS = {"nsf": "NSF", "fm": "flow matching", "ddpm": "DDPM"}
SEED = 0  # lecture 04's: training data with SEED, test data with SEED + 1
N_SAMPLES = 5000
BATCH = 256
ODE_CHECK = (20, 50, 100, 200)
SAMPLER_STEPS = (1, 2, 5, 10, 20, 50, 100)


def quality(samples: torch.Tensor, test: torch.Tensor) -> dict:
    """The classifier two-sample AUC and the energy distance of samples against the test set."""
    samples = samples.cpu()
    return {
        "auc": gm.metrics.classifier_two_sample_auc(samples, test, seed=0),
        "energy": gm.metrics.energy_distance(samples, test),
    }


def timed(device: torch.device, fn, *args, **kwargs):
    """(fn(*args, **kwargs), seconds), the clock stopped after the device finished."""
    gm.core.synchronize(device)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    gm.core.synchronize(device)
    return out, time.perf_counter() - start


def run(kind: str, data: torch.Tensor, test: torch.Tensor, seed: int, args, device) -> dict:
    """Train one model; return its test NLL, sample quality, training time and sampling speed."""
    gm.seed_everything(seed)  # the initial weights
    common = dict(batch_size=BATCH, device=device, seed=seed, progress=False)
    generator = torch.Generator().manual_seed(1000 + seed)
    if kind == "NSF":
        model = gm.flows.nsf(2, bins=8, transforms=4, hidden=(64, 64))
        history = gm.flows.train_flow(model, data, steps=args.steps, lr=args.nsf_lr, **common)
        nll = gm.flows.evaluate_nll(model, test)
        with torch.no_grad():
            samples, seconds = timed(device, model.sample, N_SAMPLES, generator=generator)
    else:
        network = diffusion.VectorField(2, hidden=args.hidden, frequencies=args.frequencies)
        if kind == "flow matching":
            model = diffusion.FlowMatching(network, coupling=args.coupling)
        else:
            model = diffusion.DDPM(network)
        history = diffusion.train_diffusion(model, data, steps=args.diffusion_steps, lr=args.lr, **common)
        if kind == "flow matching":
            nll = -float(model.log_prob(test.to(device), steps=args.ode_steps, method="rk4").mean())
            options = dict(steps=args.sample_steps, method="heun")
        else:  # no exact likelihood: sample quality only
            nll, options = float("nan"), {}
        samples, seconds = timed(device, model.sample, N_SAMPLES, generator=generator, **options)
    return {"nll": nll, **quality(samples, test), "train_s": history.seconds,
            "samples_per_s": N_SAMPLES / seconds, "model": model}  # fmt: skip


def mean_std(values, digits: int = 3) -> str:
    values = np.asarray(values, dtype=float)
    if np.all(np.isnan(values)):
        return "-"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def ode_tables(first: dict, device: torch.device, seed: int) -> None:
    """Flow matching (the models of one seed): the test NLL against the RK4 steps of the likelihood ODE,
    and the sample quality and time against the Euler and Heun steps of the sampling ODE."""
    tests = {name: gm.data.toy2d(name, N_SAMPLES, seed=SEED + 1) for name in first}
    print(f"\nflow matching, seed {seed}: test NLL (nats) against the RK4 steps of the likelihood ODE "
          "(seconds for the 5,000 test points)")  # fmt: skip
    print("\n| toy | " + " | ".join(f"{s} RK4" for s in ODE_CHECK) + " |\n|---|" + "---:|" * len(ODE_CHECK))
    for name, model in first.items():
        cells = []
        for steps in ODE_CHECK:
            log_p, seconds = timed(device, model.log_prob, tests[name].to(device), steps=steps, method="rk4")
            cells.append(f"{-float(log_p.mean()):.4f} ({seconds:.1f} s)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)

    print(f"\nflow matching, seed {seed}: C2ST AUC / energy distance of 5,000 samples against the test "
          "set, by the steps of the sampling ODE; last rows: seconds (mean of the toys)")  # fmt: skip
    columns = " | ".join(map(str, SAMPLER_STEPS))
    print(f"\n| toy | method | {columns} |\n|---|---|" + "---:|" * len(SAMPLER_STEPS))
    seconds = {method: np.zeros(len(SAMPLER_STEPS)) for method in ("euler", "heun")}
    for name, model in first.items():
        for method in seconds:
            cells = []
            for k, steps in enumerate(SAMPLER_STEPS):
                generator = torch.Generator().manual_seed(1000 + seed)
                samples, took = timed(device, model.sample, N_SAMPLES, steps=steps, method=method,
                                      generator=generator)  # fmt: skip
                seconds[method][k] += took / len(first)
                figures = quality(samples, tests[name])
                cells.append(f"{figures['auc']:.3f} / {figures['energy']:.4f}")
            print(f"| {name} | {method} | " + " | ".join(cells) + " |", flush=True)
    for method, row in seconds.items():
        print(f"| time (s) | {method} | " + " | ".join(f"{t:.2f}" for t in row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="300 steps, one seed, 2,000 training points: a smoke test")
    add("--steps", type=int, default=None, help="training steps of every model (default 3000, lecture 04's)")
    add(
        "--diffusion-steps",
        type=int,
        default=None,
        help="training steps of flow matching and DDPM (default: --steps; the NSF keeps --steps)",
    )
    add("--seeds", type=int, default=None, help="number of seeds (default 3)")
    add("--first-seed", type=int, default=0, help="the seeds are first-seed, first-seed + 1, ...")
    add("--toys", default=",".join(TOYS))
    add("--models", default=",".join(MODELS), help="a subset of nsf, fm (flow matching), ddpm")
    add("--hidden", default="128,128,128", help="hidden widths of the vector field")
    add("--frequencies", type=int, default=4, help="frequencies of the vector field's time embedding")
    add(
        "--lr",
        type=float,
        default=3e-3,
        help="Adam lr of flow matching and DDPM (cosine decay; lecture 10's)",
    )
    add(
        "--coupling",
        default="independent",
        choices=diffusion.COUPLINGS,
        help="flow matching's noise-data pairing",
    )
    add("--nsf-lr", type=float, default=2e-3, help="Adam lr of the NSF (lecture 04's, cosine decay)")
    add("--ode-steps", type=int, default=50, help="RK4 steps of flow matching's likelihood ODE")
    add("--sample-steps", type=int, default=50, help="Heun steps of flow matching's sampling ODE")
    add("--no-tables", action="store_true", help="skip the ODE-step tables (first seed)")
    add("--device", default="cpu")
    add("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for these sizes)")
    args = parser.parse_args()
    args.steps = args.steps or (300 if args.quick else 3000)
    args.diffusion_steps = args.diffusion_steps or args.steps
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    seeds = range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick else 3)))
    models = [MODELS[m.strip()] for m in args.models.split(",")]
    n_train = 2000 if args.quick else 30_000
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    toys = [t.strip() for t in args.toys.split(",")]
    start = time.perf_counter()
    print(
        f"device {device}, {torch.get_num_threads()} thread(s), seeds {list(seeds)}, batch {BATCH}, "
        f"{n_train} training points; NSF: {args.steps} steps, lr {args.nsf_lr}; flow matching and DDPM: "
        f"{args.diffusion_steps} steps, lr {args.lr}, VectorField hidden {args.hidden}, "
        f"{args.frequencies} frequencies, {args.coupling} coupling; NLL with {args.ode_steps} RK4 steps, "
        f"sampling with {args.sample_steps} Heun steps (DDPM: T = 1000 ancestral steps)"
    )
    print(
        "\n| toy | model | test NLL (nats) | C2ST AUC | energy distance | training (s) | samples/s |"
        "\n|---|---|---:|---:|---:|---:|---:|"
    )
    gaps, first = {}, {}
    for name in toys:
        data, test = gm.data.toy2d(name, n_train, seed=SEED), gm.data.toy2d(name, N_SAMPLES, seed=SEED + 1)
        floor = quality(gm.data.toy2d(name, N_SAMPLES, seed=SEED + 2), test)
        print(f"| {name} | data | | {floor['auc']:.3f} | {floor['energy']:.4f} | | |", flush=True)
        nll = {}
        for kind in models:
            results = [run(kind, data, test, seed, args, device) for seed in seeds]
            if kind == "flow matching":
                first[name] = results[0]["model"]
            nll[kind] = np.mean([r["nll"] for r in results])
            print(
                f"| {name} | {kind} | {mean_std([r['nll'] for r in results])} "
                f"| {mean_std([r['auc'] for r in results])} | {mean_std([r['energy'] for r in results], 4)} "
                f"| {np.mean([r['train_s'] for r in results]):.0f} "
                f"| {np.mean([r['samples_per_s'] for r in results]):,.0f} |",
                flush=True,
            )
        if "NSF" in nll and "flow matching" in nll:
            gaps[name] = nll["flow matching"] - nll["NSF"]
    if gaps:
        print("\nbar (issue 17): flow matching's test NLL within 0.05 nats of the coupling NSF")
        for name, gap in gaps.items():
            print(f"- {name}: flow matching - NSF = {gap:+.3f} nats: {'met' if gap <= 0.05 else 'NOT met'}")
    if first and not args.no_tables:
        ode_tables(first, device, seeds[0])
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
