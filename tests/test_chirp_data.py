"""Tests of the gravitational-wave-like chirp simulator, gm_helpers.data.chirp.

References, all written out here and not taken from the module: the leading-order (Newtonian)
chirp f(tau) = (1/pi) (5 / (256 tau))^(3/8) (Mc T_sun)^(-5/8) with T_sun = G Msun / c^3, its phase
Phi(tau) = phi_c - 2 (tau / (5 Mc T_sun))^(5/8) and amplitude A tau^(-1/4) (Cutler & Flanagan 1994);
the waveform's frequency is measured from its zero crossings and its envelope from its peaks; the
likelihood is compared with scipy's multivariate normal, for coloured noise with the noise
covariance built as a dense matrix from the colouring map; the prior with scipy's KS test.
"""

import time

import numpy as np
import pytest
from scipy import stats

from gm_helpers.data.chirp import F_MAX, N_SAMPLES, PARAMETERS, PRIOR, RAMP, SAMPLE_RATE, T_SUN, Chirp

GM_SUN = 1.3271244e20  # m^3 / s^2, IAU 2015 nominal solar mass parameter
C_LIGHT = 299_792_458.0  # m / s
T_SUN_REFERENCE = GM_SUN / C_LIGHT**3  # 4.9254909e-6 s; the module's rounded T_SUN is checked against it

# a prior whose chirps stay below the Nyquist frequency of a 32-sample, 32 Hz series
SLOW_PRIOR = {"Mc": (100.0, 200.0), "A": (0.5, 1.5), "t_c": (0.8, 0.9), "phi_c": (0.0, 2 * np.pi)}


def newtonian_frequency(mc, tau):
    """f(tau) in Hz of a chirp of chirp mass mc (Msun), tau seconds before coalescence."""
    return (5 / (256 * tau)) ** 0.375 * (mc * T_SUN) ** -0.625 / np.pi


def newtonian_phase(mc, phi_c, tau):
    return phi_c - 2 * (tau / (5 * mc * T_SUN)) ** 0.625


def tau_at_frequency(mc, f):
    """The inverse of newtonian_frequency: tau at which the chirp reaches f."""
    return 5 / 256 * (np.pi * f) ** (-8 / 3) * (mc * T_SUN) ** (-5 / 3)


def unit_window_mask(times, theta):
    """Where the window is exactly 1: after the ramp, before 0.7 F_MAX (so before t_c)."""
    mc, _, t_c, _ = theta
    return (times > RAMP) & (times < t_c - tau_at_frequency(mc, 0.7 * F_MAX))


def colouring_matrix(n_samples, sample_rate):
    """The dense matrix M of x -> irfft(rfft(x, ortho) * sqrt(psd(freqs)), ortho), column by column."""
    freqs = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    f = np.maximum(freqs, 1.0)
    asd = np.sqrt((f / 15.0) ** -4 + 1.0 + (f / 70.0) ** 2)
    columns = [
        np.fft.irfft(np.fft.rfft(e, norm="ortho") * asd, n=n_samples, norm="ortho") for e in np.eye(n_samples)
    ]
    return np.stack(columns, axis=1)


@pytest.fixture(scope="module")
def fine():
    """One second at 8192 Hz: 117 samples per cycle at 70 Hz, so crossings and peaks are sharp."""
    return Chirp(n_samples=8192, sample_rate=8192.0)


@pytest.fixture(scope="module")
def many():
    """10^5 seeded simulations of the default simulator, and how long they took."""
    start = time.perf_counter()
    theta, x = Chirp().simulate(100_000, seed=2024)
    return theta, x, time.perf_counter() - start


FINE_THETAS = [(25.0, 1.0, 0.85, 0.3), (38.0, 0.7, 0.82, 4.0), (21.0, 1.3, 0.89, 6.0)]


# --- constants -------------------------------------------------------------------------------------


def test_constants():
    """The constants are those of the module docstring; T_SUN is G Msun / c^3 (IAU nominal)."""
    assert PARAMETERS == ("Mc", "A", "t_c", "phi_c")
    assert (N_SAMPLES, SAMPLE_RATE, F_MAX, RAMP) == (256, 256.0, 100.0, 0.1)
    assert abs(T_SUN / T_SUN_REFERENCE - 1) < 1e-6
    assert PRIOR["Mc"] == (20.0, 40.0) and PRIOR["A"] == (0.5, 1.5) and PRIOR["t_c"] == (0.8, 0.9)
    assert PRIOR["phi_c"] == (0.0, pytest.approx(2 * np.pi))


