"""gm_helpers.flows and gm_helpers.data.dequantization against independent references: nflows' spline,
autograd Jacobians, torch.distributions, numerical integration and hand-derived bookkeeping."""

import copy
import math

import numpy as np
import pytest
import scipy.stats
import torch
from nflows.transforms.splines.rational_quadratic import (
    unconstrained_rational_quadratic_spline as nflows_spline,
)
from torch.autograd.functional import jacobian
from torch.distributions import MultivariateNormal, TransformedDistribution, Uniform
from torch.distributions.transforms import AffineTransform, SigmoidTransform

import gm_helpers as gm
from gm_helpers import flows
from gm_helpers.data import dequantization as gm_data
from gm_helpers.data.dequantization import VariationalDequantizer, bits_per_dim, dequantize, quantize

spline = flows.unconstrained_rational_quadratic_spline


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Small models on a shared 2-core machine run ~10x faster on one thread (no spin-waiting).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _spline_inputs(n, bins=8, dtype=torch.float64, seed=0, scale=2.5):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(n, generator=g, dtype=dtype)
    w, h = torch.randn(n, bins, generator=g, dtype=dtype), torch.randn(n, bins, generator=g, dtype=dtype)
    d = torch.randn(n, bins - 1, generator=g, dtype=dtype)
    return x, w, h, d


# ------------------------------------------------------------------------------------------ spline


@pytest.mark.parametrize("inverse", [False, True])
def test_spline_matches_nflows_float64(inverse):
    x, w, h, d = _spline_inputs(200_000)
    if inverse:  # invert points of the range, tails included
        x = nflows_spline(x, w, h, d, tails="linear", tail_bound=3.0)[0]
    want, want_ladj = nflows_spline(x, w, h, d, inverse=inverse, tails="linear", tail_bound=3.0)
    got, got_ladj = spline(x, w, h, d, inverse=inverse, tail_bound=3.0)
    assert ((x.abs() > 3).float().mean() > 0.1) and ((x.abs() < 3).float().mean() > 0.5)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    torch.testing.assert_close(got_ladj, want_ladj, rtol=0, atol=1e-10)


def test_spline_matches_nflows_float32_forward():
    x, w, h, d = _spline_inputs(200_000, dtype=torch.float32, seed=1)
    want, want_ladj = nflows_spline(x, w, h, d, tails="linear", tail_bound=3.0)
    got, got_ladj = spline(x, w, h, d, tail_bound=3.0)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_ladj, want_ladj, rtol=0, atol=1e-4)


def test_spline_inverse_undoes_forward_and_logdets_cancel():
    x, w, h, d = _spline_inputs(100_000, seed=2)
    y, ladj = spline(x, w, h, d)
    x_back, ladj_inv = spline(y, w, h, d, inverse=True)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-9)
    torch.testing.assert_close(ladj + ladj_inv, torch.zeros_like(ladj), rtol=0, atol=1e-9)


