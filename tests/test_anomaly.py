"""Lecture 06's methods (gm_helpers.anomaly) against independent references: hand-worked ROC / SIC
values, the Poisson significance against scipy's exact tail probabilities and a numerical profile
likelihood, the background fit against a spectrum drawn from a known function, the flows against
analytic densities, the k-fold classifier against a memorizing one, and a small end-to-end search."""

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from gm_helpers.anomaly import (
    LogitScaler,
    SidebandFlow,
    anode,
    bump_hunt,
    cathode,
    cathode_samples,
    cwola,
    dijet_function,
    fit_background,
    local_significance,
    max_sic,
    roc,
    sic_curve,
    weak_classifier_scores,
)
from gm_helpers.data.lhco import SIGNAL_REGION, Events, background_mjj_density, simulate

# --- figures of merit ---------------------------------------------------------------------------------

# 4 signal and 6 background events; by hand, the cut score >= t keeps (S, B) =
# 0.95: (1, 0), 0.9: (2, 0), 0.85: (2, 1), 0.8: (3, 1), 0.7: (3, 2), 0.6: (3, 3), 0.5: (4, 3),
# 0.4: (4, 4), 0.3: (4, 5), 0.2: (4, 6).
SCORES = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
LABELS = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]


def test_roc_on_hand_worked_values():
    eps_b, eps_s, _ = roc(SCORES, LABELS)
    np.testing.assert_allclose(eps_b, np.array([0, 0, 0, 1, 1, 2, 3, 3, 4, 5, 6]) / 6)
    np.testing.assert_allclose(eps_s, np.array([0, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4]) / 4)


def test_sic_on_hand_worked_values_and_the_background_floor():
    eps_s, sic = sic_curve(SCORES, LABELS, min_background=1)  # the cuts with B = 0 are dropped
    np.testing.assert_allclose(eps_s, [0.5, 0.75, 0.75, 0.75, 1, 1, 1, 1])
    expected = [0.5 * 6**0.5, 0.75 * 6**0.5, 0.75 * 3**0.5, 0.75 * 2**0.5, 2**0.5, 1.5**0.5, 1.2**0.5, 1.0]
    np.testing.assert_allclose(sic, expected)
    assert max_sic(SCORES, LABELS, min_background=1) == pytest.approx(0.75 * 6**0.5)  # 1.837
    # with at least 3 background events passing, only the cuts from 0.6 on remain
    eps_s, sic = sic_curve(SCORES, LABELS, min_background=3)
    np.testing.assert_allclose(sic, [0.75 * 2**0.5, 2**0.5, 1.5**0.5, 1.2**0.5, 1.0])
    assert max_sic(SCORES, LABELS, min_background=3) == pytest.approx(2**0.5)


