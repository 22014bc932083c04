"""Neural posterior estimation: a conditional flow q(theta | x) with an embedding network for x."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gm_helpers.core import to_numpy
from gm_helpers.flows import nsf
from gm_helpers.model import Model
from gm_helpers.nets import mlp
from gm_helpers.train import History, infinite_batches, prepare, seeded, train_loop

__all__ = ["NPE", "SVDEmbedding"]

_CHUNK = 8192
_LEAKAGE = "{}: the posterior estimate puts its mass outside the prior (train it longer)"


class SVDEmbedding(nn.Module):
    """DINGO's embedding network: a linear projection of the series onto a reduced basis, first
    set to the leading right-singular vectors of noise-free waveforms (then trained), followed by an
    MLP down to ``features`` summary statistics.

    Projected on an orthonormal basis, white noise stays white: the first layer keeps what the
    signals can hold and drops the dimensions only the noise fills.
    """

    def __init__(
        self, n_inputs: int, n_basis: int = 128, features: int = 64, hidden: Sequence[int] = (256, 256)
    ):
        super().__init__()
        if not 0 < n_basis <= n_inputs:
            raise ValueError(f"n_basis must lie in 1 .. n_inputs = {n_inputs}, got {n_basis}")
        self.project = nn.Linear(n_inputs, n_basis, bias=False)
        self.net = mlp(n_basis, features, hidden, activation=nn.GELU)

    @torch.no_grad()
    def init_from_waveforms(self, waveforms) -> np.ndarray:
        """Set the projection to the top singular vectors of ``waveforms`` (m, n_inputs); returns
        the fraction of their power each number of basis vectors keeps (cumulative, (n_basis,))."""
        w = np.asarray(to_numpy(waveforms), dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != self.project.in_features:
            raise ValueError(f"waveforms must have shape (m, {self.project.in_features}), got {w.shape}")
        _, s, vt = np.linalg.svd(w, full_matrices=False)
        k = self.project.out_features
        if len(vt) < k:
            raise ValueError(f"need at least n_basis = {k} waveforms for the SVD, got {len(vt)}")
        self.project.weight.copy_(torch.as_tensor(vt[:k], dtype=self.project.weight.dtype))
        power = s**2 / np.sum(s**2)
        return np.cumsum(power)[:k]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.project(x))


class NPE(Model):
    """Neural posterior estimation: q(theta | x), a conditional neural spline flow (MAF-style) whose
    context is an embedding of the data x (``SVDEmbedding``), trained jointly on simulations by
    maximum likelihood: minimize E_{theta ~ prior, x ~ p(x | theta)} [-log q(theta | x)].

    The parameters are standardized by the prior's box ``low``, ``high`` (mapped to [-2, 2]), so the
    spline's tail bound 3 covers the prior; samples outside the prior (the flow's "leakage") are
    drawn again by ``sample``.

    Arguments:
        low, high: the prior's bounds per parameter (sequences of floats).
        n_inputs: the length of a data series.
        waveforms: noise-free simulations (m, n_inputs) whose SVD initializes the embedding's
            first layer (None: a random initialization, or a checkpoint's weights).
        n_basis, features, embedding_hidden: those of ``SVDEmbedding``.
        transforms, hidden, bins: those of ``gm.flows.nsf`` (autoregressive).
        seed: seed of the initialization.

    Example:
        >>> npe = NPE([0.0, 0.0], [1.0, 2.0], n_inputs=32, n_basis=8, features=4, transforms=1,
        ...           hidden=(8,), embedding_hidden=(8,))
        >>> npe.sample(5, torch.zeros(32)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        low: Sequence[float],
        high: Sequence[float],
        n_inputs: int,
        waveforms=None,
        n_basis: int = 128,
        features: int = 64,
        embedding_hidden: Sequence[int] = (256, 256),
        transforms: int = 5,
        hidden: Sequence[int] = (128, 128),
        bins: int = 8,
        seed: int = 0,
    ):
        super().__init__()
        low64, high64 = torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
        if low64.ndim != 1 or low64.shape != high64.shape or not torch.all(high64 > low64):
            raise ValueError("low and high must be sequences of the same length with high > low")
        low, high = low64.float(), high64.float()
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        # the box samples must fall in: the float32 bounds rounded inwards, so that a sample inside
        # it is inside the prior in float64 too (2 pi in float32 is above 2 pi); not saved (derived)
        box_low = torch.where(low.double() < low64, torch.nextafter(low, torch.tensor(np.inf)), low)
        box_high = torch.where(high.double() > high64, torch.nextafter(high, torch.tensor(-np.inf)), high)
        self.register_buffer("box_low", box_low, persistent=False)
        self.register_buffer("box_high", box_high, persistent=False)
        with seeded(seed):
            self.embedding = SVDEmbedding(n_inputs, n_basis, features, embedding_hidden)
            self.flow = nsf(len(low), context_features=features, bins=bins, transforms=transforms,
                            hidden=hidden, autoregressive=True)  # fmt: skip
        self.power_kept = None if waveforms is None else self.embedding.init_from_waveforms(waveforms)

    def get_config(self) -> dict:
        config = super().get_config() | {"waveforms": None}
        return (
            config
            | {k: [float(v) for v in config[k]] for k in ("low", "high")}
            | {k: tuple(config[k]) for k in ("embedding_hidden", "hidden")}
        )

    @property
    def device(self) -> torch.device:
        return self.low.device

    @property
    def n_inputs(self) -> int:
        return self.embedding.project.in_features

    # --- the standardization of theta ---------------------------------------------------------------

    def _standardize(self, theta: Tensor) -> Tensor:
        return 4 * (theta - self.low) / (self.high - self.low) - 2

    def _unstandardize(self, u: Tensor) -> Tensor:
        return self.low + (u + 2) * (self.high - self.low) / 4

    def _log_scale(self) -> Tensor:  # log |d u / d theta|
        return torch.sum(torch.log(4 / (self.high - self.low)))

    def _x(self, x) -> Tensor:
        x = torch.as_tensor(np.asarray(to_numpy(x), dtype=np.float32) if not isinstance(x, Tensor) else x)
        x = x.to(self.device, torch.float32)
        if x.shape[-1] != self.n_inputs or x.ndim not in (1, 2):
            raise ValueError(
                f"x must have shape ({self.n_inputs},) or (n, {self.n_inputs}), got {tuple(x.shape)}"
            )
        if not torch.all(torch.isfinite(x)):
            raise ValueError("x holds NaN or infinite values")
        return x

    def _theta(self, theta) -> Tensor:
        theta = torch.as_tensor(theta).to(self.device, torch.float32)
        theta = theta[None] if theta.ndim == 1 else theta
        if theta.ndim != 2 or theta.shape[1] != len(self.low):
            raise ValueError(f"theta must have shape (n, {len(self.low)}), got {tuple(theta.shape)}")
        if not torch.all(torch.isfinite(theta)):
            raise ValueError("theta holds NaN or infinite values")
        return theta

    # --- training -----------------------------------------------------------------------------------

    def _nll(self, theta: Tensor, x: Tensor) -> Tensor:
        return -(self.flow.log_prob(self._standardize(theta), self.embedding(x)) + self._log_scale())

    def fit(
        self,
        theta,
        x,
        *,
        steps: int = 2000,
        batch_size: int = 512,
        lr: float = 1e-3,
        device: torch.device | str | None = None,
        seed: int = 0,
        progress: bool = True,
        desc: str = "NPE",
        val_data=None,
        val_context=None,
        eval_every: int = 0,
        patience: int | None = None,
        snapshot=None,
        fresh_noise: bool = False,
        clip: float = 5.0,
    ) -> History:
        """Maximum likelihood on simulations (theta, x): the course's training contract with
        ``theta`` as the data and ``x`` as their context (Adam, cosine schedule to 0).

        ``fresh_noise=True``: ``x`` are the *noise-free* waveforms, and every batch gets new
        N(0, 1) noise (the whitened noise of ``gm.data.chirp``): each simulation is seen with ever
        new noise, as DINGO trains. ``val_data``, ``val_context``: validation parameters and their
        (noisy) data; the model ends in the state of the best validation loss ``val_nll``.
        """
        theta, x = self._theta(theta).cpu(), self._x(x).cpu()
        if len(theta) != len(x):
            raise ValueError(f"theta has {len(theta)} rows but x has {len(x)}")
        if val_data is not None:
            val_data, val_context = self._theta(val_data).cpu(), self._x(val_context).cpu()
        device = prepare([self], theta, x, device, val_data, val_context)
        parameters = list(self.parameters())
        optimizer = torch.optim.Adam(parameters, lr=lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        batches = infinite_batches(theta, x, batch_size=min(batch_size, len(theta)), seed=seed, device=device)

        def step(i: int) -> dict[str, Tensor]:
            t, d = next(batches)
            if fresh_noise:
                d = d + torch.randn_like(d)
            loss = self._nll(t, d).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(parameters, clip)
            optimizer.step()
            scheduler.step()
            return {"nll": loss}

        def validate() -> dict[str, float]:
            return {"val_nll": float(self.log_prob(val_data, val_context).mean().neg())}

        with seeded(seed, device):
            history = train_loop(
                step, steps, desc=desc, progress=progress, modules=[self],
                validate=validate if val_data is not None else None,
                snapshot=None if snapshot is None else lambda: snapshot(self),
                eval_every=eval_every, monitor="val_nll" if val_data is not None else None,
                patience=patience, hint="a learning rate that is too high, or data of another scale than "
                "the simulations (x should be whitened strain, noise of unit variance)",
            )  # fmt: skip
        self.eval()
        return history

    # --- the posterior ----------------------------------------------------------------------------------

    @torch.no_grad()
    def log_prob(self, theta, x) -> Tensor:
        """log q(theta | x), (n,): one observation x (n_inputs,) for all theta, or one per row."""
        theta, x = self._theta(theta), self._x(x)
        x = x.expand(len(theta), -1) if x.ndim == 1 else x
        if len(x) != len(theta):
            raise ValueError(f"theta has {len(theta)} rows but x has {len(x)}")
        parts = [-self._nll(t, d) for t, d in zip(theta.split(_CHUNK), x.split(_CHUNK), strict=True)]
        return torch.cat(parts)

    @torch.no_grad()
    def sample_and_log_prob(self, n: int, x, max_rounds: int = 100) -> tuple[Tensor, Tensor]:
        """n posterior samples for one observation x (n_inputs,) inside the prior's box, and their
        log q: the flow's density truncated to the box, renormalized by the fraction of its draws
        that fell inside (an estimate of its mass there; a density that integrates to 1, as
        importance sampling's evidence needs)."""
        x = self._x(x)
        if x.ndim != 1:
            raise ValueError(f"sample draws for one observation: x of shape ({self.n_inputs},)")
        context = self.embedding(x[None])[0]
        kept, logq = [], []
        total = drawn = 0
        for _ in range(max_rounds):
            u, lq = self.flow.sample_and_log_prob(int(1.1 * (n - total)) + 64, context)
            drawn += len(u)
            theta = self._unstandardize(u)
            inside = torch.all((theta >= self.box_low) & (theta <= self.box_high), dim=1)
            kept.append(theta[inside])
            logq.append(lq[inside] + self._log_scale())
            total += int(inside.sum())
            if total >= n:
                return torch.cat(kept)[:n], torch.cat(logq)[:n] - math.log(total / drawn)
        raise RuntimeError(
            _LEAKAGE.format(
                f"fewer than {n} of the flow's samples fell inside the prior after {max_rounds} rounds"
            )
        )

    def sample(self, n: int, x) -> Tensor:
        """n posterior samples (n, d) for one observation x (n_inputs,), inside the prior's box."""
        return self.sample_and_log_prob(n, x)[0]

    @torch.no_grad()
    def sample_batched(self, n: int, x, max_rounds: int = 100) -> Tensor:
        """n posterior samples for each of m observations x (m, n_inputs) at once: (m, n, d), inside
        the prior's box (the few samples outside are drawn again with their own observation's context)."""
        x = self._x(x)
        x = x[None] if x.ndim == 1 else x
        context = torch.cat([self.embedding(part) for part in x.split(_CHUNK)]).repeat_interleave(n, dim=0)
        theta = torch.empty(len(context), len(self.low), device=self.device)
        todo = torch.arange(len(context), device=self.device)
        for _ in range(max_rounds):
            for part in todo.split(_CHUNK):
                theta[part] = self._unstandardize(self.flow.sample(len(part), context[part]))
            outside = ~torch.all((theta[todo] >= self.box_low) & (theta[todo] <= self.box_high), dim=1)
            todo = todo[outside]
            if not len(todo):
                return theta.reshape(len(x), n, -1)
        raise RuntimeError(
            _LEAKAGE.format(f"after {max_rounds} rounds some samples still fell outside the prior")
        )
