"""Tests of importance sampling and the nested-sampling reference posterior, gm_helpers.inference.exact.

References: Kish's effective sample size (sum w)^2 / sum w^2 computed here from explicit weights; a
conjugate Gaussian problem written here, theta ~ N(0, 1) and x_j = theta + N(0, sigma^2) for
j = 1..3, with its exact posterior N(mean, sd^2) (precision 1 + 3 / sigma^2) and its exact evidence
p(x) = N(x; 0, sigma^2 I + 1 1^T) from scipy's multivariate normal; for a Gaussian proposal
q = N(mean + delta sd, (c sd)^2) the limiting sample efficiency
1 / E_q[(p / q)^2] = sqrt(2 c^2 - 1) / c^2 exp(-delta^2 / (2 c^2 - 1)).
"""

import numpy as np
import pytest
import torch
from scipy import special, stats

from gm_helpers.data.chirp import Chirp
from gm_helpers.inference.exact import (
    ImportanceSamples,
    ReferencePosterior,
    effective_sample_size,
    importance_sample,
    reference_posterior,
)

SIGMA = 0.8
X_OBS = np.array([0.9, 1.6, 0.4])
PRECISION = 1 + len(X_OBS) / SIGMA**2
POST_MEAN = X_OBS.sum() / SIGMA**2 / PRECISION
POST_SD = PRECISION**-0.5
LOG_EVIDENCE = stats.multivariate_normal(np.zeros(3), SIGMA**2 * np.eye(3) + np.ones((3, 3))).logpdf(X_OBS)


class ConjugateGaussian:
    """The 'simulator': prior N(0, 1) on one parameter, three observations N(theta, sigma^2)."""

    def log_likelihood(self, theta, x):
        theta = np.asarray(theta).reshape(-1, 1)
        assert np.asarray(x).shape == (3,)
        return np.sum(stats.norm.logpdf(np.asarray(x)[None, :], loc=theta, scale=SIGMA), axis=1)

    def log_prior(self, theta):
        return stats.norm.logpdf(np.asarray(theta)[:, 0])


class GaussianProposal:
    """q(theta | x) = N(POST_MEAN + shift * POST_SD, (scale * POST_SD)^2): the exact posterior for
    shift 0 and scale 1. Returns torch tensors (float64) or numpy arrays."""

    def __init__(self, shift=0.0, scale=1.0, seed=0, as_torch=True):
        self.shift, self.scale, self.seed, self.as_torch = shift, scale, seed, as_torch

    def sample_and_log_prob(self, n, x):
        assert np.array_equal(np.asarray(x), X_OBS)
        q = torch.distributions.Normal(
            torch.tensor(POST_MEAN + self.shift * POST_SD, dtype=torch.float64),
            torch.tensor(self.scale * POST_SD, dtype=torch.float64),
        )
        theta = q.sample(torch.Size([n, 1]))
        log_q = q.log_prob(theta)[:, 0]
        return (theta, log_q) if self.as_torch else (theta.numpy(), log_q.numpy())


@pytest.fixture(autouse=True)
def _torch_seed():
    torch.manual_seed(1234)


# --- effective sample size ------------------------------------------------------------------------


def kish(w):
    w = np.asarray(w, dtype=np.float64)
    return np.sum(w) ** 2 / np.sum(w**2)


def test_ess_of_equal_weights_is_n():
    """n equal weights, whatever their common value (e^-800 underflows if not rescaled): ESS = n."""
    for n in (1, 7, 1000):
        assert effective_sample_size(np.zeros(n)) == pytest.approx(n, rel=1e-12)
        assert effective_sample_size(np.full(n, -800.0)) == pytest.approx(n, rel=1e-12)  # exp underflows
    assert effective_sample_size(torch.zeros(5)) == pytest.approx(5.0, rel=1e-12)


def test_ess_of_one_dominant_weight_is_about_one():
    """One weight e^50 times the 99 others: ESS 1; zero weights (log -inf) do not count."""
    log_w = np.full(100, -50.0)
    log_w[17] = 0.0
    assert effective_sample_size(log_w) == pytest.approx(1.0, abs=1e-12)
    half = np.array([0.0, 0.0, -np.inf, -np.inf])  # zero weights do not count
    assert effective_sample_size(half) == pytest.approx(2.0, rel=1e-12)


def test_ess_matches_kish_formula_from_explicit_weights():
    """Random positive weights: ESS = (sum w)^2 / sum w^2 computed on the weights themselves."""
    rng = np.random.default_rng(3)
    for w in (rng.exponential(size=1000), rng.lognormal(sigma=2.0, size=500), np.array([1.0, 2.0, 3.0])):
        assert effective_sample_size(np.log(w)) == pytest.approx(kish(w), rel=1e-12)
    assert effective_sample_size(np.log([1.0, 2.0, 3.0])) == pytest.approx(36 / 14, rel=1e-12)
    # (n, 1) log-weights are flattened
    assert effective_sample_size(np.log([[1.0], [2.0], [3.0]])) == pytest.approx(36 / 14, rel=1e-12)


def test_ess_is_invariant_to_a_constant_added_to_the_log_weights():
    """Multiplying all weights by e^c changes nothing, even for c = +-1000 (no overflow)."""
    log_w = np.random.default_rng(4).normal(scale=3.0, size=300)
    reference = kish(np.exp(log_w))
    for c in (-1000.0, -5.0, 0.0, 7.5, 1000.0):
        assert effective_sample_size(log_w + c) == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize(
    "log_w",
    [np.array([]), np.array([0.0, np.nan]), np.full(3, -np.inf), torch.tensor([np.nan])],
)
def test_ess_bad_input_raises(log_w):
    """No weights, a NaN, or all weights zero: ValueError."""
    with pytest.raises(ValueError, match="at least one finite log-weight and no NaN"):
        effective_sample_size(log_w)


