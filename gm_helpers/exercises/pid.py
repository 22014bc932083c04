"""Checks of exercise 08 (``08_pid_fast_simulation``): a conditional generator and discriminator for
the RICH delta-log-likelihoods (DLLs), and the efficiency of a PID cut in bins of momentum.

- ``check_conditional_generator``: the class is built as ``cls(features=4, context_features=4,
  latent_features=16, hidden=32)`` and fed noise z (B, 16) and conditions (B, 4). The checks run in
  an order that gives each classic mistake its own message: the constructor and ``forward`` run (a
  ``torch.cat`` along dim 0, a first layer of the wrong width), a ``gm.gan.Generator`` with
  ``latent_features``, an output (B, 4) that carries a gradient, an output that is not bounded for
  large inputs and weights (no tanh, sigmoid or ReLU at the end: the targets are standard normal), the
  same output for the same inputs (no noise drawn inside ``forward``), an output that moves with z and
  with the condition, gradients that reach z and every parameter, no mixing between the tracks of a
  batch (batch normalization, a mean over the batch) and a working ``sample``.
- ``check_conditional_discriminator``: ``cls(features=4, context_features=4, hidden=32)`` on samples
  y (B, 4) and conditions (B, 4): one logit per sample, shape (B,) or (B, 1) (``train_gan`` takes
  either), logits rather than probabilities (no sigmoid, tanh or ReLU at the end), the same score for
  the same inputs, a score that depends on y and on the condition, a gradient that reaches y (the
  generator learns through it) and every parameter, and no mixing between the samples of a batch.
- ``check_my_efficiency_curve``: hand-built tracks in six momentum bins, one where every track
  passes, one where none does, an empty one, and tracks below the first and beyond the last edge
  (none exactly on an edge, so ``np.histogram`` and ``np.digitize`` answers agree), then a random
  sample; both compared with ``gm.pid.efficiency_curve``, NaN equal to NaN. A wrong answer is
  compared with the classic mistakes: the Poisson error sqrt(eps / n) = sqrt(k) / n, the variance
  without the square root, counts instead of fractions, the total number of tracks instead of each
  bin's, bins shifted by one (``np.digitize`` without the - 1), tracks outside the range counted in
  the edge bins (``np.clip`` of the index), errors of 0, efficiency and error swapped, one value per
  edge instead of per bin, and 0 instead of NaN in the empty bin.

The networks' checks run under a fixed seed and leave the participant's torch random state as it
was. Every check turns an error of the participant's code into an ``AssertionError`` that names a
likely cause (``NotImplementedError``, the untouched stub, passes through as is).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from gm_helpers.checks import call_answer
from gm_helpers.core import to_numpy
from gm_helpers.gan import Generator
from gm_helpers.pid.validation import EfficiencyCurve, efficiency_curve
from gm_helpers.train import seeded

__all__ = ["check_conditional_discriminator", "check_conditional_generator", "check_my_efficiency_curve"]

_FEATURES, _CONTEXT, _LATENT, _HIDDEN = 4, 4, 16, 32
_BATCH = 16
_SCALE = 50.0  # inputs this many times larger ...
_PARAMETER_SCALE = 20.0  # ... and parameters this many times larger: a linear last layer leaves [-1, 1]
_BIG_BATCH = 256


# --------------------------------------------------------------------------------------------------
# Steps 1 and 2: the two players


def _build(cls: Callable, kwargs: dict, name: str, signature: str) -> nn.Module:
    call = ", ".join(f"{k}={v}" for k, v in kwargs.items())

    def cause(error):
        if isinstance(error, TypeError) and "keyword argument" in str(error):
            return f"keep the constructor's signature, __init__(self, {signature})"
        return f"build it by hand, {name}({call}), to see where it fails"

    return call_answer(cls, (), f"{name}({call})", cause, kwargs)


def _forward_cause(first: str, first_shape: int) -> Callable[[BaseException], str]:
    """The likely cause of an error in forward(first, context): the two joined the wrong way."""
    inputs = first_shape + _CONTEXT

    def cause(error):
        text = str(error)
        if "except in dimension 0" in text:
            return (
                f"torch.cat([{first}, context], dim=0) stacks the conditions below the samples as extra "
                f"rows; join each sample's {first} and condition side by side: "
                f"torch.cat([{first}, context], dim=1)"
            )
        if "shapes cannot be multiplied" in text or "size mismatch" in text:
            return (
                f"the first Linear layer must take {first_shape} + {_CONTEXT} = {inputs} inputs, the "
                f"{first} ({first_shape}) and the condition ({_CONTEXT}) joined with "
                f"torch.cat([{first}, context], dim=1)"
            )
        if "Condition" in text or "context must be" in text:
            return "self.condition(context, len(...)) expects the context as a float tensor (B, 4)"
        return (
            f"it was called with {first} of shape (B, {first_shape}) and context of shape (B, {_CONTEXT}), "
            "float tensors: try it by hand on such tensors to see where it fails"
        )

    return cause


def _rows_mixed(module: nn.Module, first: Tensor, context: Tensor, call: Callable) -> bool:
    """Whether (in training mode) a row's output moves when *another* row's inputs move. Dropout
    draws the same masks in every call (the seed is set before each), so only mixing shows."""

    buffers = [(b, b.detach().clone()) for b in module.buffers()]

    def run(a, c):
        torch.manual_seed(1)  # the same dropout masks
        with torch.no_grad():
            for buffer, value in buffers:  # the same state (spectral norm's power iteration moves it)
                buffer.copy_(value)
            return call(module, a, c)

    base = run(first, context)
    other_first, other_context = first.clone(), context.clone()
    other_first[1:] = torch.randn_like(first[1:])
    other_context[1:] = torch.randn_like(context[1:])
    if not torch.allclose(run(other_first, other_context)[0], base[0], rtol=1e-5, atol=1e-6):
        return True
    other_first, other_context = first.clone(), context.clone()
    other_first[0] = torch.randn_like(first[0])
    other_context[0] = torch.randn_like(context[0])
    return not torch.allclose(run(other_first, other_context)[1:], base[1:], rtol=1e-5, atol=1e-6)


def _no_gradient(module: nn.Module) -> list[str]:
    return [name for name, p in module.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]


def _generator_output(generator: nn.Module, z: Tensor, context: Tensor) -> Tensor:
    out = call_answer(generator, (z, context), "forward(z, context)", _forward_cause("z", _LATENT))
    if not isinstance(out, Tensor):
        raise AssertionError(f"forward returned a {type(out).__name__}, not a torch tensor")
    batch = len(z)
    if tuple(out.shape) != (batch, _FEATURES):
        cause = "one row of features = 4 DLLs per track: the last layer is nn.Linear(hidden, features)"
        if out.ndim >= 1 and out.shape[0] == 2 * batch:
            cause = (
                "twice as many rows as tracks: torch.cat([z, context], dim=0) stacks them as extra samples; "
                "join them side by side with dim=1"
            )
        raise AssertionError(
            f"for z ({batch}, {_LATENT}) and context ({batch}, {_CONTEXT}) forward returned shape "
            f"{tuple(out.shape)}, expected ({batch}, {_FEATURES}): {cause}"
        )
    if not torch.all(torch.isfinite(out)):
        raise AssertionError("forward returned NaN or infinite values for standard normal z and context")
    return out


def _large_inputs(module: nn.Module, call: Callable, first_features: int) -> Tensor:
    """The output (eval mode, no autograd) for inputs ``_SCALE`` times larger than standard normal, with
    every parameter ``_PARAMETER_SCALE`` times larger: only a squashing function at the very end keeps
    it within [-1, 1] then (bounded hidden layers, tanh or LayerNorm, are followed by a linear layer
    whose weights grow). The parameters are restored afterwards."""
    parameters = list(module.parameters())
    saved = [p.detach().clone() for p in parameters]
    module.eval()
    try:
        with torch.no_grad():
            for p in parameters:
                p.mul_(_PARAMETER_SCALE)
            return call(
                module,
                _SCALE * torch.randn(_BIG_BATCH, first_features),
                _SCALE * torch.randn(_BIG_BATCH, _CONTEXT),
            )
    finally:
        with torch.no_grad():
            for p, value in zip(parameters, saved, strict=True):
                p.copy_(value)
        module.train()


def _squashed(values: Tensor) -> tuple[float, float, bool, bool, bool]:
    """(min, max, sigmoid, tanh, relu): whether the values look squashed by a sigmoid at the end (all in
    [0, 1], most of them saturated at 0 or 1), by a tanh or a clamp (all in [-1, 1], most at -1 or 1), or
    cut by a ReLU (none negative, some exactly 0: a linear layer gives no exact zeros). A network with
    bounded hidden layers and a linear last layer (spectral normalization keeps its weights from
    growing) may stay within [-1, 1], but does not saturate."""
    lo, hi = float(values.min()), float(values.max())
    sigmoid = lo >= 0 and hi <= 1 and float(torch.mean(((values <= 0.01) | (values >= 0.99)).float())) >= 0.5
    tanh = max(abs(lo), abs(hi)) <= 1 + 1e-6 and float(torch.mean((values.abs() >= 0.99).float())) >= 0.5
    return lo, hi, sigmoid, tanh, lo >= 0 and bool(torch.any(values == 0))


_LARGE = f"even for inputs {_SCALE:g} times and weights {_PARAMETER_SCALE:g} times larger"


def _check_generator_range(generator: nn.Module) -> None:
    lo, hi, sigmoid, tanh, relu = _squashed(_large_inputs(generator, _generator_output, _LATENT))
    if sigmoid or tanh:
        raise AssertionError(
            f"the output stays in [{lo:.3g}, {hi:.3g}] {_LARGE}: a tanh/sigmoid at the end bounds the "
            "output; the targets are standard normal with tails beyond ±3: make the last layer linear "
            "(nn.Linear(hidden, features), no activation after it)"
        )
    if relu:
        raise AssertionError(
            f"the output is never negative and often exactly 0, {_LARGE}: a ReLU at the end cuts off the "
            "negative half of the standard normal targets; make the last layer linear "
            "(nn.Linear(hidden, features), no activation after it)"
        )


def _check_discriminator_range(discriminator: nn.Module) -> None:
    lo, hi, sigmoid, tanh, relu = _squashed(_large_inputs(discriminator, _discriminator_scores, _FEATURES))
    if sigmoid:
        raise AssertionError(
            f"the scores stay in [{lo:.3g}, {hi:.3g}] {_LARGE}: probabilities, not logits. A sigmoid at "
            "the end: train_gan's loss takes logits and applies the sigmoid itself "
            "(binary_cross_entropy_with_logits); return the last Linear layer's output"
        )
    if tanh:
        raise AssertionError(
            f"the scores stay in [{lo:.3g}, {hi:.3g}] {_LARGE}: a tanh (or a clamp) at the end bounds the "
            "logits, so D(y) = sigmoid(logit) never leaves [0.27, 0.73]; return the last Linear layer's "
            "output"
        )
    if relu:
        raise AssertionError(
            f"the scores are never negative and often exactly 0, {_LARGE}: a ReLU at the end, so "
            "D(y) = sigmoid(logit) >= 1/2 and nothing is ever judged fake; return the last Linear layer's "
            "output"
        )


def _check_gradients(
    module: nn.Module, call: Callable, x: Tensor, context: Tensor, no_input_grad: str
) -> None:
    """In training mode, a random projection of the output must send gradient to ``x`` (else
    ``no_input_grad``) and to every parameter."""
    module.train()
    leaf = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = call(module, leaf, context)
    (out * torch.rand(out.shape)).sum().backward()
    if leaf.grad is None or not torch.any(leaf.grad != 0):
        raise AssertionError(no_input_grad)
    dead = _no_gradient(module)
    module.zero_grad(set_to_none=True)
    if dead:
        raise AssertionError(f"these parameters get no gradient (unused layers?): {', '.join(dead)}")


def check_conditional_generator(cls: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``cls(features=4,
    context_features=4, latent_features=16, hidden=32)`` builds a ``gm.gan.Generator`` whose
    ``forward(z, context)`` maps z (B, 16) and the conditions (B, 4) to DLLs (B, 4): deterministic,
    depending on both z and the condition of its own track only, differentiable in z and in every
    parameter, with a linear (unbounded) output; ``sample(n, context)`` must work."""
    with seeded(0):  # the participant's random state is left alone
        _check_generator(cls)


