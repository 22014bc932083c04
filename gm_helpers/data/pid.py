"""Particle identification with ring-imaging Cherenkov detectors (LHCb-style): a fast, seeded stand-in.

A charged particle faster than light in a radiator emits Cherenkov photons on a cone of angle

    cos(theta_h) = 1 / (n beta_h),   beta_h = p / sqrt(p^2 + m_h^2),

so at a given momentum p the angle tells the mass, hence the species h. Below the threshold
p_h = m_h / sqrt(n^2 - 1) a species emits nothing. LHCb's two RICH detectors use C4F10 (RICH1,
n - 1 = 1.4e-3: thresholds pi 2.6, K 9.3, p 17.7 GeV) and CF4 (RICH2, n - 1 = 5e-4: pi 4.4,
K 15.6, p 29.7 GeV). The reconstruction compares the photons of a track with each hypothesis and
quotes delta-log-likelihoods DLL_h = log L(h) - log L(pi) ("RichDLLe, RichDLLmu, RichDLLk,
RichDLLp"), the inputs of every PID cut (e.g. DLLK > 0 for a kaon).

This module simulates tracks of one species at a time (``SPECIES``) with the conditions of
``CONDITIONS``, (p [GeV], eta, nTracks, charge):

- ln p ~ N(ln 20 GeV, 0.8) within [3, 200] GeV; eta ~ U(1.8, 5.5); nTracks ~ Gamma(3, scale 60)
  within [1, 1000) (an integer: the event's occupancy); charge +-1;
- per radiator: signal photons N_s ~ Poisson(lambda), lambda = N0 f(eta) sin^2(theta) / sin^2(theta_max)
  (the yield grows with sin^2(theta); RICH1 sees more light at low eta, RICH2 at high eta, both less at
  the edges of the acceptance; 5 % of the rings keep only 30 % of their photons: hadronic
  interactions, overlapping rings), each at
  the track's angle plus N(0, sigma_gamma (1 + kappa nTracks)) (1.6 and 0.7 mrad, kappa = 2e-3: a busy
  event smears the photons), all shifted by the error of the track's direction (0.3 mrad x 10 GeV / p,
  multiple scattering); background photons N_b ~ Poisson(b0 (1 + nTracks / 150)) from other tracks
  (b0 = 12 and 9), uniform in angle on [0, 1.3 theta_max];
- the reconstruction's extended likelihood of hypothesis h in a radiator: -(lambda_h + b) + sum over
  the photons of log(lambda_h N(theta_i; theta_h, sigma) + b / range): every photon is either on the
  ring of h or background, so a photon far from the ring costs a bounded amount and the DLLs
  saturate (a hypothesis below threshold expects no ring: lambda_h = 0, its "veto"); DLL_h sums both
  radiators and is clipped to +-150 (``DLL_CLIP``).

So the DLL shapes change visibly with p (thresholds), eta (yields) and nTracks (resolution,
background): what a conditional generative model of PID must learn. Masses in GeV, angles in rad.

References:
    Adinolfi et al., "Performance of the LHCb RICH detector at the LHC", Eur. Phys. J. C 73 (2013) 2431.
    Maevskiy et al., "Fast data-driven simulation of Cherenkov detectors using generative adversarial
    networks", arXiv:1905.11825.
    Anderlini et al., "Lamarr: the ultra-fast simulation option for the LHCb experiment", arXiv:2303.11428.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from gm_helpers.data._inputs import count, generator

__all__ = [
    "CONDITIONS",
    "DLL_CLIP",
    "MASSES",
    "OUTPUTS",
    "RADIATORS",
    "SPECIES",
    "Radiator",
    "Tracks",
    "cherenkov_angle",
    "simulate",
    "simulate_conditions",
    "threshold_momentum",
]

SPECIES = ("e", "mu", "pi", "K", "p")
MASSES = {"e": 0.000511, "mu": 0.10566, "pi": 0.13957, "K": 0.49368, "p": 0.93827}  # GeV (PDG)
CONDITIONS = ("p", "eta", "nTracks", "charge")
OUTPUTS = ("DLLe", "DLLmu", "DLLK", "DLLp")
DLL_CLIP = 150.0
P_RANGE = (3.0, 200.0)  # GeV
ETA_RANGE = (1.8, 5.5)
NTRACKS_MAX = 1000
KAPPA = 2e-3  # resolution degradation per track in the event
BACKGROUND_SCALE = 150.0  # background photons grow as 1 + nTracks / BACKGROUND_SCALE
TRACK_ANGLE = 0.3e-3  # rad at 10 GeV: the error of the track direction (multiple scattering, ~1/p)
ANGLE_RANGE = 1.3  # background photons are spread over [0, 1.3 theta_max]
EDGE_LOSS = 0.3  # the yield falls by 30 % at both edges of the eta range
DEGRADED, DEGRADED_YIELD = 0.05, 0.3  # 5 % of rings keep 30 % of their photons (interactions, overlaps)
_CHUNK = 50_000
_TRACKS = "the number of tracks"


@dataclass(frozen=True)
class Radiator:
    """One RICH radiator: refractive index ``n_minus_1`` + 1, single-photon resolution ``sigma`` (rad),
    photon yield ``n0`` at saturation (beta = 1), mean background photons ``b0`` per track, and the
    slope of the yield in eta (``eta_slope``: positive for the downstream, forward RICH2)."""

    name: str
    n_minus_1: float
    sigma: float
    n0: float
    b0: float
    eta_slope: float

    @property
    def n(self) -> float:
        return 1.0 + self.n_minus_1

    @property
    def theta_max(self) -> float:
        """The saturated angle, at beta = 1."""
        return float(np.arccos(1.0 / self.n))

    def yield_factor(self, eta) -> np.ndarray:
        """The relative photon yield f(eta) = (1 + slope x)(1 - 0.3 x^2), x in [-1, 1] across the eta
        range: 1 at its centre, lower at both edges of the acceptance."""
        centre, half = (ETA_RANGE[0] + ETA_RANGE[1]) / 2, (ETA_RANGE[1] - ETA_RANGE[0]) / 2
        x = (np.asarray(eta, dtype=np.float64) - centre) / half
        return (1.0 + self.eta_slope * x) * (1.0 - EDGE_LOSS * x**2)


RADIATORS = (
    Radiator("C4F10 (RICH1)", 1.4e-3, 1.6e-3, n0=30.0, b0=12.0, eta_slope=-0.3),
    Radiator("CF4 (RICH2)", 5e-4, 0.7e-3, n0=22.0, b0=9.0, eta_slope=0.3),
)


def threshold_momentum(mass, n) -> np.ndarray:
    """p_h = m_h / sqrt(n^2 - 1): below it (GeV) a particle of that mass emits no Cherenkov light."""
    return np.asarray(mass, dtype=np.float64) / np.sqrt(np.asarray(n, dtype=np.float64) ** 2 - 1.0)


def cherenkov_angle(p, mass, n) -> np.ndarray:
    """The Cherenkov angle arccos(1 / (n beta)) in rad, beta = p / sqrt(p^2 + m^2); NaN below threshold."""
    p, mass = np.asarray(p, dtype=np.float64), np.asarray(mass, dtype=np.float64)
    beta = p / np.sqrt(p**2 + mass**2)
    cos_theta = 1.0 / (n * beta)
    with np.errstate(invalid="ignore"):
        return np.where(cos_theta < 1.0, np.arccos(np.minimum(cos_theta, 1.0)), np.nan)


@dataclass
class Tracks:
    """Simulated tracks of one species: ``conditions`` (n, 4) = (p [GeV], eta, nTracks, charge) and
    ``dll`` (n, 4) = (DLLe, DLLmu, DLLK, DLLp). Index it like an array (``tracks[mask]``)."""

    conditions: np.ndarray
    dll: np.ndarray
    species: str

    def __post_init__(self):
        self.conditions = np.asarray(self.conditions, dtype=np.float64)
        self.dll = np.asarray(self.dll, dtype=np.float64)
        if self.conditions.ndim != 2 or self.conditions.shape[1] != len(CONDITIONS):
            raise ValueError(
                f"conditions must have shape (n, {len(CONDITIONS)}), got {self.conditions.shape}"
            )
        if self.dll.shape != (len(self.conditions), len(OUTPUTS)):
            raise ValueError(
                f"dll must have shape ({len(self.conditions)}, {len(OUTPUTS)}), got {self.dll.shape}"
            )
        if self.species not in SPECIES:
            raise ValueError(f"species must be one of {SPECIES}, got {self.species!r}")
        if not (np.all(np.isfinite(self.conditions)) and np.all(np.isfinite(self.dll))):
            raise ValueError("conditions and dll must be finite (no NaN)")

    def __len__(self) -> int:
        return len(self.conditions)

    def __getitem__(self, index) -> Tracks:
        if isinstance(index, numbers.Integral):
            index = [index]  # one track: still Tracks (of length 1)
        return Tracks(self.conditions[index], self.dll[index], self.species)

    @property
    def p(self) -> np.ndarray:
        return self.conditions[:, 0]

    @property
    def eta(self) -> np.ndarray:
        return self.conditions[:, 1]

    @property
    def n_tracks(self) -> np.ndarray:
        return self.conditions[:, 2]

    @property
    def charge(self) -> np.ndarray:
        return self.conditions[:, 3]


def simulate_conditions(n: int, seed=None) -> np.ndarray:
    """n condition vectors (n, 4) = (p [GeV], eta, nTracks, charge) from the stand-in's distributions
    (truncated by redrawing)."""
    n, rng = count(n, _TRACKS), generator(seed)

    def truncated(draw, lo, hi):
        out = draw(n)
        bad = (out < lo) | (out >= hi)
        while bad.any():
            out[bad] = draw(int(bad.sum()))
            bad = (out < lo) | (out >= hi)
        return out

    p = truncated(lambda k: np.exp(rng.normal(np.log(20.0), 0.8, k)), *P_RANGE)
    eta = rng.uniform(*ETA_RANGE, n)
    n_tracks = truncated(lambda k: np.floor(rng.gamma(3.0, 60.0, k)), 1, NTRACKS_MAX)
    charge = rng.choice([-1.0, 1.0], n)
    return np.stack([p, eta, n_tracks, charge], axis=1)


def _check_conditions(conditions) -> np.ndarray:
    c = np.asarray(conditions, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != len(CONDITIONS):
        raise ValueError(
            f"conditions must have shape (n, {len(CONDITIONS)}) with columns {CONDITIONS}, got {c.shape}"
        )
    if not np.all(np.isfinite(c)):
        raise ValueError("conditions hold NaN or infinite values")
    p, eta, n_tracks, charge = c.T
    if np.any((p < P_RANGE[0]) | (p > P_RANGE[1])):
        raise ValueError(f"momenta must lie in {P_RANGE} GeV")
    if np.any((eta < ETA_RANGE[0]) | (eta > ETA_RANGE[1])):
        raise ValueError(f"eta must lie in {ETA_RANGE}")
    if np.any((n_tracks < 1) | (n_tracks >= NTRACKS_MAX)) or np.any(n_tracks != np.floor(n_tracks)):
        raise ValueError(f"nTracks must be integers in [1, {NTRACKS_MAX})")
    if not np.all(np.isin(charge, (-1.0, 1.0))):
        raise ValueError("charge must be -1 or +1")
    return c


def _radiator_log_likelihoods(radiator: Radiator, c: np.ndarray, mass: float, rng) -> np.ndarray:
    """log L(h) of every hypothesis h of ``SPECIES`` (n, 5) for tracks of ``mass`` in one radiator:
    the extended likelihood of the track's photons, each a mixture of the ring of h and a flat
    background."""
    p, eta, n_tracks = c[:, 0], c[:, 1], c[:, 2]
    n = len(p)
    yield_scale = radiator.n0 * radiator.yield_factor(eta) / np.sin(radiator.theta_max) ** 2
    sigma = radiator.sigma * (1.0 + KAPPA * n_tracks)  # per photon, worse in a busy event
    background = radiator.b0 * (1.0 + n_tracks / BACKGROUND_SCALE)  # expected background photons
    angle_range = ANGLE_RANGE * radiator.theta_max  # background photons: uniform on [0, angle_range]
    theta_true = np.nan_to_num(cherenkov_angle(p, mass, radiator.n))
    degraded = np.where(rng.random(n) < DEGRADED, DEGRADED_YIELD, 1.0)  # rings partly lost
    n_signal = rng.poisson(degraded * yield_scale * np.sin(theta_true) ** 2)
    n_background = rng.poisson(background)
    total = n_signal + n_background
    centre = theta_true + TRACK_ANGLE * (10.0 / p) * rng.standard_normal(n)  # the track direction's error
    hypotheses = [cherenkov_angle(p, MASSES[h], radiator.n) for h in SPECIES]
    expected = [
        np.where(np.isfinite(t), yield_scale * np.sin(np.nan_to_num(t)) ** 2, 0.0) for t in hypotheses
    ]
    out = np.stack([-(e + background) for e in expected], axis=1)
    # the photons, padded per chunk of tracks with similar photon counts (sorted), in float32
    order = np.argsort(total, kind="stable")
    for start in range(0, n, _CHUNK):
        rows = order[start : start + _CHUNK]
        slots = np.arange(max(int(total[rows].max(initial=0)), 1), dtype=np.int32)[None, :]
        shape = (len(rows), slots.shape[1])
        ring = (centre[rows, None] + sigma[rows, None] * rng.standard_normal(shape)).astype(np.float32)
        flat = (angle_range * rng.random(shape)).astype(np.float32)
        angles = np.where(slots < n_signal[rows, None], ring, flat)
        present = slots < total[rows, None]
        inverse_sigma = (1.0 / sigma[rows, None]).astype(np.float32)
        floor = (background[rows] / angle_range).astype(np.float32)[:, None]
        for k, (theta_h, e) in enumerate(zip(hypotheses, expected, strict=True)):
            z = (angles - np.nan_to_num(theta_h[rows]).astype(np.float32)[:, None]) * inverse_sigma
            peak = (e[rows] / (np.sqrt(2 * np.pi) * sigma[rows])).astype(np.float32)[:, None]
            per_photon = np.log(peak * np.exp(-0.5 * z * z) + floor)
            out[rows, k] += np.sum(per_photon, axis=1, where=present)
    return out


def simulate(species: str, n: int | None = None, seed=None, conditions=None) -> Tracks:
    """n tracks of ``species`` (one of ``SPECIES``) with conditions drawn from the stand-in's
    distributions, or at the given ``conditions`` (n, 4); their RICH DLLs (DLLe, DLLmu, DLLK, DLLp)
    relative to the pion hypothesis, clipped to +-``DLL_CLIP``.

    Example:
        >>> tracks = simulate("K", 1000, seed=0)
        >>> tracks.conditions.shape, tracks.dll.shape
        ((1000, 4), (1000, 4))
        >>> bool((tracks.dll[tracks.p > 20, 2] > 0).mean() > 0.8)  # kaons above threshold look like kaons
        True
    """
    if species not in SPECIES:
        raise ValueError(f"species must be one of {SPECIES}, got {species!r}")
    rng = generator(seed)
    if conditions is None:
        if n is None:
            raise ValueError("give the number of tracks n, or their conditions")
        c = simulate_conditions(count(n, _TRACKS), rng)
    else:
        c = _check_conditions(conditions)
        if n is not None and count(n, _TRACKS) != len(c):
            raise ValueError(f"n = {n} but {len(c)} conditions were given")
    log_l = sum(_radiator_log_likelihoods(r, c, MASSES[species], rng) for r in RADIATORS)
    pion = log_l[:, SPECIES.index("pi")]
    dll = np.stack([log_l[:, SPECIES.index(h)] - pion for h in ("e", "mu", "K", "p")], axis=1)
    return Tracks(c, np.clip(dll, -DLL_CLIP, DLL_CLIP), species)
