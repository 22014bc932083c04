"""Weakly supervised anomaly detection in the signal region (SR) of a bump hunt: each method
returns a score for every SR event of the data, higher = more signal-like.

- ``supervised``: a classifier of signal against background, trained on a separate labelled
  sample (the upper bound: it knows what the signal looks like);
- ``idealized``: SR data against a perfectly simulated SR background (the best a weakly
  supervised method can do);
- ``cwola`` (CWoLa hunting): SR events against the events of the narrow side bands next to it;
  it assumes that the features do not depend on mjj;
- ``anode``: the density ratio log p_data(x | mjj) - log p_bkg(x | mjj) of two conditional flows,
  p_bkg trained on the side bands and interpolated into the SR (``SidebandFlow``);
- ``cathode``: a classifier of SR data against background samples drawn from the side-band flow
  at mjj values from a kernel density estimate of the SR's mjj (``cathode_samples``).

The classifiers are scikit-learn's ``HistGradientBoostingClassifier`` (trees are robust for weak
supervision: Finke et al., arXiv:2309.13111), trained and applied by ``weak_classifier_scores``:
k folds, every event scored by a classifier that never saw it. Scoring one's own training events
would reward memorization: on pure noise it gives AUC >> 0.5.

References:
    Metodiev, Nachman, Thaler, "Classification without labels" (CWoLa), arXiv:1708.02949.
    Collins, Howe, Nachman, "CWoLa hunting", arXiv:1805.02664.
    Nachman, Shih, "Anomaly detection with density estimation" (ANODE), arXiv:2001.04990.
    Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE),
    arXiv:2109.00546 (reference code: HEPML-AnomalyDetection/CATHODE).
    Finke et al., "Tree-based algorithms for weakly supervised anomaly detection", arXiv:2309.13111.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KernelDensity
from torch import Tensor, nn

from gm_helpers.core import to_numpy
from gm_helpers.data.lhco import FEATURES, SIDEBANDS, SIGNAL_REGION, Events
from gm_helpers.flows import nsf, train_flow
from gm_helpers.model import Model
from gm_helpers.train import History, seeded

__all__ = ["LogitScaler", "SidebandFlow", "anode", "cathode", "cathode_samples", "cwola", "idealized",
           "supervised", "weak_classifier_scores"]  # fmt: skip

_CHUNK = 65_536  # events per pass of a flow


# --- the preprocessing ------------------------------------------------------------------------------


class LogitScaler(nn.Module):
    """The preprocessing of CATHODE: per feature, x -> u = (x - lo) / (hi - lo) in (0, 1), then
    logit(u), then standardization: y = (logit(u) - mean) / std. Invertible, with its log-Jacobian.

    Features named in ``log`` (positive ones, such as jet masses) are replaced by their logarithm
    first. A jet mass is close to log-normal with a long tail; without the logarithm the min-max
    scaling squeezes its bulk into a small corner of the flow's range, and a small flow then
    misses the tail (here: the 90 % quantile of dm in the signal region 9 % low).

    lo and hi are the minimum and maximum of the data it is fitted on, widened by ``margin`` times
    the range on each side, so that the fitted data map well inside (0, 1) and new events a little
    beyond the fitted range are still mapped faithfully. Values at or beyond lo / hi are clamped to
    u in [eps, 1 - eps]: the output stays finite (|logit| <= 13.8), and the log-Jacobian there is
    that of the clamped point, so a density built on the scaler is meaningless there (very low).
    lo, hi, mean and std are buffers: a model that holds the scaler saves it with its weights.

    Example:
        >>> x = torch.rand(1000, 2) * torch.tensor([1.0, 10.0])
        >>> scaler = LogitScaler.fit(x)
        >>> y, logdet = scaler(x)
        >>> bool(torch.allclose(scaler.inverse(y), x, atol=1e-4)), y.shape, logdet.shape
        (True, torch.Size([1000, 2]), torch.Size([1000]))
    """

    eps = 1e-6

    def __init__(self, features: int):
        super().__init__()
        for name, value in (("low", 0.0), ("high", 1.0), ("mean", 0.0), ("std", 1.0), ("log", 0.0)):
            self.register_buffer(name, torch.full((features,), value))

    @classmethod
    def fit(cls, x, margin: float = 0.05, log: Sequence[int] = ()) -> LogitScaler:
        """The scaler fitted on ``x`` (n, features), an array or a tensor; ``log``: the indices of
        the (positive) features to take the logarithm of first."""
        x = np.asarray(to_numpy(x), dtype=np.float64)
        if x.ndim != 2 or len(x) < 2 or not np.all(np.isfinite(x)):
            raise ValueError(f"expected finite data of shape (n >= 2, features), got shape {x.shape}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        logged = np.zeros(x.shape[1], dtype=bool)
        logged[list(log)] = True
        if np.any(x[:, logged] <= 0):
            raise ValueError(f"features {list(log)} must be positive to take their logarithm")
        x = np.where(logged, np.log(np.where(logged, x, 1.0)), x)
        low, high = x.min(0), x.max(0)
        width = np.maximum(high - low, 1e-12)
        low, high = low - margin * width, high + margin * width
        u = np.clip((x - low) / (high - low), cls.eps, 1 - cls.eps)
        logit = np.log(u) - np.log1p(-u)
        scaler = cls(x.shape[1])
        for name, value in (
            ("low", low),
            ("high", high),
            ("mean", logit.mean(0)),
            ("std", logit.std(0) + 1e-6),
            ("log", logged.astype(np.float32)),
        ):
            getattr(scaler, name).copy_(torch.as_tensor(value))
        return scaler

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(y, log |det dy/dx|), shapes (n, features) and (n,)."""
        logged = self.log.bool()
        log_x = torch.log(torch.where(logged, x, torch.ones_like(x)).clamp_min(1e-30))
        x = torch.where(logged, log_x, x)
        width = self.high - self.low
        u = ((x - self.low) / width).clamp(self.eps, 1 - self.eps)
        v = ((self.high - x) / width).clamp(self.eps, 1 - self.eps)  # 1 - u, without cancellation
        y = (torch.log(u) - torch.log(v) - self.mean) / self.std
        logdet = -(torch.log(u) + torch.log(v) + torch.log(width * self.std) + log_x).sum(1)
        return y, logdet

    def inverse(self, y: Tensor) -> Tensor:
        """x from y (the inverse of ``forward`` inside (lo, hi))."""
        x = self.low + (self.high - self.low) * torch.sigmoid(y * self.std + self.mean)
        return torch.where(self.log.bool(), torch.exp(x), x)


