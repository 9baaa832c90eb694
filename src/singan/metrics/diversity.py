"""The SinGAN paper's diversity measure (spec section 7.2).

Convention: images are (B, 3, H, W) tensors in [-1, 1]. Colour: every RGB channel value is one
intensity (no grayscale conversion). Diversity = the standard deviation across samples of each
pixel's channel values, averaged over pixels and channels, divided by the standard deviation of the
real image's channel values over all its pixels and channels. Both are population standard
deviations (ddof = 0, as numpy's default). The ratio does not depend on the value range, so [-1, 1]
and [0, 1] give the same figure; 0 means identical samples.
"""

from __future__ import annotations

import torch

from ..errors import InputError


@torch.no_grad()
def diversity(real: torch.Tensor, samples: torch.Tensor) -> float:
    """Diversity of `samples` (N >= 2, 3, H, W) relative to `real` (1, 3, H', W')."""
    if samples.dim() != 4 or samples.shape[0] < 2:
        raise InputError("diversity needs at least 2 samples of the same size")
    spread = samples.double().std(dim=0, correction=0).mean()
    ref = real.double().std(correction=0)
    if ref == 0:
        raise InputError("diversity is undefined for a real image of one flat colour")
    return float(spread / ref)
