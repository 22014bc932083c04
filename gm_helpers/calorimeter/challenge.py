"""The hackathon challenge: score a conditional generator of calorimeter showers against the simulator.

``score(generate)`` asks ``generate`` for showers at the incident energies of a fresh reference
sample from the simulator and reports how well a fixed classifier tells the two apart (ROC AUC,
0.5 = indistinguishable), the Wasserstein distance of every shower observable, the generation
speed, the generator's size in memory, and a data-copying test against the official training set;
each call appends one line to a leaderboard CSV.

The rules, and why:

1. Train on the official training set, ``training_showers()`` (50,000 e+ showers, seed 1): every
   entry learns from the same data, and the copying test knows what it could copy.
2. ``generate`` may not call the simulator: it must make showers from what it learnt, otherwise
   the score measures the simulator against itself. ``score`` refuses such a generator.
3. The reference showers are drawn from a random stream derived from ``SCORE_SEED`` that no
   integer seed of ``simulate`` reaches, so they cannot end up in a training set by accident.
4. Copying is flagged: a "shower library" that returns training showers (rescaled) looks
   perfect to the classifier, but it reproduces its data instead of generalizing. The test of
   Meehan, Chaudhuri and Dasgupta (``copying_statistic``) compares how close generated and fresh
   showers come to the training set; ``copies`` is set when the statistic is below -3.
5. Memory is reported (``memory_mb``): a library grows with its data, a network does not.

References:
    CaloGAN, arXiv:1705.02355 (classifier test: AUC = 1.000 against Geant4);
    CaloFlow, arXiv:2106.05285 (section 4: the classifier test as the figure of merit);
    Meehan, Chaudhuri, Dasgupta, "A non-parametric test to detect data-copying in generative
    models", AISTATS 2020, arXiv:2004.05675.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import math
import time
import types
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
    SimulatorCalledError,
    _simulate,
    refuse_simulation,
    shower_observables,
    simulator_refusal_message,
)
from gm_helpers.metrics import classifier_two_sample_auc, wasserstein_1d

__all__ = [
    "COPYING_THRESHOLD",
    "DEFAULT_LEADERBOARD",
    "SCORE_SEED",
    "TRAIN_SEED",
    "TRAIN_SIZE",
    "ChallengeScore",
    "SimulatorGenerator",
    "classifier_features",
    "copying_statistic",
    "memory_bytes",
    "score",
    "simulator_generator",
    "training_showers",
]

DEFAULT_LEADERBOARD = Path(__file__).resolve().parents[2] / "bench" / "leaderboard.csv"
SCORE_SEED = 2026  # the reference showers come from a stream derived from it (see _reference_showers)
TRAIN_SEED = 1  # the official training set: simulate(n, particle, seed=TRAIN_SEED)
TRAIN_SIZE = 50_000  # its size
COPYING_THRESHOLD = -3.0  # copying statistic below this: the entry is flagged as copying
# fewer scored showers than this give one or two cells of the partition: the statistic is reported,
# but too noisy to flag an entry (a barely trained model in quick mode could be flagged by chance)
COPYING_MIN_N = 300
_REFERENCE_STREAM = 0x5C0DE  # spawn key of the reference stream: no integer seed of simulate reaches it
_HOLDOUT_STREAM = 0x401D  # spawn key of the holdout showers of the copying test
_VISIBLE_FRACTION = {"e+": 0.19, "gamma": 0.19, "pi+": 0.09}  # median E_tot / E_inc of the simulator
_LEADERBOARD_COLUMNS = (
    "utc", "name", "particle", "n", "seed", "auc", "w1_normalized", "showers_per_second",
    "copying_z", "copies", "memory_mb", "train_n",
)  # fmt: skip


def training_showers(n: int = TRAIN_SIZE, particle: str = "e+") -> Showers:
    """The official training set of the challenge: ``simulate(n, particle, seed=TRAIN_SEED)``.

    Train on these (the mirror images and any coding of them are fine). ``score`` tests every
    generator for copying against ``training_showers(TRAIN_SIZE, particle)``; a smaller ``n``
    (quick runs) gives a different sample, so pass it to ``score(..., training=...)``.

    Example:
        >>> len(training_showers(10)), training_showers(10).particle
        (10, 'e+')
    """
    return _official_training(int(n), particle)


@functools.lru_cache(maxsize=2)
def _official_training(n: int, particle: str) -> Showers:
    return _simulate(n, particle, (1.0, 100.0), TRAIN_SEED)


def _reference_showers(n: int, particle: str, seed: int) -> Showers:
    """The reference showers of ``score``: a stream spawned from ``seed`` (no int seed gives it)."""
    return _simulate(n, particle, (1.0, 100.0), np.random.SeedSequence(seed, spawn_key=(_REFERENCE_STREAM,)))


class SimulatorGenerator:
    """The simulator as a 'generator' (fresh showers of another seed): the floor of the challenge.

    The only generator that ``score`` lets call the simulator; its row on the leaderboard is the
    best AUC a perfect model can reach at this n. Not an entry: it is the thing to be replaced.
    """

    def __init__(self, seed: int = 7, particle: str = "e+"):
        self.seed, self.particle = seed, particle

    def __call__(self, energies) -> np.ndarray:
        energy = to_numpy(energies).astype(np.float64).reshape(-1)
        return _simulate(len(energy), self.particle, energy, self.seed).cells


def simulator_generator(seed: int = 7, particle: str = "e+") -> SimulatorGenerator:
    """The simulator as the reference 'generator' of ``score`` (fresh showers of ``seed``)."""
    return SimulatorGenerator(seed, particle)


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
    copying_z: float  # C_T of Meehan et al. against the training set: << 0 copies, 0 fresh, > 0 far
    copies: bool  # copying_z < COPYING_THRESHOLD (and n >= COPYING_MIN_N): it reproduces its training showers
    memory_mb: float  # size of what the generator keeps in memory (MB); NaN when unknown
    train_n: int  # showers in the training set of the copying test
    reference: Showers = field(repr=False)
    generated: Showers = field(repr=False)

    def __str__(self) -> str:
        memory = "unknown size" if math.isnan(self.memory_mb) else f"{self.memory_mb:.2f} MB"
        return (
            f"{self.name} ({self.particle}, n={self.n}): classifier AUC {self.auc:.3f}, "
            f"mean normalized W1 {self.w1_normalized:.3f}, {self.showers_per_second:,.0f} showers/s, "
            f"{memory}, copying statistic {self.copying_z:+.1f}"
            + (" -> COPIES its training showers" if self.copies else "")
            + (f" (n < {COPYING_MIN_N}: too few showers to flag copying)" if self.n < COPYING_MIN_N else "")
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
    training: Showers | int | None = None,
    size_bytes: int | None = None,
) -> ChallengeScore:
    """Score a conditional shower generator against fresh simulator showers.

    1. ``n`` reference showers are simulated from a random stream derived from ``seed`` (no
       integer seed of ``simulate`` gives them); ``generate`` is called once with their incident
       energies, a CPU float32 tensor of shape (n,) in GeV (after a small warm-up call), and must
       return the cell energies in MeV: an (n, 504) array or tensor in the order of
       ``Showers.cells``, three arrays of shapes (n, 3, 96), (n, 12, 12), (n, 12, 6), or a
       ``Showers``. Shapes, finiteness, non-negativity and units are checked. A generator that
       calls ``simulate`` is refused (``SimulatorCalledError``), except ``simulator_generator()``.
    2. Classifier test: ``HistGradientBoostingClassifier`` (scikit-learn defaults, early stopping,
       one OpenMP thread) on ``classifier_features``, 5-fold cross-validated ROC AUC of generated
       vs reference showers (``gm_helpers.metrics.classifier_two_sample_auc``). Fixed once: never
       change it to flatter a model.
    3. Wasserstein-1 distance of every observable of ``shower_observables``, and their mean after
       dividing each by the reference standard deviation.
    4. Speed: n divided by the wall-clock time of the timed ``generate`` call (GPU work included).
    5. Copying: ``copying_statistic(training, reference, generated)`` (Meehan et al.); the entry
       is flagged (``copies``) when it is below ``COPYING_THRESHOLD`` = -3 and at least
       ``COPYING_MIN_N`` = 300 showers were scored (fewer are too few cells to flag anyone).
    6. Memory: ``size_bytes`` if given, else ``memory_bytes(generate)`` (the tensors and arrays
       the generator holds: parameters and buffers of a module, arrays in a closure or in the
       globals it names).

    Arguments:
        generate: function incident energies (GeV) -> showers (MeV).
        particle: "e+", "gamma" or "pi+".
        n: number of showers in the reference and in the generated sample.
        seed: seed of the reference stream and of the classifier.
        name: the name written to the leaderboard.
        leaderboard: CSV file that gets one line per call (created with a header), or None.
        training: the training set of the copying test: None for the official one,
            ``training_showers(TRAIN_SIZE, particle)``; an int n for ``training_showers(n)``; or
            the ``Showers`` the generator was trained on (quick runs, tests).
        size_bytes: the generator's size in memory, when ``memory_bytes`` cannot see it.

    Example:
        >>> result = score(simulator_generator(seed=7), n=200, leaderboard=None, training=2000)
        >>> 0.3 < result.auc < 0.7, result.copies
        (True, False)
    """
    if particle not in PARTICLES:
        raise ValueError(f"unknown particle {particle!r}; expected one of {', '.join(PARTICLES)}")
    if not isinstance(n, int) or n < 50:
        raise ValueError(f"n must be an integer >= 50 (the classifier needs samples), got {n!r}")
    if not callable(generate):
        raise TypeError("generate must be a function: incident energies (GeV, tensor (n,)) -> showers (MeV)")
    if training is None or isinstance(training, int):
        training = training_showers(TRAIN_SIZE if training is None else training, particle)
    reference = _reference_showers(n, particle, seed)
    energies = torch.as_tensor(reference.energy, dtype=torch.float32)
    warm_up, output, speed = _run_generator(generate, energies)
    _as_showers(warm_up, reference.energy[:16], particle)  # early check of the format
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
    holdout = _holdout_showers(len(training), particle)
    copying = copying_statistic(training, reference, generated, holdout=holdout, seed=seed)
    size = memory_bytes(generate) if size_bytes is None else size_bytes
    result = ChallengeScore(
        name, particle, n, seed, auc, distances, float(np.mean(normalized)), speed,
        copying, bool(copying < COPYING_THRESHOLD and n >= COPYING_MIN_N),
        float("nan") if size is None else size / 1e6,
        len(training), reference, generated,
    )  # fmt: skip
    if leaderboard is not None:
        _append_to_leaderboard(Path(leaderboard), result)
    return result


def _run_generator(generate, energies: torch.Tensor):
    """A warm-up call on 16 energies, then the timed call; the simulator refuses to run meanwhile."""
    scorer = "gm.calorimeter.score"
    if type(generate) is SimulatorGenerator:  # the reference floor (not a subclass): allowed to simulate
        guard = contextlib.nullcontext({"calls": 0})
    else:
        guard = refuse_simulation(scorer)
    with guard as calls:
        warm_up = generate(energies[:16].clone())
        start = time.perf_counter()
        output = generate(energies.clone())
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # GPU work is asynchronous: count all of it
        speed = len(energies) / max(time.perf_counter() - start, 1e-9)
    if calls["calls"]:  # the generator caught the error and went on
        raise SimulatorCalledError(simulator_refusal_message(scorer))
    return warm_up, output, speed


def copying_statistic(
    training: Showers,
    test: Showers,
    generated: Showers,
    *,
    holdout: Showers | None = None,
    components: int = 20,
    cells: int | None = None,
    min_samples: int = 20,
    seed: int = 0,
) -> float:
    """The data-copying statistic C_T of Meehan, Chaudhuri and Dasgupta (arXiv:2004.05675).

    Showers are embedded as ``classifier_features``, standardized with the mean and standard
    deviation of the training set, and projected on its first ``components`` principal
    components. The space is partitioned into ``cells`` k-means cells of the training set (by
    default one per 100 test showers, at most 50). In each cell pi with at least ``min_samples``
    generated and test showers, the distances d of generated showers q and of test showers p to
    the training set are compared by the Mann-Whitney U test, as a z-score

        Z_U(pi) = (U - m k / 2) / sqrt(m k (m + k + 1) / 12),  U = #{(i, j): d(q_i) > d(p_j)},

    and C_T is the average of Z_U over the cells, weighted by the fraction of test showers in each.
    C_T ~ 0 for a generator whose showers are as new as fresh ones; C_T << 0 when the generated
    showers sit closer to the training showers than fresh showers do (copying); C_T > 0 when they
    are farther (underfitting). ``score`` flags C_T < -3 (the paper reads strongly negative z).

    With ``holdout`` (fresh showers, as many as in ``training``, never trained on), d is the
    distance to the nearest training shower *divided by* the distance to the nearest holdout
    shower. The paper's raw distance is small for any shower in a dense region, so a generator
    that puts its showers where the data is densest (a mode-seeking GAN) gets C_T << 0 without
    copying anything. The ratio does not change with the density: for a generator that never saw
    the training showers it is as often above 1 as below; a copy sits on its training shower, far
    from any holdout shower. ``score`` uses the ratio.

    ``test`` must be showers of the true distribution not in the training set (``score`` uses
    its reference showers), at the same incident energies as ``generated``. Returns NaN when no
    cell has enough showers (n too small).
    """
    from scipy.stats import mannwhitneyu

    if cells is None:
        cells = int(np.clip(len(test) // 100, 1, 50))
    project, train_cells, neighbours = _copying_space(training, components, cells, seed)
    test_x, generated_x = project(test), project(generated)
    test_d = neighbours.kneighbors(test_x)[0][:, 0]
    generated_d = neighbours.kneighbors(generated_x)[0][:, 0]
    if holdout is not None:
        if len(holdout) != len(training):
            raise ValueError(
                f"holdout must have as many showers as training ({len(training)}), got {len(holdout)}"
            )
        from sklearn.neighbors import NearestNeighbors

        other = NearestNeighbors(n_neighbors=1).fit(project(holdout))
        test_d = test_d / np.maximum(other.kneighbors(test_x)[0][:, 0], 1e-12)
        generated_d = generated_d / np.maximum(other.kneighbors(generated_x)[0][:, 0], 1e-12)
    test_cells, generated_cells = train_cells.predict(test_x), train_cells.predict(generated_x)
    weights, scores = [], []
    for cell in range(train_cells.n_clusters):
        p, q = test_d[test_cells == cell], generated_d[generated_cells == cell]
        if len(p) < min_samples or len(q) < min_samples:
            continue
        u = mannwhitneyu(q, p, alternative="two-sided", method="asymptotic").statistic
        m, k = len(q), len(p)
        scores.append((u - m * k / 2) / math.sqrt(m * k * (m + k + 1) / 12))
        weights.append(len(p) / len(test_d))
    if not weights:
        return float("nan")
    return float(np.average(scores, weights=weights))


_SPACES: dict = {}


def _copying_space(training: Showers, components: int, cells: int, seed: int):
    """(embedding function, k-means of the training showers, nearest-neighbour index), cached."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    key = (id(training), len(training), components, cells, seed)
    cached = _SPACES.get(key)
    if cached is not None and cached[0] is training:
        return cached[1]
    features = classifier_features(training)
    mean, std = features.mean(axis=0), features.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    pca = PCA(n_components=min(components, *features.shape), random_state=seed)
    embedded = pca.fit_transform((features - mean) / std)

    def project(showers: Showers) -> np.ndarray:
        return pca.transform((classifier_features(showers) - mean) / std)

    k_means = KMeans(n_clusters=min(cells, len(training)), n_init=1, random_state=seed).fit(embedded)
    neighbours = NearestNeighbors(n_neighbors=1).fit(embedded)
    space = (project, k_means, neighbours)
    _SPACES.clear()  # keep one: the official training set is large
    _SPACES[key] = (training, space)
    return space