# --- the conditional density model of ANODE and CATHODE -----------------------------------------------


def _as_mjj(context, n: int | None = None) -> Tensor:
    if context is None:
        raise ValueError(
            "this model is conditional: pass context= (the dijet mass in TeV, one or one per sample)"
        )
    mjj = torch.as_tensor(to_numpy(context), dtype=torch.float32).reshape(-1)
    if n is not None and len(mjj) == 1:
        mjj = mjj.expand(n)
    if n is not None and len(mjj) != n:
        raise ValueError(
            f"context must be one mjj (TeV) for all {n} samples or one per sample, got {len(mjj)}"
        )
    return mjj


class SidebandFlow(Model):
    """p(x | mjj): a conditional flow for the four features x of ``gm.data.lhco``, after a fitted
    ``LogitScaler``; mjj (TeV) is standardized and given to the flow as its context.

    Trained on the side bands, it is the background model of ANODE and CATHODE, interpolated into
    the signal region. The default flow is a MAF-style spline flow small enough for a CPU
    (``gm.flows.nsf(4, context_features=1, autoregressive=True)``); the published CATHODE recipe is
    a MAF of 15 MADE blocks with 128 hidden units (affine), trained for 100 epochs:
    ``transforms=15, hidden=(128,)`` come close.

    Arguments:
        events: the training events (side bands); the preprocessing is fitted on them. None builds an
            unfitted model (``SidebandFlow.load`` does so before loading the buffers).
        transforms, hidden, bins, tail_bound: those of ``gm.flows.nsf``.
        margin: that of ``LogitScaler.fit``.
        log_masses: take the logarithm of the jet masses mj1 and dm before the logit scaling (see
            ``LogitScaler``; without it our flows miss the tail of dm in the signal region).
        seed: seed of the flow's initialization.

    Example:
        >>> from gm_helpers.data.lhco import simulate
        >>> model = SidebandFlow(simulate(500, seed=1).sidebands(), transforms=2, hidden=(16,))
        >>> model.sample(3, context=3.5).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        events: Events | None = None,
        transforms: int = 4,
        hidden: Sequence[int] = (64, 64),
        bins: int = 8,
        tail_bound: float = 3.0,
        margin: float = 0.05,
        log_masses: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self._events = events
        features = len(FEATURES)
        with seeded(seed):
            self.flow = nsf(features, context_features=1, bins=bins, transforms=transforms, hidden=hidden,
                            tail_bound=tail_bound, autoregressive=True)  # fmt: skip
        if events is None:
            self.scaler = LogitScaler(features)
            self.register_buffer("mjj_scale", torch.tensor([0.0, 1.0]))  # mean, std of mjj
        else:
            self.scaler = LogitScaler.fit(events.features, margin, log=(0, 1) if log_masses else ())
            scale = [float(events.mjj.mean()), float(events.mjj.std()) + 1e-6]
            self.register_buffer("mjj_scale", torch.tensor(scale))

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("events")
        return config | {"hidden": tuple(config["hidden"])}

    @property
    def device(self) -> torch.device:
        return self.mjj_scale.device

    def context(self, mjj) -> Tensor:
        """The flow's context (n, 1) for dijet masses in TeV, on the model's device."""
        mjj = _as_mjj(mjj).to(self.device)
        return ((mjj - self.mjj_scale[0]) / self.mjj_scale[1])[:, None]

    def _features(self, events: Events) -> Tensor:
        return torch.as_tensor(events.features, dtype=torch.float32)

    def fit(self, data: Events | None = None, *, steps: int = 2000, lr: float = 1e-3, **contract) -> History:
        """Maximum likelihood with ``gm.flows.train_flow`` (Adam, cosine schedule, the scaler as its
        ``preprocess``: the losses are NLLs in the original feature space).

        ``data``: training events (default: those the model was built with); ``val_data`` may be
        ``Events`` (the model ends in the state of their best NLL); the other keywords are those of
        the training contract (``batch_size`` 256 by default) and of ``train_flow``.
        """
        data = self._events if data is None else data
        if data is None:
            raise ValueError("this model was loaded from a checkpoint: pass the training events to fit")
        if isinstance(contract.get("val_data"), Events):
            val = contract["val_data"]
            contract.update(val_data=self._features(val), val_context=self.context(val.mjj).cpu())
        contract.setdefault("batch_size", 256)
        contract.setdefault("desc", "SidebandFlow")
        x, context = self._features(data), self.context(data.mjj).cpu()
        history = train_flow(
            self.flow, x, context=context, steps=steps, lr=lr, preprocess=self.scaler, **contract
        )
        self.to(next(self.flow.parameters()).device).eval()
        return history

    @torch.no_grad()
    def log_prob(self, events: Events) -> Tensor:
        """log p(x | mjj) of every event, (n,), in the original feature space (the scaler's
        log-Jacobian included): the log-density in 1 / (TeV^2) of (mj1, dm, tau21_1, tau21_2)."""
        x, mjj = self._features(events), events.mjj
        parts = []
        for start in range(0, len(x), _CHUNK):
            y, logdet = self.scaler(x[start : start + _CHUNK].to(self.device))
            parts.append(self.flow.log_prob(y, self.context(mjj[start : start + _CHUNK])) + logdet)
        return torch.cat(parts) if parts else torch.zeros(0, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, context) -> Tensor:
        """n feature vectors (n, 4) at dijet masses ``context`` (TeV): one for all, or one per sample."""
        mjj = _as_mjj(context, n)
        parts = [self.scaler.inverse(self.flow.sample(len(m), self.context(m))) for m in mjj.split(_CHUNK)]
        return torch.cat(parts) if parts else torch.zeros(0, len(FEATURES), device=self.device)


def cathode_samples(
    flow: SidebandFlow, sr_mjj, n: int, bandwidth: float = 0.01, seed: int = 0, region=SIGNAL_REGION
) -> Events:
    """CATHODE's background samples in the signal region: mjj from a Gaussian kernel density
    estimate (``bandwidth`` in TeV) of the SR events' mjj, kept inside ``region`` (values outside
    are drawn again), then the features from ``flow`` at those mjj.

    ``sr_mjj``: the dijet masses of the SR events (an array, or ``Events``). Returns ``Events``
    labelled background (``is_signal`` all False).
    """
    lo, hi = region
    sr_mjj = np.asarray(getattr(sr_mjj, "mjj", sr_mjj), dtype=np.float64).reshape(-1)
    sr_mjj = sr_mjj[(sr_mjj > lo) & (sr_mjj < hi)]
    if not len(sr_mjj):
        raise ValueError(f"no SR event with {lo} < mjj < {hi} TeV to estimate the mjj density from")
    kde = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(sr_mjj[:, None])
    rng = np.random.default_rng(seed)
    mjj = np.zeros(0)
    while len(mjj) < n:
        draw = kde.sample(2 * (n - len(mjj)) + 16, random_state=int(rng.integers(2**31))).reshape(-1)
        mjj = np.concatenate([mjj, draw[(draw > lo) & (draw < hi)]])
    mjj = mjj[:n]
    with seeded(seed, flow.device):
        features = to_numpy(flow.sample(n, mjj))
    return Events(mjj, features, np.zeros(n, dtype=bool))


# --- the classifiers --------------------------------------------------------------------------------


def _default_classifier(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=200, early_stopping=True, validation_fraction=0.2,
                                          n_iter_no_change=10, random_state=seed)  # fmt: skip


def weak_classifier_scores(
    x, y, folds: int = 5, seed: int = 0, ensemble: int = 1, classifier=None, apply_to=None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Out-of-fold classifier scores: P(y = 1 | x) for every row of ``x``, each from a classifier that
    was trained on the other ``folds - 1`` folds (stratified, shuffled with ``seed``) and never saw it.

    Arguments:
        x: features (n, d); y: labels 0/1 (n,), e.g. 1 = signal region, 0 = reference.
        folds: number of folds (k >= 2).
        ensemble: average the scores of this many runs (different folds and classifier seeds).
        classifier: a scikit-learn classifier (cloned for every fold; its ``random_state``, if any,
            is set from ``seed``); default ``HistGradientBoostingClassifier`` with early stopping.
        apply_to: other events (m, d) that no classifier was trained on (e.g. the side bands of a bump
            hunt): then the scores of ``x`` and the scores of these, each event scored like those of
            ``x``, by *one* fold's classifier (a random fold). Not by the average of all the folds:
            an average of k classifiers scatters less than one, so fewer of these events would
            pass a high threshold than events of ``x``, and a cut would sculpt the spectrum.
    """
    x = np.asarray(to_numpy(x), dtype=np.float64)
    x = x.reshape(len(x), -1)
    y = np.asarray(to_numpy(y)).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)} labels")
    if not np.all((y == 0) | (y == 1)) or len(np.unique(y)) != 2:
        raise ValueError("y must hold labels 0 and 1, both present")
    if not isinstance(folds, int) or folds < 2 or np.bincount(y.astype(int)).min() < folds:
        raise ValueError(f"folds must be an integer >= 2 and at most the size of each class, got {folds}")
    if not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble must be an integer >= 1, got {ensemble!r}")
    other = (
        None if apply_to is None else np.asarray(to_numpy(apply_to), dtype=np.float64).reshape(-1, x.shape[1])
    )
    scores, other_scores = np.zeros(len(x)), np.zeros(0 if other is None else len(other))
    for member in range(ensemble):
        split = StratifiedKFold(folds, shuffle=True, random_state=seed + member)
        other_fold = np.random.default_rng([seed, member]).integers(folds, size=len(other_scores))
        for fold, (train, test) in enumerate(split.split(x, y)):
            model = _default_classifier(seed + member) if classifier is None else clone(classifier)
            if "random_state" in model.get_params():
                model.set_params(random_state=seed + member)
            model.fit(x[train], y[train])
            scores[test] += model.predict_proba(x[test])[:, 1] / ensemble
            mine = other_fold == fold
            if mine.any():
                other_scores[mine] += model.predict_proba(other[mine])[:, 1] / ensemble
    return scores if other is None else (scores, other_scores)


