"""Catalogue of known wrong answers of exercise 09 (``09_high_resolution_images``): each must fail its
check with a message that names its cause; the reference answers, the equally right variants and the
escape cells must pass, and the untouched stubs must stay 'not attempted'."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gm_helpers as gm
from gm_helpers import checks as gm_checks
from gm_helpers.exercises import progressive as checks

# --------------------------------------------------------------------------------------------------
# my_fade_in(alpha, low, high)


def solution_fade_in(alpha, low, high):
    """The solution notebook's answer, verbatim."""
    up = F.interpolate(low, scale_factor=2, mode="nearest")
    return (1 - alpha) * up + alpha * high


def escape_fade_in(alpha, low, high):
    """The notebook's escape cell."""
    return gm.gan.fade_in(alpha, F.interpolate(low, scale_factor=2, mode="nearest"), high)


def interleave_fade_in(alpha, low, high):
    return (1 - alpha) * low.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3) + alpha * high


def lerp_fade_in(alpha, low, high):
    return torch.lerp(F.interpolate(low, scale_factor=2), high, alpha)  # the default mode is nearest


def kron_fade_in(alpha, low, high):
    return (1 - alpha) * torch.kron(low, torch.ones(1, 1, 2, 2)) + alpha * high


def upsample_module_fade_in(alpha, low, high):
    return high * alpha + nn.Upsample(size=high.shape[-2:])(low) * (1 - alpha)


def expand_fade_in(alpha, low, high):
    b, c, h, w = low.shape
    up = low[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)
    return up + alpha * (high - up)


def special_cases_fade_in(alpha, low, high):
    up = F.interpolate(low, size=high.shape[-2:], mode="nearest-exact")
    if alpha == 0:
        return up
    if alpha == 1:
        return high.clone()
    return (1 - alpha) * up + alpha * high


F_RIGHT = [
    solution_fade_in,
    escape_fade_in,
    interleave_fade_in,
    lerp_fade_in,
    kron_fade_in,
    upsample_module_fade_in,
    expand_fade_in,
    special_cases_fade_in,
]


@pytest.mark.parametrize("answer", F_RIGHT, ids=[f.__name__ for f in F_RIGHT])
def test_right_fade_in_passes(answer):
    checks.check_fade_in(answer)


def _up(low):
    return F.interpolate(low, scale_factor=2, mode="nearest")


def fade_swapped(alpha, low, high):
    return alpha * _up(low) + (1 - alpha) * high


def fade_lerp_swapped(alpha, low, high):
    return torch.lerp(high, _up(low), alpha)


def fade_bilinear(alpha, low, high):
    return (1 - alpha) * F.interpolate(low, scale_factor=2, mode="bilinear") + alpha * high


def fade_bilinear_corners(alpha, low, high):
    up = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=True)
    return (1 - alpha) * up + alpha * high


def fade_bicubic(alpha, low, high):
    return (1 - alpha) * F.interpolate(low, scale_factor=2, mode="bicubic") + alpha * high


def fade_alpha_ignored(alpha, low, high):
    return high


def fade_half_half(alpha, low, high):
    return 0.5 * _up(low) + 0.5 * high


def fade_old_only(alpha, low, high):
    return _up(low)


def fade_not_upsampled(alpha, low, high):
    return (1 - alpha) * low + alpha * high  # broadcasting fails: low is half the size


def fade_tiled(alpha, low, high):
    return (1 - alpha) * low.repeat(1, 1, 2, 2) + alpha * high


def fade_interleave_wrong_dims(alpha, low, high):
    up = low.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)  # channels and height
    return (1 - alpha) * up + alpha * high


def fade_interleave_width_twice(alpha, low, high):
    up = low.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-1)
    return (1 - alpha) * up + alpha * high


def fade_expand_wrong_order(alpha, low, high):
    b, c, h, w = low.shape
    up = low[:, :, None, :, None, :].expand(b, c, 2, h, 2, w).reshape(b, c, 2 * h, 2 * w)  # tiles
    return (1 - alpha) * up + alpha * high


def fade_zero_stuffing(alpha, low, high):
    up = torch.zeros_like(high)
    up[..., ::2, ::2] = low
    return (1 - alpha) * up + alpha * high


def fade_transposed(alpha, low, high):
    return (1 - alpha) * _up(low).transpose(-2, -1) + alpha * high


def fade_at_low_resolution(alpha, low, high):
    return _up((1 - alpha) * low + alpha * F.avg_pool2d(high, 2))


def fade_downsampled_high(alpha, low, high):
    return (1 - alpha) * low + alpha * F.avg_pool2d(high, 2)


