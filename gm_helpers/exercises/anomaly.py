"""Checks of exercise 06 (``06_anomaly_detection``): CATHODE's sampling step, the SIC curve, and the
bump hunt after a cut.

- ``check_my_cathode_samples``: the answer samples from a stand-in flow (``ContextEcho``) whose
  every sample carries the dijet mass it was drawn at, so the check can tell, row by row, whether
  ``features[i]`` was drawn at ``mjj[i]``; the SR masses are drawn from a known falling spectrum, and
  a few isolated masses reveal the width of the kernel. Then the answer runs once on a real (tiny,
  untrained) ``SidebandFlow``.
- ``check_my_sic_curve``: Gaussian scores with truth labels; the curve must equal the one worked out
  by hand (one cut after every event, sorted by score). A wrong curve is compared with the curves
  of the classic mistakes (the floor forgotten, eps_B instead of sqrt(eps_B), counts instead of
  efficiencies, the wrong tail, ...) and the message names the one that matches.
- ``check_cut_at_efficiency`` and ``check_significance_after_cut``: the threshold comes from the
  signal-region events and applies to every event; the bump hunt is run on the events that pass,
  side bands included. Against simulated events with a signal, the wrong answers (the cut applied
  in the signal region only, the uncut fit scaled by an efficiency, the unprofiled Z) give other
  numbers, which the message names.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

from gm_helpers.core import to_numpy
from gm_helpers.data.lhco import FEATURES, SIGNAL_REGION, Events, simulate
from gm_helpers.train import seeded

__all__ = [
    "ContextEcho",
    "check_cut_at_efficiency",
    "check_my_cathode_samples",
    "check_my_sic_curve",
    "check_significance_after_cut",
    "physicist_window",
    "reference_sic_curve",
]

LO, HI = SIGNAL_REGION


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch's and numpy's global generators for the body, and restore both afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with seeded(seed):
            yield
    finally:
        np.random.set_state(state)


def _call(answer: Callable, *args, **kwargs):
    """Call the participant's answer quietly (no numpy warnings: the check names the cause)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return answer(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
# Step 1: CATHODE's sampling step


class ContextEcho:
    """A stand-in for ``SidebandFlow`` whose samples say where they were drawn.

    ``sample(n, context)`` takes the dijet masses (TeV; one for all, or one per sample; an array, a
    tensor or a number, like ``SidebandFlow.sample``) and returns an (n, 4) float32 tensor whose
    column 0 is the mass each row was drawn at, column 1 that mass minus 3.3 TeV, and columns 2-3
    random numbers: so ``features[i, 0] == mjj[i]`` tells that row i was drawn at ``mjj[i]``.
    """

    device = torch.device("cpu")

    def __init__(self):
        self.calls = 0

    def sample(self, n, context=None) -> torch.Tensor:
        if context is None:
            raise ValueError(
                "this model is conditional: pass context= (the dijet mass in TeV, one or one per sample)"
            )
        n = int(n)
        mjj = torch.as_tensor(np.asarray(to_numpy(context), dtype=np.float64)).reshape(-1)
        if len(mjj) == 1:
            mjj = mjj.expand(n)
        if len(mjj) != n:
            raise ValueError(
                f"context must be one mjj (TeV) for all {n} samples or one per sample, got {len(mjj)}"
            )
        self.calls += 1
        noise = torch.randn(n, 2, dtype=torch.float64)
        return torch.cat([mjj[:, None], (mjj - LO)[:, None], noise], 1).float()


def _falling_sr_mjj(n: int, seed: int, scale: float = 0.25) -> np.ndarray:
    """n dijet masses in the signal region, density proportional to exp(-(m - 3.3) / scale)."""
    u = np.random.default_rng(seed).random(n)
    return LO - scale * np.log1p(-u * -np.expm1(-(HI - LO) / scale))


