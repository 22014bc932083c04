"""Every family's models save and load: configuration and weights round-trip through a file read
with ``weights_only=True``, and the loaded model gives the same likelihoods and, under a seed, the
same samples."""

import pickle

import pytest
import torch

import gm_helpers as gm
from gm_helpers.data.calorimeter import simulate
from gm_helpers.model import FORMAT, Model


def _same_samples(a, b, *args, **kwargs):
    torch.manual_seed(3)
    x = a.sample(*args, **kwargs)
    torch.manual_seed(3)
    torch.testing.assert_close(b.sample(*args, **kwargs), x, rtol=0, atol=0)


def _round_trip(model, tmp_path):
    path = model.save(tmp_path / "model.pt")
    loaded = type(model).load(path)
    assert type(loaded) is type(model) and not loaded.training
    return loaded.eval(), model.eval()


@pytest.mark.parametrize(
    "make",
    [
        lambda: gm.gan.MLPGenerator(3, latent_features=4, hidden=(8, 8), context_features=2),
        lambda: gm.gan.DCGANGenerator(latent_features=8, width=4, n_classes=10),
    ],
    ids=["mlp", "dcgan"],
)
def test_generators_round_trip(make, tmp_path):
    loaded, model = _round_trip(make(), tmp_path)
    context = torch.ones(2) if model.condition.context_features else 3
    _same_samples(model, loaded, 5, context)


def test_critics_round_trip(tmp_path):
    critic = gm.gan.DCGANDiscriminator(width=4, n_classes=10, projection=True, batch_norm=False)
    loaded, critic = _round_trip(critic, tmp_path)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    torch.testing.assert_close(loaded(x, y), critic(x, y), rtol=0, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gm.vae.VAE(latent_features=3, hidden=(16,)),
        lambda: gm.vae.VAE(latent_features=3, architecture="conv"),
        lambda: gm.vae.ConditionalVAE(n_classes=10, latent_features=2, hidden=(16,)),
    ],
    ids=["mlp", "conv", "conditional"],
)
def test_vaes_round_trip(make, tmp_path):
    x = (torch.rand(6, 1, 28, 28) > 0.5).float()
    model = make()
    gm.vae.train_vae(model, x, context=torch.arange(6) if model.condition.features else None, steps=2,
                     batch_size=3, progress=False, device="cpu")  # fmt: skip
    loaded, model = _round_trip(model, tmp_path)
    context = torch.arange(6) if model.condition.features else None
    torch.testing.assert_close(loaded.encode(x, context), model.encode(x, context), rtol=0, atol=0)
    torch.manual_seed(0)
    want = gm.vae.importance_log_likelihood(model, x, k=4, context=context)
    torch.manual_seed(0)
    torch.testing.assert_close(gm.vae.importance_log_likelihood(loaded, x, k=4, context=context), want)
    _same_samples(model, loaded, 4, None if context is None else 7)


def test_vqvae_round_trips(tmp_path):
    loaded, model = _round_trip(gm.vae.VQVAE(n_codes=8, code_dim=4, channels=4), tmp_path)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(loaded.elbo_bound(x), model.elbo_bound(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gm.flows.realnvp(3, context_features=2, transforms=3, linear=True),
        lambda: gm.flows.nsf(2, n_classes=4, transforms=2, hidden=(8,)),
        lambda: gm.flows.nsf(3, transforms=2, autoregressive=True),
    ],
    ids=["realnvp", "nsf-labels", "maf"],
)
def test_flows_round_trip(make, tmp_path):
    flow = make()
    with torch.no_grad():  # a trained-looking flow, not the identity
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    loaded, flow = _round_trip(flow, tmp_path)
    labels = flow.condition.labels
    x = torch.randn(5, flow.features)
    context = (
        torch.tensor([0, 1, 2, 3, 0]) if labels else (torch.randn(5, 2) if flow.condition.features else None)
    )
    torch.testing.assert_close(loaded.log_prob(x, context), flow.log_prob(x, context), rtol=0, atol=0)
    _same_samples(flow, loaded, 5, None if context is None else context[0])


@pytest.mark.parametrize("name", ["CaloWGAN", "CaloFlow"])
def test_calorimeter_models_round_trip_without_their_training_showers(name, tmp_path):
    cls = getattr(gm.calorimeter, name)
    small = {"CaloWGAN": {"hidden": (16,)}, "CaloFlow": {"hidden": (8,), "transforms": 2}}[name]
    model = cls(simulate(64, seed=1), augment=False, **small)
    model.fit(steps=2, batch_size=16, progress=False, device="cpu")
    loaded, model = _round_trip(model, tmp_path)
    energies = torch.tensor([10.0, 50.0, 90.0])
    torch.manual_seed(4)
    want = model.generate(energies)
    torch.manual_seed(4)
    torch.testing.assert_close(loaded.generate(energies), want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="pass the training showers"):
        loaded.fit(steps=1, progress=False)


def test_saving_refuses_what_a_checkpoint_cannot_hold(tmp_path):
    hand_built = gm.flows.Flow([gm.flows.AffineCoupling(2)], features=2)
    with pytest.raises(ValueError, match="plain values"):
        hand_built.save(tmp_path / "flow.pt")


def test_loading_checks_the_file_and_the_class(tmp_path):
    path = gm.gan.MLPCritic(2, hidden=(4,)).save(tmp_path / "critic.pt")
    with pytest.raises(ValueError, match="holds a MLPCritic, not a Flow"):
        gm.flows.Flow.load(path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a gm_helpers checkpoint"):
        Model.load(tmp_path / "other.pt")
    torch.save({"format": FORMAT, "factory": "os:system", "config": {"command": "true"}, "state": {}},
               tmp_path / "evil.pt")  # fmt: skip
    with pytest.raises(ValueError, match="not part of gm_helpers"):
        Model.load(tmp_path / "evil.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoints_are_read_with_weights_only(tmp_path):
    # a file that pickles an arbitrary object is refused by torch.load(weights_only=True)
    torch.save(
        {"format": FORMAT, "factory": "gm_helpers.gan:MLPCritic", "config": {"x": _Payload()}},
        tmp_path / "x.pt",
    )
    with pytest.raises(pickle.UnpicklingError):
        Model.load(tmp_path / "x.pt")
