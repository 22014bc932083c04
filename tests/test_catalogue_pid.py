"""Catalogue of known wrong answers of exercise 08 (``08_pid_fast_simulation``): each must fail its
check with a message that names its cause; the reference answers, the equally right variants and the
escape cells must pass, and the untouched stubs must stay 'not attempted'."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

import gm_helpers as gm
from gm_helpers import checks as gm_checks
from gm_helpers.exercises import pid as checks

# --------------------------------------------------------------------------------------------------
# MyConditionalGenerator(features, context_features, latent_features, hidden)


class SolutionGenerator(gm.gan.Generator):
    """The solution notebook's answer, verbatim."""

    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(context_features=context_features)  # checks the context's shape
        self.net = nn.Sequential(
            nn.Linear(latent_features + context_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, features),
        )

    def forward(self, z, context):
        return self.net(torch.cat([z, self.condition(context, len(z))], dim=1))


class ReferenceGenerator(gm.gan.Generator):
    """The solution with room for the catalogue's mistakes (``mistake``); ``mistake=None`` is right."""

    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128, mistake=None):
        super().__init__()
        self.mistake = m = mistake
        self.latent_features = latent_features
        if m != "no_condition_attribute":
            self.condition = gm.nets.Condition(context_features=context_features)
        inputs = {
            "no_condition": latent_features,
            "no_noise": context_features,
            "wrong_inputs": latent_features,
        }.get(m, latent_features + context_features)
        norm = (lambda: nn.BatchNorm1d(hidden)) if m == "batchnorm" else nn.Identity
        last = {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "relu_end": nn.ReLU()}.get(m, nn.Identity())
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden),
            norm(),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            norm(),
            nn.ReLU(),
            nn.Linear(hidden, 1 if m == "one_output" else features),
            last,
        )
        if m == "unused_layer":
            self.extra = nn.Linear(hidden, hidden)

    def forward(self, z, context):
        m = self.mistake
        if m == "own_noise":
            z = torch.randn_like(z)
        if m == "added_noise":
            z = z + 0.1 * torch.randn_like(z)
        if m == "detach_z":
            z = z.detach()
        if m == "no_condition_attribute":
            x = torch.cat([z, context], dim=1)
        else:
            context = self.condition(context, len(z))
        if m in ("no_condition", "wrong_inputs"):
            x = z if m == "no_condition" else torch.cat([z, context], dim=1)
        elif m == "no_noise":
            x = context
        elif m == "cat_dim0":
            x = torch.cat([z, context], dim=0)
        elif m == "first_context":
            x = torch.cat([z, context[:1].expand(len(z), -1)], dim=1)
        elif m != "no_condition_attribute":
            x = torch.cat([z, context], dim=1)
        if m == "batch_mean":
            x = x - x.mean(dim=0, keepdim=True)
        out = self.net(x)
        if m == "detached_output":
            return out.detach()
        return out


def wrong_generator(mistake):
    def build(features=4, context_features=4, latent_features=16, hidden=128):
        return ReferenceGenerator(features, context_features, latent_features, hidden, mistake=mistake)

    build.__name__ = mistake
    return build


class NotAGenerator(nn.Module):
    """Derives from nn.Module: no noise() / sample()."""

    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.net = nn.Linear(latent_features + context_features, features)

    def forward(self, z, context):
        return self.net(torch.cat([z, context], dim=1))


