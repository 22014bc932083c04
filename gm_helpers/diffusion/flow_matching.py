r"""Conditional flow matching on the straight path from noise to data, and the likelihood of its flow.

The path: :math:`x_t = (1 - t)\, x_0 + t\, x_1` with :math:`x_0 \sim \mathcal{N}(0, I)` independent of
the data :math:`x_1`; along it each pair moves at the constant velocity :math:`u = x_1 - x_0`. The
network regresses that velocity at random times:

.. math:: \mathcal{L}_\mathrm{CFM}(\theta) = \mathbb{E}_{t \sim U[0, 1],\, x_0,\, x_1}
    \big\| v_\theta(x_t, t) - (x_1 - x_0) \big\|^2 .

Its minimizer is the marginal field :math:`u_t(x) = \mathbb{E}[x_1 - x_0 \mid x_t = x]`, which moves
the whole distribution :math:`p_t` of :math:`x_t` from :math:`p_0 = \mathcal{N}(0, I)` to the data
distribution :math:`p_1`: sampling solves :math:`\mathrm{d}x/\mathrm{d}t = v_\theta(x, t)` from t = 0 to
t = 1. The model is a continuous normalizing flow, so its density follows from the instantaneous
change of variables,

.. math:: \frac{\mathrm{d}}{\mathrm{d}t} \log p_t(x_t) = -\nabla \cdot v_\theta(x_t, t), \qquad
    \log p_1(x_1) = \log \mathcal{N}(x_0; 0, I) - \int_0^1 \nabla \cdot v_\theta(x_t, t)\, \mathrm{d}t,

integrated backwards from the data point :math:`x_1` at t = 1 to :math:`x_0` at t = 0.

References:
    Lipman et al., Flow Matching for Generative Modeling, arXiv:2210.02747.
    Liu, Gong and Liu, Flow Straight and Fast (rectified flow), arXiv:2209.03003.
    Tong et al., Improving and generalizing flow-based generative models with minibatch optimal
    transport (I-CFM: the independent coupling used here), arXiv:2302.00482.
    Chen et al., Neural Ordinary Differential Equations, arXiv:1806.07366 (instantaneous change of
    variables); Grathwohl et al., FFJORD, arXiv:1810.01367 (Hutchinson's trace estimator).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gm_helpers.diffusion.ode import integrate
from gm_helpers.diffusion.vector_field import FieldModel, classifier_free_guidance, draw

__all__ = ["COUPLINGS", "FlowMatching", "divergence", "flow_matching_loss", "ot_pairing"]


COUPLINGS = ("independent", "ot")


def ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    r"""The noise ``x0`` reordered so that row i is paired with ``x1[i]`` by the optimal transport plan
    of the minibatch: the permutation that minimizes :math:`\sum_i \| x_0^{\sigma(i)} - x_1^i \|^2`
    (an assignment problem, solved exactly by ``scipy.optimize.linear_sum_assignment``).

    Reference: Tong et al., arXiv:2302.00482 (OT-CFM); Pooladian et al., arXiv:2304.14772.
    """
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(x1.detach().flatten(1).double(), x0.detach().flatten(1).double()).pow(2)
    rows, columns = linear_sum_assignment(cost.cpu().numpy())
    order = torch.empty(len(x1), dtype=torch.long)
    order[torch.as_tensor(rows)] = torch.as_tensor(columns)
    return x0[order.to(x0.device)]


def flow_matching_loss(
    field: Callable,
    x1: Tensor,
    context: Tensor | None = None,
    generator: torch.Generator | None = None,
    coupling: str = "independent",
) -> Tensor:
    r"""The conditional flow-matching loss of a batch of data ``x1`` (B, ...): the mean squared error
    :math:`\| v(x_t, t) - (x_1 - x_0) \|^2` per coordinate, with one t ~ U[0, 1] and one
    :math:`x_0 \sim \mathcal{N}(0, I)` per sample (drawn from ``generator`` when given).

    ``field(x, t, context)`` gets x of the shape of ``x1`` and t of shape (B,). ``coupling``:
    ``"independent"`` pairs each data point with its own noise draw (I-CFM); ``"ot"`` pairs the
    batch's noise and data by the minibatch optimal transport plan (:func:`ot_pairing`; OT-CFM,
    Tong et al., arXiv:2302.00482): straighter paths, a target of lower variance, faster training.
    The pairing ignores the condition, so ``"ot"`` is for unconditional models only.
    """
    if not isinstance(x1, Tensor) or x1.ndim < 2 or not len(x1):
        raise ValueError("x1 must be a non-empty batched tensor (B, ...)")
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
    if coupling == "ot" and context is not None:
        raise ValueError(
            "coupling='ot' pairs noise and data across the whole batch, which would mix the conditions: "
            "use coupling='independent' for a conditional model"
        )
    x0 = draw(torch.randn, tuple(x1.shape), x1, generator)
    if coupling == "ot":
        x0 = ot_pairing(x0, x1)
    t = draw(torch.rand, (len(x1),), x1, generator)
    tb = t.view(-1, *[1] * (x1.ndim - 1))
    v = field((1 - tb) * x0 + tb * x1, t, context)
    if not isinstance(v, Tensor) or v.shape != x1.shape:
        got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"the field must return the shape of x, {tuple(x1.shape)}, got {got}")
    return (v - (x1 - x0)).pow(2).mean()


def divergence(
    fn: Callable[[Tensor], Tensor], x: Tensor, probes: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""``fn(x)`` and its divergence :math:`\nabla \cdot f = \mathrm{tr}\, \partial f / \partial x` per row.

    Without ``probes``: the exact trace, one backward pass per dimension (for small D). With
    ``probes`` of shape (P, B, D) (Rademacher, entries ±1): Hutchinson's unbiased estimate
    :math:`\frac{1}{P} \sum_p \epsilon_p^\top (\partial f / \partial x)\, \epsilon_p`, one
    vector-Jacobian product per probe whatever D (Hutchinson 1989; FFJORD, arXiv:1810.01367).

    Both results are detached: for evaluation, not for training.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x)
        if not out.requires_grad:  # f does not depend on x (nor on parameters): a constant field
            return out.detach(), torch.zeros(len(x), dtype=x.dtype, device=x.device)

        def vjp(vector: Tensor) -> Tensor:
            (grad,) = torch.autograd.grad(out, x, vector, retain_graph=True, allow_unused=True)
            return torch.zeros_like(x) if grad is None else grad

        if probes is None:  # row i of the Jacobian from the basis vector e_i: keep its diagonal entry
            div = torch.zeros(len(x), dtype=x.dtype, device=x.device)
            for i in range(x.shape[1]):
                basis = torch.zeros_like(x)
                basis[:, i] = 1
                div = div + vjp(basis)[:, i]
        else:
            div = sum((vjp(eps) * eps).sum(1) for eps in probes) / len(probes)
    return out.detach(), div.detach()


class FlowMatching(FieldModel):
    r"""A flow-matching model: a velocity field :math:`v_\theta(x, t \mid c)` carrying
    :math:`\mathcal{N}(0, I)` at t = 0 to the data at t = 1 (see the module docstring).

    Arguments:
        network: the field, a :class:`VectorField` (or any module or function ``network(x, t, context)``
            with x (B, D), t (B,); an exact field, say, to test the sampler).
        features: D, when the network does not tell it.
        coupling: how training pairs noise and data (:func:`flow_matching_loss`): ``"independent"``
            (I-CFM) or ``"ot"``, the minibatch optimal transport plan (OT-CFM, unconditional only).

    Example:
        >>> from gm_helpers.diffusion.vector_field import VectorField
        >>> model = FlowMatching(VectorField(2, hidden=(32, 32)))
        >>> model.loss(torch.randn(8, 2)).shape, model.sample(5, steps=4).shape
        (torch.Size([]), torch.Size([5, 2]))
    """

    def __init__(self, network: Callable, features: int | None = None, coupling: str = "independent"):
        super().__init__(network, features)
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
        self.coupling = coupling

    def loss(
        self, x: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """The CFM loss of a batch x (B, D) (:func:`flow_matching_loss`), what training minimizes."""
        self._check_x(x)
        return flow_matching_loss(self.network, x, context, generator, self.coupling)

    def velocity(
        self, x: Tensor, t: float | Tensor, context: Tensor | None = None, guidance: float = 0.0
    ) -> Tensor:
        r"""The (guided) velocity :math:`(1 + w)\, v(x, t \mid y) - w\, v(x, t \mid \varnothing)` at x."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(len(x)) if t.ndim == 0 else t
        return classifier_free_guidance(self.network, x, t, context, guidance, self.null_class)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        context=None,
        steps: int = 50,
        method: str = "heun",
        guidance: float = 0.0,
        generator: torch.Generator | None = None,
        path: bool = False,
    ) -> Tensor | list[Tensor]:
        r"""n samples: :math:`x_0 \sim \mathcal{N}(0, I)` carried by :math:`\mathrm{d}x/\mathrm{d}t =
        v(x, t \mid c)` from t = 0 to 1 in ``steps`` fixed steps of ``method`` (``"euler"``, ``"heun"``,
        ``"rk4"``: ``gm_helpers.diffusion.ode``), without autograd.

        ``context``: None, one condition for all n samples, or one per sample. ``guidance``: the
        weight w of classifier-free guidance (a class-conditional model only). ``path``: return the
        ``steps + 1`` states along the way instead (the trajectories).
        """
        self._check_n(n)
        context = self._context(context, n)
        self._check_guidance(guidance, context)
        x0 = draw(torch.randn, (n, self.features), self._anchor, generator)
        return integrate(
            lambda t, x: self.velocity(x, t, context, guidance), x0, 0.0, 1.0, steps, method, path
        )

    def log_prob(
        self,
        x: Tensor,
        context=None,
        steps: int = 100,
        method: str = "rk4",
        exact: bool = True,
        n_probes: int = 1,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""log p(x | context) of the flow, shape (B,), by the instantaneous change of variables.

        Integrates :math:`\frac{\mathrm{d}}{\mathrm{d}t}(x, \ell) = (v, \nabla \cdot v)` from (x, 0) at
        t = 1 back to :math:`(x_0, \ell_0)` at t = 0, then
        :math:`\log p_1(x) = \log \mathcal{N}(x_0; 0, I) + \ell_0`. The divergence is exact (one
        backward pass per dimension: low dimension) or, with ``exact=False``, Hutchinson's estimate
        with ``n_probes`` Rademacher probes per sample, kept fixed along the path (unbiased; any
        dimension). The result is detached (an evaluation, not a training loss).
        """
        self._check_x(x)
        if not isinstance(n_probes, int) or n_probes < 1:
            raise ValueError(f"n_probes must be a positive integer, got {n_probes!r}")
        x = x.to(self._anchor.device)
        context = self._context(context, len(x))
        probes = None
        if not exact:
            probes = 2 * (draw(torch.rand, (n_probes, *x.shape), x, generator) < 0.5).to(x.dtype) - 1

        def f(t: float, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            times = torch.full((len(x),), t, dtype=x.dtype, device=x.device)
            return divergence(lambda y: self.network(y, times, context), state[0], probes)

        x0, ell = integrate(
            f, (x, torch.zeros(len(x), dtype=x.dtype, device=x.device)), 1.0, 0.0, steps, method
        )
        return -0.5 * (x0.pow(2).sum(1) + self.features * math.log(2 * math.pi)) + ell
