"""Training iterations replayed as a CUDA graph (same results, less launch overhead).

The random inputs are drawn eagerly, exactly as without graphs, and copied into the graph's
static inputs; the graph replays the same kernels as the eager step. The optimisers must be
capturable (learning rates as tensors).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from .inputs import Draw

if TYPE_CHECKING:
    from .stage import Stage


class GraphedStep:
    """`step(stage, draw)` as a replayed CUDA graph, after `warmup` eager iterations.

    Call it with each iteration's draw. If capturing fails, training goes on eagerly with a
    warning.
    """

    def __init__(self, step: Callable[[Stage, Draw], None], stage: Stage, warmup: int = 3):
        self.step, self.stage, self.warmup = step, stage, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: Draw | None = None
        self.done = 0
        self.failed = False

    def __call__(self, draw: Draw) -> None:
        if self.graph is not None:
            self.static.copy_(draw)
            self.graph.replay()
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.step(self.stage, draw)
        torch.cuda.current_stream().wait_stream(side)
        self.done += 1
        if self.done == self.warmup and not self.failed:
            self._capture(draw)

    def _capture(self, draw: Draw) -> None:
        sums = self.stage.sums
        self.static = draw.clone()
        saved = {k: v.clone() for k, v in sums.items()}
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.step(self.stage, self.static)
        except RuntimeError as e:  # keep training eagerly rather than fail
            warnings.warn(f"CUDA graph capture failed, training without graphs: {e}")
            self.failed = True
            return
        finally:
            # Capturing runs no kernels: restore what it recorded into.
            for k, v in saved.items():
                sums[k].copy_(v)
        self.graph = graph
