"""Catalogue of known wrong answers of exercise 02 (``02_wgan``): each must fail its check with a
message that names its cause; the reference and the equivalent formulations must pass."""

import pytest
import torch
import torch.nn.functional as F

from gm_helpers import gan
from gm_helpers.exercises import wgan as checks


def _shape(x):
    return (len(x), *[1] * (x.ndim - 1))


def _alpha(real):
    return torch.rand(_shape(real), dtype=real.dtype)


def _grad(critic, real, fake, a=None, create_graph=True):
    a = _alpha(real) if a is None else a
    x_hat = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    return grad


def _norms(grad):
    return grad.flatten(1).norm(dim=1)


# --- gradient_penalty: wrong answers ---------------------------------------------------------------


def gp_no_create_graph(critic, real, fake, lam=10.0, context=None):
    # the bug: right value, no gradient (WGAN-GP then trains with no penalty)
    return lam * ((_norms(_grad(critic, real, fake, create_graph=False)) - 1) ** 2).mean()


def gp_sum_over_batch(critic, real, fake, lam=10.0, context=None):
    return lam * ((_norms(_grad(critic, real, fake)) - 1) ** 2).sum()  # sum, not mean


def gp_no_requires_grad(critic, real, fake, lam=10.0, context=None):
    a = _alpha(real)
    x_hat = a * real + (1 - a) * fake  # no requires_grad_
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return lam * ((_norms(grad) - 1) ** 2).mean()


def gp_detached_x_hat(critic, real, fake, lam=10.0, context=None):
    a = _alpha(real)
    x_hat = (a * real + (1 - a) * fake).requires_grad_(True).detach()  # detach after requires_grad_
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return lam * ((_norms(grad) - 1) ** 2).mean()


def gp_per_pixel_norm(critic, real, fake, lam=10.0, context=None):
    return lam * ((_grad(critic, real, fake).norm(dim=1) - 1) ** 2).mean()  # a norm over channels only


def gp_one_alpha(critic, real, fake, lam=10.0, context=None):
    a = torch.rand(1, dtype=real.dtype)  # one a for the whole batch
    return lam * ((_norms(_grad(critic, real, fake, a=a)) - 1) ** 2).mean()


def gp_gaussian_alpha(critic, real, fake, lam=10.0, context=None):
    a = torch.randn(_shape(real), dtype=real.dtype)  # a ~ N(0, 1)
    return lam * ((_norms(_grad(critic, real, fake, a=a)) - 1) ** 2).mean()


def gp_midpoint(critic, real, fake, lam=10.0, context=None):
    return lam * ((_norms(_grad(critic, real, fake, a=0.5)) - 1) ** 2).mean()  # a fixed at 0.5


def gp_per_element_alpha(critic, real, fake, lam=10.0, context=None):
    a = torch.rand_like(real)  # one a per pixel
    return lam * ((_norms(_grad(critic, real, fake, a=a)) - 1) ** 2).mean()


def gp_squared_norm(critic, real, fake, lam=10.0, context=None):
    return lam * (_norms(_grad(critic, real, fake)) ** 2).mean()  # ||grad||^2, not (||grad|| - 1)^2


def gp_squared_norm_minus_one(critic, real, fake, lam=10.0, context=None):
    return lam * ((_norms(_grad(critic, real, fake)) ** 2 - 1) ** 2).mean()  # (||grad||^2 - 1)^2


def gp_abs(critic, real, fake, lam=10.0, context=None):
    return lam * (_norms(_grad(critic, real, fake)) - 1).abs().mean()  # abs instead of square


def gp_lam_twice(critic, real, fake, lam=10.0, context=None):
    return lam * lam * ((_norms(_grad(critic, real, fake)) - 1) ** 2).mean()


def gp_no_lam(critic, real, fake, lam=10.0, context=None):
    return ((_norms(_grad(critic, real, fake)) - 1) ** 2).mean()