class OldSignatureGenerator(gm.gan.Generator):
    """__init__ without the features argument."""

    def __init__(self, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.net = nn.Linear(latent_features + 4, 4)

    def forward(self, z, context):
        return self.net(torch.cat([z, context], dim=1))


G_WRONG = [
    (wrong_generator("no_condition"), r"averaged over all conditions.*torch\.cat\(\[z, context\], dim=1\)"),
    (wrong_generator("no_noise"), r"does not depend on z"),
    (wrong_generator("cat_dim0"), r"dim=0\) stacks the conditions.*dim=1\)"),
    (wrong_generator("wrong_inputs"), r"first Linear layer must take 16 \+ 4 = 20 inputs"),
    (wrong_generator("tanh"), r"a tanh/sigmoid at the end bounds the output.*make the last layer linear"),
    (wrong_generator("sigmoid"), r"a tanh/sigmoid at the end bounds the output.*beyond ±3"),
    (wrong_generator("relu_end"), r"ReLU at the end.*linear"),
    (wrong_generator("batchnorm"), r"other tracks of the batch.*batch normalization"),
    (wrong_generator("batch_mean"), r"other tracks of the batch.*mean or sum over dim 0"),
    (wrong_generator("first_context"), r"other tracks of the batch"),
    (wrong_generator("own_noise"), r"draws noise of its own"),
    (wrong_generator("added_noise"), r"draws noise of its own"),
    (wrong_generator("detached_output"), r"carries no gradient"),
    (wrong_generator("detach_z"), r"no gradient reaches z"),
    (wrong_generator("unused_layer"), r"no gradient \(unused layers\?\): extra"),
    (wrong_generator("one_output"), r"shape \(16, 1\), expected \(16, 4\).*nn\.Linear\(hidden, features\)"),
    (wrong_generator("no_condition_attribute"), r"sample.*keep self\.condition"),
    (NotAGenerator, r"derive from gm\.gan\.Generator"),
    (OldSignatureGenerator, r"keep the constructor's signature"),
]


@pytest.mark.parametrize("answer, message", G_WRONG, ids=[f.__name__ for f, _ in G_WRONG])
def test_wrong_conditional_generator_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_conditional_generator(answer)


def escape_generator(features=4, context_features=4, latent_features=16, hidden=128):
    """The notebook's escape cell."""
    return gm.gan.MLPGenerator(features, latent_features, (hidden, hidden), context_features=context_features)


class DeepLeakyGenerator(gm.gan.Generator):
    """Equivalent: three hidden layers with LeakyReLU, the condition joined without self.condition."""

    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(context_features=context_features)
        layers, width = [], latent_features + context_features
        for _ in range(3):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.1)]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(hidden, features))

    def forward(self, z, context):
        return self.net(torch.cat((z, context), 1))


class TanhHiddenGenerator(gm.gan.Generator):
    """Equivalent: tanh between the layers (not at the end), dropout, and the context first."""

    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(context_features=context_features)
        self.hidden = nn.Sequential(
            nn.Linear(context_features + latent_features, hidden), nn.Tanh(), nn.Dropout(0.1)
        )
        self.out = nn.Linear(hidden, features)

    def forward(self, z, context):
        return self.out(self.hidden(torch.cat([self.condition(context, len(z)), z], dim=-1)))


class LayerNormGenerator(gm.gan.Generator):
    """Equivalent: per-sample normalization (LayerNorm) and two tanh layers, joined with torch.hstack;
    its output is bounded at initialization, yet the last layer is linear."""

    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(context_features=context_features)
        self.net = nn.Sequential(
            nn.Linear(latent_features + context_features, hidden),
            nn.LayerNorm(hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, features),
        )

    def forward(self, z, context):
        return self.net(torch.hstack([z, self.condition(context)]))


G_RIGHT = [
    SolutionGenerator,
    ReferenceGenerator,
    escape_generator,
    DeepLeakyGenerator,
    TanhHiddenGenerator,
    LayerNormGenerator,
    lambda features=4, context_features=4, latent_features=16, hidden=128: gm.gan.MLPGenerator(
        features, latent_features, (hidden, hidden, hidden), context_features=context_features, residual=True
    ),
]


@pytest.mark.parametrize(
    "answer",
    G_RIGHT,
    ids=["solution", "reference", "escape", "deep_leaky", "tanh_hidden", "layernorm", "residual"],
)
def test_right_conditional_generator_passes(answer):
    checks.check_conditional_generator(answer)


# --------------------------------------------------------------------------------------------------
# MyConditionalDiscriminator(features, context_features, hidden)


class SolutionDiscriminator(nn.Module):
    """The solution notebook's answer, verbatim."""

    def __init__(self, features=4, context_features=4, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features + context_features, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, y, context):
        return self.net(torch.cat([y, context], dim=1)).squeeze(1)


