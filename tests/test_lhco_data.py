"""Tests of the LHC Olympics 2020 R&D-style dijet generator, gm_helpers.data.lhco.

Targets (signal region 3.3 < mjj < 3.7 TeV) from the course notes and arXiv:2101.08320: background
medians mj1 ~ 0.10, dm ~ 0.12, tau21 ~ 0.6 / 0.5, mass-tau21 correlations about -0.3 to -0.4; signal
medians mj1 ~ 0.11, dm ~ 0.37, tau21 ~ 0.4 / 0.25; about 13% of the background in the signal
region; a fully supervised classifier reaching a maximum SIC of about 10-17. The "~" targets are
rounded values, so medians are checked to 15-20% (their statistical errors here are below 1%).
"""

import time

import numpy as np
import pytest
from scipy import integrate, stats

from gm_helpers.data import lhco
from gm_helpers.data.lhco import (
    FEATURES,
    MJJ_MIN,
    SIDEBANDS,
    SIGNAL_REGION,
    Events,
    background_mjj_density,
    benchmark,
    extra_background,
    simulate,
)

LO, HI = SIGNAL_REGION


def reference_unnormalized(m):
    """The background mjj density as written in the specification, independently of the module."""
    x = np.asarray(m, dtype=np.float64) / 13.0
    return (1 - x) ** 8 / x**5.4 / (1 + np.exp(-(np.asarray(m) - 2.75) / 0.12))


@pytest.fixture(scope="module")
def reference_norm():
    value, error = integrate.quad(reference_unnormalized, MJJ_MIN, 13.0, limit=200, points=[2.75, 4.0])
    assert error < 1e-8 * value
    return value


@pytest.fixture(scope="module")
def signal_region_sample():
    """About 200k background and 20k signal events in the signal region (the supervised-SIC sizes)."""
    events = simulate(1_500_000, 27_000, seed=5).signal_region()
    background, signal = events[~events.is_signal], events[events.is_signal]
    assert len(background) > 200_000 and len(signal) > 20_000
    return background[:200_000], signal[:20_000]


@pytest.fixture(scope="module")
def standard_benchmark():
    return benchmark(seed=0)


def relative(value, target):
    return abs(value / target - 1)


# --- API, shapes ----------------------------------------------------------------------------------


def test_constants():
    assert MJJ_MIN == 2.3 and SIGNAL_REGION == (3.3, 3.7)
    assert SIDEBANDS == ((3.1, 3.3), (3.7, 3.9))
    assert FEATURES == ("mj1", "dm", "tau21_1", "tau21_2")


def test_shapes_dtypes_and_ranges():
    events = simulate(20_000, 2_000, seed=3)
    assert len(events) == 22_000 and int(events.is_signal.sum()) == 2_000
    assert events.mjj.shape == (22_000,) and events.features.shape == (22_000, 4)
    assert events.mjj.dtype == np.float64 and events.features.dtype == np.float64
    assert events.is_signal.dtype == bool
    assert np.all((events.mjj >= MJJ_MIN) & (events.mjj < 13.0))
    assert np.all(events.mj1 > 0) and np.all(events.dm >= 0)
    assert np.allclose(events.mj2, events.mj1 + events.dm)
    tau = events.features[:, 2:]
    assert np.all((tau > 0) & (tau < 1))
    # shuffled: the signal events are spread through the sample, not appended
    position = np.flatnonzero(events.is_signal).mean() / len(events)
    assert abs(position - 0.5) < 0.05
    assert np.array_equal(events.mj1, events.features[:, 0]) and np.array_equal(events.tau21_2, tau[:, 1])
    assert len(simulate(0)) == 0 and simulate(0).features.shape == (0, 4)
    assert "signal=2000" in repr(events)


def test_indexing_regions_and_concatenate():
    events = simulate(5_000, 500, seed=4)
    mask = events.mjj > 3.0
    assert len(events[mask]) == mask.sum()
    picked = events[np.array([3, 1, 4])]
    assert np.array_equal(picked.mjj, events.mjj[[3, 1, 4]])
    assert len(events[7]) == 1 and events[7].mjj[0] == events.mjj[7]
    assert len(events[10:20]) == 10

    inside = events.signal_region()
    assert np.all((inside.mjj > LO) & (inside.mjj < HI))
    outside = events.sidebands()
    assert len(inside) + len(outside) == len(events)
    assert np.all((outside.mjj <= LO) | (outside.mjj >= HI))
    narrow = events.sidebands(narrow=True)
    assert 0 < len(narrow) < len(outside)
    assert np.all(((narrow.mjj > 3.1) & (narrow.mjj < 3.3)) | ((narrow.mjj > 3.7) & (narrow.mjj < 3.9)))
    assert np.array_equal(events.in_region((3.1, 3.3)), (events.mjj > 3.1) & (events.mjj < 3.3))

    both = Events.concatenate(inside, outside)
    assert len(both) == len(events)
    assert np.array_equal(both.mjj[: len(inside)], inside.mjj)
    assert np.array_equal(lhco.concatenate(inside, outside).features, both.features)
    with pytest.raises(ValueError, match="at least one"):
        Events.concatenate()
    with pytest.raises(TypeError, match="takes Events"):
        Events.concatenate(inside, inside.mjj)


