"""How long a training takes on this machine, before it starts and while it runs.

Two parts:
- the pyramid's work per iteration at each scale (`scale_work`: pixels x width^2, windows counted
  at their own size; a ConSinGAN stage runs the stages below it too, on their bands when it
  trains on windows), times its iterations (the
  `expected_work` of progress bars);
- the throughput of the device, measured in a short warm-up (`measure_throughput`: a few
  iterations of the configuration's own networks on a small two- or three-scale pyramid), as
  seconds per iteration = `fixed` + `per_work` x work per iteration. The fixed part is what a
  small scale costs whatever its size (the launch of many small operations); the rest grows
  with the work.

`estimate_scales` / `estimate_seconds` put the two together for a configuration and an image
size (the CLI's dry run, the presets in `singan train --help` and the web app's preset list);
`RateClock` measures the throughput of a training as it runs, after its warm-up, for the time
left (the run records' `eta`, the CLI's bar).
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..budget import training_memory_per_scale
from ..config import PRESETS, SinGANConfig, make_config
from ..consingan import WindowPlan
from ..data import default_image
from ..images import image_to_tensor
from ..pyramid import geometry_for
from .inputs import window_size

PROBE_SIZE = (48, 64)  # (H, W) of the warm-up's image: a pyramid of two scales, 24x32 and 48x64
PROBE_ITERS = 5  # iterations per probe scale; the first two warm up and are not timed
PROBE_SKIP = 2


def scale_work(config: SinGANConfig, sizes: Sequence[tuple[int, int]]) -> list[float]:
    """Relative cost of one iteration at each scale of a pyramid of `sizes`."""
    c, crop = config, config.crop_size or 1 << 30
    if c.arch == "consingan":
        return [float(_stage_work(c, sizes, n)) for n in range(len(sizes))]
    return [float(min(h, crop) * min(w, crop) * c.channels(n) ** 2)
            for n, (h, w) in enumerate(sizes)]


def _stage_work(config: SinGANConfig, sizes: Sequence[tuple[int, int]], n: int) -> int:
    """Pixels x width^2 a ConSinGAN iteration at stage n computes: every stage up to n, whole,
    or only the band of its training window (`WindowPlan`)."""
    pixels = [h * w for h, w in sizes[:n + 1]]
    crop = window_size(sizes[n], config)
    if crop is not None:
        plan = WindowPlan(sizes, n, crop, 2 * config.num_layers)
        pixels = [pixels[k] if k <= plan.full else plan.win[k][0] * plan.win[k][1]
                  for k in range(n + 1)]
    return sum(p * config.channels(k) ** 2 for k, p in enumerate(pixels))


def pyramid_work(config: SinGANConfig, sizes: Sequence[tuple[int, int]]) -> list[float]:
    """Relative cost of training each scale: `scale_work` x its iterations."""
    n = len(sizes)
    return [w * config.iters_at(k, n) for k, w in enumerate(scale_work(config, sizes))]


@dataclass(frozen=True)
class Throughput:
    """Seconds per iteration of a scale whose `scale_work` is w: fixed + per_work * w."""

    fixed: float
    per_work: float

    def seconds(self, work: float) -> float:
        return self.fixed + self.per_work * work

    @classmethod
    def fit(cls, points: Sequence[tuple[float, float]]) -> Throughput:
        """The least-squares line through (work, seconds per iteration) points, kept
        non-negative; one point (or points of one work) gives a line through the origin."""
        works = [w for w, _ in points]
        secs = [s for _, s in points]
        if len(set(works)) < 2:
            return cls(0.0, statistics.fmean(secs) / max(statistics.fmean(works), 1e-12))
        mw, ms = statistics.fmean(works), statistics.fmean(secs)
        slope = sum((w - mw) * (s - ms) for w, s in points) / sum((w - mw) ** 2 for w in works)
        slope = max(slope, 0.0)
        fixed = max(ms - slope * mw, 0.0)
        if slope == 0.0:  # timing noise: all the cost in the fixed part
            fixed = ms
        return cls(fixed, slope)


def _probe_config(config: SinGANConfig) -> SinGANConfig:
    """The configuration's kind of networks on a small pyramid, a few iterations per scale.
    SinGAN's are probed at 32 channels whatever their width (the work counts the width), so
    presets that differ only in sizes, widths and iterations share one warm-up."""
    if config.arch == "singan":
        config = config.replace(base_channels=32, max_channels=32, coarse_channels=0,
                                coarse_scales=0)
    return config.replace(max_size=PROBE_SIZE[1], min_size=PROBE_SIZE[0] // 2,
                          scale_factor_init=0.5, iters=PROBE_ITERS, iters_finest=0, crop_size=0,
                          prev_pool=0, num_stages=2, train_depth=min(config.train_depth, 2))


def measure_throughput(config: SinGANConfig, device: torch.device | str = "cpu") -> Throughput:
    """Time a few iterations of `config`'s networks on a small pyramid on `device` (well under a
    second on a CPU for the presets), as a `Throughput`. Cached per configuration, device and
    thread count."""
    return _measure(_probe_config(config), str(torch.device(device)), torch.get_num_threads())


@functools.lru_cache(maxsize=32)
def _measure(probe: SinGANConfig, device: str, threads: int) -> Throughput:
    from .trainer import Trainer  # the trainer imports this module's neighbours

    image = image_to_tensor(default_image(*PROBE_SIZE))
    trainer = Trainer.from_image(image, probe, device=device, seed=0, log_every=10**6)
    cuda = torch.device(device).type == "cuda"
    stamps: dict[int, list[float]] = {}

    def tick(p) -> None:
        if p.event is None:
            if cuda:
                torch.cuda.synchronize()
            stamps.setdefault(p.scale, []).append(time.perf_counter())

    trainer.run(tick)
    work = scale_work(probe, trainer.model.sizes)
    points = []
    for n, ts in stamps.items():
        steps = [b - a for a, b in zip(ts[PROBE_SKIP - 1:], ts[PROBE_SKIP:])]  # after warm-up
        if steps:
            points.append((work[n], statistics.median(steps)))
    return Throughput.fit(points)


@dataclass(frozen=True)
class ScaleEstimate:
    """What training one scale is expected to take."""

    scale: int  # 0 = coarsest
    size: tuple[int, int]  # (H, W)
    channels: int
    iters: int
    seconds: float
    memory: int  # estimated peak bytes while this scale trains


def estimate_scales(config: SinGANConfig, image_size: tuple[int, int],
                    device: torch.device | str = "cpu", *,
                    throughput: Throughput | None = None) -> list[ScaleEstimate]:
    """The expected time and memory of training each scale of `config` on an image of
    `image_size` (H, W) on `device`, from the pyramid and a measured warm-up (or `throughput`)."""
    sizes = list(geometry_for(config, *image_size).sizes)
    rate = throughput or measure_throughput(config, device)
    works = scale_work(config, sizes)
    memory = training_memory_per_scale(config, sizes)
    n = len(sizes)
    return [ScaleEstimate(k, tuple(sizes[k]), config.channels(k), config.iters_at(k, n),
                          config.iters_at(k, n) * rate.seconds(works[k]), memory[k])
            for k in range(n)]


def estimate_seconds(config: SinGANConfig, image_size: tuple[int, int],
                     device: torch.device | str = "cpu", *,
                     throughput: Throughput | None = None) -> float:
    """Expected seconds of a whole training of `config` on an image of `image_size` (H, W)."""
    return sum(s.seconds for s in estimate_scales(config, image_size, device,
                                                  throughput=throughput))


def format_duration(seconds: float | None) -> str:
    """A rough duration for people: "40 s", "3 min", "2.5 h", "2 days" ("" for None)."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        h = seconds / 3600
        return f"{h:.1f} h" if h < 10 else f"{round(h)} h"
    return f"{seconds / 86400:.1f} days"


