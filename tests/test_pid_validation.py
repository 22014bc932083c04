"""gm_helpers.pid (preprocessing and validation of a PID fast simulation) against independent references.

References, all computed here and never taken from the module's own output:

- efficiencies: values worked out by hand (3 of 4 -> 0.75 +- sqrt(0.75 * 0.25 / 4)), and with weights
  the binomial error with Kish's effective count n_eff = (sum w)^2 / sum w^2;
- efficiency curves: a loop over the bins with numpy masks edges[i] <= x < edges[i + 1];
- curve agreement: the textbook two-proportion z-test with the pooled proportion,
  z = (k_a / n_a - k_b / n_b) / sqrt(p (1 - p) (1 / n_a + 1 / n_b)), p = (k_a + k_b) / (n_a + n_b),
  and its null distribution N(0, 1) (P(|z| <= 2) = 2 Phi(2) - 1 = 0.9545) checked over many seeds;
- the referee: AUC 0.5 for two samples of one distribution, and for two Gaussians of unit variance
  whose means differ by d in one coordinate the Bayes-optimal AUC Phi(d / sqrt(2));
- PIDScaler: a quantile map to N(0, 1) (scipy.stats.kstest against the normal, or against the
  truncated normal where the DLLs have point masses at the clip +-150), the charge untouched, the
  round trip inverse(transform(x)) = x, and a monotone map in each column;
- generate_dll: a "generator" that returns the known normalized DLLs of each track.
"""

import numpy as np
import pytest
import torch
from scipy import stats
from threadpoolctl import threadpool_limits

from gm_helpers.data.pid import DLL_CLIP, simulate
from gm_helpers.pid import (
    EfficiencyCurve,
    PIDScaler,
    curve_agreement,
    efficiency,
    efficiency_curve,
    generate_dll,
    referee_auc,
)

TWO_SIGMA = 2 * stats.norm.cdf(2.0) - 1  # 0.9545: P(|Z| <= 2) for Z ~ N(0, 1)


# --- efficiency --------------------------------------------------------------------------------


def test_efficiency_of_three_out_of_four_worked_by_hand():
    eps, error = efficiency(np.array([True, True, True, False]))
    assert eps == pytest.approx(0.75, abs=1e-15)
    assert error == pytest.approx(np.sqrt(0.75 * 0.25 / 4), abs=1e-15)  # 0.2165


@pytest.mark.parametrize("passed, expected", [([True] * 5, 1.0), ([False] * 5, 0.0)])
def test_efficiency_of_all_or_nothing_has_no_binomial_error(passed, expected):
    assert efficiency(np.array(passed)) == (pytest.approx(expected), pytest.approx(0.0, abs=1e-15))


def test_weighted_efficiency_uses_kish_effective_count():
    passed = np.array([True, False, True, True])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    # by hand: eps = (1 + 3 + 4) / 10 = 0.8; n_eff = 10^2 / (1 + 4 + 9 + 16) = 10 / 3
    eps, error = efficiency(passed, w)
    assert eps == pytest.approx(0.8, abs=1e-15)
    assert error == pytest.approx(np.sqrt(0.8 * 0.2 / (10 / 3)), abs=1e-15)


def test_equal_weights_give_the_unweighted_efficiency_and_zero_weights_drop_tracks():
    rng = np.random.default_rng(0)
    passed = rng.random(1000) < 0.3
    k = passed.sum()
    plain = (k / 1000, np.sqrt(k / 1000 * (1 - k / 1000) / 1000))
    assert efficiency(passed, np.full(1000, 2.5)) == pytest.approx(plain, abs=1e-14)
    # a track of weight zero counts neither in eps nor in n_eff
    w = np.ones(1001)
    w[-1] = 0.0
    assert efficiency(np.append(passed, True), w) == pytest.approx(plain, abs=1e-14)


