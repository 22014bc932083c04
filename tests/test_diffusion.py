"""Diffusion and flow matching (lecture 10) against independent references: closed-form Gaussian
marginals and optimal fields, the affine flow of a linear field (scipy's expm and multivariate
normal), exact solutions of ODEs, and numpy's cumulative product of the noise schedule."""

import math

import numpy as np
import pytest
import torch
from scipy import linalg, stats
from torch.distributions import Normal

import gm_helpers as gm
from gm_helpers import diffusion
from gm_helpers.train import NonFiniteLossError

MU = torch.tensor([1.0, -2.0], dtype=torch.float64)
S = torch.tensor([0.5, 1.5], dtype=torch.float64)


def optimal_field(mu: torch.Tensor, s: torch.Tensor):
    r"""The marginal field u_t(x) = E[x1 - x0 | x_t = x] of the straight path for x1 ~ N(mu, diag s^2),
    x0 ~ N(0, I) independent: (u, x_t) is jointly Gaussian with E[u] = mu, E[x_t] = t mu,
    Var(x_t) = (1 - t)^2 + t^2 s^2 and Cov(u, x_t) = t s^2 - (1 - t), per coordinate, so
    u_t(x) = mu + Cov / Var (x - t mu)."""

    def field(x, t, context=None):
        t = t.to(x.dtype)[:, None]
        m, v = mu.to(x), s.to(x) ** 2
        return m + (t * v - (1 - t)) / ((1 - t) ** 2 + t**2 * v) * (x - t * m)

    return field


def gaussian_data(n: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (MU + S * torch.randn(n, 2, generator=g, dtype=torch.float64)).to(dtype)


# --------------------------------------------------------------------------------------- the ODE solver


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_integrator_errors_shrink_at_the_order_of_the_method(method, order):
    y0 = torch.ones(1, dtype=torch.float64)
    errors = [
        abs(float(diffusion.integrate(lambda t, y: y, y0, 0.0, 1.0, steps, method)) - math.e)
        for steps in (8, 16, 32)
    ]
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))  # halving h divides the error by 2^p
    np.testing.assert_allclose(rates, order, atol=0.15)


