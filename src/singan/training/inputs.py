"""Random inputs of training: the pool of random coarse inputs, random windows, each iteration's
draw.

Everything is drawn from the trainer's `torch.Generator`, in a fixed order per iteration, except
the pool (`prev_pool`), which follows its own random stream seeded by `pool_seed` so that it can
be carried from scale to scale and rebuilt exactly when resuming. Scale 0 is the coarsest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..budget import POOL_CHUNK_FLOATS
from ..config import SinGANConfig
from ..models import SinGAN

if TYPE_CHECKING:
    from .stage import Stage


@dataclass
class Draw:
    """Every random input of one iteration of a stage training scales lo..n.

    `tensors` holds them by name (so that a CUDA graph can copy them into its static inputs):
    "z_rec" (redrawn reconstruction noise, only with `redraw_z_rec` at scale 0), "z_n" (scale
    n's noise, one map shared by every step of the iteration), "prevs" (the critic steps' inputs
    of scale lo), "z{k}" (their noise at scales lo..n-1), "u" (the gradient penalty's
    interpolation coefficients) and "corner" (window corners, when training on windows).
    """

    lo: int
    n: int
    crop: tuple[int, int] | None
    tensors: dict[str, torch.Tensor]

    def noise(self, j: int) -> dict[int, torch.Tensor]:
        """{scale: noise} of critic step j."""
        zs = {k: self.tensors[f"z{k}"][j:j + 1] for k in range(self.lo, self.n)}
        zs[self.n] = self.tensors["z_n"]
        return zs

    def prev(self, j: int) -> torch.Tensor:
        """The (1, 3, h, w) input of scale lo of critic step j."""
        return self.tensors["prevs"][j:j + 1]

    def u(self, j: int) -> torch.Tensor:
        return self.tensors["u"][j:j + 1]

    def window(self, j: int) -> tuple | None:
        """(top, left, h, w) of critic step j's window at scale n, or None: the whole image."""
        if self.crop is None:
            return None
        corner = self.tensors["corner"]
        return corner[j, 0], corner[j, 1], *self.crop

    @property
    def z_rec(self) -> torch.Tensor | None:
        return self.tensors.get("z_rec")

    def clone(self) -> Draw:
        return Draw(self.lo, self.n, self.crop, {k: v.clone() for k, v in self.tensors.items()})

    def copy_(self, other: Draw) -> None:
        for k, v in other.tensors.items():
            self.tensors[k].copy_(v)


def window_size(size: tuple[int, int], config: SinGANConfig) -> tuple[int, int] | None:
    """(h, w) of the random windows a scale of `size` trains on with `config`, or None for the
    whole image."""
    h, w = size
    if not config.crop_size or max(h, w) <= config.crop_size:
        return None
    return min(h, config.crop_size), min(w, config.crop_size)


