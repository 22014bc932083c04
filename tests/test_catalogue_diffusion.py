"""Catalogue of known wrong answers of exercise 10 (``10_diffusion_flow_matching``): each must fail its
check with a message that names its cause; the reference answers, the equally right variants and the
escape cells must pass, and the untouched stubs must stay 'not attempted'."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

import gm_helpers as gm
from gm_helpers import checks as gm_checks
from gm_helpers.diffusion import flow_matching_loss, integrate, linear_schedule, q_sample
from gm_helpers.exercises import diffusion as checks

# --------------------------------------------------------------------------------------------------
# my_flow_matching_loss(field, x1, x0, t)


def solution_loss(field, x1, x0, t):
    """The solution notebook's answer, verbatim."""
    tb = t[:, None]  # (B, 1): broadcasts over the coordinates
    xt = (1 - tb) * x0 + tb * x1
    return (field(xt, t) - (x1 - x0)).pow(2).mean()


escape_loss = checks.reference_flow_matching_loss  # the notebook's escape cell


def mse_loss(field, x1, x0, t):
    tb = t.view(-1, 1)
    return F.mse_loss(field(tb * x1 + (1 - tb) * x0, t), x1 - x0)


def lerp_loss(field, x1, x0, t):
    xt = torch.lerp(x0, x1, t.unsqueeze(-1))
    return ((field(xt, t) - x1 + x0) ** 2).mean()


def einsum_loss(field, x1, x0, t):
    xt = x0 + torch.einsum("b,bd->bd", t, x1 - x0)
    diff = field(xt, t) - (x1 - x0)
    return (diff * diff).sum() / diff.numel()


L_RIGHT = [solution_loss, escape_loss, mse_loss, lerp_loss, einsum_loss]


@pytest.mark.parametrize("answer", L_RIGHT, ids=["solution", "escape", "mse_loss", "lerp", "einsum"])
def test_right_flow_matching_loss_passes(answer):
    checks.check_flow_matching_loss(answer)


def _xt(x1, x0, t):
    return (1 - t[:, None]) * x0 + t[:, None] * x1


def loss_path_reversed(field, x1, x0, t):
    xt = (1 - t[:, None]) * x1 + t[:, None] * x0
    return (field(xt, t) - (x1 - x0)).pow(2).mean()


def loss_time_reversed(field, x1, x0, t):
    xt = (1 - t[:, None]) * x1 + t[:, None] * x0
    return (field(xt, t) - (x0 - x1)).pow(2).mean()


def loss_target_sign(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x0 - x1)).pow(2).mean()


def loss_target_x1(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - x1).pow(2).mean()


def loss_target_noise(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - x0).pow(2).mean()


def loss_t_not_broadcast(field, x1, x0, t):
    xt = (1 - t) * x0 + t * x1  # (B,) against (B, D)
    return (field(xt, t) - (x1 - x0)).pow(2).mean()


def loss_field_gets_column_t(field, x1, x0, t):
    t = t[:, None]
    xt = (1 - t) * x0 + t * x1
    return (field(xt, t) - (x1 - x0)).pow(2).mean()


def loss_field_args_swapped(field, x1, x0, t):
    return (field(t, _xt(x1, x0, t)) - (x1 - x0)).pow(2).mean()


def loss_sum(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).sum()


def loss_mse_reduction_sum(field, x1, x0, t):
    return F.mse_loss(field(_xt(x1, x0, t), t), x1 - x0, reduction="sum")


def loss_squared_norm(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).sum(dim=1).mean()


def loss_norm(field, x1, x0, t):
    return torch.linalg.norm(field(_xt(x1, x0, t), t) - (x1 - x0), dim=1).mean()


def loss_l1(field, x1, x0, t):
    return F.l1_loss(field(_xt(x1, x0, t), t), x1 - x0)


def loss_rmse(field, x1, x0, t):
    return F.mse_loss(field(_xt(x1, x0, t), t), x1 - x0).sqrt()


def loss_not_squared(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).mean()


def loss_mean_squared(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).mean() ** 2


def loss_field_at_x1(field, x1, x0, t):
    return (field(x1, t) - (x1 - x0)).pow(2).mean()