# --- the waveform against the Newtonian chirp ---------------------------------------------------------


@pytest.mark.parametrize("theta", FINE_THETAS)
def test_zero_crossings_follow_the_newtonian_frequency(fine, theta):
    """Half a period is the time between successive zero crossings of the noise-free waveform:
    1 / (2 dt) matches f(tau) at the midpoint to 1 % wherever the window is 1."""
    h = fine.waveform(theta)[0]
    t = fine.times
    i = np.flatnonzero(h[:-1] * h[1:] < 0)
    crossings = t[i] - h[i] * (t[i + 1] - t[i]) / (h[i + 1] - h[i])  # linear interpolation
    crossings = crossings[unit_window_mask(crossings, theta)]
    assert len(crossings) > 30
    measured = 1 / (2 * np.diff(crossings))
    midpoints = (crossings[1:] + crossings[:-1]) / 2
    expected = newtonian_frequency(theta[0], theta[2] - midpoints)
    assert expected.min() < 30 and expected.max() > 50  # the sweep is covered
    np.testing.assert_allclose(measured, expected, rtol=0.01)


def test_frequency_method_matches_the_formula_and_the_phase_derivative():
    """Chirp.frequency equals the formula (NaN at and after t_c), and 2 pi f is the time derivative
    of the phase Phi(t_c - t) computed here (central finite differences)."""
    sim = Chirp()
    theta = sim.sample_prior(20, seed=1)
    times = np.linspace(0.0, 0.95, 400)
    f = sim.frequency(theta, times)
    assert f.shape == (20, 400)
    tau = theta[:, 2:3] - times[None, :]
    alive = tau > 0
    assert np.all(np.isnan(f[~alive])) and not np.any(np.isnan(f[alive]))
    expected = newtonian_frequency(theta[:, 0:1], np.where(alive, tau, 1.0))
    np.testing.assert_allclose(f[alive], expected[alive], rtol=1e-12)
    # the phase derivative, where tau > 0.01 s (the step is 1e-6 s)
    keep = tau > 0.01
    eps = 1e-6
    mc, phi_c = theta[:, 0:1], theta[:, 3:4]
    tau = np.where(keep, tau, 1.0)
    dphase = (newtonian_phase(mc, phi_c, tau - eps) - newtonian_phase(mc, phi_c, tau + eps)) / (2 * eps)
    np.testing.assert_allclose(2 * np.pi * f[keep], dphase[keep], rtol=1e-6)
    # default times are the series' times
    np.testing.assert_array_equal(sim.frequency(theta[:2]), sim.frequency(theta[:2], sim.times))


@pytest.mark.parametrize("theta", FINE_THETAS)
def test_waveform_is_the_newtonian_chirp_where_the_window_is_one(fine, theta):
    """h(t) = A tau^(-1/4) cos(Phi(tau)) exactly where the window is 1; the ramp and the fade are
    the half-cosines of the docstring; the phase enters as phi_c (a shift by pi flips the sign)."""
    mc, amplitude, t_c, phi_c = theta
    h = fine.waveform(theta)[0]
    t = fine.times
    tau = np.where(t < t_c, t_c - t, 1.0)
    chirp = amplitude * tau**-0.25 * np.cos(newtonian_phase(mc, phi_c, tau))
    unit = unit_window_mask(t, theta)
    assert unit.sum() > 4000
    np.testing.assert_allclose(h[unit], chirp[unit], rtol=1e-9, atol=1e-12)
    # the windows: half-cosine ramp over [0, RAMP], half-cosine fade from 0.7 to 1 F_MAX
    f = newtonian_frequency(mc, tau)
    ramp = np.clip(t / RAMP, 0, 1)
    fade = np.clip((f - 0.7 * F_MAX) / (0.3 * F_MAX), 0, 1)
    window = 0.5 * (1 - np.cos(np.pi * ramp)) * 0.5 * (1 + np.cos(np.pi * fade)) * (t < t_c)
    np.testing.assert_allclose(h, chirp * window, rtol=1e-9, atol=1e-12)
    flipped = fine.waveform((mc, amplitude, t_c, (phi_c + np.pi) % (2 * np.pi)))[0]
    np.testing.assert_allclose(flipped, -h, atol=1e-9)


