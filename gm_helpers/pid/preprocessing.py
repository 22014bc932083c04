"""Preprocessing for PID generation: quantiles to a normal distribution, and back.

The DLLs have long tails, spikes at the clip (+-150) and shapes that change with momentum; the
conditions span decades (p from 3 to 200 GeV). A network learns far more easily on inputs and
outputs that look like N(0, 1) in each coordinate. scikit-learn's ``QuantileTransformer`` maps each
column through its empirical CDF and then the normal quantile function, F^-1_N(F_emp(x)), and
inverts it by interpolation: the RICH GAN (Maevskiy et al., arXiv:1905.11825) and pidgan do the
same. The charge (+-1) is kept as it is: a quantile map of a two-valued column is meaningless.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.preprocessing import QuantileTransformer

from gm_helpers.data.pid import CONDITIONS, OUTPUTS

__all__ = ["PIDScaler", "generate_dll"]

_CONTINUOUS = [CONDITIONS.index(name) for name in ("p", "eta", "nTracks")]


def _quantiles(n_quantiles: int, seed: int) -> QuantileTransformer:
    return QuantileTransformer(
        n_quantiles=n_quantiles, output_distribution="normal", subsample=10**6, random_state=seed
    )


def _check(array, columns: int, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != columns:
        raise ValueError(f"{what} must have shape (n, {columns}), got {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{what} is empty: need at least one track")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be finite (no NaN or inf)")
    return array


class PIDScaler:
    """Quantile-normalize the conditions (p, eta, nTracks; charge kept) and the four DLLs.

    ``fit(conditions, dll)`` learns the quantiles (``n_quantiles`` of them per column) on the
    training tracks; ``conditions(c)`` and ``dll(d)`` transform, ``inverse_dll(z)`` maps generated
    values back to DLLs (within the training range: a quantile map cannot extrapolate, so the
    clipped ends +-150 come back as they were seen).

    Example:
        >>> from gm_helpers.data import pid
        >>> tracks = pid.simulate("K", 5000, seed=0)
        >>> scaler = PIDScaler().fit(tracks.conditions, tracks.dll)
        >>> z = scaler.dll(tracks.dll)
        >>> bool(abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.15)
        True
        >>> bool(np.allclose(scaler.inverse_dll(z), tracks.dll, atol=1e-6))
        True
    """

    def __init__(self, n_quantiles: int = 1000, seed: int = 0):
        self.n_quantiles, self.seed = n_quantiles, seed
        self._conditions: QuantileTransformer | None = None
        self._dll: QuantileTransformer | None = None

    def fit(self, conditions, dll) -> PIDScaler:
        conditions = _check(conditions, len(CONDITIONS), "conditions")
        dll = _check(dll, len(OUTPUTS), "dll")
        if len(conditions) != len(dll):
            raise ValueError(
                f"conditions and dll must have the same length, got {len(conditions)} and {len(dll)}"
            )
        if len(dll) < 10:
            raise ValueError(f"need at least 10 tracks to learn quantiles, got {len(dll)}")
        n = min(self.n_quantiles, len(dll))
        self._conditions = _quantiles(n, self.seed).fit(conditions[:, _CONTINUOUS])
        self._dll = _quantiles(n, self.seed).fit(dll)
        return self

    def _fitted(self) -> None:
        if self._dll is None:
            raise RuntimeError("the scaler is not fitted yet: call fit(conditions, dll) first")

    def conditions(self, conditions) -> np.ndarray:
        """(n, 4) conditions -> (n, 4): quantile-normal p, eta, nTracks, and the charge as it is."""
        self._fitted()
        conditions = _check(conditions, len(CONDITIONS), "conditions")
        out = conditions.copy()
        out[:, _CONTINUOUS] = self._conditions.transform(conditions[:, _CONTINUOUS])
        return out

    def dll(self, dll) -> np.ndarray:
        """(n, 4) DLLs -> (n, 4) quantile-normal values."""
        self._fitted()
        return self._dll.transform(_check(dll, len(OUTPUTS), "dll"))

    def inverse_dll(self, z) -> np.ndarray:
        """(n, 4) generated quantile-normal values -> (n, 4) DLLs."""
        self._fitted()
        return self._dll.inverse_transform(_check(z, len(OUTPUTS), "generated values"))


def generate_dll(
    sample: Callable[[torch.Tensor], torch.Tensor],
    scaler: PIDScaler,
    conditions,
    batch_size: int = 10_000,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, float]:
    """Generate DLLs for the given (n, 4) conditions: normalize, sample, map back; and time it.

    ``sample(context)`` draws one normalized (n, 4) output per row of the normalized context, e.g.
    ``lambda c: generator.sample(len(c), c)`` or ``lambda c: flow.sample(len(c), c)``. Returns the
    (n, 4) DLLs and the throughput in tracks per second (the whole pipeline, preprocessing
    included, as a fast simulation would run it).
    """
    start = time.perf_counter()
    context = torch.as_tensor(scaler.conditions(conditions), dtype=torch.float32)
    outputs = []
    with torch.no_grad():
        for chunk in torch.split(context, batch_size):
            outputs.append(sample(chunk if device is None else chunk.to(device)).float().cpu().numpy())
    dll = scaler.inverse_dll(np.concatenate(outputs))
    seconds = time.perf_counter() - start
    return dll, len(dll) / max(seconds, 1e-9)
