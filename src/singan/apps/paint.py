"""Paint-to-image (spec 6.2): turn a rough colour drawing into an image like the training one."""

from __future__ import annotations

from functools import partial

import torch

from ..errors import ConfigError
from ..families import is_consingan
from ..models import SinGAN
from ..resize import resize
from ..sample import generate
from .common import (ImageLike, Progress, as_image, blurred_injection, check_injection_scale,
                     check_ready, own_generator, random_generator, run_scales,
                     tuned_copy)
from .palette import kmeans, quantize as quantize_to

POOL = 32  # random samples of the coarser scales that quantised fine-tuning learns from


def paint_to_image(model: SinGAN, paint: ImageLike, *, start_scale: int, quantize: bool = False,
                   fine_tune_iters: int | None = None, seed: int | None = None,
                   generator: torch.Generator | None = None,
                   callback: Progress | None = None) -> torch.Tensor:
    """Inject a paint at `start_scale` and let the finer scales add the training image's detail.

    Args:
        model: a trained model.
        paint: the drawing ((1, 3, H, W) / (3, H, W) tensor in [-1, 1] or a PIL image), resized
            to the training image with an `InputNotice` if its size differs.
        start_scale: injection scale, 1 (coarsest possible) to the finest.
        quantize: map the paint to the 5 main colours of the training image at that scale
            (k-means on RGB pixels) and first fine-tune that scale's generator, on a copy of the
            model, to turn palette-quantised images into the training image (the paper's
            variant for paints whose colours differ from the image's).
        fine_tune_iters: iterations of that fine-tuning (default: as many as the scale was
            trained with; 0: quantise only). Only with `quantize`.
        seed, generator: randomness (give at most one).
        callback: called as callback(done, total) after every fine-tuning iteration.

    Returns:
        (1, 3, H, W) image in about [-1, 1] (not clamped), at the training image's size.
    """
    check_ready(model)
    check_injection_scale(model, start_scale)
    if is_consingan(model):
        return _paint_consingan(model, paint, start_scale, quantize, fine_tune_iters, seed,
                                generator, callback)
    if fine_tune_iters is not None and not quantize:
        raise ConfigError("fine_tune_iters applies only with quantize=True")
    img = as_image(paint, model, "paint")
    gen = random_generator(model, seed, generator)
    if not quantize:
        start = blurred_injection(model, img, start_scale)
        return generate(model, 1, start_scale=start_scale, start_image=start, generator=gen)
    palette = partial(quantize_to, centres=kmeans(model.reals[start_scale]))
    start = palette(resize(img, size=model.sizes[start_scale]))
    iters = model.config.iters_at(start_scale, model.num_scales) if fine_tune_iters is None \
        else fine_tune_iters
    if iters:
        gen = own_generator(model, gen)
        zeros = model.z_rec.new_zeros(1, 3, *model.sizes[0])
        prevs = run_scales(model, zeros, 0, start_scale, POOL, gen)  # random samples
        model = tuned_copy(model, start_scale, start_scale, iters, prevs, generator=gen,
                           transform=palette, callback=callback)
    return generate(model, 1, start_scale=start_scale, start_image=start, generator=gen)


def _paint_consingan(model, paint, start_scale, quantize, fine_tune_iters, seed, generator,
                     callback) -> torch.Tensor:
    """ConSinGAN's paint-to-image: the paint injected at the coarsest stage, the stages from
    `start_scale` on adding noise; with `fine_tune_iters` the finest stages first learn to turn
    that input into the training image's patches, as for editing."""
    if quantize:
        raise ConfigError("quantised paint-to-image is SinGAN's variant (arch singan); a "
                          "consingan run injects the paint as it is (optionally fine-tuned)")
    img = as_image(paint, model, "paint")
    gen = random_generator(model, seed, generator)
    start = blurred_injection(model, img, start_scale)
    if fine_tune_iters:
        gen = own_generator(model, gen)
        last = model.num_scales - 1
        first = max(start_scale, last - model.config.train_depth + 1)
        model = tuned_copy(model, first, last, fine_tune_iters, start, generator=gen,
                           callback=callback)
    return generate(model, 1, start_scale=start_scale, start_image=start, generator=gen)
