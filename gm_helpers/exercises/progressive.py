"""Checks of exercise 09 (``09_high_resolution_images``): the two pieces of the progressive GAN
(Karras et al., arXiv:1710.10196) that the participant writes, the fade-in of a new stage (section 2,
Figure 2) and the minibatch standard deviation layer (section 3).

- ``check_fade_in``: ``my_fade_in(alpha, low, high)`` with the previous stage's output ``low``
  (B, C, r/2, r/2) and the new stage's ``high`` (B, C, r, r), on random images of three shapes at
  alpha = 0, 0.25, 0.6 and 1 (floats, as ``gm.gan.fade_in`` takes), against
  ``(1 - alpha) * up(low) + alpha * high`` with ``up`` the nearest-neighbour doubling written here
  with ``repeat_interleave`` (the package uses ``F.interpolate(scale_factor=2, mode="nearest")``).
  The inputs must come back unchanged (no in-place blend), and the gradients with respect to both
  inputs must be the reference's. A wrong value is compared with the classic mistakes (the weights
  swapped, alpha ignored, bilinear or bicubic upsampling, the image tiled instead of its pixels
  repeated, zeros inserted between the pixels, the blend done at the low resolution, a weight
  missing, ...) and the message names the one that matches.
- ``check_minibatch_stddev``: the class is built as ``cls(group_size=4)`` (and ``cls()``, which must
  mean the same): an ``nn.Module`` without trainable parameters that maps x (B, C, H, W) to
  (B, C + 1, H, W), x unchanged in the first C channels, the last one a constant map per sample:
  the population standard deviation sqrt(var + 1e-8) of every feature at every pixel across the G
  samples of the sample's group (sample i in group i mod (B / G), G the largest divisor of B not
  above ``group_size``), averaged over the features and the pixels. The reference is written here
  with a loop over the groups (independent of the package's ``MinibatchStdDev``, which the tests
  compare with it). Cases: random features (B = 8, G = 4), a batch whose consecutive halves are
  near-copies (consecutive groups would see almost no spread, groups i mod 2 a large one), B = 6
  (G = 3), ``group_size=2``, two samples, groups of identical samples (the map is then
  sqrt(1e-8) = 1e-4 and the gradient finite: only the + 1e-8 inside the square root gives both),
  and the gradient of the map with respect to x. A wrong map is compared with the classic mistakes
  (the sample standard deviation, consecutive groups, the whole batch as one group, the spread over
  the channels of each sample, the average over the channels only, the variance, ...).

Inputs are drawn from private generators: the participant's random state is left alone. Every
check turns an error of the participant's code into an ``AssertionError`` that names a likely cause
(``NotImplementedError``, the untouched stub, passes through as is).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_helpers.checks import assert_close, assert_same_gradients, call_answer

__all__ = ["check_fade_in", "check_minibatch_stddev"]

_EPS = 1e-8
_RTOL, _ATOL = 1e-4, 1e-6  # float32 inputs


def _randn(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _close(a: Tensor, b: Tensor) -> bool:
    a, b = a.detach().double(), b.detach().double()
    return a.shape == b.shape and bool(torch.all(torch.isfinite(a))) and torch.allclose(a, b, _RTOL, _ATOL)


# --------------------------------------------------------------------------------------------------
# Step 1: the fade-in

_FADE_SHAPES = ((4, 2, 8, 8), (3, 1, 4, 4), (2, 3, 2, 2))  # low (B, C, r/2, r/2); high is (B, C, r, r)
_ALPHAS = (0.0, 0.25, 0.6, 1.0)
_NEAREST = 'F.interpolate(low, scale_factor=2, mode="nearest")'
_BLEND = f"up = {_NEAREST}, then (1 - alpha) * up + alpha * high"


def _double(low: Tensor) -> Tensor:
    """Nearest-neighbour upsampling by 2: each pixel repeated along the height and the width."""
    return low.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def _reference_fade(alpha: float, low: Tensor, high: Tensor) -> Tensor:
    return (1 - alpha) * _double(low) + alpha * high


def _smooth(low: Tensor, mode: str, align_corners: bool) -> Tensor:
    return F.interpolate(low, scale_factor=2, mode=mode, align_corners=align_corners)


def _zeros_between(low: Tensor) -> Tensor:
    up = low.new_zeros(*low.shape[:-2], 2 * low.shape[-2], 2 * low.shape[-1])
    up[..., ::2, ::2] = low
    return up


def _fade_cause(error: BaseException) -> str:
    text = str(error)
    if "in-place" in text or "inplace" in text:
        return (
            "the blend modifies an input in place (high *= alpha, low.mul_(...), +=): in the networks low "
            f"and high are layers' outputs that autograd still needs; build a new tensor, {_BLEND}"
        )
    if "must match the size" in text or "size mismatch" in text:
        return (
            "the two tensors blended do not have one shape: low (B, C, r/2, r/2) must be upsampled to high's "
            "(B, C, r, r) first, each pixel repeated twice along the height (dim -2) and the width "
            f"(dim -1): {_BLEND}"
        )
    if "size shape must match input shape" in text or "Input and output must have the same number" in text:
        return (
            "F.interpolate takes the output's spatial size only (size=high.shape[-2:]), or scale_factor=2: "
            + _BLEND
        )
    if "scalar type" in text or "dtype" in text:
        return "keep the inputs' dtype: build nothing new of another dtype (upsampling low is all it takes)"
    return (
        "it was called with a float alpha in [0, 1] and float tensors low (B, C, r/2, r/2) and high "
        "(B, C, r, r): try it by hand on such tensors to see where it fails"
    )


def _fade_output(answer: Callable, alpha: float, low: Tensor, high: Tensor) -> Tensor:
    """The answer's blend of ``low`` and ``high``, with its type, shape and inputs checked."""
    saved = {"low": low.detach().clone(), "high": high.detach().clone()}
    out = call_answer(answer, (alpha, low, high), f"my_fade_in({alpha:g}, low, high)", _fade_cause)
    if out is None:
        raise AssertionError("my_fade_in returned None: it is not written yet, or the `return` is missing")
    if not isinstance(out, Tensor):
        raise AssertionError(
            f"my_fade_in returned a {type(out).__name__}, not a torch tensor: stay in torch (no .numpy(), "
            "no .tolist()), so that the networks of both stages are trained through the blend"
        )
    for name, tensor in (("low", low), ("high", high)):
        if not torch.equal(tensor.detach(), saved[name]):
            raise AssertionError(
                f"my_fade_in changed its input `{name}` in place ({name} *= ..., {name}.mul_(...), "
                f"{name}.add_(...)): in the networks `{name}` is a layer's output that autograd and the "
                f"caller still need; build a new tensor, {_BLEND}"
            )
    if tuple(out.shape) != tuple(high.shape):
        got, r = tuple(out.shape), high.shape[-1]
        if got == tuple(low.shape):
            cause = (
                f"the result has low's resolution {r // 2}x{r // 2}: the blend is made at the new resolution "
                f"{r}x{r}; upsample low (do not downsample high): {_BLEND}"
            )
        else:
            cause = (
                "the blend must have high's shape: low is upsampled by 2 along the height and width only, "
                f"{_NEAREST}"
            )
        raise AssertionError(
            f"for low {tuple(low.shape)} and high {tuple(high.shape)} my_fade_in returned shape {got}, "
            f"expected {tuple(high.shape)}: {cause}"
        )
    return out


