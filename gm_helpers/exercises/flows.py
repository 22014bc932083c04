"""Checks of exercise 04 (``04_flows``): an affine coupling layer, a flow made of it, its training on
"moons", a dequantization and the fit of discrete data.

The coupling layer is compared with the library's ``gm.flows.AffineCoupling`` sharing the same network,
values *and* gradients (with respect to the input and to the network's parameters); the likelihoods
are held to hard bounds: a test NLL cannot beat the entropy of the data (moons is a curve plus
Gaussian noise of known width), and discrete data have bits/dim >= 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from scipy import stats
from torch import Tensor, nn
from torch.autograd.functional import jacobian

from gm_helpers.checks import assert_close, assert_differentiable, assert_same_gradients
from gm_helpers.flows import AffineCoupling
from gm_helpers.train import seeded

__all__ = [
    "MOONS_NOISE_STD",
    "check_affine_coupling",
    "check_discrete_fit",
    "check_make_my_flow",
    "check_my_dequantize",
    "check_trained_flow",
    "moons_noise_entropy",
    "moons_true_nll",
]

MOONS_NOISE_STD = 0.1
"""Standard deviation of the Gaussian noise of ``gm.data.toy2d("moons")`` (scikit-learn's 0.05, times 2)."""


def moons_noise_entropy(noise_std: float = MOONS_NOISE_STD) -> float:
    """Differential entropy of the 2-D noise alone, log(2 pi e sigma^2): a hard lower bound on any NLL of
    moons (the data are a curve plus independent noise, and adding independent noise cannot lower the
    entropy)."""
    return math.log(2 * math.pi * math.e * noise_std**2)


def moons_true_nll(x: Tensor, noise_std: float = MOONS_NOISE_STD, points: int = 1000) -> float:
    """Mean negative log-density of ``x`` under the true moons distribution (two half circles, uniform
    along each arc, plus Gaussian noise), in nats: the best NLL any model can reach on average."""
    t = torch.linspace(0, math.pi, points, dtype=torch.float64)
    outer = torch.stack([torch.cos(t), torch.sin(t)], 1)
    inner = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    centres = (torch.cat([outer, inner]) - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 2.0
    x = torch.as_tensor(x).detach().cpu().to(torch.float64)
    d2 = torch.cdist(x, centres) ** 2
    log_p = (
        torch.logsumexp(-d2 / (2 * noise_std**2), 1)
        - math.log(len(centres))
        - math.log(2 * math.pi * noise_std**2)
    )
    return float(-log_p.mean())


# --------------------------------------------------------------------------------------------------
# Step 1: the coupling layer


def _reference_layer(features: int, seed: int, weight_scale: float = 0.5) -> AffineCoupling:
    layer = AffineCoupling(features, hidden=(16, 16), mask=torch.arange(features) % 2 == 0).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(weight_scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return layer


def _pieces(layer: AffineCoupling, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(clamped log-scale, shift, raw log-scale) that the reference computes from x[:, ~mask]."""
    with torch.no_grad():
        params = layer.net(x[:, ~mask]).view(len(x), int(mask.sum()), 2)
        raw = params[..., 0]
        return 2.0 * torch.tanh(raw / 2.0), params[..., 1], raw


def _close(a, b, tol: float = 1e-7) -> bool:
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=tol, atol=tol))


def _diagnose_logdet(got: Tensor, x: Tensor, layer: AffineCoupling, mask: Tensor, inverse: bool) -> str:
    s, _, raw = _pieces(layer, x, mask)
    sign = -1.0 if inverse else 1.0
    want = sign * s.sum(1)
    got = torch.as_tensor(got).detach().double()
    which = "inverse" if inverse else "forward"
    if got.shape != want.shape:
        if got.numel() == 1:
            return (
                f"the {which} log-det is one number for the whole batch: it must be one per sample, shape "
                f"({len(x)},): sum the log-scales over the features only (.sum(1)), not over the batch"
            )
        return f"the {which} log-det has shape {tuple(got.shape)}, expected one value per sample ({len(x)},)"
    if _close(got, -want):
        return f"the {which} log-det has the wrong sign" + (
            ": the inverse returns minus the forward log-det, -sum(s)" if inverse else ": it is +sum(s)"
        )
    if _close(got, sign * s.exp().sum(1)) or _close(got, -sign * s.exp().sum(1)):
        return f"the {which} log-det sums exp(s), the scales: it is the sum of the log-scales s themselves"
    if _close(got, sign * raw.sum(1)):
        return (
            f"the {which} log-det uses the raw log-scale: the soft clamp s = b tanh(s_raw / b) is missing "
            "(use self._scale_and_shift)"
        )
    if _close(got, sign * s.mean(1)):
        return f"the {which} log-det averages the log-scales over the features: sum them"
    return f"the {which} log-det differs from sum(s) over the transformed features (is it computed from s?)"


_NO_CLAMP = "the raw log-scale: the soft clamp s = b tanh(s_raw / b) is missing (use self._scale_and_shift)"


def _diagnose_z(got: Tensor, x: Tensor, layer: AffineCoupling, mask: Tensor, inverse: bool) -> str:
    s, t, raw = _pieces(layer, x, mask)
    got = torch.as_tensor(got).detach().double()
    which = "inverse(z)" if inverse else "z = forward(x)"
    if got.shape != x.shape:
        return f"{which} has shape {tuple(got.shape)}, expected {tuple(x.shape)}"
    if not torch.allclose(got[:, ~mask], x[:, ~mask]):
        return (
            f"{which} changes the features where mask is False: those (x_A) must pass unchanged and only "
            "x[:, mask] is transformed (is the mask inverted, the wrong half transformed?)"
        )
    x_b, wrong = x[:, mask], None
    if inverse:
        candidates = {
            "(z_B - t) * exp(s): the inverse divides by the scale, (z_B - t) * exp(-s)": (x_b - t) * s.exp(),
            "z_B * exp(-s) - t: undo the shift first, then the scale: (z_B - t) * exp(-s)": x_b * (-s).exp()
            - t,
            "(z_B + t) * exp(-s): subtract the shift, (z_B - t) * exp(-s)": (x_b + t) * (-s).exp(),
            "(z_B - t) / s: the scale is exp(s), (z_B - t) * exp(-s)": (x_b - t) / s,
            _NO_CLAMP: (x_b - t) * (-raw).exp(),
        }
    else:
        candidates = {
            "x_B * s + t: the scale is exp(s), not s": x_b * s + t,
            "(x_B + t) * exp(s): scale first, then shift: x_B * exp(s) + t": (x_b + t) * s.exp(),
            "x_B * exp(-s) + t: the forward multiplies by exp(+s)": x_b * (-s).exp() + t,
            "x_B * exp(s) - t: the forward adds the shift": x_b * s.exp() - t,
            _NO_CLAMP: x_b * raw.exp() + t,
        }
    for text, value in candidates.items():
        if _close(got[:, mask], value):
            wrong = text
            break
    if wrong is None:
        return f"{which} differs from the reference on the transformed features x[:, mask]"
    return f"{which} computes {wrong}"


def _compare(got, x: Tensor, layer: AffineCoupling, mask: Tensor, inverse: bool) -> None:
    name = "inverse" if inverse else "forward"
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError(f"{name} must return a pair (output, log-det per sample)")
    want = (layer.inverse if inverse else layer)(x)
    out, logdet = got
    if not _close(out, want[0], 1e-9):
        raise AssertionError(_diagnose_z(out, x, layer, mask, inverse))
    if not _close(logdet, want[1], 1e-9):
        raise AssertionError(_diagnose_logdet(logdet, x, layer, mask, inverse))


def _gradients(mine: nn.Module, layer: AffineCoupling, x: Tensor, inverse: bool) -> None:
    name = "inverse" if inverse else "forward"
    leaf = x.clone().requires_grad_(True)
    got = (mine.inverse if inverse else mine)(leaf)
    want = (layer.inverse if inverse else layer)(leaf)
    # The network's parameters first: a detached s, t passes gradients to x through x_B, but none to the net.
    wrt = {f"the network's parameter {n}": p for n, p in layer.net.named_parameters()}
    wrt["the input"] = leaf
    for k, what in enumerate(("output", "log-det")):
        try:
            assert_differentiable(got[k], f"the {name} {what}")
            assert_same_gradients(got[k], want[k], wrt, f"the {name} {what}", rtol=1e-7, atol=1e-10)
        except AssertionError as error:
            raise AssertionError(
                f"{error}. A coupling layer is trained through s and t: compute them with the network on the "
                "graph (no .detach(), no torch.no_grad(), no round trip through numpy or .item())"
            ) from None


def check_affine_coupling(coupling: type) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``coupling(net, mask)`` is RealNVP's layer.

    The library's ``AffineCoupling`` lends its network to the participant's class: outputs, log-dets and
    their gradients (w.r.t. the input and the network's parameters) must agree, forward and inverse; the
    input must not be modified in place; the round trip and the autograd Jacobian close the case. A
    second layer with large weights makes the soft clamp matter.
    """
    for features, seed, scale in ((4, 0, 0.5), (5, 1, 3.0)):
        layer = _reference_layer(features, seed, scale)
        mask = torch.arange(features) % 2 == 0
        mine = coupling(layer.net, mask.clone())
        x = torch.randn(64, features, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64)
        x_copy = x.clone()
        with torch.no_grad():
            got = mine(x)
        if not torch.equal(x, x_copy):
            raise AssertionError(
                "forward modified its input x in place: write the result into a copy (z = x.clone()), "
                "the caller's x (a batch of data, or the previous layer's output) must stay as it was"
            )
        _compare(got, x, layer, mask, inverse=False)
        z = got[0].detach().clone()
        with torch.no_grad():
            got_inverse = mine.inverse(z)
        if not torch.equal(z, got[0]):
            raise AssertionError("inverse modified its input z in place: write the result into z.clone()")
        _compare(got_inverse, z, layer, mask, inverse=True)
        _gradients(mine, layer, x, inverse=False)
        _gradients(mine, layer, z, inverse=True)
        with torch.no_grad():
            x_back, logdet_inverse = mine.inverse(mine(x)[0])
        assert_close(x_back, x, "inverse(forward(x)), the round trip", rtol=1e-9, atol=1e-12)
        for i in range(2):  # the log-det is log|det J| of the full Jacobian
            _, logabsdet = torch.linalg.slogdet(jacobian(lambda v, m=mine: m(v[None])[0][0], x[i]))
            assert_close(
                got[1][i], logabsdet, f"the log-det of sample {i} against autograd's Jacobian", rtol=1e-9
            )


# --------------------------------------------------------------------------------------------------
# Step 2: a flow of coupling layers


def check_make_my_flow(make_flow: Callable, coupling: type) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``make_flow(features, layers, hidden)``
    stacks ``layers`` couplings with alternating masks, each with its own conditioner that outputs 2
    numbers per transformed feature and starts at zero (the new flow is the identity: log_prob = N(0, I))."""
    for features in (2, 5):
        flow = make_flow(features=features, layers=4, hidden=16)
        layers = list(flow.transform.transforms)
        if len(layers) != 4 or not all(isinstance(t, coupling) for t in layers):
            kinds = ", ".join(type(t).__name__ for t in layers)
            raise AssertionError(
                f"make_my_flow(layers=4) must stack 4 {coupling.__name__} layers, got [{kinds}]"
            )
        masks = [torch.as_tensor(t.mask, dtype=torch.bool) for t in layers]
        for i, (a, b) in enumerate(zip(masks, masks[1:], strict=False)):
            if not torch.equal(a, ~b):
                raise AssertionError(
                    f"layers {i} and {i + 1} (features={features}) have masks {a.int().tolist()} and "
                    f"{b.int().tolist()}: consecutive masks must be complementary (alternating), or some "
                    "features are never transformed"
                )
        nets = [t.net for t in layers]
        if len({id(n) for n in nets}) != len(nets):
            raise AssertionError(
                "several layers share one network: build a new nn.Sequential for every layer"
            )
        for i, (net, mask) in enumerate(zip(nets, masks, strict=True)):
            n_a, n_b = int((~mask).sum()), int(mask.sum())
            try:
                out = net(torch.zeros(3, n_a))
            except RuntimeError as error:
                raise AssertionError(
                    f"layer {i}'s network cannot take x_A, {n_a} features (features={features}): its first "
                    f"layer must have features - n_b inputs ({error})"
                ) from None
            if out.shape != (3, 2 * n_b):
                raise AssertionError(
                    f"layer {i}'s network outputs {tuple(out.shape[1:])} numbers per sample, expected "
                    f"2 * n_b = {2 * n_b}: a log-scale and a shift for each transformed feature"
                )
            last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
            if torch.any(last.weight != 0) or (last.bias is not None and torch.any(last.bias != 0)):
                raise AssertionError(
                    f"layer {i}'s last Linear layer is not zero: zero its weight and bias "
                    "(nn.init.zeros_) so that s = t = 0 and the new flow is the identity"
                )
            if not all(p.requires_grad for p in net.parameters()):
                raise AssertionError(f"layer {i}'s network has frozen parameters (requires_grad=False)")
        x = torch.randn(100, features, generator=torch.Generator().manual_seed(features))
        standard_normal = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
        assert_close(
            flow.log_prob(x), standard_normal, "log_prob of the untrained flow (should be N(0, I))", atol=1e-5
        )
        names = {n for n, _ in flow.named_parameters()}
        if not any(".net." in n for n in names):
            raise AssertionError("the flow has no trainable network: pass each net to the coupling layer")


# --------------------------------------------------------------------------------------------------
# Step 2: the trained flow


def check_trained_flow(
    flow,
    test: Tensor,
    *,
    nll_before: float,
    nll_after: float,
    quick: bool,
    target: float = 1.85,
    noise_std: float = MOONS_NOISE_STD,
) -> None:
    """Raise an ``AssertionError`` unless the test NLL (nats) of the flow trained on moons is possible and
    good: at least the entropy of the noise alone (hard bound) and not well below the true density's
    NLL; below the standard-normal and the best-Gaussian baselines; ``target`` in full mode."""
    if not math.isfinite(nll_after):
        raise AssertionError(f"the test NLL is {nll_after}: training diverged (NaN)")
    test = torch.as_tensor(test).detach().cpu().double()
    floor = moons_noise_entropy(noise_std)
    causes = (
        "Likely cause: the log-det summed over the batch instead of per sample (a scalar added to every "
        "sample's log-prob), a log-det with the wrong sign, or test data leaking into training"
    )
    if nll_after < floor:
        raise AssertionError(
            f"test NLL {nll_after:.4g} nats is impossible: moons is a curve plus independent Gaussian "
            f"noise of std {noise_std}, so its entropy is at least that of the noise, log(2 pi e sigma^2) "
            f"= {floor:.3f} nats, and no model's NLL can be lower. {causes}"
        )
    truth = moons_true_nll(test, noise_std)
    if nll_after < truth - 0.1:
        raise AssertionError(
            f"test NLL {nll_after:.4g} nats is below that of the true moons density on these test points "
            f"({truth:.3f}): no model beats the data's own density on fresh data. {causes}"
        )
    normal = float((0.5 * (test**2).sum(1) + math.log(2 * math.pi)).mean())
    gaussian = float(
        -torch.distributions.MultivariateNormal(test.mean(0), torch.cov(test.T)).log_prob(test).mean()
    )
    if nll_after >= normal:
        raise AssertionError(
            f"test NLL {nll_after:.3f} nats is no better than the untrained flow, N(0, I) ({normal:.3f}): "
            "the flow did not learn (are the layers' parameters trained, is the log-det added?)"
        )
    if nll_after >= gaussian:
        raise AssertionError(
            f"test NLL {nll_after:.3f} nats is no better than the best Gaussian ({gaussian:.3f}): the flow "
            "has not bent the space (check the masks alternate and the network outputs (s, t) per feature)"
        )
    if nll_before - nll_after < 0.5:
        raise AssertionError(f"the test NLL only went from {nll_before:.3f} to {nll_after:.3f} nats")
    if not quick and nll_after > target:
        raise AssertionError(
            f"test NLL {nll_after:.3f} nats; full training reaches below {target} "
            f"(the true density: {truth:.2f})"
        )
    x = test[:500].to(device=next(flow.parameters()).device, dtype=torch.float32)
    with torch.no_grad():
        z, _ = flow.transform(x)
        assert_close(flow.transform.inverse(z)[0], x, "the trained flow's round trip", atol=1e-3)


# --------------------------------------------------------------------------------------------------
# Step 3: dequantization


def _noise(y: Tensor, x: Tensor, num_levels: int, alpha: float) -> Tensor:
    """The u in [0, 1) that y encodes for x: undo the logit and the rescaling."""
    v = (torch.sigmoid(y.double()) - alpha) / (1 - 2 * alpha)
    return v * num_levels - x.double()


def check_my_dequantize(dequantize: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``dequantize(x, K, alpha)`` returns
    y = logit(alpha + (1 - 2 alpha)(x + u) / K) with fresh u ~ U[0, 1) per element, and the exact log-det.

    A uniform density on [0, 1)^D pushed through the same map gives every integer vector probability
    K^-D, so log p(y) + logdet must equal -D log K for every draw.
    """
    k, dims, alpha, n = 17, 6, 0.05, 2000
    x = torch.randint(0, k, (n, dims), generator=torch.Generator().manual_seed(0))
    with seeded(0):
        y, logdet = dequantize(x, k, alpha)
        y2, _ = dequantize(x, k, alpha)
    y, logdet = torch.as_tensor(y).detach(), torch.as_tensor(logdet).detach()
    if y.shape != x.shape:
        raise AssertionError(f"y has shape {tuple(y.shape)}, expected that of x, {tuple(x.shape)}")
    if logdet.shape != (n,):
        raise AssertionError(
            f"logdet must have one value per sample, shape ({n},), got {tuple(logdet.shape)}"
            + (
                ": it is summed over the batch; sum over the features only (.sum(1))"
                if logdet.numel() == 1
                else ""
            )
        )
    u = _noise(y, x, k, alpha)
    if not torch.isfinite(u).all() or (u < -1e-4).any() or (u > 1 + 1e-4).any():
        raise AssertionError(
            "y does not fall in the cell of x: v = (x + u) / K with u in [0, 1), "
            "s = alpha + (1 - 2 alpha) v, y = logit(s) = log s - log(1 - s)"
        )
    if torch.allclose(y, torch.as_tensor(y2).detach()):
        raise AssertionError(
            "two calls give the same y: the noise is fixed (e.g. v = x + 0.5). Dequantization draws fresh "
            "u ~ U[0, 1) at every call (torch.rand_like), or the flow can still pile density on a few points"
        )
    if torch.allclose(u[:, 0], u[:, 1], atol=1e-3):
        raise AssertionError(
            "every feature of a sample gets the same noise: draw u per element, shaped like x"
        )
    if torch.allclose(u[0], u[1], atol=1e-3):
        raise AssertionError(
            "every sample gets the same noise: draw u per element, shaped like x (torch.rand_like(x))"
        )
    ks = stats.kstest(u.flatten().clamp(0, 1).numpy(), "uniform")
    if ks.pvalue < 1e-4:
        raise AssertionError(
            f"the noise u is not uniform on [0, 1) (Kolmogorov-Smirnov p = {ks.pvalue:.1e}, "
            f"mean {float(u.mean()):.3f}, expected 0.5): "
            "use torch.rand_like (uniform), not randn or a scaled/shifted draw"
        )
    s = alpha + (1 - 2 * alpha) * (x.double() + u) / k
    logit_term = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).sum(1)
    scale_term = torch.full((n,), -dims * math.log(k), dtype=torch.float64)
    want = scale_term + logit_term
    got = logdet.double()
    if _close(got, want, 1e-4):
        return
    diagnoses = [
        (logit_term, "the -D log K term is missing (the division by K is a change of variables too)"),
        (-scale_term + logit_term, "the D log K term has the wrong sign: dividing by K gives -D log K"),
        (
            scale_term - logit_term,
            "the logit's log-derivative has the wrong sign: + sum log((1 - 2a) / (s (1 - s)))",
        ),
        (scale_term, "the logit's log-derivative, sum log((1 - 2a) / (s (1 - s))), is missing"),
        (
            scale_term + logit_term - dims * math.log(1 - 2 * alpha),
            "the factor (1 - 2 alpha) of the logit's derivative is missing",
        ),
        (-scale_term - logit_term, "the log-det has the wrong sign overall"),
        (want / dims, "the log-det is averaged over the features: sum them"),
    ]
    for value, cause in diagnoses:
        if _close(got, value, 1e-4):
            raise AssertionError(f"wrong log-det: {cause}")
    raise AssertionError(
        f"wrong log-det: it differs from -D log K + sum_i log((1 - 2 alpha) / (s_i (1 - s_i))) by "
        f"{float((got - want).mean()):.3f} nats on average (s = alpha + (1 - 2 alpha)(x + u) / K)"
    )


# --------------------------------------------------------------------------------------------------
# Step 4: the discrete fit


def check_discrete_fit(
    bpd_flow: float,
    *,
    num_levels: int,
    bpd_independent: float,
    bpd_truth: float | None = None,
    quick: bool,
    target: float | None = None,
) -> None:
    """Raise an ``AssertionError`` unless the flow's test bits/dim of discrete data is possible and useful.

    Hard bounds: bits/dim >= 0 (a probability is at most 1), and not well below ``bpd_truth`` (the
    bits/dim of the true cell probabilities, when known). It must beat the uniform distribution and the
    independent-pixel histogram (product of the per-dimension histograms), and ``target`` in full mode.
    """
    causes = (
        "Likely cause: the dequantization log-det misses the -D log K term (or has the logit's derivative "
        "with the wrong sign, or is summed over the batch), so the number is a density, not a probability"
    )
    if not math.isfinite(bpd_flow):
        raise AssertionError(
            f"the flow's bits/dim is {bpd_flow}: training diverged or the log-det is infinite"
        )
    if bpd_flow < 0:
        raise AssertionError(
            f"{bpd_flow:.3f} bits/dim is impossible: the data are discrete, P(x) <= 1, so bits/dim >= 0. "
            + causes
        )
    if bpd_truth is not None and bpd_flow < bpd_truth - 0.1:
        raise AssertionError(
            f"{bpd_flow:.3f} bits/dim is below the true distribution's {bpd_truth:.3f}: no model beats the "
            f"data's own probabilities on fresh data. {causes}"
        )
    uniform = math.log2(num_levels)
    if bpd_flow >= uniform - 0.05:
        raise AssertionError(
            f"{bpd_flow:.3f} bits/dim is no better than uniform ({uniform:.3f}): did the flow train?"
        )
    if bpd_flow >= bpd_independent:
        raise AssertionError(
            f"{bpd_flow:.3f} bits/dim is worse than the independent-pixel histogram ({bpd_independent:.3f}), "
            "which ignores every correlation: the flow has not learned the joint distribution (train longer, "
            "check that preprocess draws fresh dequantization noise for every batch)"
        )
    if not quick and target is not None and bpd_flow > target:
        raise AssertionError(f"{bpd_flow:.3f} bits/dim: full training reaches below {target}")