class ReferenceDiscriminator(nn.Module):
    """The solution with room for the catalogue's mistakes (``mistake``); ``mistake=None`` is right."""

    def __init__(self, features=4, context_features=4, hidden=128, mistake=None):
        super().__init__()
        self.mistake = m = mistake
        inputs = {"no_condition": features, "no_sample": context_features}.get(m, features + context_features)
        norm = (lambda: nn.BatchNorm1d(hidden)) if m == "batchnorm" else nn.Identity
        last = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "relu_end": nn.ReLU()}.get(m, nn.Identity())
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden),
            norm(),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            norm(),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 if m == "two_outputs" else 1),
            last,
        )
        if m == "unused_layer":
            self.extra = nn.Linear(hidden, 1)

    def forward(self, y, context):
        m = self.mistake
        if m == "detach_y":
            y = y.detach()
        if m == "noise":
            y = y + 0.1 * torch.randn_like(y)
        if m == "no_condition":
            x = y
        elif m == "no_sample":
            x = context
        elif m == "cat_dim0":
            x = torch.cat([y, context], dim=0)
        elif m == "first_context":
            x = torch.cat([y, context[:1].expand(len(y), -1)], dim=1)
        else:
            x = torch.cat([y, context], dim=1)
        out = self.net(x)
        if m == "two_outputs":
            return out
        out = out.squeeze(1)
        if m == "batch_mean":
            return out.mean()
        if m == "detached_output":
            return out.detach()
        return out


def wrong_discriminator(mistake):
    def build(features=4, context_features=4, hidden=128):
        return ReferenceDiscriminator(features, context_features, hidden, mistake=mistake)

    build.__name__ = mistake
    return build


class NotAModule:
    """A plain class with a __call__: no parameters() for the optimizer."""

    def __init__(self, features=4, context_features=4, hidden=128):
        self.w = torch.randn(features + context_features, requires_grad=True)

    def __call__(self, y, context):
        return torch.cat([y, context], dim=1) @ self.w


D_WRONG = [
    (wrong_discriminator("no_condition"), r"pooled over all momenta.*3 GeV kaon.*100 GeV kaon"),
    (wrong_discriminator("no_sample"), r"scores do not depend on y"),
    (
        wrong_discriminator("sigmoid"),
        r"sigmoid at the end: train_gan's loss takes logits and applies the sigmoid",
    ),
    (wrong_discriminator("tanh"), r"a tanh \(or a clamp\) at the end bounds the logits"),
    (wrong_discriminator("relu_end"), r"ReLU at the end"),
    (wrong_discriminator("batchnorm"), r"other samples of the batch.*batch normalization"),
    (wrong_discriminator("first_context"), r"other samples of the batch"),
    (wrong_discriminator("two_outputs"), r"shape \(16, 2\).*one logit per sample.*nn\.Linear\(hidden, 1\)"),
    (wrong_discriminator("detach_y"), r"no gradient reaches y.*y\.detach\(\)"),
    (wrong_discriminator("batch_mean"), r"one score for the whole batch"),
    (wrong_discriminator("cat_dim0"), r"first Linear layer must take 4 \+ 4 = 8 inputs.*dim=1"),
    (wrong_discriminator("noise"), r"draws noise of its own"),
    (wrong_discriminator("detached_output"), r"carry no gradient"),
    (wrong_discriminator("unused_layer"), r"no gradient \(unused layers\?\): extra"),
    (NotAModule, r"must be a torch module"),
]


@pytest.mark.parametrize("answer, message", D_WRONG, ids=[f.__name__ for f, _ in D_WRONG])
def test_wrong_conditional_discriminator_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_conditional_discriminator(answer)


def escape_discriminator(features=4, context_features=4, hidden=128):
    """The notebook's escape cell."""
    return gm.gan.MLPCritic(features, (hidden, hidden), context_features=context_features)


class ColumnDiscriminator(nn.Module):
    """Equivalent: returns (B, 1), three hidden layers, dropout."""

    def __init__(self, features=4, context_features=4, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features + context_features, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, y, context):
        return self.net(torch.cat([context, y], dim=1))


class SpectralTanhDiscriminator(nn.Module):
    """Equivalent: spectral normalization and tanh between the layers, .view(-1); its scores are small
    at initialization, yet the last layer is linear."""

    def __init__(self, features=4, context_features=4, hidden=128):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Linear(features + context_features, hidden)),
            nn.Tanh(),
            sn(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            sn(nn.Linear(hidden, 1)),
        )

    def forward(self, y, context):
        return self.net(torch.cat([y, context], dim=1)).view(-1)


