"""Catalogue of known wrong answers of exercise 00 (``00_generative_modeling``): each must fail its
check with a message that names its cause; the reference answers pass."""

import math

import numpy as np
import pytest
import torch

import gm_helpers as gm
from gm_helpers.exercises import generative_modeling as checks


def shared(p_samples, q_samples, bins, range, eps=1e-10, normalize=True):
    edges = np.histogram_bin_edges(np.concatenate([p_samples, q_samples]), bins=bins, range=range)
    p = np.histogram(p_samples, edges)[0] + eps
    q = np.histogram(q_samples, edges)[0] + eps
    return (p / p.sum(), q / q.sum()) if normalize else (p, q)


# ----------------------------------------------------------------------------------------------
# histogram_kl(p_samples, q_samples, bins=50, range=None, eps=1e-10)
# ----------------------------------------------------------------------------------------------
def kl_reference(p_samples, q_samples, bins=50, range=None, eps=1e-10):
    p, q = shared(p_samples, q_samples, bins, range, eps)
    return float(np.sum(p * np.log(p / q)))


def kl_counts(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # counts, not probabilities
    p, q = shared(p_samples, q_samples, bins, range, eps, normalize=False)
    return float(np.sum(p * np.log(p / q)))


def kl_own_edges(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # each sample its own edges
    p = np.histogram(p_samples, bins, range)[0] + eps
    q = np.histogram(q_samples, bins, range)[0] + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def kl_reversed(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # KL(Q || P)
    p, q = shared(p_samples, q_samples, bins, range, eps)
    return float(np.sum(q * np.log(q / p)))


def kl_log2(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # bits instead of nats
    p, q = shared(p_samples, q_samples, bins, range, eps)
    return float(np.sum(p * np.log2(p / q)))


def kl_no_eps(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # no pseudo-count: log 0
    p, q = shared(p_samples, q_samples, bins, range, eps=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(p * np.log(p / q)))


def kl_eps_after(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # eps added to probabilities
    p, q = shared(p_samples, q_samples, bins, range, eps=0.0)
    p, q = p + eps, q + eps
    return float(np.sum(p * np.log(p / q)))


def kl_density(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # density=True, not probabilities
    edges = np.histogram_bin_edges(np.concatenate([p_samples, q_samples]), bins=bins, range=range)
    p = np.histogram(p_samples, edges, density=True)[0] + eps
    q = np.histogram(q_samples, edges, density=True)[0] + eps
    return float(np.sum(p * np.log(p / q)))


def kl_ignores_bins(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # hard-coded 50 bins
    return kl_reference(p_samples, q_samples, 50, range, eps)


KL_WRONG = [
    (kl_counts, r"counts, not probabilities"),
    (kl_own_edges, r"different edges"),
    (kl_reversed, r"KL\(Q \|\| P\): the arguments are reversed"),
    (kl_log2, r"log2 .* nats"),
    (kl_no_eps, r"add the pseudo-count eps"),
    (kl_eps_after, r"eps pseudo-count is added to the probabilities"),
    (kl_density, r"density=True"),
    (kl_ignores_bins, r"expected"),
]


@pytest.mark.parametrize("answer, message", KL_WRONG, ids=[f.__name__ for f, _ in KL_WRONG])
def test_wrong_histogram_kl_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_histogram_kl(answer)


# ----------------------------------------------------------------------------------------------
# histogram_js(p_samples, q_samples, bins=50, range=None, eps=1e-10)
# ----------------------------------------------------------------------------------------------
def kl(p, q, log=np.log):
    return float(np.sum(p * log(p / q)))


def js_reference(p_samples, q_samples, bins=50, range=None, eps=1e-10):
    p, q = shared(p_samples, q_samples, bins, range, eps)
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def js_no_mixture(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # symmetrized KL, no mixture
    p, q = shared(p_samples, q_samples, bins, range, eps)
    return 0.5 * kl(p, q) + 0.5 * kl(q, p)


def js_mixture_not_halved(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # m = p + q
    p, q = shared(p_samples, q_samples, bins, range, eps)
    return 0.5 * kl(p, p + q) + 0.5 * kl(q, p + q)


def js_one_term(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # forgets the Q term
    p, q = shared(p_samples, q_samples, bins, range, eps)
    return 0.5 * kl(p, 0.5 * (p + q))


def js_terms_not_halved(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # KL(P||M) + KL(Q||M)
    p, q = shared(p_samples, q_samples, bins, range, eps)
    m = 0.5 * (p + q)
    return kl(p, m) + kl(q, m)


def js_log2(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # bits
    p, q = shared(p_samples, q_samples, bins, range, eps)
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m, np.log2) + 0.5 * kl(q, m, np.log2)


def js_counts(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # mixture of raw counts
    p, q = shared(p_samples, q_samples, bins, range, eps, normalize=False)
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def js_own_edges(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # each sample its own edges
    p = np.histogram(p_samples, bins, range)[0] + eps
    q = np.histogram(q_samples, bins, range)[0] + eps
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def js_is_kl(p_samples, q_samples, bins=50, range=None, eps=1e-10):  # returns KL(P || Q)
    return kl(*shared(p_samples, q_samples, bins, range, eps))


JS_WRONG = [
    (js_no_mixture, r"mixture m = \(p \+ q\) / 2 is missing"),
    (js_mixture_not_halved, r"mixture is missing its 1/2"),
    (js_one_term, r"only one of the two terms"),
    (js_terms_not_halved, r"not halved"),
    (js_log2, r"log2 .* nats"),
    (js_counts, r"counts, not probabilities"),
    (js_own_edges, r"different edges"),
    (js_is_kl, r"this is KL\(P \|\| Q\), not JS|mixture m = \(p \+ q\) / 2 is missing"),
]


@pytest.mark.parametrize("answer, message", JS_WRONG, ids=[f.__name__ for f, _ in JS_WRONG])
def test_wrong_histogram_js_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_histogram_js(answer)


# ----------------------------------------------------------------------------------------------
# gaussian_kl(mu1, sigma1, mu2, sigma2)
# ----------------------------------------------------------------------------------------------
def gkl_reference(mu1, sigma1, mu2, sigma2):
    return np.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5


GKL_WRONG = [
    # the square on (mu1 - mu2) missing
    (
        lambda m1, s1, m2, s2: np.log(s2 / s1) + (s1**2 + (m1 - m2)) / (2 * s2**2) - 0.5,
        r"square on \(mu1 - mu2\)",
    ),
    # the denominator with sigma1: the wrong sigma
    (
        lambda m1, s1, m2, s2: np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s1**2) - 0.5,
        r"denominator uses sigma1",
    ),
    # log term inverted
    (
        lambda m1, s1, m2, s2: np.log(s1 / s2) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5,
        r"log term is inverted",
    ),
    # variances in the log without the 1/2
    (
        lambda m1, s1, m2, s2: np.log(s2**2 / s1**2) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5,
        r"log term uses the variances",
    ),
    # sigmas not squared in the fraction
    (lambda m1, s1, m2, s2: np.log(s2 / s1) + (s1 + (m1 - m2) ** 2) / (2 * s2) - 0.5, r"not squared"),
    # - 1/2 forgotten
    (lambda m1, s1, m2, s2: np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2), r"- 1/2 is missing"),
    # factor 2 missing
    (lambda m1, s1, m2, s2: np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / s2**2 - 0.5, r"factor 2"),
    # KL(Q || P)
    (lambda m1, s1, m2, s2: gkl_reference(m2, s2, m1, s1), r"KL\(Q \|\| P\)"),
    # torch.log on numpy arrays / floats
    (
        lambda m1, s1, m2, s2: torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5,
        r"use np\.log",
    ),
    # math.log: fails on arrays
    (lambda m1, s1, m2, s2: math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5, r"use np\.log"),
]


@pytest.mark.parametrize("answer, message", GKL_WRONG, ids=[f"mistake{i}" for i in range(len(GKL_WRONG))])
def test_wrong_gaussian_kl_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_gaussian_kl(answer)


# ----------------------------------------------------------------------------------------------
# estimator_spread(sample_sizes, repeats, p=P, q=Q, bins=40, seed=0)
# ----------------------------------------------------------------------------------------------
def spread_reference(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    rng = np.random.default_rng(seed)
    estimates = np.array(
        [
            [
                kl_reference(rng.normal(*p, n), rng.normal(*q, n), bins=bins, range=(-8, 9))
                for _ in range(repeats)
            ]
            for n in sample_sizes
        ]
    )
    return estimates.mean(axis=1), estimates.std(axis=1)


def spread_same_samples(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for n in sample_sizes:  # the same samples for every repeat
        xp, xq = rng.normal(*p, n), rng.normal(*q, n)
        out.append([kl_reference(xp, xq, bins=bins, range=(-8, 9)) for _ in range(repeats)])
    return np.mean(out, axis=1), np.std(out, axis=1)


def spread_rng_in_loop(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    out = []
    for n in sample_sizes:
        row = []
        for _ in range(repeats):  # rng re-created with the same seed: identical repeats
            rng = np.random.default_rng(seed)
            row.append(kl_reference(rng.normal(*p, n), rng.normal(*q, n), bins=bins, range=(-8, 9)))
        out.append(row)
    return np.mean(out, axis=1), np.std(out, axis=1)


def spread_wrong_axis(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    rng = np.random.default_rng(seed)
    e = np.array(
        [
            [
                kl_reference(rng.normal(*p, n), rng.normal(*q, n), bins=bins, range=(-8, 9))
                for _ in range(repeats)
            ]
            for n in sample_sizes
        ]
    )
    return e.mean(axis=0), e.std(axis=0)  # over the sizes


def spread_variance(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    means, stds = spread_reference(sample_sizes, repeats, p, q, bins, seed)
    return means, stds**2  # the variance, not the standard deviation


def spread_swapped(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    means, stds = spread_reference(sample_sizes, repeats, p, q, bins, seed)
    return stds, means  # (stds, means)


def spread_fixed_n(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    return spread_reference([100] * len(sample_sizes), repeats, p, q, bins, seed)  # ignores n


def spread_global_pq(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    return spread_reference(sample_sizes, repeats, (0.0, 1.0), (1.0, 1.5), bins, seed)  # ignores p, q


def spread_q_from_p(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    return spread_reference(sample_sizes, repeats, p, p, bins, seed)  # both samples from P


SPREAD_WRONG = [
    (spread_same_samples, r"same samples are reused across the repeats"),
    (spread_rng_in_loop, r"same samples are reused across the repeats"),
    (spread_wrong_axis, r"averaged over the sample sizes instead of the repeats"),
    (spread_variance, r"looks like a variance"),
    (spread_swapped, r"means look like standard deviations"),
    (spread_fixed_n, r"do not approach the exact KL .* for each size n"),
    (spread_global_pq, r"use p and q as given"),
    (spread_q_from_p, r"do not approach the exact KL|use p and q as given"),
]


@pytest.mark.parametrize("answer, message", SPREAD_WRONG, ids=[f.__name__ for f, _ in SPREAD_WRONG])
def test_wrong_estimator_spread_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_estimator_spread(answer)


def test_references_pass():
    checks.check_histogram_kl(kl_reference)
    checks.check_histogram_kl(gm.metrics.kl_divergence_hist)
    checks.check_histogram_js(js_reference)
    checks.check_histogram_js(gm.metrics.js_divergence_hist)
    checks.check_gaussian_kl(gkl_reference)
    checks.check_gaussian_kl(checks.reference_gaussian_kl)
    checks.check_estimator_spread(spread_reference)
    checks.check_estimator_spread(checks.reference_estimator_spread)