def test_integrator_handles_tuples_backwards_and_paths():
    # the harmonic oscillator (x, y)' = (y, -x) from (0, 1) at t = 0: x = sin t, y = cos t; backwards too
    def f(t, state):
        x, y = state
        return y, -x

    start = (torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    x, y = diffusion.integrate(f, start, 0.0, 2.0, 200, "rk4")
    torch.testing.assert_close(x, torch.full((3,), math.sin(2.0), dtype=torch.float64), rtol=0, atol=1e-9)
    back = diffusion.integrate(f, (x, y), 2.0, 0.0, 200, "rk4")
    torch.testing.assert_close(back[0], start[0], rtol=0, atol=1e-9)
    times = []
    path = diffusion.integrate(
        lambda t, y: times.append(t) or y, torch.ones(1), 0.0, 1.0, 4, "heun", path=True
    )
    assert len(path) == 5 and times[-1] == 1.0 and max(times) == 1.0  # the grid ends exactly at t1


# ---------------------------------------------------------------------------------- DDPM forward process


def test_schedule_and_alpha_bar_match_the_cumulative_product_by_hand():
    betas = np.linspace(1e-4, 0.02, 1000)
    model = diffusion.DDPM(diffusion.VectorField(2, hidden=(8,)))
    np.testing.assert_allclose(model.betas.numpy(), betas, rtol=1e-6)
    np.testing.assert_allclose(model.alpha_bar.numpy(), np.cumprod(1 - betas), rtol=1e-5)
    got_betas, got_alpha_bar = diffusion.linear_schedule(10, 0.1, 0.5)
    np.testing.assert_allclose(got_alpha_bar.numpy(), np.cumprod(1 - np.linspace(0.1, 0.5, 10)), rtol=1e-12)
    small = diffusion.DDPM(diffusion.VectorField(2, hidden=(8,)), T=50)  # rescaled by 1000 / T
    np.testing.assert_allclose(small.betas.numpy(), np.linspace(2e-3, 0.4, 50), rtol=1e-6)
    assert float(small.alpha_bar[-1]) < 1e-4


def test_q_sample_has_the_closed_form_mean_and_variance():
    model = diffusion.DDPM(diffusion.VectorField(1, hidden=(8,)))
    alpha_bar = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    n = 200_000
    g = torch.Generator().manual_seed(0)
    for step in (1, 100, 500, 1000):
        x0 = torch.full((n, 1), 2.0)
        xt = model.q_sample(x0, torch.full((n,), step), generator=g)
        ab = alpha_bar[step - 1]
        assert float(xt.mean()) == pytest.approx(math.sqrt(ab) * 2.0, abs=5 * math.sqrt((1 - ab) / n) + 1e-6)
        assert float(xt.var()) == pytest.approx(1 - ab, rel=0.02)


@pytest.mark.parametrize("step", [50, 300, 900])
def test_noised_gaussian_data_have_the_gaussian_marginal(step):
    # x0 ~ N(m, s^2) => x_t ~ N(sqrt(ab) m, ab s^2 + 1 - ab)
    m, s = 1.5, 0.5
    g = torch.Generator().manual_seed(step)
    x0 = m + s * torch.randn(5000, 1, generator=g, dtype=torch.float64)
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[step - 1]
    _, alpha_bar = diffusion.linear_schedule()
    xt = diffusion.q_sample(x0, torch.full((5000,), step), torch.randn(5000, 1, generator=g), alpha_bar)
    reference = stats.norm(math.sqrt(ab) * m, math.sqrt(ab * s**2 + 1 - ab))
    assert stats.kstest(xt[:, 0].numpy(), reference.cdf).pvalue > 1e-3


def _exact_noise_predictor(m: float, s: float, T: int = 1000):
    """eps*(x, t) = -sqrt(1 - ab) * score of N(sqrt(ab) m, ab s^2 + 1 - ab), with numpy's alpha_bar."""
    alpha_bar = torch.as_tensor(np.cumprod(1 - np.linspace(1e-4, 0.02, T)))

    def eps(x, t, context=None):
        ab = alpha_bar.to(x)[torch.round(t * T).long() - 1][:, None]
        return (1 - ab).sqrt() * (x - ab.sqrt() * m) / (ab * s**2 + 1 - ab)

    return eps


def test_ancestral_sampling_with_the_exact_noise_predictor_recovers_the_data():
    m, s = 1.5, 0.5
    model = diffusion.DDPM(_exact_noise_predictor(m, s), features=1)
    x = model.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert float(x.mean()) == pytest.approx(m, abs=0.02) and float(x.std()) == pytest.approx(s, rel=0.03)
    assert stats.kstest(x[:5000, 0].numpy(), stats.norm(m, s).cdf).pvalue > 1e-3
    fewer = model.sample(20_000, steps=100, generator=torch.Generator().manual_seed(1))  # respaced chain
    assert float(fewer.mean()) == pytest.approx(m, abs=0.02) and float(fewer.std()) == pytest.approx(
        s, rel=0.06
    )
    assert model.timesteps(4) == [1000, 667, 334, 1] and model.timesteps() == list(range(1000, 0, -1))


def test_noise_predictor_is_the_scaled_score():
    m, s, step = 1.5, 0.5, 400
    model = diffusion.DDPM(_exact_noise_predictor(m, s), features=1).double()
    ab = float(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[step - 1])
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None].requires_grad_()
    marginal = Normal(math.sqrt(ab) * m, math.sqrt(ab * s**2 + 1 - ab))
    (score,) = torch.autograd.grad(marginal.log_prob(x).sum(), x)
    torch.testing.assert_close(model.score(x.detach(), step), score)


# ------------------------------------------------------------------------------------------ flow matching


