"""Checks of exercise 02 (``02_wgan``): a participant's gradient penalty and ALP against values and
gradients worked out by hand.

Both checks use critics whose answer is known in closed form. A linear critic C(x) = <w, x> has
gradient w everywhere, so its gradient penalty is lam (||w|| - 1)^2 and its ALP lam max(0, ||w|| - 1)^2
(power iteration finds the direction of w in one step), whatever the random numbers; with w a leaf
tensor, the gradient of the penalty with respect to w is known as well, which catches a penalty that
carries no graph (a missing ``create_graph=True``). A wrong value is compared with the values the
classic mistakes give (a norm per pixel, a sum over the batch, lam twice, ...) and the message names
the one that matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gm_helpers.checks import assert_close
from gm_helpers.train import seeded

__all__ = ["check_alp_penalty", "check_gradient_penalty"]

_NO_GRAD_INPUT = (
    "autograd could not differentiate with respect to x_hat: x_hat does not require grad. Build "
    "x_hat = a * real + (1 - a) * fake, then call x_hat.requires_grad_(True) on it (after any .detach(), "
    "not before) and take torch.autograd.grad(scores.sum(), x_hat, create_graph=True)"
)


_ONE_A_PER_SAMPLE = "Draw one a ~ U(0, 1) per sample, shaped (B, 1, 1, 1) to broadcast over the image."


def _weights(shape: tuple[int, ...], norm: float, seed: int) -> Tensor:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (w * norm / w.norm()).requires_grad_(True)


def _linear(w: Tensor) -> Callable[[Tensor], Tensor]:
    return lambda x: (x * w).flatten(1).sum(1)


def _pair(seed: int, shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(
        shape, generator=g, dtype=torch.float64
    )


def _value(x) -> float:
    return float(torch.as_tensor(x).detach())


def _call(penalty: Callable, *args, where: str = "", **kwargs):
    """Call the participant's penalty; translate the autograd errors of the classic mistakes."""
    try:
        return penalty(*args, **kwargs)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        if "does not require grad" in str(error):
            raise AssertionError(_NO_GRAD_INPUT) from error
        raise AssertionError(f"{where}your code raised RuntimeError: {error}") from error
    except Exception as error:
        if not where:
            raise
        raise AssertionError(
            f"{where}your code raised {type(error).__name__}: {error}. Does it assume images (B, C, H, W)? "
            "Flatten per sample (x.flatten(1)) and shape per-sample factors as (B, 1, ..., 1) for any ndim."
        ) from error


def _diagnose(got: dict[float, float], candidates: dict[str, dict[float, float]], rtol: float = 1e-5) -> str:
    """The message of the first mistake whose values match every value got, else ''."""
    for message, values in candidates.items():
        if all(math.isclose(got[k], values[k], rel_tol=rtol, abs_tol=1e-8) for k in got):
            return " " + message
    return ""


def _check_penalty_gradient(value, w: Tensor, want: Tensor, name: str) -> None:
    if not isinstance(value, Tensor):
        raise AssertionError(
            f"the {name} is a {type(value).__name__}, not a tensor: return a torch tensor (no .item()), "
            "so that the critic can be trained on it"
        )
    if not value.requires_grad:
        raise AssertionError(
            f"the {name} carries no gradient to the critic's parameters: it is cut from the autograd graph. "
            + (
                "Pass create_graph=True to torch.autograd.grad, so that the gradient norm can itself be "
                "differentiated (without it WGAN-GP trains with no penalty at all); no .detach() on the "
                "gradient."
                if name == "gradient penalty"
                else "Keep C(x) and C(x + r) in the graph (no torch.no_grad, .item() or .detach() on them)."
            )
        )
    (grad,) = torch.autograd.grad(value, w, allow_unused=True)
    if grad is None or not torch.any(grad != 0):
        raise AssertionError(
            f"the {name} passes no gradient to the critic's parameters: a .detach() or torch.no_grad() "
            f"cuts it"
            + (" (is create_graph=True passed to torch.autograd.grad?)" if name == "gradient penalty" else "")
        )
    assert_close(
        grad, want, f"the gradient of the {name} with respect to the critic's weights", rtol=1e-6, atol=1e-9
    )


