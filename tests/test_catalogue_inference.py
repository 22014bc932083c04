"""Catalogue of known wrong answers of exercise 07 (``07_simulation_based_inference``): each must fail
its check with a message that names its cause; the reference answers, the equally right variants and
the escape cells must pass, and the untouched stub must stay 'not attempted'."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special

from gm_helpers import checks as gm_checks
from gm_helpers.exercises import inference as checks
from gm_helpers.inference.calibration import expected_coverage, ranks
from gm_helpers.inference.exact import ImportanceSamples, effective_sample_size


def _stub(*args):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# my_ranks


def reference_ranks(samples, truths):
    """The solution's answer."""
    return np.mean(samples < truths[:, None, :], axis=1)


def _ranks_torch(samples, truths):
    """Equivalent: in torch, a float32 tensor."""
    s, t = torch.as_tensor(samples), torch.as_tensor(truths)
    return (s < t.unsqueeze(1)).float().mean(dim=1)


def _ranks_loop(samples, truths):
    """Equivalent: loops, a list of lists, <= (no ties with continuous samples)."""
    m, _, d = samples.shape
    return [[float(np.mean(samples[i, :, k] <= truths[i, k])) for k in range(d)] for i in range(m)]


def _ranks_transposed_samples(samples, truths):
    """Equivalent: the samples axis first, truths broadcast against (n, m, d)."""
    return (np.transpose(samples, (1, 0, 2)) < truths).mean(axis=0)


RANKS_CATALOGUE = [
    # the fraction above the truth
    (lambda s, t: np.mean(s > t[:, None, :], axis=1), r"\*above\* the truth \(1 - rank\)"),
    (lambda s, t: 1 - reference_ranks(s, t), r"\*above\* the truth"),
    # the mean over the observations (axis 0)
    (lambda s, t: np.mean(s < t[:, None, :], axis=0),
     r"shape \(m, d\) = \(6, 3\).*over axis 0, the observations"),
    # the mean over the parameters (the last axis)
    (lambda s, t: np.mean(s < t[:, None, :], axis=2), r"\(6, 500\).*over the parameters"),
    # the mean over every axis
    (lambda s, t: np.mean(s < t[:, None, :]), r"single number"),
    # no mean at all
    (lambda s, t: s < t[:, None, :], r"not averaged"),
    # transposed
    (lambda s, t: reference_ranks(s, t).T, r"transposed"),
    # counts instead of fractions
    (lambda s, t: np.sum(s < t[:, None, :], axis=1), r"counts of samples below the truth.*not fractions"),
    (lambda s, t: np.sum(s > t[:, None, :], axis=1), r"counts of samples \*above\*"),
    # percentages
    (lambda s, t: 100 * reference_ranks(s, t), r"percentages"),
    # truths broadcast against the samples axis (m != n: fails to broadcast)
    (lambda s, t: np.mean(s < t[None, :, :], axis=1), r"raised ValueError.*truths\[:, None, :\]"),
    (lambda s, t: np.mean(s < t[:, :, None], axis=1), r"shapes do not line up.*its own truth"),
    # torch: the same mistake gives a RuntimeError
    (lambda s, t: (torch.as_tensor(s) < torch.as_tensor(t)).double().mean(1),
     r"RuntimeError.*truths\[:, None, :\]"),
    # the truths of another observation (rolled, shuffled)
    (lambda s, t: reference_ranks(s, np.roll(t, 1, axis=0)), r"truth of \*another\* observation"),
    (lambda s, t: reference_ranks(s, t[::-1]), r"truth of \*another\* observation"),
    # the samples of another observation
    (lambda s, t: reference_ranks(np.roll(s, 1, axis=0), t), r"samples of \*another\* observation"),
    # the truth of another parameter
    (lambda s, t: reference_ranks(s, t[:, ::-1].copy()), r"truth of \*another\* parameter"),
    # the mean / median of the samples compared with the truth: 0/1
    (lambda s, t: np.mean(s, axis=1) < t,
     r"0 or 1 \(the mean( or median)? of the samples compared with the truth\).*\*fraction\*"),
    (lambda s, t: (np.median(s, axis=1) < t).astype(float), r"0 or 1 \(the (mean or )?median of the samples"),
    # forgot to return
    (lambda s, t: None, r"returns None"),
    # a near miss: ranks shifted by half a sample
    (lambda s, t: reference_ranks(s, t) + 0.5 / s.shape[1], r"differ from the fraction of samples below"),
    # numpy's argsort ranks (positions), not fractions
    (lambda s, t: np.argsort(np.argsort(np.concatenate([s, t[:, None]], 1), 1), 1)[:, -1],
     r"counts of samples below the truth"),
]  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [reference_ranks, ranks, _ranks_torch, _ranks_loop, _ranks_transposed_samples,
     lambda s, t: np.mean(s <= t[:, None, :], axis=1)],
    ids=["reference", "escape", "torch", "loop-<=", "samples-first", "<="],
)  # fmt: skip
def test_ranks_reference_and_equivalents_pass(answer):
    checks.check_my_ranks(answer)


