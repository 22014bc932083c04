"""Conditional shower generators for lecture 05 and the hackathon: a CaloGAN-style WGAN-GP and a
CaloFlow-style pair of flows, both built from ``gm_helpers.gan`` and ``gm_helpers.flows`` and both
working on the same coding of a shower (``ShowerCoding``):

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

The models:

- ``CaloWGAN`` (CaloGAN recipe, arXiv:1705.02355): G(z, E_inc) -> (u, y), a WGAN-GP critic
  C(u, y, E_inc); MLPs for both.
- ``CaloFlow`` (simplified CaloFlow): flow 1, a spline flow for u given E_inc; flow 2, RealNVP
  affine couplings with random masks and LU-linear layers between them for y given (E_inc, u).
  Simplifications against the paper: coupling instead of autoregressive transforms for flow 2,
  fixed per-cell Gaussianization instead of a logit of the normalized cells.

Showers are symmetric under x -> -x and y -> -y (the beam enters at the centre), so both models
train on the training showers and their three mirror images (``augment=True``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gm_helpers.data.calorimeter import CELL_THRESHOLD_MEV, LAYER_SHAPES, N_CELLS, Showers
from gm_helpers.flows import AffineCoupling, Flow, LULinear, nsf, train_flow
from gm_helpers.gan import MLPCritic, MLPGenerator, train_gan

__all__ = ["CaloFlow", "CaloWGAN", "Gaussianize", "ShowerCoding", "mirrored", "rescale_layers"]

_CHUNK = 2500  # showers per pass in generate
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
    layer = torch.as_tensor(_LAYER_OF_CELL)
    sums = torch.zeros(len(cells), 3, dtype=cells.dtype).index_add_(1, layer, cells)
    scale = layer_energy.to(cells.dtype) / sums.clamp_min(1e-30)
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


class Gaussianize:
    """Per-feature Gaussianization y = Phi^-1(F(x)), F the empirical CDF of each column of ``data``
    (linear between ``quantiles`` evenly spaced quantiles), Phi the standard normal CDF.

    A fixed monotone map per feature: it makes every marginal N(0, 1) whatever its shape (two peaks,
    heavy tails), so a flow or a GAN after it only has to learn the dependences. Values outside
    the training range are clamped to it.

    Example:
        >>> x = np.random.default_rng(0).exponential(size=(10_000, 2))
        >>> g = Gaussianize(x)
        >>> y = g.forward(x)
        >>> bool(abs(float(y.std()) - 1) < 0.02), bool(np.allclose(g.inverse(y).numpy(), x, atol=1e-2))
        (True, True)
    """

    def __init__(self, data: np.ndarray, quantiles: int = 1000):
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or len(data) < 2:
            raise ValueError(f"expected data of shape (n >= 2, features), got {data.shape}")
        probabilities = np.linspace(0.0, 1.0, min(quantiles, len(data)))
        knots = np.quantile(data, probabilities, axis=0).T  # (features, quantiles)
        # strictly increasing knots, so that the map is invertible where a value repeats
        knots = np.maximum.accumulate(knots + 1e-9 * np.arange(knots.shape[1]), axis=1)
        self.knots = torch.as_tensor(knots).contiguous()
        self.knots32 = self.knots.float()
        self.eps = 1e-6  # keeps Phi^-1 finite at the ends (+-4.75)

    def forward(self, x: np.ndarray) -> Tensor:
        """Gaussianized values, float32 (n, features)."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float64)).T.contiguous()  # (features, n)
        knots, last = self.knots, self.knots.shape[1] - 1
        x = torch.minimum(torch.maximum(x, knots[:, :1]), knots[:, -1:])
        i = (torch.searchsorted(knots, x, right=True) - 1).clamp(0, last - 1)
        low, high = knots.gather(1, i), knots.gather(1, i + 1)
        p = (i + (x - low) / (high - low)) / last
        return torch.special.ndtri(p.clamp(self.eps, 1 - self.eps)).T.float()

    def inverse(self, y: Tensor) -> Tensor:
        """Values in the data space, float32 (n, features)."""
        knots = self.knots32
        position = torch.special.ndtr(torch.as_tensor(y, dtype=torch.float32)).T * (knots.shape[1] - 1)
        i = position.floor().long().clamp(0, knots.shape[1] - 2)
        low, high = knots.gather(1, i), knots.gather(1, i + 1)
        return (low + (position - i) * (high - low)).T


