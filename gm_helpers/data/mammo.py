"""Mammogram-like phantoms: breast tissue with the power-law texture of real mammograms, and findings.

Real mammograms cannot ship with a course, so lecture 09 (a progressive GAN at growing resolution,
after Korkinof et al.) trains on a procedural stand-in that has the statistics imaging physics uses
to describe breast tissue. Each image is a craniocaudal-like view of a compressed breast, the chest
wall on the left edge (array coordinates: x the column, y the row, pixel centres at integers, the
chest wall at x = -1/2):

- the outline: a half ellipse attached to the chest wall, rho(x, y) = 1 with
  rho^2 = ((x + 1/2) / a)^2 + ((y - y_c) / b)^2, depth a ~ U(0.60, 0.88) size, half-height
  b ~ U(0.34, 0.44) size, up to 5 % larger above than below the centre (or the reverse), centre
  y_c = (size - 1) / 2 + U(-0.03, 0.03) size. ``masks`` are the pixels with rho < 1: the breast
  covers 32 % to 61 % of the image;
- the anatomical noise: a Gaussian random field whose power spectrum is the power law
  P(f) ∝ 1 / f^beta (f the radial spatial frequency), the description of mammographic texture since
  Burgess et al.: beta ≈ 3 in mammograms (Burgess 2001), 3.2 on average over a clinical set
  (Chen et al. 2012). It is white Gaussian noise filtered in the Fourier domain with the amplitude
  f^(-beta / 2) (0 at f = 0: the field has mean zero), periodic over the image (the seam falls in
  the background), normalized to unit standard deviation per image (``texture``);
- the tissue: t(rho) (mu + c T) with T the texture, a mean density mu ~ U(0.42, 0.58) and a contrast
  c ~ U(0.07, 0.11) per image, linear in T so that the power law is kept. The thickness factor
  t = 1 - 0.4 (1 - sqrt((1 - rho^2) / (1 - 0.75^2))) for rho > 0.75 (1 inside) is the mild falloff
  of a compressed breast's thinner periphery, down to 0.6 at the outline. Tissue below 0.16 (the
  rare dark tail) is compressed smoothly into (0.08, 0.16], so that it never meets the background;
- the skin line: a brighter rim (level U(0.55, 0.7)) within ``SKIN_WIDTH`` (size / 64) pixels of
  the outline, with a one-pixel ramp; the distance to the outline is the first-order
  (1 - rho) / |grad rho|;
- the background: 0.02 plus white noise of standard deviation 0.005 (clipped at 0), below 0.05 where
  the breast is above 0.08: thresholding an image at 0.065 gives its mask (``breast_masks``, the
  stand-in for ``masks`` on a generator's images);
- findings, in a fraction ``finding_fraction`` of the images (``labels``: 0 none, 1 a cluster of
  microcalcifications, 2 a mass, both kinds equally likely), centred at rho < 0.6 and at least 8 px
  from the chest wall, so that they lie well inside the breast (lengths in pixels at size 64, scaled
  by size / 64):
  a microcalcification cluster is 3 to 8 specks (Gaussians of sigma 0.55 px, amplitude
  U(0.35, 0.55): one or two bright pixels each) uniform in a disc of radius U(2, 4); a mass is a
  blob A / (1 + exp((r - R) / 0.6)) with R ~ U(2.5, 5) and A ~ U(0.15, 0.25), a soft edge. Both
  are truncated (continuously) at the radius ``Phantoms.radii`` around ``Phantoms.centres``, so
  outside that disc an image with a finding is the same image without it (``finding_fraction``
  changes no other random draw: the same seed gives the same breasts).

Images are float32 in [0, 1] (clipped; the texture reaches 1 only beyond ~4 standard deviations).
Clustered lumpy backgrounds (Bochud et al. 1999) are the other classic texture model; the power law
alone is kept here, because its single number beta is what lecture 09 checks. The radially averaged
power spectrum (``radial_power_spectrum``: prewhitened, on square regions of interest inside the
breast, as Chen et al. measure it) fitted by a power law over the band ``FIT_BAND`` (``fit_beta``)
gives the requested beta to within 0.05 on the texture and on finding-free phantoms at 64 x 64
(tests/test_mammo_data.py). Findings are not texture: the specks of calcifications add power at high
frequencies and lower the fitted beta (to 2.7 to 2.8 for beta = 3.2 with ``finding_fraction=0.5``),
so measure the texture on images of label 0, or compare like with like (a generator's images with
the phantoms' at the same fraction of findings).

References:
    Korkinof et al., "High-resolution mammogram synthesis using progressive generative adversarial
    networks", arXiv:1807.03401.
    Burgess, Jacobson, Judy, "Human observer detection experiments with mammograms and power-law
    noise", Med. Phys. 28 (2001) 419.
    Chen et al., "Anatomical complexity in breast parenchyma and its implications for optimal breast
    imaging strategies", Med. Phys. 39 (2012) 1435.
    Bochud, Abbey, Eckstein, "Statistical texture synthesis of mammographic images with clustered
    lumpy backgrounds", Opt. Express 4 (1999) 33.
    Percival, Walden, "Spectral Analysis for Physical Applications", Cambridge University Press
    (1993): tapering and prewhitening.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage

from gm_helpers.data._inputs import count, generator

__all__ = [
    "BETA_RANGE",
    "FIT_BAND",
    "LABELS",
    "SKIN_WIDTH",
    "Phantoms",
    "breast_masks",
    "fit_beta",
    "phantoms",
    "radial_power_spectrum",
    "roi_fits",
    "texture",
]

LABELS = ("none", "calcifications", "mass")
BETA_RANGE = (1.5, 4.5)
FIT_BAND = (0.1, 0.35)  # cycles per pixel: fit_beta's default band
SKIN_WIDTH = 1.5  # pixels at size 64 (scaled by size / 64): the skin line
SIZE_RANGE = (16, 1024)
# the geometry, as fractions of the image size
DEPTH = (0.60, 0.88)
HALF_HEIGHT = (0.34, 0.44)
ASYMMETRY = 0.05
CENTRE_SHIFT = 0.03
# the tissue
DENSITY = (0.42, 0.58)
CONTRAST = (0.07, 0.11)
FALLOFF, FALLOFF_START = 0.4, 0.75
SKIN_LEVEL = (0.55, 0.70)
BACKGROUND, BACKGROUND_NOISE = 0.02, 0.005
FLOOR, FLOOR_START = 0.08, 0.16  # tissue below 0.16 is compressed smoothly into (0.08, 0.16]
# the findings, in pixels at size 64
FINDING_RHO = 0.6  # the largest normalized radius rho of a finding's centre
SPECKS = (3, 8)
SPECK_SIGMA, SPECK_AMPLITUDE, CLUSTER_RADIUS = 0.55, (0.35, 0.55), (2.0, 4.0)
MASS_RADIUS, MASS_EDGE, MASS_AMPLITUDE = (2.5, 5.0), 0.6, (0.15, 0.25)
_BATCH = 1 << 20  # pixels per batch


@dataclass
class Phantoms:
    """Phantom mammograms: ``images`` (n, size, size) float32 in [0, 1], ``masks`` (n, size, size) bool
    (inside the breast), ``labels`` (n,) int (0 none, 1 microcalcifications, 2 mass: ``LABELS``), and
    the findings' ``centres`` (n, 2) = (row, column) and ``radii`` (n,) in pixels (NaN for label 0):
    outside that disc nothing of the finding was added. ``beta`` is the texture's exponent.
    Index it like an array (``phantoms[labels == 2]``)."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    centres: np.ndarray
    radii: np.ndarray
    size: int
    beta: float

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> Phantoms:
        if isinstance(index, numbers.Integral):
            index = [index]  # one image: still Phantoms (of length 1)
        return Phantoms(self.images[index], self.masks[index], self.labels[index], self.centres[index],
                        self.radii[index], self.size, self.beta)  # fmt: skip