def test_cfm_loss_is_lowest_for_the_exact_marginal_field():
    x1 = gaussian_data(100_000, dtype=torch.float64)
    exact = optimal_field(MU, S)

    def loss(field):  # the same t and x0 for every field: common random numbers
        return float(diffusion.flow_matching_loss(field, x1, generator=torch.Generator().manual_seed(0)))

    best = loss(exact)
    perturbed = [
        lambda x, t, c: exact(x, t) + 0.1,
        lambda x, t, c: 1.1 * exact(x, t),
        lambda x, t, c: exact(x, t) + 0.2 * (t[:, None] - 0.5),
        optimal_field(MU + 0.1, S),
        optimal_field(MU, 1.2 * S),
    ]
    for field in perturbed:
        assert loss(field) > best + 1e-4


def test_a_trained_vector_field_approaches_the_exact_field():
    torch.manual_seed(0)
    model = diffusion.FlowMatching(diffusion.VectorField(2, hidden=(64, 64)))
    history = diffusion.train_diffusion(
        model, gaussian_data(4000), steps=400, lr=3e-3, batch_size=256, progress=False, device="cpu"
    )
    assert np.mean(history["loss"][-20:]) < np.mean(history["loss"][:20])
    exact = optimal_field(MU.float(), S.float())
    g = torch.Generator().manual_seed(1)
    for t in (0.1, 0.5, 0.9):
        std = torch.sqrt((1 - t) ** 2 + t**2 * S.float() ** 2)  # points where p_t has its mass
        x = t * MU.float() + std * torch.randn(200, 2, generator=g)
        times = torch.full((200,), t)
        with torch.no_grad():
            error = (model.network(x, times) - exact(x, times)).pow(2).mean().sqrt()
        assert float(error) < 0.2 * float(exact(x, times).pow(2).mean().sqrt())


def test_sampling_with_the_exact_field_reproduces_the_data():
    model = diffusion.FlowMatching(optimal_field(MU, S), features=2)
    x = model.sample(20_000, steps=400, method="euler", generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x.mean(0), MU.float(), rtol=0, atol=0.03)
    torch.testing.assert_close(x.std(0), S.float(), rtol=0.02, atol=0)
    heun = model.sample(20_000, steps=20, generator=torch.Generator().manual_seed(0))  # fewer steps suffice
    torch.testing.assert_close(heun.std(0), S.float(), rtol=0.02, atol=0)


def _linear_problem():
    g = torch.Generator().manual_seed(3)
    A = 0.6 * torch.randn(3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    return A, b, lambda x, t, context: x @ A.T + b


def test_log_prob_of_a_linear_field_is_the_density_of_the_affine_flow():
    # dx/dt = A x + b: x1 = e^A x0 + c with c = int_0^1 e^{A s} ds b, read off the exponential of the
    # augmented matrix [[A, b], [0, 0]]; so x1 ~ N(c, e^A e^{A^T}) and log p1(x) = log N(x0) - tr A
    A, b, field = _linear_problem()
    augmented = np.zeros((4, 4))
    augmented[:3, :3], augmented[:3, 3] = A.numpy(), b.numpy()
    exponential = linalg.expm(augmented)
    M, c = exponential[:3, :3], exponential[:3, 3]
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    got = diffusion.FlowMatching(field, features=3).log_prob(x, steps=50).numpy()
    reference = stats.multivariate_normal(c, M @ M.T).logpdf(x.numpy())
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-8)
    x0 = linalg.solve(M, (x.numpy() - c).T).T
    by_hand = stats.multivariate_normal(np.zeros(3)).logpdf(x0) - np.trace(A.numpy())
    np.testing.assert_allclose(got, by_hand, rtol=0, atol=1e-8)


