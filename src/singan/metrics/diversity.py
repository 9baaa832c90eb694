"""The SinGAN paper's diversity measure (spec section 7.2).

Convention: images are (B, 3, H, W) tensors in [-1, 1]. Colour: every RGB channel value is one
intensity (no grayscale conversion). Diversity = the standard deviation across samples of each
pixel's channel values, averaged over pixels and channels, divided by the standard deviation of the
real image's channel values over all its pixels and channels. Both are population standard
deviations (ddof = 0, as numpy's default). The ratio does not depend on the value range, so [-1, 1]
and [0, 1] give the same figure; 0 means identical samples.

The figure depends on how many samples it is taken over: a population standard deviation of few
draws reads low. The paper takes 100 samples per image (`PAPER_SAMPLES`); over 10 the same models
read about 8-12% lower (docs/benchmarks.md, "Diversity over 10 samples reads low"). The samples may
come in batches (an iterable of (B, 3, H, W) tensors), so that 100 large samples need not be held
at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..errors import InputError

PAPER_SAMPLES = 100  # samples per image in the SinGAN paper's diversity


@torch.no_grad()
def diversity(real: torch.Tensor, samples: torch.Tensor | Iterable[torch.Tensor]) -> float:
    """Diversity of `samples` relative to `real` (1, 3, H', W'): one (N >= 2, 3, H, W) tensor, or
    an iterable of (B, 3, H, W) batches of one size (N >= 2 in all)."""
    batches = [samples] if isinstance(samples, torch.Tensor) else samples
    count, total, squares, shape = 0, None, None, None
    for batch in batches:
        if batch.dim() != 4:
            raise InputError("diversity needs samples as (N, 3, H, W) tensors")
        if shape is not None and tuple(batch.shape[1:]) != shape:
            raise InputError("diversity needs samples of one size")
        shape = tuple(batch.shape[1:])
        x = batch.double()
        if total is None:
            # deviations from the first sample keep the sums small (no cancellation)
            pivot = x[:1].clone()
            total, squares = torch.zeros_like(pivot[0]), torch.zeros_like(pivot[0])
        x = x - pivot
        total += x.sum(dim=0)
        squares += x.square().sum(dim=0)
        count += x.shape[0]
    if count < 2:
        raise InputError("diversity needs at least 2 samples of the same size")
    mean = total / count
    spread = (squares / count - mean.square()).clamp(min=0).sqrt().mean()
    ref = real.double().std(correction=0)
    if ref == 0:
        raise InputError("diversity is undefined for a real image of one flat colour")
    return float(spread / ref)