def _size(size) -> int:
    if (
        not isinstance(size, numbers.Integral)
        or isinstance(size, bool)
        or not SIZE_RANGE[0] <= size <= SIZE_RANGE[1]
        or size & (size - 1)
    ):
        raise ValueError(
            f"size must be a power of two from {SIZE_RANGE[0]} to {SIZE_RANGE[1]} (64 or 128 in lecture 09), "
            f"got {size!r}"
        )
    return int(size)


def _beta(beta) -> float:
    if (
        not isinstance(beta, numbers.Real)
        or isinstance(beta, bool)
        or not BETA_RANGE[0] <= beta <= BETA_RANGE[1]
    ):
        raise ValueError(
            f"beta must be a number in [{BETA_RANGE[0]}, {BETA_RANGE[1]}] (3.2 for clinical mammograms), "
            f"got {beta!r}"
        )
    return float(beta)


def _filter(size: int, beta: float) -> np.ndarray:
    """The amplitude f^(-beta / 2) on the rfft2 grid (size, size // 2 + 1), 0 at f = 0."""
    f = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :])
    f[0, 0] = 1.0
    amplitude = f ** (-beta / 2)
    amplitude[0, 0] = 0.0
    return amplitude.astype(np.float32)


def _texture(rng: np.random.Generator, n: int, size: int, amplitude: np.ndarray) -> np.ndarray:
    """n fields (n, size, size) float32 with the spectrum amplitude^2, unit standard deviation each."""
    field = fft.irfft2(fft.rfft2(rng.standard_normal((n, size, size), dtype=np.float32)) * amplitude,
                       s=(size, size))  # fmt: skip
    field /= field.std(axis=(1, 2), keepdims=True)
    return field