def test_efficiency_errors():
    with pytest.raises(ValueError, match="passed must be booleans"):
        efficiency(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="passed must be booleans"):
        efficiency([0.0, 1.0])
    with pytest.raises(ValueError, match="1-D array"):
        efficiency(np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="weights must be finite"):
        efficiency(np.array([True, False]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="weights must be finite"):
        efficiency(np.array([True, False]), np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="non-negative"):
        efficiency(np.array([True, False]), np.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="no tracks"):
        efficiency(np.array([], dtype=bool))
    with pytest.raises(ValueError, match="all weights zero"):
        efficiency(np.array([True, False]), np.zeros(2))
    with pytest.raises(ValueError, match=r"one value per track \(3\), got 2"):
        efficiency(np.array([True, False, True]), np.ones(2))


# --- efficiency curves -------------------------------------------------------------------------


def _curve_by_hand(passed, x, edges, w):
    """Per bin with masks edges[i] <= x < edges[i + 1]: (n_eff, eps, error), NaN where empty."""
    bins = len(edges) - 1
    n, eps, error = np.zeros(bins), np.full(bins, np.nan), np.full(bins, np.nan)
    for i in range(bins):
        mask = (x >= edges[i]) & (x < edges[i + 1])
        if w[mask].sum() > 0:
            total = w[mask].sum()
            n[i] = total**2 / (w[mask] ** 2).sum()
            eps[i] = w[mask & passed].sum() / total
            error[i] = np.sqrt(eps[i] * (1 - eps[i]) / n[i])
    return n, eps, error


@pytest.mark.parametrize("weighted", [False, True])
def test_efficiency_curve_matches_a_loop_over_bins(weighted):
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 14, 5000)  # some tracks below and above the edges
    passed = rng.random(5000) < 1 / (1 + np.exp(-(x - 5)))
    w = rng.exponential(1.0, 5000) if weighted else np.ones(5000)
    edges = np.array([0.0, 1.0, 2.5, 5.0, 7.5, 10.0, 12.0])
    curve = efficiency_curve(passed, x, edges, weights=w if weighted else None)
    n, eps, error = _curve_by_hand(passed, x, edges, w)
    assert isinstance(curve, EfficiencyCurve)
    np.testing.assert_array_equal(curve.edges, edges)
    np.testing.assert_allclose(curve.n, n, rtol=1e-12)
    np.testing.assert_allclose(curve.efficiency, eps, rtol=1e-12)
    np.testing.assert_allclose(curve.error, error, rtol=1e-12)
    np.testing.assert_allclose(curve.centers, [0.5, 1.75, 3.75, 6.25, 8.75, 11.0])
    if not weighted:  # unweighted, n_eff is the count of tracks in the bin
        np.testing.assert_array_equal(curve.n, np.histogram(x, edges)[0])


