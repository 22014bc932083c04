"""Checks of exercise 10 (``10_diffusion_flow_matching``): the three pieces of flow matching and DDPM that
the participant writes, the conditional flow-matching loss with its noise and times given, an Euler
sampler of the flow's ODE, and the forward noising of a DDPM.

- ``check_flow_matching_loss``: ``my_flow_matching_loss(field, x1, x0, t)`` with the data x1 (B, D), the
  noise x0 (B, D) and the times t (B,) must return the mean over the batch and the coordinates of
  ``(field(x_t, t) - (x1 - x0))**2``, ``x_t = (1 - t) x0 + t x1``, a scalar tensor (Lipman et al.,
  arXiv:2210.02747; Liu et al., arXiv:2209.03003). The field is a small seeded ``nn.Module`` called as
  ``field(x, t)`` with x (B, D) and t (B,) (anything else raises). Cases: random times (B = 5, D = 3),
  B = D = 4 (where t of shape (B,) broadcasts silently along the coordinates), t = 0 and 1 exactly, and
  a single sample. The value is compared with :func:`reference_flow_matching_loss` and the gradients
  with respect to the field's parameters with autograd's; the inputs must come back unchanged. A wrong
  value is compared with the classic mistakes (the path reversed, the target's sign flipped, x1 as
  the target, the field at x1, x0 or 1 - t, a sum, the squared norm, the norm, ...) and the message
  names the one that matches.
- ``check_euler_sampler``: ``my_euler_sampler(field, x0, steps)`` must integrate dx/dt = field(x, t)
  from t = 0 to t = 1 in ``steps`` Euler steps of size h = 1 / steps, evaluating the field once per
  step at t_k = k h (k = 0 .. steps - 1), and return x at t = 1 (x0 unchanged). The check's fields
  take the time as a number or a tensor of shape (B,), as the course's ``VectorField`` does, and
  record the times they are called at. References: the linear field a x, whose Euler solution is
  (1 + a / steps)^steps x0 exactly; the field b t, the same at every x, for which Euler gives
  x0 + b (steps - 1) / (2 steps) (the sum of b t_k h); a nonlinear field of x and t against
  ``gm.diffusion.integrate(..., method="euler")``; one step; a single sample. A wrong answer is
  compared (values and the times of its calls) with the classic mistakes: Heun, the midpoint rule or
  RK4 instead of Euler, steps + 1 or steps - 1 steps, the right end points t_k = (k + 1) h, the grid
  ``torch.linspace(0, 1, steps)``, h = 1, integrating from 1 to 0, the trajectory returned, x0
  returned.
- ``check_q_sample``: ``my_q_sample(x0, t, noise, alpha_bar)`` must return
  ``sqrt(alpha_bar[t - 1]) x0 + sqrt(1 - alpha_bar[t - 1]) noise`` for integer steps t (B,) in 1 .. T
  (Ho et al., arXiv:2006.11239; the convention of ``gm.diffusion.q_sample``: step t is entry t - 1 of
  the (T,) table), the coefficient broadcast over the feature dimensions of x0 (B, D) or (B, C, H, W).
  References: ``gm.diffusion.q_sample`` and the reparameterized draw of the marginal
  ``torch.distributions.Normal(sqrt(abar) x0, sqrt(1 - abar))``. The check knows the schedule (a
  linear one, T = 50), so it recognizes the per-step alpha_t and beta_t used for alpha_bar_t, the
  index off by one, the coefficients swapped or not square-rooted, and a coefficient broadcast along
  the last dimension (cases with B = D and with the images' width equal to B).

Inputs are drawn from private generators: the participant's random state is left alone. Every
check turns an error of the participant's code into an ``AssertionError`` that names a likely cause
(``NotImplementedError``, the untouched stub, passes through as is).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from gm_helpers.checks import assert_same_gradients, call_answer
from gm_helpers.diffusion.ddpm import linear_schedule, q_sample
from gm_helpers.diffusion.ode import integrate

__all__ = [
    "check_euler_sampler",
    "check_flow_matching_loss",
    "check_q_sample",
    "reference_flow_matching_loss",
]

_RTOL, _ATOL = 1e-4, 1e-6  # float32 inputs


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.randn(shape, generator=_generator(seed))


def _close(a, b) -> bool:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        return False
    a, b = a.detach().double(), b.detach().double()
    return a.shape == b.shape and bool(torch.all(torch.isfinite(a))) and torch.allclose(a, b, _RTOL, _ATOL)


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _changed(saved: Tensor, tensor: Tensor) -> bool:
    return tensor.shape != saved.shape or not torch.equal(tensor.detach(), saved)


def _in_place_cause(error: BaseException) -> str | None:
    text = str(error)
    if "in-place" in text or "inplace" in text:
        return (
            "an in-place operation (+=, *=, .mul_(), .add_()) on an input or on a tensor autograd "
            "still needs: build new tensors instead (x = x + ..., not x += ...)"
        )
    return None


# --------------------------------------------------------------------------------------------------
# Step 1: the conditional flow-matching loss

_FLOW = "x_t = (1 - t) * x0 + t * x1, t reshaped to (B, 1) (t[:, None])"
_LOSS = f"{_FLOW}; return (field(x_t, t) - (x1 - x0)).pow(2).mean()"


def reference_flow_matching_loss(field: Callable, x1: Tensor, x0: Tensor, t: Tensor) -> Tensor:
    """The reference answer of ``my_flow_matching_loss``: the mean over the batch and the coordinates of
    ``(field(x_t, t) - (x1 - x0))**2`` with ``x_t = (1 - t) x0 + t x1`` (t broadcast over the features)."""
    tb = t.view(-1, *[1] * (x1.ndim - 1))
    return (field((1 - tb) * x0 + tb * x1, t) - (x1 - x0)).pow(2).mean()


class _Field(nn.Module):
    """A small seeded velocity field v(x, t) = W2 tanh(W1 [x, t] + b1) + b2, called as field(x, t) with
    x (B, D) and t (B,): anything else raises a ValueError saying so."""

    def __init__(self, features: int, seed: int, hidden: int = 16):
        super().__init__()
        g = _generator(seed)
        self.features = features
        self.w1 = nn.Parameter(torch.randn(features + 1, hidden, generator=g) / math.sqrt(features + 1))
        self.w1.data[-1] *= 2.0  # a field that changes quickly with t, so that t and 1 - t differ
        self.b1 = nn.Parameter(0.3 * torch.randn(hidden, generator=g))
        self.w2 = nn.Parameter(torch.randn(hidden, features, generator=g) / math.sqrt(hidden))
        self.b2 = nn.Parameter(0.3 * torch.randn(features, generator=g))

    def forward(self, x, t):
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(
                f"the field takes x first, a tensor of shape (B, {self.features}), then t: field(x, t); "
                f"got x = {_describe(x)}"
            )
        if not isinstance(t, Tensor) or tuple(t.shape) != (len(x),):
            raise ValueError(f"the field takes t of shape ({len(x)},), got t = {_describe(t)}")
        hidden = torch.tanh(torch.cat([x, t[:, None].to(x.dtype)], 1) @ self.w1 + self.b1)
        return hidden @ self.w2 + self.b2


# (B, D, the times t, or None for random ones, what the case is)
_LOSS_CASES = (
    (5, 3, None, "random times (B = 5, D = 3)"),
    (4, 4, None, "random times with B = D = 4"),
    (6, 2, (0.0, 1.0, 0.5, 0.0, 1.0, 0.25), "times t = 0 and t = 1 exactly (B = 6, D = 2)"),
    (1, 3, (0.7,), "a single sample (B = 1, D = 3)"),
)


def _loss_case(number: int) -> tuple[_Field, Tensor, Tensor, Tensor, str]:
    b, d, times, what = _LOSS_CASES[number]
    seed = 1000 + 10 * number
    x1 = 1.5 * _randn((b, d), seed) + 0.5  # data: not centred, not of unit scale
    x0 = _randn((b, d), seed + 1)
    t = torch.rand(b, generator=_generator(seed + 2)) if times is None else torch.tensor(times)
    return _Field(d, seed + 3), x1, x0, t, what


def _loss_cause(error: BaseException) -> str:
    text = str(error)
    in_place = _in_place_cause(error)
    if in_place:
        return in_place
    if "the field takes t of shape" in text:
        return (
            "call the field with t itself, of shape (B,), field(x_t, t): reshape t to (B, 1) only where it "
            "multiplies x0 and x1"
        )
    if "the field takes x first" in text:
        return "call the field as field(x_t, t): the point on the path (B, D) first, then the times (B,)"
    if "must match the size of tensor" in text or "size mismatch" in text:
        return (
            "t is not broadcast over the coordinates: t has shape (B,) and x0, x1 (B, D), so t * x1 "
            f"lines t up with the last dimension (the coordinates) instead of the batch; {_FLOW}"
        )
    return (
        "it was called with a field(x, t), data x1 and noise x0 of shape (B, D) and times t of shape (B,): "
        "try it by hand on such tensors to see where it fails"
    )


def _loss_output(answer: Callable, field: _Field, x1: Tensor, x0: Tensor, t: Tensor) -> Tensor:
    """The answer's loss, with its type, shape and inputs checked."""
    b, d = x1.shape
    saved = {"x1": x1.detach().clone(), "x0": x0.detach().clone(), "t": t.detach().clone()}
    out = call_answer(answer, (field, x1, x0, t), "my_flow_matching_loss(field, x1, x0, t)", _loss_cause)
    for name, tensor in (("x1", x1), ("x0", x0), ("t", t)):
        if _changed(saved[name], tensor):
            raise AssertionError(
                f"my_flow_matching_loss changed its input `{name}` in place ({name} -= ..., "
                f"{name}.mul_(...), {name}.clamp_(...), {name}.unsqueeze_(...), or u = {name}; u -= ..., "
                f"which is {name} itself): the caller still needs the batch, its noise and its times; build "
                f"new tensors, {_FLOW}"
            )
    if out is None:
        raise AssertionError(
            "my_flow_matching_loss returned None: it is not written yet, or the `return` is missing"
        )
    if not isinstance(out, Tensor):
        raise AssertionError(
            f"my_flow_matching_loss returned a {type(out).__name__}, not a torch tensor: return the loss "
            "tensor itself (no .item(), float() or .numpy()), so that loss.backward() trains the field"
        )
    shape = tuple(out.shape)
    if shape != ():
        if shape == (b,):
            cause = (
                "one loss per sample: average over the batch as well, the mean of (v - u)**2 over every "
                "element, .mean() with no dim"
            )
        elif shape == (b, d):
            cause = "the squared errors, not averaged: the loss is their mean, .mean()"
        elif shape == (d,):
            cause = "one loss per coordinate: average over the coordinates as well, .mean() with no dim"
        else:
            cause = "expected a single number, the mean over the batch and the coordinates"
        raise AssertionError(
            f"for x1 of shape {(b, d)} my_flow_matching_loss returned shape {shape}, expected a scalar "
            f"(shape ()): {cause}"
        )
    return out


