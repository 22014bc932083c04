"""Catalogue of known wrong answers to exercise 04 (flows): each must fail its check with a message that
names its cause, and the reference answers must pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import gm_helpers as gm
from gm_helpers.exercises import flows as checks

# --------------------------------------------------------------------------------------------------
# MyAffineCoupling


class _Coupling(gm.flows.Transform):
    """The notebook's given part: constructor and _scale_and_shift."""

    def __init__(self, net, mask, scale_bound=2.0):
        super().__init__()
        self.net, self.scale_bound = net, scale_bound
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.bool))

    def _scale_and_shift(self, x_a):
        params = self.net(x_a).view(len(x_a), int(self.mask.sum()), 2)
        log_scale = self.scale_bound * torch.tanh(params[..., 0] / self.scale_bound)
        return log_scale, params[..., 1]

    def inverse(self, z, context=None):
        log_scale, shift = self._scale_and_shift(z[:, ~self.mask])
        x = z.clone()
        x[:, self.mask] = (z[:, self.mask] - shift) * torch.exp(-log_scale)
        return x, -log_scale.sum(1)


class Reference(_Coupling):
    def forward(self, x, context=None):
        log_scale, shift = self._scale_and_shift(x[:, ~self.mask])
        z = x.clone()
        z[:, self.mask] = x[:, self.mask] * torch.exp(log_scale) + shift
        return z, log_scale.sum(1)


def _forward(s_t=lambda s, t: (s, t), z_b=None, logdet=None, in_place=False):
    """A forward pass with one piece changed: s_t maps (s, t), z_b(x_b, s, t), logdet(s)."""

    def forward(self, x, context=None):
        s, t = s_t(*self._scale_and_shift(x[:, ~self.mask]))
        z = x if in_place else x.clone()
        z[:, self.mask] = (z_b or (lambda xb, s, t: xb * torch.exp(s) + t))(x[:, self.mask], s, t)
        return z, (logdet or (lambda s: s.sum(1)))(s)

    return type("Wrong", (Reference,), {"forward": forward})


def _inverse(x_b=None, logdet=None):
    def inverse(self, z, context=None):
        s, t = self._scale_and_shift(z[:, ~self.mask])
        x = z.clone()
        x[:, self.mask] = (x_b or (lambda zb, s, t: (zb - t) * torch.exp(-s)))(z[:, self.mask], s, t)
        return x, (logdet or (lambda s: -s.sum(1)))(s)

    return type("Wrong", (Reference,), {"inverse": inverse})


class _NoGradNet(Reference):  # the conditioner run under torch.no_grad()
    def forward(self, x, context=None):
        with torch.no_grad():
            s, t = self._scale_and_shift(x[:, ~self.mask])
        z = x.clone()
        z[:, self.mask] = x[:, self.mask] * torch.exp(s) + t
        return z, s.sum(1)


class _AllNoGrad(Reference):  # the whole forward under torch.no_grad()
    @torch.no_grad()
    def forward(self, x, context=None):
        return super().forward(x)


class _MaskInverted(Reference):  # transforms x[:, ~mask] from x[:, mask]
    def forward(self, x, context=None):
        s, t = self._scale_and_shift(x[:, self.mask])
        z = x.clone()
        z[:, ~self.mask] = x[:, ~self.mask] * torch.exp(s) + t
        return z, s.sum(1)


class _NoClamp(Reference):  # uses the raw network output as the log-scale
    def forward(self, x, context=None):
        params = self.net(x[:, ~self.mask]).view(len(x), int(self.mask.sum()), 2)
        s, t = params[..., 0], params[..., 1]
        z = x.clone()
        z[:, self.mask] = x[:, self.mask] * torch.exp(s) + t
        return z, s.sum(1)


def _via_numpy(s, t):
    return torch.tensor(s.detach().numpy()), torch.tensor(t.detach().numpy())


