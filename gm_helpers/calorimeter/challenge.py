"""The hackathon challenge: score a conditional generator of calorimeter showers against the simulator.

``score(generate)`` asks ``generate`` for showers at the incident energies of a fresh reference
sample from ``gm.data.calorimeter.simulate`` and reports how well a fixed classifier tells the two
apart (ROC AUC, 0.5 = indistinguishable), the Wasserstein distance of every shower observable,
and the generation speed; each call appends one line to a leaderboard CSV.

References:
    CaloGAN, arXiv:1705.02355 (classifier test: AUC = 1.000 against Geant4);
    CaloFlow, arXiv:2106.05285 (section 4: the classifier test as the figure of merit).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from gm_helpers.core import to_numpy
from gm_helpers.data.calorimeter import (
    LAYER_SHAPES,
    N_CELLS,
    PARTICLES,
    Showers,
    shower_observables,
    simulate,
)
from gm_helpers.metrics import classifier_two_sample_auc, wasserstein_1d

__all__ = ["DEFAULT_LEADERBOARD", "ChallengeScore", "classifier_features", "score"]

DEFAULT_LEADERBOARD = Path(__file__).resolve().parents[2] / "bench" / "leaderboard.csv"
SCORE_SEED = 2026  # the reference showers are simulate(n, particle, seed=SCORE_SEED): never train on them
_VISIBLE_FRACTION = {"e+": 0.19, "gamma": 0.19, "pi+": 0.09}  # median E_tot / E_inc of the simulator
_LEADERBOARD_COLUMNS = ("utc", "name", "particle", "n", "seed", "auc", "w1_normalized", "showers_per_second")


@dataclass
class ChallengeScore:
    """Result of ``score``: lower ``auc`` and ``w1_normalized`` are better, higher speed is better."""

    name: str
    particle: str
    n: int
    seed: int
    auc: float  # classifier two-sample test, cross-validated ROC AUC (0.5 = indistinguishable)
    distances: dict[str, float]  # Wasserstein-1 distance of each observable (its own units)
    w1_normalized: float  # mean over observables of W1 / (standard deviation in the reference)
    showers_per_second: float  # n / wall-clock time of one call generate(energies)
    reference: Showers = field(repr=False)
    generated: Showers = field(repr=False)

    def __str__(self) -> str:
        return (
            f"{self.name} ({self.particle}, n={self.n}): classifier AUC {self.auc:.3f}, "
            f"mean normalized W1 {self.w1_normalized:.3f}, {self.showers_per_second:,.0f} showers/s"
        )


def classifier_features(showers: Showers) -> np.ndarray:
    """The fixed input of the challenge classifier, (n, 512).

    log(1 + 10^4 x) of the 504 cells divided by the incident energy (x = cell / E_inc, both in MeV),
    log(1 + E_i / MeV) of the 3 layer energies, log(1 + 10^4 E_i / E_inc), E_tot / E_inc and
    log(E_inc / MeV). The cells and layers enter both per unit of incident energy and in MeV, so
    that a tree can see a wrong energy scale without having to learn a ratio.
    """
    incident = 1000.0 * np.asarray(showers.energy, dtype=np.float64)[:, None]
    layers = showers.layer_energies
    return np.hstack([
        np.log1p(1e4 * showers.cells / incident),
        np.log1p(layers),
        np.log1p(1e4 * layers / incident),
        layers.sum(axis=1, keepdims=True) / incident,
        np.log(incident),
    ])  # fmt: skip


def _challenge_classifier(seed: int):
    """HistGradientBoostingClassifier with scikit-learn defaults (100 trees, 31 leaves), early stopping."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(early_stopping=True, random_state=seed)