@pytest.mark.parametrize("theta", FINE_THETAS)
def test_amplitude_envelope_goes_like_tau_to_the_minus_quarter(fine, theta):
    """The peaks of |h| where the window is 1 lie on A tau^(-1/4) (to 0.2 %), and a log-log fit
    of the peaks against tau has slope -1/4."""
    mc, amplitude, t_c, _ = theta
    h = np.abs(fine.waveform(theta)[0])
    t = fine.times
    peaks = np.flatnonzero((h[1:-1] > h[:-2]) & (h[1:-1] >= h[2:])) + 1
    peaks = peaks[unit_window_mask(t[peaks], theta)]
    assert len(peaks) > 30
    tau = t_c - t[peaks]
    ratio = h[peaks] / (amplitude * tau**-0.25)
    assert np.all(ratio <= 1 + 1e-12) and np.all(ratio > 0.998)
    slope, _ = np.polyfit(np.log(tau), np.log(h[peaks]), 1)
    assert slope == pytest.approx(-0.25, abs=0.003)


def test_waveform_is_zero_after_coalescence_and_above_f_max():
    """Nothing after t_c, nor where the chirp would be above F_MAX; not zero earlier on."""
    sim = Chirp()
    theta = sim.sample_prior(200, seed=3)
    h = sim.waveform(theta)
    tau = theta[:, 2:3] - sim.times[None, :]
    after = tau <= 0
    assert after.sum(axis=1).min() >= 20
    assert np.all(h[after] == 0.0)
    above = ~after & (newtonian_frequency(theta[:, 0:1], np.where(after, 1.0, tau)) >= F_MAX)
    assert np.all(h[above] == 0.0)
    middle = (sim.times > 0.3) & (sim.times < 0.6)
    assert np.all(np.sum(h[:, middle] != 0, axis=1) > 0.9 * middle.sum())


# --- noise and likelihood -------------------------------------------------------------------------


def test_white_log_likelihood_is_the_multivariate_normal():
    """log p(x | theta) = log N(x; h(theta), I): for several theta and one series (m,), and for
    one series per theta (n,)."""
    sim = Chirp()
    _, x = sim.simulate(4, seed=11)
    theta = sim.sample_prior(4, seed=12)
    h = sim.waveform(theta)
    identity = np.eye(N_SAMPLES)
    one = sim.log_likelihood(theta, x[0])
    expected = [stats.multivariate_normal(mean=h[i], cov=identity).logpdf(x[0]) for i in range(4)]
    assert one.shape == (4,)
    np.testing.assert_allclose(one, expected, rtol=1e-10)
    rows = sim.log_likelihood(theta, x)
    expected = [stats.multivariate_normal(mean=h[i], cov=identity).logpdf(x[i]) for i in range(4)]
    assert rows.shape == (4,)
    np.testing.assert_allclose(rows, expected, rtol=1e-10)
    single = sim.log_likelihood(theta[0], x[0])
    assert single.shape == (1,) and single[0] == pytest.approx(expected[0], rel=1e-10)


@pytest.mark.parametrize("n_samples", [32, 33])
def test_coloured_log_likelihood_is_the_dense_gaussian_of_the_raw_strain(n_samples):
    """Raw strain = coloured noise (M z, with M the colouring map as a dense matrix) + the raw
    waveform: the coloured simulator's likelihood of the whitened strain equals
    log N(raw; h_raw, C = M M^T) by scipy, to 1e-8 relative (even and odd lengths)."""
    rate = float(n_samples)
    coloured = Chirp("coloured", n_samples=n_samples, sample_rate=rate, prior=SLOW_PRIOR)
    white = Chirp("white", n_samples=n_samples, sample_rate=rate, prior=SLOW_PRIOR)
    m = colouring_matrix(n_samples, rate)
    cov = m @ m.T
    rng = np.random.default_rng(5)
    theta_true = coloured.sample_prior(1, seed=6)
    raw = white.waveform(theta_true)[0] + m @ rng.standard_normal(n_samples)
    whitened = np.linalg.solve(m, raw)
    np.testing.assert_allclose(coloured.whiten(raw), whitened, rtol=1e-9, atol=1e-12)
    theta = np.concatenate([theta_true, coloured.sample_prior(5, seed=7)])
    h_raw = white.waveform(theta)
    assert np.all(np.linalg.norm(h_raw, axis=1) > 0.5)
    np.testing.assert_allclose(coloured.waveform(theta), np.linalg.solve(m, h_raw.T).T, rtol=1e-9, atol=1e-12)
    got = coloured.log_likelihood(theta, coloured.whiten(raw))
    expected = [stats.multivariate_normal(mean=h, cov=cov).logpdf(raw) for h in h_raw]
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert coloured.log_normalization() == pytest.approx(
        -0.5 * n_samples * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(cov)[1], rel=1e-10
    )


