"""Masks for editing and harmonization: reading, binarising, dilating, blurring (spec 6.3).

Convention: a mask is a (1, 1, H, W) float tensor; 1 marks the edited or pasted region.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import InputError
from ..images import mask_array
from ..models import SinGAN
from .common import fit_to_model

BLUR_SIGMA = 5.0  # Gaussian blur of the dilated mask, in pixels of a TUNED_SIDE image
BLUR_TRUNCATE = 4.0  # the blur kernel reaches this many sigmas (20 px)
# The growth of a mask (dilation radius and blur) is given for an image of this long side (the
# paper's 250 px, for which the original's 20 px / 7 px and sigma 5 were chosen) and scaled with
# the training image: a 96-px image gets 8 px / 3 px and sigma 1.9, so the region kept from the
# user's image is as large a share of it as at 250 px.
TUNED_SIDE = 250
MIN_SIGMA = 0.5


def scaled_growth(radius: int, size: tuple[int, int], sigma: float = BLUR_SIGMA
                  ) -> tuple[int, float]:
    """(dilation radius, blur sigma) for an image of `size` = (H, W): `radius` and `sigma` at a
    TUNED_SIDE long side, in proportion to the long side (radius at least 1 px, sigma 0.5)."""
    f = max(size) / TUNED_SIDE
    return max(1, round(radius * f)), max(MIN_SIGMA, sigma * f)


def mask_to_tensor(mask: torch.Tensor | Image.Image) -> torch.Tensor:
    """A mask as a (1, 1, H, W) float tensor in [0, 1].

    PIL images: the alpha channel when it marks a region (some pixels transparent, some opaque),
    else the gray level, so binary, grayscale, RGB and RGBA-alpha masks all work. Tensors:
    (H, W), (C, H, W) or (1, C, H, W) with C = 1 or 3 (channels averaged), values in [0, 1].
    """
    if isinstance(mask, Image.Image):
        return torch.from_numpy(mask_array(mask))[None, None]
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"mask must be a PIL image or a tensor, got {type(mask).__name__}")
    m = mask.float()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    if m.dim() != 4 or m.shape[0] != 1 or m.shape[1] not in (1, 3):
        raise InputError(f"mask must be (H, W), (C, H, W) or (1, C, H, W) with C = 1 or 3, got "
                         f"{tuple(mask.shape)}")
    if not torch.isfinite(m).all():
        raise InputError("mask holds NaN or infinite values")
    return m.mean(dim=1, keepdim=True)


def prepare_mask(mask: torch.Tensor | Image.Image, model: SinGAN,
                 what: str = "mask") -> torch.Tensor:
    """Binarise a mask at 0.5 at the training image's size; refuse an empty or full mask."""
    m = fit_to_model(mask_to_tensor(mask), model, what)
    m = (m > 0.5).to(m.dtype)
    if not m.any():
        raise InputError(f"{what} is empty: no pixel is set (white or opaque marks the region)")
    if m.all():
        raise InputError(f"{what} is full: every pixel is set, so nothing of the image would be "
                         f"kept; mark only the edited region")
    return m


def disk(radius: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(2r+1, 2r+1) footprint of a disk: 1 where y^2 + x^2 <= r^2."""
    r = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    return ((r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2).to(dtype)


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of a (B, 1, H, W) 0/1 mask with a disk (outside the image counts as 0)."""
    if radius <= 0:
        return mask
    k = disk(radius, mask.device, mask.dtype)[None, None]
    return (F.conv2d(mask, k, padding=radius) > 0.5).to(mask.dtype)


def gaussian_blur(x: torch.Tensor, sigma: float, truncate: float = BLUR_TRUNCATE) -> torch.Tensor:
    """Separable Gaussian blur of a (B, C, H, W) tensor; borders repeat the edge pixel."""
    radius = int(math.ceil(truncate * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def soft_mask(mask: torch.Tensor, radius: int, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Dilate by a disk of `radius`, blur with `sigma` and stretch to [0, 1] (spec 6.3 step 3).

    Pixels farther than radius + 4 sigma from the mask get exactly 0.
    """
    m = gaussian_blur(dilate(mask, radius), sigma)
    lo, hi = m.min(), m.max()
    if hi - lo < 1e-6:  # dilated over the whole image
        return torch.ones_like(m)
    return (m - lo) / (hi - lo)
