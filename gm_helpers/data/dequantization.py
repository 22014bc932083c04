"""Dequantization: fit a continuous density (a flow) to discrete data and report the likelihood of the
discrete data.

A density on integers x in {0, ..., K-1}^D is meaningless as it stands (a flow could put infinite
density on the lattice). Dequantization adds noise u in [0, 1)^D and models v = x + u instead. Then

    P(x) = integral over [0,1)^D of p_v(x + u) du  >=  exp E_{q(u|x)}[log p_v(x + u) - log q(u|x)]

(Jensen), with q = U[0, 1)^D (uniform dequantization, log q = 0) or a learned q (variational
dequantization). The flow sees a rescaled y = h(v) (v / K, then optionally a logit), and every map
is a change of variables, log p_v(v) = log p_y(h(v)) + log |det dh/dv|. ``dequantize`` returns y with
that log-det *and* -log q in one ``logdet``, so that

    log P(x) >= E[ log p_flow(y) + logdet ],

which is the number to report for the discrete data (in bits per dimension: divide by -D ln 2).

References:
    Theis et al., A note on the evaluation of generative models (arXiv:1511.01844);
    Ho et al., Flow++ (arXiv:1902.00275) for variational dequantization.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["Dequantize", "VariationalDequantizer", "bits_per_dim", "dequantize", "quantize"]


def _check_integers(x: Tensor, num_levels: int) -> None:
    if x.ndim != 2:
        raise ValueError(f"expected discrete data of shape (batch, D), got {tuple(x.shape)}")
    if x.is_floating_point() and not torch.equal(x, x.round()):
        raise ValueError("dequantize expects integer values 0..K-1 (got non-integer values)")
    if x.numel() and (x.min() < 0 or x.max() > num_levels - 1):
        raise ValueError(f"values must lie in 0..{num_levels - 1}, got [{x.min()}, {x.max()}]")


def dequantize(
    x: Tensor,
    num_levels: int,
    *,
    logit_alpha: float | None = 0.05,
    variational: VariationalDequantizer | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Continuous inputs y for a flow from integers x in {0..K-1}^D, with the log-det bookkeeping.

    With noise u ~ q(u | x) on [0, 1)^D:

    .. math:: v = (x + u) / K, \qquad y = \operatorname{logit}(\alpha + (1 - 2\alpha) v),

    .. math:: \text{logdet} = -D \log K + \sum_i \log \frac{1 - 2\alpha}{s_i (1 - s_i)} - \log q(u | x),
              \quad s = \alpha + (1 - 2\alpha) v,

    so that log P(x) >= E[log p_flow(y) + logdet] is a bound on the log-likelihood of the discrete
    data (nats per sample). Without ``logit_alpha`` y = v in [0, 1)^D and the logit term is absent.

    Arguments:
        x: integers (N, D) in 0..K-1, of any dtype.
        num_levels: K (e.g. 256 for 8-bit images, 17 for scikit-learn's 8x8 digits).
        logit_alpha: alpha of the logit map (keeps y finite), or None for y in [0, 1).
        variational: a ``VariationalDequantizer`` giving u and log q(u | x); default uniform noise.
        generator: for the uniform noise.

    Returns:
        y (N, D) as float32 (the flow's input) and logdet (N,).

    Example:
        >>> y, logdet = dequantize(torch.tensor([[0, 16]]), 17, logit_alpha=None)
        >>> bool((y >= 0).all() and (y < 1).all()), round(float(logdet), 4) == round(-2 * math.log(17), 4)
        (True, True)
    """
    _check_integers(x, num_levels)
    if logit_alpha is not None and not 0 < logit_alpha < 0.5:
        raise ValueError(f"logit_alpha must lie in (0, 0.5) or be None, got {logit_alpha}")
    x = x.float()
    if variational is None:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        log_q = x.new_zeros(x.shape[0])
    else:
        u, log_q = variational(x)
    v = (x + u) / num_levels
    logdet = -x.shape[1] * math.log(num_levels) - log_q
    if logit_alpha is None:
        return v, logdet
    s = logit_alpha + (1 - 2 * logit_alpha) * v
    y = torch.log(s) - torch.log1p(-s)
    logdet = logdet + (math.log(1 - 2 * logit_alpha) - torch.log(s) - torch.log1p(-s)).sum(1)
    return y, logdet


def quantize(y: Tensor, num_levels: int, *, logit_alpha: float | None = 0.05) -> Tensor:
    """Back from a flow's continuous samples y to integers 0..K-1: undo the logit, then floor(K v)."""
    v = y if logit_alpha is None else (torch.sigmoid(y) - logit_alpha) / (1 - 2 * logit_alpha)
    return torch.floor(v * num_levels).clamp(0, num_levels - 1).long()


def bits_per_dim(log_likelihood: Tensor | float, dims: int) -> float:
    """Negative log-likelihood in bits per dimension: -log P(x) / (D ln 2), averaged over samples."""
    return float(-torch.as_tensor(log_likelihood, dtype=torch.float64).mean() / (dims * math.log(2)))


class VariationalDequantizer(nn.Module):
    r"""Learned dequantization noise q(u | x) on (0, 1)^D: u = sigmoid(e), with e from a conditional
    spline flow given x (rescaled to [0, 1]). Trained jointly with the density model, it tightens the
    bound log P(x) >= E_q[log p(x + u) - log q(u | x)].

    log q(u | x) = log q(e | x) - sum_i log(u_i (1 - u_i))  (the sigmoid's change of variables).

    Arguments:
        features: D (at least 2).
        num_levels: K.
        transforms, hidden: size of the conditional ``gm.flows.nsf``.

    References:
        Ho et al., Flow++ (arXiv:1902.00275).
    """

    def __init__(
        self, features: int, num_levels: int, transforms: int = 2, hidden: tuple[int, ...] = (64, 64)
    ):
        super().__init__()
        from gm_helpers.flows import nsf

        self.num_levels = num_levels
        self.flow = nsf(features, context_features=features, transforms=transforms, hidden=hidden)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Noise u (N, D) for the integers x (N, D) and log q(u | x) (N,), reparameterized."""
        e, log_q = self.flow.sample_and_log_prob(len(x), context=x / (self.num_levels - 1))
        log_u, log_1mu = torch.nn.functional.logsigmoid(e), torch.nn.functional.logsigmoid(-e)
        return torch.exp(log_u), log_q - (log_u + log_1mu).sum(1)


class Dequantize(nn.Module):
    r"""Dequantization as a module, for ``train_flow(preprocess=...)``: ``Dequantize(K)(x) -> (y, logdet)``.

    The same map as :func:`dequantize`. With ``variational=VariationalDequantizer(D, K)`` its
    parameters belong to this module, so ``train_flow`` trains them with the flow's and rolls them
    back with the flow to the best validation state.

    Example:
        >>> y, logdet = Dequantize(17, logit_alpha=None)(torch.tensor([[0, 16]]))
        >>> tuple(y.shape), tuple(logdet.shape)
        ((1, 2), (1,))
    """

    def __init__(
        self,
        num_levels: int,
        logit_alpha: float | None = 0.05,
        variational: VariationalDequantizer | None = None,
    ):
        super().__init__()
        self.num_levels, self.logit_alpha, self.variational = num_levels, logit_alpha, variational

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return dequantize(x, self.num_levels, logit_alpha=self.logit_alpha, variational=self.variational)
