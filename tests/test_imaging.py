"""gm.imaging: the figures of lecture 09 against independent references (POT's Bures-Wasserstein
distance, closed forms, brute force) and on phantoms whose differences are known."""

import numpy as np
import ot
import pytest
import scipy.ndimage
import torch

from gm_helpers.data import mammo
from gm_helpers.imaging import (
    frechet_distance,
    memorization_ratio,
    nearest_neighbours,
    phantom_fd,
    phantom_features,
    texture_beta,
)
from gm_helpers.imaging.recipes import (
    players,
    samples,
    schedule_seconds,
    seconds_per_step,
    stage_snapshot,
    training_images,
)


def _moments(x):
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


@pytest.mark.parametrize("d", [1, 3, 12])
def test_frechet_distance_is_the_squared_bures_wasserstein_distance_of_pot(d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(400, d)) @ rng.normal(size=(d, d))
    b = rng.normal(1.0, 2.0, size=(300, d)) @ rng.normal(size=(d, d))
    (ma, ca), (mb, cb) = _moments(a), _moments(b)
    reference = float(ot.gaussian.bures_wasserstein_distance(ma, mb, ca, cb)) ** 2
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6, abs=1e-9)
    assert frechet_distance(b, a) == pytest.approx(reference, rel=1e-6, abs=1e-9)


