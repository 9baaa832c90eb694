"""Limits and memory budgets: how many pixels an input or output may have, and how much memory
training and sampling need (estimated before anything big is allocated)."""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigError

MAX_PIXELS = 64_000_000  # default limit on pixels of an input image, checked before decoding
MAX_PIXELS_ENV = "SINGAN_MAX_PIXELS"  # environment variable that overrides MAX_PIXELS


def pixel_limit(max_pixels: int | None = None) -> int:
    """The pixel limit: `max_pixels`, else $SINGAN_MAX_PIXELS, else MAX_PIXELS."""
    if max_pixels is not None:
        value, origin = max_pixels, "max_pixels"
    elif os.environ.get(MAX_PIXELS_ENV):
        value, origin = os.environ[MAX_PIXELS_ENV], MAX_PIXELS_ENV
    else:
        return MAX_PIXELS
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin} must be a whole number of pixels, got {value!r}") from None
    if value < 1:
        raise ConfigError(f"{origin} must be at least 1, got {value}")
    return value


GIB = 2**30


def available_memory(device: Any) -> int | None:
    """Bytes free for tensors on `device` (a torch.device), or None when unknown."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# Reading an image file into a float tensor holds, at its peak, the decoded pixels, their RGB copy,
# a float32 array and float32 tensors: 35-40 bytes per pixel measured (bench/memory.py image:
# 4000 and 7000 px PNGs).
IMAGE_BYTES_PER_PIXEL = 40
TENSOR_BYTES_PER_PIXEL = 12  # the (1, 3, H, W) float32 image kept while training


def image_memory(height: int, width: int) -> int:
    """Estimated peak bytes for reading an image file of height x width into a tensor."""
    return IMAGE_BYTES_PER_PIXEL * height * width


def format_bytes(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB / 10 else f"{n / 2**20:.0f} MiB"


def generation_memory(config: Any, height: int, width: int, batch: int = 1) -> int:
    """Estimated peak bytes for generating `batch` images of height x width one at a time.

    The finest scale dominates: about three activations of the widest layer on the padded image
    live at once, plus the batch of outputs and their concatenated copy. Calibrated on CPU with
    bench/memory.py (1.06-1.09x the measured peak at 512-1024 px).
    """
    c, p = config.max_channels, config.pad
    per_sample = 4 * (height + 2 * p) * (width + 2 * p) * (3 * c + 12)
    outputs = 2 * 4 * 3 * height * width * batch
    return int(1.1 * (per_sample + outputs))


def check_output_size(height: int, width: int, config: Any, *, batch: int = 1,
                      available: int | None = None, max_pixels: int | None = None) -> int:
    """Refuse an output larger than the pixel limit or than the memory available.

    Returns the estimated bytes needed (see `generation_memory`); raises ConfigError with the
    computed need when `available` (bytes, e.g. from `available_memory`) is too small.
    """
    limit = pixel_limit(max_pixels)
    if height * width > limit:
        raise ConfigError(f"output {width}x{height} = {height * width} pixels is over the limit "
                          f"of {limit} (--max-pixels or ${MAX_PIXELS_ENV})")
    need = generation_memory(config, height, width, batch)
    if available is not None and need > available:
        raise ConfigError(f"an output of {width}x{height} needs about {format_bytes(need)} of "
                          f"memory, more than the {format_bytes(available)} available; ask for "
                          f"a smaller size (or a smaller --batch)")
    return need


def animation_memory(config: Any, sizes: list[tuple[int, int]], frames: int,
                     batch: int = 16) -> int:
    """Estimated peak bytes of animating `frames` frames (`apps.animate` and writing them): the
    noise walk of every scale and the frames (each built in pieces and joined, so twice), their
    8-bit copy, and the batch being generated."""
    pad = 2 * config.pad if config.noise_padding else 0
    walks = 2 * 4 * 3 * frames * sum((h + pad) * (w + pad) for h, w in sizes)
    h, w = sizes[-1]
    return walks + frames * 3 * h * w * (2 * 4 + 1) + \
        generation_memory(config, h, w, min(batch, frames))


def check_animation_size(config: Any, sizes: list[tuple[int, int]], frames: int, *,
                         available: int | None = None) -> int:
    """Refuse an animation whose estimated memory (`animation_memory`) exceeds `available`."""
    need = animation_memory(config, sizes, frames)
    if available is not None and need > available:
        raise ConfigError(f"{frames} frames of {sizes[-1][1]}x{sizes[-1][0]} need about "
                          f"{format_bytes(need)} of memory, more than the "
                          f"{format_bytes(available)} available; ask for fewer --frames")
    return need


# Calibration of `training_memory` on CPU (bench/memory.py; within 0.95-1.1x of the measured
# peak for 64-256 px and 32-64 channels): bytes per activation (pixel x channel x layer) for one
# learning generator plus the critic with its gradient-penalty graph, per extra learning
# generator (train_depth > 1: an extrapolation, not measured), and a fixed part.
TRAIN_BYTES_PER_ACT = 36
TRAIN_BYTES_PER_DEPTH = 12
TRAIN_BASE_BYTES = 96 * 2**20
# The pool of random coarse inputs (`prev_pool`) is held at full size. Each scale's pool is made
# from the previous scale's, in chunks of at most POOL_CHUNK_FLOATS activation floats
# (training.inputs.RandomInputs.advance_pool), so for a moment both pools and about POOL_CHAIN_ACTS such
# activations are alive. Whole `fast` runs (bench/memory.py): 384x512 1416 MiB measured,
# 750x1000 2030 MiB; the estimate is 1.04x both.
POOL_CHUNK_FLOATS = 1 << 26
POOL_CHAIN_ACTS = 4.5


def training_memory_per_scale(config: Any, sizes: list[tuple[int, int]]) -> list[int]:
    """Estimated peak bytes while each scale of a pyramid of `sizes` trains (scales larger than
    `crop_size` train on crops of that side; a `prev_pool` of random inputs is held at full
    size), the fixed base included."""
    c, p = config, config.pad
    crop = c.crop_size or 1 << 30
    out = []
    for n, (h, w) in enumerate(sizes):
        acts = (min(h, crop) + 2 * p) * (min(w, crop) + 2 * p) * c.channels(n) * c.num_layers
        depth = min(c.train_depth, n + 1)
        need = acts * (TRAIN_BYTES_PER_ACT + TRAIN_BYTES_PER_DEPTH * depth)
        if c.prev_pool:
            lo = n - depth + 1
            hp, wp = sizes[max(0, lo - 1)]
            pool = 4 * c.prev_pool * 3 * sizes[lo][0] * sizes[lo][1]
            pool_before = 4 * c.prev_pool * 3 * hp * wp  # the pool it is made from
            chain = 4 * min(POOL_CHUNK_FLOATS, c.prev_pool * c.max_channels * (hp + 2 * p) *
                            (wp + 2 * p))
            need = max(need + pool, pool + pool_before + POOL_CHAIN_ACTS * chain)
        out.append(int(need) + TRAIN_BASE_BYTES)
    return out


def training_memory(config: Any, sizes: list[tuple[int, int]], image_pixels: int = 0) -> int:
    """Estimated peak bytes for training on a pyramid of `sizes` (the finest scale dominates),
    plus the full-size image of `image_pixels` kept meanwhile."""
    peak = max(training_memory_per_scale(config, sizes), default=TRAIN_BASE_BYTES)
    return peak + TENSOR_BYTES_PER_PIXEL * image_pixels


def check_training_memory(need: int, device: Any, max_size: int) -> None:
    """Refuse a training whose estimated memory `need` (bytes, `training_memory`) exceeds what
    `device` has free; ConfigError with both figures."""
    free = available_memory(device)
    if free is not None and need > free:
        raise ConfigError(f"training at --max-size {max_size} needs about {format_bytes(need)} "
                          f"of memory, more than the {format_bytes(free)} free on {device}; use a "
                          f"smaller --max-size or --max-channels")
