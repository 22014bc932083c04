"""Tests of the RICH particle-identification stand-in, gm_helpers.data.pid.

References, all written out here and not taken from the module: the Cherenkov relations
cos(theta) = 1 / (n beta) and p_th = m / sqrt(n^2 - 1) with PDG masses; the thresholds quoted by
LHCb for C4F10 (n - 1 = 1.4e-3: pi 2.6, K 9.3, p 17.7 GeV) and CF4 (n - 1 = 5e-4: pi 4.4, K 15.6,
p 29.7 GeV); the conditions' distributions of the specification (ln p ~ N(ln 20, 0.8) on [3, 200] GeV,
eta ~ U(1.8, 5.5), nTracks = floor of a Gamma(3, scale 60) on [1, 1000), charge +-1) through
scipy.stats; and the specification's photon yield lambda = N0 f(eta) sin^2(theta) / sin^2(theta_max)
(N0 = 30 and 22, f(eta) = 1 -+ 0.3 (eta - 3.65) / 1.85), which bounds the DLLK of a track that is
dark in both radiators. The statistical margins were measured with these seeds and are quoted next
to each check (with their statistical errors); the behaviour on the conditions (p, eta, nTracks) is
what a conditional generative model of the DLLs has to learn.
"""

import time

import numpy as np
import pytest
from scipy import stats

from gm_helpers.data.pid import (
    CONDITIONS,
    DLL_CLIP,
    MASSES,
    OUTPUTS,
    RADIATORS,
    SPECIES,
    Tracks,
    cherenkov_angle,
    simulate,
    simulate_conditions,
    threshold_momentum,
)

# PDG 2022 masses in GeV, independently of the module's rounded MASSES
PDG = {"e": 0.51099895e-3, "mu": 0.1056583755, "pi": 0.13957039, "K": 0.493677, "p": 0.93827208816}
N_C4F10 = 1 + 1.4e-3  # RICH1
N_CF4 = 1 + 5e-4  # RICH2
QUOTED_THRESHOLDS = {  # GeV, as quoted for the LHCb RICH radiators
    N_C4F10: {"pi": 2.6, "K": 9.3, "p": 17.7},
    N_CF4: {"pi": 4.4, "K": 15.6, "p": 29.7},
}
DLLK, DLLP = OUTPUTS.index("DLLK"), OUTPUTS.index("DLLp")


def reference_threshold(mass, n):
    return mass / np.sqrt(n**2 - 1)


def reference_angle(p, mass, n):
    """arccos(1 / (n beta)), NaN where n beta <= 1."""
    beta = p / np.sqrt(p**2 + mass**2)
    with np.errstate(invalid="ignore"):
        return np.where(n * beta > 1, np.arccos(np.minimum(1 / (n * beta), 1.0)), np.nan)


# the specification per radiator: index, N0, slope of the yield in eta, single-photon resolution, b0
SPEC = ((N_C4F10, 30.0, -0.3, 1.6e-3, 12.0), (N_CF4, 22.0, 0.3, 0.7e-3, 9.0))


def radiator_photons(p, mass, eta):
    """The specification's signal yield per radiator: lambda = N0 f(eta) sin^2(theta) / sin^2(theta_max),
    f = (1 + slope x)(1 - 0.3 x^2), x = (eta - 3.65) / 1.85; no light below threshold."""
    x = (eta - 3.65) / 1.85
    out = []
    for n, n0, slope, _, _ in SPEC:
        theta = np.nan_to_num(reference_angle(p, mass, n))
        out.append(
            n0 * (1 + slope * x) * (1 - 0.3 * x**2) * np.sin(theta) ** 2 / np.sin(np.arccos(1 / n)) ** 2
        )
    return out


def expected_photons(p, mass, eta):
    """The signal yield summed over both radiators."""
    return sum(radiator_photons(p, mass, eta))


def fixed_conditions(n, p, eta, n_tracks, charge=1.0):
    """n identical condition rows (p, eta, nTracks, charge)."""
    return np.tile([p, eta, n_tracks, charge], (n, 1)).astype(np.float64)


def in_range(tracks, lo, hi):
    return tracks[(tracks.p > lo) & (tracks.p < hi)]