def test_spline_logdet_is_the_derivative():
    x, w, h, d = _spline_inputs(2000, seed=3)
    x.requires_grad_(True)
    y, ladj = spline(x, w, h, d)
    (dydx,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(ladj, dydx.log(), rtol=0, atol=1e-10)


def test_spline_batch_entirely_in_the_tails():
    _, w, h, d = _spline_inputs(500, seed=4)
    x = torch.cat([torch.linspace(3.01, 50, 250), -torch.linspace(3.01, 50, 250)]).double()
    for params in (w, h, d):
        params.requires_grad_(True)
    for inverse in (False, True):
        y, ladj = spline(x, w, h, d, inverse=inverse)
        assert torch.equal(y, x) and torch.equal(ladj, torch.zeros_like(x))
        grads = torch.autograd.grad((y + ladj).sum(), (w, h, d), allow_unused=True)
        assert all(g is None or (torch.isfinite(g).all() and (g == 0).all()) for g in grads)


def test_spline_inputs_on_the_bound_match_nflows_with_finite_gradients():
    _, w, h, d = _spline_inputs(6, seed=5)
    x = torch.tensor([-3.0, 3.0, -3.0, 3.0, -3.0 - 1e-12, 3.0 + 1e-12], dtype=torch.float64)
    for inverse in (False, True):
        want, want_ladj = nflows_spline(x, w, h, d, inverse=inverse, tails="linear", tail_bound=3.0)
        xg, wg = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        got, got_ladj = spline(xg, wg, h, d, inverse=inverse)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
        torch.testing.assert_close(got_ladj, want_ladj, rtol=0, atol=1e-10)
        grads = torch.autograd.grad((got + got_ladj).sum(), (xg, wg))
        assert all(torch.isfinite(g).all() for g in grads)


def test_spline_extreme_parameters_give_no_nan_values_or_gradients():
    # Bins at the minimum width/height and derivatives at the minimum slope: the regime where
    # float32 rounding makes the inverse's discriminant slightly negative.
    n, bins = 20_000, 8
    g = torch.Generator().manual_seed(6)
    w = (60 * torch.randn(n, bins, generator=g)).requires_grad_(True)
    h = (60 * torch.randn(n, bins, generator=g)).requires_grad_(True)
    d = (60 * torch.randn(n, bins - 1, generator=g)).requires_grad_(True)
    x = torch.linspace(-3.2, 3.2, n).requires_grad_(True)
    for inverse in (False, True):
        y, ladj = spline(x, w, h, d, inverse=inverse)
        assert torch.isfinite(y).all() and torch.isfinite(ladj).all()
        assert (y.abs() <= 3.2 + 1e-5).all()
        grads = torch.autograd.grad((y + ladj).sum(), (x, w, h, d))
        assert all(torch.isfinite(gr).all() for gr in grads)


def test_spline_clamps_a_negative_discriminant():
    # Inverse at y exactly on a knot with a nearly flat bin: compare with nflows (which asserts
    # discriminant >= 0) where it runs, and require finite values and gradients everywhere.
    bins = 4
    w = torch.tensor([[0.0, 30.0, 0.0, -30.0]]).repeat(64, 1).requires_grad_(True)
    h = torch.tensor([[-30.0, 0.0, 30.0, 0.0]]).repeat(64, 1)
    d = torch.full((64, bins - 1), -40.0)
    y_knots, _ = spline(torch.linspace(-3, 3, 64), w.detach(), h, d)
    x, ladj = spline(y_knots, w, h, d, inverse=True)
    assert torch.isfinite(x).all() and torch.isfinite(ladj).all()
    (grad,) = torch.autograd.grad((x + ladj).sum(), w)
    assert torch.isfinite(grad).all()


def test_spline_rejects_inconsistent_parameter_shapes():
    x, w, h, d = _spline_inputs(10)
    with pytest.raises(ValueError, match="K - 1 derivatives"):
        spline(x, w, h, torch.zeros(10, 8, dtype=torch.float64))


# ------------------------------------------------------------------------------------------ transforms

D, C = 4, 2


def _randomize(module, std=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


TRANSFORMS = {
    "affine_coupling": lambda: flows.AffineCoupling(D, hidden=(16, 16)),
    "affine_coupling_context": lambda: flows.AffineCoupling(D, C, hidden=(16,)),
    "spline_coupling": lambda: flows.RQSplineCoupling(D, hidden=(16, 16), mask=[True, True, False, False]),
    "spline_coupling_context": lambda: flows.RQSplineCoupling(D, C, hidden=(16,), bins=5),
    "maf_spline": lambda: flows.MaskedAutoregressive(D, hidden=(16, 16)),
    "maf_affine_context": lambda: flows.MaskedAutoregressive(D, C, hidden=(16,), transform="affine"),
    "reverse": lambda: flows.Permutation("reverse", D),
    "random": lambda: flows.Permutation("random", D, seed=3),
    "lu_linear": lambda: flows.LULinear(D),
    "composite": lambda: flows.Composite(
        [flows.RQSplineCoupling(D, C, hidden=(8,)), flows.LULinear(D), flows.MaskedAutoregressive(D, C, (8,))]
    ),
}


def _make(name):
    # Milder weights for the stack: a random composite is ill-conditioned (errors of 1e-11 grow by
    # the product of the inverse Jacobians), which tests the random draw, not the composition.
    transform = _randomize(TRANSFORMS[name](), std=0.2 if name == "composite" else 0.4).double()
    context = torch.randn(64, C, dtype=torch.float64) if "context" in name or name == "composite" else None
    x = 1.5 * torch.randn(64, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return transform, x, context


@pytest.mark.parametrize("name", TRANSFORMS)
def test_round_trip_and_logdets_cancel(name):
    transform, x, context = _make(name)
    z, ladj = transform(x, context)
    x_back, ladj_inv = transform.inverse(z, context)
    assert ladj.shape == (64,) and not torch.allclose(z, x)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-9)
    torch.testing.assert_close(ladj + ladj_inv, torch.zeros_like(ladj), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_logdet_matches_autograd_jacobian(name):
    transform, x, context = _make(name)
    _, ladj = transform(x, context)
    for i in range(4):
        c = None if context is None else context[i : i + 1]
        jac = jacobian(lambda v, c=c: transform(v[None], c)[0][0], x[i])
        sign, logabsdet = torch.linalg.slogdet(jac)
        assert sign != 0
        assert abs(float(logabsdet - ladj[i].detach())) < 1e-8


def _jacobian(transform, x):
    return jacobian(lambda v: transform(v[None])[0][0], x)


def test_coupling_jacobian_zero_pattern():
    mask = torch.tensor([False, True, False, True])
    for transform in (flows.AffineCoupling(D, mask=mask), flows.RQSplineCoupling(D, mask=mask)):
        transform = _randomize(transform, std=0.5).double()
        jac = _jacobian(transform, torch.tensor([0.3, -1.0, 0.5, 1.2], dtype=torch.float64))
        # The identity half passes through: rows of the identity matrix.
        torch.testing.assert_close(jac[~mask], torch.eye(D, dtype=torch.float64)[~mask])
        # The transformed half depends on itself only element-wise, and on the identity half.
        block = jac[mask][:, mask]
        assert torch.equal(block, torch.diag(block.diagonal())) and (block.diagonal() > 0).all()
        assert (jac[mask][:, ~mask] != 0).all()


def test_autoregressive_jacobian_is_lower_triangular():
    for kind in ("spline", "affine"):
        transform = _randomize(flows.MaskedAutoregressive(5, hidden=(32, 32), transform=kind)).double()
        jac = _jacobian(transform, torch.tensor([0.3, -1.0, 0.5, 1.2, -0.4], dtype=torch.float64))
        assert torch.equal(jac.triu(1), torch.zeros_like(jac))
        assert (jac.diagonal() > 0).all()
        assert (jac.tril(-1)[torch.tril_indices(5, 5, -1).unbind()] != 0).all()


def test_new_layers_start_as_the_identity():
    x = torch.randn(32, D)
    for transform in (flows.AffineCoupling(D), flows.RQSplineCoupling(D), flows.MaskedAutoregressive(D)):
        z, ladj = transform(x)
        torch.testing.assert_close(z, x, rtol=0, atol=1e-5)
        torch.testing.assert_close(ladj, torch.zeros(32), rtol=0, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        flows.AffineCoupling(D)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="context of shape"):
        flows.RQSplineCoupling(D, C)(torch.zeros(3, D))
    with pytest.raises(ValueError, match="takes no context"):
        flows.AffineCoupling(D)(torch.zeros(3, D), torch.zeros(3, C))
    with pytest.raises(ValueError, match="not a permutation"):
        flows.Permutation([0, 0, 1])
    with pytest.raises(ValueError, match="at least 2 features"):
        flows.nsf(1)
    with pytest.raises(ValueError, match=r"x of shape \(batch, 2\)"):
        flows.realnvp(2).log_prob(torch.zeros(3))


# ------------------------------------------------------------------------------------------ flows


@pytest.mark.parametrize("builder", [flows.realnvp, flows.nsf])
def test_2d_density_integrates_to_one(builder):
    flow = _randomize(
        builder(2, transforms=4, hidden=(16, 16)), std=0.15 if builder is flows.realnvp else 0.3
    )
    flow = flow.double()
    axis = torch.linspace(-8, 8, 401, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        density = flow.log_prob(grid).exp()
    mass = float(density.sum() * (axis[1] - axis[0]) ** 2)
    assert abs(mass - 1) < 1e-2


@pytest.mark.parametrize("autoregressive", [False, True])
def test_sample_and_log_prob_agree_with_log_prob(autoregressive):
    flow = _randomize(flows.nsf(3, context_features=2, hidden=(16,), autoregressive=autoregressive)).double()
    context = torch.randn(2, dtype=torch.float64)
    x, log_p = flow.sample_and_log_prob(100, context=context, generator=torch.Generator().manual_seed(0))
    assert x.shape == (100, 3)
    torch.testing.assert_close(flow.log_prob(x, context.expand(100, 2)), log_p, rtol=0, atol=1e-8)


def test_save_and_load_give_the_same_log_prob(tmp_path):
    flow = _randomize(flows.nsf(3, context_features=1, linear=True, hidden=(16,)))
    x, c = torch.randn(50, 3), torch.randn(50, 1)
    torch.save(flow.state_dict(), tmp_path / "flow.pt")
    other = flows.nsf(3, context_features=1, linear=True, hidden=(16,))
    other.load_state_dict(torch.load(tmp_path / "flow.pt"))
    assert torch.equal(other.log_prob(x, c), flow.log_prob(x, c))


def test_affine_flow_with_gaussian_base_is_a_multivariate_normal():
    linear = _randomize(flows.LULinear(3), std=0.5).double()
    flow = flows.Flow([linear], features=3).double()
    # z = W x + b ~ N(0, I)  <=>  x ~ N(-W^{-1} b, W^{-1} W^{-T})
    w_inv = torch.linalg.inv(linear.weight().detach())
    reference = MultivariateNormal(-w_inv @ linear.bias.detach(), covariance_matrix=w_inv @ w_inv.T)
    x = 2 * torch.randn(200, 3, dtype=torch.float64)
    torch.testing.assert_close(flow.log_prob(x), reference.log_prob(x), rtol=0, atol=1e-10)


def test_train_flow_fits_a_gaussian_and_stops_early():
    torch.manual_seed(0)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    target = MultivariateNormal(torch.tensor([1.0, -0.5]), cov)
    data, val = target.sample((2000,)), target.sample((1000,))
    flow = flows.realnvp(2, transforms=4, hidden=(32,))
    history = flows.train_flow(
        flow, data, val_data=val, steps=600, lr=5e-3, eval_every=100, progress=False, device="cpu"
    )
    entropy = float(target.entropy())  # the best achievable expected NLL
    assert min(history["val_nll"]) < entropy + 0.05
    assert flows.evaluate_nll(flow, val) == pytest.approx(min(history["val_nll"]), abs=1e-5)
    stopped = flows.train_flow(
        flows.realnvp(2, transforms=2), data, val_data=val, steps=600, lr=0.0, cosine=False, eval_every=10,
        patience=2, progress=False, device="cpu",
    )  # fmt: skip
    assert stopped.steps("val_nll") == [10, 20, 30] and len(stopped["nll"]) == 30 and stopped.stopped_early


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_flow_runs_on_gpu():
    flow = flows.nsf(2, context_features=1).cuda()
    x, c = torch.randn(10, 2, device="cuda"), torch.randn(10, 1, device="cuda")
    assert flow.log_prob(x, c).device.type == "cuda"
    assert flow.sample(5, context=c[0]).device.type == "cuda"


# ------------------------------------------------------------------------------------------ dequantization


@pytest.mark.parametrize("alpha", [None, 0.05])
def test_dequantization_bookkeeping_is_exact_for_the_uniform_model(alpha):
    # A continuous model that is uniform on [0, 1)^D, pushed through the same logit map by
    # torch.distributions, gives every integer vector probability K^-D: the bound must equal
    # the exact discrete log-likelihood -D log K for every noise draw.
    k, dims = 17, 5
    x = torch.randint(0, k, (300, dims))
    y, logdet = dequantize(x, k, logit_alpha=alpha)
    assert ((x + 0.0) / k <= quantize(y, k, logit_alpha=alpha) / k + 1e-6).all()
    assert torch.equal(quantize(y, k, logit_alpha=alpha), x)
    maps = [] if alpha is None else [AffineTransform(alpha, 1 - 2 * alpha), SigmoidTransform().inv]
    model = TransformedDistribution(Uniform(torch.zeros(dims), torch.ones(dims)), maps)
    total = model.log_prob(y).sum(1) + logdet
    torch.testing.assert_close(total, torch.full((300,), -dims * math.log(k)), rtol=0, atol=1e-4)
    assert bits_per_dim(total, dims) == pytest.approx(math.log2(k), rel=1e-5)


def test_dequantized_bound_is_below_the_exact_discrete_likelihood():
    # A non-uniform density on [0, 1): p = (1 + Beta(2, 5)) / 2. The probability of the integer x is
    # its mass on [x/K, (x+1)/K) (from scipy's Beta CDF); the dequantized estimate is a lower bound
    # (Jensen), and close to it for a smooth density.
    k, n = 8, 4000
    beta = torch.distributions.Beta(
        torch.tensor(2.0, dtype=torch.float64), torch.tensor(5.0, dtype=torch.float64)
    )
    x = torch.arange(k).repeat_interleave(n)[:, None]
    y, logdet = dequantize(x, k, logit_alpha=None, generator=torch.Generator().manual_seed(0))
    density = 0.5 * (1 + beta.log_prob(y.double().squeeze(1)).exp())
    bound = (density.log() + logdet.double()).view(k, n).mean(1)
    edges = np.arange(k + 1) / k
    exact = torch.from_numpy(np.log(0.5 / k + 0.5 * np.diff(scipy.stats.beta(2, 5).cdf(edges))))
    assert (bound <= exact + 3 * 0.01).all()  # Monte Carlo error ~0.01 at most
    assert (exact - bound).max() < 0.05


def test_variational_dequantizer_gives_a_valid_noise_density():
    torch.manual_seed(0)
    deq = VariationalDequantizer(2, num_levels=4, hidden=(8,))
    _randomize(deq.flow, std=0.3)
    x = torch.tensor([[1, 3]]).repeat(20_000, 1)
    with torch.no_grad():
        u, log_q = deq(x.float())
        y, logdet = dequantize(x, 4, logit_alpha=None, variational=deq)
    assert ((u > 0) & (u < 1)).all() and torch.equal(quantize(y, 4, logit_alpha=None), x)
    # E_q[1 / q(u|x)] = area of the unit square = 1 (importance-sampling identity).
    assert float((-log_q).exp().mean()) == pytest.approx(1.0, abs=0.05)
    assert logdet.shape == (20_000,)


def test_dequantize_rejects_non_integers_and_out_of_range():
    with pytest.raises(ValueError, match="integer values"):
        dequantize(torch.tensor([[0.5, 1.0]]), 4)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        dequantize(torch.tensor([[0, 4]]), 4)
    assert gm.data.dequantize is dequantize


def test_lu_inverse_is_the_same_for_one_sample_and_for_many():
    # many samples take the explicit-inverse path, one sample the triangular solves
    lu = _randomize(flows.LULinear(D), std=0.4).double()
    z = torch.randn(64, D, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    many, _ = lu.inverse(z)
    one = torch.cat([lu.inverse(z[i : i + 1])[0] for i in range(len(z))])
    torch.testing.assert_close(many, one, rtol=0, atol=1e-10)
    torch.testing.assert_close(lu(many)[0], z, rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------ training a dequantizer


def _digits(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 5, (n, 3), generator=g)


def test_a_dequantizer_hidden_in_a_function_is_refused_not_silently_left_untrained():
    deq = gm_data.VariationalDequantizer(3, 5, transforms=1, hidden=(8,))
    with pytest.raises(ValueError, match="deq.*would never be trained"):
        flows.train_flow(flows.nsf(3, transforms=1), _digits(), steps=2, progress=False,
                         preprocess=lambda x: gm_data.dequantize(x, 5, variational=deq))  # fmt: skip
    # a preprocess without anything to train is fine
    flows.train_flow(flows.nsf(3, transforms=1), _digits(), steps=2, progress=False,
                     preprocess=lambda x: gm_data.dequantize(x, 5))  # fmt: skip


def test_a_variational_dequantizer_is_trained_and_rolled_back_with_the_flow():
    torch.manual_seed(0)
    deq = gm_data.VariationalDequantizer(3, 5, transforms=1, hidden=(8,))
    flow = flows.nsf(3, transforms=1, hidden=(8,))
    before = [p.detach().clone() for p in deq.parameters()]
    history = flows.train_flow(
        flow, _digits(), val_data=_digits(100, seed=1), steps=20, lr=0.05, cosine=False, eval_every=1,
        preprocess=gm_data.Dequantize(5, variational=deq), progress=False, device="cpu",
        snapshot=lambda f: (copy.deepcopy(f.state_dict()), copy.deepcopy(deq.state_dict())),
    )  # fmt: skip
    assert any(not torch.equal(b, p) for b, p in zip(before, deq.parameters(), strict=True)), (
        "deq was not trained"
    )
    assert history.best_step != 20, "the test needs a best state before the last step"
    best_flow, best_deq = dict(history.snapshots)[history.best_step]
    for name, value in deq.state_dict().items():
        torch.testing.assert_close(
            value, best_deq[name], rtol=0, atol=0, msg=f"dequantizer {name} not rolled back"
        )
    for name, value in flow.state_dict().items():
        torch.testing.assert_close(value, best_flow[name], rtol=0, atol=0)
    # and the figure of the restored pair is the best one recorded (evaluation noise drawn under the seed)
    restored = flows.evaluate_nll(
        flow, _digits(100, seed=1), preprocess=gm_data.Dequantize(5, variational=deq)
    )
    assert restored == pytest.approx(min(history["val_nll"]), abs=1e-4)
