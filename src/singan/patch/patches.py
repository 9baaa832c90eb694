"""Patches of an image and back: the two operations both patch engines are made of.

Convention: images are (B, C, H, W) tensors in [-1, 1]; a patch is a flat vector of C * p * p
values (channel-major, as `torch.nn.functional.unfold` orders them); the patches of an image are
taken with stride 1, so an H x W image has (H - p + 1) * (W - p + 1) of them, in row order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def grid(size: tuple[int, int], p: int) -> tuple[int, int]:
    """Rows and columns of the patch grid of an image of `size` (H, W)."""
    return size[0] - p + 1, size[1] - p + 1


def extract(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, C * p * p): every p x p patch, stride 1."""
    return F.unfold(x, p).transpose(1, 2)


def fold(patches: torch.Tensor, size: tuple[int, int], p: int) -> torch.Tensor:
    """(B, L, C * p * p) -> (B, C, H, W): the patches put back in place, overlaps averaged."""
    cols = patches.transpose(1, 2)
    total = F.fold(cols, size, p)
    ones = torch.ones(1, 1, *size, device=patches.device, dtype=patches.dtype)
    count = F.fold(F.unfold(ones, p), size, p)
    return total / count


def touching(mask: torch.Tensor, p: int) -> torch.Tensor:
    """(1, 1, H, W) mask in [0, 1] -> (L,) bool: the patches that overlap its region (> 0.5)."""
    hit = F.max_pool2d((mask > 0.5).float(), p, stride=1)
    return hit.flatten() > 0