@pytest.fixture(scope="module")
def samples():
    """10^5 pions, kaons and protons with the stand-in's conditions."""
    return {h: simulate(h, 100_000, seed=11 + i) for i, h in enumerate(("pi", "K", "p"))}


# --- Cherenkov kinematics ---------------------------------------------------------------------------


def test_constants():
    assert SPECIES == ("e", "mu", "pi", "K", "p")
    assert CONDITIONS == ("p", "eta", "nTracks", "charge")
    assert OUTPUTS == ("DLLe", "DLLmu", "DLLK", "DLLp")
    assert DLL_CLIP == 150.0
    for h in SPECIES:  # the module's masses are PDG's, rounded
        assert MASSES[h] == pytest.approx(PDG[h], rel=5e-5)
    assert [r.n for r in RADIATORS] == pytest.approx([N_C4F10, N_CF4], rel=1e-12)


def test_thresholds_against_the_formula_and_the_quoted_values():
    """threshold_momentum against m / sqrt(n^2 - 1) with PDG masses, and both against LHCb's
    quoted thresholds to 0.1 GeV."""
    for radiator in RADIATORS:
        n = N_C4F10 if radiator.n_minus_1 == 1.4e-3 else N_CF4
        for h, quoted in QUOTED_THRESHOLDS[n].items():
            reference = reference_threshold(PDG[h], n)
            assert round(reference, 1) == quoted
            module = float(threshold_momentum(MASSES[h], radiator.n))
            assert module == pytest.approx(reference, rel=5e-5)
            assert abs(module - quoted) < 0.05
    # vectorized over masses
    masses = np.array([PDG["pi"], PDG["K"], PDG["p"]])
    assert np.allclose(threshold_momentum(masses, N_CF4), reference_threshold(masses, N_CF4), rtol=1e-12)


def test_cherenkov_angle_formula_threshold_and_saturation():
    """cherenkov_angle against arccos(1 / (n beta)) above threshold (rtol 1e-10), NaN below;
    increasing with p; saturating at arccos(1 / n); and near the small-angle form
    theta^2 = 2 (n - 1) - (m / p)^2."""
    for n in (N_C4F10, N_CF4):
        theta_max = np.arccos(1 / n)
        for h in ("e", "mu", "pi", "K", "p"):
            p_th = reference_threshold(PDG[h], n)
            below = np.linspace(0.05, 0.999, 50) * p_th
            assert np.all(np.isnan(cherenkov_angle(below, PDG[h], n)))
            above = np.geomspace(1.001 * p_th, 1e4, 400)
            theta = cherenkov_angle(above, PDG[h], n)
            assert np.all(np.isfinite(theta))
            assert np.allclose(theta, reference_angle(above, PDG[h], n), rtol=1e-10, atol=0)
            assert np.all(np.diff(theta) >= 0)
            assert np.all(np.diff(theta[above < 1000 * p_th]) > 0)  # before it saturates in float64
            assert np.all(theta < theta_max)
            assert theta[-1] == pytest.approx(theta_max, rel=1e-5)
            assert np.allclose(theta**2, 2 * (n - 1) - (PDG[h] / above) ** 2, atol=1e-5)
    # mixed below / above threshold in one call, and broadcasting over masses
    p = np.array([5.0, 12.0, 25.0, 40.0])
    theta = cherenkov_angle(p, PDG["K"], N_CF4)
    assert np.array_equal(np.isnan(theta), [True, True, False, False])
    masses = np.array([[PDG["pi"]], [PDG["K"]], [PDG["p"]]])
    grid = cherenkov_angle(p[None, :], masses, N_C4F10)
    assert grid.shape == (3, 4)
    assert np.allclose(grid, reference_angle(p[None, :], masses, N_C4F10), rtol=1e-10, equal_nan=True)
    # heavier particles have smaller angles at the same momentum
    assert np.all(grid[0, 1:] > grid[1, 1:]) and grid[1, 3] > grid[2, 3]


# --- conditions -------------------------------------------------------------------------------------


