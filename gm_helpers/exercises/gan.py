"""Checks of exercise 01 (``01_gan``): the losses of the original GAN from logits, and a
conditional generator for MNIST.

The losses are compared with ``gm.gan.discriminator_loss`` / ``gm.gan.generator_loss`` in value
*and* in gradient with respect to the logits: a loss computed on ``.detach()``ed logits (or
through ``.item()`` / numpy) has the right value and trains nothing. When a value is wrong, the
classic mistakes are worked out on the same logits to name the one that matches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gm_helpers.checks import assert_same_gradients
from gm_helpers.gan import Generator, discriminator_loss, generator_loss

__all__ = [
    "check_conditional_generator",
    "check_discriminator_loss",
    "check_generator_loss_minimax",
    "check_generator_loss_nonsaturating",
]


def _bce(logits: Tensor, target: float, reduction: str = "mean") -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction=reduction)


def _logit_cases() -> list[tuple[Tensor, Tensor]]:
    """(real_logits, fake_logits) of moderate size; the saturated case comes apart."""
    g = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(64, generator=g, dtype=torch.float64),
            torch.randn(64, generator=g, dtype=torch.float64),
        ),
        (
            3 * torch.randn(200, generator=g, dtype=torch.float64) + 2,
            3 * torch.randn(200, generator=g, dtype=torch.float64) - 2,
        ),
    ]


# Saturated logits: a confident discriminator. log(sigmoid(l)) underflows to log(0) here.
# In float32, as in training: sigmoid(-200) is 0 and sigmoid(80) is 1.
_SATURATED = (
    torch.tensor([60.0, -60.0, 0.0, -200.0, 200.0]),
    torch.tensor([-80.0, 80.0, 1.0, 200.0, -200.0]),
)


def _value(out, what: str) -> Tensor:
    """The answer's output as a scalar tensor, or an AssertionError naming why it is not one."""
    if not isinstance(out, Tensor):
        raise AssertionError(
            f"{what} returned a {type(out).__name__}, not a torch tensor: .item(), float() or numpy cut "
            "it from the autograd graph, and the network would not train; return the tensor"
        )
    if out.numel() != 1:
        raise AssertionError(
            f"{what} returned shape {tuple(out.shape)}: one number is expected, the mean over the batch "
            "(reduction='mean', or .mean())"
        )
    return out.reshape(())


def _diagnose(got: Tensor, want: Tensor, mistakes: list[tuple[str, Tensor]], what: str, n: int) -> None:
    got_f, want_f = float(got.detach()), float(want.detach())
    if abs(got_f - want_f) <= 1e-6 * max(1.0, abs(want_f)):
        return
    if not torch.isfinite(got):
        raise AssertionError(f"{what} is {got_f}: not finite")
    candidates = [
        *mistakes,
        ("the sign is flipped", -want),
        (
            f"summed over the batch instead of averaged: the loss is {n} times too large; use the mean",
            want * n,
        ),
    ]
    for cause, value in candidates:
        if abs(got_f - float(value)) <= 1e-6 * max(1.0, abs(float(value))):
            raise AssertionError(f"{what} is {got_f:.6g}, expected {want_f:.6g}: {cause}")
    if abs(got_f - want_f) <= 1e-3 * max(1.0, abs(want_f)):
        raise AssertionError(
            f"{what} is {got_f:.6g}, close to but not {want_f:.6g}: an eps or a clamp inside the log "
            "(log(sigmoid(l) + eps)) shifts the value; use F.binary_cross_entropy_with_logits"
        )
    raise AssertionError(f"{what} is {got_f:.6g}, expected {want_f:.6g}")


def _call(answer: Callable, args, name: str):
    try:
        return answer(*args)
    except RuntimeError as error:
        if "numpy" in str(error).lower():
            raise AssertionError(
                f"{name} goes through numpy, which cuts the autograd graph (and needs a .detach() that "
                "would stop the training): compute it with torch functions"
            ) from None
        raise


_UNSTABLE = (
    "correct for moderate logits, but {value} for the saturated logits {logits}: log(sigmoid(l)) "
    "underflows to log(0) for large |l| (and a clamp or + eps gives a wrong finite value); use "
    "F.binary_cross_entropy_with_logits, or F.logsigmoid with 1 - sigmoid(l) = sigmoid(-l)"
)


