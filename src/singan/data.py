"""The embedded default image: a landscape the package paints itself, so the demo runs offline."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _fractal(rng: np.random.Generator, h: int, w: int, octaves: int = 6,
             base: int = 4, persistence: float = 0.55) -> np.ndarray:
    """Sum of smoothly up-sampled random grids (value noise), scaled to [0, 1]."""
    out = np.zeros((h, w), np.float64)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base * 2 ** o
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        up = Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC)
        out += amp * np.asarray(up, np.float64)
        total += amp
        amp *= persistence
    out /= total
    return (out - out.min()) / (out.max() - out.min() + 1e-12)


def _ridge(rng: np.random.Generator, w: int, octaves: int = 7) -> np.ndarray:
    """A 1-D fractal profile in [0, 1] (a mountain skyline)."""
    return _fractal(rng, 2, w, octaves=octaves, base=3, persistence=0.6)[0]


def default_image(height: int = 192, width: int = 256, seed: int = 7) -> Image.Image:
    """Paint a mountain landscape (sky, clouds, two ranges, a lake, a meadow) as an RGB image."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    y = np.linspace(0.0, 1.0, h)[:, None]
    img = np.zeros((h, w, 3))

    # Sky: deep blue at the top, pale at the horizon, with fractal clouds.
    top, horizon = np.array([0.20, 0.38, 0.72]), np.array([0.78, 0.86, 0.93])
    t = np.clip(y / 0.55, 0, 1)[..., None]
    img[:] = top * (1 - t) + horizon * t
    clouds = _fractal(rng, h, w, octaves=6, base=3)
    cover = np.clip((clouds - 0.55) * 3.0, 0, 1)[..., None] * (1 - t * 0.6)
    img = img * (1 - cover) + np.array([0.97, 0.97, 0.98]) * cover

    rows = np.arange(h)[:, None]
    # Far range: hazy blue-grey with snow near the peaks.
    far = (0.30 + 0.18 * _ridge(rng, w)) * h
    rock = _fractal(rng, h, w, octaves=6, base=6)
    mask = rows >= far[None, :]
    snow = (rows < far[None, :] + 0.06 * h * (0.5 + rock)) & mask
    far_col = np.array([0.45, 0.50, 0.60])[None, None, :] * (0.8 + 0.4 * rock[..., None])
    img = np.where(mask[..., None], far_col, img)
    img = np.where(snow[..., None], np.array([0.92, 0.93, 0.96]) * (0.9 + 0.1 * rock[..., None]),
                   img)

    # Near range: darker, green-brown, rocky.
    near = (0.45 + 0.15 * _ridge(rng, w)) * h
    mask = rows >= near[None, :]
    tex = _fractal(rng, h, w, octaves=7, base=8)
    near_col = (np.array([0.25, 0.33, 0.20]) * (1 - tex[..., None] * 0.5)
                + np.array([0.35, 0.30, 0.25]) * tex[..., None] * 0.5)
    img = np.where(mask[..., None], near_col * (0.7 + 0.6 * tex[..., None]), img)

    # Lake: a reflection of what lies above it, darkened and rippled.
    lake_top = int(0.68 * h)
    lake_bot = int(0.80 * h)
    ripple = _fractal(rng, h, w, octaves=5, base=16)
    for r in range(lake_top, lake_bot):
        src = max(0, 2 * lake_top - r - 1 + int(3 * (ripple[r].mean() - 0.5)))
        shift = np.roll(img[src], int(4 * (ripple[r, 0] - 0.5)), axis=0)
        img[r] = shift * 0.65 + np.array([0.10, 0.18, 0.30]) * 0.35

    # Meadow: grass texture with scattered flowers.
    grass = _fractal(rng, h, w, octaves=7, base=24, persistence=0.7)
    meadow = np.array([0.30, 0.48, 0.18]) * (0.6 + 0.8 * grass[..., None])
    img[lake_bot:] = meadow[lake_bot:]
    n_flowers = w // 3
    fy = rng.integers(lake_bot + 2, h, n_flowers)
    fx = rng.integers(0, w, n_flowers)
    colors = np.array([[0.95, 0.85, 0.2], [0.9, 0.3, 0.3], [0.95, 0.95, 0.95]])
    img[fy, fx] = colors[rng.integers(0, 3, n_flowers)]

    return Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mode="RGB")
