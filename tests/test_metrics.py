"""Metrics against independent references: closed forms, torch.distributions and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Normal, kl_divergence

from gm_helpers import metrics

RNG = np.random.default_rng(0)
P = (0.0, 1.0)
Q = (1.0, 1.5)
N = 400_000
P_SAMPLES = RNG.normal(*P, N)
Q_SAMPLES = RNG.normal(*Q, N)


def test_kl_hist_matches_closed_form():
    exact = kl_divergence(Normal(*P), Normal(*Q)).item()
    estimate = metrics.kl_divergence_hist(P_SAMPLES, Q_SAMPLES, bins=200, range=(-8, 9))
    assert estimate == pytest.approx(exact, abs=0.01)


def test_js_hist_matches_numerical_integral():
    p, q = stats.norm(*P).pdf, stats.norm(*Q).pdf

    def integrand(x):
        m = 0.5 * (p(x) + q(x))
        return 0.5 * p(x) * math.log(p(x) / m) + 0.5 * q(x) * math.log(q(x) / m)

    exact = integrate.quad(integrand, -15, 15)[0]
    estimate = metrics.js_divergence_hist(P_SAMPLES, Q_SAMPLES, bins=200, range=(-8, 9))
    assert estimate == pytest.approx(exact, abs=0.005)


def test_js_saturates_at_log2_for_disjoint_supports():
    assert metrics.js_divergence_hist(RNG.uniform(0, 1, 1000), RNG.uniform(5, 6, 1000)) == (
        pytest.approx(math.log(2), abs=1e-6)
    )


def test_kl_hist_accepts_tensors_and_rejects_nan():
    a = torch.randn(1000)
    assert metrics.kl_divergence_hist(a, a) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="NaN"):
        metrics.kl_divergence_hist(torch.tensor([0.0, float("nan")]), a)


def test_wasserstein_between_shifted_gaussians():
    a, b = RNG.normal(0, 1, 100_000), RNG.normal(2, 1, 100_000)
    assert metrics.wasserstein_1d(a, b) == pytest.approx(2.0, abs=0.02)
    assert metrics.wasserstein_1d(a, b) == pytest.approx(stats.wasserstein_distance(a, b))


def test_ks_statistic_matches_scipy():
    a, b = RNG.normal(0, 1, 500), RNG.normal(0.3, 1, 700)
    assert metrics.ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic)


def test_energy_distance_nd_agrees_with_scipy_in_1d():
    a, b = RNG.normal(0, 1, 300), RNG.normal(0.5, 2, 200)
    reference = stats.energy_distance(a, b)
    assert metrics.energy_distance(a, b) == pytest.approx(reference)
    assert metrics.energy_distance(a[:, None], b[:, None]) == pytest.approx(reference)


def test_sliced_wasserstein_of_a_translation():
    # Shifting a sample by m shifts each 1-D projection by <theta, m>, so SW2^2 = E (theta.m)^2
    # = |m|^2 / d for directions uniform on the sphere.
    a = RNG.normal(size=(2000, 2))
    shift = np.array([3.0, 4.0])
    estimate = metrics.sliced_wasserstein(a, a + shift, n_projections=5000)
    assert estimate == pytest.approx(5.0 / math.sqrt(2), rel=0.02)


def test_classifier_auc_half_for_same_distribution_and_one_for_separated():
    a, b = RNG.normal(size=(1500, 3)), RNG.normal(size=(1500, 3))
    assert metrics.classifier_two_sample_auc(a, b) == pytest.approx(0.5, abs=0.05)
    assert metrics.classifier_two_sample_auc(a, b + 6.0) > 0.99


def test_classifier_auc_rejects_mismatched_features():
    with pytest.raises(ValueError, match="feature"):
        metrics.classifier_two_sample_auc(np.zeros((10, 2)), np.zeros((10, 3)))


def test_mode_coverage_counts_by_hand():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = np.array([[0.1, 0.0]] * 50 + [[10.0, 0.2]] * 45 + [[0.0, 9.0]] * 5 + [[5.0, 5.0]] * 10)
    result = metrics.mode_coverage(samples, centres, radius=0.5)
    assert result.counts.tolist() == [50, 45, 0]
    assert result.n_covered == 2 and result.n_modes == 3
    assert result.fraction_near == pytest.approx(95 / 110)
    assert "2/3 modes" in str(result)


def test_digit_classifier_judges_real_digits():
    from gm_helpers.data import load_mnist

    x, y = load_mnist("test")
    assert metrics.digit_classifier().test_accuracy > 0.95
    assert metrics.digit_accuracy(x[:500], y[:500]) > 0.95
    assert metrics.digit_accuracy(x[:500], (y[:500] + 1) % 10) < 0.05
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.digit_accuracy(x[:5] * 255, y[:5])
