"""Divergence restarts: watch a stage's losses, and retry it from its start at lower learning rates.

Two signs of divergence are watched: a loss that is not finite or exceeds a bound, and a
collapse, where the reconstruction error jumps far above the lowest it reached in the stage and
stays there (the generator's output saturates and every sample is the same two colours; the
losses stay finite). Only the losses the loop reports every `log_every` iterations are checked,
so watching adds no host synchronisation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ..config import SinGANConfig
from ..errors import DivergenceError
from .progress import Callback, Progress, scale_label

if TYPE_CHECKING:
    from .family import ModelFamily


class Diverged(Exception):
    """Raised at a log point whose losses are not finite or exceed the bound, or collapsed."""

    def __init__(self, progress: Progress, what: str):
        super().__init__(what)
        self.progress = progress


# A collapse: the reconstruction error above COLLAPSE_FACTOR times the lowest it reached in the
# stage, and above COLLAPSE_FLOOR (errors of images in [-1, 1]), for COLLAPSE_ITERS iterations in
# a row or at the stage's last iteration. In the 300 logged stages of docs/benchmarks.md's scan
# ("A collapse and the watch for it"), healthy stages ended at most 1.6x their lowest error and
# their spikes above the threshold lasted at most 50 iterations; the one collapse stayed above
# it for the last 425 iterations of its stage.
COLLAPSE_FACTOR = 10.0
COLLAPSE_FLOOR = 0.25
COLLAPSE_ITERS = 150


def watch_losses(callback: Callback | None, bound: float) -> Callback:
    """Wrap a callback: raise Diverged when a log point's losses are non-finite or > bound, or
    when the stage's reconstruction error has collapsed (see COLLAPSE_FACTOR)."""
    lowest, since = math.inf, None  # of the stage; the first iteration of the current excess

    def watched(p: Progress) -> None:
        nonlocal lowest, since
        if p.losses is not None:
            bad = {k: v for k, v in p.losses.items() if not math.isfinite(v) or abs(v) > bound}
            if bad:
                raise Diverged(p, ", ".join(f"{k} {v:.4g}" for k, v in bad.items()))
            rec = p.losses.get("rec_loss")
            if rec is not None:
                if rec > max(COLLAPSE_FLOOR, COLLAPSE_FACTOR * lowest):
                    since = p.iteration if since is None else since
                    if p.iteration - since >= COLLAPSE_ITERS or p.scale_done:
                        raise Diverged(p, f"rec_loss {rec:.4g} from iteration {since} on, "
                                          f"against {lowest:.4g} at best: a collapse")
                else:
                    since = None
                lowest = min(lowest, rec)
        if callback is not None:
            callback(p)
    return watched


def snapshot(generator: torch.Generator, family: ModelFamily, n: int,
             config: SinGANConfig) -> Callable[[], None]:
    """Save what training scale n changes in place (the random generator's state, the family's
    learning networks); returns the function that restores it."""
    rng, saved = generator.get_state(), family.snapshot(n, config)

    def restore() -> None:
        generator.set_state(rng)
        family.restore(saved)
    return restore


class Restarts:
    """Retries of a diverging scale: at most `max_restarts`, each with both learning rates
    multiplied by `lr_factor` once more, when a log point's losses are non-finite or larger than
    `loss_bound`, or the reconstruction error collapsed (`watch_losses`)."""

    def __init__(self, max_restarts: int, lr_factor: float, loss_bound: float):
        self.max_restarts, self.lr_factor, self.loss_bound = max_restarts, lr_factor, loss_bound

    def run(self, n: int, attempt: Callable[[SinGANConfig, Callback], None],
            config: SinGANConfig, restore: Callable[[], None], callback: Callback | None = None,
            percent: float | None = None) -> None:
        """`attempt(config, callback)` trains scale n; retried after `restore()` while it diverges.

        `callback` gets each restart as a `Progress` event, with `percent` (the share done when
        the scale starts again). Raises DivergenceError when the last retry diverges too.
        """
        for tries in range(self.max_restarts + 1):
            factor = self.lr_factor ** tries
            lowered = config if tries == 0 else \
                config.replace(lr_g=config.lr_g * factor, lr_d=config.lr_d * factor)
            try:
                attempt(lowered, watch_losses(callback, self.loss_bound))
                return
            except Diverged as e:
                where = f"{scale_label(n, e.progress.num_scales)}, iteration {e.progress.iteration}: losses diverged ({e})"
                if tries == self.max_restarts:
                    raise DivergenceError(
                        f"{where} after {tries} restart(s) with lower learning rates; the "
                        f"scales finished so far are kept (try a smaller --lr-g/--lr-d or a "
                        f"larger --gp-weight)") from None
                restore()
                if callback is not None:
                    callback(dataclasses.replace(
                        e.progress, scale_done=False, percent=percent,
                        event=f"{where}; restarting the scale with learning rates "
                              f"x{self.lr_factor ** (tries + 1):g} (restart {tries + 1} of "
                              f"{self.max_restarts})"))