def _data_against(data: np.ndarray, reference: np.ndarray, **kfold):
    """Scores of the ``data`` rows from a k-fold classifier of ``data`` (1) against ``reference`` (0)
    (and, with ``apply_to``, the scores of those events too)."""
    x = np.concatenate([data, reference])
    y = np.concatenate([np.ones(len(data)), np.zeros(len(reference))])
    scores = weak_classifier_scores(x, y, **kfold)
    if isinstance(scores, tuple):
        return scores[0][: len(data)], scores[1]
    return scores[: len(data)]


# --- the methods ------------------------------------------------------------------------------------


def supervised(
    labelled: Events, data: Events, region=SIGNAL_REGION, seed: int = 0, classifier=None
) -> np.ndarray:
    """Fully supervised reference: a classifier of signal against background (truth labels) trained on
    the SR events of a separate ``labelled`` sample, applied to the SR events of ``data``."""
    train = labelled[labelled.in_region(region)]
    model = _default_classifier(seed) if classifier is None else clone(classifier)
    model.fit(train.features, train.is_signal.astype(int))
    return model.predict_proba(data[data.in_region(region)].features)[:, 1]


def idealized(data: Events, background: Events, region=SIGNAL_REGION, **kfold) -> np.ndarray:
    """The idealized anomaly detector: SR data against SR events of a perfectly simulated background
    (``gm.data.lhco.extra_background``). ``kfold``: ``folds``, ``seed``, ``ensemble``, ``classifier``
    of ``weak_classifier_scores``."""
    sr, reference = data[data.in_region(region)], background[background.in_region(region)]
    return _data_against(sr.features, reference.features, **kfold)