def _kde_sample(sr_mjj: np.ndarray, n: int, bandwidth: float, seed: int) -> np.ndarray:
    """The reference: a random SR mass plus N(0, bandwidth), drawn again outside the SR."""
    rng = np.random.default_rng(seed)
    out = np.zeros(0)
    while len(out) < n:
        draw = rng.choice(sr_mjj, 2 * n) + bandwidth * rng.standard_normal(2 * n)
        out = np.concatenate([out, draw[(draw > LO) & (draw < HI)]])
    return out[:n]


def _near(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance from each value to the nearest of ``points``, signed (value - point)."""
    points = np.sort(points)
    i = np.clip(np.searchsorted(points, values), 1, len(points) - 1)
    left, right = values - points[i - 1], values - points[i]
    return np.where(np.abs(left) < np.abs(right), left, right)


def _unpack_samples(result, n: int, n_sr: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(result, Events):
        raise AssertionError(
            "my_cathode_samples returns Events: return the tuple (mjj, features), e.g. "
            "`return mjj, features` (the notebook builds the Events itself)"
        )
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise AssertionError(
            f"my_cathode_samples must return a tuple (mjj, features), got {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, tuple | list) else "")
        )
    mjj, features = (np.asarray(to_numpy(part), dtype=np.float64) for part in result)
    if mjj.ndim == 2 and mjj.shape[1] == 1:
        raise AssertionError(
            f"mjj has shape {mjj.shape}: return a 1-D array of n dijet masses (mjj.reshape(-1)), "
            "e.g. KernelDensity.sample returns (n, 1)"
        )
    if mjj.ndim != 1:
        raise AssertionError(f"mjj must be a 1-D array of n = {n} dijet masses, got shape {mjj.shape}")
    if len(mjj) != n:
        echoed = features.ndim == 2 and features.shape[1] > 1 and len(features)
        if echoed and not np.allclose(features[:, 1], features[:, 0] - LO, atol=1e-4):
            raise AssertionError(
                f"{len(mjj)} mjj returned where n = {n} were asked, and the features are not the flow's "
                "samples: return n samples, (mjj from the KDE, flow.sample(n, context=mjj)), not the data "
                "events themselves"
            )
        inside = len(mjj) and np.all((mjj > LO) & (mjj < HI))
        if len(mjj) < n and inside and len(mjj) > 0.8 * n:
            raise AssertionError(
                f"{len(mjj)} mjj returned where n = {n} were asked: after throwing away the KDE values that "
                "fall outside the signal region, draw again (a while loop) until you have n inside it"
            )
        if len(mjj) > n and inside and len(mjj) != n_sr:
            raise AssertionError(
                f"{len(mjj)} mjj returned where n = {n} were asked: the last draw overshoots, keep exactly n "
                "(mjj = mjj[:n]) and draw the features for those"
            )
        raise AssertionError(
            f"{len(mjj)} mjj returned where n = {n} were asked (sr_mjj holds {n_sr}): draw exactly n "
            "samples from the KDE, not one per SR event (n is ignored?), and not the data events themselves"
        )
    if features.shape != (n, len(FEATURES)):
        raise AssertionError(
            f"features must have shape (n, {len(FEATURES)}) = ({n}, {len(FEATURES)}), one row of "
            f"{FEATURES} per mjj, got {features.shape}: draw them with flow.sample(n, context=mjj)"
        )
    if not (np.all(np.isfinite(mjj)) and np.all(np.isfinite(features))):
        raise AssertionError("mjj or features contain NaN or infinite values")
    return mjj, features


def _check_inside(mjj: np.ndarray) -> None:
    outside = ~((mjj > LO) & (mjj < HI))
    if outside.mean() > 0.5:
        raise AssertionError(
            f"{outside.mean():.0%} of the mjj lie outside the signal region {SIGNAL_REGION} TeV: CATHODE "
            "draws its background samples *in* the signal region, mjj from a KDE of the SR events' mjj "
            "(sr_mjj), not from the side bands (where the flow was trained)"
        )
    edges = np.isclose(mjj, LO, rtol=0, atol=1e-9) | np.isclose(mjj, HI, rtol=0, atol=1e-9)
    if edges.sum() > 1:
        raise AssertionError(
            f"{int(edges.sum())} mjj sit exactly on the edges of the signal region {SIGNAL_REGION}: they "
            "were clipped (np.clip), which piles samples up on the edges. Throw away the values outside "
            "and draw again instead"
        )
    if outside.any():
        raise AssertionError(
            f"{int(outside.sum())} of the {len(mjj)} mjj lie outside the signal region {SIGNAL_REGION} "
            "TeV: the Gaussian kernels of the SR events near the edges leak out of it. Keep only the "
            "values with 3.3 < mjj < 3.7 and draw again for the others (rejection)"
        )


def _check_copies(mjj: np.ndarray, sr_mjj: np.ndarray) -> None:
    copies = np.mean(np.abs(_near(mjj, sr_mjj)) < 1e-6)
    if copies > 0.5:
        raise AssertionError(
            f"{copies:.0%} of the mjj are copies of SR events' masses: that resamples the data without "
            "the kernel. A sample of a Gaussian KDE is a random SR mass plus N(0, bandwidth) noise "
            "(KernelDensity(bandwidth=bandwidth).fit(sr_mjj[:, None]).sample(n), or by hand)"
        )


def _check_features(mjj: np.ndarray, features: np.ndarray, sr_mjj: np.ndarray) -> None:
    at = features[:, 0]
    wrong = np.abs(at - mjj) > 1e-5
    if not wrong.any():
        return
    if not np.allclose(features[:, 1], at - LO, atol=1e-4):
        raise AssertionError(
            "the features are not the flow's samples: draw them with flow.sample(n, context=mjj) "
            "(returning the data's own SR events, or features made otherwise, is not CATHODE)"
        )
    if np.ptp(at) < 1e-6:
        raise AssertionError(
            f"all the features were drawn at one mjj ({at[0]:.3f} TeV): pass the drawn masses as the "
            "context, flow.sample(n, context=mjj), one per sample. The background's features change with "
            "mjj, so samples at one mass do not describe the signal region"
        )
    if np.mean(np.abs(_near(at, sr_mjj)) < 1e-6) > 0.5:
        raise AssertionError(
            "the features were drawn at the SR events' own masses (sr_mjj), not at the mjj you return: "
            "use the KDE's draws as the context, flow.sample(n, context=mjj)"
        )
    if np.allclose(np.sort(at), np.sort(mjj), atol=1e-5):
        raise AssertionError(
            f"features[i] was not drawn at mjj[i] for {int(wrong.sum())} of {len(mjj)} rows, though the "
            "features were drawn at your masses: the rows are shuffled or sorted between mjj and "
            "features. Keep them aligned: features = flow.sample(n, context=mjj) with the mjj you return"
        )
    raise AssertionError(
        f"features[i] was not drawn at mjj[i] for {int(wrong.sum())} of {len(mjj)} rows: the features "
        "come from the flow at other masses (a second KDE draw, or the masses from before the "
        "rejection of those outside the SR?). Draw the features once the mjj are final: "
        "flow.sample(n, context=mjj)"
    )


def check_my_cathode_samples(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(flow, sr_mjj, n, bandwidth,
    seed)`` returns ``(mjj, features)``: n masses from a Gaussian KDE of ``sr_mjj`` (bandwidth in TeV),
    all inside the signal region (rejection), and features drawn from ``flow`` at those masses.

    1. ``ContextEcho`` as the flow, 3,000 SR masses from a falling spectrum, n = 4,000: shapes, all
       mjj inside (3.3, 3.7), not copies of the SR masses, ``features[i]`` drawn at ``mjj[i]``;
    2. four isolated SR masses (3.35 ... 3.65): the spread of mjj around them is the bandwidth,
       0.01 TeV by default and 0.02 when asked;
    3. the distribution of case 1 against a large reference KDE sample (Kolmogorov-Smirnov);
    4. a tiny untrained ``SidebandFlow``: the answer works with the real flow.
    """
    echo = ContextEcho()
    sr_mjj = _falling_sr_mjj(3000, seed=6)
    n = 4000
    with _seeded(0):
        result = _call(answer, echo, sr_mjj.copy(), n, seed=1)
    mjj, features = _unpack_samples(result, n, len(sr_mjj))
    if echo.calls == 0 and not np.allclose(features[:, 1], features[:, 0] - LO, atol=1e-4):
        raise AssertionError(
            "the flow was never asked for samples: the features must come from flow.sample(n, context=mjj), "
            "not from the data"
        )
    _check_inside(mjj)
    _check_copies(mjj, sr_mjj)
    _check_features(mjj, features, sr_mjj)

    # the width of the kernel, from isolated SR masses (5 bandwidths from each other and from the edges)
    points = np.array([3.35, 3.45, 3.55, 3.65])
    spreads = {}
    for bandwidth in (0.01, 0.02):
        with _seeded(1):
            kwargs = {} if bandwidth == 0.01 else {"bandwidth": bandwidth}
            result = _call(answer, ContextEcho(), points.copy(), 4000, seed=2, **kwargs)
        narrow_mjj, narrow_features = _unpack_samples(result, 4000, len(points))
        _check_inside(narrow_mjj)
        _check_copies(narrow_mjj, points)
        _check_features(narrow_mjj, narrow_features, points)
        spreads[bandwidth] = float(np.std(_near(narrow_mjj, points)))

    reference = _kde_sample(sr_mjj, 40_000, 0.01, seed=3)
    p_reference = stats.ks_2samp(mjj, reference).pvalue
    p_uniform = stats.kstest(mjj, "uniform", args=(LO, HI - LO)).pvalue
    if p_reference < 1e-4 and p_uniform > 1e-3:
        raise AssertionError(
            f"the mjj are uniform in the signal region (Kolmogorov-Smirnov p = {p_uniform:.2f} against a "
            "uniform distribution): they must follow the SR events' spectrum, which falls steeply with "
            "mjj. Sample a KDE of sr_mjj: a random SR mass plus N(0, bandwidth) noise (a kernel far too "
            "wide, such as sklearn's default bandwidth=1.0, also gives a flat spectrum: pass "
            "bandwidth=bandwidth)"
        )
    ratio = spreads[0.01] / 0.01
    if ratio > 1.25:
        raise AssertionError(
            f"the mjj spread around the SR masses by {1000 * spreads[0.01]:.0f} GeV (standard deviation) "
            "where the kernel's bandwidth is 10 GeV: the kernel is too wide (a bandwidth 10 times too "
            "large, the variance used instead of the standard deviation, or sklearn's default "
            "bandwidth=1.0?). The bandwidth is the kernel's standard deviation, in TeV: 0.01 TeV = 10 GeV"
        )
    if ratio < 0.8:
        raise AssertionError(
            f"the mjj spread around the SR masses by {1000 * spreads[0.01]:.1f} GeV (standard deviation) "
            "where the kernel's bandwidth is 10 GeV: the kernel is too narrow (a bandwidth 10 times too "
            "small, e.g. GeV and TeV mixed up?). The bandwidth is the kernel's standard deviation, in TeV"
        )
    ratio = spreads[0.02] / 0.02
    if not 0.85 < ratio < 1.2:
        raise AssertionError(
            f"asked for bandwidth=0.02, the mjj spread around the SR masses by {1000 * spreads[0.02]:.0f} "
            "GeV instead of 20: the bandwidth argument is ignored (a hard-coded 0.01?)"
        )
    if p_reference < 1e-4:
        raise AssertionError(
            f"the mjj are not distributed like a KDE of the SR events' masses (Kolmogorov-Smirnov p = "
            f"{p_reference:.1e}; mean {mjj.mean():.4f} TeV, expected {reference.mean():.4f}): draw a random "
            "SR mass (uniformly among sr_mjj) plus N(0, bandwidth) noise, keeping those inside the SR"
        )

    # the real flow: a tiny untrained SidebandFlow
    from gm_helpers.anomaly import SidebandFlow

    flow = SidebandFlow(simulate(2000, seed=7).sidebands(), transforms=1, hidden=(8,), seed=0)
    with _seeded(2):
        result = _call(answer, flow, sr_mjj[:500].copy(), 300, seed=3)
    real_mjj, _ = _unpack_samples(result, 300, 500)
    _check_inside(real_mjj)


# --------------------------------------------------------------------------------------------------
# Step 2: the SIC curve


def reference_sic_curve(scores, is_signal, min_background: int = 50, *, _mistake: str = ""):
    """(eps_s, sic) worked out by hand: one cut after every event, sorted by decreasing score, kept
    where at least ``min_background`` background events pass. ``_mistake`` computes a classic wrong
    version instead (for the diagnosis)."""
    scores = np.asarray(scores, dtype=np.float64)
    is_signal = np.asarray(is_signal, dtype=bool)
    order = np.argsort(scores if _mistake == "ascending" else -scores, kind="stable")
    passed_s = np.cumsum(is_signal[order]).astype(np.float64)
    passed_b = np.cumsum(~is_signal[order]).astype(np.float64)
    if _mistake == "all events as background":
        passed_b = np.arange(1.0, len(scores) + 1)
    n_s, n_b = float(is_signal.sum()), float((~is_signal).sum())
    keep = {
        "floor on signal": passed_s >= min_background,
        "no floor": np.ones(len(scores), dtype=bool),
        "strict floor": passed_b > min_background,
        "floor on eps_b": passed_b / n_b >= min_background,
        "floor on all events": passed_s + passed_b >= min_background,
    }.get(_mistake, passed_b >= min_background)
    if _mistake == "total":
        n_s = n_b = float(len(scores))
    with np.errstate(divide="ignore", invalid="ignore"):
        eps_s, eps_b = passed_s[keep] / n_s, passed_b[keep] / n_b
        if _mistake == "eps_b":
            return eps_s, eps_s / eps_b
        if _mistake == "counts":
            return passed_s[keep], passed_s[keep] / np.sqrt(passed_b[keep])
        if _mistake == "sic from counts":
            return eps_s, passed_s[keep] / np.sqrt(passed_b[keep])
        return eps_s, eps_s / np.sqrt(eps_b)


_SIC_MISTAKES = {
    "ascending": "the scores are sorted in increasing order, so each cut keeps the *lowest* scores (the "
    "background-like tail: SIC < 1). Higher score = more signal-like: sort in decreasing order "
    "(np.argsort(-scores))",
    "eps_b": "the SIC divides by eps_B instead of sqrt(eps_B): SIC = eps_S / sqrt(eps_B), the factor by "
    "which the cut multiplies S / sqrt(B)",
    "counts": "the efficiencies are counts of events, not fractions: eps_S = (signal events passing) / "
    "(all signal events), eps_B likewise with the background",
    "sic from counts": "the SIC is computed from counts of events (S_pass / sqrt(B_pass)), not from the "
    "efficiencies: eps_S = S_pass / S, eps_B = B_pass / B",
    "total": "the efficiencies are divided by the total number of events: divide each class by its own "
    "size, eps_S = S_pass / (number of signal events), eps_B = B_pass / (number of background events)",
    "all events as background": "eps_B counts every event that passes, signal included: count only the "
    "background events (cumulative sum of ~is_signal)",
    "floor on signal": "the floor counts signal events: it must count the *background* events that pass "
    "(keep the cuts with passed_b >= min_background), the noise at tiny eps_B is the problem",
    "no floor": "the floor is missing: cuts that keep almost no background give eps_B ~ 0 and a huge (or "
    "infinite) SIC that is pure noise. Keep only the cuts that at least min_background background events "
    "pass",
    "floor on all events": "the floor counts every event that passes, signal included: count only the "
    "background events (keep the cuts with passed_b >= min_background)",
    "strict floor": "the floor drops the cut that keeps exactly min_background background events: keep "
    "passed_b >= min_background, not >",
    "floor on eps_b": "no cut is left: the floor compares the *fraction* eps_B with min_background (a "
    "number of events): compare the number of background events that pass",
}


def _sic_points(result) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise AssertionError(
            f"my_sic_curve must return a tuple (eps_s, sic), got {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, tuple | list) else "")
        )
    eps_s, sic = (np.asarray(to_numpy(part), dtype=np.float64).reshape(-1) for part in result)
    if eps_s.shape != sic.shape:
        raise AssertionError(
            f"eps_s and sic have different lengths ({len(eps_s)} and {len(sic)}): one point per cut"
        )
    return eps_s, sic


def _same_curve(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> bool:
    """The same points, whatever their order."""
    (ge, gs), (we, ws) = got, want
    if ge.shape != we.shape:
        return False
    g, w = np.lexsort((-gs, ge)), np.lexsort((-ws, we))
    return bool(
        np.allclose(ge[g], we[w], rtol=1e-6, atol=1e-12)
        and np.allclose(gs[g], ws[w], rtol=1e-6, atol=1e-12, equal_nan=True)
    )


def _diagnose_sic(got, scores, is_signal, min_background: int, n_b: int) -> None:
    for mistake, message in _SIC_MISTAKES.items():
        if _same_curve(got, reference_sic_curve(scores, is_signal, min_background, _mistake=mistake)):
            raise AssertionError(message)
    eps_s, sic = got
    if not len(eps_s):
        raise AssertionError("my_sic_curve returned no point: is the floor comparing the right numbers?")
    if np.nanmax(eps_s) > 1 + 1e-9:
        raise AssertionError(f"eps_s reaches {np.nanmax(eps_s):g}: efficiencies are fractions in [0, 1]. "
                             + _SIC_MISTAKES["counts"])  # fmt: skip
    if not np.all(np.isfinite(sic)):
        raise AssertionError(
            f"{int(np.sum(~np.isfinite(sic)))} SIC values are infinite or NaN: a cut that keeps no "
            "background event has eps_B = 0. " + _SIC_MISTAKES["no floor"]
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        passing_b = (
            n_b * (eps_s / sic) ** 2
        )  # background events behind each point, if SIC = eps_S / sqrt(eps_B)
    if np.nanmin(passing_b) < 0.9 * min_background - 0.5:
        raise AssertionError(
            f"the curve has cuts that only {np.nanmin(passing_b):.0f} background events pass (min_background "
            f"= {min_background}): " + _SIC_MISTAKES["no floor"]
        )
    want = reference_sic_curve(scores, is_signal, min_background)
    if np.nanmax(sic) < 1:
        raise AssertionError(
            f"the SIC stays below 1 (at most {np.nanmax(sic):.2f}) for a score that separates well (max SIC "
            f"{want[1].max():.2f}): the cut keeps the wrong tail. " + _SIC_MISTAKES["ascending"]
        )
    raise AssertionError(
        f"the SIC curve differs from the one worked out by hand: {len(eps_s)} points with max SIC "
        f"{np.nanmax(sic):.4f}, expected {len(want[0])} points (one cut after every event that leaves at "
        f"least min_background background events) with max SIC {want[1].max():.4f}"
    )


def check_my_sic_curve(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(scores, is_signal,
    min_background)`` returns the SIC curve worked out by hand (``reference_sic_curve``): the points
    (eps_S, eps_S / sqrt(eps_B)) of the cuts after every event, sorted by decreasing score, that at
    least ``min_background`` background events pass. Gaussian scores (signal N(1.8, 1), background
    N(0, 1)) in two sizes, with min_background 50 and 10."""
    for n_b, n_s, min_background, seed in ((20_000, 400, 50, 0), (5_000, 200, 10, 1)):
        rng = np.random.default_rng(seed)
        is_signal = rng.permutation(np.r_[np.ones(n_s, bool), np.zeros(n_b, bool)])
        scores = rng.standard_normal(n_b + n_s) + 1.8 * is_signal
        got = _sic_points(_call(answer, scores.copy(), is_signal.copy(), min_background))
        want = reference_sic_curve(scores, is_signal, min_background)
        if _same_curve(got, want):
            continue
        if min_background != 50 and _same_curve(got, reference_sic_curve(scores, is_signal, 50)):
            raise AssertionError(
                f"asked for min_background={min_background}, the curve stops at 50 background events: "
                "the min_background argument is ignored (a hard-coded 50?)"
            )
        _diagnose_sic(got, scores, is_signal, min_background, n_b)


# --------------------------------------------------------------------------------------------------
# Step 3: the cut and the bump hunt after it


def physicist_window(events: Events) -> np.ndarray:
    """The cut-based search of the exercise: a window around the signal hypothesis m_Y ~ 0.1 TeV
    (lighter jet), m_X - m_Y ~ 0.4 TeV, with two-prong jets (small tau21). Returns a mask."""
    mj1, dm, tau21_1, tau21_2 = events.features.T
    return (mj1 > 0.08) & (mj1 < 0.14) & (dm > 0.30) & (dm < 0.48) & (tau21_1 < 0.5) & (tau21_2 < 0.6)


def _as_mask(result, n: int, what: str) -> np.ndarray:
    if result is None:
        raise AssertionError(f"{what} returns None: return the mask (is the `return` missing?)")
    if np.ndim(to_numpy(result)) == 0:
        raise AssertionError(
            f"{what} returns one number ({float(to_numpy(result)):.4g}): return the boolean mask of the "
            "events that pass, scores >= threshold, one entry per event"
        )
    mask = np.asarray(to_numpy(result))
    if mask.shape != (n,):
        raise AssertionError(
            f"{what} must return a mask of shape ({n},), one entry per event, got {mask.shape}"
        )
    if mask.dtype != bool:
        raise AssertionError(
            f"{what} must return a boolean mask (scores >= threshold), got dtype {mask.dtype}"
        )
    return mask


def check_cut_at_efficiency(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(scores, in_sr, efficiency)``
    returns the mask ``scores >= t`` for every event, with t chosen so that the fraction
    ``efficiency`` of the signal-region events pass (the SR scores differ from the others' here)."""
    rng = np.random.default_rng(11)
    n = 40_000
    in_sr = rng.random(n) < 0.15
    scores = np.where(in_sr, rng.beta(2, 3, n), rng.beta(1.5, 5, n))  # the SR scores are higher
    for efficiency in (0.05, 0.2):
        mask = _as_mask(_call(answer, scores.copy(), in_sr.copy(), efficiency), n, "cut_at_efficiency")
        if not mask.any():
            raise AssertionError("no event passes the cut")
        sr_efficiency, all_efficiency = mask[in_sr].mean(), mask.mean()
        tolerance = 2 / in_sr.sum() + 1e-9
        if abs(sr_efficiency - (1 - efficiency)) < tolerance and efficiency != 0.5:
            raise AssertionError(
                f"asked to keep {efficiency:.0%} of the SR events, the cut keeps {sr_efficiency:.0%}: the "
                "threshold is the (1 - efficiency) quantile of the SR scores, np.quantile(scores[in_sr], "
                "1 - efficiency), and the events *above* it pass"
            )
        outside = mask[~in_sr]
        if abs(sr_efficiency - efficiency) < tolerance and (outside.all() or not outside.any()):
            raise AssertionError(
                f"the cut is applied in the signal region only: {'all' if outside.all() else 'none'} of the "
                "other events pass. Apply the same threshold to every event (scores >= threshold): the "
                "bump hunt fits the side bands of the events that pass the cut"
            )
        if mask.any() and (~mask).any() and scores[mask].min() < scores[~mask].max():
            kept_low = scores[mask].mean() < scores[~mask].mean()
            raise AssertionError(
                "the mask is not a cut on the score: "
                + (
                    "it keeps the lowest scores. Keep the events with scores >= threshold"
                    if kept_low
                    else "some events pass with a lower score than some that fail. "
                    "Keep scores >= threshold, for every event"
                )
            )
        if abs(all_efficiency - efficiency) < tolerance and abs(sr_efficiency - efficiency) > 0.02:
            raise AssertionError(
                f"the threshold keeps {efficiency:.0%} of *all* events but {sr_efficiency:.1%} of the SR "
                "events: take the quantile of the SR events' scores, "
                "np.quantile(scores[in_sr], 1 - efficiency)"
            )
        if abs(sr_efficiency - efficiency) > tolerance:
            raise AssertionError(
                f"asked to keep {efficiency:.0%} of the SR events, the cut keeps {sr_efficiency:.2%} of "
                "them: threshold = np.quantile(scores[in_sr], 1 - efficiency), keep = scores >= threshold"
            )


_EVENTS_CACHE: dict[str, Events] = {}


def _hunt_events() -> Events:
    if "events" not in _EVENTS_CACHE:
        _EVENTS_CACHE["events"] = simulate(200_000, n_signal=2_000, seed=2024)
    return _EVENTS_CACHE["events"]


def check_significance_after_cut(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(events, keep_mask)`` returns
    the profiled local significance of the bump hunt on the events that pass (side bands included):
    ``gm.anomaly.bump_hunt(events[keep_mask]).significance_profiled``. Two masks on simulated
    events with a signal: the physicist's window, and a random 30 % of the events."""
    from gm_helpers.anomaly import bump_hunt, local_significance

    events = _hunt_events()
    inside = events.in_region()
    masks = {
        "the window cut": physicist_window(events),
        "a random 30 % of the events": np.random.default_rng(5).random(len(events)) < 0.3,
    }
    for name, mask in masks.items():
        result = _call(answer, events, mask.copy())
        if hasattr(result, "significance_profiled"):
            raise AssertionError(
                "significance_after_cut returns the whole BumpHunt: return the number, "
                "hunt.significance_profiled"
            )
        try:
            z = float(to_numpy(result))
        except (TypeError, ValueError):
            raise AssertionError(
                f"significance_after_cut must return one number Z, got {type(result).__name__}"
            ) from None
        hunt = bump_hunt(events[mask])
        if math.isclose(z, hunt.significance_profiled, rel_tol=1e-6, abs_tol=1e-9):
            continue
        uncut = bump_hunt(events)
        n_sr = int(np.count_nonzero(mask & inside))
        scaled = [
            (f"{what} efficiency", local_significance(n_sr, uncut.b_expected * eff, sigma))
            for what, eff in (
                ("overall", mask.mean()),
                ("side-band", mask[~inside].mean()),
                ("SR", mask[inside].mean()),
            )
            for sigma in (0.0, uncut.b_uncertainty * eff)
        ]
        candidates = [
            (
                hunt.significance,
                "this is Z without the uncertainty of the background fit (hunt.significance): quote "
                "hunt.significance_profiled, which folds in the fit's uncertainty on b",
            ),
            (
                bump_hunt(events[mask | ~inside]).significance_profiled,
                "the cut is applied in the signal region only: the fit then sees the uncut side bands and "
                "predicts the uncut background, against which the cut SR looks empty. Cut every event, "
                "bump_hunt(events[keep_mask])",
            ),
            (
                bump_hunt(events[mask | inside]).significance_profiled,
                "the cut is applied to the side bands only: the fit predicts the background of the cut "
                "spectrum, the SR keeps every event, and a bump appears from nothing (the classic way to "
                "fake a signal). Cut every event, bump_hunt(events[keep_mask])",
            ),
            (
                uncut.significance_profiled,
                "this is the significance without the cut: the keep_mask is ignored",
            ),
            (
                bump_hunt(events[~mask]).significance_profiled,
                "the mask is inverted: keep the events where keep_mask is True, events[keep_mask]",
            ),  # fmt: skip
            *(
                (
                    value,
                    f"this counts the SR events that pass and scales the uncut fit's b by the {what}: "
                    "an efficiency measured that way does not predict the background that passes. Fit "
                    "the spectrum of the events that pass instead, bump_hunt(events[keep_mask])",
                )
                for what, value in scaled
            ),
        ]
        for value, message in candidates:
            if math.isclose(z, value, rel_tol=1e-6, abs_tol=1e-9):
                raise AssertionError(message)
        raise AssertionError(
            f"for {name} Z = {z:.4g}, expected {hunt.significance_profiled:.4g} ({hunt}): run "
            "gm.anomaly.bump_hunt on the events that pass, events[keep_mask], and return its "
            "significance_profiled"
        )