def test_efficiency_curve_leaves_out_tracks_outside_the_edges_and_gives_nan_in_empty_bins():
    # bins [0, 1), [1, 2), [2, 3); 3.0 (the last edge) and -0.5, 7 are outside
    x = np.array([0.0, 0.5, 0.9, 2.0, 2.5, 3.0, -0.5, 7.0])
    passed = np.array([True, False, False, True, True, True, True, True])
    curve = efficiency_curve(passed, x, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(curve.n, [3, 0, 2])
    np.testing.assert_allclose(curve.efficiency, [1 / 3, np.nan, 1.0])
    np.testing.assert_allclose(curve.error, [np.sqrt(1 / 3 * 2 / 3 / 3), np.nan, 0.0])


def test_efficiency_curve_errors():
    passed, x = np.array([True, False, True]), np.array([0.5, 1.5, 2.5])
    for edges in ([0.0, 2.0, 1.0, 3.0], [3.0, 2.0, 1.0], [0.0, 1.0, 1.0, 3.0], [1.0], []):
        with pytest.raises(ValueError, match="at least two increasing values"):
            efficiency_curve(passed, x, edges)
    with pytest.raises(ValueError, match="edges must be finite"):
        efficiency_curve(passed, x, [0.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        efficiency_curve(passed, x[:2], [0.0, 3.0])
    with pytest.raises(ValueError, match="binning variable must be finite"):
        efficiency_curve(passed, np.array([0.5, np.nan, 2.5]), [0.0, 3.0])
    with pytest.raises(ValueError, match="passed must be booleans"):
        efficiency_curve(np.array([1, 0, 1]), x, [0.0, 3.0])
    with pytest.raises(ValueError, match="non-negative"):
        efficiency_curve(passed, x, [0.0, 3.0], weights=np.array([1.0, -1.0, 1.0]))


# --- curve agreement ---------------------------------------------------------------------------


def _curve_from_counts(counts, edges):
    """An efficiency curve with k of n passing in each bin (n = 0 for an empty bin)."""
    passed, x = [], []
    for i, (k, n) in enumerate(counts):
        passed += [True] * k + [False] * (n - k)
        x += [0.5 * (edges[i] + edges[i + 1])] * n
    return efficiency_curve(np.array(passed, dtype=bool), np.array(x), edges)


def _two_proportion_z(k_a, n_a, k_b, n_b):
    p = (k_a + k_b) / (n_a + n_b)
    return (k_a / n_a - k_b / n_b) / np.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


def test_curve_agreement_is_the_textbook_two_proportion_z_test():
    edges = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    a_counts = [(50, 100), (30, 200), (900, 1000), (3, 10)]
    b_counts = [(60, 100), (45, 150), (880, 1000), (7, 12)]
    z = curve_agreement(_curve_from_counts(a_counts, edges), _curve_from_counts(b_counts, edges))
    expected = [
        _two_proportion_z(ka, na, kb, nb) for (ka, na), (kb, nb) in zip(a_counts, b_counts, strict=True)
    ]
    np.testing.assert_allclose(z, expected, rtol=1e-12)
    assert z[0] == pytest.approx(-0.1 / np.sqrt(0.55 * 0.45 * 0.02), rel=1e-12)  # -1.4213 by hand


def test_curve_agreement_special_cases():
    edges = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    # equal efficiencies; both 0; both 1; one empty bin; 0 against 1 (pooled 0.5: finite)
    a = _curve_from_counts([(20, 80), (0, 50), (40, 40), (0, 0), (0, 10)], edges)
    b = _curve_from_counts([(5, 20), (0, 30), (70, 70), (4, 9), (10, 10)], edges)
    z = curve_agreement(a, b)
    assert z[0] == 0.0 and z[1] == 0.0 and z[2] == 0.0
    assert np.isnan(z[3])
    assert z[4] == pytest.approx(_two_proportion_z(0, 10, 10, 10), rel=1e-12)  # -1 / sqrt(0.25 * 0.2)
    np.testing.assert_array_equal(curve_agreement(a, a)[[0, 1, 2, 4]], 0.0)
    # antisymmetric
    np.testing.assert_allclose(curve_agreement(b, a)[[0, 1, 2, 4]], -z[[0, 1, 2, 4]])


def test_curve_agreement_needs_the_same_bins():
    a = _curve_from_counts([(1, 2), (1, 2)], np.array([0.0, 1.0, 2.0]))
    for edges in (np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0])):
        b = _curve_from_counts([(1, 2)] * (len(edges) - 1), edges)
        with pytest.raises(ValueError, match="same bins"):
            curve_agreement(a, b)


def test_curve_agreement_under_the_null_is_standard_normal():
    # two independent samples of the same Bernoulli p per bin, 10 bins of 4,000 tracks each, 50 seeds:
    # 500 z values that must follow N(0, 1).
    bins, per_bin, seeds = 10, 4000, 50
    edges = np.arange(bins + 1, dtype=float)
    p = np.linspace(0.05, 0.95, bins)
    x = np.repeat(np.arange(bins) + 0.5, per_bin)
    z = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        a = efficiency_curve(rng.random(bins * per_bin) < np.repeat(p, per_bin), x, edges)
        b = efficiency_curve(rng.random(bins * per_bin) < np.repeat(p, per_bin), x, edges)
        z.append(curve_agreement(a, b))
    z = np.concatenate(z)
    assert z.shape == (500,) and np.all(np.isfinite(z))
    # fraction within two sigma: binomial spread sqrt(0.9545 * 0.0455 / 500) = 0.0093; 4 sigma = 0.037
    inside = np.mean(np.abs(z) <= 2)
    assert inside == pytest.approx(TWO_SIGMA, abs=4 * np.sqrt(TWO_SIGMA * (1 - TWO_SIGMA) / len(z)))
    # the sample standard deviation of 500 normals has spread 1 / sqrt(2 * 500) = 0.032
    assert z.std(ddof=1) == pytest.approx(1.0, abs=0.1)
    assert z.mean() == pytest.approx(0.0, abs=4 / np.sqrt(len(z)))


def test_curve_agreement_detects_a_three_sigma_difference():
    # 30 % against 33 % in 4,000 tracks each: z = -0.03 / sqrt(0.315 * 0.685 * 2 / 4000) = -2.89
    edges = np.array([0.0, 1.0])
    z = curve_agreement(_curve_from_counts([(1200, 4000)], edges), _curve_from_counts([(1320, 4000)], edges))
    assert z[0] == pytest.approx(-0.03 / np.sqrt(0.315 * 0.685 * 2 / 4000), rel=1e-12)
    assert abs(z[0]) > 2


# --- referee -----------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """The boosted trees use OpenMP: one thread each keeps two test workers on two cores fast."""
    with threadpool_limits(limits=1):
        yield


def test_referee_cannot_tell_two_samples_of_one_gaussian(one_thread):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5000, 3)), rng.normal(size=(5000, 3))
    auc, per_bin = referee_auc(a, b, rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000), [0.0, 0.5, 1.0])
    # the AUC of a useless score has spread sqrt((n + m + 1) / (12 n m)) = 0.006
    assert auc == pytest.approx(0.5, abs=0.03)
    assert per_bin.shape == (2,)
    np.testing.assert_allclose(per_bin, 0.5, atol=0.04)