def loss_field_at_x0(field, x1, x0, t):
    return (field(x0, t) - (x1 - x0)).pow(2).mean()


def loss_one_minus_t(field, x1, x0, t):
    return (field(_xt(x1, x0, t), 1 - t) - (x1 - x0)).pow(2).mean()


def loss_detached(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t).detach() - (x1 - x0)).pow(2).mean()


def loss_no_grad(field, x1, x0, t):
    with torch.no_grad():
        v = field(_xt(x1, x0, t), t)
    return (v - (x1 - x0)).pow(2).mean()


def loss_item(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).mean().item()


def loss_per_sample(field, x1, x0, t):
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).mean(dim=1)


def loss_unreduced(field, x1, x0, t):
    return F.mse_loss(field(_xt(x1, x0, t), t), x1 - x0, reduction="none")


def loss_in_place_x1(field, x1, x0, t):
    v = field(_xt(x1, x0, t), t)
    u = x1
    u -= x0  # u is x1
    return (v - u).pow(2).mean()


def loss_in_place_x0(field, x1, x0, t):
    u = x1 - x0
    x0.mul_(1 - t[:, None]).add_(t[:, None] * x1)
    return (field(x0, t) - u).pow(2).mean()


def loss_clamps_t_in_place(field, x1, x0, t):
    t.clamp_(1e-5, 1 - 1e-5)  # keeps away from the ends... and changes the caller's t
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).mean()


def loss_draws_own_noise(field, x1, x0, t):
    x0 = torch.randn_like(x1)
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).mean()


def loss_draws_own_times(field, x1, x0, t):
    t = torch.rand(len(x1))
    return (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).mean()


def loss_returns_none(field, x1, x0, t):
    (field(_xt(x1, x0, t), t) - (x1 - x0)).pow(2).mean()  # the `return` is missing


L_WRONG = [
    (loss_path_reversed, r"the path is reversed: x_t = \(1 - t\) \* x1 \+ t \* x0"),
    (loss_time_reversed, r"the time runs the other way"),
    (loss_target_sign, r"the target has the wrong sign: x0 - x1 instead of x1 - x0"),
    (loss_target_x1, r"the target is x1, the data"),
    (loss_target_noise, r"the target is x0, the noise"),
    (loss_t_not_broadcast, r"t is not broadcast over the coordinates.*t\[:, None\]"),
    (loss_field_gets_column_t, r"call the field with t itself, of shape \(B,\)"),
    (loss_field_args_swapped, r"call the field as field\(x_t, t\)"),
    (loss_sum, r"the sum over the batch and the coordinates instead of the mean"),
    (loss_mse_reduction_sum, r"the sum over the batch and the coordinates instead of the mean"),
    (loss_squared_norm, r"the mean over the batch of the squared norm.*the mean over the coordinates too"),
    (loss_norm, r"the mean over the batch of the norm \|\|v - u\|\|, not squared"),
    (loss_l1, r"the absolute error \|v - u\| \(an L1 loss\)"),
    (loss_rmse, r"the square root of the mean squared error"),
    (loss_not_squared, r"the error is not squared"),
    (loss_mean_squared, r"the mean is squared, not the error"),
    (loss_field_at_x1, r"the field is called at x1, the data"),
    (loss_field_at_x0, r"the field is called at x0, the noise"),
    (loss_one_minus_t, r"the field is called with 1 - t"),
    (loss_detached, r"carries no gradient to the field's parameters.*\.detach\(\)"),
    (loss_no_grad, r"carries no gradient to the field's parameters.*torch.no_grad"),
    (loss_item, r"returned a float, not a torch tensor.*\.item\(\)"),
    (loss_per_sample, r"one loss per sample: average over the batch as well"),
    (loss_unreduced, r"the squared errors, not averaged"),
    (loss_in_place_x1, r"changed its input `x1` in place.*u = x1; u -= \.\.\."),
    (loss_in_place_x0, r"changed its input `x0` in place"),
    (loss_clamps_t_in_place, r"changed its input `t` in place"),
    (loss_draws_own_noise, r"changes from one call to the next.*not draw its own"),
    (loss_draws_own_times, r"changes from one call to the next.*not draw its own"),
    (loss_returns_none, r"returned None: it is not written yet"),
]