def gp_one_sided(critic, real, fake, lam=10.0, context=None):
    return lam * (torch.relu(_norms(_grad(critic, real, fake)) - 1) ** 2).mean()  # WGAN-LP, not GP


def gp_detached_grad(critic, real, fake, lam=10.0, context=None):
    grad = _grad(critic, real, fake).detach()  # a stray detach
    return lam * ((_norms(grad) - 1) ** 2).mean()


def gp_image_dims(critic, real, fake, lam=10.0, context=None):
    grad = _grad(critic, real, fake)
    return lam * ((grad.pow(2).sum(dim=(1, 2, 3)).sqrt() - 1) ** 2).mean()  # breaks on (B, 2) points


def gp_batch_norm(critic, real, fake, lam=10.0, context=None):
    return lam * (_grad(critic, real, fake).norm() - 1) ** 2  # one norm over the whole batch


def gp_item(critic, real, fake, lam=10.0, context=None):
    return (lam * ((_norms(_grad(critic, real, fake)) - 1) ** 2).mean()).item()  # a float, no graph


GP_MISTAKES = [
    (gp_no_create_graph, r"create_graph=True"),
    (gp_sum_over_batch, r"summed over the batch.*\.mean\(\)"),
    (gp_no_requires_grad, r"requires_grad"),
    (gp_detached_x_hat, r"requires_grad"),
    (gp_per_pixel_norm, r"per pixel"),
    (gp_one_alpha, r"one a is drawn for the whole batch"),
    (gp_gaussian_alpha, r"N\(0, 1\)"),
    (gp_midpoint, r"a = 0\.5"),
    (gp_per_element_alpha, r"one a per pixel"),
    (gp_squared_norm, r"squared norm"),
    (gp_squared_norm_minus_one, r"squared before subtracting 1"),
    (gp_abs, r"abs\(\|\|grad\|\| - 1\)"),
    (gp_lam_twice, r"lam is applied twice"),
    (gp_no_lam, r"lam is missing"),
    (gp_one_sided, r"one-sided"),
    (gp_detached_grad, r"carries no gradient"),
    (gp_image_dims, r"2-D points"),
    (gp_batch_norm, r"whole batch at once"),
    (gp_item, r"not a tensor"),
]


@pytest.mark.parametrize(("answer", "message"), GP_MISTAKES, ids=[f.__name__ for f, _ in GP_MISTAKES])
def test_gradient_penalty_mistake_is_caught_with_its_cause(answer, message):
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=message) as failure:
        checks.check_gradient_penalty(answer)
    if answer is gp_sum_over_batch:  # the issue: a sum over the batch got the per-sample-norm hint
        assert "per sample over all of" not in str(failure.value)


# --- gradient_penalty: the reference and equivalent answers ----------------------------------------


def gp_swapped_interpolation(critic, real, fake, lam=10.0, context=None):
    a = _alpha(real)
    x_hat = (fake.detach() + a * (real - fake.detach())).requires_grad_(True)  # same x_hat, written otherwise
    (grad,) = torch.autograd.grad(
        critic(x_hat), x_hat, torch.ones(len(real), dtype=real.dtype), create_graph=True
    )
    return lam * ((grad.pow(2).flatten(1).sum(1).sqrt() - 1) ** 2).mean()


def gp_view_norm(critic, real, fake, lam=10.0, context=None):
    grad = _grad(critic, real, fake)
    return F.mse_loss(grad.view(len(grad), -1).norm(2, dim=1), torch.ones(len(grad), dtype=grad.dtype)) * lam


@pytest.mark.parametrize("answer", [gan.gradient_penalty, gp_swapped_interpolation, gp_view_norm])
def test_gradient_penalty_reference_and_equivalents_pass(answer):
    torch.manual_seed(0)
    checks.check_gradient_penalty(answer)


# --- alp_penalty ---------------------------------------------------------------------------------


def _unit(d):
    return d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(_shape(d))


