"""Catalogue of known wrong answers of exercise 01 (``01_gan``): each must fail its check with a
message that names its cause; the reference answers pass."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gm_helpers as gm
from gm_helpers.exercises import gan as checks


def bce(logits, target, reduction="mean"):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction=reduction)


# ----------------------------------------------------------------------------------------------
# discriminator_loss(real_logits, fake_logits)
# ----------------------------------------------------------------------------------------------
def d_detached(real, fake):  # logits detached: right value, no gradient
    return bce(real.detach(), 1.0) + bce(fake.detach(), 0.0)


def d_item(real, fake):  # .item(): a float, cut from the graph
    return (bce(real, 1.0) + bce(fake, 0.0)).item()


def d_numpy(real, fake):  # through numpy
    r, f = real.numpy(), fake.numpy()
    return torch.tensor(np.mean(np.logaddexp(0, -r)) + np.mean(np.logaddexp(0, f)))


def d_swapped(real, fake):  # swapped targets
    return bce(real, 0.0) + bce(fake, 1.0)


def d_sum(real, fake):  # sum instead of mean
    return bce(real, 1.0, "sum") + bce(fake, 0.0, "sum")


def d_log_sigmoid(real, fake):  # log(sigmoid(.)) overflows for large logits
    return -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()


def d_log_sigmoid_eps(real, fake):  # log(sigmoid + eps): finite, but wrong for large logits
    return -torch.log(torch.sigmoid(real) + 1e-8).mean() - torch.log(1 - torch.sigmoid(fake) + 1e-8).mean()


def d_bce_of_sigmoid(real, fake):  # F.binary_cross_entropy on sigmoid: clamps log at -100
    return F.binary_cross_entropy(torch.sigmoid(real), torch.ones_like(real)) + F.binary_cross_entropy(
        torch.sigmoid(fake), torch.zeros_like(fake)
    )


def d_value_sign(real, fake):  # returns the value of the game (to be maximized), not the loss
    return -(bce(real, 1.0) + bce(fake, 0.0))


def d_averaged(real, fake):  # the two terms averaged
    return 0.5 * (bce(real, 1.0) + bce(fake, 0.0))


def d_no_fake(real, fake):  # forgets the fake term
    return bce(real, 1.0)


def d_logits_as_probabilities(real, fake):  # logits fed to BCE as if they were probabilities
    return F.binary_cross_entropy(real.clamp(0, 1), torch.ones_like(real)) + F.binary_cross_entropy(
        fake.clamp(0, 1), torch.zeros_like(fake)
    )


def d_no_reduction(real, fake):  # reduction="none": one loss per sample
    return bce(real, 1.0, "none") + bce(fake, 0.0, "none")


D_WRONG = [
    (d_detached, r"no gradient.*\.detach\(\)"),
    (d_item, r"float.*\.item\(\)"),
    (d_numpy, r"numpy"),
    (d_swapped, r"targets are swapped"),
    (d_sum, r"summed over the batch"),
    (d_log_sigmoid, r"log\(sigmoid\(l\)\) underflows"),
    (d_log_sigmoid_eps, r"eps|log\(sigmoid\(l\)\) underflows"),
    (d_bce_of_sigmoid, r"log\(sigmoid\(l\)\) underflows.*clamp"),
    (d_value_sign, r"sign is flipped"),
    (d_averaged, r"averaged: L_D is their sum"),
    (d_no_fake, r"fake term is missing"),
    (d_logits_as_probabilities, r"logits were fed to binary_cross_entropy as probabilities"),
    (d_no_reduction, r"mean over the batch"),
]


@pytest.mark.parametrize("answer, message", D_WRONG, ids=[f.__name__ for f, _ in D_WRONG])
def test_wrong_discriminator_loss_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_discriminator_loss(answer)


# ----------------------------------------------------------------------------------------------
# generator_loss_minimax(fake_logits) = E[log(1 - D(G(z)))]
# ----------------------------------------------------------------------------------------------
def mm_detached(fake):  # detached logits
    return -bce(fake.detach(), 0.0)


def mm_item(fake):  # .item()
    return -bce(fake, 0.0).item()


def mm_sign(fake):  # minimax sign error: -E[log(1 - D)], the discriminator's term
    return bce(fake, 0.0)


def mm_nonsaturating(fake):  # wrote the non-saturating loss instead
    return bce(fake, 1.0)


def mm_sum(fake):  # sum instead of mean
    return -bce(fake, 0.0, "sum")


def mm_log_sigmoid(fake):  # log(1 - sigmoid(l)) overflows to log(0)
    return torch.log(1 - torch.sigmoid(fake)).mean()


def mm_log_sigmoid_clamped(fake):  # clamped: finite, wrong for saturated logits
    return torch.log((1 - torch.sigmoid(fake)).clamp_min(1e-12)).mean()


def mm_no_grad(fake):  # computed under no_grad
    with torch.no_grad():
        return -bce(fake, 0.0)


MM_WRONG = [
    (mm_detached, r"no gradient.*\.detach\(\)"),
    (mm_item, r"\.item\(\)"),
    (mm_sign, r"discriminator's fake term.*sign"),
    (mm_nonsaturating, r"this is the non-saturating loss"),
    (mm_sum, r"summed over the batch"),
    (mm_log_sigmoid, r"log\(sigmoid\(l\)\) underflows"),
    (mm_log_sigmoid_clamped, r"log\(sigmoid\(l\)\) underflows|clamp"),
    (mm_no_grad, r"no gradient.*no_grad"),
]


@pytest.mark.parametrize("answer, message", MM_WRONG, ids=[f.__name__ for f, _ in MM_WRONG])
def test_wrong_minimax_generator_loss_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_generator_loss_minimax(answer)


# ----------------------------------------------------------------------------------------------
# generator_loss_nonsaturating(fake_logits) = -E[log D(G(z))]
# ----------------------------------------------------------------------------------------------
def ns_detached(fake):  # detached logits
    return bce(fake.detach(), 1.0)


def ns_item(fake):  # float(...)
    return float(bce(fake, 1.0).detach())


def ns_as_minimax(fake):  # the non-saturating loss written as the minimax one
    return -bce(fake, 0.0)


def ns_discriminator_fake_term(fake):  # -E[log(1 - D)]: target 0, pushes D(G(z)) down
    return bce(fake, 0.0)


def ns_sign(fake):  # E[log D(G(z))]: sign error
    return -bce(fake, 1.0)


def ns_sum(fake):  # sum instead of mean
    return bce(fake, 1.0, "sum")


def ns_log_sigmoid(fake):  # -log(sigmoid(l)) overflows for very negative logits
    return -torch.log(torch.sigmoid(fake)).mean()


def ns_bce_of_sigmoid(fake):  # BCE on probabilities: log clamped at -100
    return F.binary_cross_entropy(torch.sigmoid(fake), torch.ones_like(fake))


def ns_no_reduction(fake):  # one loss per sample
    return -F.logsigmoid(fake)


NS_WRONG = [
    (ns_detached, r"no gradient.*\.detach\(\)"),
    (ns_item, r"float.*\.item\(\), float\(\)"),
    (ns_as_minimax, r"this is the minimax loss"),
    (ns_discriminator_fake_term, r"discriminator's fake term"),
    (ns_sign, r"sign is flipped"),
    (ns_sum, r"summed over the batch"),
    (ns_log_sigmoid, r"log\(sigmoid\(l\)\) underflows"),
    (ns_bce_of_sigmoid, r"log\(sigmoid\(l\)\) underflows"),
    (ns_no_reduction, r"mean over the batch"),
]


@pytest.mark.parametrize("answer, message", NS_WRONG, ids=[f.__name__ for f, _ in NS_WRONG])
def test_wrong_nonsaturating_generator_loss_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_generator_loss_nonsaturating(answer)


def test_reference_and_equivalent_losses_pass():
    checks.check_discriminator_loss(gm.gan.discriminator_loss)
    checks.check_discriminator_loss(lambda r, f: -F.logsigmoid(r).mean() - F.logsigmoid(-f).mean())
    checks.check_generator_loss_minimax(lambda f: gm.gan.generator_loss(f, "minimax"))
    checks.check_generator_loss_minimax(lambda f: F.logsigmoid(-f).mean())
    checks.check_generator_loss_nonsaturating(lambda f: gm.gan.generator_loss(f, "nonsaturating"))
    checks.check_generator_loss_nonsaturating(lambda f: F.softplus(-f).mean())


# ----------------------------------------------------------------------------------------------
# ConditionalGenerator(latent_features, embedding_dim, width)
# ----------------------------------------------------------------------------------------------
class Reference(gm.gan.Generator):
    """The solution: a small conditional DCGAN generator."""

    def __init__(self, latent_features=64, embedding_dim=16, width=32, mistake=None):
        super().__init__()
        self.mistake = mistake
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(n_classes=10, embedding_dim=embedding_dim)
        inputs = latent_features + (0 if mistake == "no_label" else embedding_dim)
        self.dense = nn.Sequential(
            nn.Linear(inputs, 2 * width * 7 * 7),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
        )
        last = nn.Tanh() if mistake == "tanh" else nn.Identity() if mistake == "no_sigmoid" else nn.Sigmoid()
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),
            last,
        )
        if mistake == "unused_layer":
            self.extra = nn.Linear(3, 3)

    def forward(self, z, labels):
        m = self.mistake
        if m == "own_noise":
            z = torch.randn_like(z)
        if m == "detach_z":
            z = z.detach()
        e = self.condition(labels)
        if m == "no_label":
            x = z
        elif m == "first_label":
            x = torch.cat([z, e[:1].expand(len(z), -1)], dim=1)
        elif m == "no_z":
            x = torch.cat([torch.zeros_like(z), e], dim=1)
        elif m == "label_detached":
            x = torch.cat([z, e.detach()], dim=1)
        else:
            x = torch.cat([z, e], dim=1)
        out = self.deconv(self.dense(x))
        if m == "flat":
            return out.flatten(1)
        if m == "no_graph":
            return out.detach()
        return out


def wrong(mistake):
    def build(latent_features=64, embedding_dim=16, width=32):
        return Reference(latent_features, embedding_dim, width, mistake=mistake)

    build.__name__ = mistake
    return build


class NotAGenerator(nn.Module):  # derives from nn.Module: no noise() / sample()
    def __init__(self, latent_features=64, embedding_dim=16, width=32):
        super().__init__()
        self.latent_features = latent_features


G_WRONG = [
    (wrong("no_label"), r"ignore the label"),  # the label never reaches the network
    (wrong("label_detached"), r"self\.condition\) gets no gradient"),  # embedding detached
    (wrong("first_label"), r"depends on the other samples"),  # one label for the whole batch
    (wrong("no_z"), r"no gradient reaches z"),  # z not used
    (wrong("detach_z"), r"no gradient reaches z: z is detached"),  # z detached
    (wrong("own_noise"), r"draw no noise|no gradient reaches z"),  # draws its own noise
    (wrong("tanh"), r"outside \[0, 1\].*not a tanh"),  # tanh output
    (wrong("no_sigmoid"), r"end with a sigmoid"),  # no output activation
    (wrong("flat"), r"shape the output as images"),  # (B, 784) instead of images
    (wrong("no_graph"), r"no gradient"),  # output detached
    (wrong("unused_layer"), r"get no gradient \(unused layers\?\): extra"),  # dead layer
    (NotAGenerator, r"derive from gm\.gan\.Generator"),
]


@pytest.mark.parametrize("answer, message", G_WRONG, ids=[f.__name__ for f, _ in G_WRONG])
def test_wrong_conditional_generator_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_conditional_generator(answer)


def test_reference_conditional_generator_passes():
    checks.check_conditional_generator(Reference)
    checks.check_conditional_generator(
        lambda latent_features=64, embedding_dim=16, width=32: gm.gan.DCGANGenerator(
            latent_features, width=width, n_classes=10, embedding_dim=embedding_dim
        )
    )