@pytest.mark.parametrize("answer, message", L_WRONG, ids=[f.__name__ for f, _ in L_WRONG])
def test_wrong_flow_matching_loss_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_flow_matching_loss(answer)


def test_the_loss_is_the_packages_with_the_same_noise_and_times():
    field = checks._Field(2, seed=5)
    x1 = torch.randn(7, 2, generator=torch.Generator().manual_seed(1))
    loss = flow_matching_loss(lambda x, t, c: field(x, t), x1, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)  # the package draws x0, then t, from its generator
    x0, t = torch.randn(7, 2, generator=g), torch.rand(7, generator=g)
    torch.testing.assert_close(checks.reference_flow_matching_loss(field, x1, x0, t), loss)


# --------------------------------------------------------------------------------------------------
# my_euler_sampler(field, x0, steps)


def solution_sampler(field, x0, steps):
    """The solution notebook's answer, verbatim."""
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x, k * h)  # a new tensor: x0 stays as it was
    return x


def escape_sampler(field, x0, steps):
    """The notebook's escape cell."""
    return gm.diffusion.integrate(lambda t, x: field(x, t), x0, 0.0, 1.0, steps, method="euler")


def tensor_times_sampler(field, x0, steps):
    times = torch.linspace(0, 1, steps + 1)[:-1]
    x = x0.clone()
    for t in times:
        x += field(x, torch.full((len(x),), float(t))) / steps  # in place on a copy: fine
    return x


def zero_dim_times_sampler(field, x0, steps):
    x, t, h = x0, torch.tensor(0.0), torch.tensor(1.0 / steps)
    while t < 1 - h / 2:
        x = torch.addcmul(x, field(x, t), h.expand_as(x))
        t = t + h
    return x


S_RIGHT = [solution_sampler, escape_sampler, tensor_times_sampler, zero_dim_times_sampler]


@pytest.mark.parametrize("answer", S_RIGHT, ids=["solution", "escape", "tensor_times", "zero_dim_times"])
def test_right_euler_sampler_passes(answer):
    checks.check_euler_sampler(answer)


def _euler_loop(field, x0, steps, times, h=None, count=None):
    h = 1.0 / steps if h is None else h
    x = x0
    for k in range(steps if count is None else count):
        x = x + h * field(x, times(k))
    return x