def fade_no_one_minus(alpha, low, high):
    return _up(low) + alpha * high


def fade_no_alpha(alpha, low, high):
    return (1 - alpha) * _up(low) + high


def fade_halved(alpha, low, high):
    return ((1 - alpha) * _up(low) + alpha * high) / 2


def fade_in_place_high(alpha, low, high):
    high *= alpha
    high += (1 - alpha) * _up(low)
    return high


def fade_in_place_low(alpha, low, high):
    low.mul_(1 - alpha)
    return _up(low) + alpha * high


def fade_detached_low(alpha, low, high):
    return (1 - alpha) * _up(low).detach() + alpha * high


def fade_detached_high(alpha, low, high):
    return (1 - alpha) * _up(low) + alpha * high.detach()


def fade_no_grad(alpha, low, high):
    with torch.no_grad():
        return (1 - alpha) * _up(low) + alpha * high


def fade_numpy(alpha, low, high):
    return ((1 - alpha) * _up(low) + alpha * high).detach().numpy()


def fade_returns_none(alpha, low, high):
    (1 - alpha) * _up(low) + alpha * high  # noqa: B018 - the `return` is missing


def fade_interpolate_full_size(alpha, low, high):
    return (1 - alpha) * F.interpolate(low, size=high.shape) + alpha * high  # size takes (H, W) only


F_WRONG = [
    (fade_swapped, r"the weights are swapped: alpha should weigh the new layer"),
    (fade_lerp_swapped, r"the weights are swapped"),
    (fade_bilinear, r"upsampled with bilinear interpolation.*; the paper .* nearest neighbour"),
    (fade_bilinear_corners, r"bilinear interpolation.*align_corners=True"),
    (fade_bicubic, r"upsampled with bicubic interpolation"),
    (fade_alpha_ignored, r"alpha is ignored: the result is high"),
    (fade_half_half, r"alpha is ignored: the result is a fixed half-and-half blend"),
    (fade_old_only, r"alpha is ignored: the result is the upsampled low"),
    (fade_not_upsampled, r"must be upsampled to high's \(B, C, r, r\) first"),
    (fade_tiled, r"the image is tiled 2 x 2"),
    (fade_interleave_wrong_dims, r"along the height \(dim -2\) and the width \(dim -1\)"),
    (fade_interleave_width_twice, r"along the height \(dim -2\) and the width \(dim -1\)"),
    (fade_expand_wrong_order, r"the image is tiled 2 x 2"),
    (fade_zero_stuffing, r"zeros between its pixels"),
    (fade_transposed, r"transposed"),
    (fade_at_low_resolution, r"the blend is made at the low resolution"),
    (fade_downsampled_high, r"the result has low's resolution"),
    (fade_no_one_minus, r"not weighted by \(1 - alpha\)"),
    (fade_no_alpha, r"the new path is not weighted by alpha"),
    (fade_halved, r"divided by 2"),
    (fade_in_place_high, r"changed its input `high` in place"),
    (fade_in_place_low, r"changed its input `low` in place"),
    (fade_detached_low, r"does not pass any gradient to low.*detach"),
    (fade_detached_high, r"does not pass any gradient to high.*detach"),
    (fade_no_grad, r"carries no gradient.*torch.no_grad"),
    (fade_numpy, r"not a torch tensor"),
    (fade_returns_none, r"returned None: it is not written yet"),
    (fade_interpolate_full_size, r"spatial size only"),
]


@pytest.mark.parametrize("answer, message", F_WRONG, ids=[f.__name__ for f, _ in F_WRONG])
def test_wrong_fade_in_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_fade_in(answer)


# --------------------------------------------------------------------------------------------------
# MyMinibatchStdDev(group_size=4)


class SolutionStdDev(nn.Module):
    """The solution notebook's answer, verbatim."""

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        B, C, H, W = x.shape
        G = max(g for g in range(1, min(self.group_size, B) + 1) if B % g == 0)  # samples per group
        M = B // G  # groups: sample i belongs to group i % M
        y = x.reshape(G, M, C, H, W)  # y[j, m] = x[j * M + m]
        std = (y.var(dim=0, correction=0) + 1e-8).sqrt()  # (M, C, H, W)
        s = std.mean(dim=(1, 2, 3))  # one number per group, (M,)
        s = s.repeat(G).view(B, 1, 1, 1).expand(B, 1, H, W)  # sample i gets s[i % M]
        return torch.cat([x, s], dim=1)


def escape_stddev(group_size=4):
    """The notebook's escape cell."""
    return gm.gan.MinibatchStdDev(group_size)