def test_referee_reaches_the_bayes_auc_of_a_one_sigma_shift(one_thread):
    # N(0, I) against N(e_1, I): the log-likelihood ratio is x_1 - 1/2, so the best AUC is
    # P(X_1 + 1 > Y_1) = Phi(1 / sqrt(2)) = 0.760
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5000, 3)), rng.normal(size=(5000, 3))
    b[:, 0] += 1.0
    bayes = stats.norm.cdf(1 / np.sqrt(2))
    auc, per_bin = referee_auc(a, b, rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000), [0.0, 0.5, 1.0])
    assert bayes == pytest.approx(0.7602, abs=1e-4)
    assert auc == pytest.approx(bayes, abs=0.03)
    assert auc <= bayes + 0.015  # no classifier beats the Bayes AUC beyond the statistical spread
    np.testing.assert_allclose(per_bin, bayes, atol=0.04)


def test_referee_finds_the_bin_where_the_samples_differ(one_thread):
    # the binning variable is a feature (a condition); the generated tracks are shifted by 1.5 sigma
    # only where it is >= 0.5: per bin, AUC 0.5 and Phi(1.5 / sqrt(2)) = 0.856
    rng = np.random.default_rng(2)
    v_a, v_b = rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000)
    a, b = rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2))
    b[:, 0] += 1.5 * (v_b >= 0.5)
    auc, per_bin = referee_auc(
        np.column_stack([v_a, a]), np.column_stack([v_b, b]), v_a, v_b, [0.0, 0.5, 1.0], folds=3
    )
    assert per_bin[0] == pytest.approx(0.5, abs=0.04)
    assert per_bin[1] == pytest.approx(stats.norm.cdf(1.5 / np.sqrt(2)), abs=0.04)
    assert 0.55 < auc < per_bin[1]


def test_referee_gives_nan_in_bins_without_both_classes(one_thread):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    v_a = np.concatenate([rng.uniform(0, 1, 200), rng.uniform(1, 2, 200)])  # bins 0 and 1
    v_b = rng.uniform(1, 2, 400)  # bin 1 only
    auc, per_bin = referee_auc(a, b, v_a, v_b, [0.0, 1.0, 2.0, 3.0], folds=2)
    assert np.isnan(per_bin[0]) and np.isnan(per_bin[2])  # reference only; empty
    assert 0.0 <= per_bin[1] <= 1.0 and 0.0 <= auc <= 1.0