def _holdout_showers(n: int, particle: str) -> Showers:
    """Fresh showers for the copying test, from a stream no integer seed of ``simulate`` reaches."""
    return _cached_holdout(n, particle)


@functools.lru_cache(maxsize=2)
def _cached_holdout(n: int, particle: str) -> Showers:
    return _simulate(
        n, particle, (1.0, 100.0), np.random.SeedSequence(SCORE_SEED, spawn_key=(_HOLDOUT_STREAM,))
    )


def memory_bytes(obj, _seen: set | None = None, _depth: int = 0) -> int | None:
    """Bytes of the tensors and arrays that ``obj`` keeps: what a generator costs in memory.

    An ``nn.Module`` counts its parameters and buffers; a bound method counts its object; a
    function counts the arrays in its closure and in the globals it names (a notebook's
    ``def generate(e): ... library ...``), following the functions it calls; containers and
    plain objects count their contents. Modules, classes and the simulator count nothing.
    Returns None for a generator in which nothing was found that could be measured.
    """
    seen = set() if _seen is None else _seen
    total = _measure(obj, seen, _depth)
    return total if (total or _seen is not None) else (0 if isinstance(obj, SimulatorGenerator) else None)


def _measure(obj, seen: set, depth: int) -> int:
    if id(obj) in seen or depth > 6 or obj is None:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (str, bytes, int, float, complex, bool, types.ModuleType, type, SimulatorGenerator)):
        return 0
    if isinstance(obj, torch.nn.Module):
        tensors = {id(t): t for t in [*obj.parameters(), *obj.buffers()]}
        total = 0
        for tensor in tensors.values():
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
        return total
    if isinstance(obj, types.MethodType):
        return _measure(obj.__self__, seen, depth + 1) + _measure(obj.__func__, seen, depth + 1)
    if isinstance(obj, functools.partial):
        parts = [obj.func, *obj.args, *obj.keywords.values()]
        return sum(_measure(part, seen, depth + 1) for part in parts)
    if isinstance(obj, types.FunctionType):
        if obj.__module__ and obj.__module__.startswith(("gm_helpers.data", "numpy", "torch", "scipy")):
            return 0  # library code (the simulator itself) is not the generator's memory
        total = sum(_measure(cell.cell_contents, seen, depth + 1) for cell in obj.__closure__ or ())
        names = _global_names(obj.__code__)
        total += sum(
            _measure(obj.__globals__[name], seen, depth + 1) for name in names if name in obj.__globals__
        )
        return total + sum(_measure(value, seen, depth + 1) for value in obj.__defaults__ or ())
    if isinstance(obj, dict):
        return sum(_measure(value, seen, depth + 1) for value in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(_measure(value, seen, depth + 1) for value in obj)
    if hasattr(obj, "__dict__") and not callable(getattr(obj, "__func__", None)):
        return _measure(vars(obj), seen, depth + 1)
    return 0


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):  # nested functions, comprehensions, lambdas
            names |= _global_names(constant)
    return names


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
    rows = []
    if path.exists() and path.stat().st_size > 0:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != _LEADERBOARD_COLUMNS:  # an older board: add the columns
                rows = list(reader)
    new = not path.exists() or path.stat().st_size == 0 or bool(rows)
    row = {
        "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "name": result.name,
        "particle": result.particle,
        "n": result.n,
        "seed": result.seed,
        "auc": f"{result.auc:.4f}",
        "w1_normalized": f"{result.w1_normalized:.4f}",
        "showers_per_second": f"{result.showers_per_second:.0f}",
        "copying_z": f"{result.copying_z:.2f}",
        "copies": "yes" if result.copies else "no",
        "memory_mb": "" if math.isnan(result.memory_mb) else f"{result.memory_mb:.3f}",
        "train_n": result.train_n,
    }
    with path.open("w" if new else "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_LEADERBOARD_COLUMNS, restval="")
        if new:
            writer.writeheader()
        for old in rows:
            writer.writerow({key: old.get(key, "") for key in _LEADERBOARD_COLUMNS})
        writer.writerow(row)
