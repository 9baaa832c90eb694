"""GPNN (Granot, Feinstein, Shocher, Bagon and Irani, "Drop the GAN", CVPR 2022): an output
built level by level, coarse to fine, each level a few rounds of "replace every patch by its
normalised nearest neighbour in the source, average the overlaps"."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..resize import resize
from . import search
from .levels import Level, mask_at, no_patch_outside
from .patches import extract, fold, grid, touching

SEARCHES = ("auto", "exact", "approximate")


@dataclass(frozen=True)
class GPNNSettings:
    """GPNN's numbers (the paper's defaults) and how the search is done."""

    patch: int = 7  # patch side, stride 1
    ratio: float = 4 / 3  # size ratio of consecutive levels
    coarsest: int = 14  # about the coarsest level's shorter side, px
    iters: int = 10  # rounds per level
    coarsest_iters: int = 1  # rounds at the coarsest level
    alpha: float = 0.005  # the normalisation's softness (1 or more: plain nearest neighbours)
    noise: float = 0.75  # std of the noise added to the coarsest level (pixels in [0, 1])
    search: str = "auto"  # exact, approximate (PatchMatch), or auto: exact on small levels
    exact_pairs: float = 4e7  # auto: exact where queries x keys is at most this
    memory: int = 256 * 2**20  # bytes of one block of distances

    def __post_init__(self):
        if self.search not in SEARCHES:
            raise ConfigError(f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if not (self.patch >= 3 and self.patch % 2 == 1):
            raise ConfigError(f"patch must be an odd number >= 3, got {self.patch}")
        if not self.ratio > 1:
            raise ConfigError(f"ratio must be > 1, got {self.ratio}")
        if not (self.iters >= 1 and self.coarsest_iters >= 1):
            raise ConfigError("iters and coarsest_iters must be >= 1")
        if not (self.alpha > 0 and self.noise >= 0):
            raise ConfigError("alpha must be > 0 and noise >= 0")


def _is_exact(s: GPNNSettings, queries: int, keys: int) -> bool:
    return s.search == "exact" or (s.search == "auto" and queries * keys <= s.exact_pairs)


@torch.no_grad()
def run_levels(sources: list[torch.Tensor], levels: list[Level], x: torch.Tensor,
               settings: GPNNSettings, generator: torch.Generator, *,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               first_iters: int | None = None) -> torch.Tensor:
    """Build one output (1, 3, H, W) from `x`, the output's start at the first level.

    With `mask` (1, 1, H, W at the finest output size), only its region is rebuilt, from source
    patches that do not touch it, and the rest of every level is `known` at that level.
    """
    s = settings
    p = s.patch
    field = None
    for i, lv in enumerate(levels):
        src = sources[i]
        if i:
            x = resize(x, size=lv.output)
        blurred = src if i == 0 else resize(sources[i - 1], size=lv.source)
        keys, values = extract(blurred, p)[0], extract(src, p)[0]
        valid = m = k_at = None
        if mask is not None:
            m = mask_at(mask, lv.output)
            k_at = resize(known, size=lv.output) if known.shape[-2:] != lv.output else known
            x = x * m + k_at * (1 - m)
            valid = ~touching(mask_at(mask, lv.source), p)
            if not valid.any():
                raise no_patch_outside(lv)
        qgrid, kgrid = grid(lv.output, p), grid(lv.source, p)
        rounds = (first_iters or s.coarsest_iters) if i == 0 else s.iters
        exact = _is_exact(s, qgrid[0] * qgrid[1], keys.shape[0])
        if field is not None:
            field = field.resized(qgrid, kgrid)
        prepared = None if exact else search.Keys(keys)
        for _ in range(rounds):
            q = extract(x, p)[0]
            if exact:
                if valid is None:
                    idx = search.exact(q, keys, s.alpha, memory=s.memory)
                else:
                    allowed = valid.nonzero().flatten()
                    idx = allowed[search.exact(q, keys[allowed], s.alpha, memory=s.memory)]
                field = search.Field(idx, qgrid, kgrid)
            else:
                field = search.approximate(q, prepared, s.alpha, field, qgrid, kgrid,
                                           generator=generator, valid=valid, memory=s.memory)
            x = fold(values[field.index][None], lv.output, p)
            if m is not None:
                x = x * m + k_at * (1 - m)
    return x
