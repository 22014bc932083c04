"""Catalogue of known wrong answers of exercise 03 (``03_vae``): each must fail its check with a
message that names its cause; the reference and the equivalent formulations must pass."""

import types

import pytest
import torch
import torch.nn.functional as F

from gm_helpers import vae
from gm_helpers.exercises import vae as checks

# --- reparameterize ------------------------------------------------------------------------------


def rep_exp_logvar(mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu)  # sigma = exp(logvar): the variance


def rep_sqrt_logvar(mu, logvar):
    return mu + torch.sqrt(logvar) * torch.randn_like(mu)  # logvar may be negative: NaN


def rep_logvar_times_eps(mu, logvar):
    return mu + logvar * torch.randn_like(mu)


def rep_torch_normal(mu, logvar):
    return torch.normal(mu, torch.exp(0.5 * logvar))  # right numbers, zero gradient


def rep_distribution_sample(mu, logvar):
    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample()  # no graph


def rep_shared_eps(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[1])  # one eps for the whole batch


def rep_shared_across_dims(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn(len(mu), 1)  # one eps per row, all dimensions


def rep_mean_only(mu, logvar):
    return mu  # z = mu


def rep_uniform_noise(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.rand_like(mu)


def rep_detached_sigma(mu, logvar):
    return mu + torch.exp(0.5 * logvar).detach() * torch.randn_like(mu)


def rep_fixed_seed(mu, logvar):
    generator = torch.Generator().manual_seed(0)  # the same noise at every call
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)


REP_MISTAKES = [
    (rep_exp_logvar, r"exp\(logvar\) is the variance"),
    (rep_sqrt_logvar, r"sqrt\(logvar\)"),
    (rep_logvar_times_eps, r"logvar \* eps"),
    (rep_torch_normal, r"torch\.normal"),
    (rep_distribution_sample, r"no gradient.*\.sample\(\)"),
    (rep_shared_eps, r"shared by the whole batch"),
    (rep_shared_across_dims, r"correlated.*shared by every dimension"),
    (rep_mean_only, r"z = mu"),
    (rep_uniform_noise, r"uniform"),
    (rep_detached_sigma, r"no gradient to logvar"),
    (rep_fixed_seed, r"fresh noise"),
]


@pytest.mark.parametrize(("answer", "message"), REP_MISTAKES, ids=[f.__name__ for f, _ in REP_MISTAKES])
def test_reparameterize_mistake_is_caught_with_its_cause(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_reparameterize(answer)


def rep_rsample(mu, logvar):
    return torch.distributions.Normal(mu, (0.5 * logvar).exp()).rsample()


def rep_randn_shape(mu, logvar):
    return torch.randn(mu.shape) * logvar.div(2).exp() + mu


@pytest.mark.parametrize("answer", [vae.reparameterize, rep_rsample, rep_randn_shape])
def test_reparameterize_reference_and_equivalents_pass(answer):
    checks.check_reparameterize(answer)


# --- negative_elbo -------------------------------------------------------------------------------


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _kl(mu, logvar):
    return -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)


def elbo_kl_sign(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) - beta * _kl(mu, logvar)).mean()


def elbo_pixel_mean(x, logits, mu, logvar, beta=1.0):
    return (
        F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)
        + beta * _kl(mu, logvar)
    ).mean()


def elbo_beta_on_distortion(x, logits, mu, logvar, beta=1.0):
    return (beta * _bce(logits, x) + _kl(mu, logvar)).mean()


def elbo_beta_ignored(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + _kl(mu, logvar)).mean()


def elbo_mse(x, logits, mu, logvar, beta=1.0):
    mse = F.mse_loss(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1)
    return (mse + beta * _kl(mu, logvar)).mean()


def elbo_batch_sum(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + beta * _kl(mu, logvar)).sum()  # no batch mean


def elbo_per_image(x, logits, mu, logvar, beta=1.0):
    return _bce(logits, x) + beta * _kl(mu, logvar)  # one value per image


