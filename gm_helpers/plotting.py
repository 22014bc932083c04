"""Figures the notebooks draw again and again: HEP-style histogram comparisons, image grids,
loss curves, 2-D densities and samples, corner plots of posteriors and P-P plots of their calibration."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from gm_helpers.core import to_numpy

__all__ = ["corner", "density_2d", "hist_ratio", "image_grid", "loss_curves", "pp_plot", "samples_2d"]


def hist_ratio(
    reference,
    others: Mapping[str, object],
    bins: int | Sequence[float] = 40,
    reference_label: str = "reference",
    xlabel: str = "",
    logy: bool = False,
    ratio_range: tuple[float, float] = (0.5, 1.5),
    fig=None,
):
    """Normalized histograms of ``reference`` and each of ``others`` over a ratio panel (other / ref).

    The reference is drawn filled, the others as steps; ratio error bars are the Poisson errors of
    both histograms. Returns the figure, with its two axes in ``fig.axes``.
    """
    ref = to_numpy(reference).ravel()
    edges = np.histogram_bin_edges(ref, bins=bins)
    fig = fig or plt.figure(figsize=(5.5, 4.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0})
    h_ref, _ = np.histogram(ref, edges)
    top.stairs(_density(h_ref, edges), edges, fill=True, color="0.8", label=reference_label)
    centres = 0.5 * (edges[1:] + edges[:-1])
    for label, values in others.items():
        x = to_numpy(values).ravel()
        h, _ = np.histogram(x, edges)
        color = top.stairs(_density(h, edges), edges, lw=1.5, label=label).get_edgecolor()
        filled = (h > 0) & (h_ref > 0)  # empty bins have no ratio: leave them out of the panel
        ratio = (h[filled] / len(x)) / (h_ref[filled] / len(ref))
        error = ratio * np.sqrt(1 / h[filled] + 1 / h_ref[filled])
        bottom.errorbar(centres[filled], ratio, yerr=error, fmt="o", ms=3, color=color)
    bottom.axhline(1, color="0.4", lw=1)
    bottom.set_ylim(*ratio_range)
    bottom.yaxis.set_major_locator(MaxNLocator(nbins=3, prune="upper"))  # no tick label on the seam
    bottom.set_ylabel("ratio")
    bottom.set_xlabel(xlabel)
    top.set_ylabel("density")
    if logy:
        top.set_yscale("log")
    else:
        top.yaxis.set_major_locator(MaxNLocator(nbins=5, prune="lower"))
        top.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))  # 1.2 with "1e-4" above, not 0.00012
    top.legend(frameon=False)
    return fig


def _density(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin as a density (integral 1 over the bins); all zeros when the bins are empty."""
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total else counts.astype(float)