def test_conditions_ranges_and_distributions():
    """simulate_conditions against the specification through scipy: ln p a N(ln 20, 0.8) truncated to
    [ln 3, ln 200] (scipy.stats.truncnorm), eta U(1.8, 5.5) (KS), nTracks the floor of a Gamma(3, 60)
    truncated to [1, 1000) (scipy.stats.gamma: chi-square in bins, mean), charge +-1 balanced."""
    n = 100_000
    c = simulate_conditions(n, seed=3)
    assert c.shape == (n, 4) and c.dtype == np.float64
    p, eta, n_tracks, charge = c.T
    assert np.all((p >= 3) & (p <= 200))
    assert np.all((eta >= 1.8) & (eta <= 5.5))
    assert np.all((n_tracks >= 1) & (n_tracks < 1000)) and np.array_equal(n_tracks, np.floor(n_tracks))
    assert set(np.unique(charge)) == {-1.0, 1.0}

    # ln p: the truncated normal (measured: median 20.06 GeV vs 20.14, std 0.765 vs 0.769)
    log_p = np.log(p)
    a, b = (np.log(3) - np.log(20)) / 0.8, (np.log(200) - np.log(20)) / 0.8
    truncated = stats.truncnorm(a, b, loc=np.log(20), scale=0.8)
    assert abs(np.median(p) / 20 - 1) < 0.05
    assert abs(np.median(p) / np.exp(truncated.median()) - 1) < 0.02  # statistical error 0.3%
    assert abs(log_p.std() / 0.8 - 1) < 0.1
    assert abs(log_p.std() - truncated.std()) < 5 * truncated.std() / np.sqrt(2 * n)
    assert abs(log_p.mean() - truncated.mean()) < 5 * truncated.std() / np.sqrt(n)
    assert stats.kstest(log_p, truncated.cdf).pvalue > 1e-3

    # eta
    assert stats.kstest(eta, stats.uniform(1.8, 3.7).cdf).pvalue > 1e-3

    # nTracks: floor(X) in [k, k + 1) iff X in [k, k + 1), so the binned probabilities are exact
    gamma = stats.gamma(3.0, scale=60.0)
    inside = gamma.cdf(1000) - gamma.cdf(1)
    k = np.arange(1, 1000)
    weights = (gamma.cdf(k + 1) - gamma.cdf(k)) / inside
    reference_mean = np.sum(k * weights)
    reference_std = np.sqrt(np.sum(k**2 * weights) - reference_mean**2)
    assert 175 < reference_mean < 185  # about 180 (measured: 179.1 vs 179.5, error 0.33)
    assert abs(n_tracks.mean() - reference_mean) < 5 * reference_std / np.sqrt(n)
    edges = np.array([1, 25, 50, 100, 150, 200, 300, 400, 600, 1000])
    observed = np.histogram(n_tracks, edges)[0]
    expected = n * np.diff(gamma.cdf(edges)) / inside
    assert stats.chisquare(observed, expected).pvalue > 1e-3

    # charge: binomial error 1/sqrt(n) = 0.003
    assert abs(charge.mean()) < 5 / np.sqrt(n)


# --- the DLLs ---------------------------------------------------------------------------------------


def test_dll_shapes_clipping_and_medians(samples):
    """DLLs are (n, 4), within +-DLL_CLIP, clipped for some tracks; relative to the pion hypothesis:
    pions have negative median DLLK and DLLp (measured -50 and -63), kaons above 20 GeV DLLK > 0
    (measured 97%), protons of 20-50 GeV DLLp > DLLK (measured 100%)."""
    for h, tracks in samples.items():
        assert isinstance(tracks, Tracks) and tracks.species == h
        assert tracks.dll.shape == (100_000, 4) and tracks.conditions.shape == (100_000, 4)
        assert np.all(np.isfinite(tracks.dll))
        assert np.all(np.abs(tracks.dll) <= DLL_CLIP)
    pions, kaons, protons = samples["pi"], samples["K"], samples["p"]
    # the clip is reached by a few tracks (measured: 0.2% of the pions' DLLs)
    assert np.mean(np.abs(pions.dll) == DLL_CLIP) > 0  # the clip is reached, by a few tracks
    assert np.median(pions.dll[:, DLLK]) < 0 and np.median(pions.dll[:, DLLP]) < 0
    assert np.mean(kaons[kaons.p > 20].dll[:, DLLK] > 0) > 0.9
    fast_protons = in_range(protons, 20, 50)
    assert np.mean(fast_protons.dll[:, DLLP] - fast_protons.dll[:, DLLK] > 0) > 0.9
    # and the other way round: kaons are not protons, protons are not pions
    assert np.median(kaons.dll[:, DLLK]) > 0 and np.median(protons.dll[:, DLLP]) > 0


