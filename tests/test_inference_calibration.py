"""Tests of the calibration diagnostics, gm_helpers.inference.calibration.

References: hand-worked ranks on tiny arrays, and a conjugate Gaussian problem whose answers are
closed forms (scipy.stats.norm). With theta* ~ N(0, 1) and x = theta* + N(0, sigma^2), the exact
posterior is N(mu, s^2), mu = x / (1 + sigma^2), s^2 = sigma^2 / (1 + sigma^2), so that
theta* = mu + s Z with Z ~ N(0, 1) independent of x. An approximate posterior N(mu + b s, (k s)^2)
gives the truth the rank Phi((Z - b) / k), hence

    expected coverage at level alpha  P(|Z - b| <= k z),  z = Phi^-1((1 + alpha) / 2),
                                      = 2 Phi(k z) - 1 for b = 0 (k < 1 overconfident, k > 1 not),
    P-P curve at level lambda         P(Phi((Z - b) / k) <= lambda) = Phi(k Phi^-1(lambda) + b),
    HPD level                         2 Phi(|Z| / k) - 1 for b = 0, with the CDF 2 Phi(k z) - 1 too.

Empirical fractions over m observations are compared with these within 4 binomial standard errors
plus a small allowance for the finite number n of posterior samples per observation.
"""

import numpy as np
import pytest
import torch
from scipy import stats

from gm_helpers.inference.calibration import coverage_error, expected_coverage, hpd_levels, pp_curve, ranks

M_OBS, N_POST, SIGMA = 4000, 1000, 0.5
# columns of the approximate posteriors: (scale k, shift b in posterior standard deviations)
COLUMNS = {"exact": (1.0, 0.0), "narrow": (0.5, 0.0), "wide": (2.0, 0.0), "shifted": (1.0, 0.5)}
INTERIOR = np.linspace(0.05, 0.95, 19)


def tolerance(p, m=M_OBS, n=N_POST):
    """4 binomial standard errors of a fraction p of m, plus 0.3 / sqrt(n) (0.01 for n = 1000) for
    the ranks' resolution: a rank is a fraction of n posterior samples, itself random."""
    return 4 * np.sqrt(p * (1 - p) / m) + 0.3 / np.sqrt(n)


@pytest.fixture(scope="module")
def gaussian():
    """theta* (m,), the exact posterior mean and std (m,), (1,), and posterior samples (m, n, 4): one
    column per entry of COLUMNS."""
    rng = np.random.default_rng(20240607)
    theta = rng.standard_normal(M_OBS)
    x = theta + SIGMA * rng.standard_normal(M_OBS)
    mu = x / (1 + SIGMA**2)
    s = np.sqrt(SIGMA**2 / (1 + SIGMA**2))
    k = np.array([c[0] for c in COLUMNS.values()])
    b = np.array([c[1] for c in COLUMNS.values()])
    samples = mu[:, None, None] + s * (b + k * rng.standard_normal((M_OBS, N_POST, len(COLUMNS))))
    return theta, mu, s, samples


@pytest.fixture(scope="module")
def gaussian_ranks(gaussian):
    theta, _, _, samples = gaussian
    r = ranks(samples, np.repeat(theta[:, None], len(COLUMNS), axis=1))
    assert r.shape == (M_OBS, len(COLUMNS))
    return dict(zip(COLUMNS, r.T, strict=True))


# --- ranks ----------------------------------------------------------------------------------------


def test_ranks_hand_worked():
    """The fraction of samples strictly below the truth, per observation and parameter."""
    samples = np.array(
        [
            [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]],
            [[0.0, -1.0], [0.0, -2.0], [5.0, -3.0], [5.0, -4.0]],
        ]
    )  # (m=2, n=4, d=2)
    truths = np.array([[2.5, 45.0], [0.0, -2.5]])
    np.testing.assert_array_equal(ranks(samples, truths), [[0.5, 1.0], [0.0, 0.5]])
    # (m, n) samples and (m,) or (m, 1) truths: one parameter, shape (m, 1)
    r = ranks(samples[:, :, 0], truths[:, 0])
    assert r.shape == (2, 1)
    np.testing.assert_array_equal(r[:, 0], [0.5, 0.0])
    np.testing.assert_array_equal(ranks(samples[:, :, 0], truths[:, :1]), r)
    # torch tensors as well
    from_torch = ranks(torch.tensor(samples), torch.tensor(truths))
    np.testing.assert_array_equal(from_torch, [[0.5, 1.0], [0.0, 0.5]])