COUPLING_CATALOGUE = [
    # s and t detached: the right numbers, no gradient to the network
    (_forward(s_t=lambda s, t: (s.detach(), t.detach())), r"\.detach\(\)"),
    # only the shift detached
    (_forward(s_t=lambda s, t: (s, t.detach())), r"network's parameter.*\.detach\(\)"),
    # the conditioner run under torch.no_grad()
    (_NoGradNet, r"does not pass any gradient.*torch\.no_grad\(\)"),
    # s and t rebuilt through numpy
    (_forward(s_t=_via_numpy), r"numpy"),
    # the whole forward under torch.no_grad()
    (_AllNoGrad, r"carries no gradient"),
    # log-det with the wrong sign
    (_forward(logdet=lambda s: -s.sum(1)), r"forward log-det has the wrong sign"),
    # log-det summed over the batch instead of per sample
    (_forward(logdet=lambda s: s.sum()), r"one number for the whole batch.*not over the batch"),
    # log-det of the scales exp(s) instead of the log-scales s
    (_forward(logdet=lambda s: s.exp().sum(1)), r"sums exp\(s\)"),
    # log-det averaged over the features
    (_forward(logdet=lambda s: s.mean(1)), r"averages the log-scales"),
    # transforms the wrong half (mask inverted)
    (_MaskInverted, r"mask is False.*mask inverted"),
    # scale by s instead of exp(s)
    (_forward(z_b=lambda xb, s, t: xb * s + t), r"the scale is exp\(s\), not s"),
    # shift before scaling
    (_forward(z_b=lambda xb, s, t: (xb + t) * torch.exp(s)), r"scale first, then shift"),
    # x modified in place
    (_forward(in_place=True), r"modified its input x in place"),
    # soft clamp missing
    (_NoClamp, r"soft clamp"),
    # inverse multiplies by exp(s) instead of exp(-s)
    (_inverse(x_b=lambda zb, s, t: (zb - t) * torch.exp(s)), r"\(z_B - t\) \* exp\(s\).*exp\(-s\)"),
    # inverse undoes the scale before the shift
    (_inverse(x_b=lambda zb, s, t: zb * torch.exp(-s) - t), r"undo the shift first"),
    # inverse returns the forward log-det (not minus it)
    (_inverse(logdet=lambda s: s.sum(1)), r"inverse log-det has the wrong sign"),
    # inverse with detached s, t
    (_inverse(x_b=lambda zb, s, t: (zb - t.detach()) * torch.exp(-s.detach())), r"inverse output.*\.detach"),
]


def test_coupling_reference_passes():
    checks.check_affine_coupling(Reference)


def test_coupling_library_escape_passes():
    class Escape(gm.flows.Transform):  # the notebook's escape cell
        def __init__(self, net, mask, scale_bound=2.0):
            super().__init__()
            self.net, self.scale_bound = net, scale_bound
            self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.bool))
            self.layer = gm.flows.AffineCoupling(len(self.mask), mask=self.mask, scale_bound=scale_bound)
            self.layer.net = net

        def forward(self, x, context=None):
            return self.layer(x)

        def inverse(self, z, context=None):
            return self.layer.inverse(z)

    checks.check_affine_coupling(Escape)


@pytest.mark.parametrize(("wrong", "message"), COUPLING_CATALOGUE)
def test_coupling_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_affine_coupling(wrong)


# --------------------------------------------------------------------------------------------------
# make_my_flow


def _make_flow(mask_of=None, net_of=None, zero_weight=True, zero_bias=True, count=lambda n: n, shared=False):
    """make_my_flow with one piece changed."""

    def make(features=2, layers=8, hidden=64):
        transforms, net = [], None
        for i in range(count(layers)):
            mask = (mask_of or (lambda i: torch.arange(features) % 2 == i % 2))(i)
            n_b = int(mask.sum())
            if net is None or not shared:
                net = (net_of or _mlp)(features, n_b, hidden)
                if zero_weight:
                    nn.init.zeros_(net[-1].weight)
                if zero_bias:
                    nn.init.zeros_(net[-1].bias)
            transforms.append(Reference(net, mask))
        return gm.flows.Flow(transforms, features=features)

    return make


def _mlp(features, n_b, hidden, n_in=None, n_out=None):
    return nn.Sequential(
        nn.Linear(features - n_b if n_in is None else n_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 2 * n_b if n_out is None else n_out),
    )


def _frozen(features, n_b, hidden):
    net = _mlp(features, n_b, hidden)
    net[0].requires_grad_(False)
    return net