def _fade_candidates(alpha: float, low: Tensor, high: Tensor) -> list[tuple[Tensor, str]]:
    up = _double(low)
    nearest = "the paper (and gm.gan.fade_in's callers) upsample by nearest neighbour, " + _NEAREST
    bilinear = "upsampled with bilinear interpolation{}, which blurs the old path; " + nearest
    return [
        (alpha * up + (1 - alpha) * high,
         "the weights are swapped: alpha should weigh the new layer (high) and 1 - alpha the upsampled old "
         "one, so that alpha = 0 is the old network exactly and alpha = 1 the new stage"),
        ((1 - alpha) * _smooth(low, "bilinear", False) + alpha * high, bilinear.format("")),
        ((1 - alpha) * _smooth(low, "bilinear", True) + alpha * high,
         bilinear.format(" (align_corners=True)")),
        ((1 - alpha) * _smooth(low, "bicubic", False) + alpha * high,
         "upsampled with bicubic interpolation; " + nearest),
        ((1 - alpha) * low.repeat(1, 1, 2, 2) + alpha * high,
         "the image is tiled 2 x 2 (low.repeat(1, 1, 2, 2)) instead of each pixel repeated: repeat every "
         "pixel twice along the height and the width, "
         "low.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1), or " + _NEAREST),
        ((1 - alpha) * _zeros_between(low) + alpha * high,
         "the upsampled low has zeros between its pixels (a zero-stuffing or transposed-convolution "
         "upsampling): repeat every pixel instead, " + _NEAREST),
        ((1 - alpha) * _double(low.transpose(-2, -1)) + alpha * high,
         "the upsampled low is transposed (height and width swapped): repeat each pixel in place, "
         + _NEAREST),
        (_double((1 - alpha) * low + alpha * F.avg_pool2d(high, 2)),
         "the blend is made at the low resolution (high average-pooled, the result upsampled): the new "
         "stage's detail is averaged away; blend at the new resolution, " + _BLEND),
        (up + alpha * high,
         "the old path is not weighted by (1 - alpha): the blend is (1 - alpha) * up + alpha * high, so that "
         "the weights add up to 1"),
        ((1 - alpha) * up + high,
         "the new path is not weighted by alpha: the blend is (1 - alpha) * up + alpha * high, so that the "
         "new stage enters smoothly from alpha = 0"),
        (0.5 * ((1 - alpha) * up + alpha * high),
         "the blend is divided by 2: the weights 1 - alpha and alpha already add up to 1"),
    ]  # fmt: skip