def test_referee_errors():
    a = np.zeros((10, 3))
    v = np.zeros(10)
    with pytest.raises(ValueError, match=r"same d, got \(10, 3\) and \(10, 2\)"):
        referee_auc(a, np.zeros((10, 2)), v, v, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        referee_auc(np.zeros(10), np.zeros(10), v, v, [0.0, 1.0])
    with pytest.raises(ValueError, match="must be finite"):
        referee_auc(a, np.full((10, 3), np.nan), v, v, [0.0, 1.0])
    with pytest.raises(ValueError, match="one binning value per track"):
        referee_auc(a, a, v, v[:5], [0.0, 1.0])
    with pytest.raises(ValueError, match="variable_reference must be one value per track"):
        referee_auc(a, a, np.zeros((10, 2)), v, [0.0, 1.0])


# --- PIDScaler ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kaons():
    """20,000 kaons to fit on and 20,000 independent ones to test on."""
    return simulate("K", 20_000, seed=0), simulate("K", 20_000, seed=1)


@pytest.fixture(scope="module")
def kaon_scaler(kaons):
    train, _ = kaons
    return PIDScaler().fit(train.conditions, train.dll)


def test_scaler_round_trip_gives_back_the_dlls(kaons, kaon_scaler):
    train, test = kaons
    np.testing.assert_allclose(
        kaon_scaler.inverse_dll(kaon_scaler.dll(train.dll)), train.dll, rtol=0, atol=1e-6
    )
    # new tracks within the range seen in training come back as well
    inside = np.all((test.dll > train.dll.min(0)) & (test.dll < train.dll.max(0)), axis=1)
    assert inside.mean() > 0.99
    back = kaon_scaler.inverse_dll(kaon_scaler.dll(test.dll[inside]))
    np.testing.assert_allclose(back, test.dll[inside], rtol=0, atol=1e-6)


def test_scaler_is_monotone_in_each_column(kaons, kaon_scaler):
    train, _ = kaons
    z = kaon_scaler.dll(train.dll)
    for j in range(4):
        order = np.argsort(train.dll[:, j])
        assert np.all(np.diff(z[order, j]) >= 0)


@pytest.mark.parametrize("species", ["K", "pi"])
def test_scaled_columns_are_standard_normal_on_new_tracks(species):
    # fit on one sample and test on an independent one: the Kolmogorov-Smirnov statistic of 20,000
    # tracks against N(0, 1) is then ~0.01 (the 5 % critical value of one sample is 1.36 / sqrt(n)
    # = 0.0096; the quantiles learnt from 20,000 others add as much again)
    train, test = simulate(species, 20_000, seed=10), simulate(species, 20_000, seed=11)
    scaler = PIDScaler().fit(train.conditions, train.dll)
    conditions = scaler.conditions(test.conditions)
    for j in range(3):  # p, eta, nTracks (an integer: ties, but small point masses)
        assert stats.kstest(conditions[:, j], "norm").statistic < 0.02
    # a DLL at the clip +-150 is a point mass (of a fraction q_lo, q_hi of the training tracks): the
    # map sends it to the edge of its range, and the other tracks fill N(0, 1) between
    # Phi^-1(q_lo) and Phi^-1(1 - q_hi): a truncated normal.
    z = scaler.dll(test.dll)
    clipped = 0
    for j in range(4):
        q_lo, q_hi = np.mean(train.dll[:, j] <= -DLL_CLIP), np.mean(train.dll[:, j] >= DLL_CLIP)
        clipped += q_lo + q_hi
        keep = np.abs(test.dll[:, j]) < DLL_CLIP
        reference = stats.truncnorm(stats.norm.ppf(q_lo), stats.norm.ppf(1 - q_hi))
        assert stats.kstest(z[keep, j], reference.cdf).statistic < 0.02
        assert abs(z[keep, j].mean() - reference.mean()) < 0.03
        assert abs(z[keep, j].std() - reference.std()) < 0.03
    if species == "pi":  # pions do reach the clip (DLLK and DLLp at -150), kaons do not
        assert clipped > 0.001


def test_scaler_keeps_the_charge_and_leaves_its_input_alone(kaons, kaon_scaler):
    _, test = kaons
    conditions = test.conditions.copy()
    out = kaon_scaler.conditions(conditions)
    np.testing.assert_array_equal(conditions, test.conditions)
    np.testing.assert_array_equal(out[:, 3], test.conditions[:, 3])
    assert set(np.unique(out[:, 3])) == {-1.0, 1.0}
    assert out.shape == (20_000, 4) and not np.allclose(out[:, :3], test.conditions[:, :3])


def test_scaler_must_be_fitted_first():
    scaler = PIDScaler()
    for method, columns in ((scaler.conditions, 4), (scaler.dll, 4), (scaler.inverse_dll, 4)):
        with pytest.raises(RuntimeError, match=r"not fitted yet: call fit\(conditions, dll\)"):
            method(np.zeros((3, columns)))


def test_scaler_errors(kaons, kaon_scaler):
    train, _ = kaons
    c, d = train.conditions[:100], train.dll[:100]
    with pytest.raises(ValueError, match=r"dll must have shape \(n, 4\), got \(100, 3\)"):
        PIDScaler().fit(c, d[:, :3])
    with pytest.raises(ValueError, match=r"conditions must have shape \(n, 4\), got \(100,\)"):
        PIDScaler().fit(c[:, 0], d)
    with pytest.raises(ValueError, match=r"same length, got 100 and 99"):
        PIDScaler().fit(c, d[:99])
    with pytest.raises(ValueError, match="at least 10 tracks"):
        PIDScaler().fit(c[:9], d[:9])
    bad = d.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"dll must be finite \(no NaN or inf\)"):
        PIDScaler().fit(c, bad)
    with pytest.raises(ValueError, match="dll must be finite"):
        kaon_scaler.dll(bad)
    bad = c.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="conditions must be finite"):
        kaon_scaler.conditions(bad)
    with pytest.raises(ValueError, match=r"conditions must have shape \(n, 4\), got \(100, 5\)"):
        kaon_scaler.conditions(np.column_stack([c, c[:, 0]]))
    with pytest.raises(ValueError, match=r"generated values must have shape \(n, 4\), got \(100, 2\)"):
        kaon_scaler.inverse_dll(d[:, :2])
    with pytest.raises(ValueError, match="generated values must be finite"):
        kaon_scaler.inverse_dll(np.full((3, 4), np.nan))


