"""Calorimeter showers in the CaloGAN geometry: a fast stand-in for Geant4, and the shower observables.

The detector is a 480 mm cube of lead and liquid argon read out in three layers of 3x96, 12x12
and 12x6 cells (504 in all). Electromagnetic showers follow the Grindhammer-Peters
parameterization (hep-ex/0001020); pions add a hadronic part. See lecture 05 for the physics.

References:
    Paganini, de Oliveira, Nachman, "CaloGAN", arXiv:1705.02355 and arXiv:1712.10321.
    Krause, Shih, "CaloFlow", arXiv:2106.05285.
    Grindhammer, Peters, "The parameterized simulation of electromagnetic showers", hep-ex/0001020.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc

from gm_helpers.core import to_numpy

__all__ = [
    "CELL_THRESHOLD_MEV",
    "LAYER_SHAPES",
    "N_CELLS",
    "PARTICLES",
    "Showers",
    "SimulatorCalledError",
    "cell_centres",
    "refuse_simulation",
    "shower_observables",
    "simulate",
]

PARTICLES = ("e+", "gamma", "pi+")
LAYER_SHAPES = ((3, 96), (12, 12), (12, 6))  # (rows along y, columns along x) per layer
CELL_SIZES_MM = ((160.0, 5.0), (40.0, 40.0), (40.0, 80.0))  # (height along y, width along x)
N_CELLS = sum(rows * cols for rows, cols in LAYER_SHAPES)  # 504
LAYER_BOUNDARIES_MM = (0.0, 90.0, 437.0, 480.0)
HALF_WIDTH_MM = 240.0

X0_MM = 15.6  # effective radiation length
MOLIERE_MM = 35.0
CRITICAL_ENERGY_MEV = 9.3
Z_EFF = 82.0
INTERACTION_LENGTH_MM = 374.0

SAMPLING_FRACTION = 0.19  # visible (liquid argon) fraction of the deposited energy
EM_STOCHASTIC_GEV = 0.11  # sigma/E = 11% / sqrt(E / GeV)
HADRONIC_STOCHASTIC_GEV = 0.5  # sigma/E = 50% / sqrt(E / GeV) for the hadronic part
H_OVER_E = 0.6
MIP_MEV_PER_MM = 0.14  # visible energy of a minimum-ionizing pion per mm of depth
MIP_MM_PER_GAMMA_SHAPE = 2.16  # Landau-like fluctuation: relative variance 2.16 mm / track length
HADRONIC_DEPTH_SHAPE, HADRONIC_DEPTH_SCALE_MM = 1.5, 0.6 * INTERACTION_LENGTH_MM
HADRONIC_RADIUS_MM = 60.0
EM_FRACTION_CONCENTRATION = 6.0  # f_em ~ Beta(kappa m, kappa (1 - m)), m = 1 - (E / GeV)^-0.18
CELL_THRESHOLD_MEV = 0.1
SPOTS_PER_LAYER = 100
_SLICES_PER_LAYER = (6, 11, 2)  # depth slices for sampling the depth (hence the width) of each spot
_CHUNK = 5000

# Set while a generator is being scored (``gm.calorimeter.score``, the exercise-05 checks): the
# simulator refuses to run, and counts the attempts (a generator could swallow the error).
_REFUSAL: dict = {"scorer": None, "counter": None}


class SimulatorCalledError(RuntimeError):
    """A generator called ``simulate`` while it was being scored."""


@contextmanager
def refuse_simulation(scorer: str) -> Iterator[dict]:
    """While the block runs, ``simulate`` raises ``SimulatorCalledError`` naming ``scorer``.

    Yields a dict whose ``"calls"`` counts the refused calls of this block (also those the
    generator caught). For scorers only: a generator must make showers from what it learnt.
    """
    previous = dict(_REFUSAL)
    counter = {"calls": 0}
    _REFUSAL.update(scorer=scorer, counter=counter)
    try:
        yield counter
    finally:
        _REFUSAL.update(previous)


def simulator_refusal_message(scorer: str) -> str:
    return (
        f"your generator called gm.data.calorimeter.simulate while being scored by {scorer}: a "
        "generator must make showers from what it has learnt (from the official training set, "
        "gm.calorimeter.training_showers), not ask the simulator for fresh ones, which would only "
        "measure the simulator against itself. Simulate your training data before, not inside, "
        "generate (to score the simulator itself as the reference floor, use "
        "gm.calorimeter.simulator_generator())."
    )


@dataclass
class Showers:
    """A batch of showers in the CaloGAN layout.

    Attributes:
        layers: three float32 arrays of cell energies in MeV, shapes (n, 3, 96), (n, 12, 12) and
            (n, 12, 6); index [shower, row (y), column (x)].
        energy: incident energy in GeV, shape (n,) (as in the CaloGAN files).
        overflow: visible energy in MeV that fell outside the 480 x 480 mm grid, per layer, (n, 3).
            None for showers that did not come from the simulator.
        deposited: visible energy in MeV deposited in each layer before the lateral cut and the
            0.1 MeV cell threshold, (n, 3): cells + overflow + (cells below threshold). None when unknown.
        particle: "e+", "gamma" or "pi+".
    """

    layers: tuple[np.ndarray, np.ndarray, np.ndarray]
    energy: np.ndarray
    overflow: np.ndarray | None = None
    deposited: np.ndarray | None = None
    particle: str = "e+"

    def __len__(self) -> int:
        return len(self.energy)

    def __getitem__(self, index) -> Showers:
        return Showers(
            tuple(layer[index] for layer in self.layers),
            self.energy[index],
            None if self.overflow is None else self.overflow[index],
            None if self.deposited is None else self.deposited[index],
            self.particle,
        )

    @property
    def cells(self) -> np.ndarray:
        """All 504 cells of each shower in one (n, 504) array: layer 0, then 1, then 2 (row-major)."""
        return np.concatenate([layer.reshape(len(layer), -1) for layer in self.layers], axis=1)

    @property
    def layer_energies(self) -> np.ndarray:
        """Energy in MeV recorded in the cells of each layer, (n, 3)."""
        return np.stack([layer.sum(axis=(1, 2), dtype=np.float64) for layer in self.layers], axis=1)

    @classmethod
    def from_cells(cls, cells, energy, particle: str = "e+") -> Showers:
        """Showers from an (n, 504) array or tensor of cell energies in MeV and incident energies in GeV."""
        cells = to_numpy(cells).astype(np.float32)
        if cells.ndim != 2 or cells.shape[1] != N_CELLS:
            raise ValueError(f"cells must have shape (n, {N_CELLS}), got {cells.shape}")
        energy = to_numpy(energy).astype(np.float64).reshape(-1)
        if len(energy) != len(cells):
            raise ValueError(f"{len(cells)} showers but {len(energy)} incident energies")
        splits = np.cumsum([rows * cols for rows, cols in LAYER_SHAPES])[:-1]
        layers = tuple(
            block.reshape(len(cells), *shape)
            for block, shape in zip(np.split(cells, splits, axis=1), LAYER_SHAPES, strict=True)
        )
        return cls(layers, energy, particle=particle)


def cell_centres(layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres in mm of the rows (y) and columns (x) of ``layer`` (0, 1 or 2); the beam hits (0, 0)."""
    (rows, cols), (height, width) = LAYER_SHAPES[layer], CELL_SIZES_MM[layer]
    y = -HALF_WIDTH_MM + height * (np.arange(rows) + 0.5)
    x = -HALF_WIDTH_MM + width * (np.arange(cols) + 0.5)
    return y, x