def _loss_candidates(field: _Field, x1: Tensor, x0: Tensor, t: Tensor) -> list[tuple[Tensor, str]]:
    tb = t[:, None]
    xt = (1 - tb) * x0 + tb * x1
    back = (1 - tb) * x1 + tb * x0
    u = x1 - x0
    v = field(xt, t)

    def mse(a: Tensor, b: Tensor) -> Tensor:
        return (a - b).pow(2).mean()

    candidates = [
        (mse(field(back, t), u),
         "the path is reversed: x_t = (1 - t) * x1 + t * x0 starts from the data at t = 0; the path "
         f"runs from the noise x0 at t = 0 to the data x1 at t = 1, {_FLOW}"),
        (mse(field(back, t), -u),
         "the time runs the other way: x_t = (1 - t) * x1 + t * x0 with the target x0 - x1 goes from "
         "the data at t = 0 to the noise at t = 1; in the course (and in your sampler) t = 0 is the "
         f"noise x0 and t = 1 the data x1: {_FLOW}, target x1 - x0"),
        (mse(v, -u),
         "the target has the wrong sign: x0 - x1 instead of x1 - x0, the velocity d x_t / dt of the path "
         "x_t = (1 - t) * x0 + t * x1"),
        (mse(v, x1),
         "the target is x1, the data: the field regresses the velocity of the path, d x_t / dt = x1 - x0"),
        (mse(v, x0),
         "the target is x0, the noise (what a DDPM predicts): flow matching regresses the velocity of the "
         "path, d x_t / dt = x1 - x0"),
        (mse(field(x1, t), u),
         f"the field is called at x1, the data: call it on the path, at x_t, field(x_t, t) with {_FLOW}"),
        (mse(field(x0, t), u),
         f"the field is called at x0, the noise: call it on the path, at x_t, field(x_t, t) with {_FLOW}"),
        (mse(field(xt, 1 - t), u),
         "the field is called with 1 - t: call it with t itself, field(x_t, t) (t = 0 is the noise, t "
         "= 1 the data, as in the sampler)"),
        ((v - u).pow(2).sum(),
         "the sum over the batch and the coordinates instead of the mean (it would grow with the batch "
         "size): .mean(), not .sum()"),
        ((v - u).pow(2).sum(1).mean(),
         "the mean over the batch of the squared norm ||v - u||^2: the exercise asks for the mean over the "
         "coordinates too (the loss per coordinate, as gm.diffusion.flow_matching_loss): .mean() over every "
         "element, with no dim"),
        ((v - u).norm(dim=1).mean(),
         "the mean over the batch of the norm ||v - u||, not squared: the loss is the mean of the squares, "
         "(v - u).pow(2).mean()"),
        ((v - u).norm(),
         "the norm of the whole error, not the mean of its squares: (v - u).pow(2).mean()"),
        ((v - u).abs().mean(),
         "the absolute error |v - u| (an L1 loss), not the squared error: (v - u).pow(2).mean()"),
        ((v - u).pow(2).mean().sqrt(),
         "the square root of the mean squared error: the loss is the mean squared error itself, without the "
         "square root"),
        ((v - u).mean(),
         "the error is not squared: the mean of (v - u)**2, not of v - u"),
        ((v - u).mean().pow(2),
         "the mean is squared, not the error: the mean of (v - u)**2, not the square of the mean of v - u"),
    ]  # fmt: skip
    if x1.shape[0] == x1.shape[1]:  # B = D: t (B,) broadcasts along the coordinates without an error
        wrong = (1 - t) * x0 + t * x1
        candidates.insert(0, (
            mse(field(wrong, t), u),
            "t is not broadcast over the coordinates: with t of shape (B,) and x0 of shape (B, D), (1 "
            "- t) * x0 multiplies coordinate j of every sample by 1 - t[j] (here B = D, so no error "
            f"was raised): {_FLOW}",
        ))  # fmt: skip
    return candidates


