"""GPDM (Elnekave and Weiss, "Generating natural images with direct patch distributions
matching", ECCV 2022): the output's pixels optimised, level by level, so that the distribution of
its patches matches the source's under a sliced Wasserstein distance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..resize import resize
from .levels import Level, mask_at, no_patch_outside
from .patches import touching


@dataclass(frozen=True)
class GPDMSettings:
    """GPDM's numbers (the paper's defaults)."""

    patch: int = 7  # patch side, stride 1
    ratio: float = 1 / 0.85  # size ratio of consecutive levels
    coarsest: int = 21  # about the coarsest level's shorter side, px
    steps: int = 300  # Adam steps per level
    lr: float = 0.01  # Adam's learning rate, on the pixels
    projections: int = 64  # random unit directions, drawn again at every step
    # std of the start (zeros plus noise), pixels in [0, 1]. The paper's range (0.75 to 1.5)
    # gives near copies of the layout here (diversity 0.10 and 0.14 on two Places images at
    # 0.75); 3.0 gives diversity 0.36 on Places image 1 at SIFID 0.09 (docs/benchmarks.md).
    noise: float = 3.0

    def __post_init__(self):
        if not (self.patch >= 3 and self.patch % 2 == 1):
            raise ConfigError(f"patch must be an odd number >= 3, got {self.patch}")
        if not self.ratio > 1:
            raise ConfigError(f"ratio must be > 1, got {self.ratio}")
        if not (self.steps >= 1 and self.projections >= 1):
            raise ConfigError("steps and projections must be >= 1")
        if not (self.lr > 0 and self.noise >= 0):
            raise ConfigError("lr must be > 0 and noise >= 0")


def _quantiles(sorted_values: torch.Tensor, n: int) -> torch.Tensor:
    """(..., L) sorted along L -> (..., n): the same distribution at n evenly spaced quantiles
    (linear interpolation), for sets of patches of different sizes."""
    length = sorted_values.shape[-1]
    if length == n:
        return sorted_values
    pos = torch.linspace(0, length - 1, n, device=sorted_values.device)
    lo = pos.floor().long().clamp_(0, length - 1)
    hi = (lo + 1).clamp_(max=length - 1)
    w = pos - lo
    return sorted_values[..., lo] * (1 - w) + sorted_values[..., hi] * w


def _argsort(x: torch.Tensor) -> torch.Tensor:
    """Order of every row of x along its last dimension. On the CPU through numpy, whose sort
    is 5 to 30 times faster than torch 2.x's CPU sort on these rows (bench/patch_speed.py)."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.argsort(x.detach().contiguous().numpy(), axis=-1))
    return x.detach().argsort(dim=-1)


def _sorted(x: torch.Tensor) -> torch.Tensor:
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.detach().contiguous().numpy(), axis=-1))
    return x.detach().sort(dim=-1).values


def matched_targets(pa: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
    """For projections pa (B, P, La) of the output and pb (P, Lb) of the source: the value of
    the source's distribution at each output value's rank, (B, P, La). |pa - targets| averaged
    is the sliced Wasserstein-1 distance (the source's sorted values taken at La evenly spaced
    quantiles when the counts differ), and its gradient is that of sorting both sets."""
    order = _argsort(pa)
    sb = _quantiles(_sorted(pb), pa.shape[-1])
    return torch.empty_like(pa).scatter_(-1, order, sb.expand_as(pa).contiguous())


def sliced_distance(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein-1 distance of patch sets a (B, La, D) and b (Lb, D) along unit
    `directions` (D, P), per image (B,)."""
    pa = directions.t() @ a.transpose(1, 2)
    pb = directions.t() @ b.t()
    return (pa - matched_targets(pa, pb)).abs().mean(dim=(-2, -1))


@torch.enable_grad()
def run_levels(sources: list[torch.Tensor], levels: list[Level], x: torch.Tensor,
               settings: GPDMSettings, generator: torch.Generator, *,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None
               ) -> torch.Tensor:
    """Optimise a batch of outputs (B, 3, H, W), `x` their start at the first level, together.

    With `mask`, only its region is optimised, toward the patches of the source that do not
    touch it, and the rest of every level is `known` at that level.
    """
    s = settings
    p = s.patch
    d = 3 * p * p
    for i, lv in enumerate(levels):
        src = sources[i]
        if i:
            x = resize(x.detach(), size=lv.output, clamp=False)
        m = k_at = pick = keep = None
        if mask is not None:
            m = mask_at(mask, lv.output)
            k_at = resize(known, size=lv.output) if known.shape[-2:] != lv.output else known
            keep = ~touching(mask_at(mask, lv.source), p)
            if not keep.any():
                raise no_patch_outside(lv)
            pick = touching(m, p)
            x = x * m + k_at * (1 - m)
        x = x.detach().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=s.lr)
        for _ in range(s.steps):
            directions = F.normalize(torch.randn(s.projections, d, generator=generator,
                                                 device=x.device), dim=1)
            weight = directions.view(s.projections, 3, p, p)
            img = x if m is None else x * m + k_at * (1 - m)
            pa = F.conv2d(img, weight).flatten(2)  # (B, P, L): every patch projected
            with torch.no_grad():
                pb = F.conv2d(src, weight).flatten(2)[0]
                if keep is not None:
                    pb = pb[:, keep]
            if pick is not None:
                pa = pa[:, :, pick]
            loss = (pa - matched_targets(pa, pb)).abs().mean(dim=(-2, -1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        x = x.detach() if m is None else (x * m + k_at * (1 - m)).detach()
    return x.clamp(-1, 1)