# The image size the preset descriptions are estimated for: the embedded default image's.
DESCRIBED_SIZE = (192, 256)


@dataclass(frozen=True)
class PresetInfo:
    """A preset, what it is for and its expected seconds on the machine."""

    name: str
    purpose: str
    seconds: float

    def describe(self) -> str:
        """"PURPOSE; about T" """
        return f"{self.purpose}; about {format_duration(self.seconds)}"


def describe_presets(device: torch.device | str = "cpu",
                     image_size: tuple[int, int] = DESCRIBED_SIZE) -> dict[str, PresetInfo]:
    """Every preset with what it is for and its expected seconds for an image of `image_size`
    (H, W), from the pyramid and a warm-up measured on `device` now (a few seconds in all on a
    CPU, then cached): `singan train --help` and the web app's preset list."""
    from ..config import PRESET_PURPOSES

    return {name: PresetInfo(name, PRESET_PURPOSES[name],
                             estimate_seconds(make_config(name), image_size, device))
            for name in PRESETS}


class RateClock:
    """The time left of a training from its expected work and the throughput measured after a
    warm-up: None until `warmup` seconds and `min_share` of the work (percent points) have
    passed since the first report, so the first, slow iterations never give a wild guess.

    `update(percent)` takes the share of the whole training's expected work done (0-100) and
    returns the estimated seconds left, or None.
    """

    def __init__(self, warmup: float = 3.0, min_share: float = 0.5,
                 clock=time.perf_counter):
        self.warmup, self.min_share, self.clock = warmup, min_share, clock
        self.first: float | None = None  # time of the first report
        self.warm = False  # the warm-up is over: `start` is where the measurement starts
        self.start = (0.0, 0.0)  # (time, percent)

    def update(self, percent: float) -> float | None:
        now = self.clock()
        if self.first is None:
            self.first = now
        if not self.warm:  # measure from the end of the warm-up on
            self.start = (now, percent)
            self.warm = now - self.first >= self.warmup
            return None
        t0, p0 = self.start
        gained = percent - p0
        if gained < self.min_share or now - t0 < self.warmup:
            return None
        return max(0.0, (now - t0) * (100.0 - percent) / gained)
