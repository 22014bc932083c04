"""Conditional shower generators for lecture 05 and the hackathon: a CaloGAN-style WGAN-GP and a
CaloFlow-style pair of flows, both built from ``gm_helpers.gan`` and ``gm_helpers.flows``.

Both work on log-scaled, dequantized cells. A cell below the 0.1 MeV threshold is 0 in the data;
for training it is replaced by noise u ~ U(0, 0.1 MeV), so that log(cell) is finite and the
density is continuous, and every generated cell below 0.1 MeV is set back to 0 (CaloFlow,
arXiv:2106.05285, section 3, adds noise and thresholds the same way).

- ``CaloWGAN`` (CaloGAN recipe, arXiv:1705.02355): G(z, E_inc) -> y = log(cell / E_inc),
  standardized per cell; a WGAN-GP critic C(y, E_inc). One network for all 504 cells.
- ``CaloFlow`` (simplified CaloFlow): flow 1, a spline flow for the 3 log layer energies
  log(E_i / E_inc) given log E_inc; flow 2, a RealNVP for the 504 log normalized cells
  log(cell / E_i) given log E_inc and the layer energies. Sampling runs flow 1, then flow 2, then
  thresholds and rescales each layer so that it sums to the energy drawn by flow 1.
  Simplifications against the paper: affine couplings instead of autoregressive splines for flow 2,
  log instead of logit cells, no separate u-variables for the layer energies.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, LAYER_SHAPES, N_CELLS, Showers
from gm_helpers.flows import nsf, realnvp, train_flow
from gm_helpers.gan import MLPCritic, MLPGenerator, train_gan

__all__ = ["CaloFlow", "CaloWGAN", "dequantize_log"]

_SIZES = [rows * cols for rows, cols in LAYER_SHAPES]
_LAYER_OF_CELL = torch.repeat_interleave(torch.arange(3), torch.tensor(_SIZES))


def dequantize_log(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """log(max(value, u)) in MeV with u ~ U(0, 0.1 MeV) where value is below the cell threshold.

    Example:
        >>> bool(np.all(dequantize_log(np.zeros(5)) < np.log(0.1)))
        True
    """
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=np.float64)
    noise = rng.uniform(1e-3, 1.0, values.shape) * CELL_THRESHOLD_MEV
    return np.log(np.where(values < CELL_THRESHOLD_MEV, noise, values))


class _Standardize:
    """y -> (y - mean) / std per feature, fitted on the training set."""

    def __init__(self, x: np.ndarray):
        self.mean = torch.as_tensor(x.mean(axis=0), dtype=torch.float32)
        self.std = torch.as_tensor(x.std(axis=0) + 1e-3, dtype=torch.float32)

    def __call__(self, x) -> Tensor:
        return (torch.as_tensor(x, dtype=torch.float32) - self.mean) / self.std

    def inverse(self, y: Tensor) -> Tensor:
        return y * self.std.to(y.device) + self.mean.to(y.device)


def _log_incident(energy_gev) -> np.ndarray:
    energy = torch.as_tensor(energy_gev, dtype=torch.float64).cpu().numpy().reshape(-1, 1)
    if np.any(~np.isfinite(energy)) or np.any(energy <= 0):
        raise ValueError("incident energies must be positive and finite, in GeV")
    return np.log(1000.0 * energy)


def _threshold(cells: Tensor) -> Tensor:
    return torch.where(cells < CELL_THRESHOLD_MEV, torch.zeros_like(cells), cells)


class CaloWGAN:
    """CaloGAN recipe: a WGAN-GP conditioned on the incident energy, cells as y = log(cell / E_inc).

    Arguments:
        showers: training showers (``gm.data.calorimeter.simulate``).
        latent, hidden, layers: generator noise size, width and depth of both MLPs.
        seed: seed of the dequantization noise and of the networks.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloWGAN(simulate(64, seed=1), hidden=16, layers=1)
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(self, showers: Showers, latent: int = 64, hidden: int = 256, layers: int = 3, seed: int = 0):
        torch.manual_seed(seed)
        log_e = _log_incident(showers.energy)
        self.condition = _Standardize(log_e)
        self.cells = _Standardize(dequantize_log(showers.cells, seed) - log_e)
        self.data = self.cells(dequantize_log(showers.cells, seed) - log_e)
        self.context = self.condition(log_e)
        self.generator = MLPGenerator(N_CELLS, latent, hidden, layers, context_features=1)
        self.critic = MLPCritic(N_CELLS, hidden, layers, context_features=1)

    def train(self, n_steps: int, batch_size: int = 256, device=None, **options) -> dict[str, list[float]]:
        """WGAN-GP training with ``gm.gan.train_gan`` (n_critic = 5, lambda = 10, Adam 1e-4, (0.5, 0.9))."""
        run = train_gan(
            self.generator, self.critic, self.data, kind="wgan-gp", context=self.context,
            n_steps=n_steps, batch_size=batch_size, device=device, **options,
        )  # fmt: skip
        self.generator.cpu().eval()
        return run.history

    @torch.no_grad()
    def generate(self, energy_gev: Tensor) -> Tensor:
        """Cells in MeV, (n, 504), for incident energies in GeV, (n,)."""
        log_e = _log_incident(energy_gev)
        device = next(self.generator.parameters()).device
        context = self.condition(log_e).to(device)
        y = self.cells.inverse(self.generator.sample(len(context), context))
        cells = torch.exp(y + torch.as_tensor(log_e, dtype=torch.float32, device=device))
        return _threshold(cells).cpu()


