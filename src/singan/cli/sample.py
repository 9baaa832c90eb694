"""`singan sample`: draw random images from a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import io
from ..sample import generate
from .common import CommandError, HelpFormatter, add_device_args, resolve_device, say

EXAMPLES = """\
examples:
  singan sample runs/photo --num 8 --out samples/             # 8 samples, seeds 0-7
  singan sample runs/photo --num 4 --scale-w 2 --out wide/     # twice as wide
  singan sample runs/photo --num 4 --start-scale 1 --out s1/   # keep the coarsest layout
  singan sample runs/photo --num 1 --height 300 --width 500 --seed 42 --out big/
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw random samples from a trained run",
                       description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("run", help="run folder written by `singan train`")
    p.add_argument("--out", required=True, help="output folder for the PNG files")
    add_sample_args(p)
    p.set_defaults(func=run)


def add_sample_args(p: argparse.ArgumentParser) -> None:
    """The sampling flags shared with `singan sample-many`."""
    p.add_argument("--num", type=int, default=8, help="number of samples")
    p.add_argument("--start-scale", type=int, default=0,
                   help="first scale that gets random noise (0 = coarsest, most variety); "
                        "coarser scales replay the training image")
    p.add_argument("--scale-h", type=float, default=1.0, help="output height / training height")
    p.add_argument("--scale-w", type=float, default=1.0, help="output width / training width")
    p.add_argument("--height", type=int, default=None, help="exact output height in px")
    p.add_argument("--width", type=int, default=None, help="exact output width in px")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the first sample; sample i uses seed + i (file seedNNNN.png)")
    p.add_argument("--batch", type=int, default=16, help="samples generated at once")
    p.add_argument("--force", action="store_true", help="overwrite existing files in --out")
    p.add_argument("--quiet", action="store_true")
    add_device_args(p)


def output_size(model, args) -> tuple[int, int] | None:
    """Exact (H, W) from --height/--width, keeping the aspect ratio when only one is given."""
    if args.height is None and args.width is None:
        return None
    fh, fw = model.sizes[-1]
    h = args.height if args.height is not None else round(args.width * fh / fw)
    w = args.width if args.width is not None else round(args.height * fw / fh)
    return h, w


def check_sample_args(args: argparse.Namespace) -> None:
    if args.num < 1:
        raise CommandError("--num must be at least 1")
    if args.batch < 1:
        raise CommandError("--batch must be at least 1")
    if not (0 < args.scale_h <= 16 and 0 < args.scale_w <= 16):
        raise CommandError("--scale-h and --scale-w must be in (0, 16]")
    for name in ("height", "width"):
        v = getattr(args, name)
        if v is not None and not 8 <= v <= 8192:
            raise CommandError(f"--{name} must be between 8 and 8192")


def write_samples(model, out: Path, args: argparse.Namespace) -> None:
    """Draw args.num samples (seeds args.seed, args.seed + 1, ...) into out/seedNNNN.png."""
    if not 0 <= args.start_scale < model.num_scales:
        raise CommandError(f"--start-scale must be between 0 and {model.num_scales - 1}")
    size = output_size(model, args)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} exists and is not a folder")
    seeds = [args.seed + i for i in range(args.num)]
    paths = [out / f"seed{s:04d}.png" for s in seeds]
    clash = [p for p in paths if p.exists()]
    if clash and not args.force:
        raise CommandError(f"{clash[0]} exists; use --force to overwrite or another --out")
    for i in range(0, args.num, args.batch):
        chunk = seeds[i:i + args.batch]
        x = generate(model, len(chunk), start_scale=args.start_scale, scale_h=args.scale_h,
                     scale_w=args.scale_w, size=size, seeds=chunk)
        for j, s in enumerate(chunk):
            io.save_image(x[j], paths[i + j])


def run(args: argparse.Namespace) -> int:
    check_sample_args(args)
    device = resolve_device(args.device, args.threads)
    model = io.load(args.run, device=device)
    out = Path(args.out)
    write_samples(model, out, args)
    say(f"wrote {args.num} sample(s) to {out}", args.quiet)
    return 0
