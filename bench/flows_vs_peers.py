"""Benchmark: gm_helpers.flows against zuko, nflows and normflows on the same tasks.

Same data stream (batches, dequantization noise), same architecture (coupling rational-quadratic
spline flow: 4 couplings alternating which half is transformed, 8 bins, tail bound 3, a conditioner
MLP with two hidden layers of 64), same optimizer (Adam, lr 1e-3), steps and seeds for every library;
each library's own flow, transform and spline code. Reports the test NLL (nats per sample; for the
digits, of the discrete data via uniform dequantization) and training steps per second.

Differences we cannot remove: zuko's coupling (``passes=2``) also transforms the first half with a
spline whose parameters are learned constants (or depend on the context); normflows' coupling
network is its ResidualNet (1 residual block of width 64: 4 linear layers instead of 3).

Usage:
    python bench/flows_vs_peers.py            # default: 500 steps, 3 seeds (~10 min of CPU on one core)
    python bench/flows_vs_peers.py --quick    # a smoke test: 100 steps, one seed (1-2 min)
    python bench/flows_vs_peers.py --device cuda --steps 3000
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from functools import partial

import numpy as np
import torch
from torch import nn

import gm_helpers as gm

LIBRARIES = ("gm_helpers", "zuko", "nflows", "normflows")
LAYERS, BINS, HIDDEN, BOUND = 4, 8, 64, 3.0


# ---------------------------------------------------------------------------------------------- tasks


def _rotated_moons(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The conditional task: moons rotated by an angle pi * c, with the context c ~ U(0, 1)."""
    x = gm.data.toy2d("moons", n, seed=seed)
    c = torch.rand(n, 1, generator=torch.Generator().manual_seed(seed + 7))
    angle = math.pi * c[:, 0]
    rotation = torch.stack([torch.cos(angle), -torch.sin(angle), torch.sin(angle), torch.cos(angle)], 1)
    return torch.einsum("nij,nj->ni", rotation.view(n, 2, 2), x), c


def make_task(name: str, n_train: int) -> dict:
    """Train/test tensors, the context size and, for discrete data, the dequantization."""
    if name in ("moons", "checkerboard"):
        return dict(
            train=(gm.data.toy2d(name, n_train, seed=1), None), test=(gm.data.toy2d(name, 5000, seed=2), None)
        )
    if name == "conditional moons":
        return dict(train=_rotated_moons(n_train, 1), test=_rotated_moons(5000, 2), context=1)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = torch.from_numpy(load_digits().data).long()
        order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))
        test = digits[order[1500:]].repeat(4, 1)  # four fixed noise draws per test image
        y_test, logdet_test = gm.data.dequantize(test, 17, generator=torch.Generator().manual_seed(3))
        return dict(
            train=(digits[order[:1500]], None), test=(y_test, None), levels=17, logdet_test=logdet_test
        )
    raise ValueError(f"unknown task {name!r}")


# ---------------------------------------------------------------------------------------------- flows


class _MLP(nn.Module):
    """The conditioner for nflows: x (and the context) -> parameters, two hidden layers."""

    def __init__(self, in_features: int, out_features: int, context: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features + context, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, out_features),
        )

    def forward(self, x, context=None):
        return self.net(x if context is None else torch.cat([x, context], 1))


def build(library: str, features: int, context: int):
    """(module, log_prob(x, c)) for one library."""
    if library == "gm_helpers":
        flow = gm.flows.nsf(
            features, context, bins=BINS, transforms=LAYERS, hidden=(HIDDEN, HIDDEN), tail_bound=BOUND
        )
        return flow, flow.log_prob
    if library == "zuko":
        import zuko

        flow = zuko.flows.MAF(
            features,
            context,
            transforms=LAYERS,
            passes=2,
            univariate=partial(zuko.transforms.MonotonicRQSTransform, bound=BOUND, slope=1e-3),
            shapes=[(BINS,), (BINS,), (BINS - 1,)],
            hidden_features=(HIDDEN, HIDDEN),
        )
        return flow, (lambda x, c: flow(c).log_prob(x))
    if library == "nflows":
        from nflows.distributions import StandardNormal
        from nflows.flows import Flow
        from nflows.transforms import CompositeTransform, PiecewiseRationalQuadraticCouplingTransform

        transforms = [
            PiecewiseRationalQuadraticCouplingTransform(
                mask=(torch.arange(features) % 2 == (i + 1) % 2).int(),
                transform_net_create_fn=lambda i_, o_: _MLP(i_, o_, context),
                num_bins=BINS,
                tails="linear",
                tail_bound=BOUND,
            )
            for i in range(LAYERS)
        ]
        flow = Flow(CompositeTransform(transforms), StandardNormal([features]))
        return flow, (lambda x, c: flow.log_prob(x, context=c))
    if library == "normflows":
        import normflows as nf

        layers = [
            nf.flows.CoupledRationalQuadraticSpline(
                features, 1, HIDDEN, num_context_channels=context or None, num_bins=BINS, tail_bound=BOUND,
                reverse_mask=i % 2 == 1,
            )
            for i in range(LAYERS)
        ]  # fmt: skip
        base = nf.distributions.DiagGaussian(features, trainable=False)
        if context:
            flow = nf.ConditionalNormalizingFlow(base, layers)
            return flow, (lambda x, c: flow.log_prob(x, context=c))
        flow = nf.NormalizingFlow(base, layers)
        return flow, (lambda x, c: flow.log_prob(x))
    raise ValueError(f"unknown library {library!r}")


