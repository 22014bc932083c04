"""Gravitational-wave-like chirps in Gaussian noise: a fast, seeded simulator with an exact likelihood.

A compact binary spirals in and its gravitational-wave frequency sweeps up ("chirps") until the
merger. To leading (Newtonian) order, with tau = t_c - t the time left to coalescence and
M = G Mc / c^3 the chirp mass in seconds (Mc in solar masses, G Msun / c^3 = 4.925491e-6 s),

    f(tau)   = (1 / pi) (5 / (256 tau))^(3/8) M^(-5/8)             the frequency of the wave,
    Phi(tau) = phi_c - 2 (tau / (5 M))^(5/8)                       its phase (dPhi/dt = 2 pi f),
    h(t)     = A (tau / 1 s)^(-1/4) cos(Phi(tau)) w(t)              the strain.

The chirp mass alone sets how fast the frequency sweeps: that is why it is the best-measured mass
of a binary. ``A`` stands for the amplitude (1 / distance) at one second before the merger, and
``w`` is a window: a half-cosine ramp over the first ``RAMP`` seconds of the series (the segment
starts in the middle of the inspiral) and a half-cosine fade as the frequency goes from 70 % to
100 % of ``F_MAX`` (the merger, where the Newtonian formulas stop being valid; nothing after it).

A series is ``N_SAMPLES`` = 256 samples at ``SAMPLE_RATE`` = 256 Hz (one second), in the four
parameters ``PARAMETERS`` = (chirp mass Mc in Msun, amplitude A, coalescence time t_c in s,
coalescence phase phi_c in rad), with the uniform ``PRIOR`` below. Noise is Gaussian and
stationary:

- ``noise="white"`` (default): independent N(0, 1) samples;
- ``noise="coloured"``: the toy power spectral density ``psd`` (a steep low-frequency wall, a
  bucket, a rise at high frequency, like a ground-based detector's), drawn in the frequency domain.
  ``whiten`` divides the Fourier transform by the square root of the PSD, the way real strain is
  treated before inference: whitened noise is white again.

Because the noise is Gaussian, the likelihood is known in closed form (``log_likelihood``):

    log p(x | theta) = -1/2 |W (x - h(theta))|^2 - N/2 log(2 pi) - 1/2 log det C,

with W the whitening (the identity for white noise) and C the noise covariance. That is what makes an
exact reference posterior possible (a nested sampler or MCMC on it), against which a neural
posterior is checked; a real detector's simulator is far slower, which is why simulation-based
inference learns from simulations instead.

References:
    Cutler, Flanagan, "Gravitational waves from merging compact binaries", Phys. Rev. D 49 (1994) 2658.
    Green, Gair, "Complete parameter inference for GW150914 using deep learning", arXiv:2008.03312.
    Dax et al., "Real-time gravitational wave science with neural posterior estimation" (DINGO),
    arXiv:2106.12594.
"""

from __future__ import annotations

import numbers

import numpy as np

from gm_helpers.data._inputs import count, generator

__all__ = [
    "F_MAX",
    "N_SAMPLES",
    "PARAMETERS",
    "PRIOR",
    "RAMP",
    "SAMPLE_RATE",
    "T_SUN",
    "Chirp",
]

T_SUN = 4.925491e-6  # G Msun / c^3 in seconds
SAMPLE_RATE = 256.0  # Hz
N_SAMPLES = 256
F_MAX = 100.0  # Hz: the merger of the stand-in (the signal fades out from 0.7 F_MAX)
RAMP = 0.1  # s: the ramp of the window at the start of the segment
PARAMETERS = ("Mc", "A", "t_c", "phi_c")
LABELS = (r"$\mathcal{M}_c$ [$M_\odot$]", r"$A$", r"$t_c$ [s]", r"$\phi_c$ [rad]")
PRIOR = {"Mc": (20.0, 40.0), "A": (0.5, 1.5), "t_c": (0.80, 0.90), "phi_c": (0.0, 2 * np.pi)}
_NOISES = ("white", "coloured")