def test_threshold_region_kaons_are_dark_pions_are_not(samples):
    """Between 3 GeV and the kaon's C4F10 threshold (9.3 GeV, from the formula) kaons emit no light in
    either radiator while pions (above 2.6 GeV) do: kaons' DLLK > 0 (measured 99.7%) and pions' DLLK < 0
    (measured 98.3%), each required > 95%."""
    assert reference_threshold(PDG["K"], N_C4F10) > 9 and reference_threshold(PDG["pi"], N_C4F10) < 3
    kaons, pions = in_range(samples["K"], 3, 9), in_range(samples["pi"], 3, 9)
    assert len(kaons) > 10_000 and len(pions) > 10_000
    assert np.mean(kaons.dll[:, DLLK] > 0) > 0.95
    assert np.mean(pions.dll[:, DLLK] < 0) > 0.95


def test_below_the_kaon_threshold_kaon_and_proton_hypotheses_coincide(samples):
    """Below 9.3 GeV both the K and the p hypotheses expect no ring in either radiator, so their
    likelihoods are the same and DLLK == DLLp exactly for every species; above the kaon's threshold
    (and below the proton's, 17.7 GeV) they differ where neither DLL is clipped."""
    k_threshold = reference_threshold(PDG["K"], N_C4F10)
    p_threshold = reference_threshold(PDG["p"], N_C4F10)
    for tracks in samples.values():
        dark = tracks[tracks.p < k_threshold - 0.01]
        assert len(dark) > 10_000
        assert np.array_equal(dark.dll[:, DLLK], dark.dll[:, DLLP])
        lit = in_range(tracks, k_threshold + 0.5, p_threshold)
        unclipped = np.all(np.abs(lit.dll[:, [DLLK, DLLP]]) < DLL_CLIP, axis=1)
        assert unclipped.sum() > 1_000
        assert np.mean(lit.dll[unclipped, DLLK] != lit.dll[unclipped, DLLP]) > 0.99


@pytest.mark.parametrize("p", [3.5, 6.0, 8.5])
@pytest.mark.parametrize("eta", [2.0, 3.65, 5.3])
def test_dark_kaons_dllk_is_bounded_by_the_expected_pion_photons(p, eta):
    """A kaon below both thresholds has only background photons, so in the extended likelihood, per
    radiator, DLLK = lambda_pi - sum_i log(1 + lambda_pi N(theta_i; theta_pi, sigma) / (b / R)) <= lambda_pi
    (lambda_pi the pion's expected photons, b the expected background photons, uniform on [0, R],
    R = 1.3 theta_max). Its mean over the Poisson(b) uniform photons is
    lambda_pi - (b / R) * integral_0^R log(1 + lambda_pi N(theta) R / b) dtheta, computed here with
    scipy's quad from the specification; a busy event (nTracks = 600) pulls DLLK lower."""
    from scipy import integrate

    lam = expected_photons(p, PDG["pi"], eta)
    assert lam > 5
    bound = lam * (1 + 1e-4)  # the module's pion mass is PDG's rounded to 3e-6: lambda changes by 1e-6
    quiet = simulate("K", conditions=fixed_conditions(5_000, p, eta, 1), seed=21).dll[:, DLLK]
    busy = simulate("K", conditions=fixed_conditions(5_000, p, eta, 600), seed=22).dll[:, DLLK]
    assert quiet.max() <= bound and busy.max() <= bound
    predicted = 0.0
    for (n, _, _, sigma_gamma, b0), lam_r in zip(SPEC, radiator_photons(p, PDG["pi"], eta), strict=True):
        theta_pi = np.nan_to_num(reference_angle(p, PDG["pi"], n))
        sigma, b = sigma_gamma * (1 + 2e-3 * 1), b0 * (1 + 1 / 150)
        r = 1.3 * np.arccos(1 / n)
        ring = stats.norm(theta_pi, sigma)
        integral, _ = integrate.quad(
            lambda t, lam_r=lam_r, ring=ring, r=r, b=b: np.log1p(lam_r * ring.pdf(t) * r / b),
            0, r, points=[theta_pi], limit=200,
        )  # fmt: skip
        predicted += lam_r - b / r * integral
    error = quiet.std() / np.sqrt(len(quiet))
    assert abs(quiet.mean() - predicted) < 5 * error + 0.05, (quiet.mean(), predicted, error)
    assert np.median(busy) < np.median(quiet) - 1


