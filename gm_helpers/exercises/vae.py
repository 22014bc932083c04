"""Checks of exercise 03 (``03_vae``): the reparameterization trick, the negative ELBO, one training
step and the beta sweep.

``check_reparameterize`` looks at the statistics of many samples (mean, variance, independence across
the batch and the latent dimensions) and at the gradients dz/dmu = 1, dz/dlogvar = (z - mu) / 2.
``check_negative_elbo`` compares values and gradients with ``gm.vae.elbo`` and names the classic
mistake whose value matches. ``check_train_step`` runs the participant's step on a copy of a small
VAE, with the reference ``reparameterize`` and ``negative_elbo`` swapped in (a mistake there is
reported by their own checks, not blamed on the step), and compares the parameters after two steps
with those of reference steps with the same noise.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gm_helpers.checks import assert_close, assert_same_gradients
from gm_helpers.train import seeded
from gm_helpers.vae.models import VAE
from gm_helpers.vae.objective import elbo, kl_divergence, reparameterize

__all__ = [
    "check_beta_sweep",
    "check_negative_elbo",
    "check_reparameterize",
    "check_train_step",
    "check_trained_vae",
    "reference_negative_elbo",
]


def reference_negative_elbo(
    x: Tensor, logits: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0
) -> Tensor:
    """The reference answer of ``negative_elbo``: -gm.vae.elbo(...).objective with a Bernoulli decoder."""
    return -elbo(x, logits, mu, logvar, "bernoulli", beta=beta).objective


# --- reparameterize ------------------------------------------------------------------------------

_MU = (2.0, -1.0, 0.5)
_VAR = (1.0, 0.25, 4.0)


def check_reparameterize(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(mu, logvar)`` draws
    z ~ N(mu, exp(logvar)), one independent sample per row and dimension, differentiably."""
    n = 50_000
    mu = torch.tensor([_MU]).repeat(n, 1).requires_grad_(True)
    logvar = torch.tensor([_VAR]).log().repeat(n, 1).requires_grad_(True)
    with seeded(0):
        z = answer(mu, logvar)
    if not isinstance(z, Tensor):
        raise AssertionError(f"reparameterize returned a {type(z).__name__}: return the tensor z")
    if z.shape != mu.shape:
        raise AssertionError(
            f"z has shape {tuple(z.shape)}, expected {tuple(mu.shape)} (one z per row of mu)"
        )
    values = z.detach().double()
    if not torch.isfinite(values).all():
        raise AssertionError(
            "z contains NaN: sigma = sqrt(logvar)? logvar is a log-variance and may be negative; "
            "sigma = exp(0.5 * logvar)"
        )
    if torch.equal(values, mu.detach().double()):
        raise AssertionError(
            "z = mu: no noise is added. z = mu + sigma * eps with eps ~ N(0, I) (torch.randn_like(mu))"
        )
    if torch.all(values == values[:1]):
        raise AssertionError(
            "every row of z is the same: one eps is shared by the whole batch (e.g. torch.randn(D)). "
            "Draw one eps per row and dimension: eps = torch.randn_like(mu)"
        )
    mean, var = values.mean(0), values.var(0)
    if torch.all(var < 1e-12):
        raise AssertionError("z has no spread: add sigma * eps with eps ~ N(0, I)")
    wanted_var = torch.tensor(_VAR, dtype=torch.float64)
    logv = wanted_var.log()
    candidates = [
        (
            wanted_var**2,
            "sigma = exp(logvar) is the variance, not the standard deviation: sigma = exp(0.5 * logvar)",
        ),
        (logv**2, "z = mu + logvar * eps: logvar is the log-variance; sigma = exp(0.5 * logvar)"),
        (logv.abs(), "sigma = sqrt(logvar)? sigma = exp(0.5 * logvar)"),
        (
            wanted_var / 12,
            "the noise is uniform (torch.rand_like); it must be standard normal, torch.randn_like",
        ),
        (wanted_var.sqrt(), "sigma = exp(0.25 * logvar)? sigma = exp(0.5 * logvar)"),
    ]
    if not torch.allclose(var, wanted_var, rtol=0.05):
        cause = next((text for v, text in candidates if torch.allclose(var, v, rtol=0.05, atol=1e-3)), "")
        raise AssertionError(
            f"the sample variance of z is {[round(float(v), 4) for v in var]} where {list(_VAR)} was "
            f"expected. " + (cause or "sigma = exp(0.5 * logvar), z = mu + sigma * eps with eps ~ N(0, I).")
        )
    if not torch.allclose(mean, torch.tensor(_MU, dtype=torch.float64), atol=0.05):
        raise AssertionError(
            f"the sample mean of z is {[round(float(m), 3) for m in mean]} where {list(_MU)} was expected: "
            "z = mu + sigma * eps with eps of mean 0 (torch.randn_like, not torch.rand_like)"
        )
    correlation = torch.corrcoef(((values - mean) / var.sqrt()).T)
    if (correlation - torch.eye(3, dtype=torch.float64)).abs().max() > 0.05:
        raise AssertionError(
            "the latent dimensions of z are correlated: one eps per row is shared by every dimension "
            "(e.g. torch.randn(B, 1)). eps = torch.randn_like(mu), one per row and dimension"
        )
    with seeded(1):
        other = answer(mu, logvar).detach().double()
    if torch.equal(other, values):
        raise AssertionError("z is the same at every call: draw fresh noise each time (no fixed seed inside)")
    if not z.requires_grad:
        raise AssertionError(
            "z carries no gradient: it is sampled, not built from mu and logvar (torch.normal(mu, sigma), "
            "Normal(...).sample() or torch.no_grad). Draw eps = torch.randn_like(mu), then z = mu + "
            "sigma * eps"
        )
    grad_mu, grad_logvar = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    for grad, name in ((grad_mu, "mu"), (grad_logvar, "logvar")):
        if grad is None or not torch.any(grad != 0):
            raise AssertionError(
                f"z passes no gradient to {name}: "
                + (
                    "torch.normal(mu, sigma) and Normal(...).sample() do not pass gradients; "
                    "z = mu + sigma * eps with eps = torch.randn_like(mu) does"
                    if name == "mu"
                    else "is sigma detached, or built from numbers? sigma = torch.exp(0.5 * logvar)"
                )
            )
    assert_close(grad_mu, torch.ones_like(mu), "dz/dmu", rtol=1e-5)
    assert_close(
        grad_logvar, 0.5 * (z - mu).detach(), "dz/dlogvar (should be sigma * eps / 2)", rtol=1e-4, atol=1e-6
    )