MAKE_FLOW_CATALOGUE = [
    # the same mask in every layer: half of the features never transformed
    (_make_flow(mask_of=lambda i: torch.arange(2) % 2 == 0), r"masks .* must be complementary"),
    # last layer not zeroed: the new flow is not the identity
    (_make_flow(zero_weight=False, zero_bias=False), r"last Linear layer is not zero"),
    # only the weight zeroed, the bias left random
    (_make_flow(zero_bias=False), r"last Linear layer is not zero.*bias"),
    # one output per transformed feature (no shift)
    (_make_flow(net_of=lambda f, n_b, h: _mlp(f, n_b, h, n_out=n_b)), r"expected 2 \* n_b"),
    # 2 * features outputs instead of 2 * n_b
    (_make_flow(net_of=lambda f, n_b, h: _mlp(f, n_b, h, n_out=2 * f)), r"expected 2 \* n_b"),
    # input width hard-coded for 2-D data
    (_make_flow(net_of=lambda f, n_b, h: _mlp(f, n_b, h, n_in=1)), r"cannot take x_A"),
    # all the features fed to the network instead of x_A
    (_make_flow(net_of=lambda f, n_b, h: _mlp(f, n_b, h, n_in=f)), r"cannot take x_A"),
    # one network shared by every layer
    (_make_flow(shared=True), r"share one network"),
    # one layer too few
    (_make_flow(count=lambda n: n - 1), r"must stack 4"),
    # the library's layers instead of MyAffineCoupling
    (lambda features=2, layers=8, hidden=64: gm.flows.realnvp(features, transforms=layers), r"must stack 4"),
    # frozen network parameters
    (_make_flow(net_of=_frozen), r"frozen"),
]


def test_make_my_flow_reference_passes():
    checks.check_make_my_flow(_make_flow(), Reference)


@pytest.mark.parametrize(("wrong", "message"), MAKE_FLOW_CATALOGUE)
def test_make_my_flow_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_make_my_flow(wrong, Reference)


# --------------------------------------------------------------------------------------------------
# trained flow


@pytest.fixture(scope="module")
def moons():
    return gm.data.toy2d("moons", 5000, seed=1), gm.flows.realnvp(2, transforms=2)


def _broken_inverse_flow():
    torch.manual_seed(0)
    flow = gm.flows.Flow(
        [_inverse(x_b=lambda zb, s, t: (zb - t) * torch.exp(s))(_mlp(2, 1, 8), torch.tensor([1, 0]) == 1)],
        features=2,
    )
    return flow


TRAINED_CATALOGUE = [
    # the case: log-det summed over the batch (-20,336 nats)
    (dict(nll_after=-20336.0), r"impossible.*log-det summed over the batch"),
    # a few nats below the noise entropy: still impossible
    (dict(nll_after=-2.5), r"log\(2 pi e sigma\^2\) = -1\.767.*summed over the batch"),
    # between the noise bound and the true density: test data leaking, or a log-det too large
    (dict(nll_after=1.0), r"below that of the true moons density.*leaking"),
    # no better than the untrained flow
    (dict(nll_after=3.9, nll_before=3.84), r"no better than the untrained flow"),
    # no better than the best Gaussian
    (dict(nll_after=3.4), r"no better than the best Gaussian"),
    # diverged
    (dict(nll_after=float("nan")), r"diverged"),
    # hardly trained
    (dict(nll_before=2.9, nll_after=2.6), r"only went from"),
    # too weak in full mode
    (dict(nll_after=2.1, quick=False), r"full training reaches below 1\.85"),
    # a flow whose inverse is wrong
    (dict(flow=_broken_inverse_flow), r"round trip"),
]


def test_trained_flow_reference_passes(moons):
    test, flow = moons
    checks.check_trained_flow(flow, test, nll_before=3.84, nll_after=1.75, quick=False, target=1.85)


@pytest.mark.parametrize(("case", "message"), TRAINED_CATALOGUE)
def test_trained_flow_catalogue(moons, case, message):
    test, flow = moons
    case = {"flow": flow, "nll_before": 3.84, "quick": True, "nll_after": 1.9, **case}
    if not isinstance(case["flow"], nn.Module):
        case["flow"] = case["flow"]()
    flow = case.pop("flow")
    with pytest.raises(AssertionError, match=message):
        checks.check_trained_flow(flow, test, target=1.85, **case)


def test_moons_bounds():
    test = gm.data.toy2d("moons", 5000, seed=1)
    assert checks.moons_noise_entropy() == pytest.approx(math.log(2 * math.pi * math.e * 0.01))
    # the true density's NLL lies between the noise floor and the best Gaussian, near log(4 pi) + 1-D noise
    truth = checks.moons_true_nll(test)
    assert truth == pytest.approx(
        math.log(4 * math.pi) + 0.5 * math.log(2 * math.pi * math.e * 0.01), abs=0.1
    )


# --------------------------------------------------------------------------------------------------
# my_dequantize


