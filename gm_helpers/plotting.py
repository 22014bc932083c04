"""Figures the notebooks draw again and again: HEP-style histogram comparisons, image grids,
loss curves, 2-D densities and samples, pair plots."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["density_2d", "hist_ratio", "image_grid", "loss_curves", "pair_plot", "samples_2d"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


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
    ref = _np(reference).ravel()
    edges = np.histogram_bin_edges(ref, bins=bins)
    fig = fig or plt.figure(figsize=(5.5, 4.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0})
    h_ref, _ = np.histogram(ref, edges)
    top.hist(ref, edges, density=True, color="0.8", label=reference_label)
    centres = 0.5 * (edges[1:] + edges[:-1])
    for label, values in others.items():
        x = _np(values).ravel()
        h, _ = np.histogram(x, edges)
        patches = top.hist(x, edges, density=True, histtype="step", lw=1.5, label=label)[2]
        color = patches[0].get_edgecolor()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (h / len(x)) / (h_ref / len(ref))
            error = ratio * np.sqrt(1 / h + 1 / h_ref)
        bottom.errorbar(centres, ratio, yerr=error, fmt="o", ms=3, color=color)
    bottom.axhline(1, color="0.4", lw=1)
    bottom.set_ylim(*ratio_range)
    bottom.set_ylabel("ratio")
    bottom.set_xlabel(xlabel)
    top.set_ylabel("density")
    if logy:
        top.set_yscale("log")
    top.legend(frameon=False)
    return fig


def image_grid(images, nrow: int = 8, ax=None, title: str = "", cmap: str = "gray"):
    """Show a batch of images (N, C, H, W) as one grid (``torchvision.utils.make_grid``)."""
    from torchvision.utils import make_grid

    images = torch.as_tensor(_np(images), dtype=torch.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0).permute(1, 2, 0).numpy()
    ax = ax or plt.figure(figsize=(nrow * 0.6, (len(images) + nrow - 1) // nrow * 0.6)).gca()
    ax.imshow(grid[..., 0] if images.shape[1] == 1 else grid, cmap=cmap, vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title)
    return ax


def loss_curves(history: Mapping[str, Sequence[float]], ax=None, smooth: int = 1, logy=False):
    """Plot every loss of a training history, optionally with a running mean over ``smooth`` steps."""
    ax = ax or plt.figure(figsize=(6, 3.5)).gca()
    for name, values in history.items():
        values = np.asarray(values, dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
        ax.plot(values, label=name)
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
        ref = _np(reference)
        ax.scatter(ref[:, 0], ref[:, 1], s=s, c="0.75", label="data")
    x = _np(samples)
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


def pair_plot(samples, reference=None, labels: Sequence[str] | None = None, bins: int = 40):
    """Corner-style plot: 1-D histograms on the diagonal, 2-D histograms below it."""
    x = _np(samples)
    d = x.shape[1]
    labels = labels or [f"x{i}" for i in range(d)]
    fig, axes = plt.subplots(d, d, figsize=(2.2 * d, 2.2 * d), squeeze=False)
    ref = _np(reference) if reference is not None else None
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
            elif i == j:
                edges = np.histogram_bin_edges(x[:, i] if ref is None else ref[:, i], bins)
                if ref is not None:
                    ax.hist(ref[:, i], edges, density=True, color="0.8")
                ax.hist(x[:, i], edges, density=True, histtype="step", color="C3")
            else:
                ax.hist2d(x[:, j], x[:, i], bins=bins, cmap="Reds")
            if i == d - 1:
                ax.set_xlabel(labels[j])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
    fig.tight_layout()
    return fig
