"""The pyramids of the patch engines: one scale factor per level, applied to the source image
and to the output alike, so that an output of another size or aspect ratio is built from patches
of the source at the same scale."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..resize import resize


@dataclass(frozen=True)
class Level:
    scale: float  # relative to the finest level
    source: tuple[int, int]  # (H, W) of the source image at this level
    output: tuple[int, int]  # (H, W) of the output at this level


def _sized(hw: tuple[int, int], s: float, least: int) -> tuple[int, int]:
    return max(least, round(hw[0] * s)), max(least, round(hw[1] * s))


def check_source(src: tuple[int, int], patch: int, what: str = "the image") -> None:
    if min(src) < patch + 2:
        raise InputError(f"{what} is {src[1]}x{src[0]} px: the patch engines need at least "
                         f"{patch + 2} px on each side")


def pyramid(src: tuple[int, int], out: tuple[int, int], *, ratio: float, coarsest: int,
            patch: int) -> list[Level]:
    """Levels from coarse to fine: the source's shorter side falls by `ratio` per level down to
    about `coarsest` px (never below the patch size); the output follows by the same factors."""
    check_source(src, patch)
    least = patch + 1
    low = max(coarsest, least)
    n = 1 + max(0, math.floor(math.log(min(src) / low) / math.log(ratio) + 1e-9))
    scales = [ratio ** -(n - 1 - i) for i in range(n)]
    return [Level(s, _sized(src, s, least) if i < n - 1 else src,
                  _sized(out, s, least) if i < n - 1 else out) for i, s in enumerate(scales)]


def pyramid_from(start: tuple[int, int], src: tuple[int, int], out: tuple[int, int], *,
                 ratio: float, patch: int) -> list[Level]:
    """Levels from an output of size `start` (a given layout) up to `out`, about `ratio` apart."""
    check_source(src, patch)
    first = min(start[0] / out[0], start[1] / out[1], 1.0)
    n = 1 + max(0, round(math.log(1 / first) / math.log(ratio)))
    scales = [first ** ((n - 1 - i) / (n - 1)) if n > 1 else 1.0 for i in range(n)]
    least = patch + 1
    return [Level(s, _sized(src, s, least) if i < n - 1 else src,
                  (_sized(out, s, least) if i else start) if i < n - 1 else out)
            for i, s in enumerate(scales)]


def sources(image: torch.Tensor, levels: list[Level]) -> list[torch.Tensor]:
    """The source image at every level (MATLAB-style bicubic, from the full image each time)."""
    return [image if lv.source == tuple(image.shape[-2:]) else resize(image, size=lv.source)
            for lv in levels]


def mask_at(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (1, 1, H, W) mask in [0, 1] at another size, growing rather than shrinking: a pixel of
    the smaller mask is masked where any pixel it covers was."""
    m = (mask > 0.5).float()
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return (torch.nn.functional.adaptive_max_pool2d(m, size) > 0).float() \
        if size[0] <= m.shape[-2] and size[1] <= m.shape[-1] else \
        (torch.nn.functional.interpolate(m, size=size, mode="bilinear", align_corners=False)
         > 0).float()


def no_patch_outside(lv: Level) -> InputError:
    """The error for a mask that leaves a level no source patch outside it."""
    return InputError(f"the mask leaves no patch of the image outside it at {lv.source[1]}x"
                      f"{lv.source[0]} px (a level of the pyramid): make the mask smaller")