def sampler_heun(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        k1 = field(x, k * h)
        k2 = field(x + h * k1, (k + 1) * h)
        x = x + h / 2 * (k1 + k2)
    return x


def sampler_heun_integrate(field, x0, steps):
    return integrate(lambda t, x: field(x, t), x0, 0.0, 1.0, steps, method="heun")


def sampler_midpoint(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x + h / 2 * field(x, k * h), (k + 0.5) * h)
    return x


def sampler_rk4(field, x0, steps):
    return integrate(lambda t, x: field(x, t), x0, 0.0, 1.0, steps)  # integrate's default method


def sampler_steps_plus_one(field, x0, steps):
    return _euler_loop(field, x0, steps, lambda k: k / steps, count=steps + 1)


def sampler_steps_minus_one(field, x0, steps):
    times = torch.linspace(0, 1, steps)  # steps points: steps - 1 intervals
    x = x0
    for k in range(steps - 1):
        x = x + (1.0 / steps) * field(x, float(times[k]) * (steps - 1) / steps)
    return x


def sampler_right_end_points(field, x0, steps):
    return _euler_loop(field, x0, steps, lambda k: (k + 1) / steps)


def sampler_linspace_times(field, x0, steps):
    times = torch.linspace(0, 1, steps)
    return _euler_loop(field, x0, steps, lambda k: float(times[k]))


def sampler_h_one(field, x0, steps):
    return _euler_loop(field, x0, steps, lambda k: k / steps, h=1.0)


def sampler_h_one_t_k(field, x0, steps):
    x = x0
    for k in range(steps):
        x = x + field(x, k)
    return x


def sampler_backwards(field, x0, steps):
    return integrate(lambda t, x: field(x, t), x0, 1.0, 0.0, steps, method="euler")


def sampler_times_descending(field, x0, steps):
    return _euler_loop(field, x0, steps, lambda k: 1 - k / steps)


def sampler_time_never_advances(field, x0, steps):
    h, t, x = 1.0 / steps, 0.0, x0
    for _ in range(steps):
        x = x + h * field(x, t)  # t += h is missing
    return x


def sampler_trajectory_list(field, x0, steps):
    h = 1.0 / steps
    xs = [x0]
    for k in range(steps):
        xs.append(xs[-1] + h * field(xs[-1], k * h))
    return xs


def sampler_trajectory_stacked(field, x0, steps):
    return torch.stack(integrate(lambda t, x: field(x, t), x0, 0.0, 1.0, steps, "euler", path=True))


def sampler_returns_x0(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x, k * h)
    return x0


def sampler_in_place(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x += h * field(x, k * h)
    return x


def sampler_integrate_field_directly(field, x0, steps):
    return integrate(field, x0, 0.0, 1.0, steps, method="euler")  # integrate calls f(t, x)


def sampler_column_times(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x, torch.full((len(x), 1), k * h))
    return x


def sampler_field_at_x0(field, x0, steps):
    h = 1.0 / steps
    x = x0.clone()
    for k in range(steps):
        x = x + h * field(x0, k * h)
    return x


def sampler_returns_none(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x, k * h)


S_WRONG = [
    (sampler_heun, r"this is Heun's method, a second-order method.*the exercise asks for Euler"),
    (sampler_heun_integrate, r"this is Heun's method, a second-order method.*the exercise asks for Euler"),
    (sampler_midpoint, r"the midpoint rule, a second-order method.*the exercise asks for Euler"),
    (sampler_rk4, r"this is RK4, a fourth-order method.*the exercise asks for Euler"),
    (sampler_steps_plus_one, r"steps \+ 1 steps \(range\(steps \+ 1\)\)"),
    (sampler_steps_minus_one, r"steps - 1 steps"),
    (sampler_right_end_points, r"evaluated at the end of each step, t_k = \(k \+ 1\) \* h"),
    (sampler_linspace_times, r"the times are torch.linspace\(0, 1, steps\)"),
    (sampler_h_one, r"the step size is 1, not h = 1 / steps"),
    (sampler_h_one_t_k, r"the step size is 1 and the time the step number k"),
    (sampler_backwards, r"it integrates from t = 1 back to t = 0"),
    (sampler_times_descending, r"the times run from 1 down to 0"),
    (
        sampler_time_never_advances,
        r"the field was called at t = \[0, 0, 0, 0\]; Euler calls it once per step",
    ),
    (sampler_trajectory_list, r"returned a list of \d+ items, the whole trajectory"),
    (sampler_trajectory_stacked, r"the whole trajectory, stacked"),
    (sampler_returns_x0, r"returned x0 unchanged"),
    (sampler_in_place, r"changed x0 in place"),
    (sampler_integrate_field_directly, r"call the field as field\(x, t\), x first.*f\(t, y\)"),
    (sampler_column_times, r"pass the time as a number, field\(x, k \* h\)"),
    (sampler_field_at_x0, r"the field is evaluated at x0 at every step, not at the current x"),
    (sampler_returns_none, r"returned None: it is not written yet"),
]


@pytest.mark.parametrize("answer, message", S_WRONG, ids=[f.__name__ for f, _ in S_WRONG])
def test_wrong_euler_sampler_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_euler_sampler(answer)


@pytest.mark.parametrize("steps", [1, 4, 5, 10])
def test_the_samplers_closed_forms_are_integrates_euler(steps):
    x0 = torch.randn(3, 2, dtype=torch.float64)
    for fn, _, _, _, exact in checks._SAMPLER_CASES:
        if exact is not None:
            torch.testing.assert_close(checks._integrated(fn, x0, steps), exact(x0, steps))


# --------------------------------------------------------------------------------------------------
# my_q_sample(x0, t, noise, alpha_bar)


def solution_q_sample(x0, t, noise, alpha_bar):
    """The solution notebook's answer, verbatim."""
    a = alpha_bar[t - 1].view(-1, *[1] * (x0.ndim - 1))  # (B, 1, ..., 1): step t is entry t - 1
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


escape_q_sample = gm.diffusion.q_sample  # the notebook's escape cell


def gather_q_sample(x0, t, noise, alpha_bar):
    a = torch.gather(alpha_bar, 0, t - 1)
    while a.ndim < x0.ndim:
        a = a.unsqueeze(-1)
    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise


def normal_q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar[t - 1].reshape(len(x0), *([1] * (x0.ndim - 1)))
    marginal = Normal(a.sqrt() * x0, (1 - a).sqrt())
    return marginal.mean + marginal.stddev * noise


Q_RIGHT = [solution_q_sample, escape_q_sample, gather_q_sample, normal_q_sample]


@pytest.mark.parametrize("answer", Q_RIGHT, ids=["solution", "escape", "gather", "normal"])
def test_right_q_sample_passes(answer):
    checks.check_q_sample(answer)


def _coef(alpha_bar, index, x0):
    return alpha_bar[index].view(-1, *[1] * (x0.ndim - 1))


def _alphas(alpha_bar):
    return alpha_bar / torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])


