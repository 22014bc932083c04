"""gm_helpers.gan against references: values worked out by hand, explicit formulas, closed forms."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gm_helpers import gan


class Linear(torch.nn.Module):
    """C(x) = <w, x> over all non-batch dimensions: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, context=None):
        return (x * self.w).flatten(1).sum(1)


def _weights(shape, norm, seed=0):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return w * norm / w.norm()


def _images(seed, shape=(16, 3, 5, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(
        shape, generator=g, dtype=torch.float64
    )


# --- gradient penalty ------------------------------------------------------------------------


@pytest.mark.parametrize("norm, expected", [(2.0, 10.0), (1.0, 0.0), (3.0, 40.0), (0.5, 2.5)])
def test_gradient_penalty_of_a_linear_critic_on_images_is_lam_times_norm_minus_one_squared(norm, expected):
    real, fake = _images(1)
    critic = Linear(_weights(real.shape[1:], norm))
    assert gan.gradient_penalty(critic, real, fake, lam=10.0).item() == pytest.approx(expected, abs=1e-10)


def test_the_per_pixel_norm_bug_gives_a_different_value():
    real, fake = _images(2)
    w = _weights(real.shape[1:], 2.0)
    per_pixel = w.norm(dim=0)  # what grad.norm(dim=1) computes on (B, C, H, W): one norm per pixel
    buggy = 10.0 * ((per_pixel - 1) ** 2).mean()
    correct = gan.gradient_penalty(Linear(w), real, fake, lam=10.0)
    assert abs(buggy - 10.0) > 2.0 and correct.item() == pytest.approx(10.0, abs=1e-10)


def test_gradient_penalty_interpolates_per_sample_uniformly():
    # C(x) = ||x||^2 / 2 has gradient x; with real = 0 and unit fakes, x_hat = (1 - a) g and the
    # penalty is lam * E[a^2] = lam / 3 when a ~ U(0, 1) is drawn per sample (one a for the batch
    # would give lam * a^2, anywhere in [0, lam]).
    torch.manual_seed(0)
    fake = torch.nn.functional.normalize(torch.randn(20000, 2, 3, 3).flatten(1), dim=1).view(-1, 2, 3, 3)
    value = gan.gradient_penalty(
        lambda x: 0.5 * x.flatten(1).pow(2).sum(1), torch.zeros_like(fake), fake, lam=3.0
    )
    assert value.item() == pytest.approx(1.0, abs=0.02)


def test_gradient_penalty_is_differentiable_in_the_critic_and_uses_the_context():
    real, fake = _images(3, (8, 4))
    critic = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    gan.gradient_penalty(critic, real, fake).backward()
    assert critic[0].weight.grad.abs().sum() > 0
    conditional = gan.MLPCritic(4, hidden=(16, 16, 16), n_classes=3).double()
    penalties = []
    for labels in (torch.zeros(8, dtype=torch.long), torch.full((8,), 2)):
        torch.manual_seed(0)  # the same interpolation for both label sets
        penalties.append(gan.gradient_penalty(conditional, real, fake, context=labels).item())
    assert penalties[0] != penalties[1]


# --- adversarial Lipschitz penalty ------------------------------------------------------------


@pytest.mark.parametrize("lipschitz", [0.3, 1.0])
def test_alp_is_zero_for_a_linear_critic_with_lipschitz_constant_at_most_one(lipschitz):
    real, fake = _images(4)
    critic = Linear(_weights(real.shape[1:], lipschitz))
    assert gan.alp_penalty(critic, real, fake, lam=10.0).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("lipschitz", [1.5, 3.0])
def test_alp_is_lam_times_excess_squared_for_a_steeper_linear_critic(lipschitz):
    real, fake = _images(5)
    critic = Linear(_weights(real.shape[1:], lipschitz))
    value = gan.alp_penalty(critic, real, fake, lam=10.0, power_iterations=1)
    assert value.item() == pytest.approx(10.0 * (lipschitz - 1) ** 2, rel=1e-6)


def test_alp_power_iteration_finds_the_steepest_direction():
    # C(x) = 4 x_0 in 50 dimensions: a random direction sees a slope ~ 4 / sqrt(50) < 1 (almost no
    # penalty); one power-iteration step turns it along e_0 and recovers the slope 4.
    x = torch.randn(32, 50, dtype=torch.float64)
    w = torch.zeros(50, dtype=torch.float64)
    w[0] = 4.0
    critic = Linear(w)
    without = gan.alp_penalty(critic, x, x.flip(0), lam=1.0, power_iterations=0)
    with_power = gan.alp_penalty(critic, x, x.flip(0), lam=1.0, power_iterations=1)
    assert without.item() < 0.5 and with_power.item() == pytest.approx(9.0, rel=1e-6)


# --- GAN losses from logits -------------------------------------------------------------------


def test_bce_losses_equal_the_explicit_sigmoid_log_formulas():
    g = torch.Generator().manual_seed(0)
    real_logits = torch.randn(100, generator=g, dtype=torch.float64) * 3
    fake_logits = torch.randn(100, generator=g, dtype=torch.float64) * 3
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    expected_d = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    torch.testing.assert_close(gan.discriminator_loss(real_logits, fake_logits), expected_d)
    torch.testing.assert_close(gan.generator_loss(fake_logits, "minimax"), torch.log(1 - d_fake).mean())
    torch.testing.assert_close(gan.generator_loss(fake_logits, "nonsaturating"), -torch.log(d_fake).mean())


def test_the_minimax_loss_saturates_where_the_nonsaturating_one_does_not():
    # d/dlogit of log(1 - sigmoid(l)) is -sigmoid(l) -> 0 when D rejects the fake (l -> -inf),
    # while -log sigmoid(l) has slope sigmoid(l) - 1 -> -1.
    logits = torch.tensor([-8.0], requires_grad=True)
    (minimax,) = torch.autograd.grad(gan.generator_loss(logits, "minimax"), logits)
    (nonsat,) = torch.autograd.grad(gan.generator_loss(logits, "nonsaturating"), logits)
    assert minimax.item() == pytest.approx(-torch.sigmoid(torch.tensor(-8.0)).item(), rel=1e-5)
    assert nonsat.item() == pytest.approx(torch.sigmoid(torch.tensor(-8.0)).item() - 1, rel=1e-5)


def test_wasserstein_losses_by_hand():
    critic_loss, generator_loss = gan.wasserstein_losses(torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0]))
    assert critic_loss.item() == pytest.approx(-3.0) and generator_loss.item() == pytest.approx(3.0)


