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

    @property
    def num_scales(self) -> int:
        return len(self.sizes)


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


def geometry_for(config, height: int, width: int) -> PyramidGeometry:
    """The pyramid a `SinGANConfig` gives an image of height x width (super-resolution keeps
    its initial factor exactly)."""
    return geometry(height, width, min_size=config.min_size, max_size=config.max_size,
                    scale_factor_init=config.scale_factor_init,
                    exact_factor=config.mode == "sr")


def build_pyramid(image: torch.Tensor, geo: PyramidGeometry,
                  quantize: bool = False) -> list[torch.Tensor]:
    """Resize a (1, 3, H, W) image to every scale, coarsest first, each from the clamped image."""
    top = len(geo.sizes) - 1
    clamped = resize(image, geo.clamp_factor, quantize=quantize)
    reals = []
    for k, size in enumerate(geo.sizes):
        level = resize(clamped, math.pow(geo.scale_factor, top - k), quantize=quantize)
        reals.append(level[..., : size[0], : size[1]].contiguous())
    return reals