def test_psd_formula_and_coloured_noise_spectrum():
    """psd(f) = (f/15)^-4 + 1 + (f/70)^2 (f floored at 1 Hz); the mean periodogram of coloured noise
    is the PSD in every Fourier bin (10^4 series, within 8 %: > 5 standard errors)."""
    f = np.array([0.0, 0.5, 1.0, 3.0, 15.0, 40.0, 70.0, 128.0])
    g = np.maximum(f, 1.0)
    np.testing.assert_allclose(Chirp.psd(f), (g / 15) ** -4 + 1 + (g / 70) ** 2, rtol=1e-14)
    sim = Chirp("coloured")
    noise = sim.coloured_noise(10_000, seed=8)
    assert noise.shape == (10_000, N_SAMPLES)
    periodogram = np.mean(np.abs(np.fft.rfft(noise, norm="ortho")) ** 2, axis=0)
    freqs = np.fft.rfftfreq(N_SAMPLES, 1 / SAMPLE_RATE)
    np.testing.assert_allclose(periodogram / Chirp.psd(freqs), 1.0, atol=0.08)


def test_coloured_noise_covariance_matches_the_dense_covariance():
    """The sample correlation and variance of coloured_noise match C = M M^T (4 * 10^4 series)."""
    n, rate = 32, 32.0
    sim = Chirp("coloured", n_samples=n, sample_rate=rate, prior=SLOW_PRIOR)
    m = colouring_matrix(n, rate)
    cov = m @ m.T
    noise = sim.coloured_noise(40_000, seed=9)
    sample_cov = noise.T @ noise / len(noise)
    np.testing.assert_allclose(np.diag(sample_cov) / np.diag(cov), 1.0, atol=0.04)
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.testing.assert_allclose(sample_cov / scale, cov / scale, atol=0.03)
    assert np.max(np.abs(cov / scale - np.eye(n))) > 0.5  # the noise is strongly correlated


def test_whitened_coloured_noise_is_white():
    """whiten(coloured noise): per-sample variance 1 and correlations 0 between samples (2 * 10^4
    series of 256: standard errors 0.01 and 0.007; tolerances 0.05)."""
    sim = Chirp("coloured")
    noise = sim.coloured_noise(20_000, seed=10)
    raw_corr = np.corrcoef(noise[:, :64], rowvar=False)
    assert np.max(np.abs(raw_corr - np.eye(64))) > 0.5  # before whitening: correlated
    w = sim.whiten(noise)
    assert w.shape == noise.shape
    assert np.max(np.abs(w.mean(axis=0))) < 0.05
    cov = w.T @ w / len(w)
    np.testing.assert_allclose(np.diag(cov), 1.0, atol=0.05)
    assert np.max(np.abs(cov - np.diag(np.diag(cov)))) < 0.05
    # white noise: the whitening is the identity
    x = np.random.default_rng(0).standard_normal((3, N_SAMPLES))
    np.testing.assert_array_equal(Chirp().whiten(x), x)


def test_log_normalization_of_the_default_coloured_noise():
    """-N/2 log 2 pi - 1/2 log det C with log det C the sum of log psd over all N bins of the full
    (two-sided) DFT: the eigenvalues of the circulant covariance."""
    freqs = np.abs(np.fft.fftfreq(N_SAMPLES, 1 / SAMPLE_RATE))
    g = np.maximum(freqs, 1.0)
    log_det = np.sum(np.log((g / 15) ** -4 + 1 + (g / 70) ** 2))
    expected = -0.5 * N_SAMPLES * np.log(2 * np.pi) - 0.5 * log_det
    assert Chirp("coloured").log_normalization() == pytest.approx(expected, rel=1e-12)
    assert Chirp().log_normalization() == pytest.approx(-0.5 * N_SAMPLES * np.log(2 * np.pi), rel=1e-14)