def _diagnose_fade(got: dict[float, Tensor], low: Tensor, high: Tensor) -> None:
    up = _double(low)
    if _close(got[0.25], got[0.6]):
        fixed = (
            (high, "the result is high (the new stage) whatever alpha"),
            (up, "the result is the upsampled low (the old stage) whatever alpha"),
            (0.5 * (up + high), "the result is a fixed half-and-half blend whatever alpha"),
        )
        cause = next(
            (text for value, text in fixed if _close(got[0.6], value)),
            "the result is the same for alpha = 0.25 and alpha = 0.6",
        )
        raise AssertionError(
            f"alpha is ignored: {cause}; the new stage must be faded in, (1 - alpha) * up + alpha * high "
            f"with up = {_NEAREST}"
        )
    candidates = {alpha: _fade_candidates(alpha, low, high) for alpha in (0.25, 0.6)}
    for k, (_, message) in enumerate(candidates[0.25]):
        if all(_close(got[alpha], candidates[alpha][k][0]) for alpha in (0.25, 0.6)):
            raise AssertionError(message)
    for alpha in _ALPHAS:
        try:
            assert_close(got[alpha].detach(), _reference_fade(alpha, low, high), "the blend", _RTOL, _ATOL)
        except AssertionError as error:
            where = {
                0.0: " (alpha = 0 must give the upsampled low, the old network, exactly)",
                1.0: " (alpha = 1 must give high, the new stage, exactly)",
            }.get(alpha, "")
            raise AssertionError(
                f"at alpha = {alpha:g}{where}, for low {tuple(low.shape)}: {error}; the blend is "
                f"(1 - alpha) * up + alpha * high with up = {_NEAREST}"
            ) from None