class LoopStdDev(nn.Module):
    """Equivalent: a loop over the groups, the paper's arithmetic (subtract the mean, square, ...)."""

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        B, C, H, W = x.shape
        G = max(g for g in range(1, min(self.group_size, B) + 1) if B % g == 0)
        M = B // G
        values = torch.zeros(B, device=x.device, dtype=x.dtype)
        for m in range(M):
            y = x[m::M]
            y = y - y.mean(dim=0, keepdim=True)
            values = values.index_put((torch.arange(m, B, M),), torch.sqrt(y.pow(2).mean(0) + 1e-8).mean())
        return torch.cat([x, values.view(B, 1, 1, 1).expand(-1, 1, H, W)], dim=1)


class TileStdDev(nn.Module):
    """Equivalent: the paper's code (reshape, tile), with a buffer that is no trainable parameter."""

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size
        self.register_buffer("eps", torch.tensor(1e-8))

    def forward(self, x):
        B, C, H, W = x.shape
        G = max(g for g in range(1, min(self.group_size, B) + 1) if B % g == 0)
        y = x.view(G, -1, C, H, W)
        y = y - y.mean(dim=0)
        y = torch.sqrt(y.square().mean(dim=0) + self.eps)
        y = y.mean(dim=[1, 2, 3]).view(-1, 1, 1, 1)
        return torch.cat([x, y.repeat(G, 1, H, W)], dim=1)


S_RIGHT = [SolutionStdDev, escape_stddev, LoopStdDev, TileStdDev, gm.gan.MinibatchStdDev]


@pytest.mark.parametrize("answer", S_RIGHT, ids=["solution", "escape", "loop", "tile", "package"])
def test_right_minibatch_stddev_passes(answer):
    checks.check_minibatch_stddev(answer)