def _check_generator(cls: Callable) -> None:
    generator = _build(
        cls,
        {"features": _FEATURES, "context_features": _CONTEXT, "latent_features": _LATENT, "hidden": _HIDDEN},
        "MyConditionalGenerator",
        "features=4, context_features=4, latent_features=16, hidden=128",
    )
    if not isinstance(generator, Generator):
        raise AssertionError(
            "the generator must derive from gm.gan.Generator (class "
            "MyConditionalGenerator(gm.gan.Generator)): train_gan and sample use its noise() and sample()"
        )
    if getattr(generator, "latent_features", None) != _LATENT:
        raise AssertionError(
            f"self.latent_features is {getattr(generator, 'latent_features', None)!r}: keep "
            "self.latent_features = latent_features (given), the size of the noise z"
        )
    if not list(generator.parameters()):
        raise AssertionError("the generator has no parameters: build its layers in __init__ (self.net = ...)")
    z, context = torch.randn(_BATCH, _LATENT), torch.randn(_BATCH, _CONTEXT)
    generator.train()
    out = _generator_output(generator, z, context)
    if not out.requires_grad:
        raise AssertionError(
            "the output carries no gradient: something in forward is detached (.detach(), torch.no_grad(), "
            "or a tensor rebuilt from numbers), and the generator would not train"
        )
    _check_generator_range(generator)

    generator.eval()
    with torch.no_grad():
        first = _generator_output(generator, z, context)
        if not torch.equal(first, _generator_output(generator, z, context)):
            raise AssertionError(
                "forward gives other DLLs for the same z and context: it draws noise of its own "
                "(torch.randn inside forward); use the z it is given (train_gan and sample draw it with "
                "self.noise)"
            )
        if torch.allclose(
            first, _generator_output(generator, torch.randn(_BATCH, _LATENT), context), atol=1e-6
        ):
            raise AssertionError(
                "the output does not depend on z: the noise is ignored, and the generator gives one DLL "
                "vector per condition, without any spread; join z to the condition, "
                "torch.cat([z, context], dim=1)"
            )
        if torch.allclose(first, _generator_output(generator, z, torch.randn(_BATCH, _CONTEXT)), atol=1e-6):
            raise AssertionError(
                "the output does not depend on the context: a generator that ignores the condition learns "
                "only the DLLs averaged over all conditions (all momenta, pseudorapidities and "
                "occupancies at once); join the condition to the noise, torch.cat([z, context], dim=1), "
                "into a first Linear layer of latent_features + context_features inputs"
            )

    _check_gradients(
        generator, _generator_output, z, context,
        "no gradient reaches z: z is cut from the autograd graph on its way to the output (a .detach(), "
        "torch.no_grad(), or numbers rebuilt from it); the output must be a differentiable function "
        "of z and the context",
    )  # fmt: skip

    if _rows_mixed(generator, z, context, _generator_output):
        raise AssertionError(
            "the output of one track depends on the other tracks of the batch (in training mode): batch "
            "normalization (nn.BatchNorm1d) normalizes with the batch statistics, and a mean or sum over "
            "dim 0 mixes the tracks as well (so does the condition of one track, context[0], used for "
            "all); the DLLs of a track must depend only on its own noise and condition: drop the batch "
            "normalization"
        )

    for n, condition in ((5, context[:5]), (3, context[0])):
        shape = tuple(condition.shape)
        out = call_answer(
            generator.sample,
            (n, condition),
            f"generator.sample({n}, context of shape {shape})",
            lambda error: (
                "keep self.condition = gm.nets.Condition(context_features=context_features) (given): "
                "sample() and train_gan use it"
                if "condition" in str(error)
                else "sample(n, context) calls forward(self.noise(n), context): try it by hand"
            ),
        )
        if not isinstance(out, Tensor) or tuple(out.shape) != (n, _FEATURES):
            raise AssertionError(
                f"generator.sample({n}, context of shape {shape}) gave "
                f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}, "
                f"expected shape ({n}, {_FEATURES})"
            )