@pytest.mark.parametrize(("wrong", "message"), RANKS_CATALOGUE)
def test_ranks_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_ranks(wrong)


# --------------------------------------------------------------------------------------------------
# my_expected_coverage


def reference_coverage(ranks, levels):
    """The solution's answer."""
    return np.mean(np.abs(ranks[None] - 0.5) <= levels[:, None, None] / 2, axis=1)


def _coverage_torch(ranks, levels):
    """Equivalent: in torch, float32, a strict < and the interval's two ends."""
    r, a = torch.as_tensor(ranks, dtype=torch.float32), torch.as_tensor(levels, dtype=torch.float32)
    inside = (r[None] > 0.5 - a[:, None, None] / 2) & (r[None] < 0.5 + a[:, None, None] / 2)
    return inside.float().mean(1)


def _coverage_loop(ranks, levels):
    """Equivalent: a loop over the levels, a list of rows."""
    return [np.mean(np.abs(ranks - 0.5) < level / 2, axis=0) for level in levels]


COVERAGE_CATALOGUE = [
    # one-sided: the P-P curve
    (lambda r, a: np.mean(r[None] <= a[:, None, None], axis=1),
     r"one-sided P-P curve.*\|rank - 1/2\| <= alpha / 2"),
    (lambda r, a: np.mean(r[None] >= 1 - a[:, None, None], axis=1), r"one-sided P-P curve"),
    # full width
    (lambda r, a: np.mean(np.abs(r[None] - 0.5) <= a[:, None, None], axis=1),
     r"twice too wide \(full width\)"),
    # the interval of level 1 - alpha
    (lambda r, a: np.mean((r[None] >= a[:, None, None] / 2) & (r[None] <= 1 - a[:, None, None] / 2), axis=1),
     r"level 1 - alpha"),
    # not centred on 1/2
    (lambda r, a: np.mean(np.abs(r[None]) <= a[:, None, None] / 2, axis=1), r"not centred"),
    # the fraction outside
    (lambda r, a: 1 - reference_coverage(r, a), r"\*outside\* the interval \(1 - coverage\)"),
    (lambda r, a: np.mean(np.abs(r[None] - 0.5) > a[:, None, None] / 2, axis=1), r"\*outside\*"),
    # counts
    (lambda r, a: np.sum(np.abs(r[None] - 0.5) <= a[:, None, None] / 2, axis=1), r"counts of observations"),
    # the mean over the parameters instead of the observations
    (lambda r, a: np.mean(np.abs(r[None] - 0.5) <= a[:, None, None] / 2, axis=2),
     r"shape \(L, d\) = \(7, 3\).*over the parameters.*instead of the observations"),
    # transposed
    (lambda r, a: reference_coverage(r, a).T, r"\(7, 3\),.* got \(3, 7\).*transposed"),
    # everything averaged
    (lambda r, a: np.mean(np.abs(r[None] - 0.5) <= a[:, None, None] / 2, axis=(1, 2)),
     r"parameters were averaged"),
    # not averaged
    (lambda r, a: np.abs(r[None] - 0.5) <= a[:, None, None] / 2, r"not averaged"),
    # levels not given their own axis: fails to broadcast (L != d)
    (lambda r, a: np.mean(np.abs(r - 0.5) <= a / 2, axis=0),
     r"shapes do not line up.*levels\[:, None, None\]"),
    # forgot to return
    (lambda r, a: None, r"returns None"),
    # a near miss
    (lambda r, a: reference_coverage(r, a) * 0.99, r"differs from the fraction of truths inside"),
]  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [reference_coverage, expected_coverage, _coverage_torch, _coverage_loop,
     lambda r, a: np.mean(np.abs(r[None] - 0.5) < a[:, None, None] / 2, axis=1)],
    ids=["reference", "escape", "torch", "loop", "strict-<"],
)  # fmt: skip
def test_coverage_reference_and_equivalents_pass(answer):
    checks.check_my_expected_coverage(answer)


@pytest.mark.parametrize(("wrong", "message"), COVERAGE_CATALOGUE)
def test_coverage_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_expected_coverage(wrong)