def image_grid(images, nrow: int = 8, ax=None, title: str = "", cmap: str = "gray"):
    """Show a batch of images (N, C, H, W) as one grid (``torchvision.utils.make_grid``)."""
    from torchvision.utils import make_grid

    images = torch.as_tensor(to_numpy(images), dtype=torch.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0).permute(1, 2, 0).numpy()
    ax = ax or plt.figure(figsize=(nrow * 0.6, (len(images) + nrow - 1) // nrow * 0.6)).gca()
    ax.imshow(grid[..., 0] if images.shape[1] == 1 else grid, cmap=cmap, vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title)
    return ax


def loss_curves(
    history: Mapping[str, Sequence[float]],
    names: Sequence[str] | None = None,
    ax=None,
    smooth: int = 1,
    logy: bool = False,
):
    """Plot the named series of a training history (default: all) against the step.

    A ``gm.train.History`` knows the step of every value, so per-step losses and periodic
    evaluations share the x-axis; a plain dict is plotted against 1, 2, .... ``smooth`` > 1 draws a
    running mean over that many values.
    """
    ax = ax or plt.figure(figsize=(6, 3.5)).gca()
    for name in names or list(history):
        values = np.asarray(history[name], dtype=float)
        steps = np.asarray(
            history.steps(name) if hasattr(history, "steps") else np.arange(1, len(values) + 1)
        )
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        ax.plot(steps, values, label=name, marker="o" if len(values) < 30 else None, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    return ax


def samples_2d(samples, reference=None, ax=None, title: str = "", lim: float = 3.5, s: float = 2):
    """Scatter 2-D samples, over the reference data in grey when given."""
    ax = ax or plt.figure(figsize=(4, 4)).gca()
    if reference is not None:
        ref = to_numpy(reference)
        ax.scatter(ref[:, 0], ref[:, 1], s=s, c="0.75", label="data")
    x = to_numpy(samples)
    ax.scatter(x[:, 0], x[:, 1], s=s, c="C3", alpha=0.6, label="samples")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    return ax


def density_2d(
    log_prob: Callable[[torch.Tensor], torch.Tensor],
    ax=None,
    lim: float = 3.5,
    n: int = 200,
    title: str = "",
    cmap: str = "viridis",
):
    """Image of exp(log_prob) on an n x n grid over [-lim, lim]^2. Returns the axis."""
    ax = ax or plt.figure(figsize=(4, 4)).gca()
    axis = torch.linspace(-lim, lim, n)
    grid = torch.cartesian_prod(axis, axis).flip(1)  # rows: y, columns: x
    with torch.no_grad():
        density = log_prob(grid).exp().reshape(n, n).cpu().numpy()
    ax.imshow(density, origin="lower", extent=(-lim, lim, -lim, lim), cmap=cmap)
    ax.set(title=title, aspect="equal")
    return ax


def corner(
    samples: Mapping[str, object],
    labels: Sequence[str],
    truth=None,
    bins: int = 40,
    max_points: int = 3000,
    fig=None,
    weights: Mapping[str, object] | None = None,
):
    """Corner plot of posterior samples: 1-D histograms on the diagonal, 2-D scatter plots of up to
    ``max_points`` samples below it, one colour per entry of ``samples`` (name -> (n, d)), the true
    values as lines. ``weights``: name -> (n,) importance weights of that set (histograms only; the
    scatter shows an equally weighted resample). Returns the figure."""
    sets = {name: np.asarray(to_numpy(s), dtype=np.float64) for name, s in samples.items()}
    d = len(labels)
    if any(s.ndim != 2 or s.shape[1] != d for s in sets.values()):
        raise ValueError(f"every sample set must have shape (n, {d}) for the {d} labels")
    weights = {name: np.asarray(to_numpy(w), dtype=np.float64) for name, w in (weights or {}).items()}
    fig = fig or plt.figure(figsize=(2.3 * d, 2.3 * d))
    axes = fig.subplots(d, d, squeeze=False)
    both = np.concatenate(list(sets.values()))
    ranges = [np.quantile(both[:, j], [0.001, 0.999]) for j in range(d)]
    rng = np.random.default_rng(0)
    for k, (name, s) in enumerate(sets.items()):
        colour, w = f"C{k}", weights.get(name)
        shown = s[rng.choice(len(s), min(max_points, len(s)), p=None if w is None else w / w.sum())]
        for i in range(d):
            axes[i, i].hist(s[:, i], bins=np.linspace(*ranges[i], bins + 1), weights=w, density=True,
                            histtype="step", color=colour, label=name)  # fmt: skip
            for j in range(i):
                axes[i, j].scatter(shown[:, j], shown[:, i], s=1, alpha=0.25, color=colour, rasterized=True)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            ax.set_xlim(*ranges[j])
            if j < i:
                ax.set_ylim(*ranges[i])
            if truth is not None:
                ax.axvline(truth[j], color="k", lw=0.8)
                if j < i:
                    ax.axhline(truth[i], color="k", lw=0.8)
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.yaxis.set_major_locator(MaxNLocator(3))
            ax.tick_params(labelsize=7)
            ax.set_xlabel(labels[j] if i == d - 1 else "")
            if i == d - 1:
                ax.tick_params(axis="x", labelrotation=45)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
            else:
                ax.set_yticklabels([])
            if i == j:
                ax.set_yticks([])
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.1, 1.0), frameon=False)
    fig.subplots_adjust(wspace=0.08, hspace=0.08)
    return fig


def pp_plot(
    levels, curves: Mapping[str, object], n: int, ax=None, title: str = "", xlabel: str = "credible level"
):
    """P-P (or expected-coverage) curves against the credible level, with the diagonal and its 95 %
    band for ``n`` observations (binomial: where a calibrated curve falls 95 % of the time at each
    level). ``curves``: name -> values at ``levels``. Returns the axis."""
    from scipy import stats

    levels = np.asarray(levels, dtype=np.float64)
    ax = ax or plt.figure(figsize=(3.6, 3.6)).gca()
    lo, hi = stats.binom.interval(0.95, n, levels)
    ax.fill_between(levels, lo / n, hi / n, color="grey", alpha=0.25, lw=0, label="95 % band, calibrated")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    for name, values in curves.items():
        ax.plot(levels, np.asarray(to_numpy(values)), label=name)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel=xlabel,
        ylabel="fraction of observations",
        title=title,
        aspect="equal",
    )
    return ax
