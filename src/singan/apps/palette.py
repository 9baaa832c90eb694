"""Colour palettes for paint-to-image: k-means on RGB pixels and quantisation to the centres.

The original clustered triples of neighbouring same-channel values (a reshape bug, spec 8.9);
here every sample is one pixel's (R, G, B).
"""

from __future__ import annotations

import torch

PALETTE_SIZE = 5  # k of the paper's k-means
PALETTE_SEED = 0  # the original's random_state


def _pixels(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B*H*W, 3)."""
    return image.permute(0, 2, 3, 1).reshape(-1, image.shape[1])


def _nearest(pixels: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    return torch.cdist(pixels, centres).argmin(dim=1)


def _init_plus_plus(pixels: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding on CPU pixels: each next centre drawn with probability ~ distance^2."""
    first = torch.randint(len(pixels), (1,), generator=gen)
    centres = pixels[first]
    for _ in range(1, k):
        d2 = torch.cdist(pixels, centres).min(dim=1).values ** 2
        nxt = first if d2.sum() <= 0 else torch.multinomial(d2 / d2.sum(), 1, generator=gen)
        centres = torch.cat([centres, pixels[nxt]])  # (repeats a colour if fewer than k exist)
    return centres


def kmeans(image: torch.Tensor, k: int = PALETTE_SIZE, *, seed: int = PALETTE_SEED,
           restarts: int = 4, iters: int = 50) -> torch.Tensor:
    """The k colours (k, 3) that best summarise an image's pixels (Lloyd's k-means).

    Deterministic for a given seed: the best of `restarts` k-means++ starts (lowest inertia).
    """
    pixels = _pixels(image.detach()).double()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    best, best_inertia = None, float("inf")
    for _ in range(restarts):
        centres = _init_plus_plus(pixels.cpu(), k, gen).to(pixels.device)
        for _ in range(iters):
            label = _nearest(pixels, centres)
            sums = torch.zeros_like(centres).index_add_(0, label, pixels)
            counts = torch.bincount(label, minlength=k).to(pixels.dtype)[:, None]
            new = torch.where(counts > 0, sums / counts.clamp(min=1), centres)  # keep empty ones
            if torch.equal(new, centres):
                break
            centres = new
        inertia = float(((pixels - centres[_nearest(pixels, centres)]) ** 2).sum())
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    return best.to(image.dtype)


def quantize(image: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Replace every pixel of a (B, 3, H, W) image by its nearest palette colour."""
    b, c, h, w = image.shape
    q = centres[_nearest(_pixels(image), centres.to(image.dtype))]
    return q.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()
