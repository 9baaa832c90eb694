"""The CLI's side of a training: its messages, the progress bar, Ctrl-C (shared by `singan train`
and `singan sr`). The training itself is `singan.run.train_run` / `resume_run`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..models import SinGAN
from ..pyramid import PyramidGeometry
from ..run import RunStart
from ..training import Progress, RateClock, expected_work, format_duration
from ..training.progress import percent_done, scale_label
from .common import SAMPLES_DIR, GracefulStop, say

# train(callback, on_start) -> the trained model: a call of train_run or resume_run.
Train = Callable[[Callable[[Progress], None], Callable[[RunStart], None]], SinGAN]


class TrainingBar:
    """A tqdm bar of the share of the whole training's expected work done, with the scale
    (`scale k/F`, 0 = coarsest, F the finest), the iteration, the latest losses and the time
    left; notes (a restarted scale) are written above it.

    The time left is the expected work left at the throughput measured after a warm-up
    (`RateClock`), and nothing until then: never tqdm's guess from the first, slow iterations.
    """

    def __init__(self, start: RunStart, quiet: bool, clock: RateClock | None = None):
        self.model, self.bar, self.shown = start.model, None, 0.0
        self.clock = clock or RateClock()
        if quiet:
            return
        from tqdm import tqdm

        self.shown = percent_done(expected_work(self.model), start.first_scale, 0, 1)
        self.bar = tqdm(total=100.0, initial=self.shown, unit="%", dynamic_ncols=True,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]")
        self.clock.update(self.shown)

    def update(self, p: Progress) -> None:
        if self.bar is None:
            return
        if p.event is not None:
            self.bar.write(f"note: {p.event}")
            return
        if p.percent is not None:
            self.bar.update(p.percent - self.shown)
            self.shown = p.percent
            left = self.clock.update(p.percent)
            self.bar.set_postfix_str(f"about {format_duration(left)} left" if left is not None
                                     else "", refresh=False)
        if p.losses is not None or p.iteration == 1:
            desc = f"{scale_label(p.scale, p.num_scales)} it {p.iteration}/{p.iters}"
            if p.losses is not None:
                desc += (f" d {p.losses['d_loss']:.3f} g {p.losses['g_loss']:.3f}"
                         f" rec {p.losses['rec_loss']:.4f}")
            self.bar.set_description_str(desc, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# Training at this size or larger with the implicit `paper` preset on a CPU prints a hint about
# the time it takes and the `fast` preset (figures: docs/benchmarks.md, CPU section).
CPU_HINT_SIZE = 128


def default_preset_note(args: argparse.Namespace, preset: str, device: torch.device) -> None:
    """Say which preset a training without --preset got on a CPU (the default depends on the
    device: `config.default_preset`)."""
    if args.preset is None and device.type == "cpu":
        say(f"note: no --preset, so `{preset}`, the default on a CPU; `paper` (the SinGAN "
            f"paper's settings, the default on a GPU) takes many hours on a CPU (README, "
            f"\"Presets\"); --preset NAME hides this note", args.quiet)


def cpu_hint(args: argparse.Namespace, preset: str, device: torch.device,
             geo: PyramidGeometry) -> None:
    """Say how long the implicit `paper` preset takes on a CPU, for images worth saying it."""
    if args.preset is None and preset == "paper" and device.type == "cpu" and \
            max(geo.sizes[-1]) >= CPU_HINT_SIZE:
        h, w = geo.sizes[-1]
        say(f"note: the default preset `paper` (the paper's settings) takes many hours on a CPU "
            f"at {w}x{h} (more than a day for 250 px on 2 cores); `--preset fast` takes about "
            f"17 minutes there, at lower quality (README, \"Presets\"); --preset paper hides "
            f"this note", args.quiet)


def train_message(source: str, image: torch.Tensor, device: torch.device, preset: str,
                  out: Path, arithmetic: str = "float32") -> Callable[[RunStart], str]:
    """The line `singan train` prints when a new training starts."""
    return lambda start: (f"training {source} ({image.shape[-1]}x{image.shape[-2]}) on "
                          f"{device}: {start.model.num_scales} scales, preset {preset}, "
                          f"{arithmetic}, run folder {out}")


def resume_message(device: torch.device) -> Callable[[RunStart], str]:
    """The line `singan train --resume` prints when it continues a run."""
    return lambda start: (f"resuming {start.run_dir} at "
                          f"{scale_label(start.first_scale, start.model.num_scales)} "
                          f"({start.first_scale} of {start.model.num_scales} scales saved) on "
                          f"{device}")


def run_training(train: Train, args: argparse.Namespace, out: Path,
                 message: Callable[[RunStart], str]) -> SinGAN:
    """Run `train` with the bar and the messages; the first Ctrl-C (or SIGTERM) stops after the
    current iteration with the finished scales saved, and is raised on as KeyboardInterrupt."""
    state: dict = {}

    def on_start(start: RunStart) -> None:
        state["start"] = start
        if start.first_scale >= start.model.num_scales:
            say(f"{out}: training is already complete ({start.model.num_scales} scales)",
                args.quiet)
            return
        say(message(start), args.quiet)
        state["bar"] = TrainingBar(start, args.quiet)
        state["t0"] = time.perf_counter()

    def callback(p: Progress) -> None:
        stop.check()
        state["bar"].update(p)

    try:
        with GracefulStop(args.quiet) as stop:
            model = train(callback, on_start)
    except KeyboardInterrupt:
        _close(state)
        if "start" in state:
            start = state["start"]
            say(f"\ninterrupted: {start.model.num_trained} of {start.model.num_scales} scales "
                f"are saved in {out}; continue with `singan train --resume --out {out}`")
        raise
    except BaseException:
        _close(state)
        raise
    _close(state)
    if "t0" in state:
        say(f"done in {time.perf_counter() - state['t0']:.0f} s; sample with `singan sample "
            f"{out}` (8 samples into {out / SAMPLES_DIR})", args.quiet)
    return model


def _close(state: dict) -> None:
    if "bar" in state:
        state["bar"].close()