def test_coverage_inputs_are_miscalibrated():
    """The one-sided P-P curve must differ from the coverage (it would not for uniform ranks)."""
    for m, columns, levels, seed in checks._COVERAGE_CASES:
        r, levels = checks._coverage_case(m, columns, levels, seed)
        one_sided = np.mean(r[None] <= levels[:, None, None], axis=1)
        assert np.max(np.abs(one_sided - expected_coverage(r, levels))) > 0.1


# --------------------------------------------------------------------------------------------------
# my_importance_weights


def reference_weights(log_likelihood, log_prior, log_q):
    """The solution's answer."""
    log_w = log_likelihood + log_prior - log_q
    w = np.exp(log_w - log_w.max())
    w = w / w.sum()
    return w, 1.0 / np.sum(w**2)


def escape_weights(log_likelihood, log_prior, log_q):
    """The notebook's escape cell: the library's ImportanceSamples."""
    samples = ImportanceSamples(np.zeros((len(log_q), 1)), log_likelihood + log_prior - log_q)
    return samples.weights, samples.ess


def _escape_ess(log_likelihood, log_prior, log_q):
    """The escape with effective_sample_size, as a list."""
    log_w = log_likelihood + log_prior - log_q
    return [special.softmax(log_w), effective_sample_size(log_w)]


def _logsumexp_weights(log_likelihood, log_prior, log_q):
    """Equivalent: scipy's logsumexp, the ESS in log space."""
    log_w = log_likelihood + log_prior - log_q
    log_z = special.logsumexp(log_w)
    return np.exp(log_w - log_z), float(np.exp(2 * log_z - special.logsumexp(2 * log_w)))


def _torch_weights(log_likelihood, log_prior, log_q):
    """Equivalent: torch.softmax, the ESS a 0-d tensor, (sum w)^2 / sum w^2."""
    log_w = torch.as_tensor(log_likelihood) + torch.as_tensor(log_prior) - torch.as_tensor(log_q)
    w = torch.softmax(log_w, dim=0)
    return w, w.sum() ** 2 / (w**2).sum()


def _torch_float32_weights(log_likelihood, log_prior, log_q):
    """Equivalent up to float32 rounding: the inputs cast to float32 first."""
    log_w = sum(torch.tensor(a, dtype=torch.float32) for a in (log_likelihood, log_prior)) - torch.tensor(
        log_q, dtype=torch.float32
    )
    w = torch.softmax(log_w, 0)
    return w, 1 / (w**2).sum()


def _weights(combine=lambda ll, lp, lq: ll + lp - lq, shift=True, normalize=True,
             ess=lambda w, w_raw: 1.0 / np.sum(w**2)):  # fmt: skip
    """my_importance_weights by hand with one piece changed."""

    def answer(log_likelihood, log_prior, log_q):
        log_w = combine(log_likelihood, log_prior, log_q)
        w_raw = np.exp(log_w - log_w.max()) if shift else np.exp(log_w)
        w = w_raw / w_raw.sum() if normalize else w_raw
        return w, ess(w, w_raw)

    return answer


