"""Validating a PID fast simulation the way physics does: efficiencies, mis-ID rates and a referee.

A PID cut (e.g. DLLK > 0 to select kaons) has an efficiency for the species it selects and a
mis-identification rate for the others; analyses read both off curves against momentum. A fast
simulation is good when its curves agree with the reference within the statistical errors, and
when a classifier (the "referee") trained to tell its tracks from the reference's, conditions
included, cannot: AUC 0.5.

- ``efficiency(passed, weights)``: eps = k / n with its binomial error sqrt(eps (1 - eps) / n)
  (with weights: n is Kish's effective count (sum w)^2 / sum w^2);
- ``efficiency_curve(passed, p, edges)``: the same in bins of momentum (or any variable);
- ``curve_agreement(a, b)``: per bin, the two-proportion z statistic with the pooled binomial
  error, z = (eps_a - eps_b) / sqrt(eps (1 - eps) (1 / n_a + 1 / n_b)), eps the pooled efficiency:
  |z| <= 2 is agreement within two binomial sigma (z = 0 when both are exactly 0 or 1);
- ``referee_auc``: a gradient-boosted classifier's out-of-fold AUC, overall and per bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EfficiencyCurve", "curve_agreement", "efficiency", "efficiency_curve", "referee_auc"]


def _vector(x, what: str, dtype=np.float64) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 1:
        raise ValueError(f"{what} must be one value per track (a 1-D array), got shape {x.shape}")
    if dtype is np.float64 and not np.all(np.isfinite(x)):
        raise ValueError(f"{what} must be finite (no NaN or inf)")
    return x


def _edges(edges) -> np.ndarray:
    edges = _vector(edges, "edges")
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be at least two increasing values, got {edges}")
    return edges


def _passed(passed) -> np.ndarray:
    passed = np.asarray(passed)
    if passed.dtype != bool:
        raise ValueError(
            f"passed must be booleans (the cut applied, e.g. dll[:, 2] > 0), got dtype {passed.dtype}"
        )
    return _vector(passed, "passed", bool)


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    weights = _vector(weights, "weights")
    if len(weights) != n:
        raise ValueError(f"weights must have one value per track ({n}), got {len(weights)}")
    if np.any(weights < 0):
        raise ValueError("weights must be non-negative")
    return weights


def efficiency(passed, weights=None) -> tuple[float, float]:
    """The fraction of tracks that pass and its binomial error: (eps, sqrt(eps (1 - eps) / n)).

    Example:
        >>> efficiency(np.array([True, True, True, False]))
        (0.75, 0.21650635094610965)
    """
    passed = _passed(passed)
    w = _weights(weights, len(passed))
    total = w.sum()
    if total <= 0:
        raise ValueError("no tracks (or all weights zero): the efficiency is undefined")
    eps = float(w[passed].sum() / total)
    n_effective = total**2 / np.sum(w**2)
    return eps, float(np.sqrt(eps * (1 - eps) / n_effective))


@dataclass
class EfficiencyCurve:
    """An efficiency in bins: ``edges`` (bins + 1), and per bin ``n`` (effective) tracks, the
    ``efficiency`` and its binomial ``error`` (NaN in empty bins)."""

    edges: np.ndarray
    n: np.ndarray
    efficiency: np.ndarray
    error: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def efficiency_curve(passed, variable, edges, weights=None) -> EfficiencyCurve:
    """The efficiency of a cut in bins of ``variable`` (e.g. momentum): see ``efficiency``.

    Tracks outside [edges[0], edges[-1]) are left out.
    """
    passed = _passed(passed)
    variable = _vector(variable, "the binning variable")
    if len(variable) != len(passed):
        raise ValueError(
            f"passed and the variable must have the same length, got {len(passed)} and {len(variable)}"
        )
    edges = _edges(edges)
    w = _weights(weights, len(passed))
    index = np.digitize(variable, edges) - 1
    inside = (index >= 0) & (index < len(edges) - 1)
    bins = len(edges) - 1
    total = np.bincount(index[inside], w[inside], minlength=bins)
    good = np.bincount(index[inside], (w * passed)[inside], minlength=bins)
    squares = np.bincount(index[inside], (w**2)[inside], minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        eps = np.where(total > 0, good / total, np.nan)
        n = np.where(squares > 0, total**2 / squares, 0.0)
        error = np.sqrt(eps * (1 - eps) / n)
    return EfficiencyCurve(edges, n, eps, error)


def curve_agreement(a: EfficiencyCurve, b: EfficiencyCurve) -> np.ndarray:
    """Per bin, z = (eps_a - eps_b) / pooled binomial error (NaN where either bin is empty).

    Example:
        >>> edges = np.array([0.0, 1.0])
        >>> a = efficiency_curve(np.arange(100) < 50, np.full(100, 0.5), edges)
        >>> b = efficiency_curve(np.arange(100) < 60, np.full(100, 0.5), edges)
        >>> curve_agreement(a, b).round(4)  # -0.1 / sqrt(0.55 * 0.45 * 0.02)
        array([-1.4213])
    """
    if not np.array_equal(a.edges, b.edges):
        raise ValueError("the two curves must have the same bins")
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (a.efficiency * a.n + b.efficiency * b.n) / (a.n + b.n)
        sigma = np.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
        z = np.where(sigma > 0, (a.efficiency - b.efficiency) / sigma, 0.0)
    return np.where((a.n > 0) & (b.n > 0), z, np.nan)


def referee_auc(
    reference, generated, variable_reference, variable_generated, edges, seed: int = 0, folds: int = 5
):
    """How well a classifier tells generated tracks from reference ones: (overall AUC, AUC per bin).

    ``reference`` and ``generated`` are (n, d) features of each track: the conditions and the DLLs
    side by side, so the referee judges the DLLs given the conditions. A histogram gradient-boosted
    classifier (scikit-learn) is trained ``folds`` times, each time scoring the fold it did not see;
    the AUC of those out-of-fold scores is computed over all tracks and in each bin of ``variable``
    (e.g. momentum). 0.5: indistinguishable; 1: always told apart. Bins without both classes: NaN.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    reference, generated = np.asarray(reference, np.float64), np.asarray(generated, np.float64)
    if reference.ndim != 2 or generated.ndim != 2 or reference.shape[1] != generated.shape[1]:
        raise ValueError(
            "reference and generated must be (n, d) with the same d, "
            f"got {reference.shape} and {generated.shape}"
        )
    if not (np.all(np.isfinite(reference)) and np.all(np.isfinite(generated))):
        raise ValueError("reference and generated must be finite (no NaN or inf)")
    variable = np.concatenate(
        [_vector(variable_reference, "variable_reference"), _vector(variable_generated, "variable_generated")]
    )
    if len(variable) != len(reference) + len(generated):
        raise ValueError("give one binning value per track of reference and generated")
    edges = _edges(edges)
    x = np.concatenate([reference, generated])
    y = np.concatenate([np.zeros(len(reference)), np.ones(len(generated))])
    classifier = HistGradientBoostingClassifier(max_iter=200, early_stopping=True, random_state=seed)
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, x, y, cv=split, method="predict_proba")[:, 1]
    index = np.digitize(variable, edges) - 1
    per_bin = np.full(len(edges) - 1, np.nan)
    for i in range(len(per_bin)):
        inside = index == i
        if len(np.unique(y[inside])) == 2:
            per_bin[i] = roc_auc_score(y[inside], scores[inside])
    return float(roc_auc_score(y, scores)), per_bin
