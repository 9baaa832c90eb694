"""`singan train`: train a model on one image into a run folder."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from .. import io, validate
from ..config import DEFAULT_PRESET, MODES, make_config
from ..data import default_image
from ..errors import RunError
from ..models import SinGAN
from ..pyramid import geometry
from ..runlock import RunLock
from ..sample import generate
from ..training import Progress, Trainer, expected_work
from .common import (CommandError, GracefulStop, HelpFormatter, add_config_args,
                     add_device_args, add_limit_args, config_overrides, resolve_device, say,
                     use_cudnn_benchmark)

EXAMPLES = """\
examples:
  singan train photo.jpg --out runs/photo                 # default preset
  singan train --preset tiny --out runs/demo              # embedded image, about a minute on CPU
  singan train photo.jpg --out runs/p --preset paper --device cuda   # the paper's settings
  singan train photo.jpg --out runs/p --max-size 180 --iters 1000    # override any setting
  singan train --resume --out runs/photo                  # continue an interrupted run
  singan train lightning.png --mode animation --out runs/anim       # for `singan animate`
"""

OOM_ADVICE = ("use a smaller --max-size (or --base-channels/--max-channels), or --device cpu; "
              "the scales finished so far are saved: continue with `singan train --resume`")

# Training at this size or larger with the implicit `paper` preset on a CPU prints a hint about
# the time it takes and the `fast` preset (figures: docs/benchmarks.md, CPU section).
CPU_HINT_SIZE = 128

# Files a run folder holds; --force removes exactly these, nothing else a user put there.
RUN_FILES = (io.CONFIG_NAME, io.MODEL_NAME, io.STATE_NAME, "stats.jsonl", "log.txt",
             "progress.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on one image", description=__doc__,
                       epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("image", nargs="?", default=None,
                   help="training image (omit to use the embedded default landscape)")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--mode", default="generation", choices=MODES,
                   help="generation; sr (for `singan sr`); animation (for `singan animate`)")
    add_config_args(p)
    add_device_args(p)
    add_limit_args(p)
    p.add_argument("--seed", type=int, default=0, help="random seed")
    add_cuda_graphs_arg(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last finished scale")
    p.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.add_argument("--log-every", type=int, default=25, metavar="N",
                   help="write losses to stats.jsonl every N iterations")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="print the resolved configuration and scale sizes, then exit")
    p.set_defaults(func=run)


def add_cuda_graphs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=True,
                   help="on a CUDA device, replay each iteration as a CUDA graph (same results, "
                        "much less launch overhead)")
    p.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=True,
                   help="on a CUDA device, let cuDNN time its convolution algorithms once and "
                        "keep the fastest (the paper preset's widest scales train 1.4-2x "
                        "faster); ignored on the CPU")


def _clear_run(out: Path) -> None:
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    previews = out / "previews"
    if previews.is_dir():
        for f in previews.glob("scale_*.png"):
            f.unlink()


class RunLogger:
    """Writes log.txt, stats.jsonl and progress.json into the run folder, and a tqdm bar.

    progress.json (rewritten about once a second) lets other programs (the web app, train-many)
    follow a training they did not start: status running/done/failed/interrupted, scale,
    iteration, percent done, elapsed and estimated remaining seconds, pid.
    """

    def __init__(self, out: Path, model: SinGAN, quiet: bool, first_scale: int):
        self.out, self.model, self.quiet = out, model, quiet
        self.stats = open(out / "stats.jsonl", "a", encoding="utf-8")
        self.log = open(out / "log.txt", "a", encoding="utf-8")
        work = expected_work(model)
        self.unit = [w / max(1, model.config.iters_at(n, model.num_scales)) / sum(work) * 100
                     for n, w in enumerate(work)]
        self.percent = self.start_percent = sum(work[:first_scale]) / sum(work) * 100
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=100.0, initial=self.percent, unit="%", dynamic_ncols=True,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| "
                                       "[{elapsed}<{remaining}]")
        self.t0 = self.scale_start = time.perf_counter()
        self.last_write = 0.0
        self.last: Progress | None = None
        self.write_progress("running")

    def write_progress(self, status: str) -> None:
        p, now = self.last, time.perf_counter()
        elapsed = now - self.t0
        gained = self.percent - self.start_percent
        eta = elapsed * (100 - self.percent) / gained if gained > 0 else None
        info = {"status": status, "pid": os.getpid(), "updated": time.time(),
                "num_scales": self.model.num_scales,
                "scale": p.scale if p else self.model.num_trained,
                "iteration": p.iteration if p else 0,
                "iters": p.iters if p else self.model.config.iters_at(self.model.num_trained, self.model.num_scales),
                "scales_done": self.model.num_trained,
                "percent": round(min(self.percent, 100.0), 2), "elapsed": round(elapsed, 1),
                "eta": None if eta is None or status != "running" else round(eta, 1)}
        text = json.dumps(info)
        io.atomic_write(self.out / "progress.json", lambda f: f.write(text.encode()))
        self.last_write = now

    def line(self, msg: str) -> None:
        """Append a time-stamped line to log.txt (best effort: see `close`)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            self.log.write(f"{stamp} {msg}\n")
            self.log.flush()
        except OSError:
            pass

    def progress(self, p: Progress) -> None:
        if p.event is not None:
            self.restart(p)
            return
        if p.iteration == 1:
            self.scale_start = time.perf_counter()
        self.last = p
        self.percent += self.unit[p.scale]
        if time.perf_counter() - self.last_write > 1.0:
            self.write_progress("running")
        if p.losses is not None:
            rec = {"scale": p.scale, "iter": p.iteration, "time": round(p.elapsed, 3)}
            rec.update({k: round(v, 6) for k, v in p.losses.items()})
            self.stats.write(json.dumps(rec) + "\n")
            self.stats.flush()
        if self.bar is not None:
            self.bar.update(self.unit[p.scale])
            if p.losses is not None or p.iteration == 1:
                desc = f"scale {p.scale + 1}/{p.num_scales} it {p.iteration}/{p.iters}"
                if p.losses is not None:
                    desc += (f" d {p.losses['d_loss']:.3f} g {p.losses['g_loss']:.3f}"
                             f" rec {p.losses['rec_loss']:.4f}")
                self.bar.set_description_str(desc, refresh=False)
        if p.scale_done:
            secs = time.perf_counter() - self.scale_start
            h, w = self.model.sizes[p.scale]
            self.line(f"scale {p.scale}/{p.num_scales - 1} ({h}x{w}) done: {p.iters} iterations "
                      f"in {secs:.1f} s, noise_amp {p.losses['noise_amp']:.4f}")

    def restart(self, p: Progress) -> None:
        """A scale restarts after diverging: log it, take back its progress."""
        self.line(p.event)
        if self.bar is not None:
            self.bar.write(f"note: {p.event}")
        done = self.unit[p.scale] * (p.iteration - 1)
        self.percent -= done
        if self.bar is not None:
            self.bar.update(-done)

    def close(self, status: str) -> None:
        """Final progress.json and closed files; write errors (a full disk) are ignored here so
        that they never hide the error that stopped training."""
        if self.bar is not None:
            self.bar.close()
        for step in (lambda: self.write_progress(status), self.stats.close, self.log.close):
            try:
                step()
            except OSError:
                pass