def _discriminator_scores(discriminator: nn.Module, y: Tensor, context: Tensor) -> Tensor:
    """The scores as (B,): shape (B,) and (B, 1) are both taken, as ``train_gan`` does."""
    out = call_answer(discriminator, (y, context), "forward(y, context)", _forward_cause("y", _FEATURES))
    if not isinstance(out, Tensor):
        raise AssertionError(f"forward returned a {type(out).__name__}, not a torch tensor")
    batch = len(y)
    shape = tuple(out.shape)
    if shape in ((batch,), (batch, 1)):
        out = out.reshape(batch)
        if not torch.all(torch.isfinite(out)):
            raise AssertionError("forward returned NaN or infinite scores for standard normal y and context")
        return out
    expected = f"one logit per sample, shape ({batch},) (or ({batch}, 1))"
    if out.numel() == 1:
        cause = (
            "one score for the whole batch: a mean or sum over the batch (dim 0) at the end; the loss of "
            "train_gan averages over the samples itself, so return the score of every sample"
        )
    elif out.ndim == 2 and shape[0] == batch:
        cause = (
            f"{shape[1]} numbers per sample: the last layer must map to one output, nn.Linear(hidden, 1), "
            "and .squeeze(1) gives shape (B,)"
        )
    elif out.ndim >= 1 and shape[0] == 2 * batch:
        cause = (
            "twice as many scores as samples: torch.cat([y, context], dim=0) stacks the conditions as extra "
            "samples; join them side by side with dim=1"
        )
    else:
        cause = "the last layer must map to one output, nn.Linear(hidden, 1), then .squeeze(1)"
    raise AssertionError(
        f"for y ({batch}, {_FEATURES}) and context ({batch}, {_CONTEXT}) forward returned shape {shape}: "
        f"expected {expected}: {cause}"
    )