def _dequantize(
    noise=torch.rand_like, scale_term=None, logit_term=None, reduce=lambda v: v.sum(1), per_k=True
):
    """my_dequantize with one piece changed."""

    def dequantize(x, num_levels, alpha=0.05):
        x = x.float()
        v = x + noise(x)
        v = v / num_levels if per_k else v
        s = alpha + (1 - 2 * alpha) * v
        y = torch.log(s) - torch.log1p(-s)
        dlogit = math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)
        terms = (scale_term or (lambda d, k: -d * math.log(k)))(x.shape[1], num_levels)
        logdet = terms + reduce((logit_term or (lambda t, s: t))(dlogit, s))
        return y, logdet

    return dequantize


def _reference_dequantize(x, num_levels, alpha=0.05):
    return _dequantize()(x, num_levels, alpha)


DEQUANTIZE_CATALOGUE = [
    # the case: a fixed offset instead of noise
    (_dequantize(noise=lambda x: torch.full_like(x, 0.5)), r"fixed \(e\.g\. v = x \+ 0\.5\)"),
    # the -D log K term forgotten
    (_dequantize(scale_term=lambda d, k: 0.0), r"-D log K term is missing"),
    # +D log K instead of -D log K
    (_dequantize(scale_term=lambda d, k: d * math.log(k)), r"D log K term has the wrong sign"),
    # the logit's log-derivative with the wrong sign
    (_dequantize(logit_term=lambda t, s: -t), r"logit's log-derivative has the wrong sign"),
    # the logit's log-derivative forgotten
    (_dequantize(logit_term=lambda t, s: 0 * t), r"logit's log-derivative.*is missing"),
    # the (1 - 2 alpha) factor forgotten
    (_dequantize(logit_term=lambda t, s: -torch.log(s) - torch.log1p(-s)), r"factor \(1 - 2 alpha\)"),
    # the log-det summed over the batch
    (_dequantize(reduce=lambda v: v.sum()), r"summed over the batch"),
    # the logit term averaged over the features
    (_dequantize(reduce=lambda v: v.mean(1)), r"wrong log-det"),
    # one noise value per sample, shared by its features
    (_dequantize(noise=lambda x: torch.rand(len(x), 1)), r"every feature of a sample gets the same noise"),
    # one noise vector for the whole batch
    (_dequantize(noise=lambda x: torch.rand(x.shape[1])), r"every sample gets the same noise"),
    # Gaussian noise: y leaves the cell
    (_dequantize(noise=torch.randn_like), r"does not fall in the cell of x"),
    # noise on half the cell only
    (_dequantize(noise=lambda x: 0.5 * torch.rand_like(x)), r"not uniform on \[0, 1\)"),
    # forgot to divide by K: s > 1, NaN
    (_dequantize(per_k=False), r"does not fall in the cell of x"),
]


def test_dequantize_reference_passes():
    checks.check_my_dequantize(_reference_dequantize)
    checks.check_my_dequantize(lambda x, k, alpha=0.05: gm.data.dequantize(x, k, logit_alpha=alpha))


@pytest.mark.parametrize(("wrong", "message"), DEQUANTIZE_CATALOGUE)
def test_dequantize_catalogue(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_my_dequantize(wrong)


def test_dequantize_check_leaves_the_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.check_my_dequantize(_reference_dequantize)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------------------------------
# discrete fit

_FIT = dict(num_levels=24, bpd_independent=4.30, bpd_truth=3.85, quick=True, target=4.2)

DISCRETE_CATALOGUE = [
    # the cases: negative bits/dim (the -D log K term missing)
    (-0.375, {}, r"impossible.*bits/dim >= 0.*-D log K"),
    (-0.691, {}, r"impossible.*-D log K"),
    # below the true distribution
    (3.5, {}, r"below the true distribution"),
    # worse than the independent-pixel histogram (the issue: 'below the baseline' taken the wrong way)
    (4.35, {}, r"worse than the independent-pixel histogram"),
    # no better than uniform
    (4.6, {}, r"no better than uniform"),
    # diverged
    (float("nan"), {}, r"diverged"),
    # too weak in full mode
    (4.25, {"quick": False}, r"full training reaches below 4\.2"),
]


def test_discrete_fit_reference_passes():
    checks.check_discrete_fit(4.1, **{**_FIT, "quick": False})


@pytest.mark.parametrize(("bpd", "options", "message"), DISCRETE_CATALOGUE)
def test_discrete_fit_catalogue(bpd, options, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_discrete_fit(bpd, **{**_FIT, **options})


def test_catalogue_sizes():
    sizes = [len(COUPLING_CATALOGUE), len(MAKE_FLOW_CATALOGUE), len(TRAINED_CATALOGUE)]
    sizes += [len(DEQUANTIZE_CATALOGUE), len(DISCRETE_CATALOGUE)]
    assert min(sizes) >= 7 and np.sum(sizes) >= 50