def test_clip_weights_clamps_every_parameter():
    net = torch.nn.Linear(5, 5)
    torch.nn.init.normal_(net.weight, std=1.0)
    gan.clip_weights(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())


# --- Cramér GAN -------------------------------------------------------------------------------


def _mean_abs_normal(mu, sigma):
    """E|Z| for Z ~ N(mu, sigma^2) (folded normal)."""
    return sigma * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sigma**2)) + mu * (
        1 - 2 * stats.norm.cdf(-mu / sigma)
    )


def test_cramer_generator_loss_is_the_energy_distance_plus_a_generator_free_term():
    # With h the identity on 1-D data X ~ N(0, 1) (real), Y ~ N(1, 1.5^2) (generated):
    # L_G = 2 E|X - Y| - E|Y - Y'| = D_E^2 + E|X - X'|, with D_E^2 = 2E|X-Y| - E|X-X'| - E|Y-Y'|.
    g = torch.Generator().manual_seed(0)
    n = 400_000
    real = torch.randn(n, 1, generator=g, dtype=torch.float64)
    fake = 1 + 1.5 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    fake2 = 1 + 1.5 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    loss = gan.cramer_generator_loss(lambda x: x, real, fake, fake2).item()
    xy, xx, yy = (_mean_abs_normal(1, math.sqrt(1 + 1.5**2)), _mean_abs_normal(0, math.sqrt(2)),
                  _mean_abs_normal(0, 1.5 * math.sqrt(2)))  # fmt: skip
    assert loss == pytest.approx(2 * xy - yy, abs=0.01)
    energy = stats.energy_distance(real[:, 0].numpy(), fake[:, 0].numpy()) ** 2  # a second reference
    assert energy == pytest.approx(2 * xy - xx - yy, abs=0.01)
    assert loss == pytest.approx(energy + xx, abs=0.01)


