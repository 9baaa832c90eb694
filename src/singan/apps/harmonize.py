"""Harmonization (spec 6.3): make a pasted object take on the look of the training image."""

from __future__ import annotations

import torch
from torch import nn

from ..models import SinGAN
from .blend import EditResult, inject_and_blend
from .common import ImageLike, Progress

HARMONIZE_RADIUS = 7  # dilation of the mask, px at a 250-px long side (scaled with the image)


def harmonize(model: SinGAN, naive: ImageLike, mask: torch.Tensor | ImageLike, *,
              start_scale: int, fine_tune: int = 0, seed: int | None = None,
              generator: torch.Generator | None = None,
              critic: nn.Module | None = None,
              callback: Progress | None = None) -> EditResult:
    """Blend an object pasted into the training image (painting or background) into its style.

    As `edit`, with `naive` the image with the object pasted in (the model is trained on the
    image without it) and the mask dilated by 7 px instead of 20 (on a 250-px image;
    scaled with the image's long side).
    """
    return inject_and_blend(model, naive, mask, start_scale=start_scale, radius=HARMONIZE_RADIUS,
                            fine_tune=fine_tune, seed=seed, generator=generator, critic=critic,
                            callback=callback, what="naive image")