# --- the background mjj spectrum ----------------------------------------------------------------


def test_density_is_normalized_and_matches_the_formula(reference_norm):
    total, _ = integrate.quad(background_mjj_density, MJJ_MIN, 13.0, limit=200, points=[2.75, 4.0])
    assert total == pytest.approx(1.0, abs=1e-6)
    m = np.linspace(MJJ_MIN, 12.9, 500)
    assert np.allclose(background_mjj_density(m), reference_unnormalized(m) / reference_norm, rtol=1e-6)
    assert np.all(background_mjj_density([1.0, 2.29, 13.0, 20.0]) == 0)
    # a falling spectrum above the turn-on
    m = np.linspace(3.0, 8.0, 50)
    assert np.all(np.diff(background_mjj_density(m)) < 0)


def test_signal_region_fraction_of_the_background(reference_norm):
    # the independent reference: quad of the specification's formula
    expected = integrate.quad(reference_unnormalized, LO, HI)[0] / reference_norm
    assert 0.11 < expected < 0.15
    # the module's density
    assert integrate.quad(background_mjj_density, LO, HI)[0] == pytest.approx(expected, rel=1e-6)
    # the sampled events: binomial error sqrt(0.13 * 0.87 / 4e5) = 5e-4, checked to 5 sigma
    events = simulate(400_000, seed=6)
    fraction = events.in_region().mean()
    assert abs(fraction - expected) < 5 * np.sqrt(expected * (1 - expected) / len(events))


def test_sampled_mjj_follows_the_density_ks(reference_norm):
    grid = np.linspace(MJJ_MIN, 13.0, 200_001)
    cdf = integrate.cumulative_trapezoid(reference_unnormalized(grid), grid, initial=0.0) / reference_norm
    assert cdf[-1] == pytest.approx(1.0, abs=1e-7)  # the trapezoid CDF agrees with quad
    for events in (simulate(200_000, seed=7), extra_background(200_000, seed=7)):
        result = stats.kstest(events.mjj, lambda m: np.interp(m, grid, cdf))
        assert result.statistic < 0.004 and result.pvalue > 1e-3


def test_jet_mass_grows_with_mjj_and_tau21_does_not():
    events = extra_background(400_000, seed=8)
    bins = [(2.8, 3.0), (3.3, 3.7), (4.5, 5.5)]
    centres, mj1, mj2, ratios, tau = [], [], [], [], []
    for region in bins:
        selected = events[events.in_region(region)]
        centres.append(np.median(selected.mjj))
        mj1.append(np.median(selected.mj1))
        mj2.append(np.median(selected.mj2))
        ratios.append(np.median(selected.mj1 / selected.mjj))
        tau.append(np.median(selected.tau21_1))
    assert np.all(np.diff(mj1) > 0) and np.all(np.diff(mj2) > 0)
    # proportional: m_j / mjj does not depend on mjj (statistical error ~1% in the highest bin)
    assert np.allclose(ratios, ratios[1], rtol=0.04)
    assert mj1[2] / mj1[0] == pytest.approx(centres[2] / centres[0], rel=0.05)
    # tau21 depends on the jet's z only, not on mjj
    assert np.allclose(tau, tau[1], atol=0.01)


# --- targets in the signal region ---------------------------------------------------------------


def test_background_targets(signal_region_sample):
    background, _ = signal_region_sample
    assert relative(np.median(background.mj1), 0.10) < 0.15
    assert relative(np.median(background.dm), 0.12) < 0.20
    assert relative(np.median(background.tau21_1), 0.6) < 0.15
    assert relative(np.median(background.tau21_2), 0.5) < 0.15
    assert np.median(background.tau21_1) > np.median(background.tau21_2)  # lighter jet: more one-prong
    for mass, tau in ((background.mj1, background.tau21_1), (background.mj2, background.tau21_2)):
        correlation = np.corrcoef(mass, tau)[0, 1]
        assert -0.45 < correlation < -0.25


