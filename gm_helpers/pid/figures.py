"""Figures of a PID fast simulation: DLL distributions in bins of a condition, and efficiency curves.

Both compare generated DLLs with the reference for the *same* tracks (the same conditions), the
way Lamarr and the RICH GAN are validated: one row of ratio panels per DLL, one efficiency plot
with its pulls (the two-proportion z of ``curve_agreement``) under it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from gm_helpers.data.pid import CONDITIONS, OUTPUTS, Tracks
from gm_helpers.pid.validation import EfficiencyCurve, curve_agreement, efficiency_curve
from gm_helpers.plotting import hist_ratio

__all__ = ["BINS", "P_BINS", "dll_in_bins", "efficiency_plot"]

P_BINS = ((3.0, 10.0), (10.0, 30.0), (30.0, 200.0))  # GeV: below, between and above the kaon thresholds
BINS = {  # default bins of each condition for dll_in_bins
    "p": P_BINS,
    "eta": ((1.8, 3.0), (3.0, 4.2), (4.2, 5.5)),
    "nTracks": ((0.0, 100.0), (100.0, 250.0), (250.0, 1000.0)),
}
_UNITS = {"p": " GeV", "eta": "", "nTracks": ""}


def dll_in_bins(
    reference: Tracks,
    generated: Mapping[str, np.ndarray],
    output: str = "DLLK",
    variable: str = "p",
    ranges: Sequence[tuple[float, float]] | None = None,
    bins: int = 40,
    logy: bool = True,
):
    """One ``hist_ratio`` panel per bin of the condition ``variable`` ("p", "eta" or "nTracks";
    ``ranges`` (low, high) pairs, default ``BINS[variable]``): the reference's ``output`` against each
    generated (n, 4) DLL array, made for the reference's conditions. Returns the figure."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if variable not in BINS:
        raise ValueError(f"variable must be one of {tuple(BINS)}, got {variable!r}")
    ranges = BINS[variable] if ranges is None else ranges
    for name, dll in generated.items():
        if np.shape(dll) != reference.dll.shape:
            raise ValueError(
                f"{name}: generated DLLs must have the reference's shape {reference.dll.shape} (one row per "
                f"reference track, made with its conditions), got {np.shape(dll)}"
            )
    j = OUTPUTS.index(output)
    fig = plt.figure(figsize=(4.4 * len(ranges) + 2, 4.4), layout="constrained")
    x = reference.conditions[:, CONDITIONS.index(variable)]
    for subfig, (low, high) in zip(np.atleast_1d(fig.subfigures(1, len(ranges))), ranges, strict=True):
        inside = (x >= low) & (x < high)
        edges = np.linspace(reference.dll[inside, j].min(), reference.dll[inside, j].max(), bins + 1)
        hist_ratio(reference.dll[inside, j], {name: dll[inside, j] for name, dll in generated.items()},
                   bins=edges, xlabel=output, logy=logy, fig=subfig)  # fmt: skip
        subfig.axes[0].get_legend().remove()  # one legend for the figure, beside the panels
        subfig.suptitle(
            f"{low:g} < {variable} < {high:g}{_UNITS[variable]} ({inside.sum():,} tracks)", fontsize=10
        )
    fig.legend(*fig.subfigs[0].axes[0].get_legend_handles_labels(), loc="outside right upper", frameon=False)
    return fig


def efficiency_plot(
    reference: Tracks,
    generated: Mapping[str, np.ndarray],
    cut: Callable[[np.ndarray], np.ndarray],
    edges,
    label: str = "",
    axes=None,
) -> dict[str, np.ndarray]:
    """The efficiency of ``cut`` (a function of (n, 4) DLLs giving booleans) against momentum, for
    the reference and each generated DLL array, with the pulls z per bin underneath (grey: |z| <= 2).
    Returns the z values per model."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(5.2, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    top, bottom = axes
    p = reference.conditions[:, 0]
    ref = efficiency_curve(cut(reference.dll), p, edges)
    top.errorbar(ref.centers, ref.efficiency, yerr=ref.error, xerr=np.diff(edges) / 2, fmt="none", color="k",
                 lw=1.2, label="reference")  # fmt: skip
    pulls = {}
    for k, (name, dll) in enumerate(generated.items()):
        curve: EfficiencyCurve = efficiency_curve(cut(np.asarray(dll)), p, edges)
        shift = np.exp((k - (len(generated) - 1) / 2) * 0.04)  # side by side on the log axis
        top.errorbar(curve.centers * shift, curve.efficiency, yerr=curve.error, fmt="o", ms=3.5, label=name)
        pulls[name] = curve_agreement(curve, ref)
        bottom.plot(ref.centers * shift, pulls[name], "o", ms=3.5)
    bottom.axhspan(-2, 2, color="0.9")
    bottom.axhline(0, color="0.4", lw=0.8)
    bottom.set(xscale="log", xlabel="p [GeV]", ylabel="pull z")
    top.set(xscale="log", ylabel="efficiency", title=label, ylim=(-0.03, 1.03))
    top.legend(frameon=False, fontsize=8)
    return pulls