# --- dependence on the conditions -------------------------------------------------------------------


def test_kaon_dllk_shrinks_with_occupancy():
    """At the same p (20 GeV) and eta (3.65), kaons' DLLK shrinks in a busy event (worse resolution,
    more background): measured median 87 at nTracks = 50 and 32 at nTracks = 500 (errors ~0.2),
    IQR 22 and 11. Also in the sampled conditions at 10-30 GeV: median 60 for nTracks < 100 and 33
    for nTracks > 300 (errors < 0.5)."""
    quiet = simulate("K", conditions=fixed_conditions(20_000, 20.0, 3.65, 50), seed=31).dll[:, DLLK]
    busy = simulate("K", conditions=fixed_conditions(20_000, 20.0, 3.65, 500), seed=32).dll[:, DLLK]
    assert np.median(busy) < 0.6 * np.median(quiet)
    assert stats.iqr(busy) < 0.75 * stats.iqr(quiet)
    assert np.median(busy) > 0  # still kaon-like

    kaons = in_range(simulate("K", 100_000, seed=33), 10, 30)
    low, high = kaons[kaons.n_tracks < 100], kaons[kaons.n_tracks > 300]
    assert len(low) > 5_000 and len(high) > 3_000
    assert np.median(low.dll[:, DLLK]) - np.median(high.dll[:, DLLK]) > 20


def test_pion_misidentification_rises_with_momentum(samples):
    """Rings of pions and kaons merge at high momentum: the rate of DLLK > 0 for pions, measured 0.6%
    below 20 GeV and 26% above 80 GeV (binomial error 0.7%)."""
    pions = samples["pi"]
    slow, fast = pions[pions.p < 20], pions[pions.p > 80]
    assert len(slow) > 20_000 and len(fast) > 2_000
    slow_rate, fast_rate = np.mean(slow.dll[:, DLLK] > 0), np.mean(fast.dll[:, DLLK] > 0)
    assert slow_rate < 0.01
    assert fast_rate > 0.1 and fast_rate > 10 * slow_rate
    # and kaons' efficiency falls correspondingly (measured 100% and 76%)
    kaons = samples["K"]
    assert np.mean(kaons[kaons.p < 20].dll[:, DLLK] > 0) > np.mean(kaons[kaons.p > 80].dll[:, DLLK] > 0) + 0.1


def test_eta_dependence_is_visible():
    """The radiators' yields depend on eta in opposite directions and fall at both edges of the
    acceptance; at 10-30 GeV the kaons' median DLLK differs between eta < 3 and eta > 4.3 (measured 46
    and 42, errors ~0.3); at fixed (p, nTracks) = (20 GeV, 150) it differs between eta = 2.0 and 5.4
    (measured 51 and 41, errors ~0.2) and is larger at the centre, eta = 3.65, than at either edge."""
    kaons = in_range(simulate("K", 100_000, seed=41), 10, 30)
    low, high = kaons[kaons.eta < 3], kaons[kaons.eta > 4.3]
    assert len(low) > 10_000 and len(high) > 10_000
    assert abs(np.median(low.dll[:, DLLK]) - np.median(high.dll[:, DLLK])) > 2

    forward = simulate("K", conditions=fixed_conditions(20_000, 20.0, 2.0, 150), seed=42).dll[:, DLLK]
    backward = simulate("K", conditions=fixed_conditions(20_000, 20.0, 5.4, 150), seed=43).dll[:, DLLK]
    assert abs(np.median(forward) - np.median(backward)) > 5
    centre = simulate("K", conditions=fixed_conditions(20_000, 20.0, 3.65, 150), seed=44).dll[:, DLLK]
    assert np.median(centre) > max(np.median(forward), np.median(backward)) + 2