def test_signal_targets(signal_region_sample):
    _, signal = signal_region_sample
    assert relative(np.median(signal.mj1), 0.11) < 0.15
    assert relative(np.median(signal.dm), 0.37) < 0.15
    assert relative(np.median(signal.tau21_1), 0.4) < 0.15
    assert relative(np.median(signal.tau21_2), 0.25) < 0.15
    # j1 is the Y (100 GeV) jet, j2 the X (500 GeV) jet
    assert np.mean((signal.mj1 > 0.05) & (signal.mj1 < 0.2)) > 0.95
    assert np.mean((signal.mj2 > 0.35) & (signal.mj2 < 0.65)) > 0.95
    # the 25% of poorly measured events widen the tails of the X mass peak beyond a Gaussian's
    pulls = (signal.mj2 / 0.5 - 0.99) / 0.09
    assert np.mean(np.abs(pulls) > 3) > 0.25 * 2 * stats.norm.sf(1.5) * 0.8


def test_supervised_classifier_sic(signal_region_sample):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_curve

    background, signal = signal_region_sample
    features = np.concatenate([background.features, signal.features])
    labels = np.concatenate([background.is_signal, signal.is_signal])
    order = np.random.default_rng(0).permutation(len(labels))
    features, labels = features[order], labels[order]
    half = len(labels) // 2
    classifier = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    classifier.fit(features[:half], labels[:half])
    scores = classifier.predict_proba(features[half:])[:, 1]
    eps_b, eps_s, _ = roc_curve(labels[half:], scores)
    enough = eps_b * np.sum(~labels[half:]) >= 50  # at least 50 background test events pass
    max_sic = np.max(eps_s[enough] / np.sqrt(eps_b[enough]))
    assert 10 < max_sic < 17


# --- the benchmark --------------------------------------------------------------------------------


def signal_region_efficiency_of_the_signal():
    """P(3.3 < mjj < 3.7) for the signal mjj model, from the exponentially modified Gaussian."""
    sigma = lhco.M_WPRIME * lhco.SIGNAL_MJJ_RESOLUTION
    tail_fraction, tail_scale = lhco.SIGNAL_MJJ_TAIL
    core = stats.norm(lhco.M_WPRIME, sigma)
    # mjj = core - E: -mjj = N(-3.5, sigma) + Exp(scale), an exponnorm variable
    tail = stats.exponnorm(tail_scale / sigma, loc=-lhco.M_WPRIME, scale=sigma)
    return (1 - tail_fraction) * (core.cdf(HI) - core.cdf(LO)) + tail_fraction * (
        tail.cdf(-LO) - tail.cdf(-HI)
    )


def test_benchmark_numbers(standard_benchmark):
    events = standard_benchmark
    assert len(events) == 1_001_000 and int(events.is_signal.sum()) == 1_000
    in_sr = events.in_region()
    n_signal = int(np.sum(in_sr & events.is_signal))
    n_background = int(np.sum(in_sr & ~events.is_signal))
    assert 120_000 < n_background < 140_000
    # the signal count agrees with the generator's mjj model (binomial, 5 sigma)
    efficiency = signal_region_efficiency_of_the_signal()
    assert abs(n_signal - 1000 * efficiency) < 5 * np.sqrt(1000 * efficiency * (1 - efficiency))
    assert 0.004 < n_signal / n_background < 0.008
    assert 1.8 < n_signal / np.sqrt(n_background) < 2.8


def test_benchmark_signal_count_as_in_the_real_dataset(standard_benchmark):
    events = standard_benchmark
    assert 650 <= int(np.sum(events.in_region() & events.is_signal)) <= 850


# --- seeds ----------------------------------------------------------------------------------------


def test_same_seed_same_events_and_different_seeds_differ():
    a, b, c = simulate(2_000, 200, seed=1), simulate(2_000, 200, seed=1), simulate(2_000, 200, seed=2)
    assert np.array_equal(a.mjj, b.mjj) and np.array_equal(a.features, b.features)
    assert np.array_equal(a.is_signal, b.is_signal)
    assert not np.any(np.isin(a.mjj, c.mjj))
    assert np.array_equal(extra_background(500, seed=3).features, extra_background(500, seed=3).features)
    assert not np.any(np.isin(extra_background(500, seed=3).mjj, extra_background(500, seed=4).mjj))