def q_no_sqrt(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    return a * x0 + (1 - a) * noise


def q_no_sqrt_signal(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    return a * x0 + (1 - a).sqrt() * noise


def q_no_sqrt_noise(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    return a.sqrt() * x0 + (1 - a) * noise


def q_swapped(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    return (1 - a).sqrt() * x0 + a.sqrt() * noise


def q_beta(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    beta = _coef(1 - _alphas(alpha_bar), t - 1, x0)
    return a.sqrt() * x0 + beta.sqrt() * noise


def q_beta_variance(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    beta = _coef(1 - _alphas(alpha_bar), t - 1, x0)
    return a.sqrt() * x0 + beta * noise


def q_alpha_per_step(x0, t, noise, alpha_bar):
    a = _coef(_alphas(alpha_bar), t - 1, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_index_t(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t, x0)  # 0-based steps
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_index_t_minus_2(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 2, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_one_minus_sqrt(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    return a.sqrt() * x0 + (1 - a.sqrt()) * noise


def q_noise_unscaled(x0, t, noise, alpha_bar):
    return _coef(alpha_bar, t - 1, x0).sqrt() * x0 + noise


def q_signal_unscaled(x0, t, noise, alpha_bar):
    return x0 + (1 - _coef(alpha_bar, t - 1, x0)).sqrt() * noise


def q_not_reshaped(x0, t, noise, alpha_bar):
    a = alpha_bar[t - 1]  # (B,): broadcasts against the last dimension
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_reshaped_for_vectors_only(x0, t, noise, alpha_bar):
    a = alpha_bar[t - 1][:, None]  # (B, 1): right for (B, D), wrong for images
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_in_place_x0(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    return x0.mul_(a.sqrt()).add_((1 - a).sqrt() * noise)


def q_in_place_noise(x0, t, noise, alpha_bar):
    a = _coef(alpha_bar, t - 1, x0)
    noise *= (1 - a).sqrt()
    return a.sqrt() * x0 + noise


def q_in_place_t(x0, t, noise, alpha_bar):
    t -= 1  # 0-based index, and the caller's t is changed
    a = _coef(alpha_bar, t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_noise_off_by_one(x0, t, noise, alpha_bar):
    return _coef(alpha_bar, t - 1, x0).sqrt() * x0 + (1 - _coef(alpha_bar, t, x0)).sqrt() * noise


def q_signal_off_by_one(x0, t, noise, alpha_bar):
    return _coef(alpha_bar, t, x0).sqrt() * x0 + (1 - _coef(alpha_bar, t - 1, x0)).sqrt() * noise


def q_numpy(x0, t, noise, alpha_bar):
    return solution_q_sample(x0, t, noise, alpha_bar).numpy()


def q_returns_none(x0, t, noise, alpha_bar):
    solution_q_sample(x0, t, noise, alpha_bar)


Q_WRONG = [
    (q_no_sqrt, r"alpha_bar is not square-rooted"),
    (q_no_sqrt_signal, r"the data's coefficient is not square-rooted"),
    (q_no_sqrt_noise, r"the noise's coefficient is not square-rooted"),
    (q_swapped, r"the coefficients are swapped"),
    (q_beta, r"beta_t is used for the noise instead of 1 - alpha_bar_t"),
    (q_beta_variance, r"beta_t is used for the noise instead of sqrt\(1 - alpha_bar_t\)"),
    (q_alpha_per_step, r"the per-step alpha_t = 1 - beta_t is used instead of the cumulative alpha_bar_t"),
    (q_index_t, r"off by one: alpha_bar\[t\] is step t \+ 1"),
    (q_index_t_minus_2, r"off by one: alpha_bar\[t - 2\] is step t - 1"),
    (q_one_minus_sqrt, r"the noise's coefficient is 1 - sqrt\(alpha_bar_t\)"),
    (q_noise_unscaled, r"the noise is not scaled"),
    (q_signal_unscaled, r"the data is not scaled"),
    (q_not_reshaped, r"broadcasts against the last dimension of x0, not the batch"),
    (q_reshaped_for_vectors_only, r"broadcasts against the last dimension of x0, not the batch"),
    (q_in_place_x0, r"changed its input `x0` in place"),
    (q_in_place_noise, r"changed its input `noise` in place"),
    (q_in_place_t, r"changed its input `t` in place"),
    (
        q_noise_off_by_one,
        r"with noise = 0 the mean sqrt\(alpha_bar_t\) \* x0 is right, the noise term is not",
    ),
    (
        q_signal_off_by_one,
        r"with x0 = 0 the noise term sqrt\(1 - alpha_bar_t\) \* noise is right, the mean is not",
    ),
    (q_numpy, r"returned a ndarray object, not a torch tensor: stay in torch"),
    (q_returns_none, r"returned None: it is not written yet"),
]


@pytest.mark.parametrize("answer, message", Q_WRONG, ids=[f.__name__ for f, _ in Q_WRONG])
def test_wrong_q_sample_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_q_sample(answer)


def test_silent_broadcasting_is_named_where_it_raises_no_error():
    # B = D: alpha_bar[t - 1] of shape (B,) broadcasts along the features without an error
    x0, noise, t = torch.randn(4, 4), torch.randn(4, 4), torch.tensor([2, 10, 25, 40])
    got = q_not_reshaped(x0, t, noise, checks._ALPHA_BAR)
    with pytest.raises(AssertionError, match=r"broadcast along the last dimension of x0 \(the features\)"):
        checks._diagnose_q(q_not_reshaped, got, x0, t, noise, "B = D")


def test_the_q_sample_reference_is_the_normal_marginal():
    x0, noise = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    t = torch.tensor([1, 2, 10, 25, 49, 50])
    _, alpha_bar = linear_schedule(50, 1e-3, 0.2)
    a = alpha_bar[t - 1][:, None]
    marginal = Normal(a.sqrt() * x0, (1 - a).sqrt())
    torch.testing.assert_close(q_sample(x0, t, noise, alpha_bar), marginal.mean + marginal.stddev * noise)


# --------------------------------------------------------------------------------------------------
# the untouched stubs, and the participant's random state


def stub_loss(field, x1, x0, t):
    raise NotImplementedError()


def stub_sampler(field, x0, steps):
    raise NotImplementedError()


def stub_q_sample(x0, t, noise, alpha_bar):
    raise NotImplementedError()


STUBS = [
    (checks.check_flow_matching_loss, stub_loss),
    (checks.check_euler_sampler, stub_sampler),
    (checks.check_q_sample, stub_q_sample),
]


@pytest.mark.parametrize("check, stub", STUBS, ids=[s.__name__ for _, s in STUBS])
def test_stub_is_not_attempted(check, stub, monkeypatch, capsys):
    with pytest.raises(NotImplementedError):
        check(stub)
    monkeypatch.delenv("GM_STRICT_CHECKS", raising=False)
    gm_checks.check("stub", lambda: check(stub))
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check, answer",
    [
        (checks.check_flow_matching_loss, solution_loss),
        (checks.check_flow_matching_loss, loss_path_reversed),
        (checks.check_euler_sampler, solution_sampler),
        (checks.check_euler_sampler, sampler_heun),
        (checks.check_q_sample, solution_q_sample),
        (checks.check_q_sample, q_alpha_per_step),
    ],
)
def test_participant_random_state_is_left_alone(check, answer):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    with contextlib.suppress(AssertionError):
        check(answer)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_catalogue_sizes():
    assert len(L_WRONG) >= 12 and len(S_WRONG) >= 12 and len(Q_WRONG) >= 12
