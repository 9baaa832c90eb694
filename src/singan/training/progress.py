"""What training reports and keeps: progress events, the resumable state, the expected work.

Convention: scale 0 is the coarsest; iterations count from 1 within a scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn



@dataclass
class Progress:
    """What the training loop reports after every iteration."""

    scale: int  # scale being trained (0 = coarsest)
    num_scales: int
    iteration: int  # 1-based iteration within the scale
    iters: int  # iterations of this scale
    elapsed: float  # seconds since training (or resuming) began
    losses: dict[str, float] | None = None  # filled every `log_every` iterations and at the end
    scale_done: bool = False  # True once for the last iteration of a scale
    event: str | None = None  # set on a notice, not an iteration: e.g. a restarted scale
    percent: float | None = None  # share (0-100) of the whole training's expected work done


Callback = Callable[[Progress], None]


@dataclass
class TrainState:
    """What resuming needs beyond the model: the last critic and the random generator's state."""

    scale: int  # last finished scale
    discriminator: dict[str, torch.Tensor] = field(default_factory=dict)
    rng_state: torch.Tensor | None = None
    pool_seed: int | None = None  # seed of the pool's random stream (presets with prev_pool)


def expected_work(model) -> list[float]:
    """Relative cost of training each scale (pixels x width^2 x iterations), for progress bars
    and the time left (`estimate.pyramid_work` of the model's pyramid)."""
    from .estimate import pyramid_work

    return pyramid_work(model.config, model.sizes)


def scale_label(scale: int, num_scales: int) -> str:
    """The one way scales are written: `scale k/F`, 0 = coarsest, F = the finest (N - 1), as the
    zero-based flags (--start-scale) count them: the CLI, the run log, the web app and the docs."""
    return f"scale {scale}/{num_scales - 1}"


def percent_done(work: Sequence[float], scale: int, iteration: int, iters: int) -> float:
    """Share (0-100) of the expected `work` done after `iteration` of `iters` at `scale`,
    the scales before it done."""
    part = work[scale] * iteration / iters if iters else 0.0
    return (sum(work[:scale]) + part) / sum(work) * 100


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