def test_injecting_signal_leaves_the_background_unchanged():
    plain, injected = simulate(3_000, seed=9), simulate(3_000, 300, seed=9)
    assert np.array_equal(np.sort(plain.mjj), np.sort(injected.mjj[~injected.is_signal]))


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5])
def test_extra_background_is_independent_of_simulate(seed):
    extra = extra_background(20_000, seed=seed)
    # no shared value with simulate for this seed, nor for the seed that would collide with a
    # naive SeedSequence([seed, tag]) scheme (seed + tag * 2**32)
    for other in (seed, seed + 1, seed + (lhco._TAG_EXTRA << 32)):
        events = simulate(20_000, 100, seed=other)
        assert not np.any(np.isin(extra.mjj, events.mjj))
        assert not np.any(np.isin(extra.features[:, 2], events.features[:, 2]))
    # and it is the same background distribution (two-sample KS)
    assert stats.ks_2samp(extra.mj1, simulate(20_000, seed=seed).mj1).pvalue > 1e-3


def test_one_million_events_are_fast():
    start = time.perf_counter()
    events = simulate(1_000_000, 1_000, seed=10)
    assert len(events) == 1_001_000
    assert time.perf_counter() - start < 10.0  # about 0.5 s on one core


# --- bad input ------------------------------------------------------------------------------------


def test_bad_counts_and_seeds():
    with pytest.raises(ValueError, match="n_background must be a non-negative integer, got -1"):
        simulate(-1)
    with pytest.raises(ValueError, match="n_signal must be a non-negative"):
        simulate(10, -5)
    with pytest.raises(TypeError, match="n_background must be an integer.*1e6"):
        simulate(1e6)
    with pytest.raises(TypeError, match="n_signal must be an integer.*2.5"):
        simulate(10, 2.5)
    with pytest.raises(TypeError, match="n_background must be an integer"):
        simulate("100")
    with pytest.raises(TypeError, match="must be an integer"):
        simulate(True)
    with pytest.raises(ValueError, match="seed must be a non-negative"):
        simulate(10, seed=-3)
    with pytest.raises(ValueError, match="n must be a non-negative"):
        extra_background(-1, seed=0)
    with pytest.raises(TypeError, match="n_signal must be an integer"):
        benchmark(n_signal=10.0)
    assert len(simulate(np.int64(5), np.int32(2))) == 7  # numpy integers are fine


def test_bad_regions():
    events = simulate(100, seed=0)
    with pytest.raises(ValueError, match="lo < hi"):
        events.in_region((3.7, 3.3))
    with pytest.raises(ValueError, match="lo < hi"):
        events.in_region((3.3, 3.3))
    with pytest.raises(ValueError, match="outside the dijet spectrum"):
        events.in_region((1.0, 2.0))
    with pytest.raises(ValueError, match="outside the dijet spectrum"):
        events.in_region((13.0, 14.0))
    with pytest.raises(ValueError, match="pair \\(lo, hi\\)"):
        events.in_region((3.3, 3.5, 3.7))
    with pytest.raises(ValueError, match="pair \\(lo, hi\\)"):
        events.in_region(3.5)
    with pytest.raises(ValueError, match="lo < hi"):
        events.in_region((np.nan, 3.7))
    assert events.in_region((2.0, 2.5)).dtype == bool  # partly overlapping the spectrum is fine


def test_events_validation():
    mjj, features, labels = np.full(5, 3.5), np.full((5, 4), 0.2), np.zeros(5, dtype=bool)
    assert len(Events(mjj, features, labels)) == 5
    assert Events(mjj, features, [0, 1, 0, 0, 1]).is_signal.dtype == bool
    bad = features.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="features must be finite, got 1 NaN or infinite"):
        Events(mjj, bad, labels)
    with pytest.raises(ValueError, match="mjj must be finite"):
        Events(np.array([3.5, np.inf, 3.5, 3.5, 3.5]), features, labels)
    with pytest.raises(ValueError, match="same lengths.*got 5, 4 and 5"):
        Events(mjj, features[:4], labels)
    with pytest.raises(ValueError, match="same lengths.*got 6, 5 and 5"):
        Events(np.full(6, 3.5), features, labels)
    with pytest.raises(ValueError, match="same lengths"):
        Events(mjj, features, labels[:3])
    with pytest.raises(ValueError, match=r"features must have shape \(n, 4\).*got shape \(5, 3\)"):
        Events(mjj, features[:, :3], labels)
    with pytest.raises(ValueError, match="mjj must be a 1-D array.*got shape \\(5, 1\\)"):
        Events(mjj[:, None], features, labels)
    with pytest.raises(ValueError, match="is_signal must hold booleans"):
        Events(mjj, features, np.arange(5))