# --- importance sampling --------------------------------------------------------------------------


@pytest.mark.parametrize("as_torch", [True, False])
def test_importance_sampling_with_the_exact_posterior(as_torch):
    """Proposal = posterior: all weights equal (efficiency 1 to 1e-6), log_evidence the exact
    log N(x; 0, sigma^2 I + 1 1^T), and every log-weight equals it."""
    result = importance_sample(GaussianProposal(as_torch=as_torch), ConjugateGaussian(), X_OBS, n=2000)
    assert isinstance(result, ImportanceSamples)
    assert result.theta.shape == (2000, 1) and result.log_weights.shape == (2000,)
    assert result.theta.dtype == np.float64
    assert result.efficiency == pytest.approx(1.0, abs=1e-6)
    assert result.ess == pytest.approx(2000, rel=1e-6)
    np.testing.assert_allclose(result.weights, 1 / 2000, rtol=1e-8)
    assert result.log_evidence == pytest.approx(LOG_EVIDENCE, abs=1e-10)
    np.testing.assert_allclose(result.log_weights, LOG_EVIDENCE, atol=1e-10)


def test_importance_sampling_with_a_wider_shifted_proposal():
    """q = N(mean + 0.3 sd, (2 sd)^2): the weighted mean and variance are the posterior's (within
    5 Monte Carlo standard errors), the evidence too (within 0.03), the efficiency is below 1 and
    near its limit sqrt(7) / 4 exp(-0.09 / 7) = 0.653; the weights are the normalized exp(log_w)."""
    n = 20_000
    result = importance_sample(GaussianProposal(shift=0.3, scale=2.0), ConjugateGaussian(), X_OBS, n=n)
    w, theta = result.weights, result.theta[:, 0]
    np.testing.assert_allclose(w, special.softmax(result.log_weights), rtol=1e-10)
    assert np.sum(w) == pytest.approx(1.0, rel=1e-12)
    ess = result.ess
    assert ess == pytest.approx(kish(w), rel=1e-10)
    assert result.efficiency < 0.9
    assert result.efficiency == pytest.approx(np.sqrt(7) / 4 * np.exp(-0.09 / 7), abs=0.03)
    mean = np.sum(w * theta)
    variance = np.sum(w * (theta - mean) ** 2)
    assert abs(mean - POST_MEAN) < 5 * POST_SD / np.sqrt(ess)
    assert variance == pytest.approx(POST_SD**2, rel=5 * np.sqrt(2 / ess))
    assert result.log_evidence == pytest.approx(LOG_EVIDENCE, abs=0.03)
    # unweighted, the proposal's samples are off: the weights do the work
    assert abs(theta.mean() - POST_MEAN) > 0.2 * POST_SD
    assert theta.var() > 3 * POST_SD**2


def test_resample_returns_equally_weighted_posterior_samples():
    """resample: n draws (n, 1) among the proposal's samples, seeded; their plain mean and variance
    are the posterior's within Monte Carlo tolerance."""
    result = importance_sample(GaussianProposal(shift=0.3, scale=2.0), ConjugateGaussian(), X_OBS, n=20_000)
    draws = result.resample(20_000, seed=5)
    assert draws.shape == (20_000, 1)
    assert np.all(np.isin(draws[:, 0], result.theta[:, 0]))
    np.testing.assert_array_equal(draws, result.resample(20_000, seed=5))
    assert not np.array_equal(draws, result.resample(20_000, seed=6))
    se = POST_SD * np.sqrt(1 / result.ess + 1 / 20_000)
    assert abs(draws.mean() - POST_MEAN) < 5 * se
    assert draws.var() == pytest.approx(POST_SD**2, rel=0.08)


# --- the nested-sampling reference posterior --------------------------------------------------------


@pytest.fixture(scope="module")
def chirp_reference():
    """A high-SNR (about 19) chirp in white noise and dynesty's posterior (nlive=100, dlogz=1):
    about 6 s."""
    sim = Chirp()
    theta_true = np.array([30.0, 1.4, 0.85, 2.0])
    _, x = sim.simulate(1, seed=3, theta=theta_true)
    return sim, theta_true, reference_posterior(sim, x[0], nlive=100, dlogz=1.0, seed=0)


def test_reference_posterior_recovers_the_chirp_mass(chirp_reference):
    """The posterior mean of Mc (and of t_c) is within 3 posterior standard deviations of the truth;
    the samples lie inside the prior; the evidence and its error are finite."""
    sim, theta_true, result = chirp_reference
    assert isinstance(result, ReferencePosterior)
    samples = result.samples
    assert samples.ndim == 2 and samples.shape[1] == 4 and len(samples) > 200
    assert np.all(sim.in_prior(samples))
    mean, sd = samples.mean(axis=0), samples.std(axis=0)
    assert abs(mean[0] - theta_true[0]) < 3 * sd[0]
    assert sd[0] < 1.0  # Mc is measured: far narrower than its prior (std 5.8)
    assert abs(mean[2] - theta_true[2]) < 3 * sd[2]
    assert np.isfinite(result.log_evidence) and np.isfinite(result.log_evidence_error)
    assert result.log_evidence_error >= 0 and result.calls > 0 and result.seconds > 0


@pytest.mark.parametrize("shape", [(1, 256), (255,), (2, 256)])
def test_reference_posterior_rejects_a_bad_x_shape(shape):
    """Anything but one series (n_samples,) raises before the sampler starts."""
    with pytest.raises(ValueError, match=r"x must be one series of shape \(256,\)"):
        reference_posterior(Chirp(), np.zeros(shape), nlive=10)