def check_gradient_penalty(penalty: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``penalty`` computes the WGAN-GP term.

    1. Linear critics C(x) = <w, x> on images (B, 3, 8, 8) and on points (B, 2): the penalty is
       lam (||w|| - 1)^2 exactly, whatever the interpolation, and its gradient with respect to w is
       2 lam (||w|| - 1) w / ||w||; a penalty without ``create_graph=True`` has none.
    2. A quadratic critic 0.5 ||x||^2 with real = 0 and fake on the unit sphere: x_hat = (1 - a) fake,
       the penalty is lam E[a^2] = lam / 3 only for one a ~ U(0, 1) per sample.
    """
    lam = 10.0
    real, fake = _pair(0, (64, 3, 8, 8))
    batch = len(real)
    got, values, weights = {}, {}, {}
    for norm in (2.0, 0.5, 1.0, 3.0):
        w = _weights(real.shape[1:], norm, seed=1)
        values[norm] = _call(penalty, _linear(w), real, fake, lam=lam)
        got[norm], weights[norm] = _value(values[norm]), w
    want = {n: lam * (n - 1) ** 2 for n in got}
    if any(not math.isclose(got[n], want[n], rel_tol=1e-6, abs_tol=1e-8) for n in got):
        per_pixel = {n: lam * _value(((w.norm(dim=0) - 1) ** 2).mean()) for n, w in weights.items()}
        candidates = {
            "The norm is taken per pixel (over the channels only, e.g. grad.norm(dim=1) on images): take it "
            "per sample over all of (C, H, W): grad.flatten(1).norm(dim=1).": per_pixel,
            f"The penalty is {batch} times too large: it is summed over the batch. Average it (.mean()): "
            "the penalty is the expectation E[...], not a sum.": {n: batch * v for n, v in want.items()},
            "The norm is taken over the whole batch at once (grad.norm()): take one norm per sample, "
            "grad.flatten(1).norm(dim=1).": {n: lam * (batch**0.5 * n - 1) ** 2 for n in got},
            "lam is applied twice (the result is lam^2 (||grad|| - 1)^2): multiply by lam once.": {
                n: lam * v for n, v in want.items()
            },
            "lam is missing: the penalty is lam * E[(||grad|| - 1)^2].": {
                n: v / lam for n, v in want.items()
            },
            "This penalizes the squared norm ||grad||^2 itself (towards 0): the penalty is (||grad|| - 1)^2, "
            "which pulls the norm towards 1.": {n: lam * n**2 for n in got},
            "The norm is squared before subtracting 1 ((||grad||^2 - 1)^2): use the norm itself, "
            "(||grad|| - 1)^2.": {n: lam * (n**2 - 1) ** 2 for n in got},
            "abs(||grad|| - 1) is used instead of the square (||grad|| - 1)^2.": {
                n: lam * abs(n - 1) for n in got
            },
            "(||grad|| - 1) is not squared.": {n: lam * (n - 1) for n in got},
            "Only norms above 1 are penalized (one-sided, max(0, ||grad|| - 1)^2): WGAN-GP penalizes "
            "both sides, "
            "(||grad|| - 1)^2.": {n: lam * max(0.0, n - 1) ** 2 for n in got},
        }
        cause = _diagnose(got, candidates) or " Is the norm taken per sample over all of (C, H, W)?"
        worst = max(got, key=lambda n: abs(got[n] - want[n]))
        raise AssertionError(
            f"linear critic C(x) = <w, x> with ||w|| = {worst:g} on images (B, 3, 8, 8): penalty "
            f"{got[worst]:.6g}, expected lam (||w|| - 1)^2 = {want[worst]:.6g}.{cause}"
        )
    for norm in (2.0, 0.5, 3.0):
        w = weights[norm]
        _check_penalty_gradient(values[norm], w, 2 * lam * (norm - 1) * w.detach() / norm, "gradient penalty")

    # points (B, 2), the data of step 3
    real2, fake2 = _pair(5, (256, 2))
    w = _weights((2,), 2.0, seed=6)
    where = "on 2-D points (B, 2), the data of step 3: "
    value = _call(penalty, _linear(w), real2, fake2, lam=lam, where=where)
    if not math.isclose(_value(value), lam, rel_tol=1e-6):
        raise AssertionError(
            f"{where}linear critic with ||w|| = 2: penalty {_value(value):.6g}, expected {lam:g}. Is the "
            "norm taken per sample over every non-batch dimension (grad.flatten(1).norm(dim=1)), with a "
            "shaped (B, 1, ..., 1) for any number of dimensions?"
        )

    # the interpolation: real = 0, fake on the unit sphere, C = 0.5 ||x||^2, so ||grad C(x_hat)|| = 1 - a
    lam = 3.0
    results = []
    for seed in range(3):
        with seeded(seed):  # the participant's random state is left alone
            unit = F.normalize(torch.randn(20_000, 18, dtype=torch.float64), dim=1).view(-1, 2, 3, 3)
            quadratic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
            results.append(_value(_call(penalty, quadratic, torch.zeros_like(unit), unit, lam=lam)))
    mean = sum(results) / len(results)
    if max(results) - min(results) > 0.05 * lam / 3:
        raise AssertionError(
            f"quadratic critic: the penalty jumps from run to run ({', '.join(f'{r:.3g}' for r in results)}; "
            "expected lam / 3 = 1 every time): one a is drawn for the whole batch. Draw one a ~ U(0, 1) per "
            "sample: torch.rand(B, 1, 1, 1) for images (shape (B, 1, ..., 1) in general)."
        )
    if abs(mean - 1.0) > 0.03:
        with seeded(0):
            per_element = (1 - torch.rand(20_000, 18, dtype=torch.float64)) * F.normalize(
                torch.randn(20_000, 18, dtype=torch.float64), dim=1
            )
            per_element = lam * _value(((per_element.norm(dim=1) - 1) ** 2).mean())
            gaussian = lam * _value((((1 - torch.randn(200_000, dtype=torch.float64)).abs() - 1) ** 2).mean())
        causes = [
            (gaussian, "a ~ N(0, 1) (torch.randn): a is uniform on [0, 1], torch.rand."),
            (lam * 0.25, "a fixed a = 0.5 (the midpoint): draw a ~ U(0, 1), one per sample, torch.rand."),
            (per_element, "one a per pixel (torch.rand_like(real)): x_hat must lie on the line from "
                "fake to real, "
             "one a per sample, shaped (B, 1, 1, 1)."),
        ]  # fmt: skip
        cause = next((text for value, text in causes if abs(mean - value) < 0.05 * value), "")
        raise AssertionError(
            f"quadratic critic: penalty {mean:.4g}, expected lam E[a^2] = lam / 3 = 1 for a ~ U(0, 1) "
            f"drawn per sample. {cause or _ONE_A_PER_SAMPLE}"
        )


def check_alp_penalty(penalty: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``penalty`` computes the WGAN-ALP term.

    1. Linear critics C(x) = <w, x> in 50 dimensions with Lipschitz constant L = ||w||: one power-iteration
       step taken with respect to the (normalized) step itself points exactly along w, so the penalty is
       lam max(0, L - 1)^2 whatever the random numbers, and its gradient with respect to w is
       2 lam max(0, L - 1) w / ||w||. A random direction sees a slope ~ L / 7; the gradient taken
       through d / ||d|| has its component along d projected out and sees a slope a little below L.
    2. The same on images (B, 3, 8, 8).
    3. A quadratic critic x_1^2 at x = 0: the slope is eps itself, so the penalty averages
       lam max(0, eps - 1)^2 over eps ~ U(0.1, 10) (lam * 24.55); one eps for the whole batch makes it
       jump from run to run.
    """
    lam = 10.0
    x = torch.randn(64, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    direction = F.normalize(
        torch.randn(50, generator=torch.Generator().manual_seed(3), dtype=torch.float64), dim=0
    )
    got, values, weights = {}, {}, {}
    for lipschitz in (0.5, 1.0, 3.0, 2.0):
        w = (lipschitz * direction).requires_grad_(True)
        values[lipschitz] = _call(penalty, _linear(w), x, x.flip(0), lam=lam)
        got[lipschitz], weights[lipschitz] = _value(values[lipschitz]), w
    want = {k: lam * max(0.0, k - 1) ** 2 for k in got}
    if any(not math.isclose(got[k], want[k], rel_tol=1e-6, abs_tol=1e-8) for k in got):
        samples = 2 * len(x)
        candidates = {
            "Only slopes above 1 may be penalized: keep max(0, slope - 1) (torch.relu) before squaring; "
            "ALP is one-sided.": {k: lam * (k - 1) ** 2 for k in got},
            f"The penalty is {samples} times too large: it is summed over the batch (real and fake together, "
            f"{samples} samples). Average it (.mean()).": {k: samples * v for k, v in want.items()},
            f"The penalty is {len(x)} times too large: it is summed over the batch. Average it (.mean()).": {
                k: len(x) * v for k, v in want.items()
            },
            "lam is applied twice: multiply by lam once.": {k: lam * v for k, v in want.items()},
            "lam is missing: the penalty is lam * E[max(0, slope - 1)^2].": {
                k: v / lam for k, v in want.items()
            },
            "max(0, slope - 1) is not squared.": {k: lam * max(0.0, k - 1) for k in got},
        }
        cause = _diagnose(got, candidates)
        if not cause and 0.5 * want[3.0] < got[3.0] < want[3.0]:
            cause = (
                " The step is almost, but not exactly, along the steepest direction: the "
                "power-iteration gradient "
                "was probably taken through the normalization (d a leaf, then x + xi * d / ||d||), "
                "which projects "
                "out its component along d. Normalize first, make the normalized step the leaf "
                "(u = d / ||d||, then u.requires_grad_(True)) and differentiate with respect to it, as in "
                "Terjék's reference code: d <- grad_u |C(x) - C(x + xi u)|."
            )
        elif not cause and got[3.0] < 0.5 * want[3.0]:
            cause = (
                " The step r does not point along the steepest direction: is it found by power iteration "
                "(d <- grad_u |C(x) - C(x + xi u)|, then r = eps d / ||d||), and is the slope divided "
                "by ||r|| = eps?"
            )
        elif not cause and got[3.0] > want[3.0]:
            cause = " Is the slope |C(x) - C(x + r)| divided by ||r|| = eps (one eps per sample)?"
        worst = max(got, key=lambda k: abs(got[k] - want[k]))
        raise AssertionError(
            f"linear critic with Lipschitz constant {worst:g}: penalty {got[worst]:.6g}, expected "
            f"lam max(0, L - 1)^2 = {want[worst]:.6g}.{cause}"
        )
    for lipschitz in (3.0, 2.0):
        w = weights[lipschitz]
        want_grad = 2 * lam * (lipschitz - 1) * direction
        try:
            _check_penalty_gradient(values[lipschitz], w, want_grad, "adversarial Lipschitz penalty")
        except AssertionError as error:
            if "carries no" in str(error) or "passes no" in str(error) or "not a tensor" in str(error):
                raise
            raise AssertionError(
                f"{error}. C(x) must stay in the graph in the slope |C(x) - C(x + r)| / eps (detach it only "
                "inside power iteration), and r = eps d / ||d|| must use the power-iteration direction d "
                "as a constant"
            ) from error

    real, fake = _pair(3, (64, 3, 8, 8))
    w = _weights(real.shape[1:], 2.0, seed=4)
    where = "on images (B, 3, 8, 8): "
    value = _value(_call(penalty, _linear(w), real, fake, lam=lam, where=where))
    if abs(value - lam) > 1e-6:
        raise AssertionError(
            f"{where}linear critic with ||w|| = 2: penalty {value:.6g}, expected 10. Norms are per "
            f"sample over "
            "all non-batch dimensions (d.flatten(1).norm(dim=1)), eps shaped (2B, 1, 1, 1) to broadcast."
        )

    # eps: C(x) = x_1^2 at x = 0 has slope |C(0) - C(eps e_1)| / eps = eps along the steepest direction e_1
    zeros = torch.zeros(10_000, 3, dtype=torch.float64)
    expected = lam * 9.0**3 / 3 / 9.9  # lam * E[max(0, eps - 1)^2], eps ~ U(0.1, 10)
    results = []
    for seed in range(4):
        with seeded(seed):
            results.append(_value(_call(penalty, lambda x: x[:, 0] ** 2, zeros, zeros, lam=lam)))
    if max(results) - min(results) > 0.1 * expected:
        raise AssertionError(
            f"critic x_1^2 at x = 0, where the slope is eps: the penalty jumps from run to run "
            f"({', '.join(f'{r:.4g}' for r in results)}; expected about {expected:.4g} every time): one "
            f"eps is "
            "drawn for the whole batch. Draw one eps ~ U(0.1, 10) per sample (real and fake together): "
            "torch.empty(2B).uniform_(*eps_range), shaped (2B, 1, ..., 1) for the step."
        )
    mean = sum(results) / len(results)
    if abs(mean - expected) > 0.05 * expected:
        raise AssertionError(
            f"critic x_1^2 at x = 0, where the slope is eps: penalty {mean:.4g}, expected "
            f"lam E[max(0, eps - 1)^2] = {expected:.4g} for eps ~ U(eps_range) = U(0.1, 10) per sample. "
            f"Is eps "
            "drawn uniformly from eps_range, and r = eps d / ||d|| (so that ||r|| = eps)?"
        )
