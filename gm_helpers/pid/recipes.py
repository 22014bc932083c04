"""The recipes of lecture 08: the training tracks, the three models, and the checkpoints' figure.

- ``training_tracks(species)``: the seeded training sample of one species (the same in the lecture,
  the exercise and the checkpoint tests, so the quantile preprocessing fitted on it is the same);
- ``training_scaler(species)``: the ``PIDScaler`` fitted on those tracks, once per process;
- ``pidgan_players()``: pidgan's RICH model, a ``ResGenerator`` (latent 64, 10 residual layers of
  128) and an ``AuxDiscriminator`` (10 x 128, residual, with DLLmu - DLLe and DLLp - DLLK as
  auxiliary inputs), trained as a BCE GAN with label smoothing 0.01 and injected noise 0.02;
- the WGAN-GP of the lecture uses the same players (only the loss differs; no sigmoid either way);
- ``conditional_flow()``: a conditional neural spline flow (``gm.flows.nsf``) on the same inputs;
- ``efficiency_pull(model, species)``: the checkpoints' figure, how far the DLLK > 0 efficiency
  of generated tracks lies from the simulator's, in binomial sigma, averaged over momentum bins.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from gm_helpers.data import pid
from gm_helpers.flows import Flow, nsf
from gm_helpers.gan import Generator, MLPCritic, MLPGenerator
from gm_helpers.pid.preprocessing import PIDScaler, generate_dll
from gm_helpers.pid.validation import curve_agreement, efficiency_curve
from gm_helpers.train import seeded

__all__ = [
    "AUX_DIFFERENCES",
    "MOMENTUM_EDGES",
    "TRAIN_TRACKS",
    "conditional_flow",
    "efficiency_pull",
    "pidgan_players",
    "sampler",
    "training_scaler",
    "training_tracks",
]

TRAIN_TRACKS = 1_000_000
MOMENTUM_EDGES = np.geomspace(3.0, 200.0, 13)  # 12 bins, equal in log p
AUX_DIFFERENCES = (
    (pid.OUTPUTS.index("DLLmu"), pid.OUTPUTS.index("DLLe")),
    (pid.OUTPUTS.index("DLLp"), pid.OUTPUTS.index("DLLK")),
)
_SEEDS = {species: 800 + i for i, species in enumerate(pid.SPECIES)}
_FEATURES = len(pid.OUTPUTS)
_CONTEXT = len(pid.CONDITIONS)


def training_tracks(species: str, n: int = TRAIN_TRACKS) -> pid.Tracks:
    """The training tracks of ``species`` (seeded per species: the same every time)."""
    if species not in _SEEDS:
        raise ValueError(f"species must be one of {pid.SPECIES}, got {species!r}")
    return pid.simulate(species, n, seed=_SEEDS[species])


@functools.cache
def training_scaler(species: str) -> PIDScaler:
    """The ``PIDScaler`` fitted on ``training_tracks(species)``: the preprocessing of the shipped
    models (made once per process: 10^6 tracks take seconds to simulate and fit)."""
    train = training_tracks(species)
    return PIDScaler().fit(train.conditions, train.dll)


def pidgan_players(width: int = 128, depth: int = 10, latent: int = 64) -> tuple[MLPGenerator, MLPCritic]:
    """pidgan's RICH generator and auxiliary-feature discriminator (residual MLPs)."""
    generator = MLPGenerator(_FEATURES, latent, (width,) * depth, context_features=_CONTEXT, residual=True)
    critic = MLPCritic(_FEATURES, (width,) * depth, context_features=_CONTEXT, residual=True,
                       aux_differences=AUX_DIFFERENCES)  # fmt: skip
    return generator, critic


def conditional_flow(hidden: tuple[int, ...] = (128, 128), transforms: int = 8, bins: int = 8) -> Flow:
    """A conditional coupling neural spline flow q(DLLs | conditions) on the quantile-normal scale."""
    return nsf(_FEATURES, context_features=_CONTEXT, transforms=transforms, hidden=hidden, bins=bins,
               tail_bound=5.0)  # fmt: skip


def sampler(model: Generator | Flow):
    """``sample(context)`` for ``generate_dll``: one output per row of the normalized conditions."""
    if isinstance(model, Generator):
        return lambda context: model(model.noise(len(context)), context)
    return lambda context: model.sample(len(context), context)


def efficiency_pull(model: Generator | Flow, species: str, n: int = 50_000) -> float:
    """Mean |z| over the 12 momentum bins of the DLLK > 0 efficiency, generated against the simulator,
    on ``n`` fresh tracks (0: perfect; about 0.8 for two independent samples of the same physics)."""
    scaler = training_scaler(species)
    test = pid.simulate(species, n, seed=12_345)
    model = model.cpu().eval()
    with seeded(0), torch.no_grad():
        dll, _ = generate_dll(sampler(model), scaler, test.conditions)
    p = test.conditions[:, 0]
    z = curve_agreement(efficiency_curve(dll[:, 2] > 0, p, MOMENTUM_EDGES),
                        efficiency_curve(test.dll[:, 2] > 0, p, MOMENTUM_EDGES))  # fmt: skip
    return float(np.nanmean(np.abs(z)))