WEIGHTS_CATALOGUE = [
    # log q added instead of subtracted
    (_weights(combine=lambda ll, lp, lq: ll + lp + lq), r"log q is added instead of subtracted"),
    # the likelihood and q swap roles
    (_weights(combine=lambda ll, lp, lq: lq + lp - ll), r"likelihood and q swap roles"),
    # upside down
    (_weights(combine=lambda ll, lp, lq: lq - ll - lp), r"upside down"),
    # the prior forgotten
    (_weights(combine=lambda ll, lp, lq: ll - lq), r"prior is forgotten"),
    # the prior subtracted
    (_weights(combine=lambda ll, lp, lq: ll - lp - lq), r"log p\(theta\) is subtracted"),
    # q forgotten
    (_weights(combine=lambda ll, lp, lq: ll + lp), r"log q is forgotten"),
    # no max subtraction: exp(-920) underflows, 0 / 0 = NaN
    (_weights(shift=False), r"NaN.*underflows to 0.*Subtract the largest log-weight.*log-sum-exp"),
    # no max subtraction, no normalization: all 0
    (_weights(shift=False, normalize=False), r"all 0.*underflow.*log-sum-exp"),
    # a hard-coded shift instead of the max: fine near -920, overflows near +820 (the second case)
    (_weights(combine=lambda ll, lp, lq: ll + lp - lq + 900, shift=False),
     r"NaN.*overflows to inf.*log-sum-exp"),
    # weights not normalized
    (_weights(normalize=False, ess=lambda w, w_raw: np.sum(w) ** 2 / np.sum(w**2)), r"not normalized"),
    (_weights(normalize=False, ess=lambda w, w_raw: 1 / np.sum(w**2)), r"not normalized"),
    # the ESS as sum(w**2) or sum(w**2) / sum(w)**2: the inverse
    (_weights(ess=lambda w, w_raw: np.sum(w**2)), r"1 / ESS.*inverse"),
    (_weights(ess=lambda w, w_raw: np.sum(w**2) / np.sum(w) ** 2), r"1 / ESS.*inverse"),
    # the ESS of the unnormalized weights
    (_weights(ess=lambda w, w_raw: 1 / np.sum(w_raw**2)), r"ESS is computed from the unnormalized weights"),
    # the ESS of exp(log_w) without the shift: inf
    (_weights(ess=lambda w, w_raw: 1 / np.sum(np.exp(np.log(w_raw) - 1000) ** 2)), r"ESS is inf"),
    # the ESS equal to n
    (_weights(ess=lambda w, w_raw: len(w)), r"ESS equals n = 1000"),
    (_weights(ess=lambda w, w_raw: float(w.size)), r"ESS equals n"),
    # the efficiency
    (_weights(ess=lambda w, w_raw: 1 / np.sum(w**2) / len(w)), r"sample efficiency ESS / n"),
    # the perplexity
    (_weights(ess=lambda w, w_raw: np.exp(-np.sum(w * np.log(w)))), r"perplexity"),
    # (sum w)^2 of normalized weights
    (_weights(ess=lambda w, w_raw: np.sum(w) ** 2), r"ESS is 1"),
    # log-weights returned
    (lambda ll, lp, lq: (ll + lp - lq, 1.0), r"these are the log-weights"),
    (lambda ll, lp, lq: (special.log_softmax(ll + lp - lq), 1.0), r"log-softmax"),
    # the ESS forgotten
    (lambda ll, lp, lq: reference_weights(ll, lp, lq)[0], r"tuple \(weights, ess\).*ESS is missing"),
    # the tuple in the wrong order
    (lambda ll, lp, lq: reference_weights(ll, lp, lq)[::-1], r"shape \(n,\) = \(1000,\).*wrong order"),
    # ImportanceSamples returned
    (lambda ll, lp, lq: ImportanceSamples(np.zeros((len(ll), 1)), ll + lp - lq),
     r"return the tuple \(weights, ess\)"),
    # the ESS per sample
    (_weights(ess=lambda w, w_raw: 1 / w**2), r"ESS must be one number"),
    # torch functions on numpy arrays
    (lambda ll, lp, lq: (torch.softmax(ll + lp - lq, 0), 1.0), r"raised TypeError.*NumPy arrays"),
    # a near miss
    (_weights(combine=lambda ll, lp, lq: 1.01 * (ll + lp - lq)), r"differ from the normalized"),
]  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [reference_weights, escape_weights, _escape_ess, _logsumexp_weights, _torch_weights,
     _torch_float32_weights, _weights(ess=lambda w, w_raw: np.sum(w_raw) ** 2 / np.sum(w_raw**2))],
    ids=["reference", "escape", "escape-ess", "logsumexp", "torch", "torch-float32", "kish-unnormalized"],
)  # fmt: skip
def test_weights_reference_and_equivalents_pass(answer):
    checks.check_my_importance_weights(answer)


@pytest.mark.parametrize(("wrong", "message"), WEIGHTS_CATALOGUE)
def test_weights_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_importance_weights(wrong)


def test_weights_inputs_underflow_and_overflow():
    """exp of the first case's log-weights underflows to 0, the second's overflows; the prior matters."""
    (n1, *case1), (n2, *case2) = checks._WEIGHTS_CASES
    ll, lp, lq = checks._weights_case(n1, *case1)
    assert np.max(ll + lp - lq) < -745 and np.ptp(lp) > 1
    ll, lp, lq = checks._weights_case(n2, *case2)
    assert np.min(ll + lp - lq) > 710


# --------------------------------------------------------------------------------------------------
# the untouched stubs


@pytest.mark.parametrize(
    "check", [checks.check_my_ranks, checks.check_my_expected_coverage, checks.check_my_importance_weights]
)
def test_stub_is_not_attempted(check, monkeypatch, capsys):
    with pytest.raises(NotImplementedError):
        check(_stub)
    monkeypatch.delenv("GM_STRICT_CHECKS", raising=False)
    gm_checks.check("stub", lambda: check(_stub))
    assert "not attempted" in capsys.readouterr().out


def test_catalogue_sizes():
    sizes = [len(RANKS_CATALOGUE), len(COVERAGE_CATALOGUE), len(WEIGHTS_CATALOGUE)]
    assert min(sizes) >= 12 and sum(sizes) >= 50
