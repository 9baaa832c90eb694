"""`singan sr`: enlarge an image by training a super-resolution model on it (or reusing one)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..apps import super_resolve
from .. import bounds, budget
from ..config import DEFAULT_PRESET, sr_config, sr_steps
from ..errors import CommandError
from ..images import load_image, save_image
from ..pyramid import geometry_for
from ..resize import resize
from ..run import load, read_run_info, train_run
from ..run.layout import has_config
from .common import (HelpFormatter, add_config_args, add_cuda_graphs_arg, add_device_args,
                     add_limit_args, bounded, check_free, check_image_path, config_overrides,
                     path_arg, resolve_device, say, use_cudnn_benchmark)
from .failures import GPU, MAIN
from .progress import cpu_hint, run_training, train_message

EXAMPLES = """\
examples:
  singan sr small.png --factor 4 --out big.png          # trains into big_run/, then enlarges
  singan sr small.png --factor 2 --out big2.png --run big_run   # reuse that model
  singan sr small.png --factor 4 --out big.png --preset tiny --device cpu   # quick try
"""

OOM_ADVICE = {GPU: "use a smaller --factor (or --max-size for the training), or --device cpu",
              MAIN: "use a smaller --factor (or --max-size for the training), or close other "
                    "programs"}

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
    p.add_argument("--factor", type=bounded(bounds.SR_FACTOR), required=True,
                   help="enlargement; the output is round(F x width) x round(F x height)")
    p.add_argument("--out", required=True, type=path_arg, help="output image file")
    p.add_argument("--run", default=None, type=path_arg,
                   help="run folder to reuse, or to train into if it holds no run "
                        "(default: FILE_run next to --out)")
    add_config_args(p, default=DEFAULT_PRESET)
    add_device_args(p)
    add_cuda_graphs_arg(p)
    add_limit_args(p)
    p.add_argument("--seed", type=bounded(bounds.SEED), default=0,
                   help="random seed (training and noise)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=run)


def default_run_dir(out: Path) -> Path:
    return out.with_name(out.stem + "_run")


def _train(args: argparse.Namespace, run_dir: Path, image, device):
    """Train a super-resolution model on `image` into run_dir, as `singan train` would."""
    preset = args.preset or DEFAULT_PRESET
    config = sr_config(args.factor, preset, **config_overrides(args))
    say(f"training a super-resolution model on {args.image} into {run_dir} (reuse it with "
        f"--run {run_dir})", args.quiet)
    geo = geometry_for(config, *image.shape[-2:])
    cpu_hint(args, preset, device, geo)
    return run_training(lambda callback, on_start: train_run(
        run_dir, image, config, source=args.image, preset=preset, seed=args.seed, device=device,
        geometry=geo, cuda_graphs=args.cuda_graphs, callback=callback, on_start=on_start),
        args, run_dir, train_message(args.image, image, device, preset, run_dir))


def _check_same_image(model, image, run_dir: Path) -> None:
    """Refuse to enlarge an image with a model trained on another one.

    A model trained with --max-size learnt a shrunk copy whose sides were rounded up to whole
    pixels, so the aspect ratios may differ by that rounding (a pixel on each side).
    """
    real = model.reals[-1]
    (rh, rw), (ih, iw) = real.shape[-2:], image.shape[-2:]
    rounding = rw / rh * (1 / rh + 1 / rw)
    if abs(iw / ih - rw / rh) > 0.01 + rounding or \
            (resize(image.to(real.device), size=(rh, rw)) - real).abs().mean() > \
            SAME_IMAGE_TOLERANCE:
        source = read_run_info(run_dir).get("image", {}).get("source", "another image")
        raise CommandError(f"{run_dir} holds a model trained on another image ({source}); "
                           f"choose another --run, or delete that folder to retrain")


def run(args: argparse.Namespace) -> int:
    steps, step = sr_steps(args.factor)
    out = Path(args.out)
    check_image_path(out)
    check_free([out], args.force)
    image = load_image(args.image, max_pixels=args.max_pixels)
    run_dir = Path(args.run) if args.run else default_run_dir(out)
    device = resolve_device(args.device, args.threads)
    use_cudnn_benchmark(device, args.cudnn_benchmark)
    if not has_config(run_dir):
        model = _train(args, run_dir, image, device)
    else:
        if config_overrides(args) or args.preset:
            say(f"note: reusing the run in {run_dir}; training settings are ignored", args.quiet)
        model = load(run_dir, device=device)
        _check_same_image(model, image, run_dir)
    if abs(model.scale_factor * step - 1) > 1e-6:
        say(f"note: {run_dir} was trained for steps of x{1 / model.scale_factor:.4f}; "
            f"x{args.factor:g} takes {steps} steps of x{step:.4f}", args.quiet)
    h, w = (round(args.factor * n) for n in image.shape[-2:])
    budget.check_output_size(h, w, model.config,
                             available=budget.available_memory(model.device),
                             max_pixels=args.max_pixels)
    x = super_resolve(model, args.factor, image=image, seed=args.seed)
    save_image(x, out)
    say(f"wrote {out} ({x.shape[-1]}x{x.shape[-2]}, x{args.factor:g} in {steps} steps)",
        args.quiet)
    return 0