def elbo_kl_latent_mean(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) - 0.5 * beta * (1 + logvar - mu**2 - logvar.exp()).mean(1)).mean()


def elbo_kl_no_half(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) - beta * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()


def elbo_bce_on_logits(x, logits, mu, logvar, beta=1.0):
    # logits are not probabilities
    bce = F.binary_cross_entropy(logits, x, reduction="none").flatten(1).sum(1)
    return (bce + beta * _kl(mu, logvar)).mean()


def elbo_item(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + beta * _kl(mu, logvar)).mean().item()


def elbo_detached_kl(x, logits, mu, logvar, beta=1.0):
    return (_bce(logits, x) + beta * _kl(mu.detach(), logvar.detach())).mean()  # a stray detach


def elbo_positive(x, logits, mu, logvar, beta=1.0):
    return -(_bce(logits, x) + beta * _kl(mu, logvar)).mean()  # the ELBO, not its negative


ELBO_MISTAKES = [
    (elbo_kl_sign, r"KL term has the wrong sign"),
    (elbo_pixel_mean, r"averaged over the pixels"),
    (elbo_beta_on_distortion, r"beta multiplies the distortion"),
    (elbo_beta_ignored, r"beta is ignored"),
    (elbo_mse, r"squared error"),
    (elbo_batch_sum, r"summed over the batch"),
    (elbo_per_image, r"one value per image"),
    (elbo_kl_latent_mean, r"averaged over the latent dimensions"),
    (elbo_kl_no_half, r"factor 1/2"),
    (elbo_bce_on_logits, r"with_logits"),
    (elbo_item, r"scalar tensor"),
    (elbo_detached_kl, r"does not pass any gradient to mu"),
    (elbo_positive, r"its negative"),
]