# --- seeds, conditions, speed -----------------------------------------------------------------------


def test_seeded_given_conditions_and_fast():
    """The same seed gives the same tracks, different seeds differ; given conditions are used as they
    are; 10^5 tracks take less than 5 s."""
    first, again, other = (simulate("K", 2_000, seed=s) for s in (7, 7, 8))
    assert np.array_equal(first.conditions, again.conditions) and np.array_equal(first.dll, again.dll)
    assert not np.array_equal(first.conditions, other.conditions)
    assert not np.array_equal(first.dll, other.dll)
    generator = simulate("K", 2_000, seed=np.random.default_rng(7))
    assert np.array_equal(generator.dll, first.dll)
    c = simulate_conditions(500, seed=9)
    assert np.array_equal(simulate_conditions(500, seed=9), c)

    given = simulate("p", conditions=c, seed=10)
    assert np.array_equal(given.conditions, c) and given.species == "p"
    assert np.array_equal(simulate("p", 500, seed=10, conditions=c).dll, given.dll)
    assert not np.array_equal(simulate("p", conditions=c, seed=11).dll, given.dll)
    # the given momenta matter: the same rows at 5 GeV make protons dark (DLLK == DLLp)
    slow = c.copy()
    slow[:, 0] = 5.0
    dark = simulate("p", conditions=slow, seed=10)
    assert np.array_equal(dark.dll[:, DLLK], dark.dll[:, DLLP])
    assert np.mean(given.dll[:, DLLK] != given.dll[:, DLLP]) > 0.5

    assert len(simulate("pi", 0, seed=0)) == 0 and simulate("pi", 0).dll.shape == (0, 4)

    start = time.perf_counter()
    tracks = simulate("pi", 100_000, seed=12)
    assert time.perf_counter() - start < 5
    assert len(tracks) == 100_000


# --- Tracks -----------------------------------------------------------------------------------------


def test_tracks_properties_and_indexing():
    tracks = simulate("mu", 1_000, seed=13)
    assert len(tracks) == 1_000
    for name, column in (("p", 0), ("eta", 1), ("n_tracks", 2), ("charge", 3)):
        assert np.array_equal(getattr(tracks, name), tracks.conditions[:, column])
    mask = tracks.p > 20
    assert 0 < mask.sum() < 1_000
    selected = tracks[mask]
    assert isinstance(selected, Tracks) and selected.species == "mu" and len(selected) == mask.sum()
    assert np.array_equal(selected.conditions, tracks.conditions[mask])
    assert np.array_equal(selected.dll, tracks.dll[mask])
    picked = tracks[np.array([5, 2, 9])]
    assert np.array_equal(picked.dll, tracks.dll[[5, 2, 9]])
    assert len(tracks[10:20]) == 10 and np.array_equal(tracks[10:20].p, tracks.p[10:20])
    # built by hand (lists are converted to float arrays)
    built = Tracks([[10.0, 3.0, 100, 1]], [[0, 0, 1, 2]], "K")
    assert built.conditions.dtype == np.float64 and built.dll.shape == (1, 4) and built.n_tracks[0] == 100


@pytest.mark.parametrize(
    "conditions, dll, species, match",
    [
        (np.ones((3, 3)), np.ones((3, 4)), "K", r"conditions must have shape \(n, 4\)"),
        (np.ones(4), np.ones((1, 4)), "K", "conditions must have shape"),
        (np.ones((3, 4)), np.ones((2, 4)), "K", r"dll must have shape \(3, 4\)"),
        (np.ones((3, 4)), np.ones((3, 5)), "K", "dll must have shape"),
        (np.ones((3, 4)), np.ones((3, 4)), "kaon", "species must be one of"),
        (np.full((3, 4), np.nan), np.ones((3, 4)), "K", "finite"),
        (np.ones((3, 4)), np.full((3, 4), np.inf), "K", "finite"),
    ],
)
def test_bad_tracks_raise(conditions, dll, species, match):
    """Tracks with wrong shapes, an unknown species or NaN/inf raise ValueError."""
    with pytest.raises(ValueError, match=match):
        Tracks(conditions, dll, species)