def check_conditional_discriminator(cls: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``cls(features=4, context_features=4,
    hidden=32)`` builds an ``nn.Module`` whose ``forward(y, context)`` returns one logit per sample,
    shape (B,) or (B, 1) (both are accepted, as ``gm.gan.train_gan`` takes both): deterministic,
    depending on the sample y and on the condition of its own sample only, differentiable in y (the
    generator learns through it) and in every parameter, and a real number, not a probability."""
    with seeded(0):  # the participant's random state is left alone
        _check_discriminator(cls)


def _check_discriminator(cls: Callable) -> None:
    discriminator = _build(
        cls,
        {"features": _FEATURES, "context_features": _CONTEXT, "hidden": _HIDDEN},
        "MyConditionalDiscriminator",
        "features=4, context_features=4, hidden=128",
    )
    if not isinstance(discriminator, nn.Module):
        raise AssertionError(
            "the discriminator must be a torch module (class MyConditionalDiscriminator(nn.Module)): "
            "train_gan optimizes its parameters()"
        )
    if not list(discriminator.parameters()):
        raise AssertionError(
            "the discriminator has no parameters: build its layers in __init__ (self.net = ...)"
        )
    y, context = torch.randn(_BATCH, _FEATURES), torch.randn(_BATCH, _CONTEXT)
    discriminator.train()
    scores = _discriminator_scores(discriminator, y, context)
    if not scores.requires_grad:
        raise AssertionError(
            "the scores carry no gradient: something in forward is detached (.detach(), torch.no_grad(), or "
            "a tensor rebuilt from numbers); neither the discriminator nor the generator would train"
        )
    _check_discriminator_range(discriminator)

    discriminator.eval()
    with torch.no_grad():
        first = _discriminator_scores(discriminator, y, context)
        if not torch.equal(first, _discriminator_scores(discriminator, y, context)):
            raise AssertionError(
                "forward gives other scores for the same y and context: it draws noise of its own; "
                "train_gan injects the noise (injected_noise=...) itself"
            )
        if torch.allclose(
            first, _discriminator_scores(discriminator, torch.randn_like(y), context), atol=1e-6
        ):
            raise AssertionError(
                "the scores do not depend on y: the discriminator ignores the sample it judges; join y to "
                "the condition, torch.cat([y, context], dim=1)"
            )
        if torch.allclose(
            first, _discriminator_scores(discriminator, y, torch.randn_like(context)), atol=1e-6
        ):
            raise AssertionError(
                "the scores do not depend on the context: a discriminator that ignores the condition judges "
                "only the DLLs pooled over all momenta, and a generator giving a 3 GeV kaon the DLLs of a "
                "100 GeV kaon would pass, as long as the mixture is right; join the condition to the "
                "sample, torch.cat([y, context], dim=1)"
            )

    _check_gradients(
        discriminator, _discriminator_scores, y, context,
        "no gradient reaches y: the generator learns only through the gradient of the score with "
        "respect to the sample it is shown, and a y.detach() (or torch.no_grad(), or numbers rebuilt "
        "from y) inside forward cuts it; leave the detaching to train_gan",
    )  # fmt: skip

    if _rows_mixed(discriminator, y, context, _discriminator_scores):
        raise AssertionError(
            "the score of one sample depends on the other samples of the batch (in training mode): batch "
            "normalization (nn.BatchNorm1d) normalizes with the batch statistics, and a mean or sum over "
            "dim 0 mixes the samples as well (so does the condition of one sample, context[0], used for "
            "all); real and generated batches would be judged by their "
            "statistics rather than sample by sample: drop the batch normalization"
        )


# --------------------------------------------------------------------------------------------------
# Step 4: the efficiency curve


def _hand_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """37 tracks in bins [1, 2), [2, 4), ..., [32, 64): 4 all passing, 3 none passing, 0, 5 (2 pass),
    8 (6 pass), 10 (3 pass); 3 tracks below 1 and 4 at or beyond 64. None lies on an edge."""
    tracks = [
        (0.4, True), (0.7, True), (0.95, False),  # below the first edge
        (1.3, True), (1.55, True), (1.7, True), (1.9, True),  # every track passes
        (2.5, False), (3.1, False), (3.7, False),  # none passes
        # [4, 8): empty
        (9.2, True), (10.5, False), (12.1, False), (13.3, True), (15.2, False),
        (17.0, True), (18.5, True), (20.0, False), (22.0, True), (24.5, True), (27.0, True), (29.0, False),
        (31.0, True),
        (33.0, False), (35.5, True), (38.0, False), (41.0, False), (44.0, True), (47.5, False), (51.0, False),
        (55.0, True), (58.0, False), (62.0, False),
        (70.0, True), (85.0, False), (120.0, True), (300.0, True),  # beyond the last edge
    ]  # fmt: skip
    order = np.random.default_rng(8).permutation(len(tracks))  # not sorted by momentum
    p = np.array([tracks[i][0] for i in order])
    passed = np.array([tracks[i][1] for i in order])
    return passed, p, np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])


def _random_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """400 tracks with log-uniform momenta in [0.5, 150] and an efficiency rising with p."""
    rng = np.random.default_rng(80)
    p = np.exp(rng.uniform(np.log(0.5), np.log(150.0), 400))
    passed = rng.random(400) < 0.3 + 0.6 * np.tanh(p / 20)
    return passed, p, np.geomspace(1.0, 100.0, 9)


def _as_vector(value, what: str, bins: int) -> np.ndarray:
    if value is None:
        raise AssertionError(f"{what} is None: return the two arrays, (efficiency, error)")
    try:
        array = np.asarray(to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(
            f"{what} must be an array (or a list) of numbers, got {type(value).__name__} ({error})"
        ) from None
    if array.shape == (bins + 1,):
        raise AssertionError(
            f"{what} has {bins + 1} values, one per edge: there are len(edges) - 1 = {bins} bins "
            "(np.histogram(p, edges) gives exactly that many counts)"
        )
    if array.shape != (bins,):
        raise AssertionError(f"{what} must have one value per bin, shape ({bins},), got shape {array.shape}")
    return array


def _unpack(result, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if result is None:
        raise AssertionError("my_efficiency_curve returns None: is the `return` missing?")
    if isinstance(result, EfficiencyCurve):
        raise AssertionError(
            "my_efficiency_curve returns gm.pid.efficiency_curve's EfficiencyCurve: return its two arrays, "
            "(curve.efficiency, curve.error)"
        )
    if not isinstance(result, tuple | list) or len(result) != 2:
        shape = np.shape(result) if isinstance(result, np.ndarray | Tensor) else None
        got = f"an array of shape {shape}" if shape is not None else type(result).__name__
        if isinstance(result, tuple | list):
            got = f"a {type(result).__name__} of length {len(result)}"
        raise AssertionError(
            f"my_efficiency_curve must return a tuple of two arrays, (efficiency, error), got {got}"
            + (": the errors are missing" if shape == (bins,) else "")
        )
    return _as_vector(result[0], "the efficiency", bins), _as_vector(result[1], "the error", bins)


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal within rounding, NaN where ``want`` is NaN."""
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-7, atol=1e-10, equal_nan=True))


