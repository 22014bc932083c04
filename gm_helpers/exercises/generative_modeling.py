"""Checks of exercise 00 (``00_generative_modeling``): histogram estimates of KL and JS, the closed
form of the KL of two Gaussians, and the spread of the estimator over repeated samples.

Each check compares the answer with an independent reference (``scipy`` through
``gm.metrics``, ``torch.distributions``) and, when the value is wrong, works out the classic
mistakes on the same inputs to name the one that matches.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch.distributions import Normal, kl_divergence

from gm_helpers.metrics import js_divergence_hist, kl_divergence_hist

__all__ = [
    "check_estimator_spread",
    "check_gaussian_kl",
    "check_histogram_js",
    "check_histogram_kl",
    "reference_estimator_spread",
    "reference_gaussian_kl",
]

_RANGE = (-8, 9)


# ----------------------------------------------------------------------------------------------
# Histograms: the reference pieces and the classic mistakes, worked out on the same inputs
# ----------------------------------------------------------------------------------------------
def _counts(p_samples, q_samples, bins, range, shared=True):
    if shared:
        edges = np.histogram_bin_edges(np.concatenate([p_samples, q_samples]), bins=bins, range=range)
        return np.histogram(p_samples, edges)[0], np.histogram(q_samples, edges)[0]
    return np.histogram(p_samples, bins, range)[0], np.histogram(q_samples, bins, range)[0]


def _kl(p, q, log=np.log):
    return float(np.sum(p * log(p / q)))


def _js(p, q, log=np.log):
    m = 0.5 * (p + q)
    return 0.5 * _kl(p, m, log) + 0.5 * _kl(q, m, log)


def _normalized(cp, cq, eps):
    p, q = cp + eps, cq + eps
    return p / p.sum(), q / q.sum()


def _mistakes(divergence: Callable, case: tuple, eps: float = 1e-10) -> list[tuple[str, float]]:
    """(cause, value) of the classic wrong ways to compute ``divergence`` on ``case``."""
    p_samples, q_samples, bins, range = case
    cp, cq = _counts(p_samples, q_samples, bins, range)
    p, q = _normalized(cp, cq, eps)
    out = [
        (
            "log2 was used instead of the natural log: the answer must be in nats (np.log)",
            divergence(p, q, np.log2),
        ),
        (
            "the histograms are counts, not probabilities: divide each by its sum (after adding eps)",
            divergence(cp + eps, cq + eps),
        ),
        (
            "the eps pseudo-count is added to the probabilities, not to the counts: add eps to every "
            "bin's count, then normalize",
            divergence(cp / cp.sum() + eps, cq / cq.sum() + eps),
        ),
    ]
    widths = np.diff(np.histogram_bin_edges(np.concatenate([p_samples, q_samples]), bins, range))
    out.append(
        (
            "the histograms are densities (density=True), which do not sum to 1 over the bins: "
            "use probabilities p_i = count_i / total",
            divergence(p / widths, q / widths),
        )
    )
    sp, sq = _counts(p_samples, q_samples, bins, range, shared=False)
    out.append(
        (
            "P and Q are binned on different edges (each histogram picked its own): use the same "
            "edges for both, from np.histogram_bin_edges on the two samples together",
            divergence(*_normalized(sp, sq, eps)),
        )
    )
    return out


def _diagnose(got: float, want: float, mistakes: list[tuple[str, float]], what: str) -> None:
    """Raise an AssertionError naming the mistake whose value ``got`` matches, or saying the values."""
    if not np.isfinite(got):
        raise AssertionError(
            f"{what} is {got}: an empty bin gives log 0 or 0 / 0; add the pseudo-count eps to every "
            "bin of both histograms before normalizing"
        )
    for cause, value in mistakes:
        if np.isfinite(value) and np.isclose(got, value, rtol=1e-6, atol=1e-9):
            raise AssertionError(f"{what} is {got:.6g}, expected {want:.6g}: {cause}")
    raise AssertionError(
        f"{what} is {got:.6g}, expected {want:.6g} (are bins, range and eps passed on as given?)"
    )


def _as_float(value, what: str) -> float:
    try:
        return float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise AssertionError(f"{what} must be one number, got {type(value).__name__}") from error


def _histogram_cases() -> list[tuple]:
    rng = np.random.default_rng(123)
    return [
        (rng.normal(0, 1, 5000), rng.normal(0.5, 1.2, 4000), 40, (-6, 6)),
        # range=None: the edges come from the data, so each sample alone would get other edges
        (rng.exponential(1, 3000), rng.exponential(1.5, 4000), 25, None),
        (rng.normal(0, 1, 2000), rng.normal(1, 2, 2000), 30, None),
    ]


def check_histogram_kl(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(p, q, bins, range)``
    estimates KL(P || Q) in nats like ``gm.metrics.kl_divergence_hist``."""
    for number, case in enumerate(_histogram_cases(), start=1):
        got = _as_float(answer(*case), f"case {number}: histogram_kl")
        want = kl_divergence_hist(*case)
        if np.isfinite(got) and np.isclose(got, want, rtol=1e-5, atol=1e-9):
            continue
        mistakes = _mistakes(_kl, case)
        p, q = _normalized(*_counts(*case), 1e-10)
        mistakes.insert(
            0,
            (
                "this is KL(Q || P): the arguments are reversed; KL(P || Q) = sum p_i log(p_i / q_i)",
                _kl(q, p),
            ),
        )
        _diagnose(got, want, mistakes, f"case {number}: KL")
    # disjoint supports: only the pseudo-count keeps the value finite
    rng = np.random.default_rng(5)
    case = (rng.uniform(0, 1, 500), rng.uniform(2, 3, 500), 30, (0, 3))
    got = _as_float(answer(*case), "disjoint samples: histogram_kl")
    want = kl_divergence_hist(*case)
    if not (np.isfinite(got) and np.isclose(got, want, rtol=1e-5)):
        _diagnose(got, want, _mistakes(_kl, case), "samples on disjoint ranges: KL")