def _diagnose_loss(
    answer: Callable, got: Tensor, field: _Field, x1: Tensor, x0: Tensor, t: Tensor, what: str
) -> None:
    with torch.no_grad():
        want = reference_flow_matching_loss(field, x1, x0, t)
        for value, message in _loss_candidates(field, x1, x0, t):
            if _close(got, value):
                raise AssertionError(f"on {what}: {message}")
    again = _loss_output(answer, field, x1.clone(), x0.clone(), t.clone())
    if not _close(again, got):
        raise AssertionError(
            f"on {what}: the loss changes from one call to the next on the same inputs: it must use "
            "the given noise x0 and times t (drawn by the caller), not draw its own with torch.randn "
            "or torch.rand"
        )
    raise AssertionError(
        f"on {what}: the loss is {float(got):.6g} where {float(want):.6g} was expected: {_LOSS}"
    )


def check_flow_matching_loss(my_flow_matching_loss: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``my_flow_matching_loss(field, x1, x0, t)``
    returns the mean over the batch and the coordinates of ``(field(x_t, t) - (x1 - x0))**2`` with
    ``x_t = (1 - t) x0 + t x1``, a scalar tensor whose gradients with respect to the field's parameters
    are autograd's, and leaves its inputs unchanged."""
    for number in range(len(_LOSS_CASES)):
        field, x1, x0, t, what = _loss_case(number)
        got = _loss_output(my_flow_matching_loss, field, x1, x0, t)
        if not _close(got, reference_flow_matching_loss(field, x1, x0, t)):
            _diagnose_loss(my_flow_matching_loss, got, field, x1, x0, t, what)

    # gradients with respect to the field's parameters, on every case
    for number in range(len(_LOSS_CASES)):
        field, x1, x0, t, what = _loss_case(number)
        got = _loss_output(my_flow_matching_loss, field, x1, x0, t)
        if not got.requires_grad:
            raise AssertionError(
                "the loss carries no gradient to the field's parameters: something cut it from the autograd "
                "graph (a .detach() of the field's output, torch.no_grad(), or numbers rebuilt from "
                ".item() / .numpy()); the field learns only through this gradient"
            )
        want = reference_flow_matching_loss(field, x1, x0, t)
        parameters = {f"the field's parameter {name}": p for name, p in field.named_parameters()}
        assert_same_gradients(got, want, parameters, f"the loss on {what}", _RTOL, _ATOL)


# --------------------------------------------------------------------------------------------------
# Step 2: the Euler sampler

_EULER = "h = 1 / steps; for k in range(steps): x = x + h * field(x, k * h); return x"
_A, _B = 0.9, 2.0  # the linear field a x and the field b t


class _RecordingField:
    """field(x, t) for the sampler's check: x of the shape of x0, t a number or a tensor of shape (B,) (as
    the course's VectorField takes it); records the time of each call (NaN when t differs across the
    batch) and calls ``fn(x, t)`` with t of shape (B,)."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...]):
        self.fn, self.shape, self.times = fn, shape, []

    def __call__(self, x, t):
        if not isinstance(x, Tensor) or tuple(x.shape) != self.shape:
            raise ValueError(
                f"the field takes x first, a tensor of shape {self.shape}, then t: field(x, t); got x = "
                f"{_describe(x)}"
            )
        batch = self.shape[0]
        if isinstance(t, Tensor) and t.ndim == 0:
            t = t.item()
        if isinstance(t, numbers.Real) and not isinstance(t, bool):
            t = torch.full((batch,), float(t), dtype=x.dtype, device=x.device)
        elif not isinstance(t, Tensor) or tuple(t.shape) != (batch,):
            raise ValueError(
                f"the field takes the time t as a number or a tensor of shape ({batch},), got t = "
                f"{_describe(t)}"
            )
        t = t.detach().to(x.dtype)
        self.times.append(float(t[0]) if bool(torch.all(t == t[0])) else math.nan)
        return self.fn(x, t)


def _linear(x: Tensor, t: Tensor) -> Tensor:
    return _A * x


def _ramp(x: Tensor, t: Tensor) -> Tensor:
    return _B * t[:, None] * torch.ones_like(x)


def _wave(x: Tensor, t: Tensor) -> Tensor:
    return torch.sin(1.5 * x.flip(-1) + t[:, None]) * (1 + t)[:, None] - 0.5 * x


def _integrated(fn: Callable, x0: Tensor, steps: int, method: str = "euler") -> Tensor:
    """gm.diffusion.integrate of dx/dt = fn(x, t) from 0 to 1."""

    def f(s: float, x: Tensor) -> Tensor:
        return fn(x, torch.full((len(x),), s, dtype=x.dtype))

    return integrate(f, x0, 0.0, 1.0, steps, method)


# (the field, its description, steps, x0's shape, the exact Euler solution or None for gm's integrate)
_SAMPLER_CASES = (
    (_linear, f"the linear field a x (a = {_A:g}), steps = 4", 4, (6, 2),
     lambda x0, n: (1 + _A / n) ** n * x0.double()),
    (_ramp, f"the field b t (b = {_B:g}), the same at every x, steps = 5", 5, (3, 3),
     lambda x0, n: x0.double() + _B * (n - 1) / (2 * n)),
    (_wave, "a nonlinear field of x and t, steps = 10", 10, (8, 2), None),
    (_linear, f"the linear field a x (a = {_A:g}), steps = 1", 1, (4, 2),
     lambda x0, n: (1 + _A / n) ** n * x0.double()),
    (_wave, "a single sample (B = 1), steps = 3", 3, (1, 2), None),
)  # fmt: skip


def _euler(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x, k * h)
    return x


def _loop(times: Callable[[int, int], float], size: Callable[[int], float], count: Callable[[int], int]):
    """A wrong Euler: ``count(steps)`` steps of size ``size(steps)`` at the times ``times(k, steps)``."""

    def sampler(field, x0, steps):
        x = x0
        for k in range(count(steps)):
            x = x + size(steps) * field(x, times(k, steps))
        return x

    return sampler


def _at_start(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        x = x + h * field(x0, k * h)
    return x


def _two_stage(field, x0, steps, midpoint: bool):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        k1 = field(x, k * h)
        if midpoint:
            x = x + h * field(x + h / 2 * k1, (k + 0.5) * h)
        else:
            x = x + h / 2 * (k1 + field(x + h * k1, (k + 1) * h))
    return x


def _rk4(field, x0, steps):
    h = 1.0 / steps
    x = x0
    for k in range(steps):
        t = k * h
        k1 = field(x, t)
        k2 = field(x + h / 2 * k1, t + h / 2)
        k3 = field(x + h / 2 * k2, t + h / 2)
        k4 = field(x + h * k3, t + h)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


_STEP = "Euler makes `steps` steps, x = x + h * field(x, t_k) at t_k = k * h, k = 0 .. steps - 1"
_SAMPLER_MISTAKES = (
    (lambda f, x, n: _two_stage(f, x, n, midpoint=False),
     "this is Heun's method, a second-order method (two evaluations of the field per step, their average): "
     f"the exercise asks for Euler, one evaluation per step: {_EULER}"),
    (lambda f, x, n: _two_stage(f, x, n, midpoint=True),
     "this is the midpoint rule, a second-order method (two evaluations of the field per step): the "
     f"exercise asks for Euler, one evaluation per step: {_EULER}"),
    (_rk4,
     "this is RK4, a fourth-order method (four evaluations of the field per step): the exercise asks for "
     f"Euler, one evaluation per step: {_EULER}"),
    (_at_start,
     "the field is evaluated at x0 at every step, not at the current x: field(x, t_k) with the x of the "
     f"step: {_EULER}"),
    (_loop(lambda k, n: k / n, lambda n: 1 / n, lambda n: n + 1),
     f"steps + 1 steps (range(steps + 1)), which end at t = 1 + h, past the data: {_STEP}"),
    (_loop(lambda k, n: k / n, lambda n: 1 / n, lambda n: n - 1),
     f"steps - 1 steps, which stop at t = 1 - h, short of the data: {_STEP}"),
    (_loop(lambda k, n: (k + 1) / n, lambda n: 1 / n, lambda n: n),
     "the field is evaluated at the end of each step, t_k = (k + 1) * h (the right end points): Euler "
     f"evaluates it at the start, t_k = k * h, k = 0 .. steps - 1: {_EULER}"),
    (_loop(lambda k, n: k / (n - 1) if n > 1 else 0.0, lambda n: 1 / n, lambda n: n),
     "the times are torch.linspace(0, 1, steps), k / (steps - 1), which reach t = 1 at the last step: the "
     "steps start at t_k = k / steps, k = 0 .. steps - 1 (torch.linspace(0, 1, steps + 1)[:-1])"),
    (_loop(lambda k, n: k / n, lambda n: 1.0, lambda n: n),
     f"the step size is 1, not h = 1 / steps: the update is multiplied by h, {_EULER}"),
    (_loop(lambda k, n: float(k), lambda n: 1.0, lambda n: n),
     f"the step size is 1 and the time the step number k: divide by steps, h = 1 / steps and t_k = k * h: "
     f"{_EULER}"),
    (_loop(lambda k, n: 1 - k / n, lambda n: -1 / n, lambda n: n),
     "it integrates from t = 1 back to t = 0 (x = x - h * field(x, 1 - k * h)), the direction of the "
     "likelihood, not of sampling: the noise x0 is at t = 0, the data at t = 1; integrate forwards, "
     + _EULER),
    (_loop(lambda k, n: 1 - k / n, lambda n: 1 / n, lambda n: n),
     "the times run from 1 down to 0 (t_k = 1 - k * h): the noise x0 is at t = 0 and the data at t = 1, so "
     f"the times run upwards: {_EULER}"),
)  # fmt: skip


def _sampler_cause(error: BaseException) -> str:
    text = str(error)
    in_place = _in_place_cause(error)
    if in_place:
        return in_place
    if "the field takes x first" in text:
        return (
            "call the field as field(x, t), x first (gm.diffusion.integrate's right-hand side f(t, y) has "
            "the opposite order)"
        )
    if "the field takes the time t" in text:
        return (
            "pass the time as a number, field(x, k * h) (or a tensor of shape (B,), "
            "torch.full((len(x),), k * h))"
        )
    return (
        "it was called with a field(x, t) (x (B, D), t a number or a tensor (B,)), x0 of shape (B, D) and an "
        "integer steps: try it by hand on such inputs to see where it fails"
    )


def _run_sampler(sampler: Callable, fn: Callable, x0: Tensor, steps: int) -> tuple[Tensor, list[float]]:
    field = _RecordingField(fn, tuple(x0.shape))
    with torch.no_grad():
        return sampler(field, x0.clone(), steps), field.times


def _same_times(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(p - q) < 1e-6 for p, q in zip(a, b, strict=True))


def _times_text(times: list[float]) -> str:
    shown = ", ".join("varies across the batch" if math.isnan(t) else f"{t:.4g}" for t in times[:12])
    return f"[{shown}{', ...' if len(times) > 12 else ''}]"


def _sampler_output(answer: Callable, fn: Callable, x0: Tensor, steps: int) -> tuple[Tensor, list[float]]:
    """The answer's x at t = 1 and the times of its calls, with its type, shape and x0 checked."""
    saved = x0.clone()
    field = _RecordingField(fn, tuple(x0.shape))
    what = f"my_euler_sampler(field, x0, steps={steps})"
    out = call_answer(answer, (field, x0, steps), what, _sampler_cause)
    if _changed(saved, x0):
        raise AssertionError(
            "my_euler_sampler changed x0 in place (x = x0 then x += ..., or x0.add_(...): x is the "
            "same tensor as x0): the caller's noise is lost; start from a copy or use x = x + h * "
            "field(x, t), which builds a new tensor"
        )
    if out is None:
        raise AssertionError(
            "my_euler_sampler returned None: it is not written yet, or the `return` is missing"
        )
    shape = tuple(x0.shape)
    if isinstance(out, list | tuple):
        raise AssertionError(
            f"my_euler_sampler returned a {type(out).__name__} of {len(out)} items, the whole trajectory: "
            "return only the last state, x at t = 1, a tensor of x0's shape"
        )
    if not isinstance(out, Tensor):
        raise AssertionError(
            f"my_euler_sampler returned a {type(out).__name__} object, not a torch tensor: stay in torch "
            "(no .numpy(), no .tolist())"
        )
    if tuple(out.shape) != shape:
        if out.ndim == len(shape) + 1 and tuple(out.shape[1:]) == shape:
            cause = "the whole trajectory, stacked: return only its last state, x at t = 1"
        else:
            cause = "x at t = 1 has the shape of x0"
        raise AssertionError(
            f"for x0 of shape {shape} and steps = {steps} my_euler_sampler returned shape "
            f"{tuple(out.shape)}, expected {shape}: {cause}"
        )
    return out, field.times


def check_euler_sampler(my_euler_sampler: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``my_euler_sampler(field, x0, steps)``
    integrates dx/dt = field(x, t) from t = 0 to t = 1 in ``steps`` Euler steps of size h = 1 / steps,
    calling ``field(x, t)`` once per step at t_k = k h (t a number or a tensor of shape (B,)), and returns
    x at t = 1 without changing x0."""
    for number, (fn, what, steps, shape, exact) in enumerate(_SAMPLER_CASES):
        x0 = _randn(shape, 2000 + number)
        out, times = _sampler_output(my_euler_sampler, fn, x0, steps)
        want = _integrated(fn, x0, steps) if exact is None else exact(x0, steps)
        grid = [k / steps for k in range(steps)]
        if _close(out, want) and _same_times(times, grid):
            continue
        if _close(out, x0) and not _close(want, x0):
            raise AssertionError(
                f"on {what}: my_euler_sampler returned x0 unchanged: x is never updated (the update is not "
                f"assigned, or x0 is returned instead of x): {_EULER}"
            )
        for sampler, message in _SAMPLER_MISTAKES:
            value, their_times = _run_sampler(sampler, fn, x0, steps)
            if _close(out, value) and _same_times(times, their_times):
                raise AssertionError(f"on {what}: {message}")
        if not _same_times(times, grid):
            raise AssertionError(
                f"on {what}: the field was called at t = {_times_text(times)}; Euler calls it once per "
                f"step, at t_k = k / steps = {_times_text(grid)}: {_EULER}"
            )
        worst = int((out.detach().double() - want.double()).abs().flatten().argmax())
        raise AssertionError(
            f"on {what}: x at t = 1 is {float(out.flatten()[worst]):.6g} where "
            f"{float(want.flatten()[worst]):.6g} was expected (the field was called at the right "
            f"times): {_EULER}"
        )


# --------------------------------------------------------------------------------------------------
# Step 3: the forward noising of a DDPM

_T = 50
_BETAS64, _ALPHA_BAR64 = linear_schedule(_T, 1e-3, 0.2)
_ALPHA_BAR = _ALPHA_BAR64.float()  # as DDPM keeps it: float32, entry t - 1 for step t
_ALPHAS = (_ALPHA_BAR64 / torch.cat([torch.ones(1, dtype=torch.float64), _ALPHA_BAR64[:-1]])).float()
_BETAS = 1 - _ALPHAS  # the per-step betas, recovered from alpha_bar
_Q = "x_t = sqrt(alpha_bar[t - 1]) * x0 + sqrt(1 - alpha_bar[t - 1]) * noise"
_Q_NEEDS = {
    "x0": "the caller still needs the clean data",
    "t": "the caller still needs the steps (the network's input)",
    "noise": "the caller still needs the noise (the network's training target)",
    "alpha_bar": "the schedule is shared by every step of training",
}
_RESHAPE = "a = alpha_bar[t - 1].view(-1, *[1] * (x0.ndim - 1)), of shape (B, 1, ..., 1)"

# (x0's shape, the steps t, what the case is)
_Q_CASES = (
    ((5, 3), (1, 7, 20, 33, 49), "vectors (B = 5, D = 3)"),
    ((4, 4), (2, 10, 25, 40), "vectors with B = D = 4"),
    ((3, 2, 4, 3), (5, 30, 45), "images (B, C, H, W) = (3, 2, 4, 3)"),
    ((4, 2), (1, _T, 1, _T), f"the first and the last steps, t = 1 and t = T = {_T}"),
    ((1, 5), (25,), "a single sample (B = 1)"),
)


def _q_cause(error: BaseException) -> str:
    text = str(error)
    in_place = _in_place_cause(error)
    if in_place:
        return in_place
    if isinstance(error, IndexError) or "out of bounds" in text or "out of range" in text:
        return (
            f"alpha_bar has T = {_T} entries, indices 0 .. T - 1, and the steps run t = 1 .. T: step t "
            "is entry t - 1, alpha_bar[t - 1] (alpha_bar[t] overflows at t = T)"
        )
    if "must match the size of tensor" in text or "size mismatch" in text:
        return (
            "the coefficient alpha_bar[t - 1] has shape (B,) and broadcasts against the last dimension "
            f"of x0, not the batch: reshape it to broadcast over the features, {_RESHAPE}"
        )
    if "tensors used as indices" in text or "only integers" in text:
        return "index alpha_bar with the integer steps: alpha_bar[t - 1], t a tensor of integers (B,)"
    return (
        f"it was called with x0 (B, ...), integer steps t (B,) in 1 .. {_T}, noise shaped like x0 and "
        f"alpha_bar of shape ({_T},): try it by hand on such tensors to see where it fails"
    )


def _q_output(answer: Callable, x0: Tensor, t: Tensor, noise: Tensor, alpha_bar: Tensor) -> Tensor:
    """The answer's x_t, with its type, shape and inputs checked."""
    inputs = {"x0": x0, "t": t, "noise": noise, "alpha_bar": alpha_bar}
    saved = {name: tensor.clone() for name, tensor in inputs.items()}
    out = call_answer(answer, (x0, t, noise, alpha_bar), "my_q_sample(x0, t, noise, alpha_bar)", _q_cause)
    for name, tensor in inputs.items():
        if _changed(saved[name], tensor):
            raise AssertionError(
                f"my_q_sample changed its input `{name}` in place ({name} *= ..., {name} -= ..., "
                f"{name}.mul_(...)): {_Q_NEEDS[name]}; build new tensors, {_Q}"
            )
    if out is None:
        raise AssertionError("my_q_sample returned None: it is not written yet, or the `return` is missing")
    if not isinstance(out, Tensor):
        raise AssertionError(
            f"my_q_sample returned a {type(out).__name__} object, not a torch tensor: stay in torch (no "
            ".numpy(), no .tolist())"
        )
    if tuple(out.shape) != tuple(x0.shape):
        raise AssertionError(
            f"for x0 of shape {tuple(x0.shape)} my_q_sample returned shape {tuple(out.shape)}: x_t has "
            "the shape of x0; the coefficient alpha_bar[t - 1] (B,) must broadcast over the features, "
            f"{_RESHAPE}"
        )
    return out


def _q_candidates(x0: Tensor, t: Tensor, noise: Tensor) -> list[tuple[Tensor, str]]:
    view = (-1, *[1] * (x0.ndim - 1))

    def entry(table: Tensor, index: Tensor) -> Tensor:
        return table[index].view(view)

    ab, alpha, beta = entry(_ALPHA_BAR, t - 1), entry(_ALPHAS, t - 1), entry(_BETAS, t - 1)
    candidates = [
        (ab * x0 + (1 - ab) * noise,
         "alpha_bar is not square-rooted: the coefficients are the standard deviations sqrt(alpha_bar_t) and "
         f"sqrt(1 - alpha_bar_t), not the variances: {_Q}"),
        (ab * x0 + (1 - ab).sqrt() * noise,
         f"the data's coefficient is not square-rooted: sqrt(alpha_bar_t) * x0, not alpha_bar_t * x0: {_Q}"),
        (ab.sqrt() * x0 + (1 - ab) * noise,
         "the noise's coefficient is not square-rooted: sqrt(1 - alpha_bar_t) * noise (1 - alpha_bar_t "
         f"is the variance of the noise, not its standard deviation): {_Q}"),
        ((1 - ab).sqrt() * x0 + ab.sqrt() * noise,
         "the coefficients are swapped: sqrt(alpha_bar_t) multiplies the data x0 and sqrt(1 - "
         f"alpha_bar_t) the noise (alpha_bar_t falls from about 1 at t = 1 to about 0 at t = T): {_Q}"),
        (ab.sqrt() * x0 + beta.sqrt() * noise,
         "beta_t is used for the noise instead of 1 - alpha_bar_t: beta_t is the variance the single step t "
         f"adds, 1 - alpha_bar_t the variance accumulated over the steps 1 .. t: {_Q}"),
        (ab.sqrt() * x0 + beta * noise,
         "beta_t is used for the noise instead of sqrt(1 - alpha_bar_t): beta_t is the variance the "
         f"single step t adds, 1 - alpha_bar_t the variance accumulated over the steps 1 .. t: {_Q}"),
        (alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise,
         "the per-step alpha_t = 1 - beta_t is used instead of the cumulative alpha_bar_t = alpha_1 "
         f"... alpha_t: q(x_t | x_0) jumps from the data to step t at once, {_Q}"),
        (entry(_ALPHA_BAR, t - 2).sqrt() * x0 + (1 - entry(_ALPHA_BAR, t - 2)).sqrt() * noise,
         "off by one: alpha_bar[t - 2] is step t - 1; the steps run t = 1 .. T and step t is entry t - 1, "
         "alpha_bar[t - 1]"),
        (ab.sqrt() * x0 + (1 - ab.sqrt()) * noise,
         "the noise's coefficient is 1 - sqrt(alpha_bar_t): it is sqrt(1 - alpha_bar_t), so that the "
         f"variances alpha_bar_t and 1 - alpha_bar_t add up to 1: {_Q}"),
        (ab.sqrt() * x0 + noise,
         f"the noise is not scaled: it is multiplied by sqrt(1 - alpha_bar_t): {_Q}"),
        (x0 + (1 - ab).sqrt() * noise,
         "the data is not scaled: it is multiplied by sqrt(alpha_bar_t), so that x_t keeps unit variance and "
         f"ends as pure noise at t = T: {_Q}"),
    ]  # fmt: skip
    if int(t.max()) < _T:
        next_ab = entry(_ALPHA_BAR, t)
        candidates.append((
            next_ab.sqrt() * x0 + (1 - next_ab).sqrt() * noise,
            "off by one: alpha_bar[t] is step t + 1 (0-based steps); the steps run t = 1 .. T and step t is "
            "entry t - 1, alpha_bar[t - 1]",
        ))  # fmt: skip
    if x0.shape[-1] == len(x0):  # the coefficient (B,) broadcasts along the last dimension without an error
        flat = _ALPHA_BAR[t - 1]
        candidates.insert(0, (
            flat.sqrt() * x0 + (1 - flat).sqrt() * noise,
            "the coefficient alpha_bar[t - 1], of shape (B,), is broadcast along the last dimension of "
            "x0 (the features), not along the batch (here the last dimension has B entries, so no "
            "error was raised): "
            + _RESHAPE,
        ))  # fmt: skip
    return candidates


def _diagnose_q(answer: Callable, got: Tensor, x0: Tensor, t: Tensor, noise: Tensor, what: str) -> None:
    for value, message in _q_candidates(x0, t, noise):
        if _close(got, value):
            raise AssertionError(f"on {what}: {message}")
    ab = _ALPHA_BAR[t - 1].view(-1, *[1] * (x0.ndim - 1))
    marginal = Normal(ab.sqrt() * x0, (1 - ab).sqrt())  # q(x_t | x0)
    mean = _q_output(answer, x0.clone(), t.clone(), torch.zeros_like(noise), _ALPHA_BAR.clone())
    spread = _q_output(answer, torch.zeros_like(x0), t.clone(), noise.clone(), _ALPHA_BAR.clone())
    mean_ok = _close(mean, marginal.mean)
    spread_ok = _close(spread, marginal.stddev * noise)
    if mean_ok and not spread_ok:
        cause = "with noise = 0 the mean sqrt(alpha_bar_t) * x0 is right, the noise term is not: " + _Q
    elif spread_ok and not mean_ok:
        cause = "with x0 = 0 the noise term sqrt(1 - alpha_bar_t) * noise is right, the mean is not: " + _Q
    else:
        cause = _Q
    raise AssertionError(f"on {what}: x_t differs from q(x_t | x0)'s draw with this noise: {cause}")


def check_q_sample(my_q_sample: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``my_q_sample(x0, t, noise, alpha_bar)``
    returns ``sqrt(alpha_bar[t - 1]) x0 + sqrt(1 - alpha_bar[t - 1]) noise`` for integer steps t (B,) in
    1 .. T, broadcast over the features of x0 (B, ...), and leaves its inputs unchanged."""
    for number, (shape, steps, what) in enumerate(_Q_CASES):
        x0 = 1.5 * _randn(shape, 3000 + number) + 0.5
        noise = _randn(shape, 3100 + number)
        t = torch.tensor(steps)
        got = _q_output(my_q_sample, x0, t, noise, _ALPHA_BAR.clone())
        if not _close(got, q_sample(x0, t, noise, _ALPHA_BAR)):
            _diagnose_q(my_q_sample, got, x0, t, noise, what)
