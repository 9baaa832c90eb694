"""MATLAB-style bicubic resampling in torch, as the original SinGAN's `imresize` (spec section 2).

Convention: output sizes are ceil(input * scale) per axis; an output pixel x (1-based) samples the
input at u = x / s + (1 - 1 / s) / 2; the Keys kernel (a = -0.5) is widened by 1 / s when
shrinking (antialiasing); borders reflect symmetrically (..., 1, 0, 0, 1, ...). Each axis is one
matrix product with a cached weight matrix on the input's device, so resizing stays on the GPU
and is differentiable.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from .errors import ConfigError


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys cubic convolution kernel with a = -0.5 (support [-2, 2])."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=512)
def _weights_cpu(in_len: int, out_len: int, scale: float) -> torch.Tensor:
    """(out_len, in_len) float64 matrix resampling one axis by `scale`."""
    antialias = scale < 1.0
    width = 4.0 / scale if antialias else 4.0
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # (out,) 1-based input coordinates
    left = torch.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # (out, taps) 1-based
    dist = u[:, None] - idx
    w = scale * cubic(scale * dist) if antialias else cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    # Symmetric border: fold the 0-based index into 0..L-1, L-1..0 repeated.
    period = 2 * in_len
    j = torch.remainder(idx.long() - 1, period)
    j = torch.where(j < in_len, j, period - 1 - j)
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, j, w)
    return mat


_device_cache: dict[tuple, torch.Tensor] = {}


def resize_matrix(in_len: int, out_len: int, scale: float, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Cached (out_len, in_len) resampling matrix on `device`."""
    key = (in_len, out_len, float(scale), str(device), dtype)
    mat = _device_cache.get(key)
    if mat is None:
        mat = _weights_cpu(in_len, out_len, float(scale)).to(device=device, dtype=dtype)
        if len(_device_cache) > 1024:
            _device_cache.clear()
        _device_cache[key] = mat
    return mat


def out_size(length: int, scale: float) -> int:
    """Output length for `scale`: ceil(length * scale), as the original."""
    return int(math.ceil(length * scale))


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """The original's round trip through uint8 (truncating), for parity runs."""
    return torch.floor(255 * ((x + 1) / 2).clamp(0, 1)) / 255 * 2 - 1


def resize(x: torch.Tensor, scale: float | tuple[float, float] | None = None,
           size: tuple[int, int] | None = None, *, clamp: bool = True,
           quantize: bool = False) -> torch.Tensor:
    """Resize a (B, C, H, W) tensor in [-1, 1] by `scale` or to `size`.

    Args:
        scale: one factor, or (factor_h, factor_w). Output size is ceil(in * factor) unless
            `size` is also given.
        size: (H, W) of the output. Without `scale`, the factors are size / input size.
        clamp: clamp input and output to [-1, 1], as the original does at every call.
        quantize: also round-trip the input through 8 bits (the original's behaviour).
    """
    h, w = x.shape[-2:]
    if scale is None and size is None:
        raise ConfigError("resize: give scale or size")
    if scale is None:
        sh, sw = size[0] / h, size[1] / w
    elif isinstance(scale, tuple):
        sh, sw = scale
    else:
        sh = sw = float(scale)
    oh, ow = size if size is not None else (out_size(h, sh), out_size(w, sw))
    if quantize:
        x = quantize_8bit(x)
    elif clamp:
        x = x.clamp(-1, 1)
    if not (oh == h and sh == 1.0):
        x = torch.matmul(resize_matrix(h, oh, sh, x.device, x.dtype), x)
    if not (ow == w and sw == 1.0):
        x = torch.matmul(x, resize_matrix(w, ow, sw, x.device, x.dtype).t())
    return x.clamp(-1, 1) if clamp or quantize else x


def upsample_to(x: torch.Tensor, size: tuple[int, int], scale_factor: float,
                quantize: bool = False) -> torch.Tensor:
    """Up-sample a scale's output to the next scale of `size` (H, W).

    As the original: resize by 1 / scale_factor (ceil sizes) and crop the top-left corner. Where the
    ceil size falls short (arbitrary output sizes), resize straight to `size` instead.
    """
    h, w = x.shape[-2:]
    up = 1.0 / scale_factor
    if out_size(h, up) >= size[0] and out_size(w, up) >= size[1]:
        return resize(x, up, quantize=quantize)[..., : size[0], : size[1]]
    return resize(x, size=size, quantize=quantize)