def score(
    generate: Callable[[torch.Tensor], object],
    particle: str = "e+",
    n: int = 10_000,
    seed: int = SCORE_SEED,
    name: str = "unnamed",
    leaderboard: str | Path | None = DEFAULT_LEADERBOARD,
) -> ChallengeScore:
    """Score a conditional shower generator against fresh simulator showers.

    1. A reference sample ``simulate(n, particle, seed=seed)`` is drawn; ``generate`` is called
       once with its incident energies, a CPU float32 tensor of shape (n,) in GeV (after a small
       warm-up call), and must return the cell energies in MeV: an (n, 504) array or tensor in
       the order of ``Showers.cells``, three arrays of shapes (n, 3, 96), (n, 12, 12), (n, 12, 6),
       or a ``Showers``. Shapes, finiteness, non-negativity and units are checked.
    2. Classifier test: ``HistGradientBoostingClassifier`` (scikit-learn defaults, early stopping,
       one OpenMP thread) on ``classifier_features``, 5-fold cross-validated ROC AUC of generated
       vs reference showers (``gm_helpers.metrics.classifier_two_sample_auc``). Fixed once: never
       change it to flatter a model.
    3. Wasserstein-1 distance of every observable of ``shower_observables``, and their mean after
       dividing each by the reference standard deviation.
    4. Speed: n divided by the wall-clock time of the timed ``generate`` call (GPU work included).

    Arguments:
        generate: function incident energies (GeV) -> showers (MeV).
        particle: "e+", "gamma" or "pi+".
        n: number of showers in the reference and in the generated sample.
        seed: seed of the reference sample and of the classifier. Train on other seeds.
        name: the name written to the leaderboard.
        leaderboard: CSV file that gets one line per call (created with a header), or None.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> result = score(lambda e: simulate(len(e), energy=e, seed=7).cells, n=200, leaderboard=None)
        >>> 0.3 < result.auc < 0.7
        True
    """
    if particle not in PARTICLES:
        raise ValueError(f"unknown particle {particle!r}; expected one of {', '.join(PARTICLES)}")
    if not isinstance(n, int) or n < 50:
        raise ValueError(f"n must be an integer >= 50 (the classifier needs samples), got {n!r}")
    if not callable(generate):
        raise TypeError("generate must be a function: incident energies (GeV, tensor (n,)) -> showers (MeV)")
    reference = simulate(n, particle, seed=seed)
    energies = torch.as_tensor(reference.energy, dtype=torch.float32)
    _as_showers(generate(energies[:16].clone()), reference.energy[:16], particle)  # warm-up, early check
    start = time.perf_counter()
    output = generate(energies.clone())
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # GPU work is asynchronous: count all of it
    speed = n / max(time.perf_counter() - start, 1e-9)
    generated = _as_showers(output, reference.energy, particle)
    _check_units(generated, particle)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):  # a shared CPU is not oversubscribed
        auc = classifier_two_sample_auc(
            classifier_features(reference),
            classifier_features(generated),
            seed=seed,
            classifier=_challenge_classifier(seed),
        )
    observed_reference, observed_generated = shower_observables(reference), shower_observables(generated)
    distances = {
        key: wasserstein_1d(observed_reference[key], observed_generated[key]) for key in observed_reference
    }
    spreads = {key: float(np.std(values)) for key, values in observed_reference.items()}
    normalized = [distances[key] / spreads[key] for key in distances if spreads[key] > 0]
    result = ChallengeScore(
        name, particle, n, seed, auc, distances, float(np.mean(normalized)), speed, reference, generated
    )
    if leaderboard is not None:
        _append_to_leaderboard(Path(leaderboard), result)
    return result


def _as_showers(output, energy: np.ndarray, particle: str) -> Showers:
    """Turn what ``generate`` returned into ``Showers``, with errors that say what was expected."""
    n = len(energy)
    expected = (
        f"generate must return the cell energies in MeV of {n} showers: an array or tensor of shape "
        f"({n}, {N_CELLS}), three arrays of shapes {', '.join(str((n, *s)) for s in LAYER_SHAPES)}, "
        "or a gm.data.calorimeter.Showers"
    )
    if isinstance(output, Showers):
        cells = output.cells
    elif isinstance(output, tuple | list):
        shapes = [tuple(np.shape(layer)) for layer in output]
        if shapes != [(n, *shape) for shape in LAYER_SHAPES]:
            raise ValueError(f"{expected}; got arrays of shapes {shapes}")
        cells = np.concatenate([_numpy(layer).reshape(n, -1) for layer in output], axis=1)
    else:
        try:
            cells = _numpy(output)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{expected}; got {type(output).__name__}") from error
        if cells.ndim == 4 or cells.shape[1:] in ((1, N_CELLS), (N_CELLS, 1)):
            raise ValueError(f"{expected}; got shape {cells.shape}: flatten it to ({n}, {N_CELLS})")
    if cells.shape != (n, N_CELLS):
        raise ValueError(f"{expected}; got shape {cells.shape}")
    if not np.all(np.isfinite(cells)):
        raise ValueError("generated showers contain NaN or infinite cell energies")
    if cells.min() < 0:
        raise ValueError(
            f"cell energies must be >= 0 MeV, found {cells.min():.3g}: clamp the output (e.g. torch.relu) "
            "and set cells below the 0.1 MeV threshold to 0, as the simulator does"
        )
    return Showers.from_cells(cells, energy, particle)


def _numpy(x) -> np.ndarray:
    array = to_numpy(x)
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"not a numeric array: dtype {array.dtype}")
    return array.astype(np.float64)


def _check_units(showers: Showers, particle: str) -> None:
    """The median visible fraction E_tot / E_inc must lie within a factor 20 of the simulator's."""
    median = float(np.median(shower_observables(showers)["E_tot/E_inc"]))
    expected = _VISIBLE_FRACTION[particle]
    if not expected / 20 <= median <= min(20 * expected, 1.0):
        raise ValueError(
            f"the median visible fraction E_tot / E_inc of the generated showers is {median:.3g}, but the "
            f"simulator gives about {expected} for {particle}: are the cells in MeV and the incident "
            "energies (the argument of generate) in GeV? Showers normalized to unit sum must be scaled back."
        )


def _append_to_leaderboard(path: Path, result: ChallengeScore) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    row = {
        "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "name": result.name,
        "particle": result.particle,
        "n": result.n,
        "seed": result.seed,
        "auc": f"{result.auc:.4f}",
        "w1_normalized": f"{result.w1_normalized:.4f}",
        "showers_per_second": f"{result.showers_per_second:.0f}",
    }
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_LEADERBOARD_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
