"""Checks of exercise 07 (``07_simulation_based_inference``): the ranks of the true parameters, the
expected coverage of a posterior estimate, and the importance weights of DINGO-IS with their effective
sample size.

- ``check_my_ranks``: Gaussian "posterior samples" (m, n, d) = (6, 500, 3), then (4, 300, 2), with
  truths inside their bulk, so that every rank is a fraction strictly between 0 and 1 and the three
  sizes differ (an average over the wrong axis, or truths lined up with the wrong axis, shows in the
  shape or raises). The ranks must equal ``gm.inference.calibration.ranks``; a wrong answer is
  compared with the classic mistakes: the fraction *above* the truth, counts instead of fractions,
  0/1 indicators from the mean or median of the samples, truths of another observation (rolled or
  shuffled) or of another parameter. ``<=`` instead of ``<`` is right (continuous samples: no ties).
- ``check_my_expected_coverage``: *miscalibrated* ranks (m, d) drawn from Beta distributions, one
  column overconfident (ranks piled near 0 and 1), one underconfident (piled near 1/2), one biased
  (and a calibrated one in the second case): for uniform ranks the one-sided P-P curve
  mean(ranks <= alpha) would also lie on the diagonal and could not be told apart. The coverage must
  equal ``gm.inference.calibration.expected_coverage``; the wrong answers named: the one-sided P-P
  curve, the full width |r - 1/2| <= alpha instead of alpha / 2, the interval of level 1 - alpha, the
  ranks not centred on 1/2, the fraction outside (1 - coverage), counts, the mean over the parameters
  instead of the observations, the transposed (d, L) result. The ranks are continuous and kept away
  from the interval ends, so a strict ``<`` is right as well.
- ``check_my_importance_weights``: log-likelihoods of a realistic size (a Gaussian likelihood of 300
  noisy measurements, log p(x | theta) ~ -920, where np.exp underflows to 0; then 500 precise ones,
  ~ +820, where it overflows to inf), a Gaussian prior whose log-density varies across the samples,
  and a Gaussian proposal q that is a little off and too wide. The weights must equal the normalized
  p(x | theta) p(theta) / q(theta | x) and the ESS Kish's 1 / sum(w^2). The message names: exp
  without subtracting the max (overflow / underflow, the log-sum-exp trick), weights not normalized,
  log q added instead of subtracted, the likelihood and q swapped, the prior forgotten, log-weights
  returned; an ESS that is sum(w^2) (the inverse), computed from the unnormalized weights, equal to n,
  the efficiency ESS / n, or the perplexity exp(entropy).

Every check passes fresh copies of its inputs, accepts NumPy arrays, torch tensors or lists as the
answer's values, says which shape it expected, and turns an error of the participant's code into an
``AssertionError`` with a hint (``NotImplementedError``, the untouched stub, passes through as is).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special, stats

from gm_helpers.core import to_numpy
from gm_helpers.inference.calibration import expected_coverage, ranks

__all__ = ["check_my_expected_coverage", "check_my_importance_weights", "check_my_ranks"]


def _call(answer: Callable, name: str, args: tuple, hint: str, called_with: str):
    """Call the participant's answer quietly (no numpy warnings: the check names the cause); turn
    its errors into an ``AssertionError`` that says what it was called with (``hint`` for errors of
    shapes that do not line up), except ``NotImplementedError``, the untouched stub."""
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            return answer(*args)
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - the participant's error, reported with its cause
        text = str(error).strip()
        # the first line only: torch appends a list of overloads
        first_line = text.splitlines()[0].rstrip(".") if text else type(error).__name__
        if "broadcast" in text or "must match the size" in text:
            cause = hint
        elif isinstance(error, TypeError | AttributeError) and any(
            word in text for word in ("Tensor", "tensor", "numpy.ndarray")
        ):
            cause = (
                "the arguments are NumPy arrays: use NumPy functions (np.mean, np.exp, ...), or convert "
                "them first with torch.as_tensor(...)"
            )
        else:
            cause = f"it was called with {called_with}: try it by hand on such arrays to see where it fails"
        raise AssertionError(f"{name} raised {type(error).__name__} ({first_line}): {cause}") from error


def _as_array(value, name: str) -> np.ndarray:
    """The answer's value as a float64 array (from an array, a tensor, a list or a number)."""
    if value is None:
        raise AssertionError(f"{name} returns None: is the `return` missing?")
    try:
        return np.asarray(to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(
            f"{name} must return a NumPy array or a torch tensor, got {type(value).__name__} ({error})"
        ) from None


def _close(a, b, rtol: float = 1e-9, atol: float = 1e-6) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (
        a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(np.allclose(a, b, rtol=rtol, atol=atol))
    )


def _worst(got: np.ndarray, want: np.ndarray) -> str:
    """Where ``got`` differs most from ``want``, in words."""
    index = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
    return f"{got[index]:.6g} at index {tuple(int(i) for i in index)} where {want[index]:.6g} was expected"


# --------------------------------------------------------------------------------------------------
# Step 1: the ranks of the true parameters


def _ranks_case(m: int, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian posterior samples (m, n, d), a centre and a width per observation and parameter, and
    truths (m, d) in their bulk (between -1.5 and 1.5 widths from the centre, so 0 < rank < 1)."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-3.0, 3.0, (m, d))
    width = rng.uniform(0.2, 2.0, (m, d))
    samples = centre[:, None, :] + width[:, None, :] * rng.standard_normal((m, n, d))
    truths = centre + width * rng.uniform(-1.5, 1.5, (m, d))
    return samples, truths


def _ranks_shape(shape: tuple, m: int, n: int, d: int) -> str:
    expected = f"my_ranks must return shape (m, d) = ({m}, {d}), one rank per observation and parameter"
    causes = {
        (n, d): "the mean runs over axis 0, the observations: average over axis 1, the n samples of each "
        "observation (np.mean(..., axis=1))",
        (m, n): "the mean runs over the parameters (the last axis): average over axis 1, the n samples of "
        "each observation (np.mean(..., axis=1))",
        (d, m): "the result is transposed: keep the observations on axis 0 and the parameters on axis 1",
        (m, n, d): "the comparison is not averaged: the rank is the mean over the n samples (axis=1)",
        (): "a single number: the mean runs over every axis, average over the samples only (axis=1)",
        (m,): "the parameters were averaged as well: average over the samples only (axis=1)",
        (d,): "the observations were averaged as well: average over the samples only (axis=1)",
        (n,): "the mean runs over the observations and the parameters: average over the samples only "
        "(axis=1)",
    }
    cause = causes.get(tuple(shape), "")
    return f"{expected}, got {tuple(shape)}" + (f": {cause}" if cause else "")


def _ranks_permuted(got: np.ndarray, samples: np.ndarray, truths: np.ndarray) -> str:
    """A message when every rank is the right fraction for the wrong truth (or the wrong samples)."""
    m, _, d = samples.shape
    # other[i, j, k]: the fraction of observation i's samples below observation j's truth
    other = np.mean(samples[:, None, :, :] < truths[None, :, None, :], axis=2)
    match = np.all(np.isclose(got[:, None, :], other, rtol=0, atol=1e-6), axis=2)  # (i, j)
    if match.any(axis=1).all() and not np.all(np.diag(match)):
        return (
            "the samples of an observation are compared with the truth of *another* observation (the "
            "truths rolled, shuffled or lined up with the wrong axis): compare samples[i] with truths[i], "
            "samples < truths[:, None, :]"
        )
    # the samples of observation j against the truth of observation i
    match = np.all(np.isclose(got[:, None, :], np.transpose(other, (1, 0, 2)), rtol=0, atol=1e-6), axis=2)
    if match.any(axis=1).all() and not np.all(np.diag(match)):
        return (
            "the truth of an observation is compared with the samples of *another* observation (the "
            "samples reordered): compare samples[i] with truths[i], samples < truths[:, None, :]"
        )
    # parameter k's samples against parameter l's truth
    cross = np.mean(samples[:, :, :, None] < truths[:, None, None, :], axis=1)  # (i, k, l)
    match = np.all(np.isclose(got[:, :, None], cross, rtol=0, atol=1e-6), axis=0)  # (k, l)
    if d > 1 and match.any(axis=1).all() and not np.all(np.diag(match)):
        return (
            "the samples of a parameter are compared with the truth of *another* parameter: keep the "
            "parameter axis last in both, samples < truths[:, None, :]"
        )
    return ""


def _diagnose_ranks(got: np.ndarray, samples: np.ndarray, truths: np.ndarray) -> None:
    m, n, d = samples.shape
    want = ranks(samples, truths)
    if not np.all(np.isfinite(got)):
        raise AssertionError("the ranks contain NaN or infinite values: they are fractions in [0, 1]")
    candidates = [
        (1 - want, "these are the fractions of samples *above* the truth (1 - rank): count the samples "
         "below it, np.mean(samples < truths[:, None, :], axis=1)"),
        (n * want, f"these are counts of samples below the truth (up to n = {n}), not fractions: take "
         "the mean over the samples (np.mean(..., axis=1)), or divide the count by n"),
        (n * (1 - want), f"these are counts of samples *above* the truth (up to n = {n}): take the "
         "fraction of samples *below* it, np.mean(samples < truths[:, None, :], axis=1)"),
        (100 * want, "these are percentages: the rank is a fraction in [0, 1], without the factor 100"),
    ]  # fmt: skip
    for value, message in candidates:
        if _close(got, value):
            raise AssertionError(message)
    if np.all((got == 0) | (got == 1)):
        summaries = {
            "mean": np.mean(samples, axis=1),
            "median": np.median(samples, axis=1),
        }
        which = [name for name, s in summaries.items() if np.array_equal(got, s < truths) or
                 np.array_equal(got, s > truths) or np.array_equal(got, s <= truths)]  # fmt: skip
        source = (
            f"the {' or '.join(which)} of the samples compared with the truth" if which else "0/1 indicators"
        )
        raise AssertionError(
            f"every rank is 0 or 1 ({source}): the rank is the *fraction* of the n samples below the "
            "truth. Compare every sample with the truth, then average over the samples: "
            "np.mean(samples < truths[:, None, :], axis=1)"
        )
    permuted = _ranks_permuted(got, samples, truths)
    if permuted:
        raise AssertionError(permuted)
    if np.nanmax(got) > 1 + 1e-9 or np.nanmin(got) < -1e-9:
        raise AssertionError(
            f"the ranks range from {np.min(got):.4g} to {np.max(got):.4g}: they are fractions of samples "
            "in [0, 1], np.mean(samples < truths[:, None, :], axis=1)"
        )
    raise AssertionError(
        f"the ranks differ from the fraction of samples below the truth: {_worst(got, want)}. The rank of "
        "observation i and parameter k is np.mean(samples[i, :, k] < truths[i, k])"
    )


def check_my_ranks(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(samples, truths)`` returns the
    fraction of posterior samples below the true value, (m, d) from samples (m, n, d) and truths (m, d),
    as ``gm.inference.calibration.ranks``. Two cases, (6, 500, 3) and (4, 300, 2)."""
    for (m, n, d), seed in (((6, 500, 3), 0), ((4, 300, 2), 1)):
        samples, truths = _ranks_case(m, n, d, seed)
        called_with = f"samples of shape (m, n, d) = ({m}, {n}, {d}) and truths of shape (m, d) = ({m}, {d})"
        hint = (
            f"the shapes do not line up: {called_with}. Give truths an axis for the samples, "
            f"truths[:, None, :] of shape ({m}, 1, {d}), so that the n samples of each observation are "
            "compared with its own truth"
        )
        got = _call(answer, "my_ranks", (samples.copy(), truths.copy()), hint, called_with)
        got = _as_array(got, "my_ranks")
        if got.shape != (m, d):
            raise AssertionError(_ranks_shape(got.shape, m, n, d))
        if not _close(got, ranks(samples, truths), rtol=0, atol=1e-6):
            _diagnose_ranks(got, samples, truths)


# --------------------------------------------------------------------------------------------------
# Step 2: the expected coverage


def _coverage_case(m: int, columns: tuple[tuple[float, float], ...], levels, seed: int):
    """Ranks (m, d) from Beta(a, b) columns (continuous, kept 1e-6 away from the ends 1/2 +- alpha/2 of
    every central interval and from alpha itself, so that < and <= agree) and the levels (L,)."""
    rng = np.random.default_rng(seed)
    levels = np.asarray(levels, dtype=np.float64)
    r = np.stack([rng.beta(a, b, m) for a, b in columns], axis=1)
    ends = np.concatenate([0.5 - levels / 2, 0.5 + levels / 2, levels, 1 - levels])
    for _ in range(3):
        near = np.min(np.abs(r[..., None] - ends), axis=-1) < 1e-6
        r = np.where(near, r + 3e-6, r)
    return np.clip(r, 1e-6, 1 - 1e-6), levels


# Beta(a, b) ranks: overconfident (piled near 0 and 1), underconfident (near 1/2), biased, calibrated
_OVERCONFIDENT, _UNDERCONFIDENT, _BIASED, _CALIBRATED = (0.35, 0.35), (3.0, 3.0), (2.5, 0.8), (1.0, 1.0)
_COVERAGE_CASES = (
    (400, (_OVERCONFIDENT, _UNDERCONFIDENT, _BIASED), (0.1, 0.2, 0.35, 0.5, 0.68, 0.8, 0.95), 0),
    (250, (_BIASED, _OVERCONFIDENT, _CALIBRATED, _UNDERCONFIDENT), (0.05, 0.3, 0.5, 0.9, 0.99), 1),
)


def _coverage_shape(shape: tuple, m: int, d: int, n_levels: int) -> str:
    expected = (
        f"my_expected_coverage must return shape (L, d) = ({n_levels}, {d}), one coverage per credible "
        "level and parameter"
    )
    causes = {
        (d, n_levels): "the result is transposed: the levels on axis 0, the parameters on axis 1",
        (n_levels, m): "the mean runs over the parameters (the last axis) instead of the observations: "
        "average the (L, m, d) indicators over axis 1, the m observations",
        (m, n_levels): "the mean runs over the parameters instead of the observations (and the result is "
        "transposed): average the (L, m, d) indicators over axis 1, the m observations",
        (n_levels,): "the parameters were averaged as well: keep one column per parameter, average over "
        "the observations only (axis=1)",
        (n_levels, m, d): "the indicators are not averaged: the coverage is their mean over the m "
        "observations (axis=1)",
        (m, d): "the levels are missing from the result: compare ranks[None] (1, m, d) with "
        "levels[:, None, None] / 2 (L, 1, 1), then average over axis 1",
        (d,): "one number per parameter: compute the coverage at every level, (L, d)",
    }
    cause = causes.get(tuple(shape), "")
    return f"{expected}, got {tuple(shape)}" + (f": {cause}" if cause else "")


def _coverage_mistakes(r: np.ndarray, levels: np.ndarray) -> list[tuple[np.ndarray, str]]:
    lv = levels[:, None, None]
    rr = r[None]
    m = len(r)
    want = expected_coverage(r, levels)
    pp = (
        "this is the one-sided P-P curve, the fraction of ranks below the level (mean(ranks <= alpha)): "
        "it lies on the diagonal for a calibrated posterior too, but it is not the coverage of the "
        "*central* credible interval. The central interval of level alpha holds the truth when "
        "|rank - 1/2| <= alpha / 2"
    )
    return [
        (np.mean(rr <= lv, axis=1), pp),
        (np.mean(rr >= 1 - lv, axis=1), pp.replace("below the level (mean(ranks <= alpha))",
                                                 "above 1 - alpha (mean(ranks >= 1 - alpha))")),
        (np.mean(np.abs(rr - 0.5) <= lv, axis=1),
         "the interval is twice too wide (full width): |rank - 1/2| <= alpha spans a width 2 alpha. The "
         "central interval of level alpha runs from 1/2 - alpha/2 to 1/2 + alpha/2: "
         "|rank - 1/2| <= alpha / 2"),
        (np.mean((rr >= lv / 2) & (rr <= 1 - lv / 2), axis=1),
         "this is the interval of level 1 - alpha (from alpha/2 to 1 - alpha/2): the central interval of "
         "level alpha leaves (1 - alpha) / 2 in each tail, so it runs from 1/2 - alpha/2 to 1/2 + alpha/2: "
         "|rank - 1/2| <= alpha / 2"),
        (np.mean(np.abs(rr) <= lv / 2, axis=1),
         "the ranks are not centred: the central interval is around the median, rank 1/2, so compare "
         "|rank - 1/2| (not |rank|) with alpha / 2"),
        (1 - want,
         "this is the fraction of truths *outside* the interval (1 - coverage): count those inside, "
         "|rank - 1/2| <= alpha / 2"),
        (m * want,
         f"these are counts of observations (up to m = {m}), not fractions: take the mean over the "
         "observations (axis=1)"),
    ]  # fmt: skip


def check_my_expected_coverage(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(ranks, levels)`` returns the
    fraction of observations whose truth lies in the central credible interval of each level,
    (L, d) from ranks (m, d) and levels (L,), as ``gm.inference.calibration.expected_coverage``.
    Miscalibrated ranks (overconfident, underconfident, biased), m = 400, d = 3, L = 7, then
    m = 250, d = 4, L = 5."""
    for m, columns, levels, seed in _COVERAGE_CASES:
        r, levels = _coverage_case(m, columns, levels, seed)
        d, n_levels = r.shape[1], len(levels)
        called_with = f"ranks of shape (m, d) = ({m}, {d}) and levels of shape (L,) = ({n_levels},)"
        hint = (
            f"the shapes do not line up: {called_with}. Compare ranks[None] (1, {m}, {d}) with "
            f"levels[:, None, None] / 2 ({n_levels}, 1, 1), which gives ({n_levels}, {m}, {d}), then "
            "average over the observations (axis=1)"
        )
        got = _call(answer, "my_expected_coverage", (r.copy(), levels.copy()), hint, called_with)
        got = _as_array(got, "my_expected_coverage")
        if got.shape != (n_levels, d):
            raise AssertionError(_coverage_shape(got.shape, m, d, n_levels))
        want = expected_coverage(r, levels)
        if _close(got, want, rtol=0, atol=1e-6):
            continue
        if not np.all(np.isfinite(got)):
            raise AssertionError("the coverage contains NaN or infinite values: it is a fraction in [0, 1]")
        for value, message in _coverage_mistakes(r, levels):
            if _close(got, value, rtol=0, atol=1e-6):
                raise AssertionError(message)
        raise AssertionError(
            f"the coverage differs from the fraction of truths inside the central intervals: "
            f"{_worst(got, want)}. For level alpha and parameter k it is "
            "np.mean(np.abs(ranks[:, k] - 0.5) <= alpha / 2)"
        )


# --------------------------------------------------------------------------------------------------
# Step 3: importance weights and the effective sample size


def _weights_case(n: int, n_data: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p(x | theta_i), log p(theta_i), log q(theta_i | x) for n draws of a proposal q.

    x: ``n_data`` measurements N(theta, sigma^2) of theta = 0.7; prior N(0, 0.5^2); q: a Gaussian a
    little off the posterior's centre and 1.4 times too wide (a neural posterior estimate)."""
    rng = np.random.default_rng(seed)
    x = 0.7 + sigma * rng.standard_normal(n_data)
    prior_sd = 0.5
    precision = n_data / sigma**2 + 1 / prior_sd**2
    post_mean, post_sd = (x.sum() / sigma**2) / precision, precision**-0.5
    q_mean, q_sd = post_mean + 0.3 * post_sd, 1.4 * post_sd
    theta = q_mean + q_sd * rng.standard_normal(n)
    chi2 = np.sum(x**2) - 2 * theta * np.sum(x) + n_data * theta**2
    log_likelihood = -0.5 * n_data * math.log(2 * math.pi * sigma**2) - 0.5 * chi2 / sigma**2
    log_prior = stats.norm.logpdf(theta, 0.0, prior_sd)
    log_q = stats.norm.logpdf(theta, q_mean, q_sd)
    return log_likelihood, log_prior, log_q


# log p(x | theta) ~ -920 (exp underflows to 0), then ~ +820 (exp overflows to inf)
_WEIGHTS_CASES = ((1000, 300, 5.0, 0), (700, 500, 0.05, 1))


def _softmax(log_w: np.ndarray) -> np.ndarray:
    return special.softmax(log_w)


def _ess(w: np.ndarray) -> float:
    return float(np.sum(w) ** 2 / np.sum(w**2))


def _unpack_weights(result, n: int) -> tuple[np.ndarray, float]:
    if hasattr(result, "weights") and hasattr(result, "ess"):
        raise AssertionError(
            f"my_importance_weights returns {type(result).__name__}(...): return the tuple (weights, ess), "
            "e.g. `return samples.weights, samples.ess`"
        )
    if not isinstance(result, tuple | list) or len(result) != 2:
        got = type(result).__name__
        if isinstance(result, tuple | list):
            got += f" of length {len(result)}"
        elif result is not None and np.shape(to_numpy(result)) == (n,):
            got += f" of shape ({n},): the ESS is missing"
        raise AssertionError(f"my_importance_weights must return a tuple (weights, ess), got {got}")
    weights = _as_array(result[0], "my_importance_weights (the weights)")
    if weights.shape != (n,):
        raise AssertionError(
            f"the weights must have shape (n,) = ({n},), one per sample like the log-densities, got "
            f"{weights.shape}"
            + (": is the tuple (weights, ess) in the wrong order?" if weights.shape == () else "")
        )
    ess = _as_array(result[1], "my_importance_weights (the ESS)")
    if ess.size != 1:
        raise AssertionError(
            f"the ESS must be one number, got an array of shape {ess.shape}: ESS = 1 / np.sum(w**2), summed "
            "over the samples"
        )
    return weights, float(ess.reshape(()))


def _exp_message(log_w: np.ndarray) -> str:
    lo, hi = float(np.min(log_w)), float(np.max(log_w))
    if hi > 709:
        what = f"np.exp({hi:.0f}) overflows to inf (float64 ends near exp(709)), and inf / inf = NaN"
    else:
        what = f"np.exp({hi:.0f}) underflows to 0 (float64 ends near exp(-745)), and 0 / 0 = NaN"
    return (
        f"The log-weights log p(x|theta) + log p(theta) - log q(theta|x) lie between {lo:.0f} and {hi:.0f} "
        f"here (realistic log-likelihoods): {what}. Subtract the largest log-weight before the exp, "
        "w = np.exp(log_w - log_w.max()), then w / w.sum(): the log-sum-exp trick (or "
        "scipy.special.softmax(log_w)), which changes nothing after the normalization"
    )


def _diagnose_weights(got: np.ndarray, log_likelihood, log_prior, log_q) -> None:
    log_w = log_likelihood + log_prior - log_q
    want = _softmax(log_w)
    if not np.all(np.isfinite(got)) or not np.any(got):
        raise AssertionError(
            ("the weights are all 0" if np.all(got == 0) else "the weights contain NaN or infinite values")
            + ": overflow / underflow of exp. "
            + _exp_message(log_w)
        )
    if np.any(got < 0):
        if _close(got, np.log(want), rtol=1e-6, atol=1e-4):
            raise AssertionError(
                "these are the logarithms of the normalized weights (log-softmax): return the weights "
                "themselves, np.exp of them"
            )
        if _close(got - np.max(got), log_w - np.max(log_w), rtol=1e-6, atol=1e-4):
            raise AssertionError(
                "these are the log-weights: exponentiate them (after subtracting their max) and normalize, "
                "w = np.exp(log_w - log_w.max()); w = w / w.sum()"
            )
        raise AssertionError(
            "some weights are negative: importance weights p(x|theta) p(theta) / q(theta|x) are positive"
        )
    total = float(np.sum(got))
    if not math.isclose(total, 1.0, rel_tol=1e-4) and _close(got / total, want, rtol=1e-3, atol=1e-12):
        raise AssertionError(
            f"the weights are not normalized (they sum to {total:.4g}): divide them by their sum, "
            "w = w / w.sum(), so that they sum to 1"
        )
    shape = got / total
    candidates = [
        (log_likelihood + log_prior + log_q,
         "log q is added instead of subtracted: the importance weight is p(x|theta) p(theta) / q(theta|x), "
         "log_w = log_likelihood + log_prior - log_q"),
        (log_q + log_prior - log_likelihood,
         "the likelihood and q swap roles: the weight is the target p(x|theta) p(theta) divided by the "
         "proposal q(theta|x), log_w = log_likelihood + log_prior - log_q"),
        (log_q - log_likelihood - log_prior,
         "the weights are upside down, q / (p(x|theta) p(theta)): "
         "log_w = log_likelihood + log_prior - log_q"),
        (log_likelihood - log_q,
         "the prior is forgotten: the target is the unnormalized posterior p(x|theta) p(theta), "
         "log_w = log_likelihood + log_prior - log_q (the prior matters unless it is flat)"),
        (log_likelihood - log_prior - log_q,
         "log p(theta) is subtracted: the prior multiplies the likelihood, "
         "log_w = log_likelihood + log_prior - log_q"),
        (log_likelihood + log_prior,
         "log q is forgotten: the samples come from q, so each is divided by q(theta|x), "
         "log_w = log_likelihood + log_prior - log_q"),
        (log_likelihood,
         "the prior and q are forgotten: log_w = log_likelihood + log_prior - log_q"),
        (np.zeros_like(log_w),
         "all the weights are equal (1/n): the log-densities are ignored, "
         "log_w = log_likelihood + log_prior - log_q"),
    ]  # fmt: skip
    for value, message in candidates:
        if _close(shape, _softmax(value), rtol=1e-3, atol=1e-12):
            raise AssertionError(message)
    raise AssertionError(
        f"the weights differ from the normalized p(x|theta) p(theta) / q(theta|x): {_worst(got, want)}. "
        "log_w = log_likelihood + log_prior - log_q; w = np.exp(log_w - log_w.max()); w = w / w.sum()"
    )


def _diagnose_ess(ess: float, log_w: np.ndarray) -> None:
    w = _softmax(log_w)
    n = len(w)
    want = _ess(w)
    if not math.isfinite(ess):
        raise AssertionError(
            f"the ESS is {ess}: computed from np.exp(log_w) without subtracting the max? With log-weights "
            f"near {np.max(log_w):.0f} the exp "
            + ("overflows to inf" if np.max(log_w) > 0 else "underflows to 0")
            + ". Use the normalized weights: ESS = 1 / np.sum(w**2)"
        )
    unnormalized = np.exp(log_w - np.max(log_w))
    candidates = [
        (float(np.sum(w**2)),
         "this is 1 / ESS: sum(w**2) (or sum(w**2) / sum(w)**2) is the inverse of the effective sample "
         "size, ESS = 1 / np.sum(w**2) for normalized weights, (sum w)^2 / sum w^2 otherwise"),
        (float(n),
         f"the ESS equals n = {n}, the number of samples: that holds only when all the weights are equal. "
         "ESS = 1 / np.sum(w**2) with the normalized weights"),
        (1 / float(np.sum(unnormalized**2)),
         "the ESS is computed from the unnormalized weights: 1 / sum(w**2) needs weights that sum to 1, "
         "otherwise use (sum w)^2 / sum w^2"),
        (float(np.sum(unnormalized) ** 2),
         "the ESS is (sum w)^2 of the unnormalized weights: divide by sum w^2, (sum w)^2 / sum w^2"),
        (want / n,
         "this is the sample efficiency ESS / n: return the ESS itself, 1 / np.sum(w**2)"),
        (float(np.exp(-np.sum(w * np.log(w)))),
         "this is the perplexity exp(entropy of the weights), another measure of how many samples count: "
         "the exercise asks for Kish's ESS, 1 / np.sum(w**2)"),
        (1 / float(np.max(w)),
         "this is 1 / max(w): the ESS is 1 / np.sum(w**2), summed over all the weights"),
        (1.0,
         "the ESS is 1: (sum w)^2 of the normalized weights, or 1 / sum(w)? ESS = 1 / np.sum(w**2)"),
    ]  # fmt: skip
    for value, message in candidates:
        if math.isclose(ess, value, rel_tol=1e-4):
            raise AssertionError(message)
    raise AssertionError(
        f"the ESS is {ess:.6g} where {want:.6g} was expected: Kish's effective sample size of normalized "
        "weights is 1 / np.sum(w**2)"
    )


def check_my_importance_weights(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(log_likelihood, log_prior,
    log_q)`` returns ``(weights, ess)``: the weights p(x|theta) p(theta) / q(theta|x) normalized to sum
    1, and Kish's effective sample size 1 / sum(w^2), as ``gm.inference.exact.ImportanceSamples``.
    Two cases: n = 1000 with log-likelihoods near -920 (np.exp underflows), n = 700 near +820 (it
    overflows); a Gaussian prior and a Gaussian proposal that is a little off."""
    for n, n_data, sigma, seed in _WEIGHTS_CASES:
        log_likelihood, log_prior, log_q = _weights_case(n, n_data, sigma, seed)
        called_with = f"log_likelihood, log_prior and log_q, three float64 arrays of shape (n,) = ({n},)"
        hint = f"{called_with}, one entry per sample theta_i: combine them element-wise"
        args = (log_likelihood.copy(), log_prior.copy(), log_q.copy())
        result = _call(answer, "my_importance_weights", args, hint, called_with)
        weights, ess = _unpack_weights(result, n)
        log_w = log_likelihood + log_prior - log_q
        if not _close(weights, _softmax(log_w), rtol=1e-3, atol=1e-12):
            _diagnose_weights(weights, log_likelihood, log_prior, log_q)
        if not math.isclose(ess, _ess(_softmax(log_w)), rel_tol=1e-4):
            _diagnose_ess(ess, log_w)