def test_sic_of_a_random_score_is_about_one():
    rng = np.random.default_rng(0)
    labels = rng.random(200_000) < 0.1
    eps_s, sic = sic_curve(rng.random(200_000), labels, min_background=5000)
    middle = eps_s > 0.3  # eps_S = eps_B for a random cut: SIC = sqrt(eps_B)
    np.testing.assert_allclose(sic[middle], np.sqrt(eps_s[middle]), rtol=0.05)


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        ([0.1, 0.2, 0.3], [0, 1], "differ in length"),
        ([0.1, 0.2, 0.3], [0, 1, 2], "0/1"),
        ([0.1, 0.2, 0.3], [1, 1, 1], "both signal"),
        ([0.1, 0.2, 0.3], [0, 0, 0], "both signal"),
        ([0.1, np.nan, 0.3], [0, 1, 0], "NaN"),
    ],
)
def test_figures_reject_bad_inputs(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        sic_curve(scores, labels, min_background=1)


def test_sic_needs_enough_background():
    with pytest.raises(ValueError, match="min_background"):
        sic_curve(SCORES, LABELS, min_background=7)


# --- the local significance ------------------------------------------------------------------------------


def test_local_significance_hand_worked_and_limits():
    assert local_significance(100, 100) == 0.0
    assert local_significance(10, 5) == pytest.approx(1.965437, abs=1e-6)  # 2 (10 ln 2 - 5) = 3.86294
    assert local_significance(2, 4) == pytest.approx(-1.107886, abs=1e-6)  # 2 (2 ln 0.5 + 2) = 1.22741
    assert local_significance(0, 2.0) == pytest.approx(-2.0)  # n = 0: Z = -sqrt(2 b)
    b = 1e6  # large b: Z -> (n - b) / sqrt(b)
    for pull in (-3.0, 1.0, 5.0):
        assert local_significance(b + pull * b**0.5, b) == pytest.approx(pull, rel=0.01)
    np.testing.assert_allclose(local_significance(np.array([100, 110]), 100.0), [0.0, 0.983992], atol=1e-6)


@pytest.mark.parametrize("b, n", [(20, 35), (50, 75), (100, 130), (100, 80)])
def test_local_significance_against_the_exact_poisson_tail(b, n):
    p = stats.poisson.sf(n - 1, b) if n > b else stats.poisson.cdf(n, b)  # P(N >= n) or P(N <= n)
    exact = stats.norm.isf(p) if n > b else -stats.norm.isf(p)
    assert local_significance(n, b) == pytest.approx(exact, abs=0.1)


@pytest.mark.parametrize("n, b, sigma", [(130.0, 100.0, 10.0), (1200.0, 1000.0, 50.0), (70.0, 100.0, 5.0)])
def test_profiled_significance_against_a_numerical_profile_likelihood(n, b, sigma):
    """Pois(n | s + beta) Pois(m | tau beta), tau = b / sigma^2, m = tau b: q0 = -2 ln max_beta L(0, beta) /
    max_{s, beta} L(s, beta), the maxima by a general-purpose optimizer."""
    tau = b / sigma**2
    m = tau * b

    def log_l(s, beta):  # up to constants
        return n * np.log(s + beta) - (s + beta) + m * np.log(tau * beta) - tau * beta

    free = log_l(n - b, b)  # the unconstrained maximum: s = n - b, beta = b
    null = -optimize.minimize_scalar(
        lambda beta: -log_l(0.0, beta), bounds=(1e-3, 10 * b), method="bounded"
    ).fun
    z = np.sign(n - b) * np.sqrt(2 * (free - null))
    assert local_significance(n, b, sigma) == pytest.approx(z, abs=1e-3)
    assert abs(local_significance(n, b, sigma)) < abs(local_significance(n, b))  # uncertainty dilutes
    assert local_significance(n, b, 1e-4) == pytest.approx(local_significance(n, b), abs=1e-4)


def test_local_significance_rejects_bad_inputs():
    with pytest.raises(ValueError, match="b_expected > 0"):
        local_significance(3, 0.0)
    with pytest.raises(ValueError, match="n_observed >= 0"):
        local_significance(-1, 2.0)


# --- the background fit ----------------------------------------------------------------------------------

TRUE_PARAMETERS = (1.0, 9.0, 5.0, 0.3)  # a falling spectrum, p3 != 0


def _draw(n: int, lo: float, hi: float, seed: int) -> np.ndarray:
    """mjj drawn from dijet_function(TRUE_PARAMETERS) on [lo, hi] by inverse CDF on a fine grid."""
    grid = np.linspace(lo, hi, 200_001)
    cdf = integrate.cumulative_trapezoid(dijet_function(grid, *TRUE_PARAMETERS), grid, initial=0)
    return np.interp(np.random.default_rng(seed).random(n), cdf / cdf[-1], grid)


def test_fit_background_recovers_a_known_spectrum():
    n, lo, hi = 400_000, 3.0, 7.0
    mjj = _draw(n, lo, hi, seed=1)
    # unequal bins (widths 50-400 GeV): the fit must integrate over each bin, not take f(centre)
    edges = np.array(
        [3.0, 3.05, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 4.0, 4.2, 4.5, 4.8, 5.2, 5.6, 6.0, 6.5, 7.0]
    )
    fit = fit_background(mjj, edges, masked=SIGNAL_REGION)
    total = integrate.quad(lambda m: dijet_function(m, *TRUE_PARAMETERS), lo, hi)[0]
    truth = n * integrate.quad(lambda m: dijet_function(m, *TRUE_PARAMETERS), *SIGNAL_REGION)[0] / total
    expected, error = fit.expected(*SIGNAL_REGION), fit.uncertainty(*SIGNAL_REGION)
    assert expected == pytest.approx(truth, rel=0.02)
    assert abs(expected - truth) < 3 * error  # consistent with the fit's own uncertainty
    assert 0 < error < 0.05 * truth
    observed = np.count_nonzero((mjj > SIGNAL_REGION[0]) & (mjj < SIGNAL_REGION[1]))
    assert abs(observed - expected) < 3 * np.sqrt(expected + error**2)  # Poisson + fit errors
    # the fitted shape follows the true one over the whole range (the parameters are correlated)
    m = np.linspace(3.0, 6.5, 50)
    true_density = n * dijet_function(m, *TRUE_PARAMETERS) / total
    np.testing.assert_allclose(fit.density(m), true_density, rtol=0.05)
    np.testing.assert_allclose(dijet_function(m, *fit.parameters), fit.density(m), rtol=1e-6)
    assert fit.fitted.sum() == len(edges) - 1 - 4  # the 4 bins of the signal region are masked


def test_fit_background_needs_the_masked_region_on_bin_edges():
    with pytest.raises(ValueError, match="bin edges"):
        fit_background(_draw(10_000, 3.0, 7.0, seed=2), np.linspace(3.0, 7.0, 15))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bump_hunt_background_only_control(seed):
    """No signal: the significance is compatible with a fluctuation. The side-band fit's own error
    on b (~450 events) exceeds sqrt(b) (~370) here, so the control uses the Z that includes it."""
    result = bump_hunt(simulate(1_000_000, seed=seed).mjj)
    truth = 1_000_000 * integrate.quad(background_mjj_density, *SIGNAL_REGION)[0]
    assert abs(result.b_expected - truth) < 3 * np.hypot(result.b_uncertainty, np.sqrt(truth))
    assert abs(result.significance_profiled) < 2


def test_bump_hunt_finds_an_injected_signal():
    background = simulate(1_000_000, seed=3)  # about 135k events in the SR
    signal = simulate(0, n_signal=8_600, seed=4)  # about 78 % of it in the SR: S/B ~ 5 %
    assert 0.045 < signal.in_region().sum() / background.in_region().sum() < 0.055
    result = bump_hunt(Events.concatenate(background, signal))
    assert result.n_observed - result.b_expected > 0.5 * signal.in_region().sum()
    assert result.significance_profiled > 3
    assert result.significance > result.significance_profiled


# --- the preprocessing and the flows ----------------------------------------------------------------------


def _positive(x):
    """The first two features made positive (log-normal), as the jet masses are."""
    x = np.array(x, dtype=np.float64)
    x[:, :2] = np.exp(x[:, :2])
    return x


def _gaussian_events(n: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> Events:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, scale, (n, 4)) * np.array([0.05, 0.1, 0.2, 0.3]) + np.array([0.1, 0.2, 0.5, 0.5])
    return Events(rng.uniform(*SIGNAL_REGION, n), x, np.zeros(n, dtype=bool))


@pytest.mark.parametrize("log", [(), (0, 1)])
def test_logit_scaler_inverts_and_stays_finite_at_and_beyond_the_ends(log):
    x = torch.as_tensor(_positive(_gaussian_events(5000, seed=0).features), dtype=torch.float32)
    scaler = LogitScaler.fit(x, log=log)
    y, _ = scaler(x)
    torch.testing.assert_close(scaler.inverse(y), x, atol=2e-5, rtol=1e-4)
    assert abs(float(y.mean())) < 1e-3 and abs(float(y.std()) - 1) < 1e-2  # standardized
    ends = torch.stack([x.min(0).values, x.max(0).values, x.min(0).values / 10, x.max(0).values + 10])
    y, logdet = scaler(ends)
    assert torch.isfinite(y).all() and torch.isfinite(logdet).all()


@pytest.mark.parametrize("log", [(), (0, 1)])
def test_logit_scaler_log_jacobian_against_autograd(log):
    scaler = LogitScaler.fit(_positive(_gaussian_events(2000, seed=1).features), log=log).double()
    for x in torch.as_tensor(_positive(_gaussian_events(5, seed=2).features), dtype=torch.float64):
        jacobian = torch.autograd.functional.jacobian(lambda v: scaler(v[None])[0][0], x)
        _, logdet = scaler(x[None])
        assert float(logdet) == pytest.approx(float(torch.linalg.slogdet(jacobian)[1]), abs=1e-6)


def test_logit_scaler_takes_logs_of_positive_features_only():
    x = _positive(_gaussian_events(100, seed=4).features)
    scaler = LogitScaler.fit(x, log=(0,))
    assert scaler.log.tolist() == [1.0, 0.0, 0.0, 0.0]
    x[0, 0] = -0.1
    with pytest.raises(ValueError, match="positive"):
        LogitScaler.fit(x, log=(0,))


def test_sideband_flow_is_a_normalized_density_in_the_original_space():
    """exp(log_prob) integrates to 1 over the support of the preprocessing (a box), checked by Monte
    Carlo with uniform points: without the scaler's log-Jacobian it would be ~3e-4 here."""
    events = _gaussian_events(20_000, seed=3)
    model = SidebandFlow(events, transforms=2, hidden=(32, 32), log_masses=False)
    model.fit(steps=60, batch_size=256, device="cpu", progress=False)  # a non-trivial flow
    low, high = model.scaler.low.double().numpy(), model.scaler.high.double().numpy()
    rng = np.random.default_rng(4)
    n = 400_000
    x = low + (high - low) * rng.random((n, 4))
    density = np.exp(
        model.log_prob(Events(rng.uniform(*SIGNAL_REGION, n), x, np.zeros(n, bool))).double().numpy()
    )
    integral = density.mean() * np.prod(high - low)
    error = density.std() * np.prod(high - low) / np.sqrt(n)
    assert integral == pytest.approx(1.0, abs=max(4 * error, 0.02))


def test_anode_ratio_of_two_flows_follows_the_true_density_ratio():
    """Background N(m0, S), signal region 0.7 N(m0, S) + 0.3 N(m0 + 1.5 sd, S / 4): the ANODE score
    against the exact log density ratio."""
    background, sr_background = _gaussian_events(20_000, seed=5), _gaussian_events(14_000, seed=6)
    sr_signal = _gaussian_events(6_000, seed=7, shift=1.5, scale=0.5)
    sr = Events.concatenate(sr_background, sr_signal)
    kwargs = dict(steps=250, batch_size=256, device="cpu", progress=False)
    outer, inner = (
        SidebandFlow(background, transforms=2, hidden=(32, 32), log_masses=False),
        SidebandFlow(sr, transforms=2, hidden=(32, 32), log_masses=False),
    )
    outer.fit(**kwargs)
    inner.fit(**kwargs)
    test = Events.concatenate(
        _gaussian_events(2000, seed=8), _gaussian_events(1000, seed=9, shift=1.5, scale=0.5)
    )
    # a flow after the scaler is a density on the scaler's box (the fitted range plus a margin):
    # compare where both are defined (a point of a Gaussian tail may lie beyond a box)
    inside = [np.all((test.features > m.scaler.low.numpy()) & (test.features < m.scaler.high.numpy()), 1)
              for m in (outer, inner)]  # fmt: skip
    test = test[inside[0] & inside[1]]
    assert len(test) > 0.99 * 3000
    scores = anode(test, outer, inner)
    sd, centre = np.array([0.05, 0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.5, 0.5])
    p_b = stats.multivariate_normal(centre, np.diag(sd**2)).logpdf(test.features)
    p_s = stats.multivariate_normal(centre + 1.5 * sd, np.diag((0.5 * sd) ** 2)).logpdf(test.features)
    true_ratio = np.logaddexp(np.log(0.7) + p_b, np.log(0.3) + p_s) - p_b
    assert stats.pearsonr(scores, true_ratio)[0] > 0.9


def test_sideband_flow_saves_loads_and_follows_the_contract(tmp_path):
    events = simulate(3000, seed=5).sidebands()
    model = SidebandFlow(events, transforms=2, hidden=(16,))
    history = model.fit(
        steps=20, batch_size=128, device="cpu", progress=False, val_data=events[:500], eval_every=10
    )
    assert history.steps("nll") == list(range(1, 21)) and history.steps("val_nll") == [10, 20]
    assert history.best_step in (10, 20)
    loaded = SidebandFlow.load(model.save(tmp_path / "flow.pt"))
    torch.testing.assert_close(loaded.log_prob(events[:100]), model.log_prob(events[:100]))
    assert loaded.sample(7, context=3.5).shape == (7, 4)
    with pytest.raises(ValueError, match="training events"):
        loaded.fit(steps=1)
    with pytest.raises(ValueError, match="conditional"):
        loaded.sample(3, context=None)


def test_cathode_samples_stay_in_the_signal_region_and_follow_its_mjj():
    sr = simulate(60_000, n_signal=500, seed=6).signal_region()
    model = SidebandFlow(
        simulate(5000, seed=7).sidebands(), transforms=2, hidden=(16,)
    )  # untrained: identity
    samples = cathode_samples(model, sr.mjj, 20_000, bandwidth=0.01, seed=1)
    assert len(samples) == 20_000 and samples.features.shape == (20_000, 4)
    assert np.all((samples.mjj > SIGNAL_REGION[0]) & (samples.mjj < SIGNAL_REGION[1]))
    assert stats.ks_2samp(samples.mjj, sr.mjj).pvalue > 0.01
    assert np.isfinite(samples.features).all() and not samples.is_signal.any()
    # the features come from the flow: an untrained flow is N(0, 1) after the scaler
    y, _ = model.scaler(torch.as_tensor(samples.features, dtype=torch.float32))
    assert y.mean(0).abs().max() < 0.05 and (y.std(0) - 1).abs().max() < 0.05


# --- the k-fold classifier -------------------------------------------------------------------------------


class _Tattletale(ClassifierMixin, BaseEstimator):
    """Scores 1 for an event it was trained on, 0 otherwise (rows are identified by x[:, 0])."""

    def fit(self, x, y):
        self.classes_ = np.array([0, 1])
        self.seen_ = set(x[:, 0].tolist())
        return self

    def predict_proba(self, x):
        seen = np.array([v in self.seen_ for v in x[:, 0]], dtype=float)
        return np.stack([1 - seen, seen], axis=1)


def test_weak_classifier_scores_every_event_with_a_classifier_that_never_saw_it():
    rng = np.random.default_rng(0)
    x = np.stack([np.arange(1000.0), rng.random(1000)], axis=1)
    y = rng.random(1000) < 0.3
    assert np.all(weak_classifier_scores(x, y, folds=5, ensemble=2, classifier=_Tattletale()) == 0)


class _FoldId(ClassifierMixin, BaseEstimator):
    """Scores every event with the number of the fit it came from (0.1, 0.2, ...)."""

    fits = 0

    def fit(self, x, y):
        type(self).fits += 1
        self.classes_, self.value_ = np.array([0, 1]), 0.1 * type(self).fits
        return self

    def predict_proba(self, x):
        return np.stack([1 - np.full(len(x), self.value_), np.full(len(x), self.value_)], axis=1)


def test_weak_classifier_scores_other_events_by_one_fold_each():
    rng = np.random.default_rng(3)
    x, y = rng.random((1000, 2)), rng.random(1000) < 0.3
    _FoldId.fits = 0
    inside, other = weak_classifier_scores(
        x, y, folds=5, classifier=_FoldId(), apply_to=rng.random((5000, 2))
    )
    values = 0.1 * np.arange(1, 6)
    # one classifier each, like the events of x (an average of the five would give 0.3 to every event,
    # scattering less than the out-of-fold scores and so passing high thresholds less often)
    for scores in (inside, other):
        assert np.all(np.isclose(scores[:, None], values).any(axis=1))
        assert np.allclose(np.bincount(np.rint(scores * 10).astype(int), minlength=6)[1:] / len(scores), 0.2,
                           atol=0.03)  # fmt: skip
    _, unseen = weak_classifier_scores(x, y, folds=5, classifier=_Tattletale(), apply_to=x[:7] + 2.0)
    assert np.all(unseen == 0)


def test_weak_classifier_on_noise_labels_gives_auc_one_half():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4000, 4)), rng.random(4000) < 0.5
    memorizer = KNeighborsClassifier(n_neighbors=1)
    # the classic mistake, scoring the training events themselves: AUC 1 on pure noise
    assert roc_auc_score(y, memorizer.fit(x, y).predict_proba(x)[:, 1]) == 1.0
    for classifier in (memorizer, None):  # None: the default gradient-boosted trees
        auc = roc_auc_score(y, weak_classifier_scores(x, y, classifier=classifier))
        assert abs(auc - 0.5) < 0.035  # 3.8 standard deviations of the AUC for 2 x 2000 events


