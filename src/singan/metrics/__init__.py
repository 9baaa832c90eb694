"""Evaluation metrics: SIFID, patch SWD and the paper's diversity.

Convention: every function takes images as tensors in [-1, 1] (the package's convention), a real
image as (1, 3, H, W) and samples as (B, 3, H, W) or a sequence of (3, H, W). SIFID needs the
FID-Inception weights of the `metrics` extra (or a torchvision Inception-v3 weight file); SWD and
diversity need no weights.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

from ..errors import ConfigError
from .diversity import diversity
from .inception import InceptionStem, MetricsUnavailable, load_inception
from .sifid import frechet_distance, sifid
from .swd import swd

METRICS = ("sifid", "swd", "diversity")


def evaluate(real: torch.Tensor, fakes: torch.Tensor | Sequence[torch.Tensor],
             metrics: Sequence[str] = METRICS, *, extractor: InceptionStem | None = None,
             layer: int = 64) -> dict[str, list[float]]:
    """The chosen metrics of samples `fakes` of one real image.

    Returns {metric: values}: SIFID and SWD give one value per sample, diversity one value for
    the whole set (it needs >= 2 samples of one size). `extractor` (from `load_inception`) is
    required for SIFID.
    """
    out: dict[str, list[float]] = {}
    for name in metrics:
        if name == "sifid":
            if extractor is None:
                raise ConfigError("SIFID needs an extractor from load_inception()")
            out[name] = sifid(real, fakes, extractor, layer)
        elif name == "swd":
            out[name] = swd(real, fakes)
        elif name == "diversity":
            batch = fakes if isinstance(fakes, torch.Tensor) else torch.stack(list(fakes))
            out[name] = [diversity(real, batch)]
        else:
            raise ConfigError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return out


def summarize(values: Sequence[float]) -> dict:
    """{"values", "mean", "median", "std"} of a list (population std; None when empty)."""
    values = [float(v) for v in values]
    if not values:
        return {"values": [], "mean": None, "median": None, "std": None}
    return {"values": values, "mean": statistics.fmean(values),
            "median": statistics.median(values), "std": statistics.pstdev(values)}


__all__ = ["METRICS", "InceptionStem", "MetricsUnavailable", "diversity", "evaluate",
           "frechet_distance", "load_inception", "sifid", "summarize", "swd"]
