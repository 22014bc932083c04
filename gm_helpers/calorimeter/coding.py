"""How the lecture-05 models see a shower: an invertible coding (``ShowerCoding``) shared by the
CaloGAN-style WGAN-GP and the CaloFlow-style flows of ``gm_helpers.calorimeter.models``:

- the layer energies as CaloFlow's u-variables (arXiv:2106.05285, eq. 3): u_0 = log(E_tot / E_inc),
  u_1 = logit(E_0 / E_tot), u_2 = logit(E_1 / (E_1 + E_2)), standardized. E_tot / E_inc is then one
  variable: the classifier sees a 2 % error of the energy scale, so it must be learnt precisely;
- the cells as y = log(cell / 0.1 MeV), so that the 0.1 MeV threshold sits at y = 0 in every
  shower. An empty cell is dequantized to log(u), u ~ U(0, 1); each cell is then Gaussianized by
  its own fixed monotone map (``Gaussianize``: the empirical CDF, piecewise linear between
  quantiles, then the normal quantile function). A cell is either empty or far above threshold,
  so its raw marginal has two peaks, which affine couplings model badly; after the map, every
  marginal is N(0, 1) and the model only has to learn how the cells depend on each other and on
  the energies;
- only the "active" cells, non-empty in at least ``active`` of the training showers, are modelled
  (the others are always empty in generated showers);
- decoding inverts the maps, sets every cell below the threshold to 0 and rescales each layer so
  that it sums to the energy of the u-variables (CaloFlow's normalization).

Showers are symmetric under x -> -x and y -> -y (the beam enters at the centre), so both models
train on the training showers and their three mirror images (``augment=True``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, LAYER_SHAPES, N_CELLS, Showers

__all__ = ["Gaussianize", "ShowerCoding", "mirrored", "rescale_layers"]

_LAYER_OF_CELL = np.repeat(np.arange(3), [rows * cols for rows, cols in LAYER_SHAPES])


def mirrored(showers: Showers) -> Showers:
    """The showers, then their mirror images in x, in y, and in both (4 n showers, in this order).

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> len(mirrored(simulate(5, seed=1)))
        20
    """
    flips = [(1, 1), (1, -1), (-1, 1), (-1, -1)]  # (rows: y, columns: x)
    layers = tuple(np.concatenate([layer[:, ::fy, ::fx] for fy, fx in flips]) for layer in showers.layers)
    return Showers(layers, np.tile(showers.energy, 4), particle=showers.particle)


def rescale_layers(cells: Tensor, layer_energy: Tensor) -> Tensor:
    """Each layer of ``cells`` (n, 504) scaled to sum to ``layer_energy`` (n, 3); empty layers stay 0.

    Example:
        >>> cells = torch.zeros(1, 504); cells[0, 0], cells[0, 300] = 1.0, 3.0
        >>> out = rescale_layers(cells, torch.tensor([[2.0, 6.0, 5.0]]))
        >>> out[0, 0].item(), out[0, 300].item(), out[0, 432:].sum().item()
        (2.0, 6.0, 0.0)
    """
    layer = torch.as_tensor(_LAYER_OF_CELL, device=cells.device)
    sums = torch.zeros(len(cells), 3, dtype=cells.dtype, device=cells.device).index_add_(1, layer, cells)
    scale = layer_energy.to(cells) / sums.clamp_min(1e-30)
    scale = torch.where(sums > 0, scale, torch.zeros_like(sums))
    return cells * scale[:, layer]


def _dequantize_empty(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values below the cell threshold replaced by noise in (0, threshold): U(1e-3, 1) x 0.1 MeV."""
    noise = rng.uniform(1e-3, 1.0, values.shape) * CELL_THRESHOLD_MEV
    return np.where(values < CELL_THRESHOLD_MEV, noise, values)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _incident_mev(energy_gev) -> np.ndarray:
    energy = torch.as_tensor(energy_gev, dtype=torch.float64).cpu().numpy().reshape(-1)
    if np.any(~np.isfinite(energy)) or np.any(energy <= 0):
        raise ValueError("incident energies must be positive and finite, in GeV")
    return 1000.0 * energy


