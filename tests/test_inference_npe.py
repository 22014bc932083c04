"""Tests of neural posterior estimation, gm_helpers.inference.npe (NPE, SVDEmbedding).

References, all computed here independently of the code under test:
- an untrained NPE (its flow starts as the identity) is the Gaussian N(centre, (width / 4)^2) per
  parameter (scipy), whose mass inside the prior's box is (Phi(2) - Phi(-2))^2 and whose truncation
  to the box has scipy's truncnorm standard deviation;
- for a flow with random weights: a grid integral of exp(log_prob) over a wide region (= 1), a
  uniform Monte Carlo integral over the box (the mass inside, and the truncated density's mean);
- a linear-Gaussian simulator x = M theta + N(0, I): the exact posterior (flat prior, box far
  away) is N(Cov M^T x, Cov) with Cov = (M^T M)^-1;
- for the SVD embedding: the eigen-decomposition of W^T W (scipy.linalg.eigh), not an SVD;
- the checkpoint file read back with torch.load, and torch's RNG state before and after.
"""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy import stats

from gm_helpers.inference.npe import NPE, SVDEmbedding
from gm_helpers.train import NonFiniteLossError

SMALL = dict(n_inputs=8, n_basis=8, features=8, embedding_hidden=(32,), transforms=2, hidden=(32, 32))

# A narrow, off-centre box for the density checks.
LOW, HIGH = np.array([-1.0, 2.0]), np.array([1.0, 2.5])
CENTRE, WIDTH, VOLUME = (LOW + HIGH) / 2, HIGH - LOW, float(np.prod(HIGH - LOW))
X_A = np.linspace(-1.0, 1.0, 8)
X_B = 0.5 - 2 * X_A[::-1]

# The linear-Gaussian simulator x = M theta + N(0, I_8), prior uniform on [-3, 3]^2.
M = 1.2 * np.random.default_rng(0).normal(size=(8, 2))
POST_COV = np.linalg.inv(M.T @ M)  # posterior sds ~0.32 and ~0.57, correlation ~-0.59
POST_SD = np.sqrt(np.diag(POST_COV))
POST_CORR = POST_COV[0, 1] / (POST_SD[0] * POST_SD[1])
THETA_TRUE = np.array([[0.0, 0.0], [1.0, -1.5], [-1.2, 0.8]])
X_OBS = THETA_TRUE @ M.T + np.random.default_rng(1).normal(size=(3, 8))
POST_MEANS = X_OBS @ M @ POST_COV  # rows: Cov M^T x


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Small models on a shared 2-core machine run much faster on one thread (no spin-waiting).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _torch_seed():
    torch.manual_seed(1234)