def texture(n: int, size: int = 64, beta: float = 3.2, seed=None) -> np.ndarray:
    """n Gaussian random fields (n, size, size) float32 with the power spectrum P(f) ∝ f^-beta: white
    noise filtered in the Fourier domain by f^(-beta / 2), periodic, with mean 0 and standard
    deviation 1 per image. The phantoms' anatomical noise.

    Example:
        >>> texture(10, 64, beta=3.2, seed=0).shape
        (10, 64, 64)
    """
    n, size, beta, rng = count(n, "the number of images"), _size(size), _beta(beta), generator(seed)
    amplitude = _filter(size, beta)
    batch = max(1, _BATCH // size**2)
    parts = [_texture(rng, min(batch, n - start), size, amplitude) for start in range(0, n, batch)]
    return np.concatenate(parts) if parts else np.zeros((0, size, size), np.float32)


def _render(out: np.ndarray, image: np.ndarray, row: np.ndarray, col: np.ndarray, profile, reach: float):
    """Add profile(r) (r the distance in pixels) around the centres (row, col) of ``image`` indices to
    the images ``out`` (n, size, size), within the radius ``reach`` (same for all) of each centre."""
    if len(image) == 0:
        return
    size = out.shape[1]
    half = int(np.ceil(reach)) + 1
    offsets = np.arange(-half, half + 1)
    rows = np.rint(row)[:, None, None] + offsets[None, :, None]
    cols = np.rint(col)[:, None, None] + offsets[None, None, :]
    r = np.hypot(rows - row[:, None, None], cols - col[:, None, None])
    values = profile(r)
    keep = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size) & (values != 0)
    rows, cols = np.broadcast_to(rows, r.shape)[keep], np.broadcast_to(cols, r.shape)[keep]
    flat = (np.broadcast_to(image[:, None, None], r.shape)[keep] * size + rows) * size + cols
    np.add.at(out.reshape(-1), flat.astype(np.int64), values[keep].astype(np.float32))


def _breasts(rng, amplitude, depth, above, below, y_centre, density, contrast, skin_level):
    """The images (m, size, size) and masks of m breasts without findings, from their parameters (m,)."""
    m, size = len(depth), amplitude.shape[0]

    def column(values):
        return values[:, None, None].astype(np.float32)

    u = (np.arange(size, dtype=np.float32)[None, None, :] + 0.5) / column(depth)
    dy = np.arange(size, dtype=np.float32)[None, :, None] - column(y_centre)
    b = np.where(dy < 0, column(above), column(below))
    v = dy / b
    rho2 = u * u + v * v
    rho = np.sqrt(rho2)
    inside = rho2 < 1
    # the distance to the outline to first order: (1 - rho) / |grad rho|
    gradient = np.sqrt((u / column(depth)) ** 2 + (v / b) ** 2) / np.maximum(rho, 1e-6)
    distance = (1 - rho) / np.maximum(gradient, 1e-6)
    thickness = 1 - FALLOFF * (1 - np.sqrt(np.clip((1 - rho2) / (1 - FALLOFF_START**2), 0, 1)))
    tissue = thickness * (column(density) + column(contrast) * _texture(rng, m, size, amplitude))
    low = np.minimum(tissue - FLOOR_START, 0) / (FLOOR_START - FLOOR)
    tissue = np.where(tissue < FLOOR_START, FLOOR + (FLOOR_START - FLOOR) * np.exp(low), tissue)
    skin = np.clip(SKIN_WIDTH * size / 64 + 0.5 - distance, 0, 1)
    breast = (1 - skin) * tissue + skin * column(skin_level)
    noise = rng.standard_normal((m, size, size), dtype=np.float32)
    background = np.maximum(BACKGROUND + BACKGROUND_NOISE * noise, 0)
    return np.where(inside, breast, background), inside