def test_hutchinson_estimate_matches_the_exact_divergence_on_average():
    A, b, field = _linear_problem()
    model = diffusion.FlowMatching(field, features=3)
    x = torch.randn(4000, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    exact = model.log_prob(x, steps=10)
    estimate = model.log_prob(x, steps=10, exact=False, generator=torch.Generator().manual_seed(6))
    difference = (estimate - exact).numpy()  # eps^T A eps - tr A per point: mean 0
    assert abs(difference.mean()) < 4 * difference.std() / math.sqrt(len(x)) and difference.std() > 0.1
    more = model.log_prob(x, steps=10, exact=False, n_probes=16, generator=torch.Generator().manual_seed(6))
    assert (more - exact).std() < 0.5 * difference.std()
    # a nonlinear field: at one point, the estimates average to the exact trace
    torch.manual_seed(0)
    network = diffusion.VectorField(3, hidden=(16, 16)).double()
    point = torch.randn(1, 3, dtype=torch.float64).expand(2000, 3)
    _, div = diffusion.divergence(lambda y: network(y, 0.3), point[:1])
    probes = 2 * (torch.rand(1, 2000, 3, generator=torch.Generator().manual_seed(7)) < 0.5).double() - 1
    _, estimates = diffusion.divergence(lambda y: network(y, 0.3), point, probes)
    assert float(estimates.mean()) == pytest.approx(
        float(div), abs=4 * float(estimates.std()) / math.sqrt(2000)
    )


def test_log_prob_with_the_exact_field_is_the_true_gaussian_density():
    model = diffusion.FlowMatching(optimal_field(MU, S), features=2)
    x = gaussian_data(300, seed=8, dtype=torch.float64)
    reference = stats.norm(MU.numpy(), S.numpy()).logpdf(x.numpy()).sum(1)
    np.testing.assert_allclose(model.log_prob(x, steps=100).numpy(), reference, rtol=0, atol=1e-6)


def test_guidance_combines_conditional_and_unconditional_outputs():
    class LabelField(torch.nn.Module):  # v(x, t | y) = y, whatever x and t; label 3 is the null class
        features, null_class = 2, 3

        def forward(self, x, t, context):
            return context.to(x.dtype)[:, None].expand(len(x), 2)

    model = diffusion.FlowMatching(LabelField())
    labels = torch.tensor([0, 1, 2])
    v = model.velocity(torch.zeros(3, 2), 0.5, labels, guidance=2.0)
    torch.testing.assert_close(v[:, 0], 3 * labels.float() - 2 * 3)  # (1 + w) y - w null
    x = model.sample(
        3, labels, steps=5, method="euler", guidance=2.0, generator=torch.Generator().manual_seed(0)
    )
    x0 = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, x0 + v)  # dx/dt is constant: x1 = x0 + v


# ------------------------------------------------------------------------------------- the training contract


def test_training_history_validation_rollback_and_seeds():
    data, val = gaussian_data(512), gaussian_data(256, seed=1)

    def train(seed, **kw):
        torch.manual_seed(0)  # the same initial weights
        model = diffusion.DDPM(diffusion.VectorField(2, hidden=(16,)), T=100)
        state = torch.random.get_rng_state()
        history = diffusion.train_diffusion(
            model, data, steps=20, batch_size=64, seed=seed, progress=False, device="cpu", **kw
        )
        assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random numbers are untouched
        return model, history

    options = dict(val_data=val, eval_every=5, snapshot=lambda m: m.sample(3).shape)
    model, history = train(0, **options)
    assert history.steps("loss") == list(range(1, 21)) and history.steps("val_loss") == [5, 10, 15, 20]
    assert [shape for _, shape in history.snapshots] == [(3, 2)] * 4
    best = history["val_loss"].index(min(history["val_loss"]))
    assert history.best_step == history.steps("val_loss")[best]
    assert diffusion.evaluate_loss(model, val) == pytest.approx(min(history["val_loss"]), rel=1e-6)
    again, repeated = train(0, **options)
    assert repeated["loss"] == history["loss"] and repeated["val_loss"] == history["val_loss"]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters(), strict=True))
    assert train(1)[1]["loss"] != history["loss"]
    stopped = diffusion.train_diffusion(
        diffusion.FlowMatching(diffusion.VectorField(2, hidden=(8,))), data, val_data=val, steps=100, lr=0.0,
        cosine=False, eval_every=2, patience=2, progress=False, device="cpu",
    )  # fmt: skip
    assert stopped.stopped_early and stopped.steps("val_loss") == [2, 4, 6]


