"""Catalogue of known wrong answers of exercise 06 (``06_anomaly_detection``): each must fail its
check with a message that names its cause; the reference answers and the escape cells must pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KernelDensity

from gm_helpers import anomaly
from gm_helpers.data import lhco
from gm_helpers.exercises import anomaly as checks

LO, HI = lhco.SIGNAL_REGION

# --------------------------------------------------------------------------------------------------
# my_cathode_samples


def _kde(sr_mjj, size, bandwidth, rng):
    """A KDE draw by hand: a random SR mass plus N(0, bandwidth)."""
    return rng.choice(np.asarray(sr_mjj), size) + bandwidth * rng.standard_normal(size)


def _samples(draw=_kde, inside=lambda m: (m > LO) & (m < HI), redraw=True, context=None, scale=1.0,
             n_of=lambda n, sr: n, order=None, reject_after=False, cut_to_n=True):  # fmt: skip
    """my_cathode_samples by hand with one piece changed."""

    def answer(flow, sr_mjj, n, bandwidth=0.01, seed=0):
        rng = np.random.default_rng(seed)
        n = n_of(n, sr_mjj)
        mjj = np.zeros(0)
        if reject_after:  # features drawn before the rejection, mjj filtered afterwards
            draw_all = draw(sr_mjj, 2 * n, scale * bandwidth, rng)
            features = flow.sample(len(draw_all), context=draw_all)
            keep = inside(draw_all)
            return draw_all[keep][:n], features[: keep.sum()][:n]
        while len(mjj) < n:
            new = draw(sr_mjj, 2 * n if redraw else n, scale * bandwidth, rng)
            mjj = np.concatenate([mjj, new[inside(new)] if inside else new])
            if not redraw:
                break
        mjj = mjj[:n] if cut_to_n else mjj
        where = mjj if context is None else context(mjj, sr_mjj, rng)
        features = flow.sample(len(mjj), context=where)
        if order is not None:
            features = features[order(len(mjj), rng)]
        return mjj, features

    return answer


def reference_samples(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    """The solution's answer (sklearn's KernelDensity)."""
    sr_mjj = np.asarray(sr_mjj, dtype=np.float64)
    kde = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(sr_mjj[:, None])
    rng = np.random.default_rng(seed)
    mjj = np.zeros(0)
    while len(mjj) < n:
        draw = kde.sample(2 * n, random_state=int(rng.integers(2**31))).reshape(-1)
        mjj = np.concatenate([mjj, draw[(draw > LO) & (draw < HI)]])
    mjj = mjj[:n]
    return mjj, flow.sample(n, context=mjj).cpu().numpy()


def escape_samples(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    """The notebook's escape cell: the library's cathode_samples."""
    samples = anomaly.cathode_samples(flow, sr_mjj, n, bandwidth, seed)
    return samples.mjj, samples.features


def _torch_answer(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    """Equivalent: all in torch, features as a float32 tensor, mjj as a tensor, context (n, 1)."""
    sr = torch.as_tensor(np.asarray(sr_mjj), dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    mjj = torch.zeros(0, dtype=torch.float64)
    while len(mjj) < n:
        pick = sr[torch.randint(len(sr), (n,), generator=generator)]
        new = pick + bandwidth * torch.randn(n, generator=generator, dtype=torch.float64)
        mjj = torch.cat([mjj, new[(new > LO) & (new < HI)]])
    mjj = mjj[:n]
    return mjj, flow.sample(n, context=mjj.float()[:, None])


def _uniform(sr_mjj, size, bandwidth, rng):
    return rng.uniform(LO, HI, size)


def _sidebands(sr_mjj, size, bandwidth, rng):
    m = rng.uniform(3.1, 3.5, size)
    return np.where(m < 3.3, m, m + 0.4)  # 3.1-3.3 and 3.7-3.9 TeV


def _copies(sr_mjj, size, bandwidth, rng):
    return rng.choice(np.asarray(sr_mjj), size)


def _sklearn_default(sr_mjj, size, bandwidth, rng):
    kde = KernelDensity().fit(np.asarray(sr_mjj)[:, None])  # bandwidth=1.0
    return kde.sample(size, random_state=int(rng.integers(2**31))).reshape(-1)


def _variance(sr_mjj, size, bandwidth, rng):
    return _kde(sr_mjj, size, np.sqrt(bandwidth), rng)  # N(0, sqrt(bandwidth)): bandwidth taken as a variance


def _hard_coded(sr_mjj, size, bandwidth, rng):
    return _kde(sr_mjj, size, 0.01, rng)


def _uniform_sr_pick(sr_mjj, size, bandwidth, rng):
    # a random *position* between the lowest and highest SR mass, plus noise: flat, not the spectrum
    return rng.uniform(np.min(sr_mjj), np.max(sr_mjj), size) + bandwidth * rng.standard_normal(size)


def _data_events(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    # the data's own SR events instead of samples
    data = lhco.simulate(60_000, seed=seed + 5).signal_region()
    return data.mjj, data.features


def _data_events_n(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    # n of the data's own SR events
    data = lhco.simulate(60_000, seed=seed + 5).signal_region()
    return data.mjj[:n], data.features[:n]


def _as_events(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    mjj, features = reference_samples(flow, sr_mjj, n, bandwidth, seed)
    return lhco.Events(mjj, features, np.zeros(n, bool))


def _column_mjj(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    mjj, features = reference_samples(flow, sr_mjj, n, bandwidth, seed)
    return mjj[:, None], features


def _random_features(flow, sr_mjj, n, bandwidth=0.01, seed=0):
    mjj, _ = reference_samples(flow, sr_mjj, n, bandwidth, seed)
    return mjj, np.random.default_rng(seed).standard_normal((n, 4))


def _clip(m):
    return np.clip(m, LO, HI)


SAMPLES_CATALOGUE = [
    # no rejection: KDE values leak out of the signal region
    (_samples(inside=None), r"outside the signal region.*leak.*draw again"),
    # clipped to the edges instead of drawn again
    (_samples(inside=lambda m: np.ones(len(m), bool), draw=lambda *a: _clip(_kde(*a))), r"clipped"),
    # rejection without drawing again: fewer than n
    (_samples(redraw=False), r"draw again \(a while loop\) until you have n"),
    # the last draw not cut back to n
    (_samples(n_of=lambda n, sr: n, cut_to_n=False), r"overshoots, keep exactly n"),
    # n ignored: one sample per SR event
    (_samples(n_of=lambda n, sr: len(sr)), r"n is ignored"),
    # mjj uniform in the signal region
    (_samples(draw=_uniform), r"uniform in the signal region"),
    # uniform between the lowest and highest SR mass (the data used only for the range)
    (_samples(draw=_uniform_sr_pick), r"uniform in the signal region"),
    # sklearn's KernelDensity with its default bandwidth, 1 TeV
    (_samples(draw=_sklearn_default), r"uniform.*bandwidth=1\.0"),
    # mjj = the SR masses themselves, no kernel noise
    (_samples(draw=_copies), r"copies of SR events' masses"),
    # a bandwidth 10 times too large
    (_samples(scale=10.0), r"too wide"),
    # a bandwidth 10 times too small
    (_samples(scale=0.1), r"too narrow"),
    # the bandwidth taken as a variance: sqrt(0.01) = 0.1 TeV
    (_samples(draw=_variance), r"too wide.*variance"),
    # the bandwidth argument ignored
    (_samples(draw=_hard_coded), r"bandwidth argument is ignored"),
    # mjj from the side bands
    (_samples(draw=_sidebands, inside=None), r"outside the signal region.*not from the side bands"),
    # features sampled at one fixed mjj for all
    (_samples(context=lambda m, sr, rng: 3.5), r"drawn at one mjj \(3\.500 TeV\)"),
    # features sampled at the SR events' own masses
    (_samples(context=lambda m, sr, rng: rng.choice(np.asarray(sr), len(m))), r"SR events' own masses"),
    # features sampled at a second, independent KDE draw
    (_samples(context=lambda m, sr, rng: _kde(sr, len(m), 0.01, rng).clip(3.31, 3.69)), r"second KDE draw"),
    # features shuffled against the mjj
    (_samples(order=lambda n, rng: rng.permutation(n)), r"shuffled or sorted"),
    # features drawn before the rejection, mjj filtered afterwards
    (_samples(reject_after=True), r"not drawn at mjj\[i\].*before the rejection"),
    # the data's own SR events instead of samples
    (_data_events, r"not the data events"),
    (_data_events_n, r"never asked for samples"),
    # features that do not come from the flow
    (_random_features, r"not the flow's samples"),
    # Events instead of the tuple
    (_as_events, r"returns Events: return the tuple \(mjj, features\)"),
    # mjj as a column (n, 1), as KernelDensity.sample gives it
    (_column_mjj, r"shape \(4000, 1\).*1-D"),
]


def test_samples_reference_passes():
    checks.check_my_cathode_samples(reference_samples)


@pytest.mark.parametrize(
    "answer", [escape_samples, _torch_answer, _samples()], ids=["escape", "torch", "by-hand"]
)
def test_samples_equivalent_answers_pass(answer):
    checks.check_my_cathode_samples(answer)


@pytest.mark.parametrize(("wrong", "message"), SAMPLES_CATALOGUE)
def test_samples_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_cathode_samples(wrong)


def test_context_echo_records_where_each_row_was_drawn():
    echo = checks.ContextEcho()
    out = echo.sample(3, context=np.array([3.4, 3.5, 3.6]))
    assert out.shape == (3, 4) and out.dtype == torch.float32
    assert torch.allclose(out[:, 0], torch.tensor([3.4, 3.5, 3.6]))
    assert torch.allclose(echo.sample(2, context=3.45)[:, 0], torch.tensor([3.45, 3.45]))
    with pytest.raises(ValueError, match="conditional"):
        echo.sample(2)


def test_samples_check_leaves_the_random_state_alone():
    torch.manual_seed(5)
    np.random.seed(5)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(5)
    np.random.seed(5)
    checks.check_my_cathode_samples(reference_samples)
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])


# --------------------------------------------------------------------------------------------------
# my_sic_curve


def _sic(order=lambda s: np.argsort(-s), floor=lambda ps, pb, m: pb >= m, norm=None, formula=None,
         counts=False, min_fixed=None, all_events=False):  # fmt: skip
    """my_sic_curve by hand with one piece changed."""

    def answer(scores, is_signal, min_background=50):
        m = min_background if min_fixed is None else min_fixed
        scores, is_signal = np.asarray(scores), np.asarray(is_signal, bool)
        o = order(scores)
        ps, pb = np.cumsum(is_signal[o]), np.cumsum(~is_signal[o])
        if all_events:  # every event that passes counted as background
            pb = np.arange(1, len(scores) + 1)
        keep = floor(ps, pb, m)
        n_s, n_b = (is_signal.sum(), (~is_signal).sum()) if norm is None else norm(is_signal)
        eps_s, eps_b = (ps[keep], pb[keep]) if counts else (ps[keep] / n_s, pb[keep] / n_b)
        return eps_s, (formula or (lambda es, eb: es / np.sqrt(eb)))(eps_s, eps_b)

    return answer


def reference_sic(scores, is_signal, min_background=50):
    order = np.argsort(-scores)
    passed_s, passed_b = np.cumsum(is_signal[order]), np.cumsum(~is_signal[order])
    enough = passed_b >= min_background
    eps_s, eps_b = passed_s[enough] / is_signal.sum(), passed_b[enough] / (~is_signal).sum()
    return eps_s, eps_s / np.sqrt(eps_b)


def _threshold_loop(scores, is_signal, min_background=50):
    """Equivalent: a loop over the thresholds, the points from loose to tight cuts, as lists."""
    eps_s, sic = [], []
    n_s, n_b = is_signal.sum(), (~is_signal).sum()
    for t in np.sort(scores):
        passing = scores >= t
        b = np.sum(passing & ~is_signal)
        if b >= min_background:
            eps_s.append(np.sum(passing & is_signal) / n_s)
            sic.append(eps_s[-1] / np.sqrt(b / n_b))
    return eps_s, sic


def _sic_smoothed(scores, is_signal, min_background=50):
    eps_s, sic = reference_sic(scores, is_signal, min_background)
    return eps_s, sic * 1.01  # a near miss


SIC_CATALOGUE = [
    # the floor forgotten: eps_B = 0 gives an infinite SIC
    (_sic(floor=lambda ps, pb, m: np.ones(len(pb), bool)), r"floor is missing"),
    # the floor forgotten, eps_B = 0 dodged with a tiny epsilon: huge, finite SIC
    (
        _sic(floor=lambda ps, pb, m: np.ones(len(pb), bool), formula=lambda es, eb: es / np.sqrt(eb + 1e-12)),
        r"only 0 background events pass.*floor is missing",
    ),  # fmt: skip
    # eps_B instead of sqrt(eps_B)
    (_sic(formula=lambda es, eb: es / eb), r"divides by eps_B instead of sqrt\(eps_B\)"),
    # efficiencies as counts
    (_sic(counts=True), r"counts of events, not fractions"),
    # the SIC from counts, eps_S a fraction
    (_sic(formula=lambda es, eb: es * 400 / np.sqrt(eb * 20_000)), r"computed from counts of events"),
    # sorted in increasing order: the wrong tail
    (_sic(order=np.argsort), r"sorted in increasing order.*np\.argsort\(-scores\)"),
    # normalized by the total number of events
    (_sic(norm=lambda y: (len(y), len(y))), r"divided by the total number of events"),
    # eps_B counts every event that passes
    (_sic(all_events=True), r"eps_B counts every event that passes"),
    # the floor counts every event that passes
    (_sic(floor=lambda ps, pb, m: ps + pb >= m), r"floor counts every event"),
    # the floor applied to the signal count
    (_sic(floor=lambda ps, pb, m: ps >= m), r"floor counts signal events"),
    # the floor with > instead of >=
    (_sic(floor=lambda ps, pb, m: pb > m), r"not >"),
    # the floor compares the fraction eps_B with min_background
    (_sic(floor=lambda ps, pb, m: pb / 20_000 >= m), r"compares the \*fraction\* eps_B"),
    # min_background hard-coded to 50
    (_sic(min_fixed=50), r"min_background argument is ignored"),
    # a tuple of one
    (lambda s, y, min_background=50: (reference_sic(s, y, min_background)[1],), r"tuple \(eps_s, sic\)"),
    # a near miss: the message quotes the numbers
    (_sic_smoothed, r"differs from the one worked out by hand.*max SIC"),
]


@pytest.mark.parametrize("answer", [reference_sic, anomaly.sic_curve, _threshold_loop],
                         ids=["by-hand", "escape", "threshold-loop"])  # fmt: skip
def test_sic_reference_and_equivalents_pass(answer):
    checks.check_my_sic_curve(answer)


@pytest.mark.parametrize(("wrong", "message"), SIC_CATALOGUE)
def test_sic_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_sic_curve(wrong)


def test_reference_sic_curve_agrees_with_the_library():
    rng = np.random.default_rng(3)
    y = rng.random(3000) < 0.1
    s = rng.standard_normal(3000) + y
    eps_s, sic = checks.reference_sic_curve(s, y, 20)
    lib_eps_s, lib_sic = anomaly.sic_curve(s, y, 20)
    assert np.allclose(eps_s, lib_eps_s) and np.allclose(sic, lib_sic)


# --------------------------------------------------------------------------------------------------
# cut_at_efficiency


def reference_cut(scores, in_sr, efficiency):
    return scores >= np.quantile(scores[in_sr], 1 - efficiency)


CUT_CATALOGUE = [
    # the quantile at the efficiency itself: keeps 1 - efficiency
    (lambda s, r, e: s >= np.quantile(s[r], e), r"keeps 95%.*\(1 - efficiency\) quantile"),
    # the threshold from all events
    (lambda s, r, e: s >= np.quantile(s, 1 - e), r"keeps 5% of \*all\* events"),
    # the cut applied in the signal region only (others dropped)
    (lambda s, r, e: r & reference_cut(s, r, e), r"signal region only: none"),
    # the cut applied in the signal region only (others kept)
    (lambda s, r, e: ~r | reference_cut(s, r, e), r"signal region only: all"),
    # the lowest scores kept
    (lambda s, r, e: s <= np.quantile(s[r], e), r"keeps the lowest scores"),
    # the threshold returned, not the mask
    (lambda s, r, e: np.quantile(s[r], 1 - e), r"returns one number"),
    # the SR events' mask only (a shorter array)
    (lambda s, r, e: reference_cut(s, r, e)[r], r"shape \(40000,\)"),
    # scores returned as 0/1 integers
    (lambda s, r, e: reference_cut(s, r, e).astype(int), r"boolean mask"),
    # forgot to return
    (lambda s, r, e: None, r"returns None"),
]


def test_cut_reference_passes():
    checks.check_cut_at_efficiency(reference_cut)
    checks.check_cut_at_efficiency(lambda s, r, e: s > np.sort(s[r])[::-1][int(e * r.sum())])


@pytest.mark.parametrize(("wrong", "message"), CUT_CATALOGUE)
def test_cut_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_cut_at_efficiency(wrong)


# --------------------------------------------------------------------------------------------------
# significance_after_cut


def reference_significance(events, keep_mask):
    return anomaly.bump_hunt(events[keep_mask]).significance_profiled


def _scaled(efficiency):
    def answer(events, keep_mask):
        uncut = anomaly.bump_hunt(events)
        n = int(np.count_nonzero(keep_mask & events.in_region()))
        return anomaly.local_significance(n, uncut.b_expected * efficiency(events, keep_mask))

    return answer


SIGNIFICANCE_CATALOGUE = [
    # Z without the fit's uncertainty
    (lambda e, k: anomaly.bump_hunt(e[k]).significance, r"without the uncertainty of the background fit"),
    # the cut applied in the signal region only
    (lambda e, k: reference_significance(e, k | ~e.in_region()), r"signal region only"),
    # the cut applied to the side bands only: a fake bump
    (lambda e, k: reference_significance(e, k | e.in_region()), r"side bands only.*fake"),
    # the mask ignored
    (lambda e, k: anomaly.bump_hunt(e).significance_profiled, r"keep_mask is ignored"),
    # the mask inverted
    (lambda e, k: reference_significance(e, ~k), r"mask is inverted"),
    # counting: the uncut b scaled by the overall efficiency
    (_scaled(lambda e, k: k.mean()), r"scales the uncut fit's b by the overall efficiency"),
    # counting: the uncut b scaled by the side-band efficiency
    (_scaled(lambda e, k: k[~e.in_region()].mean()), r"side-band efficiency"),
    # the BumpHunt returned
    (lambda e, k: anomaly.bump_hunt(e[k]), r"returns the whole BumpHunt"),
    # the fit on other bins: a different number
    (
        lambda e, k: anomaly.bump_hunt(e[k], bins=np.arange(2.9, 7.01, 0.1)).significance_profiled,
        r"expected .*significance_profiled",
    ),  # fmt: skip
]


def test_significance_reference_passes():
    checks.check_significance_after_cut(reference_significance)
    checks.check_significance_after_cut(lambda e, k: anomaly.bump_hunt(e.mjj[k]).significance_profiled)


@pytest.mark.parametrize(("wrong", "message"), SIGNIFICANCE_CATALOGUE)
def test_significance_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_significance_after_cut(wrong)


def test_physicist_window_selects_the_signal():
    events = lhco.simulate(50_000, n_signal=2_000, seed=3).signal_region()
    window = checks.physicist_window(events)
    assert window[events.is_signal].mean() > 0.4 and window[~events.is_signal].mean() < 0.02


def test_catalogue_sizes():
    sizes = [len(SAMPLES_CATALOGUE), len(SIC_CATALOGUE), len(CUT_CATALOGUE), len(SIGNIFICANCE_CATALOGUE)]
    assert min(sizes) >= 8 and sum(sizes) >= 50