# --- the simulator ----------------------------------------------------------------------------


def _longitudinal_parameters(energy_gev: np.ndarray, rng: np.random.Generator):
    """Per-shower depth of maximum T (in X0), shape a and rate b of the Gamma profile (Grindhammer-Peters)."""
    ln_y = np.log(np.maximum(1000.0 * energy_gev / CRITICAL_ENERGY_MEV, np.exp(2.5)))
    mean_ln_t, sigma_ln_t = np.log(ln_y - 0.812), 1.0 / (-1.4 + 1.26 * ln_y)
    mean_ln_a, sigma_ln_a = np.log(0.81 + (0.458 + 2.26 / Z_EFF) * ln_y), 1.0 / (-0.58 + 0.86 * ln_y)
    rho = 0.705 - 0.023 * ln_y
    z1, z2 = rng.standard_normal((2, len(energy_gev)))
    depth_max = np.exp(mean_ln_t + sigma_ln_t * z1)
    shape = np.maximum(np.exp(mean_ln_a + sigma_ln_a * (rho * z1 + np.sqrt(1 - rho**2) * z2)), 1.2)
    return depth_max, shape, (shape - 1.0) / depth_max


def _lateral_radius_mm(tau: np.ndarray, energy_gev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Radii of spots at reduced depth ``tau``: core/tail mixture of f_R(r) = 2 r R^2 / (r^2 + R^2)^2."""
    ln_e = np.log(np.maximum(energy_gev, 0.1))[:, None]
    r_core = 0.0251 + 0.00319 * ln_e + (0.1162 - 0.000381 * Z_EFF) * tau
    k1, k2, k3, k4 = 0.659 - 0.00309 * Z_EFF, 0.645, -2.59, 0.3585 + 0.0421 * ln_e
    r_tail = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2, p3 = 2.632 - 0.00094 * Z_EFF, 0.401 + 0.00187 * Z_EFF, 1.313 - 0.0686 * ln_e
    x = (p2 - tau) / p3
    p_core = np.clip(p1 * np.exp(x - np.exp(x)), 0.0, 1.0)
    radius = np.where(rng.random(tau.shape) < p_core, r_core, r_tail)
    u = rng.random(tau.shape)
    return MOLIERE_MM * radius * np.sqrt(u / (1.0 - u))


def _em_shower(energy_gev: np.ndarray, start_mm: np.ndarray, rng: np.random.Generator):
    """An EM shower of ``energy_gev`` starting at depth ``start_mm``.

    Returns the visible energy per layer in MeV, (n, 3), and per layer the spot radii in mm, (n, S).
    """
    depth_max, shape, rate = _longitudinal_parameters(energy_gev, rng)
    grid = np.concatenate(
        [np.linspace(LAYER_BOUNDARIES_MM[i], LAYER_BOUNDARIES_MM[i + 1], k + 1)[: -1 if i < 2 else None]
         for i, k in enumerate(_SLICES_PER_LAYER)]
    )  # fmt: skip
    shower_depth = np.maximum(grid[None, :] - start_mm[:, None], 0.0) / X0_MM  # in X0, from the start
    cumulative = gammainc(shape[:, None], rate[:, None] * shower_depth)
    edges = np.concatenate([[0], np.cumsum(_SLICES_PER_LAYER)])
    true_gev = energy_gev[:, None] * np.diff(cumulative[:, edges], axis=1)
    visible = _fluctuate(true_gev, EM_STOCHASTIC_GEV, rng) * 1000.0 * SAMPLING_FRACTION
    radii = []
    rows = np.arange(len(energy_gev))[:, None]
    for layer in range(3):
        first, last = edges[layer], edges[layer + 1]
        low, high = cumulative[:, first, None], cumulative[:, last, None]
        target = low + rng.random((len(energy_gev), SPOTS_PER_LAYER)) * (high - low)
        k = first + (target[:, :, None] >= cumulative[:, None, first + 1 : last]).sum(axis=2)
        c0, c1 = cumulative[rows, k], cumulative[rows, k + 1]
        within = np.divide(target - c0, c1 - c0, out=np.full_like(target, 0.5), where=c1 > c0)
        depth = grid[k] + within * (grid[k + 1] - grid[k])
        tau = np.maximum(depth - start_mm[:, None], 0.0) / X0_MM / depth_max[:, None]
        radii.append(_lateral_radius_mm(tau, energy_gev, rng))
    return visible, radii


def _fluctuate(mean_gev: np.ndarray, stochastic_gev: float, rng: np.random.Generator) -> np.ndarray:
    """Gamma-distributed energies with the given mean and sigma^2 = stochastic^2 * mean (in GeV)."""
    mean_gev = np.maximum(mean_gev, 0.0)
    return rng.gamma(mean_gev / stochastic_gev**2, stochastic_gev**2)


def _spots(radius_mm: np.ndarray, visible_mev: np.ndarray, rng: np.random.Generator):
    """Spots at the given radii with uniform azimuth and Exp(1) weights normalized to ``visible_mev``."""
    phi = rng.uniform(0.0, 2 * np.pi, radius_mm.shape)
    weight = rng.exponential(size=radius_mm.shape)
    weight *= (visible_mev / weight.sum(axis=1))[:, None]
    return radius_mm * np.cos(phi), radius_mm * np.sin(phi), weight


def _bin(layer: int, x: np.ndarray, y: np.ndarray, weight: np.ndarray):
    """Sum spot weights into the cells of ``layer``; returns (cells (n, rows, cols), overflow (n,))."""
    n = len(weight)
    (rows, cols), (height, width) = LAYER_SHAPES[layer], CELL_SIZES_MM[layer]
    row = np.floor((y + HALF_WIDTH_MM) / height).astype(np.int64)
    col = np.floor((x + HALF_WIDTH_MM) / width).astype(np.int64)
    inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    index = (np.arange(n)[:, None] * (rows * cols) + row * cols + col)[inside]
    cells = np.bincount(index, weights=weight[inside], minlength=n * rows * cols).reshape(n, rows, cols)
    overflow = np.where(inside, 0.0, weight).sum(axis=1)
    return cells, overflow


def _simulate_chunk(energy_gev: np.ndarray, particle: str, rng: np.random.Generator):
    n = len(energy_gev)
    boundaries = np.asarray(LAYER_BOUNDARIES_MM)
    components = []  # (visible (n, 3) MeV, radii per layer (n, S) mm or None for a track at r ~ 0)
    if particle == "e+":
        components.append(_em_shower(energy_gev, np.zeros(n), rng))
    elif particle == "gamma":
        conversion = rng.exponential(9.0 / 7.0 * X0_MM, n)
        components.append(_em_shower(energy_gev, conversion, rng))
    else:
        interaction = rng.exponential(INTERACTION_LENGTH_MM, n)
        track = np.clip(np.minimum(interaction, boundaries[-1])[:, None], boundaries[:-1], boundaries[1:])
        track = track - boundaries[:-1]  # length of the MIP track in each layer, mm
        mip = MIP_MEV_PER_MM * rng.gamma(track / MIP_MM_PER_GAMMA_SHAPE, MIP_MM_PER_GAMMA_SHAPE)
        components.append((mip, None))
        mean = np.clip(1.0 - energy_gev ** (-0.18), 0.02, 0.98)
        kappa = EM_FRACTION_CONCENTRATION
        em_fraction = rng.beta(kappa * mean, kappa * (1.0 - mean))
        em_fraction = np.where(interaction < boundaries[-1], em_fraction, 0.0)
        components.append(_em_shower(energy_gev * em_fraction, interaction, rng))
        after = np.maximum(boundaries[None, :] - interaction[:, None], 0.0) / HADRONIC_DEPTH_SCALE_MM
        hadronic_gev = (energy_gev * (1 - em_fraction))[:, None] * np.diff(
            gammainc(HADRONIC_DEPTH_SHAPE, after), axis=1
        )
        visible = _fluctuate(hadronic_gev, HADRONIC_STOCHASTIC_GEV, rng) * 1000 * SAMPLING_FRACTION * H_OVER_E
        shape = (n, SPOTS_PER_LAYER)
        components.append((visible, [rng.exponential(HADRONIC_RADIUS_MM, shape) for _ in range(3)]))

    layers, overflow = [], np.zeros((n, 3))
    deposited = sum(visible for visible, _ in components)
    for layer in range(3):
        xs, ys, ws = [], [], []
        for visible, radii in components:
            if radii is None:  # a straight track: one spot at the beam position (1 mm beam spread)
                x, y = rng.normal(0.0, 1.0, (2, n, 1))
                xs, ys, ws = xs + [x], ys + [y], ws + [visible[:, layer, None]]
                continue
            x, y, w = _spots(radii[layer], visible[:, layer], rng)
            xs, ys, ws = xs + [x], ys + [y], ws + [w]
        cells, overflow[:, layer] = _bin(layer, np.hstack(xs), np.hstack(ys), np.hstack(ws))
        layers.append(np.where(cells >= CELL_THRESHOLD_MEV, cells, 0.0).astype(np.float32))
    return layers, overflow, deposited


def simulate(n: int, particle: str = "e+", energy=(1.0, 100.0), seed: int = 0) -> Showers:
    """Simulate ``n`` showers of ``particle`` entering the CaloGAN calorimeter at (0, 0), perpendicularly.

    Electromagnetic showers (e+, and gamma after a conversion depth ~ Exp(9/7 X0)): a Gamma
    longitudinal profile dE/dt = E b (b t)^(a-1) e^(-b t) / Gamma(a) with per-shower (ln T, ln a)
    from a correlated normal, the energy of each layer from the regularized incomplete gamma
    function at its boundaries, sampling fluctuations 11%/sqrt(E), visible fraction 0.19, and
    100 spots per layer drawn from the core + tail lateral profile at the spot's reduced depth.
    Pions: a MIP track up to an interaction depth ~ Exp(374 mm), then an EM part with a
    fluctuating fraction f_em (mean 1 - (E/GeV)^-0.18) and a hadronic part (depth Gamma(1.5, 224 mm)
    after the interaction, radius Exp(60 mm), h/e = 0.6, 50%/sqrt(E) fluctuations). Cells below
    0.1 MeV are set to zero; energy outside the grid is the per-layer overflow.

    Arguments:
        n: number of showers.
        particle: "e+", "gamma" or "pi+".
        energy: incident energies in GeV: a (low, high) range (uniform, as in CaloGAN), a single
            number, or an array of n energies (to simulate at given energies, like a conditional model).
        seed: the same seed gives the same showers. Train on ``gm.calorimeter.training_showers()``
            (seed 1), the official training set of the challenge.

    Returns:
        A ``Showers`` (cells in MeV, incident energy in GeV, overflow and deposited energy in MeV).

    Raises:
        SimulatorCalledError: when called by a generator while ``gm.calorimeter.score`` (or an
            exercise check) is scoring it.

    References:
        Grindhammer, Peters, hep-ex/0001020; CaloGAN, arXiv:1705.02355.

    Example:
        >>> showers = simulate(10, "e+", seed=1)
        >>> [layer.shape for layer in showers.layers], showers.energy.shape
        ([(10, 3, 96), (10, 12, 12), (10, 12, 6)], (10,))
    """
    if _REFUSAL["scorer"] is not None:
        _REFUSAL["counter"]["calls"] += 1
        raise SimulatorCalledError(simulator_refusal_message(_REFUSAL["scorer"]))
    return _simulate(n, particle, energy, seed)


def _simulate(n: int, particle: str, energy, seed) -> Showers:
    """``simulate`` without the scoring guard; ``seed`` may be an int or a ``np.random.SeedSequence``."""
    if particle not in PARTICLES:
        raise ValueError(f"unknown particle {particle!r}; expected one of {', '.join(PARTICLES)}")
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    energy_gev = _incident_energies(n, energy, rng)
    parts = [_simulate_chunk(energy_gev[i : i + _CHUNK], particle, rng) for i in range(0, n, _CHUNK)]
    layers = tuple(np.concatenate([part[0][layer] for part in parts]) for layer in range(3))
    overflow = np.concatenate([part[1] for part in parts])
    deposited = np.concatenate([part[2] for part in parts])
    return Showers(layers, energy_gev, overflow, deposited, particle)


def _incident_energies(n: int, energy, rng: np.random.Generator) -> np.ndarray:
    if isinstance(energy, tuple) and len(energy) == 2:
        low, high = energy
        if not 0 < low <= high:
            raise ValueError(f"energy range must satisfy 0 < low <= high (GeV), got {energy}")
        return rng.uniform(low, high, n)
    values = to_numpy(energy).astype(np.float64)
    if values.ndim == 0:
        values = np.full(n, float(values))
    if values.shape != (n,):
        raise ValueError(
            f"energy must be a (low, high) range, a number or {n} values; got shape {values.shape}"
        )
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError("incident energies must be positive and finite (GeV)")
    return values


# --- observables --------------------------------------------------------------------------------


def shower_observables(showers: Showers) -> dict[str, np.ndarray]:
    """The CaloGAN/CaloFlow validation observables of each shower, as a dict of (n,) arrays.

    With E_i the energy of layer i (MeV) and E_tot = E_0 + E_1 + E_2:

    - ``E_i`` and ``frac_i`` = E_i / E_tot; ``E_tot`` and ``E_tot/E_inc`` (both in MeV);
    - ``sparsity_i``: fraction of the cells of layer i with non-zero energy;
    - ``depth`` = sum_i i E_i / E_tot and ``depth_width`` = sqrt(sum_i i^2 E_i / E_tot - depth^2);
    - ``centroid_x_i``, ``centroid_y_i``: energy-weighted mean cell centre of layer i (mm);
    - ``width_x_i``, ``width_y_i``: energy-weighted standard deviation of the cell centres (mm);
    - ``E_ratio_i`` = (E_max1 - E_max2) / (E_max1 + E_max2), the two brightest cells of layer i.

    Ratios whose denominator is zero (an empty layer or shower) are set to 0.

    References:
        CaloGAN, arXiv:1705.02355 (section V); CaloFlow, arXiv:2106.05285 (section 4).
    """
    energies = showers.layer_energies
    total = energies.sum(axis=1)
    result = {f"E_{i}": energies[:, i] for i in range(3)}
    result["E_tot"] = total
    result["E_tot/E_inc"] = total / (1000.0 * np.asarray(showers.energy, dtype=np.float64))
    for i in range(3):
        result[f"frac_{i}"] = _safe_ratio(energies[:, i], total)
    index = np.arange(3.0)
    depth = _safe_ratio(energies @ index, total)
    result["depth"] = depth
    result["depth_width"] = np.sqrt(np.maximum(_safe_ratio(energies @ index**2, total) - depth**2, 0.0))
    for i, layer in enumerate(showers.layers):
        layer = layer.astype(np.float64)
        result[f"sparsity_{i}"] = (layer > 0).mean(axis=(1, 2))
        y, x = cell_centres(i)
        for axis, centres, profile in (("x", x, layer.sum(axis=1)), ("y", y, layer.sum(axis=2))):
            mean = _safe_ratio(profile @ centres, energies[:, i])
            second = _safe_ratio(profile @ centres**2, energies[:, i])
            result[f"centroid_{axis}_{i}"] = mean
            result[f"width_{axis}_{i}"] = np.sqrt(np.maximum(second - mean**2, 0.0))
        brightest = -np.sort(-layer.reshape(len(layer), -1), axis=1)[:, :2]
        result[f"E_ratio_{i}"] = _safe_ratio(brightest[:, 0] - brightest[:, 1], brightest.sum(axis=1))
    return result


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64), where=denominator > 0
    )
