"""gm_helpers.gan.progressive against references: the paper's formulas written out by hand, loops over
groups and pixels, autograd's chain rule, Adam's first step in closed form, and the networks' own
modules wired by hand (never a network's output against itself).

Karras et al., Progressive Growing of GANs, arXiv:1710.10196: section 2 (fade-in), 3 (minibatch
standard deviation, population std with eps inside the square root, as in the paper's code), 4.1
(equalized learning rate), 4.2 (pixel norm).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gm_helpers import gan
from gm_helpers.gan.progressive import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProgressiveCritic,
    ProgressiveGenerator,
    fade_in,
    progressive_schedule,
)
from gm_helpers.train import infinite_batches


def _randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _small(cls, seed=0, **kw):
    """A narrow pair for resolution 16 (stages 0, 1, 2), widths 8, 4, 4."""
    torch.manual_seed(seed)
    kw = {"resolution": 16, "width": 8, "min_width": 4, **kw}
    return cls(latent_features=6, **kw) if cls is ProgressiveGenerator else cls(**kw)


def _double_by_hand(x):
    """Nearest upsampling x2: every pixel copied into a 2x2 block."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def _halve_by_hand(x):
    """2x2 average pooling: the mean of each 2x2 block."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(dim=(3, 5))


# --- equalized learning rate (section 4.1) --------------------------------------------------------


def test_equalized_linear_is_f_linear_with_the_he_constant():
    layer = EqualizedLinear(12, 5)
    with torch.no_grad():
        layer.bias.copy_(_randn(5, seed=1))
    x = _randn(7, 12, seed=2)
    expected = F.linear(x, layer.weight * math.sqrt(2 / 12), layer.bias)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)
    assert layer.scale == pytest.approx(math.sqrt(2 / 12))


@pytest.mark.parametrize("kernel, padding", [(3, 1), (1, 0), (4, 0)])
def test_equalized_conv_is_f_conv2d_with_the_he_constant_of_its_fan_in(kernel, padding):
    layer = EqualizedConv2d(3, 5, kernel, padding)
    with torch.no_grad():
        layer.bias.copy_(_randn(5, seed=1))
    x = _randn(2, 3, 6, 6, seed=2)
    c = math.sqrt(2 / (3 * kernel * kernel))  # fan_in = in_channels * kernel^2
    expected = F.conv2d(x, layer.weight * c, layer.bias, padding=padding)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-5)
    assert layer(x).shape == (2, 5, 6 + 2 * padding - kernel + 1, 6 + 2 * padding - kernel + 1)


@pytest.mark.parametrize(
    "make, fan_in",
    [
        (lambda: EqualizedLinear(512, 256), 512),
        (lambda: EqualizedConv2d(64, 128, 3, 1), 64 * 9),
        (lambda: EqualizedConv2d(16, 4096, 1), 16),
    ],
)
def test_equalized_weights_start_as_standard_normals_and_act_with_he_std(make, fan_in):
    torch.manual_seed(0)
    layer = make()
    w = layer.weight.detach()
    # >= 65,536 draws: the sample mean and std of N(0, 1) are within 0.02 of 0 and 1 (5 standard errors)
    assert w.std().item() == pytest.approx(1.0, abs=0.02) and abs(w.mean().item()) < 0.02
    assert (w * layer.scale).std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    assert torch.count_nonzero(layer.bias) == 0


def test_the_gradient_of_the_raw_weight_is_the_scale_times_that_of_the_effective_weight():
    layer = EqualizedConv2d(3, 4, 3, 1)
    x, target = _randn(2, 3, 5, 5, seed=1), _randn(2, 4, 5, 5, seed=2)
    ((layer(x) - target) ** 2).sum().backward()
    effective = (layer.weight.detach() * layer.scale).requires_grad_(True)
    ((F.conv2d(x, effective, layer.bias.detach(), padding=1) - target) ** 2).sum().backward()
    # w_eff = c w, so dL/dw = c dL/dw_eff
    torch.testing.assert_close(layer.weight.grad, layer.scale * effective.grad, rtol=1e-5, atol=1e-6)


def test_adams_first_step_moves_every_layer_by_the_same_fraction_of_its_scale():
    # Adam's first step is lr * g / (|g| + eps) = lr * sign(g) for |g| >> eps: every raw weight moves by
    # lr, every effective weight by c * lr, i.e. by lr times its own scale c, whatever the fan-in.
    # Plain He-initialized layers move by lr too, i.e. by lr / c of their scale: slower when wide.
    lr, relative = 1e-3, {}
    for fan_in in (8, 512):
        for kind in ("equalized", "plain"):
            torch.manual_seed(0)
            layer = EqualizedLinear(fan_in, 32) if kind == "equalized" else torch.nn.Linear(fan_in, 32)
            if kind == "plain":
                torch.nn.init.normal_(layer.weight, 0.0, math.sqrt(2 / fan_in))
            c = layer.scale if kind == "equalized" else 1.0
            before = layer.weight.detach() * c
            optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
            layer(_randn(64, fan_in, seed=1)).pow(2).sum().backward()
            optimizer.step()
            change = (layer.weight.detach() * c - before).abs().mean()
            relative[kind, fan_in] = (change / math.sqrt(2 / fan_in)).item()  # in units of the He std
    assert relative["equalized", 8] == pytest.approx(lr, rel=1e-3)
    assert relative["equalized", 512] == pytest.approx(lr, rel=1e-3)
    assert relative["plain", 512] / relative["plain", 8] == pytest.approx(8.0, rel=1e-3)  # sqrt(512 / 8)


# --- pixel norm (section 4.2) ---------------------------------------------------------------------


def test_pixel_norm_is_the_formula_at_every_pixel():
    a = _randn(2, 5, 3, 4, seed=3, dtype=torch.float64) * 3.0
    out = PixelNorm()(a).numpy()
    x = a.numpy()
    for b in range(2):
        for i in range(3):
            for j in range(4):
                v = x[b, :, i, j]
                np.testing.assert_allclose(out[b, :, i, j], v / math.sqrt(np.mean(v**2) + 1e-8), rtol=1e-12)


def test_pixel_norm_gives_unit_mean_square_over_channels_and_works_on_vectors():
    a = _randn(4, 16, 8, 8, seed=4) * torch.logspace(-1, 2, 8).view(1, 1, 1, 8)  # scales 0.1 .. 100
    ms = PixelNorm()(a).pow(2).mean(dim=1)  # m / (m + eps) with m = mean(a^2) >= ~1e-3: 1 to 1e-5
    torch.testing.assert_close(ms, torch.ones_like(ms), rtol=0, atol=1e-5)
    z = _randn(3, 10, seed=5, dtype=torch.float64)
    torch.testing.assert_close(PixelNorm()(z), z / (z.pow(2).mean(1, keepdim=True) + 1e-8).sqrt())


# --- minibatch standard deviation (section 3) -----------------------------------------------------


def _stddev_by_hand(x: np.ndarray, group: int) -> np.ndarray:
    """The appended value of each sample: groups {m, m + M, m + 2M, ...} (M = B / group), population
    std over the group with eps inside the square root, averaged over features and pixels."""
    b, c, h, w = x.shape
    m_groups = b // group
    out = np.empty(b)
    for m in range(m_groups):
        members = [m + k * m_groups for k in range(group)]
        total = 0.0
        for ci in range(c):
            for i in range(h):
                for j in range(w):
                    values = [x[n, ci, i, j] for n in members]
                    mean = sum(values) / group
                    total += math.sqrt(sum((v - mean) ** 2 for v in values) / group + 1e-8)
        out[members] = total / (c * h * w)
    return out


@pytest.mark.parametrize("batch, group_size, group", [(8, 4, 4), (4, 4, 4), (6, 4, 3), (2, 4, 2), (7, 4, 1)])
def test_minibatch_stddev_against_a_loop_over_groups(batch, group_size, group):
    x = _randn(batch, 3, 2, 3, seed=batch, dtype=torch.float64)
    out = MinibatchStdDev(group_size)(x)
    assert out.shape == (batch, 4, 2, 3)
    torch.testing.assert_close(out[:, :3], x, rtol=0, atol=0)  # the features pass unchanged
    expected = _stddev_by_hand(x.numpy(), group)
    for n in range(batch):  # one constant map per sample
        np.testing.assert_allclose(out[n, 3].numpy(), np.full((2, 3), expected[n]), rtol=1e-12)


def test_minibatch_stddev_is_the_population_std_not_the_sample_std():
    # a group of two samples a, b: population std |a - b| / 2, sample std |a - b| / sqrt(2)
    x = torch.zeros(2, 1, 1, 1, dtype=torch.float64)
    x[1] = 2.0
    assert MinibatchStdDev(2)(x)[0, 1].item() == pytest.approx(math.sqrt(1.0 + 1e-8), rel=1e-12)


def test_minibatch_stddev_of_one_sample_is_the_square_root_of_eps():
    out = MinibatchStdDev()(_randn(1, 5, 4, 4, seed=6, dtype=torch.float64))
    assert out.shape == (1, 6, 4, 4)
    torch.testing.assert_close(out[0, 5], torch.full((4, 4), 1e-4, dtype=torch.float64))


# --- fade-in (section 2) --------------------------------------------------------------------------


def test_fade_in_endpoints_are_exact_and_the_midpoint_is_the_average():
    low, high = _randn(2, 1, 8, 8, seed=7), _randn(2, 1, 8, 8, seed=8)
    assert torch.equal(fade_in(0.0, low, high), low)
    assert torch.equal(fade_in(1, low, high), high)
    torch.testing.assert_close(fade_in(0.5, low, high), (low + high) / 2)
    torch.testing.assert_close(fade_in(0.25, low, high), 0.75 * low + 0.25 * high)


@pytest.mark.parametrize("alpha", [-0.1, 1.01, float("nan"), True, "0.5", None])
def test_fade_in_refuses_an_alpha_outside_zero_one(alpha):
    with pytest.raises(ValueError, match="alpha"):
        fade_in(alpha, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_fade_in_refuses_tensors_of_different_shapes():
    with pytest.raises(ValueError, match="one shape"):
        fade_in(0.5, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 8, 8))


# --- the players: shapes, widths, fade-in wiring --------------------------------------------------


def test_shapes_at_every_stage_of_a_64x64_pair():
    torch.manual_seed(0)
    generator, critic = ProgressiveGenerator(), ProgressiveCritic()
    assert isinstance(generator, gan.Generator) and generator.n_stages == critic.n_stages == 5
    for stage in range(5):
        for alpha in (0.5, 1.0) if stage else (1.0,):
            generator.grow_to(stage, alpha)
            critic.grow_to(stage, alpha)
            r = 4 * 2**stage
            x = generator(generator.noise(4))
            assert x.shape == (4, 1, r, r) and generator.current_resolution == r
            assert critic(x).shape == (4,)
    assert generator.sample(3).shape == (3, 1, 64, 64)


def test_widths_halve_with_resolution_down_to_min_width():
    generator, critic = ProgressiveGenerator(), ProgressiveCritic()  # width 128, min_width 16
    assert [m.weight.shape[1] for m in generator.to_rgb] == [128, 64, 32, 16, 16]
    assert [m[0].weight.shape[0] for m in critic.from_rgb] == [128, 64, 32, 16, 16]


@pytest.mark.parametrize("stage", [1, 2])
def test_generator_at_alpha_zero_is_the_previous_stage_upsampled_and_blends_linearly(stage):
    generator = _small(ProgressiveGenerator).grow_to(stage, 0.0)
    z = _randn(3, 6, seed=9)
    with torch.no_grad():
        h = [generator.blocks[0](generator.latent_norm(z))]  # the modules, wired by hand
        for s in range(1, stage + 1):
            h.append(generator.blocks[s](h[-1]))
        old = _double_by_hand(generator.to_rgb[stage - 1](h[stage - 1]))
        new = generator.to_rgb[stage](h[stage])
        assert torch.equal(generator(z), old)
        torch.testing.assert_close(generator.grow_to(stage, 0.3)(z), 0.7 * old + 0.3 * new)
        assert torch.equal(generator.grow_to(stage, 1.0)(z), new)


@pytest.mark.parametrize("stage", [1, 2])
def test_critic_at_alpha_zero_reads_the_half_size_image_through_the_previous_from_rgb(stage):
    critic = _small(ProgressiveCritic).grow_to(stage, 0.0)
    r = 4 * 2**stage
    x = _randn(4, 1, r, r, seed=10)

    def rest(h, top):  # blocks top, ..., 0, then the linear score
        for s in range(top, -1, -1):
            h = critic.blocks[s](h)
        return critic.head(h).squeeze(1)

    with torch.no_grad():
        old = critic.from_rgb[stage - 1](_halve_by_hand(x))
        new = critic.blocks[stage](critic.from_rgb[stage](x))
        torch.testing.assert_close(critic(x), rest(old, stage - 1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(critic.grow_to(stage, 0.6)(x), rest(0.4 * old + 0.6 * new, stage - 1))
        torch.testing.assert_close(critic.grow_to(stage, 1.0)(x), rest(critic.from_rgb[stage](x), stage))


def _with_gradient(model):
    return {name for name, p in model.named_parameters() if p.grad is not None}


def _parameters_of(model, *prefixes):
    return {name for name, _ in model.named_parameters() if name.startswith(prefixes)}


@pytest.mark.parametrize("stage, alpha", [(0, 1.0), (1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0)])
def test_only_the_modules_of_the_current_stages_get_gradients(stage, alpha):
    generator, critic = _small(ProgressiveGenerator), _small(ProgressiveCritic)
    generator.grow_to(stage, alpha)
    critic.grow_to(stage, alpha)
    critic(generator(generator.noise(4))).sum().backward()
    blocks = tuple(f"blocks.{s}." for s in range(stage + 1))
    fading = alpha < 1
    old_rgb = (f"to_rgb.{stage - 1}.",) if fading else ()
    assert _with_gradient(generator) == _parameters_of(generator, *blocks, f"to_rgb.{stage}.", *old_rgb)
    old_rgb = (f"from_rgb.{stage - 1}.",) if fading else ()
    assert _with_gradient(critic) == _parameters_of(critic, *blocks, f"from_rgb.{stage}.", "head.", *old_rgb)


def test_the_generators_trained_parameters_at_stage_one_counted_by_hand():
    generator = _small(ProgressiveGenerator).grow_to(1)  # latent 6, widths 8, 4
    generator(generator.noise(2)).sum().backward()
    by_hand = (6 * 8 * 16 + 8 * 16) + (8 * 8 * 9 + 8)  # stage 0: dense to (8, 4, 4), 3x3 conv
    by_hand += (8 * 4 * 9 + 4) + (4 * 4 * 9 + 4) + (4 * 1 + 1)  # stage 1: two 3x3 convs, toRGB 1x1
    assert sum(p.numel() for p in generator.parameters() if p.grad is not None) == by_hand


def test_critic_mixes_samples_only_through_the_stddev_group():
    # groups of 4 in a batch of 8: {0, 2, 4, 6} and {1, 3, 5, 7}; score 0 depends on samples 0, 2, 4, 6
    for group_size, coupled in ((4, {0, 2, 4, 6}), (1, {0})):
        critic = _small(ProgressiveCritic, group_size=group_size).grow_to(1, 0.5)
        x = _randn(8, 1, 8, 8, seed=11).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x)[0], x)
        touched = {n for n in range(8) if grad[n].abs().max() > 0}
        assert touched == coupled
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


def test_gradient_penalty_runs_on_the_critic_and_reaches_its_weights():
    torch.manual_seed(0)
    critic = _small(ProgressiveCritic).grow_to(2, 0.5)
    real, fake = _randn(8, 1, 16, 16, seed=12), _randn(8, 1, 16, 16, seed=13)
    penalty = gan.gradient_penalty(critic, real, fake)
    assert penalty.ndim == 0 and torch.isfinite(penalty) and penalty > 0
    penalty.backward()
    assert critic.head.weight.grad is not None and critic.head.weight.grad.abs().sum() > 0


def test_labels_condition_both_players():
    generator = _small(ProgressiveGenerator, n_classes=3, embedding_dim=4).grow_to(1)
    critic = _small(ProgressiveCritic, n_classes=3, embedding_dim=4).grow_to(1)
    z, labels = _randn(4, 6, seed=14), torch.tensor([0, 1, 2, 0])
    x = generator(z, labels)
    assert x.shape == (4, 1, 8, 8) and critic(x, labels).shape == (4,)
    assert not torch.allclose(x, generator(z, (labels + 1) % 3))
    assert not torch.allclose(critic(x, labels), critic(x, (labels + 1) % 3))
    assert generator.sample(5, context=2).shape == (5, 1, 8, 8)
    with pytest.raises(ValueError, match="conditional"):
        critic(x)


def test_a_grown_pair_trains_a_few_wgan_gp_steps_on_phantoms():
    from gm_helpers.data.mammo import phantoms

    images = torch.from_numpy(phantoms(16, 16, seed=0).images)[:, None]
    data = 2 * _halve_by_hand(images) - 1  # 8x8 in [-1, 1]: stage 1
    generator, critic = (
        _small(ProgressiveGenerator).grow_to(1, 0.5),
        _small(ProgressiveCritic).grow_to(1, 0.5),
    )
    history = gan.train_gan(generator, critic, data, kind="wgan-gp", steps=2, batch_size=8, progress=False)
    assert len(history["generator"]) == 2 and all(math.isfinite(v) for v in history["critic"])


def test_save_and_load_keep_the_stage_and_alpha(tmp_path):
    generator = _small(ProgressiveGenerator).grow_to(2, 0.25)
    critic = _small(ProgressiveCritic).grow_to(1, 0.75)
    loaded = ProgressiveGenerator.load(generator.save(tmp_path / "g.pt"))
    loaded_critic = ProgressiveCritic.load(critic.save(tmp_path / "c.pt"))
    assert (loaded.stage, loaded.alpha, loaded_critic.stage, loaded_critic.alpha) == (2, 0.25, 1, 0.75)
    z = _randn(2, 6, seed=15)
    with torch.no_grad():
        assert torch.equal(loaded(z), generator.eval()(z))


# --- the schedule ---------------------------------------------------------------------------------


def test_progressive_schedule_written_out_by_hand():
    assert list(progressive_schedule(3, 2)) == [
        (0, 0, 1.0),  # stage 0 (4x4): stabilize
        (1, 0, 1.0),
        (2, 1, 0.0),  # stage 1 (8x8): fade in ...
        (3, 1, 0.5),
        (4, 1, 1.0),  # ... then stabilize
        (5, 1, 1.0),
        (6, 2, 0.0),  # stage 2 (16x16)
        (7, 2, 0.5),
        (8, 2, 1.0),
        (9, 2, 1.0),
    ]
    assert [a for _, s, a in progressive_schedule(2, 4) if s == 1] == [0.0, 0.25, 0.5, 0.75, 1, 1, 1, 1]
    assert list(progressive_schedule(1, 3)) == [(0, 0, 1.0), (1, 0, 1.0), (2, 0, 1.0)]


@pytest.mark.parametrize("stages, steps", [(0, 5), (3, 0), (2.0, 5), (3, True)])
def test_progressive_schedule_refuses_bad_arguments_at_once(stages, steps):
    with pytest.raises(ValueError, match="positive integer"):
        progressive_schedule(stages, steps)


# --- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [2, 0, 48, 100, 64.0, True])
@pytest.mark.parametrize("cls", [ProgressiveGenerator, ProgressiveCritic])
def test_resolution_must_be_a_power_of_two_of_at_least_four(cls, resolution):
    with pytest.raises(ValueError, match="power of two >= 4"):
        cls(resolution=resolution)


@pytest.mark.parametrize("cls", [ProgressiveGenerator, ProgressiveCritic])
def test_stage_and_alpha_are_checked_however_they_are_set(cls):
    model = _small(cls)  # stages 0, 1, 2
    for stage in (-1, 3, 1.0):
        with pytest.raises(ValueError, match=r"stage must be an integer from 0 \(4x4\) to 2 \(16x16\)"):
            model.grow_to(stage)
        with pytest.raises(ValueError, match="stage"):
            model.stage = stage
    for alpha in (-0.5, 1.5):
        with pytest.raises(ValueError, match=r"alpha.*\[0, 1\]"):
            model.grow_to(1, alpha)
        with pytest.raises(ValueError, match="alpha"):
            model.alpha = alpha
    assert (model.stage, model.alpha) == (0, 1.0)
    model.stage, model.alpha = 2, 0.5
    assert model.current_resolution == 16 and model.alpha == 0.5


def test_wrong_input_shapes_are_refused():
    generator, critic = _small(ProgressiveGenerator), _small(ProgressiveCritic).grow_to(1)
    for z in (torch.zeros(2, 7), torch.zeros(6), torch.zeros(2, 6, 1)):
        with pytest.raises(ValueError, match=r"the noise z must have shape \(B, 6\)"):
            generator(z)
    with pytest.raises(ValueError, match=r"stage 1 \(8x8\).*\(B, 1, 8, 8\), got \(2, 1, 16, 16\)"):
        critic(torch.zeros(2, 1, 16, 16))


# --- train_progressive ------------------------------------------------------------------------------


def _phantom_data(n=16):
    from gm_helpers.data.mammo import phantoms

    return 2 * torch.from_numpy(phantoms(n, 16, seed=0).images)[:, None] - 1  # (n, 1, 16, 16) in [-1, 1]


def _train_tiny(seed=0, **kw):
    generator, critic = _small(ProgressiveGenerator), _small(ProgressiveCritic)
    kw = {"steps_per_phase": 2, "batch_size": 4, "device": "cpu", "progress": False, "seed": seed, **kw}
    return generator, critic, gan.train_progressive(generator, critic, _phantom_data(), **kw)


def test_train_progressive_logs_the_schedule_and_ends_grown_in_eval_mode():
    generator, critic, history = _train_tiny(n_critic=1)
    expected = [(stage, alpha) for _, stage, alpha in progressive_schedule(3, 2)]
    assert list(zip(history["stage"], history["alpha"], strict=True)) == expected
    assert history.steps("stage") == list(range(1, 11)) and len(history["penalty"]) == 10
    assert all(math.isfinite(v) for v in history["critic"] + history["generator"])
    for player in (generator, critic):
        assert (player.stage, player.alpha, player.training) == (2, 1.0, False)


def test_train_progressive_shows_the_critic_real_batches_pooled_and_blended_by_hand():
    """A hook records every critic input, the snapshot marks the end of each step; the real batches
    (the seeded batches of infinite_batches, pooled and blended by hand) are among that step's inputs."""
    data, n_critic = _phantom_data(), 2
    generator, critic = _small(ProgressiveGenerator), _small(ProgressiveCritic)
    inputs, ends = [], []
    critic.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    gan.train_progressive(
        generator, critic, data, steps_per_phase=2, batch_size=4, n_critic=n_critic, device="cpu",
        progress=False, eval_every=1, snapshot=lambda g: ends.append(len(inputs)),
    )  # fmt: skip
    batches = infinite_batches(data, batch_size=4, seed=0)
    starts = [0, *ends[:-1]]
    for (_, stage, alpha), start, end in zip(progressive_schedule(3, 2), starts, ends, strict=True):
        seen = inputs[start:end]
        r = 4 * 2**stage
        assert seen and all(x.shape == (4, 1, r, r) for x in seen)
        for _ in range(n_critic):
            (x,) = next(batches)
            high = F.avg_pool2d(x, 16 // r)
            low = F.interpolate(F.avg_pool2d(high, 2), scale_factor=2, mode="nearest") if stage else high
            if stage and alpha == 0:  # the start of a fade-in: exactly the half-size image, upsampled
                assert any(torch.equal(s, low) for s in seen)
            expected = (1 - alpha) * low + alpha * high
            assert min((s - expected).abs().max() for s in seen) < 1e-6, (stage, alpha)


def test_train_progressive_same_seed_same_history_and_the_callers_rng_is_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    generator, _, first = _train_tiny(n_critic=1)
    torch.set_rng_state(state)
    _, _, second = _train_tiny(n_critic=1)
    assert first == second
    torch.set_rng_state(state)
    _, _, other = _train_tiny(seed=1, n_critic=1)
    assert other["critic"] != first["critic"]
    state = torch.get_rng_state()
    gan.train_progressive(
        generator, _small(ProgressiveCritic), _phantom_data(), steps_per_phase=1, batch_size=4,
        n_critic=1, device="cpu", progress=False,
    )  # fmt: skip
    assert torch.equal(torch.get_rng_state(), state)


def test_train_progressive_refuses_bad_inputs_clearly():
    g, c, data = _small(ProgressiveGenerator), _small(ProgressiveCritic), _phantom_data(8)

    def train(generator=g, critic=c, x=data, **kw):
        kw = {"steps_per_phase": 1, "batch_size": 4, "device": "cpu", "progress": False, **kw}
        return gan.train_progressive(generator, critic, x, **kw)

    for x in (data[:, :, ::2, ::2], torch.cat([data, data], 1), data[:, 0]):
        with pytest.raises(ValueError, match=r"data must be images of shape \(N, 1, 16, 16\)"):
            train(x=x)
    with pytest.raises(ValueError, match="ProgressiveGenerator and a ProgressiveCritic"):
        train(generator=gan.MLPGenerator(6, 256))
    with pytest.raises(ValueError, match="ProgressiveGenerator and a ProgressiveCritic"):
        train(generator=c, critic=g)
    with pytest.raises(ValueError, match="one resolution"):
        train(critic=_small(ProgressiveCritic, resolution=32))
    with pytest.raises(ValueError, match="one resolution"):
        train(critic=_small(ProgressiveCritic, channels=3))
    for steps in (0, 1.5):
        with pytest.raises(ValueError, match="steps_per_phase must be a positive integer"):
            train(steps_per_phase=steps)
    with pytest.raises(ValueError, match="val_data / patience"):
        train(val_data=data)
    with pytest.raises(ValueError, match="val_data / patience"):
        train(patience=3)
    with pytest.raises(ValueError, match="kind must be one of"):
        train(kind="vae")
    with pytest.raises(ValueError, match="cramer"):
        train(kind="cramer")
