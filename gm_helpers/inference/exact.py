"""What the exact likelihood buys: a reference posterior from a nested sampler, and importance
sampling of a neural posterior (DINGO-IS).

- ``reference_posterior`` runs ``dynesty`` (nested sampling, as bilby does for gravitational waves;
  Speagle, arXiv:1904.02180) on the closed-form likelihood of ``gm.data.chirp``: slow, exact, and
  at home with the multimodal posteriors a periodic phase makes.
- ``importance_sample`` reweights samples of a posterior estimate q(theta | x) by
  w = p(x | theta) p(theta) / q(theta | x) (Dax et al., "Neural importance sampling for rapid and
  reliable gravitational-wave inference", arXiv:2210.05686). The weighted samples are exact in the
  limit of many samples whatever q is, as long as q covers the posterior; how many of them count is
  the effective sample size ESS = (sum w)^2 / sum w^2, and the sample efficiency ESS / n says how
  good q is (1 for the exact posterior).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gm_helpers.core import to_numpy

__all__ = ["ImportanceSamples", "ReferencePosterior", "effective_sample_size", "importance_sample",
           "reference_posterior"]  # fmt: skip


def effective_sample_size(log_weights) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of unnormalized log-weights (n,)."""
    log_weights = np.asarray(to_numpy(log_weights), dtype=np.float64).reshape(-1)
    if not len(log_weights) or np.any(np.isnan(log_weights)) or np.all(log_weights == -np.inf):
        raise ValueError("need at least one finite log-weight and no NaN")
    if np.any(log_weights == np.inf):
        raise ValueError(
            "a log-weight is +inf: the proposal's density is 0 where a sample lies (log q = -inf)"
        )
    w = np.exp(log_weights - np.max(log_weights))
    return float(np.sum(w) ** 2 / np.sum(w**2))


@dataclass
class ImportanceSamples:
    """Posterior samples of a proposal q with their importance weights.

    ``theta`` (n, d); ``log_weights`` (n,), unnormalized: log p(x | theta) + log p(theta) -
    log q(theta | x); ``weights`` normalized to sum 1; ``ess`` and ``efficiency`` = ess / n;
    ``log_evidence``: the estimate log mean w of log p(x).
    """

    theta: np.ndarray
    log_weights: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        effective_sample_size(self.log_weights)  # the same checks: no NaN, not all weights zero
        w = np.exp(self.log_weights - np.max(self.log_weights))
        return w / np.sum(w)

    @property
    def ess(self) -> float:
        return effective_sample_size(self.log_weights)

    @property
    def efficiency(self) -> float:
        return self.ess / len(self.log_weights)

    @property
    def log_evidence(self) -> float:
        top = np.max(self.log_weights)
        return float(top + np.log(np.mean(np.exp(self.log_weights - top))))

    def resample(self, n: int, seed: int = 0) -> np.ndarray:
        """n equally weighted samples (n, d), drawn with replacement in proportion to the weights."""
        index = np.random.default_rng(seed).choice(len(self.theta), size=n, p=self.weights)
        return self.theta[index]


def importance_sample(posterior, simulator, x, n: int = 10_000) -> ImportanceSamples:
    """Reweight n samples of ``posterior`` (an ``NPE``: ``sample_and_log_prob(n, x)``) for the
    observation ``x`` with the exact likelihood and prior of ``simulator`` (``gm.data.chirp.Chirp``).
    The proposal's samples must lie inside the prior (the simulator refuses others); its log q must
    be normalized for the evidence to be right (``NPE`` renormalizes for its truncation)."""
    theta, log_q = posterior.sample_and_log_prob(n, x)
    theta, log_q = (
        np.asarray(to_numpy(theta), dtype=np.float64),
        np.asarray(to_numpy(log_q), dtype=np.float64),
    )
    x = np.asarray(to_numpy(x), dtype=np.float64)
    log_w = simulator.log_likelihood(theta, x) + simulator.log_prior(theta) - log_q
    return ImportanceSamples(theta, log_w)


@dataclass
class ReferencePosterior:
    """A nested sampler's answer: equally weighted ``samples`` (n, d), the ``log_evidence`` log p(x)
    and its error, the number of likelihood calls and the wall time in seconds."""

    samples: np.ndarray
    log_evidence: float
    log_evidence_error: float
    calls: int
    seconds: float


def reference_posterior(
    simulator, x, nlive: int = 500, dlogz: float = 0.1, periodic=(3,), seed: int = 0
) -> ReferencePosterior:
    """The posterior p(theta | x) of ``simulator`` (``gm.data.chirp.Chirp``) for one observation
    ``x`` by nested sampling with ``dynesty`` (random slice sampling, ``nlive`` live points, stop
    when the remaining evidence is below ``dlogz``); ``periodic``: the indices of periodic
    parameters (the phase)."""
    import dynesty

    x = np.asarray(to_numpy(x), dtype=np.float64)
    if x.shape != (simulator.n_samples,):
        raise ValueError(f"x must be one series of shape ({simulator.n_samples},), got {x.shape}")
    low, width = simulator.low, simulator.high - simulator.low

    def log_likelihood(theta):
        return float(simulator.log_likelihood(theta, x)[0])

    def prior_transform(u):
        return low + width * u

    start = time.perf_counter()
    sampler = dynesty.NestedSampler(
        log_likelihood, prior_transform, len(low), nlive=nlive, sample="rslice",
        periodic=list(periodic) or None, rstate=np.random.default_rng(seed),
    )  # fmt: skip
    sampler.run_nested(dlogz=dlogz, print_progress=False)
    seconds = time.perf_counter() - start
    result = sampler.results
    samples = result.samples_equal(rstate=np.random.default_rng(seed + 1))
    return ReferencePosterior(samples, float(result.logz[-1]), float(result.logzerr[-1]),
                              int(np.sum(result.ncall)), seconds)  # fmt: skip
