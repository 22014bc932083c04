"""VAE pieces against independent references: torch.distributions, closed forms, and the exact
likelihood of probabilistic PCA (Tipping & Bishop, 1999)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from gm_helpers import vae
from gm_helpers.train import NonFiniteLossError


def test_kl_divergence_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 7, generator=g) * 2, torch.randn(64, 7, generator=g)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(7), torch.ones(7)), 1)
    expected = torch.distributions.kl_divergence(q, p)
    got = vae.kl_divergence(mu, logvar)
    assert got.shape == (64,)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_reparameterized_samples_have_the_right_moments_and_carry_gradients():
    torch.manual_seed(0)
    mu = torch.tensor([[1.5, -2.0, 0.0]]).repeat(200_000, 1).requires_grad_()
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.01)]]).repeat(200_000, 1).requires_grad_()
    z = vae.reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([1.0, 4.0, 0.01]), atol=0, rtol=0.02)
    for column in range(3):  # each coordinate is Gaussian: Kolmogorov-Smirnov against the exact CDF
        std = math.exp(0.5 * logvar[0, column].item())
        p = stats.kstest(z[:5000, column].detach().numpy(), stats.norm(mu[0, column].item(), std).cdf).pvalue
        assert p > 1e-3
    z.sum().backward()
    # dz/dmu = 1 and dz/dlogvar = 0.5 sigma eps = 0.5 (z - mu), by hand
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * (z - mu).detach(), rtol=1e-5, atol=1e-6)


def test_log_likelihoods_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 4, 4, generator=g)
    decoded = torch.randn(8, 1, 4, 4, generator=g)
    bernoulli = Independent(Bernoulli(logits=decoded), 3).log_prob(x.round())
    torch.testing.assert_close(vae.log_likelihood(x.round(), decoded, "bernoulli"), bernoulli)
    gaussian = Independent(Normal(decoded, 0.3), 3).log_prob(x)
    torch.testing.assert_close(vae.log_likelihood(x, decoded, "gaussian", sigma=0.3), gaussian)


def test_elbo_terms_beta_and_free_bits_by_hand():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, 6, generator=g)
    decoded = torch.randn(16, 6, generator=g)
    mu = torch.randn(16, 3, generator=g) * torch.tensor([0.1, 0.3, 1.0])
    logvar = torch.randn(16, 3, generator=g) * 0.1
    reconstruction = Independent(Normal(decoded, 0.5), 1).log_prob(x).mean()
    q = Normal(mu, torch.exp(0.5 * logvar))
    kl_per_dim = torch.distributions.kl_divergence(q, Normal(0.0, 1.0)).mean(0)  # (3,)
    terms = vae.elbo(x, decoded, mu, logvar, "gaussian", beta=2.5, sigma=0.5)
    torch.testing.assert_close(terms.reconstruction, reconstruction)
    torch.testing.assert_close(terms.kl, kl_per_dim.sum())
    torch.testing.assert_close(terms.objective, reconstruction - 2.5 * kl_per_dim.sum())
    free = vae.elbo(x, decoded, mu, logvar, "gaussian", beta=2.5, free_bits=0.2, sigma=0.5)
    floored = torch.maximum(kl_per_dim, torch.tensor(0.2)).sum()
    assert (kl_per_dim < 0.2).any() and (kl_per_dim > 0.2).any()  # the floor matters for this case
    torch.testing.assert_close(free.objective, reconstruction - 2.5 * floored)
    torch.testing.assert_close(free.kl, kl_per_dim.sum())  # the reported KL is the true one


def test_free_bits_remove_the_kl_gradient_below_the_floor():
    mu = torch.full((4, 2), 0.1, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    x = torch.zeros(4, 3)
    objective = vae.elbo(x, torch.zeros(4, 3), mu, logvar, "gaussian", free_bits=0.5).objective
    objective.backward()
    assert torch.all(mu.grad == 0) and torch.all(logvar.grad == 0)  # KL = 0.005 < 0.5 per dim


def test_kl_annealing_schedule():
    assert [vae.kl_weight(t, 100, beta=2.0) for t in (0, 50, 100, 400)] == [0.0, 1.0, 2.0, 2.0]
    assert vae.kl_weight(0, 0, beta=0.5) == 0.5


# --- probabilistic PCA: a linear-Gaussian VAE whose exact likelihood we know ----------------------


def _ppca_vae(d=5, q=2, n=400, seed=0):
    """Data, the pPCA maximum-likelihood solution set into a linear VAE, and the exact log p(x)."""
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(d, q, generator=g, dtype=torch.float64) * 2
    x = torch.randn(n, q, generator=g, dtype=torch.float64) @ w_true.T + 0.7 * torch.randn(
        n, d, generator=g, dtype=torch.float64
    )
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / n
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    lam, u = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = lam[q:].mean()  # Tipping & Bishop: ML noise = mean of the discarded eigenvalues
    w = u[:, :q] * torch.sqrt(lam[:q] - sigma2)  # ML loading matrix (rotation R = I)
    exact = MultivariateNormal(mean, w @ w.T + sigma2 * torch.eye(d)).log_prob(x)
    # exact posterior: N(M^-1 W^T (x - mean), sigma2 M^-1), M = W^T W + sigma2 I = diag(lam[:q])
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(q))
    model = vae.VAE(
        d, latent_features=q, hidden=(), likelihood="gaussian", sigma=float(sigma2.sqrt())
    ).double()
    with torch.no_grad():
        encoder, decoder = model.encoder[0], model.decoder[0]
        encoder.weight.zero_()
        encoder.weight[:q] = m_inv @ w.T
        encoder.bias[:q] = -(m_inv @ w.T @ mean)
        encoder.bias[q:] = torch.log(sigma2 * torch.diagonal(m_inv))
        decoder.weight.copy_(w)
        decoder.bias.copy_(mean)
    assert torch.allclose(m_inv, torch.diag(torch.diagonal(m_inv)))  # a diagonal posterior fits
    return model, x, exact, w, sigma2


def test_ppca_with_the_exact_posterior_gives_the_exact_likelihood():
    model, x, exact, _, _ = _ppca_vae()
    torch.manual_seed(0)
    for k in (1, 7):  # p(x, z) / q(z | x) = p(x) for every z: no variance at all
        got = vae.importance_log_likelihood(model, x, k=k, batch_size=50)
        torch.testing.assert_close(got, exact, rtol=0, atol=1e-6)


def _spoil_encoder(model, q=2):
    with torch.no_grad():
        model.encoder[0].bias[:q] += 0.15  # shifted means (about one posterior width)
        model.encoder[0].bias[q:] += 1.0  # too wide


def test_iwae_approaches_the_exact_ppca_likelihood_as_k_grows():
    model, x, exact, _, _ = _ppca_vae()
    _spoil_encoder(model)
    torch.manual_seed(0)
    gaps = {}
    for k in (1, 10, 100, 2000):
        estimate = vae.importance_log_likelihood(model, x, k=k, batch_size=20_000)
        gaps[k] = float((exact - estimate).mean())
    assert gaps[1] > 1.0  # the spoiled encoder leaves a clear ELBO gap (1.8 nats)
    assert gaps[1] > gaps[10] > gaps[100] > gaps[2000] > -0.005  # a lower bound, tightening with k
    assert gaps[2000] < 0.005


def test_iwae_with_k1_equals_the_elbo_in_expectation():
    """E[IWAE_1] = ELBO, worked out in closed form for the linear-Gaussian model:
    E_q log N(x; W z + b, s^2 I) = log N(x; W mu + b, s^2 I) - tr(W diag(sigma^2) W^T) / (2 s^2)."""
    model, x, _, w, sigma2 = _ppca_vae(n=20)
    _spoil_encoder(model)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        mean_x = model.decode(mu)
    expected_reconstruction = Independent(Normal(mean_x, sigma2.sqrt()), 1).log_prob(x) - (
        (w.square() * logvar.exp()[:, None, :]).sum((1, 2)) / (2 * sigma2)
    )
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    prior = Independent(Normal(torch.zeros(2, dtype=x.dtype), torch.ones(2, dtype=x.dtype)), 1)
    elbo = expected_reconstruction - torch.distributions.kl_divergence(q, prior)
    torch.manual_seed(1)
    repeats = 4000
    draws = vae.importance_log_likelihood(model, x.repeat(repeats, 1), k=1).reshape(repeats, -1)
    standard_error = draws.std(0) / math.sqrt(repeats)
    assert torch.all((draws.mean(0) - elbo).abs() < 4 * standard_error + 1e-6)


# --- models ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_vae_shapes_and_training_history(architecture):
    torch.manual_seed(0)
    x = (torch.rand(64, 1, 28, 28) > 0.7).float()
    model = vae.VAE(latent_features=3, architecture=architecture, hidden=(32,))
    history = vae.train_vae(model, x, steps=30, batch_size=16, device="cpu", progress=False)
    assert set(history) == {"loss", "reconstruction", "kl", "beta"} and len(history["kl"]) == 30
    np.testing.assert_allclose(
        np.array(history["loss"]), np.array(history["reconstruction"]) + np.array(history["kl"]), rtol=1e-5
    )
    assert np.mean(history["loss"][-5:]) < np.mean(history["loss"][:5])
    assert model.sample(5).shape == (5, 1, 28, 28) and model.reconstruct(x[:3]).shape == (3, 1, 28, 28)
    assert vae.importance_log_likelihood(model, x[:4], k=5).shape == (4,)


def test_kl_warmup_and_nan_guard_in_training():
    x = torch.rand(32, 6)
    model = vae.VAE(6, latent_features=2, hidden=(8,), likelihood="gaussian")
    history = vae.train_vae(model, x, steps=10, batch_size=8, kl_warmup=5, beta=2.0, progress=False)
    assert history["beta"] == [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.0, 2.0, 2.0, 2.0]
    x[3, 2] = float("nan")
    with pytest.raises(NonFiniteLossError, match="step"):
        vae.train_vae(model, x, steps=10, batch_size=32, progress=False)


def test_conditional_vae_uses_the_label():
    torch.manual_seed(0)
    model = vae.ConditionalVAE(
        n_classes=3, data_shape=4, latent_features=2, hidden=(16,), likelihood="gaussian"
    )
    labels = torch.tensor([0, 1, 2, 1])
    x = torch.randn(4, 4)
    assert model.sample(4, context=labels).shape == (4, 4) and model.sample(2, context=1).shape == (2, 4)
    z = torch.zeros(3, 2)
    decoded = model.decode(z, torch.tensor([0, 1, 2]))
    assert not torch.allclose(decoded[0], decoded[1])  # same z, different label, different output
    assert vae.importance_log_likelihood(model, x, k=3, context=labels).shape == (4,)
    history = vae.train_vae(model, x, context=labels, steps=3, batch_size=2, progress=False)
    assert len(history["loss"]) == 3


def test_vq_quantize_picks_the_nearest_code():
    torch.manual_seed(0)
    model = vae.VQVAE(n_codes=10, code_dim=3)
    z_e = torch.randn(2, 3, 4, 4)
    _, codes = model.quantize(z_e)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    book = model.codebook.weight.detach().numpy()
    brute = np.argmin(((flat[:, None, :] - book[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(codes.flatten().numpy(), brute)


def test_vq_straight_through_reaches_the_encoder_and_codebook_updates():
    torch.manual_seed(0)
    model = vae.VQVAE(n_codes=16, code_dim=4)
    x = torch.rand(8, 1, 28, 28)
    out = model(x)
    out["reconstruction"].backward()
    # the reconstruction reaches the encoder only through the straight-through copy
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert model.codebook.weight.grad is None or torch.all(model.codebook.weight.grad == 0)

    # codebook term: d/de_k of mean_b sum_positions ||z_e - e_k||^2 = 2 sum_{assigned to k} (e_k - z_e) / B
    model.zero_grad()
    out = model(x)
    out["codebook"].backward()
    z_e = model.encoder(x).detach().permute(0, 2, 3, 1).reshape(-1, 4)
    codes = out["codes"].flatten()
    book = model.codebook.weight.detach()
    expected = torch.zeros_like(book)
    expected.index_add_(0, codes, 2 * (book[codes] - z_e) / len(x))
    torch.testing.assert_close(model.codebook.weight.grad, expected, rtol=1e-4, atol=1e-6)
    perplexity = math.exp(stats.entropy(np.bincount(codes.numpy(), minlength=16)))
    assert out["perplexity"].item() == pytest.approx(perplexity, rel=1e-4)

    before = model.codebook.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    model.loss(x)[0].backward()
    optimizer.step()
    moved = (model.codebook.weight.detach() - before).abs().sum(1) > 0
    assert torch.equal(moved, torch.bincount(codes, minlength=16) > 0)  # used codes move, others stay


def test_vq_training_history_and_bound():
    torch.manual_seed(0)
    x = (torch.rand(32, 1, 28, 28) > 0.7).float()
    model = vae.VQVAE(n_codes=8, code_dim=4, channels=8)
    history = vae.train_vae(model, x, steps=5, batch_size=16, progress=False)
    assert set(history) == {"loss", "reconstruction", "codebook", "commitment", "perplexity"}
    usage, perplexity = model.codebook_usage(x)
    assert usage.sum().item() == pytest.approx(1.0) and 1.0 <= perplexity <= 8.0
    bound = model.elbo_bound(x)
    assert bound.shape == (32,) and torch.all(bound < -49 * math.log(8) + 1e-3)


# --- clear errors -----------------------------------------------------------------------------------


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="differ in shape"):
        vae.kl_divergence(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="batched"):
        vae.reparameterize(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.elbo(torch.full((2, 3), 2.0), torch.zeros(2, 3), torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="likelihood must be one of"):
        vae.VAE(likelihood="poisson")
    with pytest.raises(ValueError, match="convolutional"):
        vae.VAE(data_shape=(1, 32, 32), architecture="conv")
    model = vae.VAE(latent_features=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\)"):
        model.encode(torch.zeros(4, 784))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        vae.importance_log_likelihood(model, torch.zeros(2, 1, 28, 28), k=0)
    with pytest.raises(ValueError, match="elbo_bound"):
        vae.importance_log_likelihood(vae.VQVAE(), torch.zeros(2, 1, 28, 28), k=2)
    with pytest.raises(ValueError, match="unconditional"):
        model.encode(torch.zeros(2, 1, 28, 28), torch.zeros(2, 10))
    conditional = vae.ConditionalVAE(latent_features=2, hidden=(8,))
    with pytest.raises(ValueError, match="this model is conditional: pass context="):
        vae.train_vae(conditional, torch.zeros(4, 1, 28, 28), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        conditional.sample(2, context=torch.tensor([3, 12]))
    with pytest.raises(ValueError, match="shape \\(B, 1, 28, 28\\)"):
        vae.VQVAE()(torch.zeros(2, 28, 28))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_the_gpu():
    x = (torch.rand(64, 1, 28, 28) > 0.7).float()
    for model in (vae.VAE(latent_features=2, hidden=(16,)), vae.VQVAE(n_codes=8, channels=8)):
        vae.train_vae(model, x, steps=3, batch_size=16, device="cuda", progress=False)
    estimate = vae.importance_log_likelihood(model := vae.VAE(latent_features=2).cuda(), x.cuda()[:4], k=8)
    assert estimate.device.type == "cuda" and model.sample(2).device.type == "cuda"