# --- negative_elbo -------------------------------------------------------------------------------


def _elbo_cases() -> list[tuple]:
    g = torch.Generator().manual_seed(7)
    cases = []
    for batch, latent, scale, beta in ((5, 3, 1.0, 1.0), (7, 8, 3.0, 4.0)):
        x = (torch.rand(batch, 1, 28, 28, generator=g) < 0.3).float()
        logits = scale * torch.randn(batch, 1, 28, 28, generator=g)
        mu, logvar = torch.randn(batch, latent, generator=g), torch.randn(batch, latent, generator=g)
        cases.append((x, logits, mu, logvar, beta))
    return cases


def _elbo_variants(x: Tensor, logits: Tensor, mu: Tensor, logvar: Tensor, beta: float) -> dict[str, float]:
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    kl_terms = -0.5 * (1 + logvar - mu**2 - logvar.exp())
    kl = kl_terms.sum(1)
    distortion = bce.sum(1)
    mse = (torch.sigmoid(logits) - x).square().flatten(1).sum(1)
    mse_logits = (logits - x).square().flatten(1).sum(1)
    batch = len(x)
    return {
        "the KL term has the wrong sign: -ELBO = distortion + beta * KL, with "
        "KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) >= 0": float((distortion - beta * kl).mean()),
        "the BCE is averaged over the pixels: sum it over the pixels of each image (log p(x|z) is a sum "
        "over independent pixels), then average over the batch": float((bce.mean(1) + beta * kl).mean()),
        "the KL is averaged over the latent dimensions: sum it over them (the KL of independent "
        "dimensions adds up)": float((distortion + beta * kl_terms.mean(1)).mean()),
        "beta multiplies the distortion: only the KL (the rate) is weighted by beta": float(
            (beta * distortion + kl).mean()
        ),
        "beta is ignored: -ELBO_beta = distortion + beta * KL": float((distortion + kl).mean()),
        "the distortion is a squared error (MSE): for binary pixels it is the Bernoulli negative "
        "log-likelihood, "
        "F.binary_cross_entropy_with_logits(logits, x, reduction='none') summed over the pixels": float(
            (mse + beta * kl).mean()
        ),
        "the distortion is a squared error on the logits: it is the Bernoulli negative log-likelihood, "
        "F.binary_cross_entropy_with_logits": float((mse_logits + beta * kl).mean()),
        f"the result is {batch} times too large: it is summed over the batch; return the mean over the "
        f"batch": float((distortion + beta * kl).sum()),
        "the KL misses its factor 1/2: KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar))": float(
            (distortion + 2 * beta * kl).mean()
        ),
        "the KL uses sigma instead of sigma^2: KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar))": float(
            (distortion - 0.5 * beta * (1 + logvar - mu**2 - (0.5 * logvar).exp()).sum(1)).mean()
        ),
        "the ELBO itself is returned: the loss to minimize is its negative": float(
            -(distortion + beta * kl).mean()
        ),
        "the decoder gives logits: use F.binary_cross_entropy_with_logits (not binary_cross_entropy on "
        "the logits)": float("nan"),
    }