# --- bad input --------------------------------------------------------------------------------------

GOOD = [20.0, 3.0, 150.0, 1.0]


def one_bad(column, value):
    c = np.tile(GOOD, (3, 1))
    c[1, column] = value
    return c


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: simulate("kaon", 10), "species must be one of"),
        (lambda: simulate("K+", conditions=np.tile(GOOD, (2, 1))), "species must be one of"),
        (lambda: simulate("K", -1), "non-negative integer"),
        (lambda: simulate("K", 2.5), "non-negative integer"),
        (lambda: simulate("K", True), "non-negative integer"),
        (lambda: simulate("K"), "give the number of tracks n, or their conditions"),
        (lambda: simulate("K", 3, conditions=np.tile(GOOD, (2, 1))), "n = 3 but 2 conditions"),
        (lambda: simulate("K", -2, conditions=np.tile(GOOD, (2, 1))), "non-negative integer"),
        (lambda: simulate("K", conditions=np.ones((2, 3))), r"conditions must have shape \(n, 4\)"),
        (lambda: simulate("K", conditions=np.ones((2, 5))), r"conditions must have shape \(n, 4\)"),
        (lambda: simulate("K", conditions=GOOD), "conditions must have shape"),
        (lambda: simulate("K", conditions=one_bad(0, np.nan)), "NaN or infinite"),
        (lambda: simulate("K", conditions=one_bad(2, np.inf)), "NaN or infinite"),
        (lambda: simulate("K", conditions=one_bad(0, 2.9)), "momenta must lie in"),
        (lambda: simulate("K", conditions=one_bad(0, 200.5)), "momenta must lie in"),
        (lambda: simulate("K", conditions=one_bad(0, -20.0)), "momenta must lie in"),
        (lambda: simulate("K", conditions=one_bad(1, 1.7)), "eta must lie in"),
        (lambda: simulate("K", conditions=one_bad(1, 5.6)), "eta must lie in"),
        (lambda: simulate("K", conditions=one_bad(2, 0.0)), r"nTracks must be integers in \[1, 1000\)"),
        (lambda: simulate("K", conditions=one_bad(2, 1000.0)), r"nTracks must be integers in \[1, 1000\)"),
        (lambda: simulate("K", conditions=one_bad(2, 150.5)), r"nTracks must be integers"),
        (lambda: simulate("K", conditions=one_bad(3, 0.0)), r"charge must be -1 or \+1"),
        (lambda: simulate("K", conditions=one_bad(3, 2.0)), r"charge must be -1 or \+1"),
        (lambda: simulate("K", 3, seed=-1), "seed must be"),
        (lambda: simulate("K", 3, seed=1.5), "seed must be"),
        (lambda: simulate("K", 3, seed="0"), "seed must be"),
        (lambda: simulate_conditions(-1), "non-negative integer"),
        (lambda: simulate_conditions(3.0), "non-negative integer"),
        (lambda: simulate_conditions(3, seed=-5), "seed must be"),
    ],
)
def test_bad_input_raises(call, match):
    """Bad species, counts, conditions and seeds raise ValueError with a message saying what is wrong."""
    with pytest.raises(ValueError, match=match):
        call()


def test_boundary_conditions_are_accepted():
    """The edges of the ranges are valid conditions: p = 3 and 200 GeV, eta = 1.8 and 5.5, nTracks = 1
    and 999, charge -1."""
    c = np.array([[3.0, 1.8, 1.0, -1.0], [200.0, 5.5, 999.0, 1.0]])
    tracks = simulate("e", conditions=c, seed=0)
    assert np.array_equal(tracks.conditions, c) and np.all(np.abs(tracks.dll) <= DLL_CLIP)


def test_an_integer_index_gives_one_track():
    """tracks[i] is the i-th track as Tracks of length 1, like a mask of one row."""
    tracks = simulate("pi", 5, seed=3)
    one = tracks[3]
    assert len(one) == 1
    np.testing.assert_array_equal(one.conditions[0], tracks.conditions[3])
    np.testing.assert_array_equal(one.dll[0], tracks.dll[3])
