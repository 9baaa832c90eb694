"""Sampling from a trained SinGAN (spec section 5): the one `generate()` every application uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .bounds import COUNT, check_seed
from .errors import ConfigError
from .models import SinGAN


def scale_sizes(model: SinGAN, scale_h: float = 1.0, scale_w: float = 1.0,
                size: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Image size at every scale for an output scaled by (scale_h, scale_w) or of exactly `size`.

    Convention: scale_h multiplies heights and scale_w widths; each scale's size is the rounded
    product, and with `size` the finest scale is exactly `size`.
    """
    if size is not None:
        fh, fw = model.sizes[-1]
        scale_h, scale_w = size[0] / fh, size[1] / fw
    if not (scale_h > 0 and scale_w > 0):
        raise ConfigError("scale_h and scale_w must be > 0")
    sizes = [(max(1, round(scale_h * h)), max(1, round(scale_w * w))) for h, w in model.sizes]
    if size is not None:
        sizes[-1] = (int(size[0]), int(size[1]))
    return sizes


def _check_start_scale(model: SinGAN, start_scale: int) -> None:
    if not 0 <= start_scale < model.num_trained:
        raise ConfigError(f"start scale must be between 0 and {model.num_trained - 1}, "
                          f"got {start_scale}")


@torch.no_grad()
def generate(model: SinGAN, num_samples: int = 1, *, start_scale: int = 0,
             start_image: torch.Tensor | None = None, scale_h: float = 1.0, scale_w: float = 1.0,
             size: tuple[int, int] | None = None, seeds: Sequence[int] | None = None,
             generator: torch.Generator | None = None,
             noise: Mapping[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Draw samples, starting at scale `start_scale` (0 = coarsest).

    Below `start_scale` the scales replay the reconstruction of the training image (z_rec at scale
    0, no noise elsewhere); from `start_scale` on, fresh noise is injected. `start_scale=0` is the
    paper's "generation from N". With `start_image` the up-sampled input of `start_scale` is that
    image instead (injection: paint-to-image, editing, harmonization).

    Args:
        num_samples: batch size.
        scale_h, scale_w: output height and width relative to the training image.
        size: exact output (H, W); overrides scale_h and scale_w.
        seeds: one seed per sample; a sample then depends only on its seed (the same image alone
            or in a batch, on one device), at the cost of generating one sample at a time.
            Otherwise the whole batch's noise comes from `generator` (or torch's default).
        noise: optional noise per scale, {scale: (B, 3, h, w)}, replacing the random draws.

    Returns:
        (num_samples, 3, H, W) tensor in about [-1, 1] (not clamped).
    """
    if model.training:
        model.eval()
    _check_start_scale(model, start_scale)
    COUNT.check(num_samples, "num_samples")
    if seeds is not None:
        if len(seeds) != num_samples:
            raise ConfigError(f"got {len(seeds)} seeds for {num_samples} samples")
        # One sample at a time, so that a sample depends on its seed only: batched convolutions
        # may round differently from single ones.
        outs = []
        for i, s in enumerate(seeds):
            gen = torch.Generator(device=model.device).manual_seed(check_seed(s, "seed"))
            img = None if start_image is None else \
                start_image[i:i + 1] if start_image.shape[0] > 1 else start_image
            nz = None if noise is None else {k: v[i:i + 1] for k, v in noise.items()}
            outs.append(generate(model, 1, start_scale=start_scale, start_image=img,
                                 scale_h=scale_h, scale_w=scale_w, size=size, generator=gen,
                                 noise=nz))
        return torch.cat(outs)
    sizes = scale_sizes(model, scale_h, scale_w, size)[: model.num_trained]
    return model.synthesize(num_samples, sizes, start_scale=start_scale, start_image=start_image,
                            noise=noise, generator=generator)