def test_class_labels_are_dropped_to_the_null_class_for_guidance():
    model = diffusion.FlowMatching(diffusion.VectorField(2, hidden=(16,), n_classes=3))
    seen = []
    loss = model.loss
    model.loss = lambda x, c: seen.append(c.clone()) or loss(x, c)
    labels = torch.arange(1000) % 3
    diffusion.train_diffusion(
        model, gaussian_data(1000), context=labels, steps=20, batch_size=500, progress=False, device="cpu"
    )
    dropped = torch.cat(seen) == 3
    assert 0.07 < float(dropped.float().mean()) < 0.13  # the default cond_dropout, 0.1
    assert model.sample(4, context=1, guidance=1.5, steps=3).shape == (4, 2)
    assert model.sample(4, context=model.null_class, steps=3).shape == (4, 2)  # the unconditional model


def test_a_nan_loss_names_the_step():
    data = gaussian_data(64)
    data[10, 1] = float("nan")
    with pytest.raises(NonFiniteLossError, match="step 1 of"):
        diffusion.train_diffusion(
            diffusion.FlowMatching(diffusion.VectorField(2, hidden=(8,))), data, steps=5, batch_size=64,
            progress=False, device="cpu",
        )  # fmt: skip


# ------------------------------------------------------------------------------------ save, load and errors


@pytest.mark.parametrize("kind", ["flow_matching", "ddpm"])
def test_save_and_load_give_the_same_model_and_samples(kind, tmp_path):
    torch.manual_seed(0)
    if kind == "flow_matching":
        model = diffusion.FlowMatching(diffusion.VectorField(2, hidden=(16, 16), n_classes=3))
        context = torch.tensor([0, 1, 2, 0])
    else:
        model = diffusion.DDPM(diffusion.VectorField(2, hidden=(16,), context_features=1), T=30)
        context = torch.ones(1)
    path = model.save(tmp_path / "model.pt")
    loaded = type(model).load(path)
    assert type(loaded.network) is diffusion.VectorField and loaded.get_config() == model.get_config()
    for p, q in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    first = model.sample(4, context, generator=torch.Generator().manual_seed(9))
    assert torch.equal(loaded.sample(4, context, generator=torch.Generator().manual_seed(9)), first)
    with pytest.raises(ValueError, match="cannot save"):
        diffusion.FlowMatching(optimal_field(MU, S), features=2).save(tmp_path / "function.pt")


def test_the_package_is_reachable_from_gm():
    assert gm.diffusion.FlowMatching is diffusion.FlowMatching


