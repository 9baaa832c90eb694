"""`singan sr`: enlarge an image by training a super-resolution model on it (or reusing one)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import io, validate
from ..apps import super_resolve
from ..apps.sr import sr_steps
from ..resize import resize
from . import train as train_cmd
from .apps import check_free, check_image_path
from .common import (CommandError, HelpFormatter, add_config_args, add_device_args,
                     add_limit_args, config_overrides, resolve_device, say)

EXAMPLES = """\
examples:
  singan sr small.png --factor 4 --out big.png          # trains into big_run/, then enlarges
  singan sr small.png --factor 2 --out big2.png --run big_run   # reuse that model
  singan sr small.png --factor 4 --out big.png --preset tiny --device cpu   # quick try
"""

SAME_IMAGE_TOLERANCE = 0.02  # mean absolute difference (in [-1, 1] units) of "the same image"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sr", help="super-resolution: enlarge an image by a factor from 1.5 to 8",
        description="Enlarge IMAGE by --factor. A model is trained on IMAGE in sr mode "
        "(alpha 100, min size 18, pyramid factor 1/F^(1/k)), at IMAGE's full size unless "
        "--max-size is given; its finest generator is then applied k = round(3 log2 F) times. "
        "The run folder is --run, by default FILE_run next to the output; a run folder that "
        "already holds a model trained on IMAGE is reused.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("image", help="the low-resolution image")
    p.add_argument("--factor", type=float, required=True,
                   help="enlargement; the output is round(F x width) x round(F x height)")
    p.add_argument("--out", required=True, help="output image file")
    p.add_argument("--run", default=None,
                   help="run folder to reuse, or to train into if it holds no run "
                        "(default: FILE_run next to --out)")
    add_config_args(p)
    add_device_args(p)
    train_cmd.add_cuda_graphs_arg(p)
    add_limit_args(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (training and noise)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=run)


def default_run_dir(out: Path) -> Path:
    return out.with_name(out.stem + "_run")


def _train(args: argparse.Namespace, run_dir: Path, step: float, long_side: int) -> None:
    """Train into run_dir through `singan train`'s code path, in sr mode."""
    ns = argparse.Namespace(**vars(args))
    ns.out, ns.mode, ns.resume, ns.force, ns.dry_run, ns.log_every = \
        str(run_dir), "sr", False, False, False, 25
    if ns.scale_factor_init is None:
        ns.scale_factor_init = 1.0 / step
    if ns.max_size is None:  # super-resolution learns from the image at full size
        ns.max_size = long_side
    say(f"training a super-resolution model on {args.image} into {run_dir} (reuse it with "
        f"--run {run_dir})", args.quiet)
    train_cmd.run(ns)


def _check_same_image(model, image, run_dir: Path) -> None:
    """Refuse to enlarge an image with a model trained on another one."""
    real = model.reals[-1]
    if abs(image.shape[-1] / image.shape[-2] - real.shape[-1] / real.shape[-2]) > 0.01 or \
            (resize(image.to(real.device), size=real.shape[-2:]) - real).abs().mean() > \
            SAME_IMAGE_TOLERANCE:
        source = io.read_run_info(run_dir).get("image", {}).get("source", "another image")
        raise CommandError(f"{run_dir} holds a model trained on another image ({source}); "
                           f"choose another --run, or delete that folder to retrain")


def run(args: argparse.Namespace) -> int:
    steps, step = sr_steps(args.factor)
    out = Path(args.out)
    check_image_path(out)
    check_free([out], args.force)
    image = io.load_image(args.image, max_pixels=args.max_pixels)
    run_dir = Path(args.run) if args.run else default_run_dir(out)
    if not (run_dir / io.CONFIG_NAME).exists():
        _train(args, run_dir, step, max(image.shape[-2:]))
    elif config_overrides(args) or args.preset:
        say(f"note: reusing the run in {run_dir}; training settings are ignored", args.quiet)
    model = io.load(run_dir, device=resolve_device(args.device, args.threads))
    _check_same_image(model, image, run_dir)
    if abs(model.scale_factor * step - 1) > 1e-6:
        say(f"note: {run_dir} was trained for steps of x{1 / model.scale_factor:.4f}; "
            f"x{args.factor:g} takes {steps} steps of x{step:.4f}", args.quiet)
    h, w = (round(args.factor * n) for n in image.shape[-2:])
    validate.check_output_size(h, w, model.config, available=validate.available_memory(
        model.z_rec.device), max_pixels=args.max_pixels)
    x = super_resolve(model, args.factor, image=image, seed=args.seed)
    io.save_image(x, out)
    say(f"wrote {out} ({x.shape[-1]}x{x.shape[-2]}, x{args.factor:g} in {steps} steps)",
        args.quiet)
    return 0