@pytest.mark.parametrize(("answer", "message"), ELBO_MISTAKES, ids=[f.__name__ for f, _ in ELBO_MISTAKES])
def test_negative_elbo_mistake_is_caught_with_its_cause(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_negative_elbo(answer)


def elbo_with_sigmoid(x, logits, mu, logvar, beta=1.0):
    bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / len(x)
    return bce + beta * vae.kl_divergence(mu, logvar).mean()


def elbo_distributions(x, logits, mu, logvar, beta=1.0):
    log_p = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return (-log_p + beta * torch.distributions.kl_divergence(q, p).sum(1)).mean()


@pytest.mark.parametrize("answer", [checks.reference_negative_elbo, elbo_with_sigmoid, elbo_distributions])
def test_negative_elbo_reference_and_equivalents_pass(answer):
    checks.check_negative_elbo(answer)


# --- train_step ----------------------------------------------------------------------------------
# The steps call the module-level names `reparameterize` and `negative_elbo`, as in the notebook.

reparameterize = vae.reparameterize
negative_elbo = checks.reference_negative_elbo


def _terms(loss, mu, logvar, beta):
    rate = vae.kl_divergence(mu, logvar).mean().item()
    return {"loss": loss.item(), "distortion": loss.item() - beta * rate, "rate": rate}


def step_reference(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(reparameterize(mu, logvar)), mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return _terms(loss, mu, logvar, beta)


def step_escape(model, optimizer, x, beta=1.0):
    terms = model.elbo(x, beta=beta)  # the escape cell's version
    loss = -terms.objective
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "distortion": -terms.reconstruction.item(), "rate": terms.kl.item()}


def step_detached_z(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar).detach()  # the bug
    loss = negative_elbo(x, model.decode(z), mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return _terms(loss, mu, logvar, beta)


def step_z_is_mu(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(mu), mu, logvar, beta)  # the bug: z = mu
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return _terms(loss, mu, logvar, beta)


def step_no_zero_grad(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(reparameterize(mu, logvar)), mu, logvar, beta)
    loss.backward()  # gradients accumulate
    optimizer.step()
    return _terms(loss, mu, logvar, beta)


def step_no_optimizer_step(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(reparameterize(mu, logvar)), mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    return _terms(loss, mu, logvar, beta)


def step_zero_grad_after_backward(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(reparameterize(mu, logvar)), mu, logvar, beta)
    loss.backward()
    optimizer.zero_grad()  # wipes the gradients before the step
    optimizer.step()
    return _terms(loss, mu, logvar, beta)


def step_returns_tensors(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(reparameterize(mu, logvar)), mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    rate = vae.kl_divergence(mu, logvar).mean()
    return {"loss": loss, "distortion": loss - beta * rate, "rate": rate}  # tensors, graphs kept alive


def step_ignores_beta(model, optimizer, x, beta=1.0):
    mu, logvar = model.encode(x)
    loss = negative_elbo(x, model.decode(reparameterize(mu, logvar)), mu, logvar)  # beta not passed on
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return _terms(loss, mu, logvar, beta)


def step_rate_with_beta(model, optimizer, x, beta=1.0):
    terms = step_reference(model, optimizer, x, beta)
    return {**terms, "rate": beta * terms["rate"]}  # the rate is the KL itself, without beta


STEP_MISTAKES = [
    (step_detached_z, r"z is detached"),
    (step_z_is_mu, r"z = mu"),
    (step_no_zero_grad, r"zero_grad"),
    (step_no_optimizer_step, r"did not change.*optimizer\.step\(\)"),
    (step_zero_grad_after_backward, r"did not change.*not between backward and step"),
    (step_returns_tensors, r"Python floats"),
    (step_ignores_beta, r"beta is not passed on"),
    (step_rate_with_beta, r"rate.*without beta"),
]


@pytest.mark.parametrize(("answer", "message"), STEP_MISTAKES, ids=[f.__name__ for f, _ in STEP_MISTAKES])
def test_train_step_mistake_is_caught_with_its_cause(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_train_step(answer)


def _with_globals(function, **names):
    return types.FunctionType(function.__code__, {**function.__globals__, **names}, function.__name__)


@pytest.mark.parametrize(
    "answer",
    [
        step_reference,
        step_escape,
        # a wrong negative_elbo or reparameterize is not blamed on train_step: the check swaps in
        # the references
        _with_globals(step_reference, negative_elbo=elbo_kl_sign),
        _with_globals(step_reference, negative_elbo=elbo_item),
        _with_globals(step_reference, reparameterize=rep_mean_only),
    ],
    ids=[
        "reference",
        "escape",
        "wrong negative_elbo",
        "negative_elbo returns a float",
        "wrong reparameterize",
    ],
)
def test_train_step_reference_passes_and_earlier_answers_are_not_blamed(answer):
    namespace = answer.__globals__
    before = {name: namespace.get(name) for name in ("reparameterize", "negative_elbo")}
    checks.check_train_step(answer)
    assert {name: namespace.get(name) for name in before} == before  # the participant's names are restored


# --- beta_sweep ----------------------------------------------------------------------------------

BETAS = [0.1, 1.0, 10.0]
SWEEP_MISTAKES = [
    (([30.0, 20.0], [80.0, 90.0]), r"2 rates .* for 3 betas"),  # a beta left out
    (([20.0, 20.0, 20.0], [90.0, 90.0, 90.0]), r"rate .* must fall"),  # every model trained with beta = 1
    (([30.0, 20.0, 5.0], [95.0, 90.0, 80.0]), r"distortion must rise"),  # the lists swapped round
    (([torch.tensor(30.0), 20.0, 5.0], [80.0, 90.0, 150.0]), r"floats"),
]


@pytest.mark.parametrize(("result", "message"), SWEEP_MISTAKES)
def test_beta_sweep_mistake_is_caught(result, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_beta_sweep(*result, BETAS)


def test_beta_sweep_trend_passes():
    checks.check_beta_sweep([30.0, 20.0, 5.0], [80.0, 90.0, 150.0], BETAS)
