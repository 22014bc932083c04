"""Dijet events in the style of the LHC Olympics 2020 R&D dataset: a fast, seeded stand-in.

The R&D dataset of the LHC Olympics 2020 holds 1M QCD dijet events and 100k signal events
W' -> X(-> qq) Y(-> qq) with m_W' = 3.5 TeV, m_X = 500 GeV and m_Y = 100 GeV, reconstructed as
two large-radius jets. The anomaly-detection benchmark injects 1000 signal events into the 1M
background events and looks for them in the signal region 3.3 < mjj < 3.7 TeV, using the side
bands (everything else, or the neighbouring 200 GeV bands in CWoLa hunting) to learn the background.
Each event is described by the dijet mass ``mjj`` and four features (``FEATURES``):

- ``mj1``: mass of the lighter jet j1; ``dm`` = m_j2 - m_j1 >= 0, with j2 the heavier jet;
- ``tau21_1``, ``tau21_2``: the N-subjettiness ratio tau_2 / tau_1 of j1 and j2 (small for a
  two-prong jet such as X -> qq or Y -> qq, closer to 1 for a one-prong QCD jet).

This module does not read the real files: it simulates events with the same structure from
closed-form distributions (all masses in TeV), vectorized in numpy (10^6 events in well under a
second on one core). Background (QCD dijets):

- mjj ~ (1 - x)^8 / x^5.4 * [1 + exp(-(mjj - 2.75) / 0.12)]^-1, x = mjj / 13, on [2.3, 13): the
  usual dijet fit function times a trigger turn-on (about 13% of the events lie in the signal
  region), sampled by inverse CDF on a fine grid;
- jet masses m_i = (mjj / 2) exp(ln 0.088 + 0.8 z_i), z_i ~ N(0, 1): the jet mass grows with the
  jet pT, hence with mjj, which is the correlation that ANODE and CATHODE must interpolate
  through the signal region (and that breaks naive side-band methods);
- tau21_i = sigmoid(0.30 - 0.45 z_i + 0.70 eps_i), eps_i ~ N(0, 1): heavier QCD jets look more
  two-pronged (mass-tau21 correlation about -0.4).

Signal (W' -> X Y): mjj = 3.5 (1 + 0.028 N), lowered in 30% of the events by an Exp(0.45 TeV)
loss (final-state radiation out of the jets); m_X = 0.5 (0.99 + 0.09 N), m_Y = 0.1 (1.10 + 0.15 N),
with the smearing widths (0.09 and 0.15) doubled in 25% of the events (a worse jet-mass
measurement); tau21 = sigmoid(-1.05 + 0.9 eps) for the X jet and sigmoid(-0.35 + 0.8 eps) for
the Y jet. In both samples j1 / j2 are the lighter / heavier jet, each carrying its own tau21.

The parameters are the module constants below. The scale of the low tail, 0.45 TeV, is chosen so
that 77% of the signal falls in the signal region, as in the real benchmark (772 of 1000); a
scale of 0.08 TeV would put 92% there and make the benchmark easier than the real one.

References:
    Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320.
    Nachman, Shih, "Anomaly detection with density estimation" (ANODE), arXiv:2001.04990.
    Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE), arXiv:2109.00546.
    Collins, Howe, Nachman, "Anomaly detection for resonant new physics with machine learning"
    (CWoLa hunting), arXiv:1805.02664.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import expit

__all__ = [
    "FEATURES",
    "MJJ_MAX",
    "MJJ_MIN",
    "SIDEBANDS",
    "SIGNAL_REGION",
    "Events",
    "background_mjj_density",
    "benchmark",
    "concatenate",
    "extra_background",
    "simulate",
]

MJJ_MIN = 2.3  # TeV, lower end of the spectrum
MJJ_MAX = 13.0  # TeV, sqrt(s): the upper end of the spectrum
SIGNAL_REGION = (3.3, 3.7)  # TeV
SIDEBANDS = ((3.1, 3.3), (3.7, 3.9))  # TeV, the neighbouring side bands of CWoLa hunting
FEATURES = ("mj1", "dm", "tau21_1", "tau21_2")

# Background (QCD dijets).
BACKGROUND_MJJ_EXPONENTS = (8.0, 5.4)  # density (1 - x)^a / x^b, x = mjj / 13
TURN_ON = (2.75, 0.12)  # TeV: centre and width of the trigger turn-on (a logistic function)
JET_MASS_OVER_PT = 0.088  # median jet mass / (mjj / 2)
JET_MASS_SPREAD = 0.8  # standard deviation of ln(jet mass)
BACKGROUND_TAU21 = (0.30, -0.45, 0.70)  # tau21 = sigmoid(a + b z + c eps)

# Signal (W' -> X(qq) Y(qq)).
M_WPRIME, M_X, M_Y = 3.5, 0.5, 0.1  # TeV
SIGNAL_MJJ_RESOLUTION = 0.028  # relative Gaussian width of the signal mjj peak
SIGNAL_MJJ_TAIL = (0.30, 0.45)  # fraction of the events with a low tail, and its Exp scale in TeV
SIGNAL_JET_MASS = {"X": (0.99, 0.09), "Y": (1.10, 0.15)}  # m = m_X (a + b N), m = m_Y (a + b N)
POOR_MEASUREMENT = (0.25, 2.0)  # fraction of signal events whose jet-mass widths are multiplied by...
SIGNAL_TAU21 = {"X": (-1.05, 0.9), "Y": (-0.35, 0.8)}  # tau21 = sigmoid(a + b eps)
JET_MASS_FLOOR = 0.001  # TeV: smeared signal jet masses are floored here (affects ~3e-5 of them)

# Fixed tags appended to the seed: the streams of simulate and extra_background never coincide
# (SeedSequence pads its entropy with zeros, so the tags must be non-zero and distinct).
_TAG_SIMULATE = 0x4C48434F  # "LHCO"
_TAG_EXTRA = 0x45585452  # "EXTR"
_GRID_POINTS = 2**16 + 1  # the grid of the inverse-CDF sampler, spacing 0.16 GeV


@dataclass(eq=False, repr=False)
class Events:
    """A set of dijet events: dijet mass, the four features of ``FEATURES``, and the truth label.

    Attributes:
        mjj: dijet invariant mass in TeV, shape (n,), float64.
        features: (n, 4) float64, columns ``FEATURES`` = (mj1, dm, tau21_1, tau21_2); masses in TeV.
        is_signal: truth label, (n,) bool. Only the fully supervised reference may use it; weakly
            supervised and unsupervised methods (CWoLa, ANODE, CATHODE) must not.

    Indexing (``events[mask]``, ``events[indices]``, ``events[a:b]``) returns the selected events.

    Example:
        >>> events = simulate(1000, n_signal=10, seed=1)
        >>> len(events), events.features.shape, int(events.is_signal.sum())
        (1010, (1010, 4), 10)
        >>> bool(np.all(events.signal_region().mjj > SIGNAL_REGION[0]))
        True
    """

    mjj: np.ndarray
    features: np.ndarray
    is_signal: np.ndarray

    def __post_init__(self):
        self.mjj = np.asarray(self.mjj, dtype=np.float64)
        self.features = np.asarray(self.features, dtype=np.float64)
        is_signal = np.asarray(self.is_signal)
        if self.mjj.ndim != 1:
            raise ValueError(f"mjj must be a 1-D array of n dijet masses (TeV), got shape {self.mjj.shape}")
        if self.features.ndim != 2 or self.features.shape[1] != len(FEATURES):
            raise ValueError(
                f"features must have shape (n, {len(FEATURES)}) with columns {FEATURES}, "
                f"got shape {self.features.shape}"
            )
        if is_signal.ndim != 1:
            raise ValueError(f"is_signal must be a 1-D array of n labels, got shape {is_signal.shape}")
        if is_signal.dtype != bool:
            if is_signal.size and not np.all((is_signal == 0) | (is_signal == 1)):
                raise ValueError("is_signal must hold booleans (or 0/1), got other values")
            is_signal = is_signal.astype(bool)
        self.is_signal = is_signal
        lengths = (len(self.mjj), len(self.features), len(self.is_signal))
        if len(set(lengths)) > 1:
            raise ValueError(
                "mjj, features and is_signal must have the same lengths (one entry per event), got "
                f"{lengths[0]}, {lengths[1]} and {lengths[2]}"
            )
        for name, values in (("mjj", self.mjj), ("features", self.features)):
            bad = ~np.isfinite(values)
            if bad.any():
                raise ValueError(f"{name} must be finite, got {int(bad.sum())} NaN or infinite values")

    def __len__(self) -> int:
        return len(self.mjj)

    def __getitem__(self, index) -> Events:
        if isinstance(index, numbers.Integral):
            index = [index]
        return Events(self.mjj[index], self.features[index], self.is_signal[index])

    def __repr__(self) -> str:
        if len(self) == 0:
            return "Events(n=0)"
        return (
            f"Events(n={len(self)}, signal={int(self.is_signal.sum())}, "
            f"mjj in [{self.mjj.min():.3f}, {self.mjj.max():.3f}] TeV)"
        )

    @property
    def mj1(self) -> np.ndarray:
        """Mass of the lighter jet, TeV."""
        return self.features[:, 0]

    @property
    def dm(self) -> np.ndarray:
        """Mass of the heavier jet minus that of the lighter one, TeV."""
        return self.features[:, 1]

    @property
    def mj2(self) -> np.ndarray:
        """Mass of the heavier jet, mj1 + dm, TeV."""
        return self.features[:, 0] + self.features[:, 1]

    @property
    def tau21_1(self) -> np.ndarray:
        """tau21 of the lighter jet."""
        return self.features[:, 2]

    @property
    def tau21_2(self) -> np.ndarray:
        """tau21 of the heavier jet."""
        return self.features[:, 3]

    def in_region(self, region=SIGNAL_REGION) -> np.ndarray:
        """Boolean mask of the events with lo < mjj < hi, for ``region`` = (lo, hi) in TeV."""
        lo, hi = _check_region(region)
        return (self.mjj > lo) & (self.mjj < hi)

    def in_sidebands(self, narrow: bool = False) -> np.ndarray:
        """Mask of the side bands: everything outside ``SIGNAL_REGION`` (ANODE, CATHODE), or with
        ``narrow=True`` only the two neighbouring bands ``SIDEBANDS`` (CWoLa hunting)."""
        if narrow:
            return self.in_region(SIDEBANDS[0]) | self.in_region(SIDEBANDS[1])
        return ~self.in_region(SIGNAL_REGION)

    def signal_region(self) -> Events:
        """The events with 3.3 < mjj < 3.7 TeV."""
        return self[self.in_region(SIGNAL_REGION)]

    def sidebands(self, narrow: bool = False) -> Events:
        """The side-band events (see ``in_sidebands``)."""
        return self[self.in_sidebands(narrow)]

    @staticmethod
    def concatenate(*events: Events) -> Events:
        """All the events of the arguments, in order."""
        if not events:
            raise ValueError("concatenate needs at least one Events")
        for item in events:
            if not isinstance(item, Events):
                raise TypeError(f"concatenate takes Events, got {type(item).__name__}")
        return Events(
            np.concatenate([item.mjj for item in events]),
            np.concatenate([item.features for item in events]),
            np.concatenate([item.is_signal for item in events]),
        )


concatenate = Events.concatenate


def _check_region(region) -> tuple[float, float]:
    if isinstance(region, str):
        raise ValueError(f"region must be a pair (lo, hi) of dijet masses in TeV, got {region!r}")
    try:
        lo, hi = (float(value) for value in region)
    except (TypeError, ValueError):
        raise ValueError(f"region must be a pair (lo, hi) of dijet masses in TeV, got {region!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"region (lo, hi) must have finite lo < hi (TeV), got {region!r}")
    if hi <= MJJ_MIN or lo >= MJJ_MAX:
        raise ValueError(
            f"region {region!r} lies outside the dijet spectrum [{MJJ_MIN}, {MJJ_MAX}) TeV: "
            "no event can be in it"
        )
    return lo, hi


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer (a number of events; write 1_000_000, not 1e6), "
            f"got {value!r} of type {type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


# --- the background ------------------------------------------------------------------------------


def _unnormalized_density(m: np.ndarray) -> np.ndarray:
    a, b = BACKGROUND_MJJ_EXPONENTS
    centre, width = TURN_ON
    x = m / MJJ_MAX
    return (1.0 - x) ** a / x**b * expit((m - centre) / width)


@lru_cache(maxsize=1)
def _mjj_grid() -> tuple[np.ndarray, np.ndarray, float]:
    """Grid on [MJJ_MIN, MJJ_MAX], the CDF of the background mjj on it, and the normalization."""
    grid = np.linspace(MJJ_MIN, MJJ_MAX, _GRID_POINTS)
    density = _unnormalized_density(grid)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    norm = cumulative[-1]
    return grid, cumulative / norm, norm


def background_mjj_density(m) -> np.ndarray:
    """The normalized density (1/TeV) of the background dijet mass ``m`` (TeV); zero outside [2.3, 13).

    p(m) is proportional to (1 - x)^8 / x^5.4 / (1 + exp(-(m - 2.75) / 0.12)) with x = m / 13:
    the standard dijet fit function times a trigger turn-on.
    """
    m = np.asarray(m, dtype=np.float64)
    inside = (m >= MJJ_MIN) & (m < MJJ_MAX)
    safe = np.where(inside, m, 0.5 * (MJJ_MIN + MJJ_MAX))
    return np.where(inside, _unnormalized_density(safe) / _mjj_grid()[2], 0.0)


def _sort_jets(mass: np.ndarray, tau21: np.ndarray) -> np.ndarray:
    """Features (mj1, dm, tau21_1, tau21_2) from two jets per event, (n, 2) arrays; j1 = lighter jet."""
    swap = mass[:, 0] > mass[:, 1]
    light = np.where(swap, mass[:, 1], mass[:, 0])
    heavy = np.where(swap, mass[:, 0], mass[:, 1])
    tau_light = np.where(swap, tau21[:, 1], tau21[:, 0])
    tau_heavy = np.where(swap, tau21[:, 0], tau21[:, 1])
    return np.stack([light, heavy - light, tau_light, tau_heavy], axis=1)


def _background(n: int, rng: np.random.Generator) -> Events:
    grid, cdf, _ = _mjj_grid()
    mjj = np.interp(rng.random(n), cdf, grid)
    z = rng.standard_normal((n, 2))
    eps = rng.standard_normal((n, 2))
    mass = 0.5 * mjj[:, None] * np.exp(np.log(JET_MASS_OVER_PT) + JET_MASS_SPREAD * z)
    a, b, c = BACKGROUND_TAU21
    tau21 = expit(a + b * z + c * eps)
    return Events(mjj, _sort_jets(mass, tau21), np.zeros(n, dtype=bool))


# --- the signal ---------------------------------------------------------------------------------


def _signal(n: int, rng: np.random.Generator) -> Events:
    core = np.maximum(M_WPRIME * (1.0 + SIGNAL_MJJ_RESOLUTION * rng.standard_normal(n)), MJJ_MIN)
    tail_fraction, tail_scale = SIGNAL_MJJ_TAIL
    # The Exp loss, truncated at core - MJJ_MIN so that every event stays in the spectrum (the
    # truncation changes its distribution by exp(-15) ~ 3e-7).
    tail = rng.random(n) < tail_fraction
    kept = -np.expm1(-(core - MJJ_MIN) / tail_scale)
    loss = -tail_scale * np.log1p(-rng.random(n) * kept)
    mjj = core - np.where(tail, loss, 0.0)

    poor_fraction, widening = POOR_MEASUREMENT
    width = np.where(rng.random(n) < poor_fraction, widening, 1.0)
    masses, taus = [], []
    for name, mass in (("Y", M_Y), ("X", M_X)):
        centre, spread = SIGNAL_JET_MASS[name]
        masses.append(np.maximum(mass * (centre + spread * width * rng.standard_normal(n)), JET_MASS_FLOOR))
        offset, scale = SIGNAL_TAU21[name]
        taus.append(expit(offset + scale * rng.standard_normal(n)))
    features = _sort_jets(np.stack(masses, axis=1), np.stack(taus, axis=1))
    return Events(mjj, features, np.ones(n, dtype=bool))


# --- public generators ----------------------------------------------------------------------------


def simulate(n_background: int, n_signal: int = 0, seed: int = 0) -> Events:
    """Simulate ``n_background`` QCD dijet events and ``n_signal`` W' -> X Y events, shuffled together.

    The background, the signal and the shuffle use three independent streams spawned from
    ``np.random.SeedSequence([seed, tag])``: the same seed gives the same events, and injecting
    signal does not change the background events (only their order). See the module docstring for
    the distributions.

    Arguments:
        n_background: number of background events (an integer >= 0).
        n_signal: number of signal events (an integer >= 0).
        seed: a non-negative integer.

    Returns:
        ``Events`` with ``n_background + n_signal`` events in random order.

    Raises:
        TypeError: a count or the seed is not an integer (e.g. 1e6).
        ValueError: a count or the seed is negative.
    """
    n_background = _check_count("n_background", n_background)
    n_signal = _check_count("n_signal", n_signal)
    seed = _check_count("seed", seed)
    streams = np.random.SeedSequence([seed, _TAG_SIMULATE]).spawn(3)
    background = _background(n_background, np.random.default_rng(streams[0]))
    signal = _signal(n_signal, np.random.default_rng(streams[1]))
    order = np.random.default_rng(streams[2]).permutation(n_background + n_signal)
    return Events.concatenate(background, signal)[order]


def benchmark(seed: int = 0, n_background: int = 1_000_000, n_signal: int = 1_000) -> Events:
    """The standard anomaly-detection benchmark of the LHC Olympics R&D dataset: 1000 signal events
    injected into 1M background events (``simulate(n_background, n_signal, seed)``).

    In the real benchmark the signal region holds 772 signal and 121,352 background events
    (S/B ~ 0.6%, S/sqrt(B) ~ 2.2); here about 775 and 135,000 (S/B ~ 0.6%, S/sqrt(B) ~ 2.1).
    """
    return simulate(n_background, n_signal, seed)


def extra_background(n: int, seed: int) -> Events:
    """``n`` background-only events, for the idealized anomaly detector (trained on signal-region
    data against a perfect background model).

    Drawn from the same distribution as the background of ``simulate``, from a stream
    (``SeedSequence([seed, tag])`` with another tag) that never coincides with any stream of
    ``simulate``, whatever the two seeds.
    """
    n = _check_count("n", n)
    seed = _check_count("seed", seed)
    return _background(n, np.random.default_rng(np.random.SeedSequence([seed, _TAG_EXTRA])))