def make_alp(
    through_normalization=False,
    power=True,
    batch_eps=False,
    eps_range_override=None,
    reduce="mean",
    lam_factor=1,
    two_sided=False,
    square=True,
    divide=True,
    detach_scores=False,
    grad_wrt="step",
    gap_reduce="sum",
    start="randn",
    no_graph=False,
):
    """One ALP, with the mistake (or the equivalent variant) given by the keyword."""

    def alp(critic, real, fake, lam=10.0, eps_range=(0.1, 10.0), xi=10.0, power_iterations=1, context=None):
        x = torch.cat([real, fake.detach()])
        scores = critic(x)
        d = torch.randn_like(x) if start == "randn" else torch.rand_like(x) - 0.5
        for _ in range(power_iterations if power else 0):
            if through_normalization:  # the gradient goes through d / ||d||: the literal misreading
                d = d.requires_grad_(True)
                step = xi * _unit(d)
                leaf = d
            elif grad_wrt == "unit":  # the reference code: the gradient with respect to the unit direction
                leaf = _unit(d).requires_grad_(True)
                step = xi * leaf
            else:
                leaf = step = (xi * _unit(d)).requires_grad_(True)
            gap = (scores.detach() - critic(x + step)).abs()
            (d,) = torch.autograd.grad(gap.sum() if gap_reduce == "sum" else gap.mean(), leaf)
        low, high = eps_range_override or eps_range
        eps = torch.empty(1 if batch_eps else len(x), dtype=x.dtype).uniform_(low, high).expand(len(x))
        r = eps.view(_shape(x)) * _unit(d.detach())
        base = scores.detach() if detach_scores else scores
        slope = (base - critic(x + r)).abs() / (eps if divide else 1)
        excess = (slope - 1) if two_sided else torch.relu(slope - 1)
        terms = excess**2 if square else excess
        value = lam * lam_factor * (terms.mean() if reduce == "mean" else terms.sum())
        return value.detach() if no_graph else value

    return alp


ALP_MISTAKES = [
    ("gradient through d / ||d||", make_alp(through_normalization=True), r"through the normalization"),
    ("no power iteration", make_alp(power=False), r"power iteration"),
    ("one eps for the whole batch", make_alp(batch_eps=True), r"one eps is drawn for the whole batch"),
    ("eps from U(0, 1)", make_alp(eps_range_override=(0.0, 1.0)), r"eps_range"),
    ("two-sided", make_alp(two_sided=True), r"one-sided"),
    ("sum over the batch", make_alp(reduce="sum"), r"summed over the batch"),
    ("lam twice", make_alp(lam_factor=10.0), r"lam is applied twice"),
    ("not squared", make_alp(square=False), r"not squared"),
    ("not divided by ||r||", make_alp(divide=False), r"divided by \|\|r\|\| = eps"),
    ("C(x) detached in the slope", make_alp(detach_scores=True), r"C\(x\) must stay in the graph"),
    ("penalty without graph", make_alp(no_graph=True), r"carries no gradient"),
]


@pytest.mark.parametrize(("name", "answer", "message"), ALP_MISTAKES, ids=[m[0] for m in ALP_MISTAKES])
def test_alp_penalty_mistake_is_caught_with_its_cause(name, answer, message):
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=message):
        checks.check_alp_penalty(answer)


ALP_EQUIVALENTS = [
    ("the reference", gan.alp_penalty),
    ("as written in the notebook", make_alp()),
    ("gradient w.r.t. the unit direction (reference code)", make_alp(grad_wrt="unit")),
    ("gap averaged, uniform start", make_alp(gap_reduce="mean", start="uniform")),
    ("reference code style", make_alp(grad_wrt="unit", gap_reduce="mean", start="uniform")),
]


@pytest.mark.parametrize(("name", "answer"), ALP_EQUIVALENTS, ids=[m[0] for m in ALP_EQUIVALENTS])
def test_alp_penalty_reference_and_equivalents_pass(name, answer):
    torch.manual_seed(0)
    checks.check_alp_penalty(answer)
