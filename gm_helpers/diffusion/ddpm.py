r"""Denoising diffusion probabilistic models (DDPM): noise the data in T small steps, learn to undo them.

The forward process adds Gaussian noise with the variances :math:`\beta_1 < \dots < \beta_T`,
:math:`q(x_t \mid x_{t-1}) = \mathcal{N}(\sqrt{1 - \beta_t}\, x_{t-1}, \beta_t I)`; its marginals are
known in closed form,

.. math:: q(x_t \mid x_0) = \mathcal{N}\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big), \quad
    \bar\alpha_t = \prod_{s=1}^t (1 - \beta_s), \quad\text{i.e.}\quad
    x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon,\ \epsilon \sim \mathcal{N}(0, I),

and :math:`\bar\alpha_T \approx 0`: :math:`x_T` is pure noise. A network :math:`\epsilon_\theta(x_t, t)`
learns to recognize the noise in :math:`x_t` (the "simple" loss,
:math:`\mathbb{E}_{t, x_0, \epsilon} \| \epsilon - \epsilon_\theta(x_t, t) \|^2`), and ancestral
sampling walks back from :math:`x_T \sim \mathcal{N}(0, I)`:

.. math:: x_{t-1} = \frac{1}{\sqrt{\alpha_t}} \Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\,
    \epsilon_\theta(x_t, t)\Big) + \sigma_t z, \quad \alpha_t = 1 - \beta_t,\ \sigma_t^2 = \beta_t,\
    z \sim \mathcal{N}(0, I)\ (z = 0 \text{ at the last step}).

The score-based reading (Song et al.): the best noise predictor is the scaled score of the noised
data, :math:`\epsilon_\theta(x_t, t) = -\sqrt{1 - \bar\alpha_t}\, \nabla_x \log q_t(x_t)` (denoising
score matching, Vincent 2011), and ancestral sampling is a discretization of the reverse-time SDE of
a variance-preserving diffusion.

Conventions: the steps are numbered t = 1 .. T as in the paper (t = 0 is the data), the network
gets the time as t / T in (0, 1], and ``betas[t - 1]``, ``alpha_bar[t - 1]`` belong to step t.

References:
    Ho, Jain and Abbeel, Denoising Diffusion Probabilistic Models, arXiv:2006.11239 (eqs. 4, 14, alg. 2).
    Song et al., Score-Based Generative Modeling through Stochastic Differential Equations,
    arXiv:2011.13456.
    Nichol and Dhariwal, Improved Denoising Diffusion Probabilistic Models, arXiv:2102.09672
    (sampling with fewer steps; the schedule rescaled for other T).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gm_helpers.diffusion.vector_field import FieldModel, classifier_free_guidance, draw

__all__ = ["DDPM", "ddpm_loss", "linear_schedule", "q_sample"]


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> tuple[Tensor, Tensor]:
    r"""The linear schedule of Ho et al.: :math:`\beta_t` evenly spaced from ``beta_start`` (t = 1) to
    ``beta_end`` (t = T), and :math:`\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)`.

    Returns:
        ``(betas, alpha_bar)``, each of shape (T,) and dtype float64; entry t - 1 is step t.

    Example:
        >>> betas, alpha_bar = linear_schedule()
        >>> float(betas[0]), float(betas[-1]), f"{float(alpha_bar[-1]):.1e}"
        (0.0001, 0.02, '4.0e-05')
    """
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T, the number of diffusion steps, must be an integer >= 1, got {T!r}")
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start} and {beta_end}")
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return betas, torch.cumprod(1 - betas, 0)


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, alpha_bar: Tensor) -> Tensor:
    r"""The forward marginal :math:`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon`.

    Arguments:
        x0: the data (B, ...). t: integer steps (B,) in 1 .. T. noise: :math:`\epsilon`, shaped like x0.
        alpha_bar: the (T,) table of :func:`linear_schedule` (entry t - 1 for step t).
    """
    if not isinstance(x0, Tensor) or x0.ndim < 2:
        raise ValueError("x0 must be a batched tensor (B, ...)")
    T = len(alpha_bar)
    if not isinstance(t, Tensor) or t.shape != (len(x0),) or t.is_floating_point() or t.is_complex():
        got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"t must be integer steps of shape ({len(x0)},), got {got}")
    if len(t) and (t.min() < 1 or t.max() > T):
        raise ValueError(
            f"the steps t must lie in 1 .. T = {T}, got values in [{int(t.min())}, {int(t.max())}]"
        )
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0, {tuple(x0.shape)}, got {tuple(noise.shape)}")
    ab = alpha_bar.to(x0.device, x0.dtype)[t - 1].view(-1, *[1] * (x0.ndim - 1))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def ddpm_loss(
    model: DDPM, x0: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None
) -> Tensor:
    r"""The simple loss of Ho et al. for a batch x0 (B, D): the mean squared error per coordinate
    :math:`\| \epsilon - \epsilon_\theta(x_t, t) \|^2`, with one t ~ U{1 .. T} and one
    :math:`\epsilon \sim \mathcal{N}(0, I)` per sample (drawn from ``generator`` when given)."""
    model._check_x(x0)
    t = (draw(torch.rand, (len(x0),), x0, generator) * model.T).long().clamp(max=model.T - 1) + 1
    noise = draw(torch.randn, tuple(x0.shape), x0, generator)
    predicted = model.network(model.q_sample(x0, t, noise), t.to(x0.dtype) / model.T, context)
    return (predicted - noise).pow(2).mean()


class DDPM(FieldModel):
    r"""A DDPM: the noise predictor :math:`\epsilon_\theta(x_t, t \mid c)` with its linear schedule.

    Arguments:
        network: :math:`\epsilon_\theta`, a :class:`VectorField` (or any ``network(x, t / T, context)``).
        T: the number of diffusion steps.
        beta_start, beta_end: the linear schedule of the betas. By default Ho et al.'s 1e-4 and 0.02
            times 1000 / T (the rule of Nichol and Dhariwal's code): for T = 1000 their values, for a
            smaller T larger steps of the same total noise, so that :math:`\bar\alpha_T` stays
            :math:`\approx 4 \cdot 10^{-5}` (beta_end at most 0.999).
        features: D, when the network does not tell it.

    Example:
        >>> from gm_helpers.diffusion.vector_field import VectorField
        >>> model = DDPM(VectorField(2, hidden=(32,)), T=100)
        >>> model.loss(torch.randn(8, 2)).shape, model.sample(5, steps=10).shape
        (torch.Size([]), torch.Size([5, 2]))
    """

    def __init__(
        self,
        network: Callable,
        T: int = 1000,
        beta_start: float | None = None,
        beta_end: float | None = None,
        features: int | None = None,
    ):
        super().__init__(network, features)
        scale = 1000 / T if isinstance(T, int) and T >= 1 else 1.0
        beta_start = 1e-4 * scale if beta_start is None else beta_start
        beta_end = min(0.02 * scale, 0.999) if beta_end is None else beta_end
        betas, alpha_bar = linear_schedule(T, beta_start, beta_end)
        self.T = T
        dtype = torch.get_default_dtype()
        self.register_buffer("betas", betas.to(dtype), persistent=False)
        self.register_buffer("alpha_bar", alpha_bar.to(dtype), persistent=False)

    def q_sample(
        self, x0: Tensor, t: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """x_t drawn from q(x_t | x0) at the integer steps t (B,) in 1 .. T (:func:`q_sample`)."""
        noise = draw(torch.randn, tuple(x0.shape), x0, generator) if noise is None else noise
        return q_sample(x0, t, noise, self.alpha_bar)

    def loss(
        self, x: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """The simple loss of a batch x (B, D) (:func:`ddpm_loss`), what training minimizes."""
        return ddpm_loss(self, x, context, generator)

    def predict_noise(
        self, x: Tensor, t: Tensor | int, context: Tensor | None = None, guidance: float = 0.0
    ) -> Tensor:
        r"""The (guided) :math:`\epsilon_\theta(x, t \mid c)`: x (B, D), integer steps t (number or (B,))."""
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(len(x)) if t.ndim == 0 else t
        if t.is_floating_point() or len(t) and (t.min() < 1 or t.max() > self.T):
            raise ValueError(f"t must be integer steps in 1 .. T = {self.T}")
        return classifier_free_guidance(
            self.network, x, t.to(x.dtype) / self.T, context, guidance, self.null_class
        )

    def score(self, x: Tensor, t: Tensor | int, context: Tensor | None = None) -> Tensor:
        r"""The score the noise predictor implies, :math:`\nabla_x \log q_t(x) = -\epsilon_\theta(x, t) /
        \sqrt{1 - \bar\alpha_t}` (Song et al., arXiv:2011.13456)."""
        eps = self.predict_noise(x, t, context)
        t = torch.as_tensor(t, device=x.device).expand(len(x))
        return -eps / (1 - self.alpha_bar[t - 1].to(x.dtype)).sqrt()[:, None]

    def timesteps(self, steps: int | None = None) -> list[int]:
        """The steps a sampler visits, from T down to 1: all of them, or ``steps`` evenly spaced ones."""
        if steps is None or steps == self.T:
            return list(range(self.T, 0, -1))
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= self.T:
            raise ValueError(f"steps must be an integer in 1 .. T = {self.T} (or None: all), got {steps!r}")
        if steps == 1:
            return [self.T]
        return [self.T - k * (self.T - 1) // (steps - 1) for k in range(steps)]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        context=None,
        steps: int | None = None,
        guidance: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""n samples by ancestral sampling (Ho et al., alg. 2, :math:`\sigma_t^2 = \beta_t`), no autograd.

        ``steps``: None walks through all T steps; fewer visit evenly spaced steps
        :math:`T = \tau_1 > \dots > \tau_S = 1` of the respaced chain, whose betas are
        :math:`1 - \bar\alpha_{\tau_i} / \bar\alpha_{\tau_{i+1}}` (Nichol and Dhariwal, section 4;
        the same sampler for S = T). ``context``: None, one condition for all samples, or one per
        sample. ``guidance``: the weight w of classifier-free guidance (class-conditional models).
        """
        self._check_n(n)
        times = self.timesteps(steps)
        context = self._context(context, n)
        self._check_guidance(guidance, context)
        x = draw(torch.randn, (n, self.features), self._anchor, generator)
        for i, t in enumerate(times):
            s = times[i + 1] if i + 1 < len(times) else 0
            ab_t = self.alpha_bar[t - 1]
            alpha = ab_t / (self.alpha_bar[s - 1] if s else 1.0)  # alpha_t of the (respaced) chain
            eps = self.predict_noise(x, t, context, guidance)
            x = (x - (1 - alpha) / (1 - ab_t).sqrt() * eps) / alpha.sqrt()
            if s:
                x = x + (1 - alpha).sqrt() * draw(torch.randn, (n, self.features), x, generator)
        return x
