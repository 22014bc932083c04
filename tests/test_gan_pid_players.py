"""The PID players of gm_helpers (residual MLPs, the critic's auxiliary differences, label smoothing,
instance noise) against references written out here:

- ``mlp(residual=True)``: a forward pass computed by hand from the module's own weights,
  h_1 = act(W_0 x + b_0), h_{k+1} = h_k + act(W_k h_k + b_k), out = W_out h + b_out (He et al.,
  arXiv:1512.03385); without ``residual`` the layer layout (and so the checkpoints) of before;
- ``MLPCritic(aux_differences=...)``: a plain critic on the input [x, x_1 - x_0, x_3 - x_2] with the
  same weights;
- ``discriminator_loss(label_smoothing=eps)``: the closed form
  -mean[(1 - eps) log sigmoid(r) + eps log(1 - sigmoid(r))] - mean[log(1 - sigmoid(f))] with
  log sigmoid from torch.nn.functional.logsigmoid (Salimans et al., arXiv:1606.03498);
- ``GAN(injected_noise=s)``: for a linear critic <w, x> + b, the scores of noisy inputs
  x + s N(0, I) have mean <w, x> + b and variance s^2 ||w||^2 (Sønderby et al., arXiv:1610.04490).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gm_helpers import gan
from gm_helpers.nets import Residual, mlp

# --- residual MLP ------------------------------------------------------------------------------


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("activation, act", [(nn.Tanh, torch.tanh), (nn.ReLU, torch.relu)])
def test_residual_mlp_matches_a_forward_pass_by_hand(activation, act):
    torch.manual_seed(0)
    net = mlp(5, 3, hidden=(16, 16, 16, 16), activation=activation, residual=True).double()
    x = torch.randn(32, 5, dtype=torch.float64)
    layers = _linears(net)
    assert [tuple(layer.weight.shape) for layer in layers] == [(16, 5), (16, 16), (16, 16), (16, 16), (3, 16)]
    with torch.no_grad():
        h = act(x @ layers[0].weight.T + layers[0].bias)
        for layer in layers[1:-1]:
            h = h + act(h @ layer.weight.T + layer.bias)
        want = h @ layers[-1].weight.T + layers[-1].bias
        torch.testing.assert_close(net(x), want, rtol=1e-12, atol=1e-12)
        # and it is not the plain MLP with the same weights
        h = act(x @ layers[0].weight.T + layers[0].bias)
        for layer in layers[1:-1]:
            h = act(h @ layer.weight.T + layer.bias)
        assert not torch.allclose(net(x), h @ layers[-1].weight.T + layers[-1].bias)


def test_residual_block_adds_its_input():
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    x = torch.randn(6, 4)
    torch.testing.assert_close(Residual(block)(x), x + torch.tanh(block[0](x)))


def test_residual_mlp_needs_equal_widths():
    with pytest.raises(ValueError, match=r"give equal widths, got \(16, 32\)"):
        mlp(3, 2, hidden=(16, 32), residual=True)
    with pytest.raises(ValueError, match="equal widths"):
        gan.MLPGenerator(2, hidden=(8, 16), residual=True)
    with pytest.raises(ValueError, match="equal widths"):
        gan.MLPCritic(2, hidden=(8, 8, 4), residual=True)
    # the first layer changes the width from the input: it has no skip, so any input size is fine
    assert mlp(3, 2, hidden=(16,), residual=True)(torch.randn(4, 3)).shape == (4, 2)
    assert mlp(3, 2, hidden=(), residual=True)(torch.randn(4, 3)).shape == (4, 2)


def test_plain_mlp_keeps_the_layout_of_older_checkpoints():
    torch.manual_seed(0)
    net = mlp(3, 2, hidden=(16, 16))
    keys = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert list(net.state_dict()) == keys
    assert mlp(3, 2, hidden=(16, 16), residual=False).state_dict().keys() == net.state_dict().keys()
    # a checkpoint of the network as it was written before: Linear, ReLU, Linear, ReLU, Linear
    old = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    net.load_state_dict(old.state_dict(), strict=True)
    x = torch.randn(10, 3)
    torch.testing.assert_close(net(x), old(x))
    # the residual network has other keys: it cannot load such a checkpoint silently
    assert list(mlp(3, 2, hidden=(16, 16), residual=True).state_dict()) != keys
    assert not any(isinstance(m, Residual) for m in net.modules())


def test_gan_players_with_residual_have_skip_connections():
    G = gan.MLPGenerator(2, latent_features=4, hidden=(8, 8, 8), residual=True)
    D = gan.MLPCritic(2, hidden=(8, 8), residual=True)
    assert sum(isinstance(m, Residual) for m in G.modules()) == 2
    assert sum(isinstance(m, Residual) for m in D.modules()) == 1
    assert not any(isinstance(m, Residual) for m in gan.MLPCritic(2, hidden=(8, 8)).modules())
    assert G(G.noise(5)).shape == (5, 2) and D(torch.randn(5, 2)).shape == (5,)


# --- critic with auxiliary differences ---------------------------------------------------------


@pytest.mark.parametrize("context_features", [0, 2])
def test_aux_differences_critic_is_a_plain_critic_on_the_augmented_input(context_features):
    torch.manual_seed(0)
    pairs = ((1, 0), (3, 2))
    critic = gan.MLPCritic(4, hidden=(16, 16), context_features=context_features, aux_differences=pairs)
    plain = gan.MLPCritic(6, hidden=(16, 16), context_features=context_features)
    plain.net.load_state_dict(critic.net.state_dict())
    x = torch.randn(20, 4)
    context = torch.randn(20, context_features) if context_features else None
    augmented = torch.cat([x, (x[:, 1] - x[:, 0])[:, None], (x[:, 3] - x[:, 2])[:, None]], dim=1)
    torch.testing.assert_close(critic(x, context), plain(augmented, context))
    assert _linears(critic.net)[0].in_features == 4 + 2 + context_features


def test_aux_differences_with_residual_and_embeddings():
    torch.manual_seed(1)
    critic = gan.MLPCritic(4, hidden=(8, 8), out_features=3, residual=True, aux_differences=[(2, 3)])
    plain = gan.MLPCritic(5, hidden=(8, 8), out_features=3, residual=True)
    plain.net.load_state_dict(critic.net.state_dict())
    x = torch.randn(7, 4)
    torch.testing.assert_close(critic(x), plain(torch.cat([x, x[:, 2:3] - x[:, 3:4]], dim=1)))
    assert critic(x).shape == (7, 3)


@pytest.mark.parametrize(
    "pairs", [((1, 0), (4, 2)), ((-1, 0),), ((1, 0, 2),), ((1,),), ((),), ((0.5, 1),), (1, 0)]
)
def test_invalid_aux_differences_raise(pairs):
    with pytest.raises(ValueError, match="pairs \\(i, j\\) of integer feature indices below 4"):
        gan.MLPCritic(4, hidden=(8,), aux_differences=pairs)


# --- label smoothing ---------------------------------------------------------------------------


def _smoothed_loss_by_hand(real, fake, eps):
    # log(1 - sigmoid(t)) = log sigmoid(-t)
    real_term = (1 - eps) * F.logsigmoid(real) + eps * F.logsigmoid(-real)
    return -real_term.mean() - F.logsigmoid(-fake).mean()


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.3])
def test_discriminator_loss_with_label_smoothing_matches_the_closed_form(eps):
    g = torch.Generator().manual_seed(0)
    real = 4 * torch.randn(257, generator=g, dtype=torch.float64)
    fake = 4 * torch.randn(257, generator=g, dtype=torch.float64)
    got = gan.discriminator_loss(real, fake, label_smoothing=eps)
    torch.testing.assert_close(got, _smoothed_loss_by_hand(real, fake, eps), rtol=1e-12, atol=1e-12)


def test_label_smoothing_zero_is_the_original_loss_and_is_stable_for_large_logits():
    g = torch.Generator().manual_seed(1)
    real, fake = (
        torch.randn(100, generator=g, dtype=torch.float64),
        torch.randn(100, generator=g, dtype=torch.float64),
    )
    original = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(gan.discriminator_loss(real, fake), original, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gan.discriminator_loss(real, fake, label_smoothing=0.0), original)
    # a confident discriminator (logit 50 on a real sample) pays eps * 50 with smoothing
    big = torch.tensor([50.0], dtype=torch.float64)
    low = torch.tensor([-50.0], dtype=torch.float64)
    assert gan.discriminator_loss(big, low, label_smoothing=0.1).item() == pytest.approx(0.1 * 50, rel=1e-6)
    assert gan.discriminator_loss(big, low).item() == pytest.approx(0.0, abs=1e-20)


# --- instance noise ----------------------------------------------------------------------------


class RecordingLinear(nn.Module):
    """C(x) = <w, x> + b that keeps the scores of its last calls."""

    def __init__(self, w: torch.Tensor, b: float):
        super().__init__()
        self.w, self.b = nn.Parameter(w), nn.Parameter(torch.tensor(b, dtype=w.dtype))
        self.scores: list[torch.Tensor] = []

    def forward(self, x, context=None):
        scores = x @ self.w + self.b
        self.scores.append(scores.detach())
        return scores


@pytest.mark.parametrize("s", [0.1, 0.5])
def test_injected_noise_on_a_linear_critic_keeps_the_mean_score_and_adds_s2_w2_variance(s):
    torch.manual_seed(0)
    n = 40_000
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    critic = RecordingLinear(w, 0.3)
    real = torch.tensor([0.2, 1.0, -1.0], dtype=torch.float64).expand(n, 3)
    fake = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64).expand(n, 3)
    member = gan.GAN(injected_noise=s)
    member.critic_losses(critic, real, (fake,), None)
    member.generator_loss(critic, real, (fake,), None)
    real_scores, fake_scores, generator_scores = critic.scores
    variance = s**2 * (w @ w).item()  # s^2 ||w||^2 = 5.25 s^2
    for scores, x in ((real_scores, real[0]), (fake_scores, fake[0]), (generator_scores, fake[0])):
        noiseless = (x @ w).item() + 0.3
        assert scores.mean().item() == pytest.approx(noiseless, abs=5 * (variance / n) ** 0.5)
        assert scores.var().item() == pytest.approx(variance, rel=5 * (2 / n) ** 0.5)  # 3.5 %
    # the noise of real and generated samples is independent
    assert abs(np.corrcoef(real_scores.numpy(), fake_scores.numpy())[0, 1]) < 5 / n**0.5


def test_without_injected_noise_the_critic_sees_the_samples_as_they_are():
    critic = RecordingLinear(torch.tensor([1.0, 2.0]), 0.0)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gan.GAN().critic_losses(critic, real, (fake,), None)
    torch.testing.assert_close(critic.scores[0], real @ torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(critic.scores[1], fake @ torch.tensor([1.0, 2.0]))


def test_gan_critic_loss_uses_the_label_smoothing():
    critic = RecordingLinear(torch.tensor([1.0, -1.0], dtype=torch.float64), 0.1)
    g = torch.Generator().manual_seed(2)
    real = torch.randn(64, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(64, 2, generator=g, dtype=torch.float64)
    loss = gan.GAN(label_smoothing=0.2).critic_losses(critic, real, (fake,), None)["critic"]
    r, f = critic.scores
    torch.testing.assert_close(loss.detach(), _smoothed_loss_by_hand(r, f, 0.2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "options",
    [{"label_smoothing": 0.6}, {"label_smoothing": 0.5}, {"label_smoothing": -0.1}, {"injected_noise": -0.1}],
)
def test_invalid_gan_options_raise(options):
    with pytest.raises(ValueError, match=r"need 0 <= label_smoothing < 0.5 and injected_noise >= 0"):
        gan.GAN(**options)
    G, D = gan.MLPGenerator(2, hidden=(8,)), gan.MLPCritic(2, hidden=(8,))
    with pytest.raises(ValueError, match="label_smoothing < 0.5"):
        gan.train_gan(G, D, torch.randn(16, 2), kind="gan", steps=1, batch_size=8, progress=False, **options)


def test_the_stabilizers_belong_to_the_original_gan_only():
    G, D = gan.MLPGenerator(2, hidden=(8,)), gan.MLPCritic(2, hidden=(8,))
    for kind in ("wgan", "wgan-gp"):
        with pytest.raises(ValueError, match="option not understood"):
            gan.train_gan(G, D, torch.randn(16, 2), kind=kind, steps=1, label_smoothing=0.1, progress=False)


# --- training ----------------------------------------------------------------------------------


def _toy(n=512, seed=0):
    """A 2-D toy conditional on y ~ U(-1, 1): x = (y, y^2) + 0.1 N(0, I)."""
    g = torch.Generator().manual_seed(seed)
    y = 2 * torch.rand(n, 1, generator=g) - 1
    return torch.cat([y, y**2], dim=1) + 0.1 * torch.randn(n, 2, generator=g), y


def _train(**options):
    torch.manual_seed(0)
    x, y = _toy()
    G = gan.MLPGenerator(2, latent_features=4, hidden=(16, 16, 16), context_features=1, residual=True)
    D = gan.MLPCritic(2, hidden=(16, 16), context_features=1, residual=True)
    history = gan.train_gan(
        G,
        D,
        x,
        kind="gan",
        context=y,
        steps=20,
        batch_size=64,
        device="cpu",
        progress=False,
        seed=0,
        **options,
    )
    return history, G, D


def test_train_gan_with_label_smoothing_and_instance_noise_on_a_conditional_toy():
    history, G, D = _train(label_smoothing=0.01, injected_noise=0.02)
    assert {"critic", "generator"} <= set(history)
    assert len(history["critic"]) == 20 and len(history["generator"]) == 20
    assert all(np.isfinite(v).all() for v in history.values())
    samples = G.sample(10, torch.zeros(10, 1))
    assert samples.shape == (10, 2) and torch.isfinite(samples).all()
    # the same seed gives the same run; the stabilizers change it
    again, _, _ = _train(label_smoothing=0.01, injected_noise=0.02)
    assert again["critic"] == history["critic"] and again["generator"] == history["generator"]
    plain, _, _ = _train()
    assert plain["critic"] != history["critic"]
