"""Super-resolution (spec 6.1): apply the finest generator again and again while up-sampling.

A factor F is reached in k = round(3 log2 F) steps of F^(1/k) (x4: 6 steps of 1.26); the model
is trained in "sr" mode (alpha = 100, min size 18) on the low-resolution image with its pyramid
factor set to exactly 1 / F^(1/k), so the finest generator learns the step it is applied with.
"""

from __future__ import annotations

import torch

from ..config import sr_config, sr_steps
from ..errors import ConfigError
from ..families import is_consingan
from ..models import SinGAN
from ..resize import resize
from .common import ImageLike, check_ready, random_generator, to_tensor

__all__ = ["sr_config", "sr_steps", "super_resolve"]  # the settings live in config.py

@torch.no_grad()
def super_resolve(model: SinGAN, factor: float, *, image: ImageLike | None = None,
                  seed: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Enlarge an image by `factor` (> 1, up to 16) with an "sr"-mode model.

    Args:
        model: trained in "sr" mode on the low-resolution image (`singan sr`, or
            `singan train --mode sr`, or `train(image, sr_config(factor))`).
        factor: total enlargement; the output is round(factor * H) x round(factor * W).
        image: what to enlarge (default: the training image at its finest scale); a tensor in
            [-1, 1] or PIL image of any size.
        seed, generator: randomness of the noise added at every step (give at most one).

    Returns:
        (1, 3, round(F*H), round(F*W)) in about [-1, 1] (not clamped).
    """
    if is_consingan(model):
        raise ConfigError("super-resolution needs SinGAN's per-scale generators (arch singan), "
                          "whose finest generator is applied again and again; this is a "
                          "consingan model: `singan sr IMAGE --factor F` trains a SinGAN one")
    check_ready(model, "sr", "super-resolution")
    steps, step = sr_steps(factor)
    gen = random_generator(model, seed, generator)
    x = model.reals[-1] if image is None else \
        to_tensor(image, "image").to(device=model.device, dtype=model.z_rec.dtype)
    h, w = x.shape[-2:]
    finest = model.num_scales - 1
    for i in range(1, steps + 1):
        f = factor if i == steps else step ** i
        size = (round(f * h), round(f * w))
        x = resize(x, size=size)
        x = model.scale_step(finest, x, model.draw_noise(finest, 1, size, generator=gen))
    return x