def test_cramer_critic_loss_surrogate_by_hand():
    h = lambda x: x  # noqa: E731
    real, fake, fake2 = torch.tensor([[[3.0, 4.0]], [[0.0, 1.0]], [[0.0, 0.0]]], dtype=torch.float64)
    surrogate, penalty = gan.cramer_critic_loss(h, real, fake, fake2, lam=0.0)
    # f(x) = ||x - g'|| - ||x|| = 0 for g' = 0, so the surrogate is 0
    assert surrogate.item() == pytest.approx(0.0) and penalty.item() == 0.0
    fake2 = torch.tensor([[0.0, -1.0]], dtype=torch.float64)
    surrogate, _ = gan.cramer_critic_loss(h, real, fake, fake2, lam=0.0)
    f_real = math.hypot(3, 5) - 5
    f_fake = 2.0 - 1.0
    assert surrogate.item() == pytest.approx(-(f_real - f_fake))


def test_cramer_needs_an_embedding():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"embedding \(B, k\)"):
        gan.cramer_generator_loss(lambda x: x.sum(1), x, x, x)


# --- networks and errors ----------------------------------------------------------------------


def test_networks_shapes_conditional_and_not():
    z = torch.randn(5, 8)
    assert gan.MLPGenerator(3)(z).shape == (5, 3)
    assert gan.MLPGenerator(3, context_features=2)(z, torch.randn(5, 2)).shape == (5, 3)
    assert gan.MLPCritic(3, n_classes=4)(torch.randn(5, 3), torch.arange(5) % 4).shape == (5,)
    assert gan.MLPCritic(3, out_features=7)(torch.randn(5, 3)).shape == (5, 7)
    images = gan.DCGANGenerator(latent_features=8, width=8, n_classes=10)(z, torch.arange(5))
    assert images.shape == (5, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert gan.DCGANDiscriminator(width=8, context_features=2)(images, torch.randn(5, 2)).shape == (5,)


def test_clear_errors_for_bad_shapes_and_conditions():
    with pytest.raises(ValueError, match="unconditional but got a condition"):
        gan.MLPGenerator(2)(torch.randn(4, 8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="this model is conditional"):
        gan.MLPCritic(2, n_classes=3)(torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"class labels of shape \(4,\)"):
        gan.MLPCritic(2, n_classes=3)(torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"0..2"):
        gan.MLPCritic(2, n_classes=3)(torch.randn(4, 2), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"context must be a float tensor of shape \(4, 2\)"):
        gan.MLPCritic(2, context_features=2)(torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"input must have shape \(B, 1, 28, 28\)"):
        gan.DCGANDiscriminator(width=8)(torch.randn(4, 784))
    with pytest.raises(ValueError, match="same shape"):
        gan.gradient_penalty(Linear(torch.ones(3)), torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="one score per sample"):
        gan.gradient_penalty(lambda x: x, torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="'minimax' or 'nonsaturating'"):
        gan.generator_loss(torch.zeros(3), "wasserstein")


def test_train_gan_errors():
    data = torch.randn(64, 2)
    G, D = gan.MLPGenerator(2, hidden=(8,)), gan.MLPCritic(2, hidden=(8,))
    with pytest.raises(ValueError, match="kind must be one of"):
        gan.train_gan(G, D, data, kind="lsgan", steps=1)
    with pytest.raises(ValueError, match="option not understood"):
        gan.train_gan(G, D, data, kind="gan", lam=1.0, steps=1)
    with pytest.raises(ValueError, match="unconditional but got a condition"):
        gan.train_gan(
            G, D, data, context=torch.zeros(64, dtype=torch.long), steps=1, batch_size=8, progress=False
        )
    with pytest.raises(ValueError, match="generator makes samples of shape"):
        gan.train_gan(gan.MLPGenerator(3, hidden=(8,)), D, data, steps=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="without batch norm"):
        gan.train_gan(gan.DCGANGenerator(width=4), gan.DCGANDiscriminator(width=4), torch.rand(8, 1, 28, 28),
                      kind="wgan-gp", steps=1, batch_size=4)  # fmt: skip


# --- training smoke test: every kind, conditional and not --------------------------------------


@pytest.mark.parametrize("kind", list(gan.FAMILY))
@pytest.mark.parametrize("conditional", [False, True])
def test_training_every_kind_changes_parameters_and_keeps_losses_finite(kind, conditional):
    torch.manual_seed(0)
    data = torch.randn(256, 2)
    labels = (data[:, 0] > 0).long() if conditional else None
    condition = {"n_classes": 2} if conditional else {}
    G = gan.MLPGenerator(2, hidden=(16, 16), **condition)
    D = gan.MLPCritic(2, hidden=(16, 16), out_features=4 if kind == "cramer" else 1, **condition)
    # every weight must move (an output bias of a Wasserstein critic gets no gradient: E C(r) - E C(f))
    weights = [p for p in (*G.parameters(), *D.parameters()) if p.ndim >= 2]
    before = [p.detach().clone() for p in weights]
    history = gan.train_gan(G, D, data, kind=kind, context=labels, steps=3, batch_size=32, n_critic=2,
                        device="cpu", eval_every=2, progress=False)  # fmt: skip
    assert all(not torch.equal(a, b) for a, b in zip(before, weights, strict=True))
    assert {"critic", "generator"} <= set(history) and len(history["generator"]) == 3
    assert all(np.isfinite(v).all() for v in history.values())
    assert [s for s, _ in history.snapshots] == [2, 3] and history.snapshots[-1][1].shape == (
        256 if conditional else 1000,
        2,
    )
    if kind == "wgan":
        assert all(p.abs().max() <= 0.01 for p in D.parameters())


def test_training_a_conditional_dcgan_runs():
    torch.manual_seed(0)
    images, labels = torch.rand(32, 1, 28, 28), torch.arange(32) % 10
    G = gan.DCGANGenerator(latent_features=8, width=4, n_classes=10)
    D = gan.DCGANDiscriminator(width=4, batch_norm=False, n_classes=10)
    history = gan.train_gan(G, D, images, kind="wgan-gp", context=labels, steps=2, batch_size=8, n_critic=1,
                        device="cpu", progress=False)  # fmt: skip
    assert all(np.isfinite(v).all() for v in history.values())


def test_projection_discriminator_is_psi_plus_inner_product_with_the_class_vector():
    # D(x, y) = psi(phi(x)) + <V e_y, phi(x)> (arXiv:1802.05637), written out with the class table
    torch.manual_seed(0)
    D = gan.DCGANDiscriminator(width=4, batch_norm=False, n_classes=10, projection=True)
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 3, 9, 3, 5, 1])
    phi = D.features(x)
    class_vectors = D.condition.embedding.weight @ D.projection.weight.T  # (10, hidden): row k = V e_k
    want = phi @ D.head.weight[0] + D.head.bias[0] + (phi * class_vectors[y]).sum(1)
    torch.testing.assert_close(D(x, y), want)
    assert not torch.allclose(D(x, y), D(x, (y + 1) % 10)), "the score must depend on the label"
    with pytest.raises(ValueError, match="projection=True needs a condition"):
        gan.DCGANDiscriminator(width=4, projection=True)
    with pytest.raises(ValueError, match="out_features=1"):
        gan.DCGANDiscriminator(width=4, n_classes=10, out_features=3, projection=True)
    G = gan.DCGANGenerator(latent_features=8, width=4, n_classes=10)
    history = gan.train_gan(G, D, x, kind="wgan-gp", context=y, steps=2, batch_size=3, n_critic=1,
                        device="cpu", progress=False)  # fmt: skip
    assert all(np.isfinite(v).all() for v in history.values())