def _check_loss(
    answer: Callable,
    reference: Callable,
    mistakes: Callable[[Tensor, Tensor], list[tuple[str, Tensor]]],
    name: str,
    arity: int,
) -> None:
    """Values on moderate logits (with diagnosis), then on saturated logits, then gradients."""
    cases = _logit_cases()
    for number, (real, fake) in enumerate(cases, start=1):
        args = (real, fake)[2 - arity :]
        got = _value(_call(answer, [a.clone().requires_grad_(True) for a in args], name), name)
        _diagnose(got, reference(*args), mistakes(real, fake), f"case {number}: {name}", len(fake))
    args = _SATURATED[2 - arity :]
    got = _value(_call(answer, [a.clone().requires_grad_(True) for a in args], name), name)
    want = reference(*args)
    if not torch.isfinite(got) or abs(float(got.detach()) - float(want)) > 1e-5 * max(1.0, abs(float(want))):
        shown = ", ".join(str([int(v) for v in a]) for a in args)
        raise AssertionError(f"{name}: " + _UNSTABLE.format(value=f"{float(got.detach()):.6g}", logits=shown))
    for number, (real, fake) in enumerate([*cases, _SATURATED], start=1):
        leaves = [a.clone().requires_grad_(True) for a in (real, fake)[2 - arity :]]
        names = ["real_logits", "fake_logits"][2 - arity :]
        got = _value(_call(answer, leaves, name), name)
        if not got.requires_grad:
            raise AssertionError(
                f"{name} carries no gradient with respect to the logits: they were cut from the autograd "
                "graph (a .detach(), torch.no_grad(), or a value rebuilt from numbers); the network "
                "behind the logits would not train"
            )
        assert_same_gradients(
            got,
            reference(*leaves),
            dict(zip(names, leaves, strict=True)),
            f"case {number}: {name}",
            rtol=1e-5,
            atol=1e-10,
        )


def check_discriminator_loss(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(real_logits, fake_logits)``
    computes -E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logit), in value and gradient."""

    def mistakes(real, fake):
        return [
            (
                "the targets are swapped: real samples have target 1, fakes target 0",
                _bce(real, 0) + _bce(fake, 1),
            ),
            ("the two terms are averaged: L_D is their sum", 0.5 * (_bce(real, 1) + _bce(fake, 0))),
            ("the fake term is missing: L_D = -E[log D(x)] - E[log(1 - D(G(z)))]", _bce(real, 1)),
            ("the real term is missing: L_D = -E[log D(x)] - E[log(1 - D(G(z)))]", _bce(fake, 0)),
            (
                "the fake term has the wrong sign: both terms are binary cross-entropies, added",
                _bce(real, 1) - _bce(fake, 0),
            ),
            ("the fakes are scored with target 1 too: fakes have target 0", _bce(real, 1) + _bce(fake, 1)),
            (
                "summed over the batch instead of averaged: use the mean of each term",
                _bce(real, 1, "sum") + _bce(fake, 0, "sum"),
            ),
            (
                "the logits were fed to binary_cross_entropy as probabilities: use "
                "binary_cross_entropy_with_logits (or apply the sigmoid first)",
                F.binary_cross_entropy(real.clamp(0, 1), torch.ones_like(real))
                + F.binary_cross_entropy(fake.clamp(0, 1), torch.zeros_like(fake)),
            ),
        ]

    _check_loss(answer, discriminator_loss, mistakes, "discriminator_loss", arity=2)


def _generator_mistakes(real, fake):
    return [
        (
            "this is the non-saturating loss -E[log D(G(z))]; the minimax loss is E[log(1 - D(G(z)))]",
            _bce(fake, 1),
        ),
        (
            "this is the minimax loss E[log(1 - D(G(z)))]; the non-saturating loss is -E[log D(G(z))] "
            "= binary cross-entropy of the fake logits with target 1",
            -_bce(fake, 0),
        ),
        (
            "this is -E[log(1 - D(G(z)))], the discriminator's fake term: a generator minimizing it "
            "pushes D(G(z)) down; mind the sign",
            _bce(fake, 0),
        ),
        (
            "this is E[log D(G(z))]: the sign is flipped (the generator *minimizes* -E[log D(G(z))])",
            -_bce(fake, 1),
        ),
        ("summed over the batch instead of averaged: use the mean", _bce(fake, 1, "sum")),
        ("summed over the batch instead of averaged: use the mean", -_bce(fake, 0, "sum")),
        (
            "the logits were used as probabilities: D = sigmoid(logit)",
            torch.log1p(-fake.clamp(0, 1 - 1e-12)).mean(),
        ),
    ]


def check_generator_loss_minimax(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(fake_logits)`` computes
    the minimax generator loss E[log(1 - D(G(z)))], in value and gradient."""
    _check_loss(
        answer, lambda f: generator_loss(f, "minimax"), _generator_mistakes, "generator_loss_minimax", arity=1
    )