def cwola(data: Events, region=SIGNAL_REGION, sidebands=SIDEBANDS, **kfold) -> np.ndarray:
    """CWoLa hunting: SR events against the events of the narrow ``sidebands`` next to it (two
    (lo, hi) bands; the default ``SIDEBANDS`` are those of the default ``region``). ``kfold``: the
    keywords of ``weak_classifier_scores``."""
    reference = data[np.any([data.in_region(band) for band in sidebands], axis=0)]
    return _data_against(data[data.in_region(region)].features, reference.features, **kfold)


def anode(
    data: Events, background: SidebandFlow, signal_region: SidebandFlow, region=SIGNAL_REGION
) -> np.ndarray:
    """ANODE: log p_SR(x | mjj) - log p_bkg(x | mjj) for the SR events of ``data``; ``background``
    trained on the side bands, ``signal_region`` on the SR data (ideally on other SR events than
    those scored, e.g. the other half of a split)."""
    sr = data[data.in_region(region)]
    return to_numpy(signal_region.log_prob(sr) - background.log_prob(sr)).astype(np.float64)


def cathode(
    data: Events,
    flow: SidebandFlow | None,
    n_samples: int | None = None,
    bandwidth: float = 0.01,
    region=SIGNAL_REGION,
    everywhere: bool = False,
    samples: Events | None = None,
    **kfold,
) -> np.ndarray:
    """CATHODE: SR data against ``n_samples`` background samples from the side-band ``flow``
    (``cathode_samples``; default 4 per SR event, as the paper's 400k for ~100k SR events).

    With ``everywhere=True`` it returns a score for *every* event of ``data`` (for a bump hunt): the
    SR events' out-of-fold scores, and the others' scores by one fold classifier each (at random).
    ``samples``: background samples drawn before (``cathode_samples``), to classify several data sets
    against the same samples; ``flow`` is then not used."""
    inside = data.in_region(region)
    sr = data[inside]
    if samples is None:
        n_samples = 4 * len(sr) if n_samples is None else n_samples
        samples = cathode_samples(flow, sr.mjj, n_samples, bandwidth, kfold.get("seed", 0), region)
    if not everywhere:
        return _data_against(sr.features, samples.features, **kfold)
    scores = np.zeros(len(data))
    scores[inside], scores[~inside] = _data_against(
        sr.features, samples.features, apply_to=data[~inside].features, **kfold
    )
    return scores