def window_corners(size: tuple[int, int], crop: tuple[int, int], count: int,
                   generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(count, 2) random window corners (top, left) in an image of `size`, as a long tensor.

    Drawn uniformly over positions that let the window stick out by half its size, then clamped
    into the image, so that the rows and columns at the borders (where the generator sees the
    zero padding) are covered about half as often as an interior one, instead of about 1/crop
    as often with corners drawn inside the image.
    """
    (h, w), (ch, cw) = size, crop
    half = torch.tensor([ch // 2, cw // 2], device=device)
    span = torch.tensor([h - ch + 1, w - cw + 1], device=device) + 2 * half
    top_left = torch.rand(count, 2, generator=generator, device=device) * span
    hi = torch.tensor([h - ch, w - cw], device=device)
    return (top_left.long() - half).clamp(min=torch.zeros_like(hi), max=hi)


class RandomInputs:
    """The random inputs of a model's training, drawn from `generator`.

    The pool's seed is drawn from `generator` here when the model uses a pool and none is given.
    """

    def __init__(self, model: SinGAN, generator: torch.Generator, pool_seed: int | None = None):
        self.model, self.gen = model, generator
        self.config = model.config  # the pool's settings, kept from scale to scale
        if pool_seed is None and self.config.prev_pool:
            pool_seed = int(torch.randint(0, 2**62, (), generator=generator,
                                          device=model.device))
        self.pool_seed = pool_seed
        self.pool_scale: int | None = None  # scale of the pool last drawn
        self.pool: torch.Tensor | None = None  # that pool
        self._pool_gen: torch.Generator | None = None

    # --- the pool of random coarse inputs ------------------------------------------------------

    @torch.no_grad()
    def pool_at(self, scale: int) -> torch.Tensor:
        """The pool of `prev_pool` random inputs of `scale` (samples of the frozen scales below).

        Each scale's pool is the previous scale's pool taken one generator further, with noise
        from the pool's own stream (seeded by `pool_seed`), so a run draws every pool at the cost
        of one pass per scale; a resumed trainer replays the same passes from the seed and gets
        the same pool. Asked again for the same scale (a restarted scale), it returns the same.
        """
        model = self.model
        if self.pool is None or not scale - 1 <= self.pool_scale <= scale:
            self._pool_gen = torch.Generator(device=model.device).manual_seed(self.pool_seed)
            self.pool_scale = 0
            self.pool = model.z_rec.new_zeros(self.config.prev_pool, 3, *model.sizes[0])
        while self.pool_scale < scale:
            self.pool = self.advance_pool(self.pool_scale, self.pool)
            self.pool_scale += 1
        return self.pool

    def advance_pool(self, k: int, pool: torch.Tensor) -> torch.Tensor:
        """Scale k's generator on every input of the pool, up-sampled to scale k+1; in chunks
        that keep each activation under POOL_CHUNK_FLOATS floats."""
        model, c = self.model, self.config
        (h, w), pad = model.sizes[k], 2 * c.pad
        chunk = max(1, POOL_CHUNK_FLOATS // (c.max_channels * (h + pad) * (w + pad)))
        out = pool.new_empty(pool.shape[0], 3, *model.sizes[k + 1])
        for i in range(0, pool.shape[0], chunk):
            out[i:i + chunk] = model.walk(pool[i:i + chunk], k, k + 1, generator=self._pool_gen,
                                          upsample_end=True)
        return out

    # --- fresh random inputs -----------------------------------------------------------------

    @torch.no_grad()
    def random_prev(self, upto: int, batch: int) -> torch.Tensor:
        """Fresh random samples of the frozen scales 0..upto-1, up-sampled to scale `upto`."""
        x = self.model.z_rec.new_zeros(batch, 3, *self.model.sizes[0])
        return self.model.walk(x, 0, upto, generator=self.gen, upsample_end=True)

    def crop_size(self, n: int, config: SinGANConfig) -> tuple[int, int] | None:
        """(h, w) of scale n's training windows (`window_size`), or None."""
        return window_size(self.model.sizes[n], config)

    def window_corners(self, n: int, crop: tuple[int, int], count: int) -> torch.Tensor:
        """`count` random corners of scale n's windows (`window_corners`)."""
        return window_corners(self.model.sizes[n], crop, count, self.gen, self.model.device)

    def draw(self, stage: Stage) -> Draw:
        """Every random input of one iteration of `stage`, in a fixed order."""
        model, c, gen, lo, n = self.model, stage.config, self.gen, stage.lo, stage.n
        t = {}
        if n == 0 and c.redraw_z_rec:  # the original code's behaviour
            t["z_rec"] = model.draw_noise(0, 1, generator=gen)
        t["z_n"] = model.draw_noise(n, 1, generator=gen)  # once per iteration
        # Random inputs of every critic step: drawn as one batch through the frozen scales, or
        # picked from the pool drawn when the stage started.
        if stage.pool is not None:
            picks = torch.randint(stage.pool.shape[0], (c.d_steps,), generator=gen,
                                  device=model.device)
            t["prevs"] = stage.pool[picks]
        else:
            t["prevs"] = self.random_prev(lo, c.d_steps)
        for k in range(lo, n):
            t[f"z{k}"] = model.draw_noise(k, c.d_steps, generator=gen)
        t["u"] = torch.rand(c.d_steps, 1, 1, 1, generator=gen, device=model.device)
        if stage.crop is not None:
            t["corner"] = self.window_corners(n, stage.crop, c.d_steps)
        return Draw(lo, n, stage.crop, t)