def check_histogram_js(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(p, q, bins, range)``
    estimates the Jensen-Shannon divergence in nats like ``gm.metrics.js_divergence_hist``."""
    rng = np.random.default_rng(7)
    cases = _histogram_cases() + [(rng.uniform(0, 1, 500), rng.uniform(3, 4, 500), 20, (0, 4))]
    for number, case in enumerate(cases, start=1):
        got = _as_float(answer(*case), f"case {number}: histogram_js")
        want = js_divergence_hist(*case)
        if np.isfinite(got) and np.isclose(got, want, rtol=1e-5, atol=1e-9):
            continue
        p, q = _normalized(*_counts(*case), 1e-10)
        mistakes = [
            (
                "the mixture m = (p + q) / 2 is missing: this is the symmetrized KL "
                "(KL(P||Q) + KL(Q||P)) / 2, not JS; compare p and q each with m",
                0.5 * _kl(p, q) + 0.5 * _kl(q, p),
            ),
            (
                "the mixture is missing its 1/2: m = (p + q) / 2, not p + q",
                0.5 * _kl(p, p + q) + 0.5 * _kl(q, p + q),
            ),
            ("only one of the two terms: JS = KL(P||M) / 2 + KL(Q||M) / 2", 0.5 * _kl(p, 0.5 * (p + q))),
            (
                "the two terms are not halved: JS = KL(P||M) / 2 + KL(Q||M) / 2, not their sum",
                _kl(p, 0.5 * (p + q)) + _kl(q, 0.5 * (p + q)),
            ),
            ("this is KL(P || Q), not JS: use the mixture m = (p + q) / 2", _kl(p, q)),
        ] + _mistakes(_js, case)
        if got > np.log(2) + 1e-9 or got < -1e-12:
            bound = f"; JS lies between 0 and log 2 = {np.log(2):.4f}"
        else:
            bound = ""
        try:
            _diagnose(got, want, mistakes, f"case {number}: JS")
        except AssertionError as error:
            raise AssertionError(f"{error}{bound}") from None


# ----------------------------------------------------------------------------------------------
# Gaussians
# ----------------------------------------------------------------------------------------------
def reference_gaussian_kl(mu1, sigma1, mu2, sigma2):
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) in nats, by ``torch.distributions`` (numbers or
    numpy arrays in, numpy out)."""
    args = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (mu1, sigma1, mu2, sigma2)]
    return kl_divergence(Normal(args[0], args[1]), Normal(args[2], args[3])).numpy()