def test_coverage_and_pp_curve_hand_worked():
    """Ranks 0, 1/4, 1/2, 3/4, 1: |r - 1/2| <= alpha / 2 holds for 1, 3, 5 of them at alpha = 0, 1/2,
    1; r <= lambda for 1, 3, 5 at lambda = 0, 1/2, 1; the largest coverage error is 1/5 - 0."""
    r = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    levels = [0.0, 0.5, 1.0]
    np.testing.assert_allclose(expected_coverage(r, levels), [[0.2], [0.6], [1.0]])
    np.testing.assert_allclose(pp_curve(r, levels), [[0.2], [0.6], [1.0]])
    np.testing.assert_allclose(coverage_error(r, levels), [0.2])
    two = np.stack([r, np.full(5, 0.5)], axis=1)
    np.testing.assert_allclose(expected_coverage(two, levels), [[0.2, 1.0], [0.6, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(pp_curve(two, levels), [[0.2, 0.0], [0.6, 1.0], [1.0, 1.0]])
    assert expected_coverage(two).shape == (21, 2) and pp_curve(two).shape == (21, 2)
    assert coverage_error(two).shape == (2,)


# --- the Gaussian problem: coverage ----------------------------------------------------------------


def test_exact_posterior_is_calibrated(gaussian_ranks):
    """Exact posterior samples: expected coverage and P-P curve on the diagonal at all 21 default
    levels (0, 0.05, ..., 1), the ranks uniform (KS, p > 1e-3), a small coverage error."""
    r = gaussian_ranks["exact"]
    levels = np.linspace(0, 1, 21)
    coverage = expected_coverage(r)[:, 0]
    assert np.all(np.abs(coverage - levels) <= tolerance(levels))
    pp = pp_curve(r)[:, 0]
    assert np.all(np.abs(pp - levels) <= tolerance(levels))
    assert stats.kstest(r, "uniform").pvalue > 1e-3
    error = coverage_error(r)[0]
    assert error < 0.04


@pytest.mark.parametrize("column, k", [("narrow", 0.5), ("wide", 2.0)])
def test_coverage_of_a_mis_scaled_posterior_follows_the_closed_form(gaussian_ranks, column, k):
    """N(mu, (k s)^2): the coverage at level alpha is 2 Phi(k z_{(1+alpha)/2}) - 1, below the
    diagonal for k = 0.5 (overconfident), above it for k = 2 (underconfident)."""
    coverage = expected_coverage(gaussian_ranks[column], INTERIOR)[:, 0]
    expected = 2 * stats.norm.cdf(k * stats.norm.ppf((1 + INTERIOR) / 2)) - 1
    assert np.all(np.abs(coverage - expected) <= tolerance(expected))
    if k < 1:
        assert np.all(coverage < INTERIOR)
    else:
        assert np.all(coverage > INTERIOR)


def test_coverage_of_a_shifted_posterior_follows_the_closed_form(gaussian_ranks):
    """N(mu + b s, s^2), b = 0.5: coverage P(|Z - b| <= z) = Phi(b + z) - Phi(b - z)."""
    coverage = expected_coverage(gaussian_ranks["shifted"], INTERIOR)[:, 0]
    z = stats.norm.ppf((1 + INTERIOR) / 2)
    expected = stats.norm.cdf(0.5 + z) - stats.norm.cdf(0.5 - z)
    assert np.all(np.abs(coverage - expected) <= tolerance(expected))


@pytest.mark.parametrize("column", ["narrow", "wide", "shifted"])
def test_pp_curve_follows_the_closed_form(gaussian_ranks, column):
    """P(rank <= lambda) = Phi(k Phi^-1(lambda) + b); a posterior mean shifted up (b > 0) puts the
    truth low in the posterior, so its curve lies above the diagonal; every column is also
    checked at its own closed form and with the multi-parameter call (m, d)."""
    k, b = COLUMNS[column]
    pp = pp_curve(gaussian_ranks[column], INTERIOR)[:, 0]
    expected = stats.norm.cdf(k * stats.norm.ppf(INTERIOR) + b)
    assert np.all(np.abs(pp - expected) <= tolerance(expected))
    if column == "shifted":
        assert np.all(pp > INTERIOR)
    all_columns = pp_curve(np.stack(list(gaussian_ranks.values()), axis=1), INTERIOR)
    np.testing.assert_array_equal(all_columns[:, list(COLUMNS).index(column)], pp)


def test_coverage_error_small_when_exact_large_when_overconfident(gaussian_ranks):
    """coverage_error per parameter: < 0.04 for the exact posterior, > 0.15 for k = 0.5 (the closed
    form's largest gap over the default levels is 0.31), and it matches that gap."""
    r = np.stack([gaussian_ranks["exact"], gaussian_ranks["narrow"]], axis=1)
    error = coverage_error(r)
    assert error.shape == (2,)
    assert error[0] < 0.04 and error[1] > 0.15
    levels = np.linspace(0, 1, 21)[1:-1]
    gap = np.max(np.abs(2 * stats.norm.cdf(0.5 * stats.norm.ppf((1 + levels) / 2)) - 1 - levels))
    assert error[1] == pytest.approx(gap, abs=0.03)


# --- the Gaussian problem: HPD levels ----------------------------------------------------------------


@pytest.mark.parametrize("column, k", [("exact", 1.0), ("narrow", 0.5)])
def test_hpd_levels(gaussian, column, k):
    """With exact log-densities of the (approximate) posterior N(mu, (k s)^2) at its samples and at
    the truth, the HPD levels are uniform for k = 1 (KS p > 1e-3) and not for k = 0.5 (KS p < 1e-10),
    where their CDF is 2 Phi(k z_{(1+lambda)/2}) - 1; the joint coverage of the docstring follows."""
    theta, mu, s, samples = gaussian
    j = list(COLUMNS).index(column)
    log_q_samples = stats.norm.logpdf(samples[:, :, j], loc=mu[:, None], scale=k * s)
    log_q_truth = stats.norm.logpdf(theta, loc=mu, scale=k * s)
    hpd = hpd_levels(log_q_samples, log_q_truth)
    assert hpd.shape == (M_OBS,) and np.all((hpd >= 0) & (hpd <= 1))
    cdf = np.mean(hpd[:, None] <= INTERIOR, axis=0)
    expected = 2 * stats.norm.cdf(k * stats.norm.ppf((1 + INTERIOR) / 2)) - 1
    assert np.all(np.abs(cdf - expected) <= tolerance(expected))
    p = stats.kstest(hpd, "uniform").pvalue
    if k == 1:
        assert p > 1e-3
    else:
        assert p < 1e-10
    joint = np.mean(hpd[:, None] <= INTERIOR, axis=0)
    assert np.all(np.abs(joint - expected) <= tolerance(expected))
    # torch input
    torch_hpd = hpd_levels(torch.tensor(log_q_samples[:5]), torch.tensor(log_q_truth[:5]))
    np.testing.assert_array_equal(torch_hpd, hpd[:5])


def test_hpd_levels_hand_worked():
    """The fraction of samples strictly denser than the truth."""
    log_q = np.array([[-1.0, -2.0, -3.0, -4.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(hpd_levels(log_q, [-2.5, 0.0]), [0.5, 0.0])
    np.testing.assert_array_equal(hpd_levels(log_q, [[-5.0], [-np.inf]]), [1.0, 1.0])


# --- bad input ------------------------------------------------------------------------------------

GOOD_RANKS = np.array([0.1, 0.5, 0.9])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: expected_coverage(np.array([0.5, 1.2])), r"ranks must lie in \[0, 1\]"),
        (lambda: pp_curve(np.array([-0.1, 0.5])), r"ranks must lie in \[0, 1\]"),
        (lambda: coverage_error(np.array([[0.5, 2.0]])), r"ranks must lie in \[0, 1\]"),
        (lambda: expected_coverage(np.array([0.5, np.nan])), r"ranks must lie in \[0, 1\]"),
        (lambda: expected_coverage(np.zeros(0)), "m >= 1"),
        (lambda: pp_curve(np.zeros((2, 2, 2))), r"ranks must be \(m,\) or \(m, d\)"),
        (lambda: expected_coverage(GOOD_RANKS, levels=[0.5, 1.5]), r"credible levels must be .*in \[0, 1\]"),
        (lambda: pp_curve(GOOD_RANKS, levels=[-0.1]), r"credible levels must be .*in \[0, 1\]"),
        (lambda: coverage_error(GOOD_RANKS, levels=[2.0]), r"credible levels must be .*in \[0, 1\]"),
        (lambda: ranks(np.zeros((3, 5, 2)), np.zeros((3, 1))), r"samples must be \(m, n, d\)"),
        (lambda: ranks(np.zeros((3, 5)), np.zeros(4)), r"samples must be \(m, n, d\)"),
        (lambda: ranks(np.zeros((3, 5, 2, 1)), np.zeros((3, 2))), r"samples must be \(m, n, d\)"),
        (lambda: ranks(np.full((3, 5), np.nan), np.zeros(3)), "must be finite"),
        (lambda: ranks(np.zeros((3, 5)), np.array([0.0, np.inf, 0.0])), "must be finite"),
        (lambda: hpd_levels(np.zeros((3, 5)), np.zeros(4)), r"need \(m, n\) and \(m,\)"),
        (lambda: hpd_levels(np.zeros(5), np.zeros(5)), r"need \(m, n\) and \(m,\)"),
    ],
)
def test_bad_input_raises(call, match):
    """Ranks outside [0, 1] or NaN, mismatched shapes, non-finite samples and levels outside [0, 1]
    raise ValueError saying what is expected."""
    with pytest.raises(ValueError, match=match):
        call()