class Gaussianize(nn.Module):
    """Per-feature Gaussianization y = Phi^-1(F(x)), F the empirical CDF of each column of the data
    it was fitted on (linear between ``quantiles`` evenly spaced quantiles), Phi the standard normal CDF.

    A fixed monotone map per feature: it makes every marginal N(0, 1) whatever its shape (two peaks,
    heavy tails), so a flow or a GAN after it only has to learn the dependences. Values outside
    the training range are clamped to it. ``Gaussianize.fit(data)`` builds one; the knots are a
    buffer, saved with the model that holds the map.

    Example:
        >>> x = np.random.default_rng(0).exponential(size=(10_000, 2))
        >>> g = Gaussianize.fit(x)
        >>> y = g.forward(x)
        >>> bool(abs(float(y.std()) - 1) < 0.02), bool(np.allclose(g.inverse(y).numpy(), x, atol=1e-2))
        (True, True)
    """

    eps = 1e-6  # keeps Phi^-1 finite at the ends (+-4.75)

    def __init__(self, features: int, quantiles: int = 1000):
        super().__init__()
        self.register_buffer("knots", torch.zeros(features, quantiles, dtype=torch.float64))

    @classmethod
    def fit(cls, data: np.ndarray, quantiles: int = 1000) -> Gaussianize:
        """The map fitted on ``data`` (n, features)."""
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or len(data) < 2:
            raise ValueError(f"expected data of shape (n >= 2, features), got {data.shape}")
        probabilities = np.linspace(0.0, 1.0, min(quantiles, len(data)))
        knots = np.quantile(data, probabilities, axis=0).T  # (features, quantiles)
        # strictly increasing knots, so that the map is invertible where a value repeats
        knots = np.maximum.accumulate(knots + 1e-9 * np.arange(knots.shape[1]), axis=1)
        g = cls(*knots.shape)
        g.knots.copy_(torch.as_tensor(knots))
        return g

    def forward(self, x: np.ndarray) -> Tensor:
        """Gaussianized values, float32 (n, features), on the CPU."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float64)).T.contiguous()  # (features, n)
        knots = self.knots.cpu()
        last = knots.shape[1] - 1
        x = torch.minimum(torch.maximum(x, knots[:, :1]), knots[:, -1:])
        i = (torch.searchsorted(knots, x, right=True) - 1).clamp(0, last - 1)
        low, high = knots.gather(1, i), knots.gather(1, i + 1)
        p = (i + (x - low) / (high - low)) / last
        return torch.special.ndtri(p.clamp(self.eps, 1 - self.eps)).T.float()

    def inverse(self, y: Tensor) -> Tensor:
        """Values in the data space, float32 (n, features), on the CPU."""
        knots = self.knots.cpu().float()
        y = torch.as_tensor(y, dtype=torch.float32).cpu()
        position = torch.special.ndtr(y).T * (knots.shape[1] - 1)
        i = position.floor().long().clamp(0, knots.shape[1] - 2)
        low, high = knots.gather(1, i), knots.gather(1, i + 1)
        return (low + (position - i) * (high - low)).T


class ShowerCoding(nn.Module):
    """The invertible coding of showers shared by the lecture-05 models (see the module docstring).

    ``ShowerCoding.fit(showers)`` fits the maps and standardizations on training showers; they are
    buffers, so a model that holds the coding saves and loads it with its weights.

    Arguments of ``fit``:
        showers: training showers.
        active: smallest fraction of non-empty showers for a cell to be modelled.
        quantiles: number of quantiles of the per-cell Gaussianization.
        seed: seed of the dequantization noise.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> showers = simulate(500, seed=1)
        >>> coding = ShowerCoding.fit(showers)
        >>> context, u, y = coding.encode(showers)
        >>> cells = coding.decode(showers.energy, u, y)
        >>> same = np.isclose(cells.numpy(), showers.cells, rtol=1e-2, atol=0.2)[:, coding.active]
        >>> bool(same.all())
        True
    """

    def __init__(self, features: int, quantiles: int = 1000, seed: int = 0):
        super().__init__()
        self.seed = seed
        self.register_buffer("active_cells", torch.zeros(features, dtype=torch.long))
        self.register_buffer("incident", torch.tensor([0.0, 1.0], dtype=torch.float64))  # mean, std
        self.register_buffer("u_mean", torch.zeros(3, dtype=torch.float64))
        self.register_buffer("u_std", torch.ones(3, dtype=torch.float64))
        self.gaussianize = Gaussianize(features, quantiles)

    @classmethod
    def fit(
        cls, showers: Showers, active: float = 1e-3, quantiles: int = 1000, seed: int = 0
    ) -> ShowerCoding:
        """The coding fitted on ``showers``."""
        cells = np.flatnonzero((showers.cells > 0).mean(axis=0) >= active)
        log_incident = np.log(_incident_mev(showers.energy))
        u = cls._u_variables(showers.layer_energies, 1000.0 * showers.energy, np.random.default_rng(seed))
        gaussianize = Gaussianize.fit(
            cls._log_cells(showers.cells, cells, np.random.default_rng(seed + 1)), quantiles
        )
        coding = cls(len(cells), gaussianize.knots.shape[1], seed)
        coding.active_cells.copy_(torch.as_tensor(cells))
        coding.incident.copy_(torch.tensor([log_incident.mean(), log_incident.std() + 1e-6]))
        coding.u_mean.copy_(torch.as_tensor(u.mean(axis=0)))
        coding.u_std.copy_(torch.as_tensor(u.std(axis=0) + 1e-6))
        coding.gaussianize = gaussianize
        return coding

    @property
    def active(self) -> np.ndarray:
        """Indices of the modelled cells among the 504."""
        return self.active_cells.cpu().numpy()

    @property
    def quantiles(self) -> int:
        return self.gaussianize.knots.shape[1]

    @property
    def features(self) -> int:
        """Dimension of y, the number of active cells."""
        return len(self.active)

    def context(self, energy_gev) -> Tensor:
        """Standardized log E_inc, (n, 1)."""
        log_incident = np.log(_incident_mev(energy_gev))
        mean, std = self.incident.tolist()
        return _float((log_incident[:, None] - mean) / std)

    def encode(self, showers: Showers, seed: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(context (n, 1), u (n, 3), y (n, features)) of showers, float32, freshly dequantized."""
        rng = np.random.default_rng(self.seed + 2 if seed is None else seed)
        u = self._u_variables(showers.layer_energies, 1000.0 * showers.energy, rng)
        y = self.gaussianize.forward(self.log_cells(showers.cells, rng))
        u_mean, u_std = self.u_mean.cpu().numpy(), self.u_std.cpu().numpy()
        return self.context(showers.energy), _float((u - u_mean) / u_std), y

    def layer_energies(self, energy_gev, u: Tensor) -> Tensor:
        """E_0, E_1, E_2 in MeV, float32 (n, 3), from standardized u-variables (below 0.1 MeV: 0)."""
        incident = torch.as_tensor(_incident_mev(energy_gev))
        u = u.detach().cpu().double() * self.u_std.cpu() + self.u_mean.cpu()
        total = torch.exp(u[:, 0]) * incident
        e0 = total * torch.sigmoid(u[:, 1])
        e1 = (total - e0) * torch.sigmoid(u[:, 2])
        layer_energy = torch.stack([e0, e1, total - e0 - e1], dim=1).float()
        layer_energy[layer_energy < CELL_THRESHOLD_MEV] = 0.0
        return layer_energy

    def decode(self, energy_gev, u: Tensor, y: Tensor) -> Tensor:
        """Cells in MeV, float32 (n, 504), from standardized u-variables and Gaussianized active cells."""
        cells = torch.zeros(len(u), N_CELLS)
        cells[:, self.active] = CELL_THRESHOLD_MEV * torch.exp(self.gaussianize.inverse(y.detach().cpu()))
        cells[cells < CELL_THRESHOLD_MEV] = 0.0
        cells = rescale_layers(cells, self.layer_energies(energy_gev, u))
        cells[cells < CELL_THRESHOLD_MEV] = 0.0
        return cells

    @staticmethod
    def _u_variables(layer_energy: np.ndarray, incident_mev: np.ndarray, rng) -> np.ndarray:
        e = _dequantize_empty(layer_energy, rng)  # an empty layer gets an energy in (0, threshold)
        total = e.sum(axis=1)
        return np.stack(
            [np.log(total / incident_mev), _logit(e[:, 0] / total), _logit(e[:, 1] / (e[:, 1] + e[:, 2]))],
            axis=1,
        )

    def log_cells(self, cells: np.ndarray, rng) -> np.ndarray:
        """y = log(cell / 0.1 MeV) of the active cells, empty cells dequantized to log U(0, 1)."""
        return self._log_cells(cells, self.active, rng)

    @staticmethod
    def _log_cells(cells: np.ndarray, active: np.ndarray, rng) -> np.ndarray:
        return np.log(_dequantize_empty(cells[:, active].astype(np.float64), rng) / CELL_THRESHOLD_MEV)


def _float(x: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)