def check_negative_elbo(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(x, logits, mu, logvar, beta)``
    is the batch mean of -log p(x|z) + beta KL(q(z|x) || N(0, I)), with the reference's gradients."""
    for number, (x, logits, mu, logvar, beta) in enumerate(_elbo_cases(), start=1):
        leaves = {
            name: t.clone().requires_grad_(True)
            for name, t in (("logits", logits), ("mu", mu), ("logvar", logvar))
        }
        try:
            got = answer(x, leaves["logits"], leaves["mu"], leaves["logvar"], beta)
        except (RuntimeError, ValueError) as error:
            if "between 0 and 1" in str(error) or "binary_cross_entropy" in str(error):
                raise AssertionError(
                    "the decoder gives logits, not probabilities: use F.binary_cross_entropy_with_logits "
                    f"(your code raised {type(error).__name__}: {error})"
                ) from error
            raise
        if not isinstance(got, Tensor):
            raise AssertionError(
                f"negative_elbo returned a {type(got).__name__}: return a scalar tensor (no .item()), "
                f"the loss "
                "that train_step differentiates"
            )
        if got.shape != ():
            raise AssertionError(
                f"negative_elbo returned shape {tuple(got.shape)}: return a scalar, the mean over the batch"
                + (" (this looks like one value per image: take .mean())" if got.shape == (len(x),) else "")
            )
        want = reference_negative_elbo(x, leaves["logits"], leaves["mu"], leaves["logvar"], beta)
        value, wanted = float(got.detach()), float(want.detach())
        if not math.isclose(value, wanted, rel_tol=1e-4, abs_tol=1e-4):
            variants = _elbo_variants(x, logits, mu, logvar, beta)
            cause = next((text for text, v in variants.items() if math.isclose(value, v, rel_tol=1e-4)), "")
            if not cause and math.isnan(value):
                cause = "NaN: use F.binary_cross_entropy_with_logits on the logits"
            raise AssertionError(
                f"case {number} (beta = {beta:g}): negative_elbo is {value:.6g} nats where {wanted:.6g} "
                f"was expected" + (f": {cause}" if cause else "")
            )
        assert_same_gradients(got, want, leaves, what="negative_elbo", rtol=1e-4, atol=1e-6)


# --- train_step ----------------------------------------------------------------------------------


def _reference_step(model, optimizer, x, beta, mistake: str = "") -> dict[str, float]:
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar)
    if mistake == "detach":
        z = z.detach()
    elif mistake == "mean":
        z = mu
    loss = reference_negative_elbo(x, model.decode(z), mu, logvar, 1.0 if mistake == "beta" else beta)
    if mistake != "no_zero_grad":
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    rate = kl_divergence(mu, logvar).mean().item()
    return {"loss": loss.item(), "distortion": loss.item() - beta * rate, "rate": rate}


_STEP_MISTAKES = {
    "detach": "z is detached (z.detach() or z drawn without the reparameterization trick): the encoder gets "
    "no gradient through the reconstruction term. z = reparameterize(mu, logvar), not detached",
    "mean": "z = mu: the decoder is fed the mean, not a sample. Draw z = reparameterize(mu, logvar)",
    "no_zero_grad": "the gradients accumulate from step to step: call optimizer.zero_grad() before "
    "loss.backward()",
    "beta": "beta is not passed on: negative_elbo(x, logits, mu, logvar, beta)",
}