D_RIGHT = [
    SolutionDiscriminator,
    ReferenceDiscriminator,
    escape_discriminator,
    ColumnDiscriminator,
    SpectralTanhDiscriminator,
]


@pytest.mark.parametrize(
    "answer", D_RIGHT, ids=["solution", "reference", "escape", "column_dropout", "spectral_tanh"]
)
def test_right_conditional_discriminator_passes(answer):
    checks.check_conditional_discriminator(answer)


# --------------------------------------------------------------------------------------------------
# my_efficiency_curve(passed, p, edges)


def reference_curve(passed, p, edges):
    """The solution notebook's answer, verbatim."""
    passed, p, edges = (
        np.asarray(passed, dtype=bool),
        np.asarray(p, dtype=float),
        np.asarray(edges, dtype=float),
    )
    inside = (p >= edges[0]) & (p < edges[-1])
    n, _ = np.histogram(p[inside], edges)
    k, _ = np.histogram(p[inside & passed], edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        efficiency = k / n
        return efficiency, np.sqrt(efficiency * (1 - efficiency) / n)


def escape_curve(passed, p, edges):
    """The notebook's escape cell."""
    curve = gm.pid.efficiency_curve(np.asarray(passed, dtype=bool), p, edges)
    return curve.efficiency, curve.error


def digitize_curve(passed, p, edges):
    """Equivalent: np.digitize and np.bincount."""
    bins = len(edges) - 1
    index = np.digitize(p, edges) - 1
    keep = (index >= 0) & (index < bins)
    n = np.bincount(index[keep], minlength=bins)
    k = np.bincount(index[keep], weights=passed[keep], minlength=bins)
    efficiency = np.full(bins, np.nan)
    np.divide(k, n, out=efficiency, where=n > 0)
    return efficiency, np.sqrt(efficiency * (1 - efficiency) / np.where(n > 0, n, np.nan))


def loop_curve(passed, p, edges):
    """Equivalent: a loop over the bins, lists returned."""
    efficiency, error = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (p >= lo) & (p < hi)
        n = int(in_bin.sum())
        if n == 0:
            efficiency.append(float("nan"))
            error.append(float("nan"))
            continue
        eps = passed[in_bin].sum() / n
        efficiency.append(eps)
        error.append((eps * (1 - eps) / n) ** 0.5)
    return efficiency, error


def torch_curve(passed, p, edges):
    """Equivalent: torch.bucketize, tensors returned, as a list."""
    p, passed, edges = torch.as_tensor(p), torch.as_tensor(passed), torch.as_tensor(edges)
    index = torch.bucketize(p, edges, right=True) - 1
    keep = (index >= 0) & (index < len(edges) - 1)
    n = torch.bincount(index[keep], minlength=len(edges) - 1).double()
    k = torch.bincount(index[keep], weights=passed[keep].double(), minlength=len(edges) - 1)
    efficiency = k / n
    return [efficiency, torch.sqrt(efficiency * (1 - efficiency) / n)]


E_RIGHT = [reference_curve, escape_curve, digitize_curve, loop_curve, torch_curve]


@pytest.mark.parametrize("answer", E_RIGHT, ids=[f.__name__ for f in E_RIGHT])
def test_right_efficiency_curve_passes(answer):
    checks.check_my_efficiency_curve(answer)


def counts(passed, p, edges):
    """(k, n) per bin, tracks outside the range left out."""
    inside = (p >= edges[0]) & (p < edges[-1])
    return np.histogram(p[inside & passed], edges)[0], np.histogram(p[inside], edges)[0]


def with_error(error_of):
    """A right efficiency with the error error_of(eps, k, n, p)."""

    def answer(passed, p, edges):
        k, n = counts(passed, p, edges)
        eps = k / n
        return eps, error_of(eps, k, n, p)

    return answer


def poisson(passed, p, edges):
    return with_error(lambda eps, k, n, p: np.sqrt(eps / n))(passed, p, edges)


def sqrt_k_over_n(passed, p, edges):
    return with_error(lambda eps, k, n, p: np.sqrt(k) / n)(passed, p, edges)


def no_square_root(passed, p, edges):
    return with_error(lambda eps, k, n, p: eps * (1 - eps) / n)(passed, p, edges)


def not_divided_by_n(passed, p, edges):
    return with_error(lambda eps, k, n, p: np.sqrt(eps * (1 - eps)))(passed, p, edges)


def error_of_count(passed, p, edges):
    return with_error(lambda eps, k, n, p: np.sqrt(n * eps * (1 - eps)))(passed, p, edges)


def error_total_n(passed, p, edges):
    return with_error(lambda eps, k, n, p: np.sqrt(eps * (1 - eps) / len(p)))(passed, p, edges)


def zero_errors(passed, p, edges):
    return with_error(lambda eps, k, n, p: np.zeros_like(eps))(passed, p, edges)


def error_none(passed, p, edges):
    return with_error(lambda eps, k, n, p: None)(passed, p, edges)


def efficiency_only(passed, p, edges):
    return reference_curve(passed, p, edges)[0]


def swapped(passed, p, edges):
    efficiency, error = reference_curve(passed, p, edges)
    return error, efficiency


def counts_k(passed, p, edges):
    k, n = counts(passed, p, edges)
    return k, np.sqrt(k)


def counts_n(passed, p, edges):
    k, n = counts(passed, p, edges)
    return n, np.sqrt(n)


def total_n(passed, p, edges):
    k, _ = counts(passed, p, edges)
    eps = k / len(p)
    return eps, np.sqrt(eps * (1 - eps) / len(p))


def failing_fraction(passed, p, edges):
    return reference_curve(~passed, p, edges)


def digitize_without_minus_one(passed, p, edges):
    bins = len(edges) - 1
    index = np.digitize(p, edges)
    efficiency, error = np.full(bins, np.nan), np.full(bins, np.nan)
    for i in range(bins):
        n = np.sum(index == i)
        if n:
            efficiency[i] = passed[index == i].mean()
            error[i] = np.sqrt(efficiency[i] * (1 - efficiency[i]) / n)
    return efficiency, error


def clipped_index(passed, p, edges):
    bins = len(edges) - 1
    index = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    n = np.bincount(index, minlength=bins)
    k = np.bincount(index, weights=passed, minlength=bins)
    eps = k / n
    return eps, np.sqrt(eps * (1 - eps) / n)


def overflow_in_last_bin(passed, p, edges):
    return reference_curve(passed, np.minimum(p, edges[-1] - 1e-9), edges)


def one_per_edge(passed, p, edges):
    bins = len(edges)
    index = np.digitize(p, edges) - 1
    keep = index >= 0
    n = np.bincount(index[keep], minlength=bins)
    k = np.bincount(index[keep], weights=passed[keep], minlength=bins)
    eps = k / n
    return eps, np.sqrt(eps * (1 - eps) / n)


def empty_bin_zero(passed, p, edges):
    k, n = counts(passed, p, edges)
    eps = np.divide(k, n, out=np.zeros(len(n)), where=n > 0)
    return eps, np.sqrt(eps * (1 - eps) / np.maximum(n, 1))


def empty_bin_error_zero(passed, p, edges):
    efficiency, error = reference_curve(passed, p, edges)
    return efficiency, np.nan_to_num(error)


def index_error(passed, p, edges):
    n, k = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for index, ok in zip(np.digitize(p, edges) - 1, passed, strict=True):
        if index >= 0:
            n[index] += 1
            k[index] += ok
    return k / n, np.sqrt(k / n * (1 - k / n) / n)


def python_division(passed, p, edges):
    k, n = counts(passed, p, edges)
    eps = [int(a) / int(b) for a, b in zip(k, n, strict=True)]
    return eps, eps


def returns_curve_object(passed, p, edges):
    return gm.pid.efficiency_curve(passed, p, edges)


E_WRONG = [
    (poisson, r"Poisson error sqrt\(k\) / n = sqrt\(eps / n\)"),
    (sqrt_k_over_n, r"Poisson error sqrt\(k\) / n"),
    (no_square_root, r"variance eps \(1 - eps\) / n: the error is its square root"),
    (not_divided_by_n, r"not divided by n"),
    (error_of_count, r"error of the count k"),
    (error_total_n, r"total number of tracks \(37\) instead of the n tracks of each bin"),
    (zero_errors, r"errors are all 0"),
    (error_none, r"the error is None"),
    (efficiency_only, r"tuple of two arrays.*errors are missing"),
    (swapped, r"swapped"),
    (counts_k, r"counts of the tracks that pass \(k\), not fractions"),
    (counts_n, r"numbers of tracks in each bin \(n\), not efficiencies"),
    (total_n, r"k is divided by the total number of tracks \(37\)"),
    (failing_fraction, r"\*fail\* the cut"),
    (digitize_without_minus_one, r"shifted by one.*subtract 1"),
    (clipped_index, r"counted in the first and last bins.*np\.clip"),
    (overflow_in_last_bin, r"at or beyond edges\[-1\] are counted in the last bin"),
    (one_per_edge, r"7 values, one per edge.*len\(edges\) - 1 = 6 bins"),
    (empty_bin_zero, r"empty bin \[4, 8\).*is 0 instead of NaN"),
    (empty_bin_error_zero, r"the error of the empty bin \[4, 8\).*instead of NaN"),
    (index_error, r"IndexError.*leave those tracks out"),
    (python_division, r"ZeroDivisionError.*n = 0"),
    (returns_curve_object, r"EfficiencyCurve.*\(curve\.efficiency, curve\.error\)"),
]


@pytest.mark.parametrize("answer, message", E_WRONG, ids=[f.__name__ for f, _ in E_WRONG])
def test_wrong_efficiency_curve_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_efficiency_curve(answer)


def test_efficiency_case_has_what_the_diagnosis_needs():
    passed, p, edges = checks._hand_case()
    k, n = counts(passed, p, edges)
    assert 0 in n and np.any((k == n) & (n > 0)) and np.any((k == 0) & (n > 0))
    assert np.any(p < edges[0]) and np.any(p >= edges[-1]) and not np.any(np.isin(p, edges))
    assert len(set(n[n > 0])) >= 4  # bins of different sizes: a wrong n shows


# --------------------------------------------------------------------------------------------------
# the untouched stubs, and the participant's random state


class StubInInit(gm.gan.Generator):
    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(context_features=context_features)
        raise NotImplementedError

    def forward(self, z, context):
        raise NotImplementedError


class StubInForward(gm.gan.Generator):
    def __init__(self, features=4, context_features=4, latent_features=16, hidden=128):
        super().__init__()
        self.latent_features = latent_features
        self.condition = gm.nets.Condition(context_features=context_features)
        self.net = nn.Linear(latent_features + context_features, features)

    def forward(self, z, context):
        raise NotImplementedError


class StubDiscriminatorInit(nn.Module):
    def __init__(self, features=4, context_features=4, hidden=128):
        super().__init__()
        raise NotImplementedError

    def forward(self, y, context):
        raise NotImplementedError


class StubDiscriminatorForward(nn.Module):
    def __init__(self, features=4, context_features=4, hidden=128):
        super().__init__()
        self.net = nn.Linear(features + context_features, 1)

    def forward(self, y, context):
        raise NotImplementedError


def stub_curve(passed, p, edges):
    passed, p, edges = (
        np.asarray(passed, dtype=bool),
        np.asarray(p, dtype=float),
        np.asarray(edges, dtype=float),
    )
    raise NotImplementedError


STUBS = [
    (checks.check_conditional_generator, StubInInit),
    (checks.check_conditional_generator, StubInForward),
    (checks.check_conditional_discriminator, StubDiscriminatorInit),
    (checks.check_conditional_discriminator, StubDiscriminatorForward),
    (checks.check_my_efficiency_curve, stub_curve),
]


@pytest.mark.parametrize("check, stub", STUBS, ids=[s.__name__ for _, s in STUBS])
def test_stub_is_not_attempted(check, stub, monkeypatch, capsys):
    with pytest.raises(NotImplementedError):
        check(stub)
    monkeypatch.delenv("GM_STRICT_CHECKS", raising=False)
    gm_checks.check("stub", lambda: check(stub))
    assert "not attempted" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check, answer",
    [
        (checks.check_conditional_generator, ReferenceGenerator),
        (checks.check_conditional_generator, wrong_generator("batchnorm")),
        (checks.check_conditional_discriminator, ReferenceDiscriminator),
    ],
)
def test_participant_random_state_is_left_alone(check, answer):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    with contextlib.suppress(AssertionError):
        check(answer)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_catalogue_sizes():
    assert len(G_WRONG) >= 8 and len(D_WRONG) >= 7 and len(E_WRONG) >= 12