def _gaussian_mistakes(m1, s1, m2, s2) -> list[tuple[str, np.ndarray]]:
    log, d = np.log, m1 - m2
    return [
        ("the square on (mu1 - mu2) is missing", log(s2 / s1) + (s1**2 + d) / (2 * s2**2) - 0.5),
        (
            "the square on (mu1 - mu2) is missing (|mu1 - mu2|)",
            log(s2 / s1) + (s1**2 + abs(d)) / (2 * s2**2) - 0.5,
        ),
        (
            "the sigmas are not squared in the fraction: use sigma1**2 and sigma2**2 (variances)",
            log(s2 / s1) + (s1 + d**2) / (2 * s2) - 0.5,
        ),
        (
            "the denominator uses sigma1: it is 2 sigma2^2, the width of Q",
            log(s2 / s1) + (s1**2 + d**2) / (2 * s1**2) - 0.5,
        ),
        (
            "the log term is inverted: log(sigma2 / sigma1), not log(sigma1 / sigma2)",
            log(s1 / s2) + (s1**2 + d**2) / (2 * s2**2) - 0.5,
        ),
        (
            "the log term uses the variances: log(sigma2 / sigma1) = log(sigma2^2 / sigma1^2) / 2",
            log(s2**2 / s1**2) + (s1**2 + d**2) / (2 * s2**2) - 0.5,
        ),
        ("the - 1/2 is missing", log(s2 / s1) + (s1**2 + d**2) / (2 * s2**2)),
        ("the factor 2 of 2 sigma2^2 is missing", log(s2 / s1) + (s1**2 + d**2) / s2**2 - 0.5),
        ("this is KL(Q || P): P and Q are swapped", log(s1 / s2) + (s2**2 + d**2) / (2 * s1**2) - 0.5),
        (
            "the sigmas were taken as variances: the arguments are standard deviations",
            0.5 * log(s2 / s1) + (s1 + d**2) / (2 * s2) - 0.5,
        ),
    ]


