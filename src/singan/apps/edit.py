"""Editing (spec 6.3): regenerate an edited region so that it fits the image."""

from __future__ import annotations

import torch
from torch import nn

from ..models import SinGAN
from .blend import EditResult, inject_and_blend
from .common import ImageLike, Progress

EDIT_RADIUS = 20  # dilation of the mask, px at a 250-px long side (scaled with the image)


def edit(model: SinGAN, edited: ImageLike, mask: torch.Tensor | ImageLike, *, start_scale: int,
         fine_tune: int = 0, seed: int | None = None, generator: torch.Generator | None = None,
         critic: nn.Module | None = None,
         callback: Progress | None = None) -> EditResult:
    """Make a naive edit of the training image look natural.

    Args:
        model: a model trained on the unedited image.
        edited: the edited image ((1, 3, H, W) / (3, H, W) tensor in [-1, 1] or a PIL image),
            resized to the training image with an `InputNotice` if its size differs.
        mask: the edited region (tensor in [0, 1] or PIL image: binary, gray, RGB or RGBA alpha).
        start_scale: injection scale, 1 (coarsest possible) to the finest.
        fine_tune: iterations of fine-tuning the finest scales on the edited image first (0: none).
        seed, generator: randomness (give at most one).
        critic: optional critic of the finest scale to start fine-tuning from (not changed).
        callback: called as callback(done, total) after every fine-tuning iteration.

    Returns:
        EditResult(blended, raw, mask): `blended` is the edited image with the region inside
        the soft mask (dilated by 20 px and blurred with sigma 5 on a 250-px image, in
        proportion on others: `masks.scaled_growth`) taken from `raw`.
    """
    return inject_and_blend(model, edited, mask, start_scale=start_scale, radius=EDIT_RADIUS,
                            fine_tune=fine_tune, seed=seed, generator=generator, critic=critic,
                            callback=callback, what="edited image")