def test_errors_say_what_was_expected():
    field = diffusion.VectorField(2, hidden=(8,))
    fm, ddpm = diffusion.FlowMatching(field), diffusion.DDPM(diffusion.VectorField(2, hidden=(8,)), T=10)
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        fm.loss(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        fm.log_prob(torch.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        field(torch.zeros(3, 2), torch.tensor([0.0, 0.5, 1.5]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        field(torch.zeros(3, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="T, the number of diffusion steps"):
        diffusion.DDPM(field, T=0)
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        diffusion.linear_schedule(10, 0.5, 0.1)
    with pytest.raises(ValueError, match=r"1 \.\. T = 10"):
        ddpm.q_sample(torch.zeros(2, 2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="integer steps"):
        ddpm.q_sample(torch.zeros(2, 2), torch.tensor([0.5, 3.0]))
    with pytest.raises(ValueError, match=r"steps must be an integer in 1 \.\. T = 10"):
        ddpm.sample(2, steps=11)
    with pytest.raises(ValueError, match="null class"):
        fm.sample(2, guidance=1.0)
    with pytest.raises(ValueError, match="w >= 0"):
        fm.sample(2, guidance=-1.0)
    labelled = diffusion.FlowMatching(diffusion.VectorField(2, hidden=(8,), n_classes=3))
    with pytest.raises(ValueError, match="pass context="):
        labelled.sample(2, guidance=1.0)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        labelled.sample(2, context=torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="cond_dropout replaces labels by the null class"):
        diffusion.train_diffusion(fm, torch.zeros(8, 2), steps=1, cond_dropout=0.2, progress=False)
    with pytest.raises(ValueError, match="cond_dropout must be a probability"):
        diffusion.train_diffusion(labelled, torch.zeros(8, 2), context=torch.zeros(8, dtype=torch.long),
                                  steps=1, cond_dropout=1.5, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="this model is conditional: pass context="):
        diffusion.train_diffusion(labelled, torch.zeros(8, 2), steps=1, progress=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        diffusion.train_diffusion(diffusion.FlowMatching(optimal_field(MU, S), features=2), torch.zeros(8, 2),
                                  steps=1, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="FlowMatching or a DDPM"):
        diffusion.train_diffusion(torch.nn.Linear(2, 2), torch.zeros(8, 2), steps=1, progress=False)
    with pytest.raises(ValueError, match="give features=D"):
        diffusion.FlowMatching(optimal_field(MU, S))
    with pytest.raises(ValueError, match="features=3 but the network takes 2"):
        diffusion.FlowMatching(field, features=3)
    with pytest.raises(ValueError, match="method must be one of"):
        fm.sample(2, method="midpoint")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        fm.sample(2, steps=0)
    with pytest.raises(ValueError, match="n_probes"):
        fm.log_prob(torch.zeros(2, 2), exact=False, n_probes=0)
    with pytest.raises(ValueError, match="shape of x"):
        diffusion.flow_matching_loss(lambda x, t, c: x[:, :1], torch.zeros(4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_the_gpu():
    data, labels = gaussian_data(256), torch.arange(256) % 2
    for model in (
        diffusion.FlowMatching(diffusion.VectorField(2, hidden=(16,), n_classes=2)),
        diffusion.DDPM(diffusion.VectorField(2, hidden=(16,), n_classes=2), T=50),
    ):
        diffusion.train_diffusion(
            model, data, context=labels, steps=3, batch_size=64, device="cuda", progress=False
        )
        assert model.sample(4, context=1, guidance=1.0, steps=5).device.type == "cuda"
    assert model.sample(2, 0, generator=torch.Generator().manual_seed(0)).device.type == "cuda"
    log_p = diffusion.FlowMatching(diffusion.VectorField(2, hidden=(8,))).cuda().log_prob(data[:4], steps=4)
    assert log_p.device.type == "cuda" and log_p.shape == (4,)


# ------------------------------------------------------------------------------------- lecture 10's digits
def test_digit_recipes_give_vectors_in_the_unit_box_and_images_of_the_classes_asked():
    x, labels = diffusion.digit_vectors("test", n=20)
    assert x.shape == (20, 784) and labels.shape == (20,)
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1  # the background is -1
    field = diffusion.digit_field(hidden=(8,))
    assert field.null_class == 10
    model = diffusion.FlowMatching(field)
    asked = torch.tensor([3, 7, 7])
    images = diffusion.generate_digits(model, asked, guidance=1.0, steps=2, seed=4)
    assert images.shape == (3, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, diffusion.generate_digits(model, asked, guidance=1.0, steps=2, seed=4))
    assert not torch.equal(images, diffusion.generate_digits(model, asked, guidance=0.0, steps=2, seed=4))


# ------------------------------------------------------------------------- minibatch optimal transport
def test_ot_pairing_is_the_cheapest_permutation_by_brute_force():
    import itertools

    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g) + 1
    paired = diffusion.ot_pairing(x0, x1)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, x0.tolist()))  # the same noise, reordered
    costs = [float((x0[list(p)] - x1).pow(2).sum()) for p in itertools.permutations(range(6))]
    assert float((paired - x1).pow(2).sum()) == pytest.approx(min(costs), rel=1e-6)


def test_ot_coupling_lowers_the_variance_of_the_target_and_refuses_conditions():
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(256, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0])

    def zero(x, t, context=None):  # the loss is then the mean of |x1 - x0|^2
        return torch.zeros_like(x)

    independent = diffusion.flow_matching_loss(zero, x1, generator=torch.Generator().manual_seed(1))
    ot = diffusion.flow_matching_loss(zero, x1, generator=torch.Generator().manual_seed(1), coupling="ot")
    assert float(ot) < float(independent)  # the plan minimizes exactly this sum
    with pytest.raises(ValueError, match="conditional"):
        diffusion.flow_matching_loss(zero, x1, torch.zeros(256), coupling="ot")
    with pytest.raises(ValueError, match="coupling"):
        diffusion.FlowMatching(diffusion.VectorField(2, hidden=(8,)), coupling="sinkhorn")
