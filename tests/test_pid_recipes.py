"""Lecture 08's recipes and figures: the players match pidgan's settings, the checkpoint figure behaves like
the statistic it claims to be, and the figures show what they are given (checked against independent sums)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gm_helpers import pid as gpid  # noqa: E402
from gm_helpers.data import pid  # noqa: E402
from gm_helpers.flows import Flow  # noqa: E402
from gm_helpers.gan import Generator, MLPCritic  # noqa: E402
from gm_helpers.nets import Residual  # noqa: E402
from gm_helpers.pid import recipes  # noqa: E402


def test_pidgan_players_follow_the_rich_configuration():
    generator, critic = recipes.pidgan_players()
    assert isinstance(generator, Generator) and generator.latent_features == 64
    linears = [m for m in generator.net if isinstance(m, torch.nn.Linear)]
    residuals = [m for m in generator.net if isinstance(m, Residual)]
    assert len(linears) + len(residuals) == 11  # 10 hidden layers (9 of them residual) and the output
    assert len(residuals) == 9 and residuals[0].block[0].in_features == 128
    assert isinstance(critic, MLPCritic)
    # the auxiliary inputs are DLLmu - DLLe and DLLp - DLLK in gm.data.pid's order of outputs
    names = [tuple(pid.OUTPUTS[i] for i in pair) for pair in critic.aux_differences]
    assert names == [("DLLmu", "DLLe"), ("DLLp", "DLLK")]
    y, c = torch.randn(5, 4), torch.randn(5, 4)
    assert generator(generator.noise(5), c).shape == (5, 4) and critic(y, c).shape == (5,)


def test_training_tracks_are_reproducible_and_per_species():
    a, b = recipes.training_tracks("K", 500), recipes.training_tracks("K", 500)
    assert np.array_equal(a.dll, b.dll) and a.species == "K"
    assert not np.array_equal(recipes.training_tracks("pi", 500).conditions, a.conditions)
    with pytest.raises(ValueError, match="species must be one of"):
        recipes.training_tracks("kaon")


def test_momentum_edges_are_twelve_bins_equal_in_log_p():
    edges = recipes.MOMENTUM_EDGES
    assert len(edges) == 13 and edges[0] == pytest.approx(3) and edges[-1] == pytest.approx(200)
    assert np.allclose(np.diff(np.log(edges)), np.log(200 / 3) / 12)


def test_sampler_gives_one_output_per_condition_for_both_families():
    flow = recipes.conditional_flow(hidden=(8,), transforms=2)
    generator, _ = recipes.pidgan_players(width=8, depth=2, latent=4)
    context = torch.randn(7, 4)
    for model in (flow, generator):
        with torch.no_grad():
            assert recipes.sampler(model)(context).shape == (7, 4)
    assert isinstance(flow, Flow)


class _Oracle(torch.nn.Module):
    """A "model" that returns the true normalized DLLs of the test tracks of efficiency_pull, in the order
    generate_dll asks for them (chunk after chunk), or those DLLs shifted: efficiency_pull must be small
    for the first, large for the second."""

    def __init__(self, scaler, tracks, shift: float = 0.0):
        super().__init__()
        self.rows = torch.tensor(scaler.dll(tracks.dll + shift), dtype=torch.float32)
        self.next = 0
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def sample(self, n, context):
        rows = self.rows[self.next : self.next + n]
        self.next += n
        return rows


def test_efficiency_pull_is_zero_for_the_truth_and_large_for_a_shift(monkeypatch):
    small = 20_000
    train = pid.simulate("K", small, seed=1)
    scaler = gpid.PIDScaler().fit(train.conditions, train.dll)
    monkeypatch.setattr(recipes, "training_scaler", lambda species: scaler)  # not the 10^6 tracks
    test = pid.simulate("K", 5_000, seed=12_345)  # the tracks efficiency_pull draws
    monkeypatch.setattr(recipes, "sampler", lambda model: lambda context: model.sample(len(context), context))
    truth = recipes.efficiency_pull(_Oracle(scaler, test), "K", n=5_000)
    assert truth == pytest.approx(0.0, abs=0.05)  # float32 rounding may move a track across the cut, rarely
    shifted = recipes.efficiency_pull(_Oracle(scaler, test, shift=-10.0), "K", n=5_000)
    assert shifted > 3  # DLLK - 10 > 0 loses many kaons in every bin above the thresholds


def test_efficiency_plot_returns_the_pulls_of_curve_agreement():
    ref = pid.simulate("K", 3_000, seed=3)
    rng = np.random.default_rng(0)
    other = ref.dll + rng.normal(0, 3, ref.dll.shape)
    cut = lambda d: d[:, 2] > 0  # noqa: E731
    pulls = gpid.efficiency_plot(ref, {"smeared": other}, cut, recipes.MOMENTUM_EDGES)
    p = ref.conditions[:, 0]
    # the pooled two-proportion z, computed here from the counts
    index = np.digitize(p, recipes.MOMENTUM_EDGES) - 1
    n = np.bincount(index, minlength=12)[:12]
    k_ref = np.bincount(index, cut(ref.dll), minlength=12)[:12]
    k_gen = np.bincount(index, cut(other), minlength=12)[:12]
    pooled = (k_ref + k_gen) / (2 * n)
    sigma = np.sqrt(pooled * (1 - pooled) * 2 / n)
    expected = np.divide(k_gen / n - k_ref / n, sigma, out=np.zeros(12), where=sigma > 0)
    np.testing.assert_allclose(pulls["smeared"], expected, atol=1e-12)
    plt.close("all")


@pytest.mark.parametrize("variable", ["p", "eta", "nTracks"])
def test_dll_in_bins_draws_each_bin_and_refuses_misaligned_dlls(variable):
    ref = pid.simulate("pi", 3_000, seed=4)
    fig = gpid.dll_in_bins(ref, {"same": ref.dll}, "DLLK", variable=variable)
    assert len(fig.subfigs) == len(gpid.BINS[variable])
    titles = [sub._suptitle.get_text() for sub in fig.subfigs]
    x = ref.conditions[:, pid.CONDITIONS.index(variable)]
    for (low, high), title in zip(gpid.BINS[variable], titles, strict=True):
        assert f"< {variable} <" in title and f"({np.sum((x >= low) & (x < high)):,} tracks)" in title
    with pytest.raises(ValueError, match="one row per reference track"):
        gpid.dll_in_bins(ref, {"short": ref.dll[:10]})
    with pytest.raises(ValueError, match="output must be one of"):
        gpid.dll_in_bins(ref, {"same": ref.dll}, "DLLpi")
    with pytest.raises(ValueError, match="variable must be one of"):
        gpid.dll_in_bins(ref, {"same": ref.dll}, variable="charge")
    plt.close("all")
