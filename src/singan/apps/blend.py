"""Injection with a mask, shared by editing and harmonization (spec 6.3).

The naive image is blurred down to the scale below `start_scale`, injected at `start_scale`, the
remaining scales add detail with fresh noise, and the result replaces the image inside the
dilated, blurred mask. With `fine_tune` the generators of the finest scales (at most
`FINE_TUNE_DEPTH`, none below the injection scale) first learn to turn the injected naive image
into the training image's patches (ConSinGAN), on a copy of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..models import SinGAN
from ..sample import generate
from .common import (ImageLike, Progress, as_image, blurred_injection, check_injection_scale,
                     check_ready, own_generator, random_generator, tuned_copy, tuning_inputs)
from .masks import prepare_mask, scaled_growth, soft_mask

FINE_TUNE_DEPTH = 3  # scales that learn when fine-tuning (ConSinGAN's train_depth)
POOL = 16  # samples of the injected image at the first learning scale, to fine-tune from


@dataclass
class EditResult:
    """What editing and harmonization return; tensors on the model's device.

    blended: (1, 3, H, W) the input image with the masked region regenerated.
    raw: (1, 3, H, W) the model's output for the whole image.
    mask: (1, 1, H, W) the soft mask in [0, 1] used for blending (1 = model output).
    Images are in about [-1, 1] (not clamped, as `generate`).
    """

    blended: torch.Tensor
    raw: torch.Tensor
    mask: torch.Tensor


def inject_and_blend(model: SinGAN, image: ImageLike, mask: torch.Tensor | ImageLike, *,
                     start_scale: int, radius: int, fine_tune: int = 0, seed: int | None = None,
                     generator: torch.Generator | None = None,
                     critic: nn.Module | None = None, callback: Progress | None = None,
                     what: str = "image") -> EditResult:
    """Inject `image` at `start_scale` and blend the output into it inside `mask`.

    `radius` is the mask's dilation for a 250-px image (`masks.TUNED_SIDE`); it and the blur
    are scaled with the training image's long side (`masks.scaled_growth`).

    `critic`: the model's finest critic to start fine-tuning from (a copy is trained); default
    a fresh one. `callback(done, total)` follows fine-tuning. `what` names the image in messages.
    """
    check_ready(model)
    check_injection_scale(model, start_scale)
    img = as_image(image, model, what)
    grow, sigma = scaled_growth(radius, model.sizes[-1])
    soft = soft_mask(prepare_mask(mask, model), grow, sigma)
    gen = random_generator(model, seed, generator)
    start = blurred_injection(model, img, start_scale)
    if fine_tune:
        gen = own_generator(model, gen)
        last = model.num_scales - 1
        first = max(start_scale, last - FINE_TUNE_DEPTH + 1)
        prevs = tuning_inputs(model, start, start_scale, first, POOL, gen)
        model = tuned_copy(model, first, last, fine_tune, prevs, generator=gen, critic=critic,
                           callback=callback)
    raw = generate(model, 1, start_scale=start_scale, start_image=start, generator=gen)
    return EditResult(blended=(1 - soft) * img + soft * raw, raw=raw, mask=soft)
