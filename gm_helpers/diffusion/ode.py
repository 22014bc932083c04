r"""A tiny fixed-step ODE integrator: Euler, Heun and the classical Runge-Kutta method.

Sampling a flow-matching model and computing its likelihood both solve
:math:`\mathrm{d}y/\mathrm{d}t = f(t, y)` from :math:`t_0` to :math:`t_1` in ``steps`` equal steps of
size :math:`h = (t_1 - t_0) / \text{steps}`:

- Euler (order 1): :math:`y_{n+1} = y_n + h k_1`, :math:`k_1 = f(t_n, y_n)`;
- Heun (order 2, the explicit trapezoid): :math:`y_{n+1} = y_n + \tfrac{h}{2} (k_1 + k_2)`,
  :math:`k_2 = f(t_n + h, y_n + h k_1)`;
- RK4 (order 4): :math:`y_{n+1} = y_n + \tfrac{h}{6} (k_1 + 2 k_2 + 2 k_3 + k_4)`, with
  :math:`k_2 = f(t_n + \tfrac{h}{2}, y_n + \tfrac{h}{2} k_1)`, :math:`k_3 = f(t_n + \tfrac{h}{2},
  y_n + \tfrac{h}{2} k_2)`, :math:`k_4 = f(t_n + h, y_n + h k_3)`.

A method of order p makes an error of order :math:`h^p` at the end: halving h divides it by
:math:`2^p`. Fixed steps keep the cost known in advance (one, two or four evaluations of f per
step) and every run reproducible; adaptive solvers (``torchdiffeq``) are not needed here.

References:
    Hairer, Nørsett and Wanner, Solving Ordinary Differential Equations I (Springer, 1993), II.1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

__all__ = ["METHODS", "integrate"]

METHODS = ("euler", "heun", "rk4")

State = tuple[Tensor, ...]


def _axpy(y: State, h: float, k: State) -> State:
    return tuple(a + h * b for a, b in zip(y, k, strict=True))


def _step(f: Callable[[float, State], State], method: str, t: float, t_next: float, y: State) -> State:
    h = t_next - t
    k1 = f(t, y)
    if method == "euler":
        return _axpy(y, h, k1)
    if method == "heun":
        k2 = f(t_next, _axpy(y, h, k1))
        return tuple(a + h / 2 * (b + c) for a, b, c in zip(y, k1, k2, strict=True))
    middle = t + h / 2
    k2 = f(middle, _axpy(y, h / 2, k1))
    k3 = f(middle, _axpy(y, h / 2, k2))
    k4 = f(t_next, _axpy(y, h, k3))
    return tuple(a + h / 6 * (b + 2 * c + 2 * d + e) for a, b, c, d, e in zip(y, k1, k2, k3, k4, strict=True))


def integrate(
    f: Callable,
    state: Tensor | Sequence[Tensor],
    t0: float,
    t1: float,
    steps: int,
    method: str = "rk4",
    path: bool = False,
):
    """Solve dy/dt = f(t, y) from ``t0`` to ``t1`` (backwards when t1 < t0) in ``steps`` fixed steps.

    Arguments:
        f: the right-hand side ``f(t, y)``; t is a Python float, y has the structure of ``state``
            (a tensor, or a tuple of tensors such as (x, log-density)) and so has what f returns.
        state: y(t0).
        steps: the number of equal steps.
        method: ``"euler"`` (order 1), ``"heun"`` (order 2) or ``"rk4"`` (order 4).
        path: also return the states at every step.

    Returns:
        y(t1), with the structure of ``state``; with ``path``, the list of the ``steps + 1`` states
        y(t0), ..., y(t1). The times of the grid are exact: the last one is ``t1`` itself.

    Example:
        >>> import torch
        >>> y1 = integrate(lambda t, y: y, torch.ones(1), 0.0, 1.0, steps=10)  # dy/dt = y: e at t = 1
        >>> round(float(y1), 5)
        2.71828
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    single = isinstance(state, Tensor)
    y: State = (state,) if single else tuple(state)
    if not y or not all(isinstance(part, Tensor) for part in y):
        raise ValueError("state must be a tensor or a tuple of tensors")

    def rhs(t: float, y: State) -> State:
        out = f(t, y[0] if single else y)
        out = (out,) if single else tuple(out)
        if len(out) != len(y) or any(a.shape != b.shape for a, b in zip(out, y, strict=True)):
            raise ValueError(
                f"f(t, y) must return the shapes of y, {[tuple(a.shape) for a in y]}, "
                f"got {[tuple(a.shape) for a in out]}"
            )
        return out

    states = [y]
    for i in range(steps):
        t, t_next = t0 + (t1 - t0) * i / steps, t0 + (t1 - t0) * (i + 1) / steps
        y = _step(rhs, method, t, t_next, y)
        if path:
            states.append(y)
    if path:
        return [s[0] if single else s for s in states]
    return y[0] if single else y