def phantoms(n: int, size: int = 64, seed=None, finding_fraction: float = 0.5, beta: float = 3.2) -> Phantoms:
    """n phantom mammograms (see the module's docstring): breast outline, power-law tissue texture of
    exponent ``beta``, skin line, background, and findings in a fraction ``finding_fraction`` of the
    images (labels drawn per image: each image has a finding with that probability).

    Example:
        >>> ph = phantoms(100, size=64, seed=0)
        >>> ph.images.shape, ph.images.dtype, ph.masks.shape, ph.labels.shape
        ((100, 64, 64), dtype('float32'), (100, 64, 64), (100,))
        >>> bool(ph.images[~ph.masks].max() < 0.1 < ph.images[ph.masks].min())
        True
    """
    n, size, beta = count(n, "the number of images"), _size(size), _beta(beta)
    if (
        not isinstance(finding_fraction, numbers.Real)
        or isinstance(finding_fraction, bool)
        or not 0 <= finding_fraction <= 1
    ):
        raise ValueError(f"finding_fraction must be a number in [0, 1], got {finding_fraction!r}")
    rng = generator(seed)
    scale = size / 64

    # every random number is drawn whatever the labels, so that finding_fraction changes only them
    depth = rng.uniform(*DEPTH, n) * size
    half_height = rng.uniform(*HALF_HEIGHT, n) * size
    asymmetry = rng.uniform(-ASYMMETRY, ASYMMETRY, n)
    above, below = half_height * (1 + asymmetry), half_height * (1 - asymmetry)
    y_centre = (size - 1) / 2 + rng.uniform(-CENTRE_SHIFT, CENTRE_SHIFT, n) * size
    density = rng.uniform(*DENSITY, n)
    contrast = rng.uniform(*CONTRAST, n)
    skin_level = rng.uniform(*SKIN_LEVEL, n)
    has_finding = rng.random(n) < finding_fraction
    kind = np.where(rng.random(n) < 0.5, 1, 2)
    labels = np.where(has_finding, kind, 0).astype(np.int64)
    # the finding's centre: polar in the ellipse's normalized coordinates, off the chest wall
    rho = FINDING_RHO * np.sqrt(rng.uniform(0.15, 1.0, n))
    angle = rng.uniform(-1.2, 1.2, n)
    v = rho * np.sin(angle)
    centre_col = np.maximum(depth * rho * np.cos(angle) - 0.5, 8 * scale)
    centre_row = y_centre + v * np.where(v < 0, above, below)
    n_specks = rng.integers(SPECKS[0], SPECKS[1] + 1, n)
    cluster_radius = rng.uniform(*CLUSTER_RADIUS, n) * scale
    speck_r = cluster_radius[:, None] * np.sqrt(rng.random((n, SPECKS[1])))
    speck_phi = rng.uniform(0, 2 * np.pi, (n, SPECKS[1]))
    speck_amplitude = rng.uniform(*SPECK_AMPLITUDE, (n, SPECKS[1]))
    mass_radius = rng.uniform(*MASS_RADIUS, n) * scale
    mass_amplitude = rng.uniform(*MASS_AMPLITUDE, n)

    images = np.empty((n, size, size), np.float32)
    masks = np.empty((n, size, size), bool)
    amplitude = _filter(size, beta)
    batch = max(1, _BATCH // size**2)
    for start in range(0, n, batch):
        part = slice(start, min(start + batch, n))
        images[part], masks[part] = _breasts(
            rng, amplitude, depth[part], above[part], below[part], y_centre[part], density[part],
            contrast[part], skin_level[part],
        )  # fmt: skip

    # the findings
    reach_speck = 3 * SPECK_SIGMA * scale
    floor_speck = np.exp(-0.5 * 3.0**2)

    def speck(r, amplitude):
        s = np.exp(-0.5 * (r / (SPECK_SIGMA * scale)) ** 2)
        return amplitude[:, None, None] * np.clip((s - floor_speck) / (1 - floor_speck), 0, None)

    cluster = np.flatnonzero(labels == 1)
    slot = np.arange(SPECKS[1])[None, :] < n_specks[cluster, None]
    which, k = np.nonzero(slot)
    image = cluster[which]
    _render(images, image, centre_row[image] + speck_r[image, k] * np.sin(speck_phi[image, k]),
            centre_col[image] + speck_r[image, k] * np.cos(speck_phi[image, k]),
            lambda r: speck(r, speck_amplitude[image, k]), reach_speck)  # fmt: skip

    edge = MASS_EDGE * scale
    reach_mass = MASS_RADIUS[1] * scale + 4 * edge
    mass = np.flatnonzero(labels == 2)

    def blob(r):
        radius = mass_radius[mass][:, None, None]
        cut = 1 / (1 + np.exp(4.0))
        s = 1 / (1 + np.exp(np.clip((r - radius) / edge, -50, 50)))
        return mass_amplitude[mass][:, None, None] * np.clip((s - cut) / (1 - cut), 0, None)

    _render(images, mass, centre_row[mass], centre_col[mass], blob, reach_mass)
    np.clip(images, 0, 1, out=images)

    centres = np.stack([centre_row, centre_col], axis=1)
    radii = np.where(labels == 1, cluster_radius + reach_speck, mass_radius + 4 * edge)
    centres[labels == 0] = np.nan
    radii = np.where(labels == 0, np.nan, radii)
    return Phantoms(images, masks, labels, centres, radii, size, beta)


def breast_masks(images, threshold: float = 0.065) -> np.ndarray:
    """The breast of phantom-like images (n, size, size) as the pixels above ``threshold``: what stands in
    for ``masks`` on a generator's images (the phantoms' background stays below 0.05, their breast
    above 0.08, so that on phantoms it is their ``masks``)."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, size, size), got {images.shape}")
    return images > threshold


def _roi_corners(masks: np.ndarray, roi: int, strict: bool = True) -> np.ndarray:
    """The top-left corner (n, 2) of the roi x roi square of each mask whose pixels stay farthest from
    the background (the largest smallest distance to it); where none fits, a ValueError (``strict``)
    or the corner (-1, -1)."""
    n, size, _ = masks.shape
    corners = np.empty((n, 2), np.int64)
    for i, mask in enumerate(masks):
        # the image's edge is not the breast's: pad with tissue so that only the outline counts
        distance = ndimage.distance_transform_edt(np.pad(mask, 1, constant_values=True))[1:-1, 1:-1]
        smallest = ndimage.minimum_filter(distance, size=roi, mode="constant", cval=0.0, origin=-(roi // 2))
        smallest = smallest[: size - roi + 1, : size - roi + 1]
        best = np.unravel_index(np.argmax(smallest), smallest.shape)
        if smallest[best] < 1 and strict:
            raise ValueError(f"no {roi} x {roi} region of interest fits inside the mask of image {i}; "
                             "give a smaller roi")  # fmt: skip
        corners[i] = best if smallest[best] >= 1 else (-1, -1)
    return corners


def roi_fits(masks, roi: int | None = None) -> np.ndarray:
    """Booleans (n,): whether a ``roi`` x ``roi`` region of interest (default 3/8 of the side, as in
    ``radial_power_spectrum``) fits inside each mask (n, N, N); a generator's images early in training
    may have too little breast for one."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.dtype != bool or masks.shape[1] != masks.shape[2]:
        raise ValueError(f"masks must be booleans of shape (n, N, N), got {masks.dtype} {masks.shape}")
    return _roi_corners(masks, 3 * masks.shape[1] // 8 if roi is None else int(roi), strict=False)[:, 0] >= 0


def radial_power_spectrum(images, masks=None, roi: int | None = None, prewhiten: bool = True
                          ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The azimuthally averaged power spectrum of images (n, N, N) (or one image (N, N)), averaged over
    the images: (frequencies, power), frequencies k / M in cycles per pixel for k = 1 ... M // 2 and
    power the mean over the images and over the Fourier bins with round(M |f|) = k.

    The region analysed is the whole image without ``masks`` (side L = N); with masks (n, N, N), as
    Chen et al. measure the texture, a square region of interest of side L = ``roi`` (default
    3 N / 8) inside each breast, placed where its pixels stay farthest from the outline.

    With ``prewhiten`` (the default) the estimate is that of the first differences of the region
    along x and along y (on an M x M grid, M = L - 1), each with its Hann-weighted mean subtracted
    (which removes a plane), a periodic Hann window, |FFT|^2 summed over the two and divided by the
    differences' transfer function 4 sin^2(pi f_x) + 4 sin^2(pi f_y): the textbook prewhitening of a
    steep ("red") spectrum (Percival & Walden), without which the window leaks the strong lowest
    frequencies into the others and a small region overestimates beta by 0.2 to 0.5. With
    ``prewhiten=False`` it is the plain windowed periodogram of the region (M = L), the mean
    subtracted. Either way the power is normalized so that white noise of variance s^2 has power
    s^2 at every frequency (the sum of the power over the M^2 bins, / M^2, is the variance).
    """
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[1] < 5 or len(images) == 0:
        raise ValueError(f"images must be square, of shape (n, N, N) or (N, N) with n >= 1 and N >= 5, "
                         f"got {images.shape}")  # fmt: skip
    if not np.all(np.isfinite(images)):
        raise ValueError("images hold NaN or infinite values")
    size = images.shape[1]
    if masks is None:
        if roi is not None:
            raise ValueError("roi is the side of the regions of interest inside masks: give masks too")
        side, corners = size, np.zeros((len(images), 2), np.int64)
    else:
        masks = np.asarray(masks)
        if masks.ndim == 2:
            masks = masks[None]
        if masks.shape != images.shape or masks.dtype != bool:
            raise ValueError(f"masks must be booleans of the images' shape {images.shape}, got "
                             f"{masks.dtype} {masks.shape}")  # fmt: skip
        side = 3 * size // 8 if roi is None else roi
        if not isinstance(side, numbers.Integral) or isinstance(side, bool) or not 5 <= side <= size:
            raise ValueError(f"roi must be an integer from 5 to the image size {size}, got {roi!r}")
        side = int(side)
        corners = _roi_corners(masks, side)
    grid = side - 1 if prewhiten else side
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(grid) / grid)
    window = hann[:, None] * hann[None, :]
    fy, fx = np.fft.fftfreq(grid)[:, None], np.fft.fftfreq(grid)[None, :]
    offsets = np.arange(side)
    total = np.zeros((grid, grid))
    batch = max(1, _BATCH // side**2)
    for start in range(0, len(images), batch):
        c = corners[start : start + batch]
        rows = c[:, 0, None, None] + offsets[None, :, None]
        cols = c[:, 1, None, None] + offsets[None, None, :]
        regions = images[np.arange(start, start + len(c))[:, None, None], rows, cols].astype(np.float64)
        if prewhiten:
            parts = (np.diff(regions, axis=2)[:, :grid, :], np.diff(regions, axis=1)[:, :, :grid])
        else:
            parts = (regions,)
        for part in parts:
            mean = np.sum(part * window, axis=(1, 2), keepdims=True) / window.sum()
            total += np.sum(np.abs(fft.fft2((part - mean) * window)) ** 2, axis=0)
    spectrum = total / (len(images) * np.sum(window**2))
    if prewhiten:
        transfer = 4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2
        transfer[0, 0] = 1.0
        spectrum /= transfer
    k = np.rint(grid * np.hypot(fy, fx)).astype(np.int64).ravel()
    rings = np.arange(1, grid // 2 + 1)
    power = (
        np.bincount(k, weights=spectrum.ravel(), minlength=grid)[rings]
        / np.bincount(k, minlength=grid)[rings]
    )
    return rings / grid, power


def fit_beta(frequencies, power, fmin: float = FIT_BAND[0], fmax: float = FIT_BAND[1]) -> float:
    """beta of P(f) ∝ f^-beta: minus the slope of log P against log f, by least squares over the band
    fmin <= f <= fmax (cycles per pixel). The default band ``FIT_BAND`` = (0.1, 0.35) skips the lowest
    frequencies, which the size of the region of interest (the window's main lobe), the outline and
    the falloff dominate, and the highest, where the pixels do (the findings' specks, the clip)."""
    f, p = np.asarray(frequencies, dtype=np.float64), np.asarray(power, dtype=np.float64)
    if f.ndim != 1 or f.shape != p.shape:
        raise ValueError(
            f"frequencies and power must be 1-d arrays of one length, got {f.shape} and {p.shape}"
        )
    if not 0 < fmin < fmax:
        raise ValueError(f"the band must satisfy 0 < fmin < fmax, got fmin={fmin!r}, fmax={fmax!r}")
    band = (f >= fmin) & (f <= fmax)
    if np.sum(band) < 3:
        raise ValueError(f"fewer than 3 frequencies in the band [{fmin}, {fmax}] to fit; widen it")
    if not np.all(np.isfinite(p[band]) & (p[band] > 0)):
        raise ValueError("the power must be finite and positive over the band")
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    return float(-slope)
