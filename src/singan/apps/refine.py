"""Refinement of a trained model's samples by a patch engine: the model draws the coarse layout
up to a chosen scale, and GPNN or GPDM builds the finer levels from the real image's patches."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import patch
from ..bounds import check_seed
from ..errors import ConfigError
from ..models import SinGAN
from ..sample import scale_sizes
from .common import check_ready, to_tensor


def default_layout_scale(model: SinGAN) -> int:
    """The coarsest trained scale whose shorter side is at least a quarter of the finest's: a
    layout that keeps the model's composition and leaves the texture to the patches."""
    finest = min(model.sizes[-1])
    for k in range(model.num_trained):
        if min(model.sizes[k]) * 4 >= finest:
            return k
    return model.num_trained - 1


@torch.no_grad()
def refine_samples(model: SinGAN, seeds: Sequence[int], *, layout_scale: int | None = None,
                   image: torch.Tensor | None = None, engine: str = "gpnn",
                   scale_h: float = 1.0, scale_w: float = 1.0,
                   settings: patch.tasks.Settings | None = None,
                   max_memory: int | None = None) -> torch.Tensor:
    """One output per seed: the model's sample up to `layout_scale` (default
    `default_layout_scale`), built up by the patch engine from the patches of `image` (default:
    the model's training image) to the image's size scaled by (scale_h, scale_w)."""
    check_ready(model, None, "refinement")
    k = default_layout_scale(model) if layout_scale is None else int(layout_scale)
    if not 0 <= k < model.num_trained:
        raise ConfigError(f"the layout scale must be between 0 and {model.num_trained - 1}, "
                          f"got {k}")
    if model.training:
        model.eval()
    sizes = scale_sizes(model, scale_h, scale_w)
    source = model.reals[-1] if image is None else to_tensor(image, "image").to(model.device)
    h, w = source.shape[-2:]
    final = sizes[-1] if image is None else (max(1, round(h * scale_h)), max(1, round(w * scale_w)))
    outs = []
    for seed in seeds:
        gen = torch.Generator(device=model.device).manual_seed(check_seed(seed))
        layout = model.synthesize(1, sizes[:k + 1], generator=gen).clamp(-1, 1)
        outs.append(patch.refine(layout, source.float(), final, engine=engine, generator=gen,
                                 settings=settings, max_memory=max_memory))
    return torch.cat(outs)