class Chirp:
    """The simulator: prior, waveform, noise, whitening and exact likelihood, all vectorized.

    Arguments:
        noise: ``"white"`` (unit variance per sample) or ``"coloured"`` (the toy PSD ``psd``).
        n_samples, sample_rate: the series' length and sampling rate (Hz).
        prior: {parameter: (low, high)} of the uniform prior; default ``PRIOR``.

    Example:
        >>> sim = Chirp()
        >>> theta, x = sim.simulate(1000, seed=0)
        >>> theta.shape, x.shape
        ((1000, 4), (1000, 256))
        >>> float(sim.snr(theta).min()) > 5
        True
    """

    def __init__(self, noise: str = "white", n_samples: int = N_SAMPLES, sample_rate: float = SAMPLE_RATE,
                 prior: dict | None = None):  # fmt: skip
        if noise not in _NOISES:
            raise ValueError(f"noise must be one of {_NOISES}, got {noise!r}")
        if not isinstance(n_samples, numbers.Integral) or n_samples < 16:
            raise ValueError(f"n_samples must be an integer >= 16, got {n_samples!r}")
        if not sample_rate > 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        prior = dict(PRIOR if prior is None else prior)
        if set(prior) != set(PARAMETERS):
            raise ValueError(f"prior must give (low, high) for each of {PARAMETERS}, got {sorted(prior)}")
        for name, (lo, hi) in prior.items():
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"prior of {name} must be a finite interval low < high, got ({lo}, {hi})")
        if prior["Mc"][0] <= 0 or prior["A"][0] < 0:
            raise ValueError("the prior must keep the chirp mass positive and the amplitude non-negative")
        self.noise, self.n_samples, self.sample_rate = noise, int(n_samples), float(sample_rate)
        self.prior = {name: (float(prior[name][0]), float(prior[name][1])) for name in PARAMETERS}
        self.low = np.array([self.prior[p][0] for p in PARAMETERS])
        self.high = np.array([self.prior[p][1] for p in PARAMETERS])
        self.times = np.arange(self.n_samples) / self.sample_rate
        self.frequencies = np.fft.rfftfreq(self.n_samples, 1 / self.sample_rate)
        self._asd = np.sqrt(self.psd(self.frequencies)) if noise == "coloured" else None

    def __repr__(self) -> str:
        return f"Chirp(noise={self.noise!r}, n_samples={self.n_samples}, sample_rate={self.sample_rate})"

    # --- prior ------------------------------------------------------------------------------------

    def sample_prior(self, n: int, seed=None) -> np.ndarray:
        """n parameter vectors (n, 4) drawn from the uniform prior."""
        count(n, "the number of simulations")
        return self.low + (self.high - self.low) * generator(seed).random((n, len(PARAMETERS)))

    def in_prior(self, theta) -> np.ndarray:
        """Whether each parameter vector lies inside the prior's support, (n,) booleans."""
        theta = self._theta(theta, check_prior=False)
        return np.all((theta >= self.low) & (theta <= self.high), axis=1)

    def log_prior(self, theta) -> np.ndarray:
        """log of the uniform prior density, (n,): -inf outside its support."""
        inside = self.in_prior(theta)
        return np.where(inside, -np.sum(np.log(self.high - self.low)), -np.inf)

    # --- signal -----------------------------------------------------------------------------------

    def frequency(self, theta, times=None) -> np.ndarray:
        """The wave's frequency f (Hz) at ``times`` (default the series' times), (n, len(times));
        NaN at and after the coalescence."""
        theta = self._theta(theta, check_prior=False)
        t = self.times if times is None else np.asarray(times, dtype=np.float64)
        tau = theta[:, 2:3] - t[None, :]
        mass = theta[:, 0:1] * T_SUN
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tau > 0, (5 / (256 * tau)) ** 0.375 * mass**-0.625 / np.pi, np.nan)

    def waveform(self, theta) -> np.ndarray:
        """The noise-free strain h(t) (n, n_samples) of each parameter vector (n, 4) or (4,)."""
        theta = self._theta(theta)
        mass, amplitude, t_c, phi_c = (theta[:, i : i + 1] for i in range(4))
        tau = t_c - self.times[None, :]
        alive = tau > 0
        tau = np.where(alive, tau, 1.0)
        frequency = (5 / (256 * tau)) ** 0.375 * (mass * T_SUN) ** -0.625 / np.pi
        phase = phi_c - 2 * (tau / (5 * mass * T_SUN)) ** 0.625
        fade = np.clip((frequency - 0.7 * F_MAX) / (0.3 * F_MAX), 0.0, 1.0)
        ramp = np.clip(self.times / RAMP, 0.0, 1.0)
        window = 0.5 * (1 + np.cos(np.pi * fade)) * 0.5 * (1 - np.cos(np.pi * ramp)) * alive
        h = amplitude * tau**-0.25 * np.cos(phase) * window
        return self.whiten(h) if self.noise == "coloured" else h

    def snr(self, theta) -> np.ndarray:
        """The optimal signal-to-noise ratio |W h(theta)| of each parameter vector, (n,)."""
        return np.linalg.norm(self.waveform(theta), axis=1)

    # --- noise ------------------------------------------------------------------------------------

    @staticmethod
    def psd(f) -> np.ndarray:
        """The toy one-sided power spectral density of ``noise="coloured"`` (per unit white noise):
        a seismic wall (f / 15 Hz)^-4, a flat bucket, and a rise (f / 70 Hz)^2 at high frequency."""
        f = np.maximum(np.asarray(f, dtype=np.float64), 1.0)
        return (f / 15.0) ** -4 + 1.0 + (f / 70.0) ** 2

    def noise_sample(self, n: int, seed=None) -> np.ndarray:
        """n noise series (n, n_samples), as they enter the *data* the simulator returns: white
        N(0, 1), or for coloured noise already whitened (white as well: see ``whiten``)."""
        count(n, "the number of simulations")
        return generator(seed).standard_normal((n, self.n_samples))

    def coloured_noise(self, n: int, seed=None) -> np.ndarray:
        """n raw (unwhitened) noise series with the PSD ``psd``: white noise shaped in the frequency
        domain (circular, so that ``whiten`` undoes it exactly)."""
        white = self.noise_sample(n, seed)
        asd = np.sqrt(self.psd(self.frequencies))
        return np.fft.irfft(np.fft.rfft(white, norm="ortho") * asd, n=self.n_samples, norm="ortho")

    def whiten(self, x) -> np.ndarray:
        """Divide the Fourier transform of each series by the noise's amplitude spectral density:
        coloured noise becomes N(0, 1) white noise, and a signal is weighted by how quiet the
        detector is at its frequencies. For ``noise="white"`` it returns x unchanged."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.n_samples:
            raise ValueError(
                f"whiten takes series of {self.n_samples} samples (last axis), got shape {x.shape}"
            )
        if self.noise == "white":
            return x
        return np.fft.irfft(np.fft.rfft(x, norm="ortho") / self._asd, n=x.shape[-1], norm="ortho")

    # --- simulations and likelihood -----------------------------------------------------------------

    def simulate(self, n: int, seed=None, theta=None) -> tuple[np.ndarray, np.ndarray]:
        """(theta, x): n parameter vectors from the prior (or the given ``theta``) and their data,
        waveform + noise, (n, 4) and (n, n_samples). For ``noise="coloured"`` the data are whitened
        strain (raw strain: ``coloured_noise`` plus the unwhitened signal)."""
        rng = generator(seed)
        theta = self.sample_prior(n, rng) if theta is None else self._theta(theta)
        if len(theta) != n:
            raise ValueError(f"theta has {len(theta)} rows, expected n = {n}")
        return theta, self.waveform(theta) + self.noise_sample(n, rng)

    def log_likelihood(self, theta, x) -> np.ndarray:
        """The exact log p(x | theta) of data ``x`` (n_samples,) or (n, n_samples) for each parameter
        vector of ``theta`` (m, 4): (m,) for one series, (n,) for one series per parameter vector.
        For coloured noise ``x`` is whitened strain and the density is that of the raw strain (the
        whitening's log-determinant included): the normalization is exact in both cases."""
        theta = self._theta(theta)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_samples or x.ndim == 2 and len(x) != len(theta):
            raise ValueError(f"x must have shape ({self.n_samples},) or ({len(theta)}, {self.n_samples}), "
                             f"got {x.shape}")  # fmt: skip
        if not np.all(np.isfinite(x)):
            raise ValueError("x holds NaN or infinite values")
        residual = x - self.waveform(theta)
        return -0.5 * np.sum(residual**2, axis=-1) + self.log_normalization()

    def log_normalization(self) -> float:
        """-N/2 log(2 pi) - 1/2 log det C: the constant of the Gaussian likelihood."""
        constant = -0.5 * self.n_samples * np.log(2 * np.pi)
        if self.noise == "white":
            return constant
        # C = M M^T with M = F^-1 diag(asd) F (circular): log det C = sum over all N Fourier bins
        # of log psd; a real series' bins k and N - k share a value.
        log_psd = np.log(self.psd(self.frequencies))
        counts = np.full(len(log_psd), 2.0)
        counts[0] = 1.0
        if self.n_samples % 2 == 0:
            counts[-1] = 1.0
        return constant - 0.5 * float(np.sum(counts * log_psd))

    def _theta(self, theta, check_prior: bool = True) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.ndim == 1:
            theta = theta[None, :]
        if theta.ndim != 2 or theta.shape[1] != len(PARAMETERS):
            raise ValueError(f"theta must have shape (n, {len(PARAMETERS)}) with columns {PARAMETERS}, "
                             f"got {theta.shape}")  # fmt: skip
        if not np.all(np.isfinite(theta)):
            raise ValueError("theta holds NaN or infinite values")
        if check_prior:
            outside = ~np.all((theta >= self.low) & (theta <= self.high), axis=1)
            if outside.any():
                i = int(np.argmax(outside))
                raise ValueError(
                    f"theta[{i}] = {np.round(theta[i], 4).tolist()} lies outside the prior "
                    f"{self.prior}; the simulator is defined on the prior's support only"
                )
        return theta