class WrongStdDev(nn.Module):
    """The solution with one of the catalogue's mistakes (``mistake``)."""

    mistake: str | None = None

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size
        if self.mistake == "parameter":
            self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        m = self.mistake
        B, C, H, W = x.shape
        group_size = 4 if m == "group_size_ignored" else self.group_size
        G = max(g for g in range(1, min(group_size, B) + 1) if B % g == 0)
        if m == "paper_group_size":
            G = min(group_size, B)
        M = B // G
        if m == "consecutive":
            y = x.reshape(M, G, C, H, W).transpose(0, 1)
        elif m == "whole_batch":
            y, M, G = x[:, None], 1, B
        else:
            y = x.reshape(G, M, C, H, W)
        if m == "in_place":
            y -= y.mean(0)  # y is a view of x
            var = y.pow(2).mean(0)
        else:
            var = y.var(dim=0, correction=1 if m in ("unbiased", "torch_std") else 0)
        std = {
            "no_eps": var.sqrt(),
            "eps_outside": var.sqrt() + 1e-8,
            "no_sqrt": var + 1e-8,
            "torch_std": var.sqrt(),
        }.get(m, (var + 1e-8).sqrt())
        if m == "over_channels":
            s = x.std(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True).expand(B, 1, H, W)
            return torch.cat([x, s], dim=1)
        if m == "channels_only":
            s = std.mean(dim=1, keepdim=True)  # (M, 1, H, W): a value per pixel
            return torch.cat([x, s.repeat(G, 1, 1, 1)], dim=1)
        if m == "per_feature":
            return torch.cat([x, std.repeat(G, 1, 1, 1)], dim=1)  # C maps
        if m == "per_channel":
            s = std.mean(dim=(2, 3), keepdim=True).expand(-1, -1, H, W)  # C maps, constant each
            return torch.cat([x, s.repeat(G, 1, 1, 1)], dim=1)
        if m == "mean_variance":
            s = (var.mean(dim=(1, 2, 3)) + 1e-8).sqrt()
        elif m == "all_values":
            s = y.transpose(0, 1).reshape(M, -1).std(dim=1)
        else:
            s = std.mean(dim=(1, 2, 3))
        if m == "detached":
            s = s.detach()
        if m == "item":
            s = torch.tensor([v.item() for v in s])
        if m == "parameter":
            s = s * self.scale
        # sample i gets group i mod M's number (consecutive groups: group i // G's)
        s = s.repeat_interleave(B // M) if m in ("consecutive", "interleaved") else s.repeat(B // M)
        s = s.view(B, 1, 1, 1).expand(B, 1, H, W)
        if m == "map_only":
            return s
        if m == "map_first":
            return torch.cat([s, x], dim=1)
        if m == "added":
            return x + s
        if m == "batch_dim":
            return torch.cat([x, s.expand(B, C, H, W)], dim=0)
        if m == "returns_none":
            return None
        return torch.cat([x, s], dim=1)


def wrong_stddev(mistake: str) -> type[nn.Module]:
    return type(f"WrongStdDev_{mistake}", (WrongStdDev,), {"mistake": mistake})


class NotAModule:
    def __init__(self, group_size=4):
        self.group_size = group_size

    def __call__(self, x):
        return gm.gan.MinibatchStdDev(self.group_size)(x)


S_WRONG = [
    (wrong_stddev("unbiased"), r"sample std \(n - 1\) instead of the population std"),
    (wrong_stddev("torch_std"), r"sample std \(n - 1\).*torch.std"),
    (wrong_stddev("consecutive"), r"groups formed from consecutive samples"),
    (wrong_stddev("interleaved"), r"each group's number is written to the wrong samples"),
    (wrong_stddev("whole_batch"), r"a stddev over the whole batch, ignoring the groups"),
    (wrong_stddev("over_channels"), r"the std is taken over the channels of each sample"),
    (wrong_stddev("channels_only"), r"std averaged over the channels only"),
    (wrong_stddev("per_feature"), r"the per-feature std maps are kept"),
    (
        wrong_stddev("per_channel"),
        r"std averaged per channel \(over the pixels only\) instead of over features",
    ),
    (wrong_stddev("mean_variance"), r"the variance is averaged before the square root"),
    (wrong_stddev("no_sqrt"), r"the square root is missing"),
    (wrong_stddev("all_values"), r"the std of every value of the group at once"),
    (wrong_stddev("no_eps"), r"forgot the \+ 1e-8 inside the sqrt"),
    (wrong_stddev("eps_outside"), r"the 1e-8 is added outside the sqrt"),
    (wrong_stddev("detached"), r"the extra map is detached"),
    (wrong_stddev("item"), r"the extra map is detached"),
    (wrong_stddev("group_size_ignored"), r"group_size is ignored"),
    (
        wrong_stddev("paper_group_size"),
        r"B = 6 is not a multiple of group_size = 4: G is the largest divisor",
    ),
    (wrong_stddev("in_place"), r"changed its input x in place"),
    (wrong_stddev("map_only"), r"returns only the stddev map"),
    (wrong_stddev("map_first"), r"the map is concatenated first"),
    (wrong_stddev("added"), r"no extra channel"),
    (wrong_stddev("batch_dim"), r"concatenated along the batch \(dim=0\)"),
    (wrong_stddev("parameter"), r"trainable parameter \(scale\)"),
    (wrong_stddev("returns_none"), r"returned None: it is not written yet"),
    (NotAModule, r"not an nn.Module"),
]


@pytest.mark.parametrize("answer, message", S_WRONG, ids=[a.__name__ for a, _ in S_WRONG])
def test_wrong_minibatch_stddev_is_caught(answer, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_minibatch_stddev(answer)


@pytest.mark.parametrize("batch, group_size", [(8, 4), (6, 4), (8, 2), (2, 4), (1, 4), (7, 4), (16, 4)])
def test_the_checks_reference_is_the_packages_layer(batch, group_size):
    x = torch.randn(batch, 3, 4, 4, generator=torch.Generator().manual_seed(batch))
    want = gm.gan.MinibatchStdDev(group_size)(x)
    torch.testing.assert_close(checks._reference_map(x, group_size), want[:, -1:])


def test_consecutive_groups_differ_on_the_checks_cases():
    x = torch.randn(8, 3, 4, 4)
    assert not torch.allclose(
        checks._spread_map(x, checks._groups(8, 4, consecutive=True), checks._reference_stat),
        checks._reference_map(x, 4),
    )


# --------------------------------------------------------------------------------------------------
# the untouched stubs, and the participant's random state


def stub_fade_in(alpha, low, high):
    raise NotImplementedError


class StubStdDev(nn.Module):
    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x):
        B, C, H, W = x.shape
        G = max(g for g in range(1, min(self.group_size, B) + 1) if B % g == 0)  # noqa: F841
        raise NotImplementedError


STUBS = [(checks.check_fade_in, stub_fade_in), (checks.check_minibatch_stddev, StubStdDev)]


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
        (checks.check_fade_in, solution_fade_in),
        (checks.check_fade_in, fade_bilinear),
        (checks.check_minibatch_stddev, SolutionStdDev),
        (checks.check_minibatch_stddev, wrong_stddev("consecutive")),
    ],
)
def test_participant_random_state_is_left_alone(check, answer):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    with contextlib.suppress(AssertionError):
        check(answer)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_catalogue_sizes():
    assert len(F_WRONG) >= 12 and len(S_WRONG) >= 12
