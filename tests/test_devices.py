"""Devices without a GPU: data follow the model's device in every public function, and sampling
builds no autograd graph.

Two stand-ins for a second device: models moved to PyTorch's ``meta`` device (a tensor there has a
shape but no data, and mixing it with a CPU tensor raises), and ``devicecheck.foreign`` data that
raise as soon as they are computed with before being moved to the model's device."""

import pytest
import torch
from devicecheck import ForeignDeviceError, foreign

import gm_helpers as gm
from gm_helpers.data.calorimeter import simulate

META = torch.device("meta")
IMAGES = torch.rand(6, 1, 28, 28)


def _vae(conditional=False):
    return (gm.vae.ConditionalVAE if conditional else gm.vae.VAE)(latent_features=2, hidden=(8,))


def test_the_device_check_itself_catches_a_forgotten_move():
    model = gm.vae.VAE(latent_features=2, hidden=(8,))
    with pytest.raises(ForeignDeviceError):
        model.encode(foreign(IMAGES))  # forward, like any nn.Module, expects data on its device
    assert torch.equal(foreign(IMAGES)[:2].to("cpu"), IMAGES[:2])


@pytest.mark.parametrize(
    "call",
    [
        lambda: gm.vae.importance_log_likelihood(_vae(), foreign(IMAGES), k=3),
        lambda: gm.vae.importance_log_likelihood(
            _vae(True), foreign(IMAGES), k=3, context=foreign(torch.arange(6))
        ),
        lambda: _vae().reconstruct(foreign(IMAGES)),
        lambda: gm.vae.VQVAE(n_codes=8, channels=4).codebook_usage(foreign(IMAGES)),
        lambda: gm.vae.VQVAE(n_codes=8, channels=4).elbo_bound(foreign(IMAGES)),
        lambda: gm.vae.VQVAE(n_codes=8, channels=4).reconstruct(foreign(IMAGES)),
        lambda: _vae(True).sample(2, context=foreign(torch.tensor([1, 2]))),
        lambda: gm.gan.MLPGenerator(2, n_classes=3).sample(3, context=foreign(torch.tensor([0, 1, 2]))),
        lambda: gm.flows.realnvp(2, context_features=1).sample(3, context=foreign(torch.ones(1))),
        lambda: gm.flows.evaluate_nll(
            gm.flows.realnvp(2, context_features=1), foreign(torch.randn(4, 2)), foreign(torch.randn(4, 1))
        ),
        lambda: gm.flows.evaluate_nll(
            gm.flows.nsf(3), foreign(torch.randint(0, 5, (4, 3))), preprocess=gm.data.Dequantize(5)
        ),
        lambda: gm.metrics.digit_accuracy(foreign(IMAGES), foreign(torch.arange(6))),
    ],
    ids=["iwae", "iwae-conditional", "vae-reconstruct", "codebook-usage", "vq-bound", "vq-reconstruct",
         "cvae-sample", "generator-sample", "flow-sample", "evaluate-nll", "evaluate-nll-dequantized",
         "digit-accuracy"],
)  # fmt: skip
def test_public_functions_move_data_to_the_models_device(call):
    call()


@pytest.mark.parametrize(
    "trainer",
    [
        lambda x, c: gm.gan.train_gan(gm.gan.MLPGenerator(2), gm.gan.MLPCritic(2), x, steps=1, batch_size=4),
        lambda x, c: gm.flows.train_flow(
            gm.flows.realnvp(2, context_features=1), x, context=c, steps=1, batch_size=4
        ),
    ],
    ids=["train_gan", "train_flow"],
)
def test_trainers_move_every_batch(trainer):
    trainer(foreign(torch.randn(8, 2)), foreign(torch.randn(8, 1)))


def test_sampling_on_the_meta_device_stays_there():
    assert gm.flows.nsf(2, context_features=1).to(META).sample(4, context=torch.ones(1)).device == META
    assert gm.vae.VAE(latent_features=2, hidden=(8,)).to(META).sample(3).device == META
    assert gm.gan.MLPGenerator(2, context_features=2).to(META).sample(3, torch.ones(2)).device == META
    cells = torch.rand(2, 504, device=META)
    assert gm.calorimeter.rescale_layers(cells, torch.rand(2, 3)).device == META


def test_sampling_builds_no_autograd_graph():
    models = [
        (gm.gan.MLPGenerator(2), ()),
        (gm.flows.realnvp(2, transforms=2), ()),
        (gm.vae.VAE(latent_features=2, hidden=(8,)), ()),
        (
            gm.calorimeter.CaloFlow(simulate(64, seed=1), hidden=(8,), transforms=1, augment=False),
            (torch.zeros(3, 1),),
        ),
    ]
    for model, context in models:
        x = model.sample(3, *context)
        assert not x.requires_grad and x.grad_fn is None, type(model).__name__


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_everything_above_on_a_real_gpu():
    flow = gm.flows.nsf(2, context_features=1).cuda()
    assert gm.flows.evaluate_nll(flow, torch.randn(8, 2), torch.randn(8, 1)) > 0
    model = gm.vae.VQVAE(n_codes=8, channels=4).cuda()
    assert model.codebook_usage(IMAGES)[0].device.type == "cuda"
    assert (
        gm.vae.importance_log_likelihood(gm.vae.VAE(latent_features=2).cuda(), IMAGES, k=2).device.type
        == "cuda"
    )