def _save_preview(out: Path, model: SinGAN, seed: int) -> None:
    """One random sample of the scales trained so far, for watching training."""
    gen = torch.Generator(device=model.z_rec.device).manual_seed(seed)
    x = generate(model, 1, generator=gen)
    io.save_image(x[0], out / "previews" / f"scale_{model.num_trained - 1:02d}.png")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.log_every < 1:
        raise CommandError("--log-every must be at least 1")
    if args.resume:
        return _resume(args, out)
    preset = args.preset or DEFAULT_PRESET
    config = make_config(preset, args.mode, **config_overrides(args))
    source = args.image or "<embedded default image>"
    if args.image is None:
        image = io.image_to_tensor(default_image())
    else:
        image = io.load_image(args.image, max_pixels=args.max_pixels)
    device = resolve_device(args.device, args.threads)
    use_cudnn_benchmark(device, args.cudnn_benchmark)
    geo = geometry(*image.shape[-2:], min_size=config.min_size, max_size=config.max_size,
                   scale_factor_init=config.scale_factor_init, exact_factor=config.mode == "sr")
    need = validate.training_memory(config, list(geo.sizes))
    if args.preset is None and preset == "paper" and device.type == "cpu" and \
            max(geo.sizes[-1]) >= CPU_HINT_SIZE:
        h, w = geo.sizes[-1]
        say(f"note: the default preset `paper` (the paper's settings) takes many hours on a CPU "
            f"at {w}x{h} (more than a day for 250 px on 2 cores); `--preset fast` takes about "
            f"17 minutes there, at lower quality (README, \"Presets\"); --preset paper hides "
            f"this note", args.quiet)
    if args.dry_run:
        print(json.dumps({"preset": preset, "config": config.to_dict(),
                          "sizes": [list(s) for s in geo.sizes],
                          "scale_factor": geo.scale_factor, "device": str(device),
                          "memory_estimate": validate.format_bytes(need)}, indent=2))
        return 0
    _check_training_memory(need, device, config.max_size)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} exists and is not a folder")
    with RunLock(out):
        io.remove_temp_files(out)
        if os.path.lexists(out / io.CONFIG_NAME):  # without it, leftovers of a killed start
            if not args.force:
                raise CommandError(f"{out} already holds a run; use --resume to continue it or "
                                   f"--force to overwrite it")
            _clear_run(out)
        trainer = Trainer.from_image(image, config, device=device, seed=args.seed,
                                     log_every=args.log_every, cuda_graphs=args.cuda_graphs)
        extra = {"image": {"source": str(source), "height": int(image.shape[-2]),
                           "width": int(image.shape[-1])}, "preset": preset, "seed": args.seed}
        io.save_run(trainer.model, out, trainer.state(), extra)  # scale -1: resumable
        say(f"training {source} ({image.shape[-1]}x{image.shape[-2]}) on {device}: "
            f"{trainer.model.num_scales} scales, preset {preset}, run folder {out}", args.quiet)
        return _train(trainer, out, args, extra, first_scale=0)