class ShowerCoding:
    """The invertible coding of showers shared by the two models (see the module docstring).

    Arguments:
        showers: training showers; the maps and standardizations are fitted on them.
        active: smallest fraction of non-empty showers for a cell to be modelled.
        quantiles: number of quantiles of the per-cell Gaussianization.
        seed: seed of the dequantization noise.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> showers = simulate(500, seed=1)
        >>> coding = ShowerCoding(showers)
        >>> context, u, y = coding.encode(showers)
        >>> cells = coding.decode(showers.energy, u, y)
        >>> same = np.isclose(cells.numpy(), showers.cells, rtol=1e-2, atol=0.2)[:, coding.active]
        >>> bool(same.all())
        True
    """

    def __init__(self, showers: Showers, active: float = 1e-3, quantiles: int = 1000, seed: int = 0):
        self.seed = seed
        self.active = np.flatnonzero((showers.cells > 0).mean(axis=0) >= active)
        log_incident = np.log(_incident_mev(showers.energy))
        self.incident_mean, self.incident_std = log_incident.mean(), log_incident.std() + 1e-6
        u = self._u_variables(showers.layer_energies, 1000.0 * showers.energy, np.random.default_rng(seed))
        self.u_mean, self.u_std = u.mean(axis=0), u.std(axis=0) + 1e-6
        log_cells = self.log_cells(showers.cells, np.random.default_rng(seed + 1))
        self.gaussianize = Gaussianize(log_cells, quantiles)

    @property
    def features(self) -> int:
        """Dimension of y, the number of active cells."""
        return len(self.active)

    def context(self, energy_gev) -> Tensor:
        """Standardized log E_inc, (n, 1)."""
        log_incident = np.log(_incident_mev(energy_gev))
        return _float((log_incident[:, None] - self.incident_mean) / self.incident_std)

    def encode(self, showers: Showers, seed: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(context (n, 1), u (n, 3), y (n, features)) of showers, float32, freshly dequantized."""
        rng = np.random.default_rng(self.seed + 2 if seed is None else seed)
        u = self._u_variables(showers.layer_energies, 1000.0 * showers.energy, rng)
        y = self.gaussianize.forward(self.log_cells(showers.cells, rng))
        return self.context(showers.energy), _float((u - self.u_mean) / self.u_std), y

    def layer_energies(self, energy_gev, u: Tensor) -> Tensor:
        """E_0, E_1, E_2 in MeV, float32 (n, 3), from standardized u-variables (below 0.1 MeV: 0)."""
        incident = torch.as_tensor(_incident_mev(energy_gev))
        u = u.detach().cpu().double() * torch.as_tensor(self.u_std) + torch.as_tensor(self.u_mean)
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
        return np.log(_dequantize_empty(cells[:, self.active].astype(np.float64), rng) / CELL_THRESHOLD_MEV)


def _float(x: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


class _CodedShowerModel:
    """What the two models share: the coded training showers, and generation in chunks."""

    def __init__(self, showers: Showers, augment: bool, seed: int):
        torch.manual_seed(seed)
        showers = mirrored(showers) if augment else showers
        self.coding = ShowerCoding(showers, seed=seed)
        self.context, self.u, self.y = self.coding.encode(showers)

    def _sample(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Coded showers (u, y) for standardized log E_inc, (n, 1) on the CPU."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, energy_gev: Tensor) -> Tensor:
        """Cells in MeV, (n, 504), for incident energies in GeV, (n,)."""
        energy = torch.as_tensor(energy_gev).reshape(-1)
        showers = []
        for part in energy.split(_CHUNK):  # chunks that stay in the CPU caches are faster
            u, y = self._sample(self.coding.context(part))
            showers.append(self.coding.decode(part, u.cpu(), y.cpu()))
        return torch.cat(showers)


class CaloWGAN(_CodedShowerModel):
    """CaloGAN recipe: a WGAN-GP conditioned on the incident energy, generating the coded shower (u, y).

    Arguments:
        showers: training showers (``gm.data.calorimeter.simulate``).
        latent, hidden, layers: generator noise size, width and depth of both MLPs.
        augment: train on the showers and their mirror images.
        seed: seed of the dequantization noise and of the networks.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloWGAN(simulate(64, seed=1), hidden=16, layers=1)
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(
        self, showers: Showers, latent: int = 64, hidden: int = 512, layers: int = 3,
        augment: bool = True, seed: int = 0,
    ):  # fmt: skip
        super().__init__(showers, augment, seed)
        self.data = torch.cat([self.u, self.y], dim=1)
        features = self.data.shape[1]
        self.generator = MLPGenerator(features, latent, hidden, layers, context_features=1)
        self.critic = MLPCritic(features, hidden, layers, context_features=1)

    def train(self, n_steps: int, batch_size: int = 256, device=None, **options) -> dict[str, list[float]]:
        """WGAN-GP training with ``gm.gan.train_gan`` (n_critic = 5, lambda = 10, Adam 1e-4, (0.5, 0.9))."""
        run = train_gan(
            self.generator, self.critic, self.data, kind="wgan-gp", context=self.context,
            n_steps=n_steps, batch_size=batch_size, device=device, **options,
        )  # fmt: skip
        self.generator.cpu().eval()
        return run.history

    def _sample(self, context: Tensor) -> tuple[Tensor, Tensor]:
        context = context.to(next(self.generator.parameters()).device)
        x = self.generator.sample(len(context), context)
        return x[:, :3], x[:, 3:]


class CaloFlow(_CodedShowerModel):
    """Simplified CaloFlow: p(u | E_inc) by flow 1, p(y | u, E_inc) by flow 2 (see the module docstring).

    Arguments:
        showers: training showers.
        hidden: width of the two hidden layers of the coupling networks of flow 2.
        layers: number of affine couplings of flow 2 (flow 1 has 6 spline couplings).
        augment: train on the showers and their mirror images.
        seed: seed of the dequantization noise, the coupling masks and the networks.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloFlow(simulate(64, seed=1), hidden=16, layers=2)
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(
        self, showers: Showers, hidden: int = 256, layers: int = 8, augment: bool = True, seed: int = 0
    ):
        super().__init__(showers, augment, seed)
        self.flow1 = nsf(3, context_features=1, layers=6, hidden=(64, 64))
        features, generator = self.coding.features, torch.Generator().manual_seed(seed)
        transforms = []
        for i in range(layers):
            if i:
                transforms.append(LULinear(features))  # mixes all cells between couplings
            mask = torch.randperm(features, generator=generator) < features // 2
            transforms.append(AffineCoupling(features, 4, (hidden, hidden), mask))
        self.flow2 = Flow(transforms, features=features)

    def train(
        self, steps1: int, steps2: int, batch_size: int = 256, device=None, progress: bool = True
    ) -> tuple[dict, dict]:
        """Maximum likelihood for both flows with ``gm.flows.train_flow`` (Adam, cosine schedule)."""
        h1 = train_flow(self.flow1, self.u, self.context, steps=steps1, batch_size=2 * batch_size,
                        device=device, progress=progress, desc="flow 1: layer energies")  # fmt: skip
        context2 = torch.cat([self.context, self.u], dim=1)
        h2 = train_flow(self.flow2, self.y, context2, steps=steps2, batch_size=batch_size,
                        device=device, progress=progress, desc="flow 2: showers")  # fmt: skip
        self.flow1.cpu().eval()
        self.flow2.cpu().eval()
        return h1, h2

    def _sample(self, context: Tensor) -> tuple[Tensor, Tensor]:
        context = context.to(next(self.flow2.parameters()).device)
        u = self.flow1.sample(len(context), context)
        return u, self.flow2.sample(len(context), torch.cat([context, u], dim=1))
