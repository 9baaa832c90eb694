"""Image files and tensors: reading images and masks (checked by `files` first), converting any
Pillow mode to RGB, and writing images atomically.

Convention: image tensors are (1, 3, H, W) float32 in [-1, 1]; masks (1, 1, H, W) in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .errors import InputError
from .files import MIN_SIDE, atomic_write, decode_image


def open_image(path: str | os.PathLike, *, max_pixels: int | None = None,
               min_side: int = MIN_SIDE, available: int | None = None) -> Image.Image:
    """Open and decode an image file (first frame, EXIF rotation applied, mode unchanged).

    Raises InputError with the file name for a missing path, a folder, a symbolic-link loop, an
    empty file, a non-image, a corrupt or truncated file, a side under `min_side`, or more than
    `max_pixels` pixels (default: $SINGAN_MAX_PIXELS or MAX_PIXELS; checked before decoding).
    An animated image gives its first frame and a `InputNotice` warning.
    """
    return decode_image(path, max_pixels=max_pixels, min_side=min_side, available=available)


def read_image(path: str | os.PathLike, *, max_pixels: int | None = None,
               available: int | None = None) -> Image.Image:
    """Open an image file as 8-bit RGB (see `open_image` for the checks). Also reads paints."""
    return _converted(path, open_image(path, max_pixels=max_pixels, available=available),
                      to_rgb)


def _converted(path, im: Image.Image, convert) -> Any:
    try:
        return convert(im)
    except (ValueError, OSError) as e:  # Pillow cannot convert some modes (LAB, HSV, ...)
        raise InputError(f"{path}: unsupported image mode {im.mode!r} ({e})") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: grayscale is repeated, alpha is dropped."""
    im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    return im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit grayscale (I;16, I, F) -> 8-bit L; other modes unchanged."""
    if im.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return im
    a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
    a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(a, mode="L")


def mask_array(im: Image.Image) -> np.ndarray:
    """A mask image -> (H, W) float32 in [0, 1], 1 = selected.

    The alpha channel is the mask when the image has one that marks a region (some pixels at
    least half transparent, some at least half opaque: RGBA, LA, PA, palette with transparency);
    otherwise the luminance (binary, grayscale, 16-bit, RGB).
    """
    im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or \
            (im.mode == "P" and "transparency" in im.info):
        alpha = np.asarray(im.convert("RGBA"), dtype=np.uint8)[..., 3]
        if alpha.min() < 128 <= alpha.max():
            return alpha.astype(np.float32) / 255.0
    return np.asarray(to_rgb(im).convert("L"), dtype=np.float32) / 255.0


def read_mask(path: str | os.PathLike, size: tuple[int, int] | None = None, *,
              max_pixels: int | None = None, allow_empty: bool = False) -> torch.Tensor:
    """Read a mask file as a (1, 1, H, W) float32 tensor in [0, 1] (1 = the masked region).

    Accepts binary, grayscale (8/16-bit), RGB (luminance) and images with transparency (alpha).
    With `size` = (H, W) the mask is resized bilinearly to it. Raises InputError for the same
    file problems as `open_image`, and for a mask with no selected pixel unless `allow_empty`.
    """
    a = _converted(path, open_image(path, max_pixels=max_pixels), mask_array)
    if size is not None:
        h, w = int(size[0]), int(size[1])
        if h < 1 or w < 1:
            raise InputError(f"{path}: cannot resize the mask to {h}x{w}")
        im = Image.fromarray(a, mode="F").resize((w, h), Image.BILINEAR)
        a = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
    if not allow_empty and not (a > 0.5).any():
        raise InputError(f"{path}: the mask is empty (no white or opaque pixel selects a region)")
    return torch.from_numpy(np.ascontiguousarray(a))[None, None]


def image_to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) float32 tensor in [-1, 1]."""
    a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).mul(2).sub(1).contiguous()


def tensor_to_image(x: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) tensor in [-1, 1] -> RGB PIL image (clamped, rounded)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise InputError("tensor_to_image takes one image; index the batch first")
        x = x[0]
    a = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return Image.fromarray(a.permute(1, 2, 0).cpu().numpy(), mode="RGB")


def load_image(path: str | os.PathLike, *, max_pixels: int | None = None,
               available: int | None = None) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) tensor in [-1, 1]; with `available` (bytes free),
    refuse before decoding an image that needs more (`budget.image_memory`)."""
    return image_to_tensor(read_image(path, max_pixels=max_pixels, available=available))


def save_image(x: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one image tensor in [-1, 1] as PNG (or the format the suffix names), atomically."""
    path = Path(path)
    im = tensor_to_image(x)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    return atomic_write(path, lambda f: im.save(f, format=fmt))
