"""The sampling flags and the writing of samples, shared by `singan sample` and
`singan sample-many`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import bounds, budget, images
from ..errors import CommandError
from ..files import MIN_SIDE
from ..sample import generate, scale_sizes
from .common import add_device_args, add_limit_args, bounded
from .failures import GPU, MAIN

_SMALLER = "ask for a smaller output (--height/--width, --scale-h/--scale-w) or fewer samples at " \
    "once (--batch)"
# The out-of-memory advice of `singan sample` and `sample-many` (see `cli.memory`).
OOM_ADVICE = {GPU: f"{_SMALLER}, or use --device cpu", MAIN: f"{_SMALLER}, or close other programs"}


def add_sample_args(p: argparse.ArgumentParser) -> None:
    """The sampling flags shared with `singan sample-many`."""
    p.add_argument("--num", type=bounded(bounds.COUNT), default=8, help="number of samples")
    p.add_argument("--start-scale", type=bounded(bounds.SCALE), default=0,
                   help="first scale that gets random noise (0 = coarsest, most variety); "
                        "coarser scales replay the training image")
    p.add_argument("--scale-h", type=bounded(bounds.RELATIVE_SIZE), default=1.0,
                   help="output height / training height")
    p.add_argument("--scale-w", type=bounded(bounds.RELATIVE_SIZE), default=1.0,
                   help="output width / training width")
    p.add_argument("--height", type=bounded(bounds.SIDE), default=None,
                   help="exact output height in px")
    p.add_argument("--width", type=bounded(bounds.SIDE), default=None,
                   help="exact output width in px")
    p.add_argument("--seed", type=bounded(bounds.SEED), default=0,
                   help="seed of the first sample; sample i uses seed + i (file seedNNNN.png)")
    p.add_argument("--batch", type=bounded(bounds.BATCH), default=16,
                   help="samples generated at once")
    p.add_argument("--force", action="store_true", help="overwrite existing files in --out")
    p.add_argument("--quiet", action="store_true")
    add_device_args(p)
    add_limit_args(p)


def output_size(model, args) -> tuple[int, int] | None:
    """Exact (H, W) from --height/--width, keeping the aspect ratio when only one is given."""
    return exact_size(args, *model.sizes[-1])


def exact_size(args, fh: int, fw: int) -> tuple[int, int] | None:
    """Exact (H, W) from --height/--width for an output of natural size fh x fw, keeping its
    aspect ratio when only one is given; None without either."""
    if args.height is None and args.width is None:
        return None
    h = args.height if args.height is not None else round(args.width * fh / fw)
    w = args.width if args.width is not None else round(args.height * fw / fh)
    return h, w


def write_samples(model, out: Path, args: argparse.Namespace,
                  file: Path | None = None) -> list[Path]:
    """Draw args.num samples (seeds args.seed, args.seed + 1, ...) into out/seedNNNN.png, or
    the one sample into `file` (checked by the caller); returns the paths written."""
    if not 0 <= args.start_scale < model.num_scales:
        raise CommandError(f"--start-scale must be between 0 and {model.num_scales - 1}")
    size = output_size(model, args)
    h, w = scale_sizes(model, args.scale_h, args.scale_w, size)[-1]
    if min(h, w) < MIN_SIDE:
        raise CommandError(f"the output would be {w}x{h} px; --scale-h, --scale-w, --height and "
                           f"--width must give at least {MIN_SIDE} px per side")
    budget.check_output_size(h, w, model.config, batch=min(args.batch, args.num),
                             available=budget.available_memory(model.device),
                             max_pixels=args.max_pixels)
    seeds = [args.seed + i for i in range(args.num)]
    if file is not None:
        paths = [file]
    else:
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} exists and is not a folder")
        paths = [out / f"seed{s:04d}.png" for s in seeds]
    clash = [p for p in paths if p.exists()]
    if clash and not args.force:
        raise CommandError(f"{clash[0]} exists; use --force to overwrite or another --out")
    for i in range(0, args.num, args.batch):
        chunk = seeds[i:i + args.batch]
        x = generate(model, len(chunk), start_scale=args.start_scale, scale_h=args.scale_h,
                     scale_w=args.scale_w, size=size, seeds=chunk)
        for j, s in enumerate(chunk):
            images.save_image(x[j], paths[i + j])
    return paths
