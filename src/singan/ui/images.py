"""Turning what the page's image widgets send into images and masks the applications take.

The editor (`gr.ImageEditor`, type numpy, RGBA) sends {"background", "layers", "composite"} as
(H, W, 4) uint8 arrays. The mask is where the user painted: the union of the layers' alpha > 0
(with one layer, `layers[0][..., 3] > 0`); when no layers come back, where the composite differs
from the background. Masks are resized to the training image with nearest-neighbour, so they
stay binary; images with bicubic.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import UIError
from ..images import mask_array, open_image


def _rgb(a: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) or (H, W) uint8 -> (H, W, 3); alpha is dropped (the editor's composite is
    opaque wherever there is an image)."""
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    return np.ascontiguousarray(a[..., :3])


def painted_region(value: dict | None) -> np.ndarray:
    """(H, W) bool: where the user painted in an editor value."""
    if not value:
        raise UIError("nothing to work on: upload or paint an image first")
    layers = [a for a in (value.get("layers") or []) if a is not None]
    if layers:
        painted = np.zeros(layers[0].shape[:2], dtype=bool)
        for a in layers:
            if a.shape[:2] != painted.shape:
                raise UIError("the editor's layers differ in size; clear the canvas and repaint")
            painted |= a[..., 3] > 0 if a.ndim == 3 and a.shape[-1] == 4 else a.reshape(
                *a.shape[:2], -1).any(axis=-1)
        return painted
    comp, bg = value.get("composite"), value.get("background")
    if comp is None or bg is None:
        raise UIError("paint over the region first (the editor sent no strokes)")
    if comp.shape[:2] != bg.shape[:2]:
        raise UIError("the canvas and the image differ in size; clear the canvas and repaint")
    return np.any(_rgb(comp) != _rgb(bg), axis=-1)


def editor_mask(value: dict | None, size: tuple[int, int]) -> Image.Image:
    """The painted region as an "L" image (255 inside) of `size` = (H, W), nearest-neighbour."""
    painted = painted_region(value)
    if not painted.any():
        raise UIError("the mask is empty: paint over the region to change")
    mask = Image.fromarray(painted.astype(np.uint8) * 255, mode="L")
    return mask.resize((size[1], size[0]), Image.NEAREST)


def editor_image(value: dict | None, size: tuple[int, int], *, strokes: bool = True
                 ) -> Image.Image:
    """The editor's picture as RGB of `size` = (H, W): the composite (background plus strokes),
    or with strokes=False the background alone."""
    if not value:
        raise UIError("nothing to work on: upload or paint an image first")
    key = "composite" if strokes else "background"
    a = value.get(key)
    if a is None:
        a = value.get("background" if strokes else "composite")
    if a is None:
        raise UIError("the editor holds no image: upload one or select a trained run")
    im = Image.fromarray(_rgb(np.asarray(a, dtype=np.uint8)), mode="RGB")
    return im if im.size == (size[1], size[0]) else \
        im.resize((size[1], size[0]), Image.BICUBIC)


def upload_mask(path: str | None, size: tuple[int, int]) -> Image.Image | None:
    """An uploaded mask file (white = region; alpha counts as the mask when present) as an "L"
    image of `size`, nearest-neighbour."""
    if path is None:
        return None
    gray = mask_array(open_image(path))
    mask = Image.fromarray(((gray > 0.5) * 255).astype(np.uint8), mode="L")
    if not np.asarray(mask).any():
        raise UIError(f"{path}: the mask is empty (no white or opaque pixels)")
    return mask.resize((size[1], size[0]), Image.NEAREST)


def hex_colour(rgb) -> str:
    """(r, g, b) in [0, 255] -> '#rrggbb'."""
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)