# --- generate_dll ------------------------------------------------------------------------------


def test_generate_dll_maps_a_perfect_generator_back_to_the_true_dlls(kaons, kaon_scaler):
    _, test = kaons
    tracks = test[:3000]
    # the "generator" knows every track: it finds each context row among the normalized conditions
    # and returns that track's normalized true DLLs
    context = torch.as_tensor(kaon_scaler.conditions(tracks.conditions), dtype=torch.float32)
    index = {row.numpy().tobytes(): i for i, row in enumerate(context)}
    assert len(index) == len(tracks)
    z = torch.as_tensor(kaon_scaler.dll(tracks.dll), dtype=torch.float32)
    chunks = []

    def sample(c: torch.Tensor) -> torch.Tensor:
        chunks.append(len(c))
        assert c.dtype == torch.float32 and c.shape[1] == 4
        return z[[index[row.numpy().tobytes()] for row in c]]

    dll, throughput = generate_dll(sample, kaon_scaler, tracks.conditions, batch_size=700, device="cpu")
    assert dll.shape == (3000, 4)
    assert chunks == [700, 700, 700, 700, 200]
    # float32 normalized values: |dz| ~ 3e-7 times the slope of the inverse map in the tails
    np.testing.assert_allclose(dll, tracks.dll, rtol=0, atol=1e-2)
    assert np.median(np.abs(dll - tracks.dll)) < 1e-4
    assert np.isfinite(throughput) and throughput > 0


def test_generate_dll_output_shape_and_throughput_with_a_random_generator(kaons, kaon_scaler):
    _, test = kaons
    torch.manual_seed(0)
    dll, throughput = generate_dll(lambda c: torch.randn(len(c), 4), kaon_scaler, test.conditions[:500])
    assert dll.shape == (500, 4) and np.all(np.isfinite(dll)) and throughput > 0
    # the inverse map stays within the range of the training DLLs
    train, _ = kaons
    assert np.all(dll >= train.dll.min(0) - 1e-9) and np.all(dll <= train.dll.max(0) + 1e-9)