def check_generator_loss_nonsaturating(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(fake_logits)`` computes
    the non-saturating generator loss -E[log D(G(z))], in value and gradient."""
    _check_loss(
        answer,
        lambda f: generator_loss(f, "nonsaturating"),
        _generator_mistakes,
        "generator_loss_nonsaturating",
        arity=1,
    )


# ----------------------------------------------------------------------------------------------
# The conditional generator
# ----------------------------------------------------------------------------------------------
def check_conditional_generator(cls: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``cls(latent_features=16,
    width=8)`` builds a ``gm.gan.Generator`` mapping (z, labels) to images (B, 1, 28, 28) in [0, 1]
    that depend on both z and the label of their own sample, differentiably in z and in every
    parameter (the label embedding included)."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        generator = cls(latent_features=16, width=8)
        z = torch.randn(10, 16)
        labels = torch.arange(10)
    finally:
        torch.random.set_rng_state(state)  # the participant's random state is left alone
    if not isinstance(generator, Generator):
        raise AssertionError("the generator must derive from gm.gan.Generator (class ...(gm.gan.Generator))")
    if generator.latent_features != 16:
        raise AssertionError("self.latent_features must be the latent_features given to __init__")
    generator.train()
    images = generator(z, labels)
    if not isinstance(images, Tensor):
        raise AssertionError(f"forward returned a {type(images).__name__}, not a tensor")
    if images.shape != (10, 1, 28, 28):
        raise AssertionError(
            f"images have shape {tuple(images.shape)}, expected (10, 1, 28, 28): shape the output as "
            "images (batch, channel, height, width), e.g. .view(-1, 1, 28, 28) after a dense layer"
        )
    if images.min() < 0 or images.max() > 1:
        raise AssertionError(
            f"pixels lie in [{float(images.min().detach()):.3g}, {float(images.max().detach()):.3g}], "
            "outside [0, 1]: end with a sigmoid (not a tanh, which gives [-1, 1])"
        )
    if not images.requires_grad:
        raise AssertionError(
            "the images carry no gradient: something in forward is detached or under no_grad"
        )
    zz = z.clone().requires_grad_(True)
    generator(zz, labels).sum().backward()
    if zz.grad is None or not torch.any(zz.grad != 0):
        raise AssertionError(
            "no gradient reaches z: z is detached, not used, or replaced by noise drawn inside forward "
            "(use the z it is given)"
        )
    no_grad = [
        name for name, p in generator.named_parameters() if p.grad is None or not torch.any(p.grad != 0)
    ]
    if any(name.startswith("condition") for name in no_grad):
        raise AssertionError(
            "the label embedding (self.condition) gets no gradient: the images ignore the label; join "
            "e_y = self.condition(labels) to z with torch.cat([z, e_y], dim=1)"
        )
    if no_grad:
        raise AssertionError(f"these parameters get no gradient (unused layers?): {', '.join(no_grad)}")
    generator.eval()  # batch norm per sample: each image depends only on its own z and label
    with torch.no_grad():
        images = generator(z, labels)
        if not torch.equal(images, generator(z, labels)):
            raise AssertionError(
                "forward gives other images for the same z: use the z it is given, draw no noise"
            )
        if torch.allclose(images, generator(z, (labels + 1) % 10), atol=1e-6):
            raise AssertionError(
                "the images do not depend on the label: join self.condition(labels) to z with torch.cat"
            )
        if torch.allclose(images[0], generator(z[1:2], labels[:1])[0], atol=1e-6):
            raise AssertionError("the images do not depend on z")
        alone = torch.cat([generator(z[i : i + 1], labels[i : i + 1]) for i in range(len(z))])
        if not torch.allclose(images, alone, atol=1e-5):
            raise AssertionError(
                "an image depends on the other samples of the batch (in eval mode): each sample must be "
                "made from its own z and its own label (torch.cat along dim=1, not dim=0)"
            )
    generator.train()
    for n, context in ((4, torch.arange(4)), (3, 7)):
        try:
            out = generator.sample(n, context)
        except Exception as error:  # noqa: BLE001 - the participant's error, reported with its cause
            raise AssertionError(
                f"generator.sample({n}, {context!r}) fails: {type(error).__name__}: {error}"
            ) from None
        if out.shape != (n, 1, 28, 28):
            raise AssertionError(
                f"generator.sample({n}, ...) has shape {tuple(out.shape)}, expected ({n}, 1, 28, 28)"
            )