class CaloFlow:
    """Simplified CaloFlow: p(E_0, E_1, E_2 | E_inc) by flow 1, p(normalized cells | E_i, E_inc) by flow 2.

    Arguments:
        showers: training showers.
        hidden: width of the two hidden layers of the coupling networks of flow 2.
        layers: number of couplings of flow 2 (flow 1 has 6 spline couplings).
        seed: seed of the dequantization noise and of the networks.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloFlow(simulate(64, seed=1), hidden=16, layers=2)
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(self, showers: Showers, hidden: int = 128, layers: int = 8, seed: int = 0):
        torch.manual_seed(seed)
        log_e = _log_incident(showers.energy)
        log_layers = dequantize_log(showers.layer_energies, seed + 1)  # (n, 3), log MeV
        log_cells = dequantize_log(showers.cells, seed) - log_layers[:, _LAYER_OF_CELL.numpy()]
        self.incident = _Standardize(log_e)
        self.layers = _Standardize(log_layers - log_e)
        self.cells = _Standardize(log_cells)
        self.data1, self.context1 = self.layers(log_layers - log_e), self.incident(log_e)
        self.data2 = self.cells(log_cells)
        self.context2 = torch.cat([self.context1, self.data1], dim=1)
        self.flow1 = nsf(3, context_features=1, layers=6, hidden=(64, 64))
        self.flow2 = realnvp(N_CELLS, context_features=4, layers=layers, hidden=(hidden, hidden))

    def train(
        self, steps1: int, steps2: int, batch_size: int = 256, device=None, progress: bool = True
    ) -> tuple[dict, dict]:
        """Maximum likelihood for both flows with ``gm.flows.train_flow`` (Adam, cosine schedule)."""
        h1 = train_flow(self.flow1, self.data1, self.context1, steps=steps1, batch_size=batch_size,
                        device=device, progress=progress, desc="flow 1: layer energies")  # fmt: skip
        h2 = train_flow(self.flow2, self.data2, self.context2, steps=steps2, batch_size=batch_size,
                        lr=5e-4, device=device, progress=progress, desc="flow 2: showers")  # fmt: skip
        self.flow1.cpu().eval()
        self.flow2.cpu().eval()
        return h1, h2

    @torch.no_grad()
    def generate(self, energy_gev: Tensor) -> Tensor:
        """Cells in MeV, (n, 504), for incident energies in GeV, (n,)."""
        log_e = _log_incident(energy_gev)
        device = next(self.flow2.parameters()).device
        context1 = self.incident(log_e).to(device)
        n = len(context1)
        u = self.flow1.sample(n, context1)
        log_incident = torch.as_tensor(log_e, dtype=torch.float32, device=device)
        layer_energy = _threshold(torch.exp(self.layers.inverse(u) + log_incident))  # (n, 3) MeV
        y = self.flow2.sample(n, torch.cat([context1, u], dim=1))
        index = _LAYER_OF_CELL.to(device)
        cells = _threshold(torch.exp(self.cells.inverse(y)) * layer_energy[:, index])
        sums = torch.zeros(n, 3, device=device).index_add_(1, index, cells)  # rescale to flow 1's E_i
        scale = torch.where(sums > 0, layer_energy / sums.clamp_min(1e-12), torch.zeros_like(sums))
        return _threshold(cells * scale[:, index]).cpu()