def _check_training_memory(need: int, device: torch.device, max_size: int) -> None:
    """Refuse a training whose estimated memory exceeds what the device has free."""
    free = validate.available_memory(device)
    if free is not None and need > free:
        raise CommandError(f"training at --max-size {max_size} needs about "
                           f"{validate.format_bytes(need)} of memory, more than the "
                           f"{validate.format_bytes(free)} free on {device}; use a smaller "
                           f"--max-size or --max-channels")


def _resume(args: argparse.Namespace, out: Path) -> int:
    if args.force:
        raise CommandError("--resume and --force cannot be used together")
    info = io.read_run_info(out)
    device = resolve_device(args.device, args.threads)
    use_cudnn_benchmark(device, args.cudnn_benchmark)
    with RunLock(out):
        return _resume_locked(args, out, info, device)


def _resume_locked(args: argparse.Namespace, out: Path, info: dict,
                   device: torch.device) -> int:
    model = io.load(out, device=device, allow_incomplete=True)
    if model.is_complete:
        say(f"{out}: training is already complete ({model.num_scales} scales)", args.quiet)
        return 0
    _check_training_memory(validate.training_memory(model.config, model.sizes), device,
                           model.config.max_size)
    state = io.load_train_state(out, model)
    io.remove_temp_files(out)  # after the checks: a damaged run stays exactly as it was
    try:
        trainer = Trainer.resume(model, state, log_every=args.log_every,
                                 cuda_graphs=args.cuda_graphs)
    except RuntimeError as e:
        raise RunError(f"{out}: cannot restore the training state on {device} ({e}); resume on "
                       f"the device type it was trained on") from None
    extra = {k: v for k, v in info.items()
             if k not in ("format_version", "singan_version", "config", "sizes", "scale_factor")}
    say(f"resuming {out} at scale {trainer.model.num_trained} of {model.num_scales} on {device}",
        args.quiet)
    return _train(trainer, out, args, extra, first_scale=trainer.model.num_trained)


def _train(trainer: Trainer, out: Path, args: argparse.Namespace, extra: dict,
           first_scale: int) -> int:
    logger = RunLogger(out, trainer.model, args.quiet, first_scale)
    logger.line(f"start at scale {first_scale}: {json.dumps(trainer.config.to_dict())}")
    t0 = time.perf_counter()

    def on_scale_end(tr: Trainer) -> None:
        try:
            io.save_run(tr.model, out, tr.state(), extra)
        except RunError as e:
            raise RunError(f"{e}; the run keeps its last good checkpoint: free some space and "
                           f"continue with `singan train --resume --out {out}`") from None
        _save_preview(out, tr.model, args.seed)

    def progress(p: Progress) -> None:
        stop.check()
        logger.progress(p)

    try:
        with GracefulStop(args.quiet) as stop:
            trainer.run(progress, on_scale_end)
    except KeyboardInterrupt:
        done = trainer.model.num_trained
        logger.line(f"interrupted; {done} scale(s) saved")
        logger.close("interrupted")
        say(f"\ninterrupted: {done} of {trainer.model.num_scales} scales are saved in {out}; "
            f"continue with `singan train --resume --out {out}`")
        raise
    except BaseException:
        logger.line("stopped by an error")
        logger.close("failed")
        raise
    secs = time.perf_counter() - t0
    logger.line(f"done in {secs:.1f} s")
    logger.close("done")
    say(f"done in {secs:.0f} s; sample with `singan sample {out} --num 8 --out {out}/samples`",
        args.quiet)
    return 0