def _agrees(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal within rounding wherever ``want`` is a number (its NaN are not compared)."""
    keep = np.isfinite(want)
    return (
        got.shape == want.shape
        and bool(np.all(np.isfinite(got[keep])))
        and bool(np.allclose(got[keep], want[keep], rtol=1e-7, atol=1e-10))
    )


def _clipped(p: np.ndarray, edges: np.ndarray, low: bool, high: bool) -> np.ndarray:
    """The momenta with the tracks outside the range moved into the first / last bin."""
    p = p.copy()
    if low:
        p[p < edges[0]] = 0.5 * (edges[0] + edges[1])
    if high:
        p[p >= edges[-1]] = 0.5 * (edges[-2] + edges[-1])
    return p


def _bin(edges: np.ndarray, i: int) -> str:
    return f"[{edges[i]:.4g}, {edges[i + 1]:.4g})"


def _empty_bin_message(got: np.ndarray, want: np.ndarray, edges: np.ndarray, what: str) -> str:
    i = int(np.flatnonzero(np.isnan(want) & ~np.isnan(got))[0])
    return (
        f"{what} of the empty bin {_bin(edges, i)} (no track in it) is {got[i]:.6g} instead of NaN: with "
        "n = 0 the efficiency and its error are undefined; k / n gives NaN there (silence the warning with "
        "np.errstate(invalid='ignore', divide='ignore')): keep the NaN, do not replace it with 0"
    )


def _diagnose_efficiency(got: np.ndarray, passed, p, edges, want: EfficiencyCurve, got_error) -> None:
    bins = len(edges) - 1
    inside = (p >= edges[0]) & (p < edges[-1])
    n = np.histogram(p[inside], edges)[0].astype(float)
    k = np.histogram(p[inside & passed], edges)[0].astype(float)
    eps = want.efficiency
    if _agrees(got, want.error) and _agrees(got_error, eps):
        raise AssertionError(
            "the efficiency and the error are swapped: return (efficiency, error), in this order"
        )
    if _agrees(got, eps):
        raise AssertionError(_empty_bin_message(got, eps, edges, "the efficiency"))
    total, total_inside = len(p), int(inside.sum())
    clip = "(np.clip of the bin index, or a histogram of np.clip(p, ...))"
    candidates = [
        (k, "these are counts of the tracks that pass (k), not fractions: divide by the n tracks of each "
            "bin, eps = k / n"),
        (n, "these are the numbers of tracks in each bin (n), not efficiencies: eps = k / n, with k the "
            "tracks of the bin that pass the cut"),
        (k / total, f"k is divided by the total number of tracks ({total}) instead of the n tracks of each "
                    "bin: eps = k / n, bin by bin"),
        (k / total_inside, f"k is divided by the total number of tracks in the range ({total_inside}) "
                           "instead of the n tracks of each bin: eps = k / n, bin by bin"),
        (1 - eps, "these are the fractions of tracks that *fail* the cut (1 - eps): k counts the tracks "
                  "where passed is True"),
        (efficiency_curve(passed, _clipped(p, edges, True, True), edges).efficiency,
         f"tracks outside [edges[0], edges[-1]) are counted in the first and last bins {clip}: leave them "
         "out (bins [e_i, e_i+1); tracks below the first edge or at or beyond the last one belong to none)"),
        (efficiency_curve(passed, _clipped(p, edges, True, False), edges).efficiency,
         f"tracks below edges[0] are counted in the first bin {clip}: leave them out"),
        (efficiency_curve(passed, _clipped(p, edges, False, True), edges).efficiency,
         f"tracks at or beyond edges[-1] are counted in the last bin {clip}: leave them out"),
        (100 * eps, "these are percentages: the efficiency is a fraction in [0, 1]"),
    ]  # fmt: skip
    for value, message in candidates:
        if _agrees(got, np.asarray(value, dtype=float)):
            raise AssertionError(message)
    if _agrees(got[1:], eps[:-1]):
        raise AssertionError(
            "the bins are shifted by one: bin i holds the tracks of bin i - 1. np.digitize(p, edges) gives 1 "
            "for the first bin [e_0, e_1) (and 0 below e_0): subtract 1 to get the bin index"
        )
    if _agrees(got[:-1], eps[1:]):
        raise AssertionError("the bins are shifted by one: bin i holds the tracks of bin i + 1")
    wrong = ~(np.isclose(got, eps, rtol=1e-7, atol=1e-10, equal_nan=True))
    i = int(np.flatnonzero(wrong)[0])
    raise AssertionError(
        f"the efficiency of the bin {_bin(edges, i)} is {got[i]:.6g}, expected {eps[i]:.6g} "
        f"(k = {int(k[i])} of its n = {int(n[i])} tracks pass); of {bins} bins, {int(wrong.sum())} differ"
    )


def _diagnose_error(got: np.ndarray, passed, p, edges, want: EfficiencyCurve) -> None:
    inside = (p >= edges[0]) & (p < edges[-1])
    n = np.histogram(p[inside], edges)[0].astype(float)
    k = np.histogram(p[inside & passed], edges)[0].astype(float)
    eps, error = want.efficiency, want.error
    if _agrees(got, error):
        raise AssertionError(_empty_bin_message(got, error, edges, "the error"))
    total, total_inside = len(p), int(inside.sum())
    filled = np.isfinite(eps)
    if np.all(got[filled] == 0):
        raise AssertionError(
            "the errors are all 0: the binomial error of eps = k / n is sqrt(eps (1 - eps) / n) (0 only "
            "where eps is 0 or 1)"
        )
    binomial = "a fraction of n tracks is binomial: sqrt(eps (1 - eps) / n)"
    with np.errstate(divide="ignore", invalid="ignore"):
        candidates = [
            (np.sqrt(eps / n), "this is the Poisson error sqrt(k) / n = sqrt(eps / n), which is not 0 where "
                               f"every track passes; {binomial}"),
            (eps * (1 - eps) / n, "this is the variance eps (1 - eps) / n: the error is its square root"),
            (np.sqrt(eps * (1 - eps)), f"sqrt(eps (1 - eps)) is not divided by n: {binomial}"),
            (np.sqrt(eps * (1 - eps) / total), f"the error divides by the total number of tracks ({total}) "
                                               f"instead of the n tracks of each bin: {binomial}"),
            (np.sqrt(eps * (1 - eps) / total_inside), "the error divides by the total number of tracks in "
                                                      f"the range ({total_inside}) instead of the n tracks "
                                                      f"of each bin: {binomial}"),
            (np.sqrt(n * eps * (1 - eps)), "this is the error of the count k, sqrt(n eps (1 - eps)): divide "
                                           "it by n for the error of the fraction eps = k / n"),
            (np.sqrt(k), "this is sqrt(k), the Poisson error of the count k, not of the fraction "
                         f"eps = k / n; {binomial}"),
            (np.sqrt(eps * (1 - eps) / (n - 1)), f"n - 1 instead of n: {binomial}"),
            (np.sqrt(eps * (1 - eps) / n) / n, f"the error is divided by n twice: {binomial}"),
        ]  # fmt: skip
    for value, message in candidates:
        if _agrees(got, value):
            raise AssertionError(message)
    wrong = ~(np.isclose(got, error, rtol=1e-7, atol=1e-10, equal_nan=True))
    i = int(np.flatnonzero(wrong)[0])
    raise AssertionError(
        f"the error of the bin {_bin(edges, i)} is {got[i]:.6g}, expected {error[i]:.6g} = "
        f"sqrt(eps (1 - eps) / n) with eps = {eps[i]:.6g} and n = {int(n[i])}"
    )


def _efficiency_cause(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, IndexError):
        return (
            "an index outside the bins: np.digitize(p, edges) - 1 is -1 below edges[0] and len(edges) - 1 at "
            "or beyond edges[-1]; leave those tracks out before using the index"
        )
    if isinstance(error, ZeroDivisionError):
        return (
            "a bin has no tracks (n = 0): divide numpy arrays, k / n, which gives NaN there (silence the "
            "warning with np.errstate(invalid='ignore', divide='ignore'))"
        )
    if isinstance(error, TypeError | AttributeError) and any(w in text for w in ("Tensor", "tensor")):
        return "the arguments are NumPy arrays: use NumPy functions (np.histogram, np.digitize, np.sqrt)"
    return (
        "it was called with passed (booleans), p (float momenta) and edges (a float array), tracks "
        "outside the edges and an empty bin included: try it by hand on such arrays to see where it fails"
    )


def check_my_efficiency_curve(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(passed, p, edges)`` returns
    ``(efficiency, error)``, two arrays (or lists) of length ``len(edges) - 1``: per bin [e_i, e_i+1)
    of p, the fraction eps = k / n of the tracks that pass and its binomial error sqrt(eps (1 - eps)
    / n), NaN in an empty bin, tracks outside [e_0, e_last) left out (as ``gm.pid.efficiency_curve``)."""
    for passed, p, edges in (_hand_case(), _random_case()):
        bins = len(edges) - 1
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = call_answer(
                answer, (passed.copy(), p.copy(), edges.copy()), "my_efficiency_curve", _efficiency_cause
            )
        got_efficiency, got_error = _unpack(result, bins)
        want = efficiency_curve(passed, p, edges)
        if not _same(got_efficiency, want.efficiency):
            _diagnose_efficiency(got_efficiency, passed, p, edges, want, got_error)
        if not _same(got_error, want.error):
            _diagnose_error(got_error, passed, p, edges, want)