def check_fade_in(my_fade_in: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``my_fade_in(alpha, low, high)``
    returns ``(1 - alpha) * up(low) + alpha * high`` with ``up`` the nearest-neighbour upsampling by 2,
    for low (B, C, r/2, r/2), high (B, C, r, r) and a float alpha in [0, 1], leaves its inputs
    unchanged and passes the gradients of that blend to both."""
    for number, shape in enumerate(_FADE_SHAPES):
        low = _randn(shape, 90 + number)
        high = _randn((*shape[:2], 2 * shape[2], 2 * shape[3]), 190 + number)
        got = {alpha: _fade_output(my_fade_in, alpha, low, high) for alpha in _ALPHAS}
        if not all(_close(got[alpha], _reference_fade(alpha, low, high)) for alpha in _ALPHAS):
            _diagnose_fade(got, low, high)

    # gradients with respect to both inputs
    alpha, shape = 0.3, _FADE_SHAPES[0]
    low = _randn(shape, 290).requires_grad_(True)
    high = _randn((*shape[:2], 2 * shape[2], 2 * shape[3]), 291).requires_grad_(True)
    out = _fade_output(my_fade_in, alpha, low, high)
    if not out.requires_grad:
        raise AssertionError(
            "the blend carries no gradient: something cut it from the autograd graph (a .detach(), "
            "torch.no_grad(), or numbers rebuilt from .item() / .numpy()); both stages' networks learn "
            "through the fade-in"
        )
    want = _reference_fade(alpha, low, high)
    assert_same_gradients(out, want, {"low": low, "high": high}, "the blend", _RTOL, _ATOL)


# --------------------------------------------------------------------------------------------------
# Step 2: the minibatch standard deviation


def _group_size(batch: int, group_size: int) -> int:
    """G: the largest divisor of the batch not above ``group_size``."""
    return max(d for d in range(1, min(group_size, batch) + 1) if batch % d == 0)


def _groups(batch: int, group_size: int, consecutive: bool = False) -> list[list[int]]:
    """The samples of each group: i mod (B / G) (or consecutive runs of G samples, a mistake)."""
    g = _group_size(batch, group_size)
    m = batch // g
    if consecutive:
        return [list(range(k * g, (k + 1) * g)) for k in range(m)]
    return [list(range(k, batch, m)) for k in range(m)]


def _spread_map(x: Tensor, groups: list[list[int]], statistic: Callable[[Tensor], Tensor]) -> Tensor:
    """(B, 1, H, W): ``statistic(x[group])`` (a number, or an (H, W) map) for each sample of the group."""
    h, w = x.shape[-2:]
    rows: list[Tensor | None] = [None] * len(x)
    for group in groups:
        value = statistic(x[group])
        for i in group:
            rows[i] = value.expand(1, h, w)
    return torch.stack(rows)


def _variance(y: Tensor, correction: int = 0) -> Tensor:
    """The variance across the samples (dimension 0) of every feature at every pixel: (C, H, W)."""
    return (y - y.mean(0)).pow(2).sum(0) / (len(y) - correction)


def _reference_stat(y: Tensor) -> Tensor:
    return (_variance(y) + _EPS).sqrt().mean()


def _reference_map(x: Tensor, group_size: int) -> Tensor:
    return _spread_map(x, _groups(len(x), group_size), _reference_stat)


def _stddev_candidates(x: Tensor, group_size: int) -> list[tuple[Tensor, str]]:
    b = len(x)
    mod, consecutive, whole = _groups(b, group_size), _groups(b, group_size, True), [list(range(b))]
    each = [[i] for i in range(b)]
    g = _group_size(b, group_size)
    population = "use the population variance, y.var(dim=0, correction=0) (unbiased=False), as the paper does"
    inside = "sqrt(var + 1e-8), the + 1e-8 inside the square root"
    candidates = [
        (_spread_map(x, mod, lambda y: (_variance(y, 1) + _EPS).sqrt().mean()),
         f"sample std (n - 1) instead of the population std: torch.std and y.var divide by G - 1 = {g - 1} "
         f"by default; {population}"),
        (_spread_map(x, consecutive, _reference_stat),
         f"groups formed from consecutive samples (0-{g - 1}, {g}-{2 * g - 1}, ...: "
         f"x.reshape(B // G, G, ...) or x.view(-1, G, ...)): as in the paper's code, sample i goes to group "
         f"i mod (B / G), x.reshape(G, B // G, C, H, W) with the spread across dimension 0"),
        (_spread_map(x, consecutive, lambda y: (_variance(y, 1) + _EPS).sqrt().mean()),
         "groups formed from consecutive samples, and the sample std (n - 1): sample i goes to group i mod "
         f"(B / G), x.reshape(G, B // G, C, H, W); {population}"),
        (_spread_map(x, mod, _reference_stat)[[i // g for i in range(b)]],
         "each group's number is written to the wrong samples: group m holds samples m, m + B/G, m + 2 B/G, "
         "..., so sample i gets the number of group i mod (B / G): std.repeat(G) (not repeat_interleave), "
         "or x.reshape(G, B // G, ...) read back in the same order"),
        (_spread_map(x, whole, _reference_stat),
         "a stddev over the whole batch, ignoring the groups: the spread is measured within groups of "
         "G = group_size samples (sample i in group i mod (B / G)), one number per group"),
        (_spread_map(x, whole, lambda y: (_variance(y, 1) + _EPS).sqrt().mean()),
         "a stddev over the whole batch, ignoring the groups (and the sample std, n - 1): the spread is "
         "measured within groups of G = group_size samples"),
        (_spread_map(x, each, lambda y: (_variance(y[0], 0) + _EPS).sqrt().mean()),
         "the std is taken over the channels of each sample (dim=1), not across the samples of a group: the "
         "spread of one feature at one pixel across the G samples of the group, dimension 0 of "
         "x.reshape(G, B // G, C, H, W)"),
        (_spread_map(x, each, lambda y: (_variance(y[0], 1) + _EPS).sqrt().mean()),
         "the std is taken over the channels of each sample (x.std(dim=1)), not across the samples of a "
         "group: the spread of one feature at one pixel across the G samples, dimension 0 of "
         "x.reshape(G, B // G, C, H, W)"),
        (_spread_map(x, mod, lambda y: (_variance(y) + _EPS).sqrt().mean(0)),
         "std averaged over the channels only, a map that changes from pixel to pixel: average over the "
         "features and the pixels, std.mean(dim=(1, 2, 3)), into one number per group"),
        (_spread_map(x, mod, lambda y: (_variance(y).mean() + _EPS).sqrt()),
         "the variance is averaged before the square root: average the standard deviations, "
         f"mean over features and pixels of {inside}"),
        (_spread_map(x, mod, lambda y: _variance(y).mean()),
         f"the variance, not the standard deviation: the square root is missing; average {inside}"),
        (_spread_map(x, mod, lambda y: (_variance(y) + _EPS).mean()),
         f"the variance, not the standard deviation: the square root is missing; average {inside}"),
        (_spread_map(x, mod, lambda y: (y.flatten().var(correction=0) + _EPS).sqrt()),
         "the std of every value of the group at once (samples, features and pixels together): take it "
         "across the samples only, for each feature at each pixel (dimension 0 of "
         "x.reshape(G, B // G, C, H, W)), then average"),
        (_spread_map(x, mod, lambda y: y.flatten().std()),
         "the std of every value of the group at once (samples, features and pixels together): take it "
         "across the samples only, for each feature at each pixel, then average"),
    ]  # fmt: skip
    if group_size != 4:
        candidates.insert(0, (
            _reference_map(x, 4),
            f"group_size is ignored (groups of 4 samples where group_size = {group_size} asked for groups of "
            f"{g}): use self.group_size",
        ))  # fmt: skip
    return candidates


def _build_layer(cls: Callable, kwargs: dict) -> nn.Module:
    call = f"MyMinibatchStdDev({', '.join(f'{k}={v}' for k, v in kwargs.items())})"

    def cause(error):
        if isinstance(error, TypeError) and "argument" in str(error):
            return "keep the constructor's signature, __init__(self, group_size=4)"
        return f"build it by hand, {call}, to see where it fails"

    layer = call_answer(cls, (), call, cause, kwargs)
    if not isinstance(layer, nn.Module):
        raise AssertionError(
            f"{call} is a {type(layer).__name__}, not an nn.Module: derive the class from nn.Module "
            "(class MyMinibatchStdDev(nn.Module)), so that it can take its place in the critic's "
            "nn.Sequential"
        )
    trainable = [name for name, p in layer.named_parameters() if p.requires_grad]
    if trainable:
        raise AssertionError(
            f"the layer has a trainable parameter ({', '.join(trainable)}): the minibatch standard deviation "
            "is a fixed statistic of the batch, with no weights (the next convolution learns what to do "
            "with it); remove the nn.Parameter (or layer)"
        )
    return layer


def _stddev_cause(batch: int, group_size: int) -> Callable[[BaseException], str]:
    g = _group_size(batch, group_size)

    def cause(error):
        text = str(error)
        if batch % min(group_size, batch) and ("invalid for input" in text or "divisible" in text):
            return (
                f"B = {batch} is not a multiple of group_size = {group_size}: G is the largest divisor of B "
                f"not above group_size ({g} here), as the given line computes it, and "
                "x.reshape(G, B // G, C, H, W)"
            )
        if "in-place" in text or "inplace" in text:
            return (
                "an in-place operation (-=, .sub_(), .pow_()) on x or on a view of it (x.reshape(...) shares "
                "x's memory): use out-of-place operations, y = y - y.mean(0)"
            )
        if "Sizes of tensors must match" in text or "Tensors must have same number of dimensions" in text:
            return (
                "the map to concatenate must have shape (B, 1, H, W): one number per group, repeated for "
                "each sample of its group (sample i in group i mod (B / G)) and expanded over the pixels, "
                "then torch.cat([x, map], dim=1)"
            )
        return (
            f"it was called with float features x of shape ({batch}, C, H, W) and group_size = {group_size}: "
            "try it by hand on such a tensor to see where it fails"
        )

    return cause


def _stddev_output(layer: nn.Module, x: Tensor, group_size: int, what: str) -> Tensor:
    """The layer's output on ``x``, its type, shape, first channels and input checked."""
    saved = x.detach().clone()
    b, c, h, w = x.shape
    out = call_answer(layer, (x,), f"forward on {what}", _stddev_cause(b, group_size))
    if out is None:
        raise AssertionError("forward returned None: it is not written yet, or the `return` is missing")
    if not isinstance(out, Tensor):
        raise AssertionError(f"forward returned a {type(out).__name__}, not a torch tensor")
    if not torch.equal(x.detach(), saved):
        raise AssertionError(
            "forward changed its input x in place (y -= y.mean(0) on x.reshape(...), which shares x's "
            "memory, or x.sub_(...)): the first C channels must be x unchanged; use out-of-place operations, "
            "y = y - y.mean(0)"
        )
    shape, want = tuple(out.shape), (b, c + 1, h, w)
    if shape != want:
        causes = {
            (b, 1, h, w): "it returns only the stddev map: concatenate it to the input as one more channel, "
            "torch.cat([x, map], dim=1)",
            (b, c, h, w): "no extra channel: the map must be concatenated to x as a channel of its own, "
            "torch.cat([x, map], dim=1) (not added to x)",
            (
                b + 1,
                c,
                h,
                w,
            ): "the map is concatenated along the batch (dim=0): concatenate along the channels, "
            "torch.cat([x, map], dim=1)",
            (
                2 * b,
                c,
                h,
                w,
            ): "the map is concatenated along the batch (dim=0): concatenate along the channels, "
            "torch.cat([x, map], dim=1), with a map of shape (B, 1, H, W)",
        }
        if shape in causes:
            cause = causes[shape]
        elif shape == (b, 2 * c, h, w):
            extra = out[:, c:].detach()
            if torch.allclose(extra, extra[..., :1, :1].expand_as(extra)):
                cause = (
                    f"{c} extra maps, one per channel: std averaged per channel (over the pixels only) "
                    "instead of over features and pixels; average it into one number per group, "
                    "std.mean(dim=(1, 2, 3))"
                )
            else:
                cause = (
                    f"{c} extra maps: the per-feature std maps are kept; average them over the features and "
                    "the pixels into one number per group, std.mean(dim=(1, 2, 3)), written in a single map"
                )
        elif len(shape) == 4 and shape[0] < b and shape[1] == c + 1:
            cause = (
                "one row per group instead of one per sample: write each group's number in the map of every "
                "sample of the group (sample i in group i mod (B / G)) before concatenating"
            )
        else:
            cause = "x with one more channel: torch.cat([x, map], dim=1), the map of shape (B, 1, H, W)"
        raise AssertionError(f"on {what} of shape {tuple(x.shape)} forward returned shape {shape}, expected "
                             f"{want}: {cause}")  # fmt: skip
    if not torch.equal(out[:, :c].detach(), x.detach()):
        if torch.equal(out[:, 1:].detach(), x.detach()):
            raise AssertionError(
                "the map is concatenated first: the first C channels must be x unchanged and the map the "
                "last channel, torch.cat([x, map], dim=1) (the critic's next convolution expects it there)"
            )
        raise AssertionError(
            "the first C channels of the output must be the input x, unchanged: torch.cat([x, map], dim=1)"
        )
    return out


def _check_map(out: Tensor, x: Tensor, group_size: int, what: str) -> None:
    got, want = out[:, -1:].detach(), _reference_map(x, group_size).detach()
    if _close(got, want):
        return
    g = _group_size(len(x), group_size)
    for value, message in _stddev_candidates(x, group_size):
        if _close(got, value):
            raise AssertionError(f"on {what}: {message}")
    if not torch.allclose(got, got[..., :1, :1].expand_as(got)):
        raise AssertionError(
            f"on {what}: the extra map changes from pixel to pixel: it must be one number per group (the std "
            "averaged over features and pixels), the same at every pixel of the map"
        )
    worst = int((got - want).abs().flatten(1).amax(1).argmax())
    raise AssertionError(
        f"on {what}: the extra map of sample {worst} is {float(got[worst, 0, 0, 0]):.6g}, expected "
        f"{float(want[worst, 0, 0, 0]):.6g}: the mean over features and pixels of the population std "
        f"sqrt(var + 1e-8) across the {g} samples of its group (sample i in group i mod (B / G) = "
        f"i mod {len(x) // g})"
    )


def _copies(batch: int, groups: int, seed: int, noise: float) -> Tensor:
    """A batch (batch, 3, 4, 4) of ``groups`` distinct samples, sample i a copy of pattern i mod groups
    (plus ``noise``)."""
    patterns = torch.round(8 * _randn((groups, 3, 4, 4), seed)) / 8  # exact sums: the copies have var 0
    return patterns.repeat(batch // groups, 1, 1, 1) + noise * _randn((batch, 3, 4, 4), seed + 1)


def check_minibatch_stddev(cls: Callable) -> None:
    """Raise an ``AssertionError`` naming the likely cause unless ``cls(group_size=4)`` (and ``cls()``)
    builds an ``nn.Module`` without trainable parameters mapping x (B, C, H, W) to
    ``torch.cat([x, map], dim=1)``, ``map`` (B, 1, H, W) constant per sample: the mean over features
    and pixels of the population std sqrt(var + 1e-8) across the G samples of the sample's group
    (sample i in group i mod (B / G), G the largest divisor of B not above ``group_size``),
    differentiable in x."""
    layer = _build_layer(cls, {"group_size": 4})

    x = _randn((8, 3, 4, 4), 900)
    out = _stddev_output(layer, x, 4, "random features (B = 8, G = 4)")
    _check_map(out, x, 4, "random features (B = 8, G = 4)")

    # consecutive halves near-copies: consecutive groups see almost no spread, groups i mod 2 a large one
    x = _randn((2, 3, 4, 4), 901).repeat_interleave(4, dim=0) + 0.01 * _randn((8, 3, 4, 4), 902)
    what = "a batch of 8 whose samples 0-3 and 4-7 are near-copies (groups {0, 2, 4, 6} and {1, 3, 5, 7})"
    _check_map(_stddev_output(layer, x, 4, what), x, 4, what)

    x = _randn((6, 2, 4, 4), 903)
    what = "a batch of B = 6 with group_size = 4 (G = 3: groups {0, 2, 4} and {1, 3, 5})"
    _check_map(_stddev_output(layer, x, 4, what), x, 4, what)

    two = _build_layer(cls, {"group_size": 2})
    x = _randn((8, 3, 2, 2), 904)
    what = "random features (B = 8) with group_size = 2"
    _check_map(_stddev_output(two, x, 2, what), x, 2, what)

    x = _randn((2, 5, 4, 4), 905)
    what = "a batch of two samples (G = 2)"
    _check_map(_stddev_output(layer, x, 4, what), x, 4, what)

    # groups of identical samples (a collapsed generator): std = sqrt(0 + 1e-8) = 1e-4, a finite gradient
    x = _copies(8, 2, 906, 0.0)
    what = "groups of identical samples (B = 8, x[i] = x[i mod 2])"
    got = _stddev_output(layer, x, 4, what)[:, -1:].detach()
    if not _close(got, _reference_map(x, 4)):
        value = float(got.flatten()[0])
        if abs(value) < 1e-9:
            cause = (
                "forgot the + 1e-8 inside the sqrt: the map is 0 where it must be sqrt(0 + 1e-8) = 1e-4, and "
                "the gradient of sqrt at 0 is infinite (NaN in training when the generator collapses): "
                "(y.var(dim=0, correction=0) + 1e-8).sqrt()"
            )
        elif abs(value - _EPS) < 1e-9:
            cause = (
                "the 1e-8 is added outside the sqrt (std + 1e-8): it belongs inside, sqrt(var + 1e-8), which "
                "keeps the gradient finite when the group has no spread"
            )
        else:
            cause = f"the map is {value:.6g} where sqrt(0 + 1e-8) = 1e-4 was expected"
        raise AssertionError(f"on {what}: {cause}")

    # gradients: random features, then groups of identical samples (finite only with the 1e-8)
    for seed, identical in ((907, False), (908, True)):
        x = (_copies(8, 2, seed, 0.0) if identical else _randn((8, 3, 4, 4), seed)).requires_grad_(True)
        what = "groups of identical samples" if identical else "random features (B = 8, G = 4)"
        out = _stddev_output(layer, x, 4, what)
        extra = out[:, -1:]
        grad = None
        if extra.requires_grad:
            (grad,) = torch.autograd.grad(extra.sum(), x, allow_unused=True, retain_graph=True)
        if identical:
            if grad is not None and not torch.all(torch.isfinite(grad)):
                raise AssertionError(
                    "groups of identical samples give NaN or infinite gradients: forgot the + 1e-8 inside "
                    "the sqrt? sqrt(var + 1e-8) keeps the gradient finite where the group has no spread"
                )
            continue
        if grad is None or not torch.any(grad != 0):
            raise AssertionError(
                "the extra map is detached: it carries no gradient (a .detach(), torch.no_grad(), a number "
                "taken out with .item() or float(), or torch.full(...)); the generator learns to vary its "
                "samples only through the critic's gradient of this map"
            )
        want = _reference_map(x, 4)
        assert_same_gradients(extra, want, {"x": x}, "the extra map", _RTOL, _ATOL)
        assert_same_gradients(out, torch.cat([x, want], dim=1), {"x": x}, "the output", _RTOL, _ATOL)

    default = _build_layer(cls, {})
    x = _randn((8, 3, 4, 4), 909)
    if not _close(_stddev_output(default, x, 4, "random features")[:, -1:], _reference_map(x, 4)):
        raise AssertionError(
            "MyMinibatchStdDev() must mean group_size = 4: keep the default, __init__(self, group_size=4)"
        )
