"""Lecture 06, physics: weakly supervised anomaly detection at the LHC (the LHC Olympics 2020 R&D
bump hunt).

The data (dijet events: mjj and four jet-substructure features) come from ``gm.data.lhco``; the
methods of the lecture live here:

- ``gm.anomaly.bumphunt``: the classic search: a fit of the dijet function to the mjj spectrum
  outside the signal region (``fit_background``), the local significance of the excess inside
  (``local_significance``), both at once (``bump_hunt``);
- ``gm.anomaly.methods``: the anomaly scores of the signal-region events: the ``supervised`` and
  ``idealized`` references, ``cwola``, ``anode`` and ``cathode``; their parts: the preprocessing
  ``LogitScaler``, the conditional flow p(x | mjj) ``SidebandFlow``, CATHODE's sampling step
  ``cathode_samples``, and the k-fold classifier ``weak_classifier_scores``;
- ``gm.anomaly.figures``: the figures of merit of a score: ``roc``, ``sic_curve``, ``max_sic``.

References:
    Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320.
    Collins, Howe, Nachman, "Anomaly detection for resonant new physics with machine learning"
    (CWoLa hunting), arXiv:1805.02664.
    Nachman, Shih, "Anomaly detection with density estimation" (ANODE), arXiv:2001.04990.
    Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE), arXiv:2109.00546.
    Finke et al., "Tree-based algorithms for weakly supervised anomaly detection", arXiv:2309.13111.
"""

from gm_helpers.anomaly.bumphunt import (
    DEFAULT_BINS,
    BackgroundFit,
    BumpHunt,
    bump_hunt,
    dijet_function,
    fit_background,
    local_significance,
)
from gm_helpers.anomaly.figures import max_sic, roc, sic_curve
from gm_helpers.anomaly.methods import (
    LogitScaler,
    SidebandFlow,
    anode,
    cathode,
    cathode_samples,
    cwola,
    idealized,
    supervised,
    weak_classifier_scores,
)

__all__ = [
    "DEFAULT_BINS",
    "BackgroundFit",
    "BumpHunt",
    "LogitScaler",
    "SidebandFlow",
    "anode",
    "bump_hunt",
    "cathode",
    "cathode_samples",
    "cwola",
    "dijet_function",
    "fit_background",
    "idealized",
    "local_significance",
    "max_sic",
    "roc",
    "sic_curve",
    "supervised",
    "weak_classifier_scores",
]