def test_frechet_distance_in_one_dimension_is_the_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.3, 1.5, (500, 1)), rng.normal(-1.0, 0.4, (700, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_handles_dead_features_without_warnings():
    """Features that are always 0 (a dead ReLU) make the covariances singular: no warning, and the
    same distance as without them."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 4)), rng.normal(0.5, 1.2, size=(200, 4))
    dead = np.zeros((200, 3))
    with np.errstate(all="raise"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            padded = frechet_distance(np.hstack([a, dead]), np.hstack([b, dead]))
    assert padded == pytest.approx(frechet_distance(a, b), rel=1e-6)


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.zeros((10, 3)), np.zeros((10, 4)), "one d"),
        (np.zeros(10), np.zeros((10, 1)), r"\(n, d\)"),
        (np.zeros((1, 3)), np.zeros((10, 3)), "at least 2"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), "NaN"),
    ],
)
def test_frechet_distance_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(a, b)


def test_texture_beta_measures_the_requested_exponent():
    for beta in (2.6, 3.2):
        images = mammo.phantoms(300, 64, seed=3, finding_fraction=0.0, beta=beta).images
        measured, error, used = texture_beta(images, n_boot=20)
        assert used == len(images)
        assert abs(measured - beta) < 0.12, (beta, measured)
        assert 0 < error < 0.1
    blurred = scipy.ndimage.gaussian_filter(images, (0, 1, 1))  # a blurry generator: too little fine power
    assert texture_beta(blurred, n_boot=2)[0] > 4.0


def test_texture_beta_takes_tensors_and_rejects_small_or_empty_images():
    images = mammo.phantoms(50, 64, seed=4).images
    assert texture_beta(torch.tensor(images[:, None]), n_boot=2)[0] == pytest.approx(
        texture_beta(images, n_boot=2)[0]
    )
    with pytest.raises(ValueError, match="64x64 or more"):
        texture_beta(mammo.phantoms(10, 32, seed=0).images)
    with pytest.raises(ValueError, match="no image has a breast that holds"):
        texture_beta(np.zeros((4, 64, 64)))
    mixed = np.concatenate([images[:10], np.zeros((3, 64, 64))])  # blank images are left out, counted
    measured = texture_beta(mixed, n_boot=0)
    assert measured.value == texture_beta(images[:10], n_boot=0).value and measured.used == 10
    with pytest.raises(ValueError, match="square"):
        texture_beta(np.zeros((4, 64, 32)))


def test_nearest_neighbours_agree_with_brute_force_and_find_copies():
    training = mammo.phantoms(200, 32, seed=5).images
    rng = np.random.default_rng(0)
    copies = training[[7, 3, 150]] + rng.normal(0, 1e-3, (3, 32, 32))
    found = nearest_neighbours(copies, training)
    assert list(found.index) == [7, 3, 150]
    fresh = mammo.phantoms(20, 32, seed=6).images
    found = nearest_neighbours(fresh, training)
    brute = np.sqrt(((fresh[:, None] - training[None]) ** 2).mean((2, 3)))
    np.testing.assert_array_equal(found.index, brute.argmin(1))
    np.testing.assert_allclose(found.distance, brute.min(1), rtol=1e-4)
    with pytest.raises(ValueError, match="one image size"):
        nearest_neighbours(fresh, mammo.phantoms(5, 64, seed=0).images)


def test_memorization_ratio_tells_copies_from_new_images():
    training = mammo.phantoms(300, 32, seed=8).images
    fresh = mammo.phantoms(100, 32, seed=9).images
    new = mammo.phantoms(100, 32, seed=10).images
    copies = training[:100] + np.random.default_rng(0).normal(0, 0.01, (100, 32, 32))
    assert 0.9 < memorization_ratio(new, fresh, training) < 1.1
    assert memorization_ratio(copies, fresh, training) < 0.2


def test_phantom_fd_is_small_between_phantoms_and_large_against_known_defects():
    """The feature network tells findings (accuracy well above the 0.5 of always saying 'none'), and
    its Fréchet distance puts two fresh sets of phantoms far below sets with a wrong texture, no
    findings, or a blur."""
    net = phantom_features(32)
    assert net.test_accuracy > 0.8
    a, b = (mammo.phantoms(600, 32, seed=s).images for s in (11, 12))
    floor = phantom_fd(a, b)
    for defect in (
        mammo.phantoms(600, 32, seed=12, beta=2.4).images,
        mammo.phantoms(600, 32, seed=12, finding_fraction=0.0).images,
        scipy.ndimage.gaussian_filter(b, (0, 1, 1)),
    ):
        assert phantom_fd(a, defect) > 5 * floor
    with pytest.raises(ValueError, match="one image size"):
        phantom_fd(a, mammo.phantoms(10, 64, seed=0).images)


def test_recipes_images_players_samples_and_snapshots():
    x = training_images(40, 32)
    assert x.shape == (40, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    g, c = players(32, width=16, seed=0)
    g2, _ = players(32, width=16, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(g.parameters(), g2.parameters(), strict=True))
    g.grow_to(3)
    c.grow_to(3)
    images = samples(g, 10)
    assert images.shape == (10, 32, 32) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, samples(g, 10))
    before = [p.clone() for p in g.parameters()]
    assert seconds_per_step(g, c, x, steps=1, kind="wgan-gp", batch_size=8, n_critic=1) > 0
    assert all(torch.equal(p, q) for p, q in zip(before, g.parameters(), strict=True))  # copies were trained
    snap = stage_snapshot(4)
    g.grow_to(1)
    assert snap(g).shape == (4, 1, 8, 8)
    g.grow_to(3)
    assert snap(g).shape == (4, 1, 32, 32)


def test_schedule_seconds_adds_the_stages_costs_and_leaves_the_players_as_they_were(monkeypatch):
    g, c = players(16, width=16, seed=0)
    g.grow_to(1, 0.5)
    c.grow_to(1, 0.5)
    costs = {0: 1.0, 1: 10.0, 2: 100.0}  # seconds per step by stage, in place of timing
    monkeypatch.setattr(
        "gm_helpers.imaging.recipes.seconds_per_step", lambda generator, *a, **k: costs[generator.stage]
    )
    assert schedule_seconds(g, c, training_images(8, 16), 3) == 3 * 1 + 6 * 10 + 6 * 100
    assert (g.stage, g.alpha, c.stage, c.alpha) == (1, 0.5, 1, 0.5)