@pytest.mark.parametrize("noise", ["white", "coloured"])
def test_likelihood_peaks_at_the_true_parameters_of_a_noise_free_series(noise):
    """For x = h(theta*) without noise, log p(x | theta*) is >= its value at each parameter moved
    a little either way and at 200 prior draws, and equals the normalization constant."""
    sim = Chirp(noise)
    theta_true = np.array([30.0, 1.0, 0.85, 3.0])
    x = sim.waveform(theta_true)[0]
    steps = np.array([0.05, 0.01, 0.0005, 0.05])
    moves = [sign * k * steps[j] * np.eye(4)[j] for j in range(4) for sign in (-1, 1) for k in (1, 4)]
    perturbed = theta_true + np.array(moves)
    others = np.concatenate([perturbed, sim.sample_prior(200, seed=4)])
    at_truth = sim.log_likelihood(theta_true, x)[0]
    elsewhere = sim.log_likelihood(others, x)
    assert np.all(elsewhere < at_truth)
    expected = -0.5 * N_SAMPLES * np.log(2 * np.pi)
    if noise == "white":
        assert at_truth == pytest.approx(expected, rel=1e-12)


# --- seeds, speed, shapes, prior ------------------------------------------------------------------


def test_seeded_and_reproducible():
    """Same seed, same output; different seeds, different output; a Generator is accepted."""
    sim = Chirp()
    theta1, x1 = sim.simulate(50, seed=7)
    theta2, x2 = sim.simulate(50, seed=7)
    np.testing.assert_array_equal(theta1, theta2)
    np.testing.assert_array_equal(x1, x2)
    theta3, x3 = sim.simulate(50, seed=8)
    assert not np.any(theta1 == theta3) and not np.any(x1 == x3)
    theta4, x4 = sim.simulate(50, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(x4, x1)
    # given theta: the noise alone is random; its mean is the waveform
    theta = np.tile([30.0, 1.0, 0.85, 3.0], (2000, 1))
    _, xa = sim.simulate(2000, seed=1, theta=theta)
    _, xb = sim.simulate(2000, seed=1, theta=theta)
    np.testing.assert_array_equal(xa, xb)
    residual = xa - sim.waveform(theta)
    assert abs(residual.mean()) < 0.01 and residual.std() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(sim.sample_prior(5, seed=3), sim.sample_prior(5, seed=3))


def test_hundred_thousand_simulations_are_fast_with_the_right_shapes(many):
    """10^5 simulations in under 20 s (vectorized), shapes (n, 4) and (n, 256), float64, finite."""
    theta, x, seconds = many
    assert seconds < 20
    assert theta.shape == (100_000, 4) and x.shape == (100_000, N_SAMPLES)
    assert theta.dtype == np.float64 and x.dtype == np.float64 and np.all(np.isfinite(x))
    theta0, x0 = Chirp("coloured").simulate(0, seed=0)
    assert theta0.shape == (0, 4) and x0.shape == (0, N_SAMPLES)


def test_prior_samples_are_uniform_in_the_box(many):
    """Prior draws lie inside the box and each parameter is uniform there (KS, p > 1e-3)."""
    theta = many[0]
    for j, name in enumerate(PARAMETERS):
        lo, hi = PRIOR[name]
        assert np.all((theta[:, j] >= lo) & (theta[:, j] <= hi))
        assert stats.kstest((theta[:, j] - lo) / (hi - lo), "uniform").pvalue > 1e-3
    # a custom prior is respected
    sim = Chirp(prior=SLOW_PRIOR)
    draws = sim.sample_prior(5000, seed=0)
    assert np.all((draws[:, 0] >= 100) & (draws[:, 0] <= 200))
    assert stats.kstest((draws[:, 0] - 100) / 100, "uniform").pvalue > 1e-3


def test_log_prior_is_minus_log_volume_inside_and_minus_infinity_outside():
    """log_prior = -(log 20 + log 1 + log 0.1 + log 2 pi) inside (boundaries included), -inf outside."""
    sim = Chirp()
    inside = np.array([[20.0, 0.5, 0.8, 0.0], [40.0, 1.5, 0.9, 2 * np.pi], [30.0, 1.0, 0.85, 1.0]])
    expected = -(np.log(20.0) + np.log(1.0) + np.log(0.1) + np.log(2 * np.pi))
    np.testing.assert_allclose(sim.log_prior(inside), expected, rtol=1e-12)
    assert np.all(sim.in_prior(inside))
    outside = np.repeat(inside[2:3], 8, axis=0)
    for j, (lo, hi) in enumerate(PRIOR[p] for p in PARAMETERS):
        outside[2 * j, j] = lo - 1e-6
        outside[2 * j + 1, j] = hi + 1e-6
    assert np.all(sim.log_prior(outside) == -np.inf)
    assert not np.any(sim.in_prior(outside))
    lp = Chirp(prior=SLOW_PRIOR).log_prior(np.array([150.0, 1.0, 0.85, 1.0]))
    assert lp.shape == (1,) and lp[0] == pytest.approx(-(np.log(100.0) + np.log(0.1) + np.log(2 * np.pi)))


def test_snr_distribution_of_the_default_prior():
    """The optimal SNR sqrt(sum h^2) of prior draws lies between 5 and 25 (at least 95 %), and it
    is proportional to the amplitude A."""
    sim = Chirp()
    theta = sim.sample_prior(2000, seed=13)
    snr = sim.snr(theta)
    np.testing.assert_allclose(snr, np.sqrt(np.sum(sim.waveform(theta) ** 2, axis=1)), rtol=1e-12)
    assert np.mean((snr > 5) & (snr < 25)) >= 0.95
    assert 8 < np.median(snr) < 20
    low, high = theta[:10].copy(), theta[:10].copy()
    low[:, 1], high[:, 1] = 0.6, 1.2
    np.testing.assert_allclose(sim.snr(high) / sim.snr(low), 2.0, rtol=1e-12)
    coloured = Chirp("coloured").snr(theta)
    assert np.mean((coloured > 5) & (coloured < 25)) >= 0.95


# --- bad input ------------------------------------------------------------------------------------

GOOD = np.array([30.0, 1.0, 0.85, 3.0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.waveform([50.0, 1.0, 0.85, 3.0]), "outside the prior"),
        (lambda s: s.simulate(1, seed=0, theta=[30.0, 2.0, 0.85, 3.0]), "outside the prior"),
        (lambda s: s.log_likelihood([30.0, 1.0, 0.95, 3.0], np.zeros(N_SAMPLES)), "outside the prior"),
        (lambda s: s.waveform(np.ones((2, 3))), r"theta must have shape \(n, 4\)"),
        (lambda s: s.log_likelihood(np.ones((2, 3)), np.zeros(N_SAMPLES)), r"theta must have shape \(n, 4\)"),
        (lambda s: s.waveform(np.ones((2, 2, 4))), "theta must have shape"),
        (lambda s: s.log_likelihood(GOOD, np.zeros(N_SAMPLES - 1)), "x must have shape"),
        (lambda s: s.log_likelihood(np.tile(GOOD, (3, 1)), np.zeros((2, N_SAMPLES))), "x must have shape"),
        (lambda s: s.log_likelihood(GOOD, np.zeros((1, 1, N_SAMPLES))), "x must have shape"),
        (lambda s: s.waveform([np.nan, 1.0, 0.85, 3.0]), "NaN"),
        (lambda s: s.log_likelihood(GOOD, np.full(N_SAMPLES, np.nan)), "NaN"),
        (lambda s: s.log_prior([30.0, np.inf, 0.85, 3.0]), "NaN or infinite"),
        (lambda s: s.sample_prior(-1), "non-negative integer"),
        (lambda s: s.simulate(-5), "non-negative integer"),
        (lambda s: s.noise_sample(2.5), "non-negative integer"),
        (lambda s: s.coloured_noise(-1), "non-negative integer"),
        (lambda s: s.simulate(3, seed=0, theta=np.tile(GOOD, (2, 1))), "theta has 2 rows, expected n = 3"),
        (lambda s: s.sample_prior(2, seed=-1), "seed must be"),
    ],
)
def test_bad_input_raises(call, match):
    """Bad theta, x, counts and seeds raise ValueError with a message saying what is wrong."""
    with pytest.raises(ValueError, match=match):
        call(Chirp())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"noise": "pink"}, "noise must be one of"),
        ({"n_samples": 8}, "n_samples must be an integer >= 16"),
        ({"sample_rate": 0.0}, "sample_rate must be positive"),
        ({"prior": {**PRIOR, "Mc": (40.0, 20.0)}}, "prior of Mc must be a finite interval low < high"),
        ({"prior": {**PRIOR, "t_c": (0.9, 0.9)}}, "prior of t_c must be a finite interval"),
        ({"prior": {**PRIOR, "A": (0.5, np.inf)}}, "prior of A must be a finite interval"),
        ({"prior": {k: v for k, v in PRIOR.items() if k != "A"}}, r"prior must give \(low, high\) for each"),
        ({"prior": {**PRIOR, "distance": (1.0, 2.0)}}, "prior must give"),
        ({"prior": {**PRIOR, "Mc": (-1.0, 20.0)}}, "chirp mass positive"),
    ],
)
def test_bad_construction_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Chirp(**kwargs)
