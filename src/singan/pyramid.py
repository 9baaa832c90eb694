"""Scale geometry of the image pyramid (spec sections 1.3-1.4).

Convention: scale 0 is the coarsest and the last scale the finest (the original code's order; the
paper counts the other way). The factor between scales is recomputed per image so that the
coarsest short side is exactly `min_size`; sizes are ceil(H' * factor ** (last - k)) with H' x W'
the image after the `max_size` clamp, every level resized directly from that image. Super-resolution
keeps the initial factor exactly instead (`exact_factor`), so that its finest generator learns the
very up-sampling step it is later applied with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import ConfigError, InputError
from .resize import out_size, resize


@dataclass(frozen=True)
class PyramidGeometry:
    """Sizes of every scale for one image."""

    sizes: tuple[tuple[int, int], ...]  # (H, W) per scale, coarsest first
    scale_factor: float  # ratio between neighbouring scales (< 1, or 1 in degenerate cases)
    clamp_factor: float  # factor applied to the input image (<= 1)
    # Each level's scale of the clamped image, where it is not scale_factor^(last - k) (ConSinGAN)
    level_scales: tuple[float, ...] | None = None

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    def level_scale(self, k: int) -> float:
        """The scale of level k relative to the clamped image."""
        if self.level_scales is not None:
            return self.level_scales[k]
        return math.pow(self.scale_factor, len(self.sizes) - 1 - k)


def geometry(height: int, width: int, *, min_size: int = 25, max_size: int = 250,
             scale_factor_init: float = 0.75, exact_factor: bool = False) -> PyramidGeometry:
    """Compute the number of scales, the exact factor and each scale's size for an image.

    With `exact_factor` the factor between scales is `scale_factor_init` itself and the pyramid
    has as many scales as keep the coarsest short side at least `min_size` (at least two).
    Raises InputError for an image too small for `min_size` (after the `max_size` clamp) and
    ConfigError for parameters out of range.
    """
    if not (1 <= min_size <= max_size and 0 < scale_factor_init < 1):
        raise ConfigError(f"need 1 <= min_size ({min_size}) <= max_size ({max_size}) and "
                          f"0 < scale_factor_init ({scale_factor_init}) < 1")
    if height < 1 or width < 1:
        raise InputError(f"image has no pixels ({height}x{width})")
    log_s0 = math.log(scale_factor_init)
    short, long = min(height, width), max(height, width)
    num_scales = math.ceil(math.log(min_size / short) / log_s0) + 1
    scale2stop = math.ceil(math.log(min(max_size, long) / long) / log_s0)
    stop_scale = num_scales - scale2stop
    clamp = min(max_size / long, 1.0)
    ch, cw = out_size(height, clamp), out_size(width, clamp)
    if min(ch, cw) < min_size:
        raise InputError(
            f"image is too small: {height}x{width} gives {ch}x{cw} after the {max_size}-px clamp, "
            f"but the coarsest scale needs a short side of at least {min_size} px "
            f"(lower --min-size or use a larger image)")
    if stop_scale < 1:
        # Short side equal to min_size: two identical scales, as the original (spec 1.3).
        stop_scale = 1
    if exact_factor:
        factor = scale_factor_init
        stop_scale = max(1, math.floor(math.log(min_size / min(ch, cw)) / log_s0 + 1e-9))
    else:
        factor = math.pow(min_size / min(ch, cw), 1.0 / stop_scale)
    sizes = tuple((out_size(ch, math.pow(factor, stop_scale - k)),
                   out_size(cw, math.pow(factor, stop_scale - k)))
                  for k in range(stop_scale + 1))
    return PyramidGeometry(sizes=sizes, scale_factor=factor, clamp_factor=clamp)


def consingan_scales(factor: float, num_stages: int) -> tuple[float, ...]:
    """ConSinGAN's rescaling: the scale of each stage (0 = coarsest) relative to the image, with r
    = `factor`: r^(((stop - 1) / ln(stop)) ln(stop - n) + 1) for n < stop = num_stages - 1, and 1
    at the last stage. More stages stay at low resolution than in a geometric pyramid."""
    stop = num_stages - 1
    if stop == 1:  # the formula's limit: r, then the image
        return (factor, 1.0)
    k = (stop - 1) / math.log(stop)
    return tuple(math.pow(factor, k * math.log(stop - n) + 1) for n in range(stop)) + (1.0,)


def consingan_geometry(height: int, width: int, *, num_stages: int = 6, min_size: int = 25,
                       max_size: int = 250) -> PyramidGeometry:
    """The stages of a ConSinGAN pyramid: the image shrunk to a long side of at most `max_size`,
    r = (min_size / short side)^(1 / (num_stages - 1)), stage sizes ceil(side * scale) with the
    scales of `consingan_scales` (a 188x250 image: short sides 25, 32, 42, 63, 126, 188)."""
    if not (1 <= min_size <= max_size and num_stages >= 2):
        raise ConfigError(f"need 1 <= min_size ({min_size}) <= max_size ({max_size}) and at "
                          f"least 2 stages (got {num_stages})")
    if height < 1 or width < 1:
        raise InputError(f"image has no pixels ({height}x{width})")
    clamp = min(max_size / max(height, width), 1.0)
    ch, cw = out_size(height, clamp), out_size(width, clamp)
    if min(ch, cw) < min_size:
        raise InputError(
            f"image is too small: {height}x{width} gives {ch}x{cw} after the {max_size}-px clamp, "
            f"but the coarsest stage needs a short side of at least {min_size} px "
            f"(lower --min-size or use a larger image)")
    factor = math.pow(min_size / min(ch, cw), 1.0 / (num_stages - 1))
    scales = consingan_scales(factor, num_stages)
    sizes = tuple((out_size(ch, s), out_size(cw, s)) for s in scales)
    return PyramidGeometry(sizes=sizes, scale_factor=factor, clamp_factor=clamp,
                           level_scales=scales)


def geometry_for(config, height: int, width: int) -> PyramidGeometry:
    """The pyramid a config gives an image of height x width (super-resolution keeps its initial
    factor exactly; ConSinGAN has its own rescaling)."""
    if config.arch == "consingan":
        return consingan_geometry(height, width, num_stages=config.num_stages,
                                  min_size=config.min_size, max_size=config.max_size)
    return geometry(height, width, min_size=config.min_size, max_size=config.max_size,
                    scale_factor_init=config.scale_factor_init,
                    exact_factor=config.mode == "sr")


def build_pyramid(image: torch.Tensor, geo: PyramidGeometry,
                  quantize: bool = False) -> list[torch.Tensor]:
    """Resize a (1, 3, H, W) image to every scale, coarsest first, each from the clamped image."""
    clamped = resize(image, geo.clamp_factor, quantize=quantize)
    reals = []
    for k, size in enumerate(geo.sizes):
        level = resize(clamped, geo.level_scale(k), quantize=quantize)
        reals.append(level[..., : size[0], : size[1]].contiguous())
    return reals