def _parameters(model) -> dict[str, Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _train_twice(step: Callable, model, x: Tensor, beta: float) -> tuple[list, dict[str, Tensor]]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    outputs = []
    for seed in (1, 2):
        with seeded(seed):
            outputs.append(step(model, optimizer, x, beta))
    return outputs, _parameters(model)


def check_train_step(answer: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``answer(model, optimizer, x, beta)``
    takes one correct gradient step and returns floats {'loss', 'distortion', 'rate'}.

    Two steps of ``answer`` on a copy of a small VAE (SGD, the same noise) must leave the same
    parameters as two reference steps; ``reparameterize`` and ``negative_elbo`` are replaced by the
    references while it runs, so only the step itself is checked.
    """
    with seeded(0):
        model = VAE(latent_features=3, hidden=(16,))
        x = (torch.rand(12, 1, 28, 28) < 0.3).float()
    beta = 2.0
    start = _parameters(model)
    namespace = getattr(answer, "__globals__", {})
    swapped = {"reparameterize": reparameterize, "negative_elbo": reference_negative_elbo}
    saved = {name: namespace[name] for name in swapped if name in namespace}
    try:
        namespace.update({name: swapped[name] for name in saved})
        outputs, got = _train_twice(answer, copy.deepcopy(model), x, beta)
    finally:
        namespace.update(saved)
    want_outputs, want = _train_twice(_reference_step, copy.deepcopy(model), x, beta)

    for output in outputs:
        if not isinstance(output, dict) or not {"loss", "distortion", "rate"} <= set(output):
            raise AssertionError(
                f"train_step must return a dict with 'loss', 'distortion' and 'rate', got {output!r:.80}"
            )
        for key in ("loss", "distortion", "rate"):
            if not isinstance(output[key], float):
                raise AssertionError(
                    f"train_step returned {key} as a {type(output[key]).__name__}: return Python floats "
                    "(loss.item()), so that no graph is kept alive from step to step"
                )
    if all(torch.equal(got[name], start[name]) for name in got):
        raise AssertionError(
            "the parameters did not change: call loss.backward() and then optimizer.step() (and "
            "optimizer.zero_grad() before the backward pass, not between backward and step)"
        )
    if not all(torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-6) for name in got):
        for mistake, text in _STEP_MISTAKES.items():
            _, variant = _train_twice(
                lambda m, o, x, b, mistake=mistake: _reference_step(m, o, x, b, mistake),
                copy.deepcopy(model),
                x,
                beta,
            )
            if all(torch.allclose(got[name], variant[name], rtol=1e-4, atol=1e-6) for name in got):
                raise AssertionError(
                    f"the parameters after two steps differ from the reference steps: {text}"
                )
        wrong = [name for name in got if not torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-6)]
        raise AssertionError(
            f"the parameters after two steps differ from two reference steps with the same noise "
            f"(first: {wrong[0]}). "
            "One step: mu, logvar = model.encode(x); z = reparameterize(mu, logvar); "
            "loss = negative_elbo(x, model.decode(z), mu, logvar, beta); zero_grad, backward, step"
        )
    for output, wanted in zip(outputs, want_outputs, strict=True):
        if not math.isclose(output["loss"], wanted["loss"], rel_tol=1e-4):
            raise AssertionError(
                f"train_step returned loss {output['loss']:.6g} where {wanted['loss']:.6g} was "
                f"expected: return "
                "the loss of the batch, computed before the step"
            )
        if not math.isclose(output["rate"], wanted["rate"], rel_tol=1e-3, abs_tol=1e-4):
            raise AssertionError(
                f"train_step returned rate {output['rate']:.6g} where {wanted['rate']:.6g} was "
                f"expected: the rate "
                "is the batch mean of the KL, without beta"
            )
        if not math.isclose(output["distortion"], wanted["distortion"], rel_tol=1e-3, abs_tol=1e-3):
            raise AssertionError(
                f"train_step returned distortion {output['distortion']:.6g} where "
                f"{wanted['distortion']:.6g} was "
                "expected: the distortion is the batch mean of -log p(x|z), loss - beta * rate"
            )


# --- the trained model and the sweep --------------------------------------------------------------


def check_trained_vae(history, rate: float, distortion: float, bound: float) -> None:
    """The training run of step 3: the loss went down, loss = distortion + rate (beta = 1), and the test
    negative ELBO (rate + distortion, nats) is below ``bound``."""
    loss = np.asarray(history["loss"])
    if not set(history) >= {"loss", "distortion", "rate"}:
        raise AssertionError(f"history has {sorted(history)}, expected loss, distortion and rate")
    if not loss[-20:].mean() < 0.8 * loss[:20].mean():
        raise AssertionError("the loss barely went down: is the optimizer stepping?")
    if not np.allclose(loss, np.asarray(history["distortion"]) + np.asarray(history["rate"]), rtol=1e-3):
        raise AssertionError("for beta = 1 the loss must be distortion + rate")
    if not rate + distortion < bound:
        raise AssertionError(f"test negative ELBO {rate + distortion:.0f} nats; expected < {bound:g}")


def check_beta_sweep(rates, distortions, betas) -> None:
    """One (rate, distortion) per beta; from the first beta to the last the rate falls and the distortion
    rises."""
    if not len(rates) == len(betas) == len(distortions):
        raise AssertionError(
            f"{len(rates)} rates and {len(distortions)} distortions for {len(betas)} betas: one of each "
            f"per beta"
        )
    if not all(isinstance(v, float) for v in [*rates, *distortions]):
        raise AssertionError("rates and distortions must be floats (from rate_distortion)")
    if not rates[0] > rates[-1]:
        raise AssertionError(
            "the rate (KL) must fall as beta grows: is each model trained with its own beta?"
        )
    if not distortions[0] < distortions[-1]:
        raise AssertionError(
            "the distortion must rise as beta grows: is each model trained with its own beta?"
        )