def check_gaussian_kl(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(mu1, sigma1, mu2, sigma2)``
    gives the closed-form KL of two Gaussians, for numpy arrays (element-wise) and for plain floats."""
    rng = np.random.default_rng(11)
    mu1, mu2 = rng.uniform(-2, 2, 6), rng.uniform(-2, 2, 6)
    s1, s2 = rng.uniform(0.3, 2.5, 6), rng.uniform(0.3, 2.5, 6)
    cases = [(mu1, s1, mu2, s2), (0.0, 1.0, 1.0, 1.5), (0.5, 2.0, -1.0, 0.7)]
    for number, case in enumerate(cases, start=1):
        want = reference_gaussian_kl(*case)
        try:
            got = np.asarray(answer(*case), dtype=np.float64)
        except (TypeError, AttributeError) as error:
            raise AssertionError(
                f"case {number} (numpy arrays / floats): your code raised {type(error).__name__}: {error}. "
                "The arguments are numbers or numpy arrays: use np.log, not torch.log or math.log"
            ) from None
        if got.shape != want.shape:
            raise AssertionError(f"case {number}: the result has shape {got.shape}, expected {want.shape}")
        if np.all(np.isfinite(got)) and np.allclose(got, want, rtol=1e-6, atol=1e-9):
            continue
        for cause, value in _gaussian_mistakes(*(np.asarray(a, dtype=np.float64) for a in case)):
            if np.allclose(got, value, rtol=1e-6, atol=1e-9):
                raise AssertionError(
                    f"case {number}: the KL is {got.ravel()[0]:.6g} where "
                    f"{want.ravel()[0]:.6g} was expected: {cause}"
                )
        raise AssertionError(
            f"case {number}: the KL is {np.round(got, 6)} where {np.round(want, 6)} was expected"
        )


# ----------------------------------------------------------------------------------------------
# The spread of the estimator
# ----------------------------------------------------------------------------------------------
def reference_estimator_spread(sample_sizes, repeats, p=(0.0, 1.0), q=(1.0, 1.5), bins=40, seed=0):
    """Arrays (means, stds) of the histogram KL estimate over ``repeats`` fresh sample pairs of
    N(*p) and N(*q) for each size, 40 bins on (-8, 9) by default."""
    rng = np.random.default_rng(seed)
    estimates = np.array(
        [
            [
                kl_divergence_hist(rng.normal(*p, n), rng.normal(*q, n), bins=bins, range=_RANGE)
                for _ in range(repeats)
            ]
            for n in sample_sizes
        ]
    )
    return estimates.mean(axis=1), estimates.std(axis=1)


@lru_cache(maxsize=4)
def _expected_spread(sizes: tuple, p: tuple, q: tuple) -> tuple[np.ndarray, np.ndarray]:
    return reference_estimator_spread(sizes, 100, p=p, q=q, bins=40, seed=2)


def check_estimator_spread(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(sample_sizes, repeats, p,
    q, bins, seed)`` returns the mean and the spread of the estimates for each size, as
    ``reference_estimator_spread`` does (statistically: the samples are random)."""
    sizes, repeats, p, q = [100, 1000, 5000], 20, (0.0, 1.0), (0.5, 1.2)
    out = answer(sizes, repeats, p=p, q=q, bins=40, seed=1)
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise AssertionError("estimator_spread must return two arrays: (means, stds)")
    means, stds = (np.asarray(a, dtype=np.float64) for a in out)
    if means.shape != (len(sizes),) or stds.shape != (len(sizes),):
        shape = means.shape if means.shape != (len(sizes),) else stds.shape
        cause = (
            "averaged over the sample sizes instead of the repeats: arrange the estimates as "
            "(sizes, repeats) and take .mean(axis=1), .std(axis=1)"
            if shape == (repeats,)
            else "one mean and one std per sample size are expected"
        )
        raise AssertionError(f"with {len(sizes)} sample sizes the results have shape {shape}: {cause}")
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(stds))):
        raise AssertionError("the means or stds contain NaN or infinite values")
    want_means, want_stds = _expected_spread(tuple(sizes), p, q)
    exact = float(reference_gaussian_kl(*p, *q))
    if np.allclose(means, want_stds, rtol=0.5) and not np.allclose(means, want_means, rtol=0.5):
        raise AssertionError("the means look like standard deviations: return (means, stds) in this order")
    if np.any(stds <= 1e-12):
        raise AssertionError(
            f"the repeats give identical estimates (std {stds}): the same samples are reused across "
            "the repeats; draw fresh samples from rng inside the repeat loop (and create rng once)"
        )
    log_stds = np.log(stds)
    if np.mean(np.abs(log_stds - 2 * np.log(want_stds))) < np.mean(np.abs(log_stds - np.log(want_stds))):
        raise AssertionError("the spread looks like a variance: return the standard deviation (.std)")
    if np.ptp(means) < 1e-9 or abs(means[-1] - exact) > 0.5 * abs(means[0] - exact):
        raise AssertionError(
            f"the means {np.round(means, 4)} do not approach the exact KL {exact:.4f} as n grows "
            f"(expected about {np.round(want_means, 4)}): draw n samples of each distribution for "
            "each size n"
        )
    tolerance = 5 * np.sqrt(want_stds**2 / repeats + stds**2 / repeats) + 0.01
    wrong = np.abs(means - want_means) > tolerance
    if np.any(wrong):
        raise AssertionError(
            f"the means {np.round(means, 4)} differ from the expected {np.round(want_means, 4)} beyond the "
            "statistical spread: use p and q as given (mean, std), the bins argument and the range (-8, 9)"
        )
    if np.any(stds > 2.5 * want_stds + 0.005) or np.any(stds < want_stds / 2.5 - 0.005):
        raise AssertionError(
            f"the stds {np.round(stds, 4)} differ from the expected {np.round(want_stds, 4)}: the spread "
            "is the standard deviation of the repeated estimates for one size"
        )