def _randomize(module, std=0.25, seed=2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _random_npe():
    """An NPE with random weights: a non-Gaussian q(theta | x) that depends on x and puts 25-30 %
    of its mass outside the box."""
    return _randomize(NPE(LOW, HIGH, **SMALL))


def _box_integrals(npe, x, n=100_000):
    """Uniform Monte Carlo over the box: the mass of exp(log_prob) inside, its standard error, the
    mean of the truncated density (self-normalized) and that mean's standard error."""
    u = np.random.default_rng(0).uniform(LOW, HIGH, size=(n, 2))
    p = npe.log_prob(u, x).double().exp().numpy()
    mass, mass_se = VOLUME * p.mean(), VOLUME * p.std() / math.sqrt(n)
    mean = (u * p[:, None]).sum(0) / p.sum()
    mean_se = np.sqrt(np.sum(p[:, None] ** 2 * (u - mean) ** 2, axis=0)) / p.sum()
    return mass, mass_se, mean, mean_se


@pytest.fixture(scope="module")
def trained():
    """An NPE trained on the linear-Gaussian simulator (fresh unit noise every batch)."""
    theta = np.random.default_rng(2).uniform(-3, 3, size=(20_000, 2)).astype(np.float32)
    npe = NPE([-3.0, -3.0], [3.0, 3.0], **SMALL)
    history = npe.fit(theta, theta @ M.T.astype(np.float32), fresh_noise=True, steps=800, batch_size=256,
                      lr=5e-3, seed=0, progress=False, device="cpu")  # fmt: skip
    assert len(history["nll"]) == 800 and history.steps("nll")[-1] == 800
    return npe


# --- the truncated density --------------------------------------------------------------------------


def test_untrained_npe_is_the_box_standardized_gaussian_with_the_exact_truncation_constant():
    """A new NPE's flow is the identity on the standardized parameters (box -> [-2, 2]), so
    log_prob must be scipy's N(centre, (width / 4)^2) density (the Jacobian of the standardization
    included); sample_and_log_prob's log q differs from it by -log of the closed-form mass inside,
    (Phi(2) - Phi(-2))^2 = 0.911, and its samples have the truncated normal's standard deviation."""
    npe = NPE(LOW, HIGH, **SMALL)
    theta = CENTRE + WIDTH * np.random.default_rng(0).normal(size=(500, 2))
    want = stats.norm.logpdf(theta, CENTRE, WIDTH / 4).sum(1)
    np.testing.assert_allclose(npe.log_prob(theta, X_A).numpy(), want, rtol=1e-5, atol=1e-4)

    samples, log_q = npe.sample_and_log_prob(20_000, X_A)
    assert samples.shape == (20_000, 2) and log_q.shape == (20_000,)
    assert np.all((samples.numpy() >= LOW) & (samples.numpy() <= HIGH))
    log_mass = (npe.log_prob(samples, X_A) - log_q).double().numpy()
    mass_inside = (stats.norm.cdf(2) - stats.norm.cdf(-2)) ** 2
    assert np.ptp(log_mass) < 1e-4
    assert abs(np.exp(log_mass.mean()) - mass_inside) < 0.01  # binomial se ~0.002
    truncated_sd = stats.truncnorm(-2, 2).std() * WIDTH / 4
    np.testing.assert_allclose(samples.numpy().std(0), truncated_sd, rtol=0.03)


def test_log_prob_integrates_to_one_and_the_truncated_log_q_over_the_box():
    """A flow with random weights (non-Gaussian, 25-30 % of its mass outside the box): exp(log_prob)
    integrates to 1 over a wide grid (+-8 in standardized units), to the mass inside (< 0.85) by
    uniform Monte Carlo over the box; the log q of sample_and_log_prob is log_prob minus a constant,
    log(mass inside), so that volume * mean(exp(log q_trunc)) over uniform draws in the box is 1
    within 4 standard errors (~5 %; without the renormalization it would be 1.3 .. 1.45)."""
    npe = _random_npe()
    for x in (X_A, X_B):
        a0 = np.linspace(CENTRE[0] - 2 * WIDTH[0], CENTRE[0] + 2 * WIDTH[0], 401)
        a1 = np.linspace(CENTRE[1] - 2 * WIDTH[1], CENTRE[1] + 2 * WIDTH[1], 401)
        grid = np.stack(np.meshgrid(a0, a1, indexing="ij"), -1).reshape(-1, 2)
        total = float(npe.log_prob(grid, x).double().exp().sum()) * (a0[1] - a0[0]) * (a1[1] - a1[0])
        assert abs(total - 1) < 0.01

        mass, mass_se, _, _ = _box_integrals(npe, x)
        assert mass < 0.85 and mass_se < 0.01  # the leakage is substantial, the integral precise

        samples, log_q = npe.sample_and_log_prob(20_000, x)
        assert np.all((samples.numpy() >= LOW) & (samples.numpy() <= HIGH))
        shift = (log_q - npe.log_prob(samples, x)).double().numpy()  # = -log(mass inside)
        assert np.ptp(shift) < 1e-3
        u = np.random.default_rng(1).uniform(LOW, HIGH, size=(100_000, 2))
        q_trunc = np.exp(npe.log_prob(u, x).double().numpy() + shift.mean())
        # errors: this Monte Carlo (~1 %) and the sampler's binomial estimate of the mass (~0.5 %)
        se = math.hypot(VOLUME * q_trunc.std() / math.sqrt(len(u)), math.sqrt((1 - mass) / (mass * 22_000)))
        assert se < 0.015 and abs(VOLUME * q_trunc.mean() - 1) < 4 * se, (VOLUME * q_trunc.mean(), se)


def test_samples_follow_the_truncated_density():
    """The samples of sample_and_log_prob have the mean of the flow's density truncated to the box,
    computed by self-normalized uniform Monte Carlo over the box, within 5 combined standard errors
    (a sampler that kept samples outside or redrew them badly would be off by ~0.1)."""
    npe = _random_npe()
    for x in (X_A, X_B):
        _, _, mean, mean_se = _box_integrals(npe, x)
        samples = npe.sample(20_000, x).numpy()
        se = np.sqrt(mean_se**2 + samples.var(0) / len(samples))
        assert np.all(np.abs(samples.mean(0) - mean) < 5 * se), (samples.mean(0), mean, se)


# --- learning a known posterior ------------------------------------------------------------------------


def test_npe_learns_the_linear_gaussian_posterior(trained):
    """After 800 steps on x = M theta + N(0, I) (fresh noise), NPE's samples for three fixed
    observations have the exact posterior's mean (within 0.25 posterior sd; measured <= 0.12 over
    3 seeds), standard deviations (within 20 %; measured 1.00 .. 1.09) and correlation -0.59
    (within 0.12; measured <= 0.04). The exact means lie > 2.5 sd inside the box, so the box's
    truncation (ignored by the reference) shifts them by < phi(2.5) / Phi(2.5) = 0.02 sd."""
    assert np.all((3 - np.abs(POST_MEANS)) / POST_SD > 2.5)
    for x, mean in zip(X_OBS, POST_MEANS, strict=True):
        samples = trained.sample(4000, x).numpy()
        assert np.all(np.abs(samples) <= 3)
        np.testing.assert_array_less(np.abs(samples.mean(0) - mean) / POST_SD, 0.25)
        np.testing.assert_allclose(samples.std(0) / POST_SD, 1, atol=0.2)
        assert abs(np.corrcoef(samples.T)[0, 1] - POST_CORR) < 0.12


def test_sample_batched_follows_each_observations_own_x(trained):
    """sample_batched(n, xs) returns (m, n, d) inside the box; for the trained model each row's mean
    matches the exact posterior mean of its own x (0.25 sd) and the mean of sample(n, x) (5 standard
    errors); for a random flow leaking 25-30 % (so many samples are redrawn) each row matches the
    truncated mean of its own x computed by Monte Carlo over the box."""
    batched = trained.sample_batched(4000, X_OBS).numpy()
    assert batched.shape == (3, 4000, 2) and np.all(np.abs(batched) <= 3)
    for rows, x, mean in zip(batched, X_OBS, POST_MEANS, strict=True):
        np.testing.assert_array_less(np.abs(rows.mean(0) - mean) / POST_SD, 0.25)
        single = trained.sample(4000, x).numpy()
        se = np.sqrt((rows.var(0) + single.var(0)) / 4000)
        assert np.all(np.abs(rows.mean(0) - single.mean(0)) < 5 * se)
    assert trained.sample_batched(7, X_OBS[0]).shape == (1, 7, 2)

    npe = _random_npe()
    batched = npe.sample_batched(20_000, np.stack([X_A, X_B])).numpy()
    assert batched.shape == (2, 20_000, 2)
    assert np.all((batched >= LOW) & (batched <= HIGH))
    means = []
    for rows, x in zip(batched, (X_A, X_B), strict=True):
        _, _, mean, mean_se = _box_integrals(npe, x)
        se = np.sqrt(mean_se**2 + rows.var(0) / len(rows))
        assert np.all(np.abs(rows.mean(0) - mean) < 5 * se), (rows.mean(0), mean, se)
        means.append(mean)
    assert abs(means[0][0] - means[1][0]) > 0.1  # the two observations' posteriors do differ


# --- the SVD embedding --------------------------------------------------------------------------------


def test_svd_embedding_spans_low_rank_waveforms():
    """Waveforms of rank 3 in 16 dimensions, n_basis = 3: the projection's rows P are orthonormal
    (P P^T = I) and reconstruct every waveform (P^T P w = w); power_kept is the cumulative fraction
    of the eigenvalues of W^T W (scipy.linalg.eigh), non-decreasing and ending at 1."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 16))
    embedding = SVDEmbedding(16, n_basis=3, features=4, hidden=(8,))
    power = embedding.init_from_waveforms(w)
    p = embedding.project.weight.detach().double().numpy()
    assert p.shape == (3, 16)
    np.testing.assert_allclose(p @ p.T, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(w @ p.T @ p, w, atol=1e-5 * np.abs(w).max())
    eigenvalues = scipy.linalg.eigh(w.T @ w, eigvals_only=True)[::-1]
    assert power.shape == (3,)
    np.testing.assert_allclose(power, np.cumsum(eigenvalues[:3]) / eigenvalues.sum(), rtol=1e-8)
    assert np.all(np.diff(power) >= 0) and power[-1] == pytest.approx(1, abs=1e-10)

    embedding = SVDEmbedding(16, n_basis=5, features=4, hidden=(8,))  # more basis vectors than rank
    power = embedding.init_from_waveforms(torch.as_tensor(w))
    p = embedding.project.weight.detach().double().numpy()
    np.testing.assert_allclose(p @ p.T, np.eye(5), atol=1e-6)
    np.testing.assert_allclose(power[2:], 1, atol=1e-10)


def test_svd_embedding_keeps_the_leading_subspace_of_full_rank_waveforms():
    """Full-rank waveforms with decreasing scales, n_basis = 4: P^T P is the projector onto the 4
    leading eigenvectors of W^T W, and power_kept[-1] their share of the power (< 1); NPE(waveforms=...)
    does the same and stores power_kept."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(400, 16)) * 2.0 ** -np.arange(16)
    eigenvalues, vectors = scipy.linalg.eigh(w.T @ w)
    leading = vectors[:, ::-1][:, :4]
    embedding = SVDEmbedding(16, n_basis=4, features=4, hidden=(8,))
    power = embedding.init_from_waveforms(w)
    p = embedding.project.weight.detach().double().numpy()
    np.testing.assert_allclose(p.T @ p, leading @ leading.T, atol=1e-5)
    assert power[-1] == pytest.approx(eigenvalues[::-1][:4].sum() / eigenvalues.sum(), rel=1e-8)
    assert power[-1] < 0.999

    npe = NPE([0.0, 0.0], [1.0, 1.0], 16, waveforms=w, n_basis=4, features=4, embedding_hidden=(8,),
              transforms=1, hidden=(8,))  # fmt: skip
    p = npe.embedding.project.weight.detach().double().numpy()
    np.testing.assert_allclose(p.T @ p, leading @ leading.T, atol=1e-5)
    np.testing.assert_allclose(npe.power_kept, power)


def test_svd_embedding_needs_at_least_n_basis_waveforms():
    """Two waveforms cannot give three basis vectors: a ValueError saying so."""
    embedding = SVDEmbedding(16, n_basis=3, features=4, hidden=(8,))
    with pytest.raises(ValueError, match="at least n_basis = 3 waveforms"):
        embedding.init_from_waveforms(np.random.default_rng(0).normal(size=(2, 16)))


# --- checkpoints and seeding --------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    """Model.save / NPE.load: the loaded model gives the same log_prob (1e-6) while a model rebuilt
    from the configuration alone does not (the weights travel); the stored configuration is plain
    (no waveforms array: None, low / high lists of floats); power_kept is None after loading."""
    waveforms = np.random.default_rng(0).normal(size=(40, 8))
    npe = _randomize(NPE(LOW, HIGH, waveforms=waveforms, **SMALL), std=0.2, seed=3)
    assert npe.power_kept is not None
    path = npe.save(tmp_path / "npe.pt")

    blob = torch.load(path, map_location="cpu", weights_only=True)
    config = blob["config"]
    assert config["waveforms"] is None
    assert config["low"] == [-1.0, 2.0] and config["high"] == [1.0, 2.5]
    assert all(type(v) is float for v in config["low"] + config["high"])

    def plain(value):
        if isinstance(value, list | tuple):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return value is None or type(value) in (bool, int, float, str)

    assert plain(config)

    loaded = NPE.load(path)
    assert isinstance(loaded, NPE) and loaded.power_kept is None and not loaded.training
    theta = CENTRE + WIDTH * np.random.default_rng(1).normal(size=(300, 2))
    torch.testing.assert_close(loaded.log_prob(theta, X_A), npe.log_prob(theta, X_A), rtol=0, atol=1e-6)
    rebuilt = NPE(**config)
    assert not torch.allclose(rebuilt.log_prob(theta, X_A), npe.log_prob(theta, X_A), atol=1e-3)


def _seeding_run(seed, caller_seed):
    theta = np.random.default_rng(0).uniform(-3, 3, size=(256, 2)).astype(np.float32)
    npe = NPE([-3.0, -3.0], [3.0, 3.0], **SMALL)
    torch.manual_seed(caller_seed)
    state = torch.get_rng_state()
    history = npe.fit(theta, theta @ M.T.astype(np.float32), fresh_noise=True, steps=15, batch_size=64,
                      seed=seed, progress=False, device="cpu")  # fmt: skip
    assert torch.equal(torch.get_rng_state(), state), "fit changed the caller's torch RNG state"
    return history, npe


def test_fit_is_seeded_and_leaves_the_callers_rng_alone():
    """The same seed gives identical losses and weights whatever the caller's RNG state (the fresh
    noise comes from the seeded generator); another seed gives other losses; fit and the
    constructor leave torch's global RNG state as it was; the History numbers steps 1 .. steps."""
    h1, m1 = _seeding_run(seed=0, caller_seed=1)
    h2, m2 = _seeding_run(seed=0, caller_seed=2)
    h3, _ = _seeding_run(seed=1, caller_seed=1)
    assert h1["nll"] == h2["nll"] and h1.steps("nll") == list(range(1, 16))
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert h1["nll"] != h3["nll"]

    state = torch.get_rng_state()
    a, b = NPE(LOW, HIGH, **SMALL, seed=5), NPE(LOW, HIGH, **SMALL, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(
        torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


# --- errors ------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    """Invalid boxes, data and shapes raise ValueErrors that say what is wrong."""
    with pytest.raises(ValueError, match="high > low"):
        NPE([0.0, 1.0], [1.0, 1.0], **SMALL)
    with pytest.raises(ValueError, match="high > low"):
        NPE([0.0, 2.0], [1.0, 1.0], **SMALL)
    with pytest.raises(ValueError, match="same length"):
        NPE([0.0, 0.0], [1.0, 1.0, 1.0], **SMALL)
    with pytest.raises(ValueError, match="n_basis must lie in 1 .. n_inputs = 8, got 9"):
        NPE(LOW, HIGH, **(SMALL | {"n_basis": 9}))
    with pytest.raises(ValueError, match="n_basis"):
        SVDEmbedding(8, n_basis=0)

    npe = NPE(LOW, HIGH, **SMALL)
    theta = np.tile(CENTRE, (5, 1))
    bad_x = X_A.copy()
    bad_x[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        npe.sample(10, bad_x)
    with pytest.raises(ValueError, match="NaN"):
        npe.log_prob(theta, bad_x)
    with pytest.raises(ValueError, match="NaN"):
        npe.fit(theta, np.tile(bad_x, (5, 1)), steps=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"x must have shape \(8,\) or \(n, 8\), got \(7,\)"):
        npe.sample(10, np.zeros(7))
    with pytest.raises(ValueError, match=r"x must have shape"):
        npe.sample_batched(10, np.zeros((2, 9)))
    with pytest.raises(ValueError, match=r"one observation"):
        npe.sample(10, np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 2\), got \(5, 3\)"):
        npe.log_prob(np.zeros((5, 3)), X_A)
    with pytest.raises(ValueError, match=r"theta must have shape"):
        npe.fit(np.zeros((5, 3)), np.zeros((5, 8)), steps=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="theta has 5 rows but x has 4"):
        npe.fit(theta, np.zeros((4, 8)), steps=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="theta has 5 rows but x has 4"):
        npe.log_prob(theta, np.zeros((4, 8)))


def test_a_diverging_fit_stops_with_non_finite_loss_error():
    """An absurd learning rate (1e6) makes the loss NaN within a few steps: training stops with
    NonFiniteLossError naming the loss and the step (deterministic: seeded, on the CPU)."""
    rng = np.random.default_rng(0)
    theta, x = rng.uniform(-3, 3, size=(512, 2)), rng.normal(size=(512, 8))
    npe = NPE([-3.0, -3.0], [3.0, 3.0], **SMALL)
    with pytest.raises(NonFiniteLossError, match=r"loss 'nll' became .* at step \d+ of 50"):
        npe.fit(theta, x, steps=50, batch_size=256, lr=1e6, progress=False, device="cpu")


def test_nan_parameters_are_never_trained_on():
    """Simulations whose theta hold NaN do not train silently: refused with a ValueError, or stopped
    at the first step by NonFiniteLossError."""
    rng = np.random.default_rng(0)
    theta, x = rng.uniform(-3, 3, size=(256, 2)), rng.normal(size=(256, 8))
    theta[:, 0] = np.nan
    npe = NPE([-3.0, -3.0], [3.0, 3.0], **SMALL)
    with pytest.raises((ValueError, NonFiniteLossError)):
        npe.fit(theta, x, steps=5, batch_size=64, progress=False, device="cpu")


def test_samples_stay_inside_a_float64_prior_whose_bounds_float32_cannot_hold():
    """2 pi rounds *up* in float32: the NPE's box is rounded inwards (a float32 value that is inside
    it is inside the float64 prior), and every sample lies in that box; a saved and loaded NPE keeps
    the inward box (it is derived from the configuration, not read from the checkpoint)."""
    low, high = [0.7, 0.1], [2 * np.pi, 0.7]  # float32 rounds 0.7 down and 2 pi up
    assert float(np.float32(high[0])) > high[0] and float(np.float32(low[0])) < low[0]  # the premise
    npe = NPE(low, high, 8, n_basis=8, features=8, embedding_hidden=(16,), transforms=1, hidden=(16,))
    assert np.all(npe.box_high.double().numpy() <= high) and np.all(npe.box_low.double().numpy() >= low)
    assert float(npe.box_high[0]) < float(np.float32(high[0]))  # rounded inwards, one float32 step
    theta = npe.sample(5_000, np.zeros(8)).double().numpy()
    batched = npe.sample_batched(500, np.zeros((3, 8))).double().numpy().reshape(-1, 2)
    box = (npe.box_low.double().numpy(), npe.box_high.double().numpy())
    for samples in (theta, batched):
        assert np.all((samples >= box[0]) & (samples <= box[1]))
        assert np.all((samples >= low) & (samples <= high))