def test_weak_classifier_separates_separable_data_and_rejects_bad_labels():
    rng = np.random.default_rng(2)
    y = rng.random(3000) < 0.5
    x = rng.normal(size=(3000, 2)) + 2.0 * y[:, None]
    assert roc_auc_score(y, weak_classifier_scores(x, y)) > 0.95
    with pytest.raises(ValueError, match="labels 0 and 1"):
        weak_classifier_scores(x, np.ones(3000))
    with pytest.raises(ValueError, match="rows"):
        weak_classifier_scores(x, y[:10])


# --- end to end -------------------------------------------------------------------------------------------


def test_cwola_and_cathode_find_a_large_signal():
    data = simulate(100_000, n_signal=3000, seed=1)
    truth = data.signal_region().is_signal
    assert max_sic(cwola(data), truth) > 2
    model = SidebandFlow(data.sidebands(), transforms=2, hidden=(32, 32))
    model.fit(steps=200, batch_size=256, device="cpu", progress=False)
    scores = cathode(data, model, n_samples=len(truth))
    assert scores.shape == truth.shape
    assert max_sic(scores, truth) > 2
    everywhere = cathode(data, model, n_samples=len(truth), everywhere=True)
    assert everywhere.shape == (len(data),)
    assert np.array_equal(everywhere[data.in_region()], scores)  # the same out-of-fold scores inside