# ---------------------------------------------------------------------------------------------- run


def run(library: str, task: dict, steps: int, seed: int, device: torch.device, batch_size: int = 256) -> dict:
    """Train one flow with the shared loop; return its test NLL and training steps per second."""
    gm.seed_everything(seed)
    x_train, c_train = task["train"]
    levels = task.get("levels")
    features = x_train.shape[1]
    flow, log_prob = build(library, features, task.get("context", 0))
    flow.to(device)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3)
    batches = gm.train.infinite_batches(x_train, c_train, batch_size=batch_size, seed=seed, device=device)
    noise = torch.Generator().manual_seed(seed)

    def step(i: int) -> dict:
        x, c = next(batches)  # c is None for an unconditional task
        logdet = 0.0
        if levels:
            x, logdet = gm.data.dequantize(x.cpu(), levels, generator=noise)
            x, logdet = x.to(device), logdet.to(device)
        loss = -(log_prob(x, c) + logdet).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"nll": loss}

    gm.core.synchronize(device)
    start = time.perf_counter()
    gm.train.train_loop(step, steps, progress=False, desc=library)
    gm.core.synchronize(device)  # GPU work is asynchronous: wait for it before reading the clock
    seconds = time.perf_counter() - start

    flow.eval()
    x_test, c_test = task["test"]
    with torch.no_grad():
        lp = log_prob(x_test.to(device), None if c_test is None else c_test.to(device)).cpu()
    if levels:
        lp = lp + task["logdet_test"]
    return {"nll": float(-lp.mean()), "steps_per_s": steps / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 steps, one seed: a smoke test")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default 500)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is fastest for these sizes)"
    )
    parser.add_argument("--tasks", default="moons,checkerboard,conditional moons,digits")
    args = parser.parse_args()
    steps = args.steps or (100 if args.quick else 500)
    seeds = range(args.seeds or (1 if args.quick else 3))
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Inputs to the softmax are not scaled down")  # nflows init
    device = torch.device(args.device)
    tasks = [t.strip() for t in args.tasks.split(",")]
    print(
        f"device {device}, {torch.get_num_threads()} thread(s), {steps} steps, seeds {list(seeds)}, batch 256"
    )
    print("| task | library | test NLL (nats), mean ± std over seeds | steps/s | Δ NLL to best peer |")
    print("|---|---|---:|---:|---:|")
    verdicts = []
    for name in tasks:
        task = make_task(name, 1000 if args.quick else 20_000)
        results = {lib: [run(lib, task, steps, seed, device) for seed in seeds] for lib in LIBRARIES}
        nll = {lib: np.mean([r["nll"] for r in rs]) for lib, rs in results.items()}
        speed = {lib: np.mean([r["steps_per_s"] for r in rs]) for lib, rs in results.items()}
        best_peer = min(nll[lib] for lib in LIBRARIES[1:])
        for lib, rs in results.items():
            std = np.std([r["nll"] for r in rs])
            delta = f"{nll[lib] - best_peer:+.3f}" if lib == "gm_helpers" else ""
            print(f"| {name} | {lib} | {nll[lib]:.3f} ± {std:.3f} | {speed[lib]:.0f} | {delta} |", flush=True)
        verdicts.append((name, nll["gm_helpers"] - best_peer <= 0.02, speed["gm_helpers"] >= speed["zuko"]))
    print("\nbar: test NLL within 0.02 nats of the best peer; steps/s at least zuko's")
    for name, nll_ok, speed_ok in verdicts:
        print(f"- {name}: NLL {'met' if nll_ok else 'NOT met'}, speed {'met' if speed_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
