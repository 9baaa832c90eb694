"""`singan paint`, `singan edit`, `singan harmonize`, `singan animate`: the applications that use
a trained run (spec section 6), plus what they share with `singan sr`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from .. import bounds, budget, images
from ..apps import animate, edit, harmonize, paint_to_image, write_animation
from ..apps.animate import check_format
from ..apps.common import (DEFAULT_SCALE_HELP, as_image, check_ready, default_start_scale,
                           injection_scales)
from ..apps.masks import prepare_mask
from ..errors import CommandError, RunError
from ..families import is_consingan
from ..models import SinGAN
from ..run import load, load_train_state
from .common import (HelpFormatter, add_device_args, add_limit_args, bounded, check_free,
                     check_image_path, path_arg, resolve_device, say)
from .failures import GPU, MAIN

OOM_ADVICE = {GPU: "use a run trained at a smaller size (or fewer --frames for animate), or "
                   "--device cpu",
              MAIN: "use a run trained at a smaller size (or fewer --frames for animate), or close "
                    "other programs"}

def default_scale(command: str, model: SinGAN) -> int:
    return default_start_scale(command, model.num_scales)


# --- shared helpers --------------------------------------------------------------------------


def start_scale_arg(value: str) -> int | str:
    """argparse type of --start-scale: an int or 'all'."""
    if value == "all":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a scale number or 'all', got {value!r}") \
            from None


def chosen_scales(args: argparse.Namespace, model: SinGAN, valid: range) -> list[int]:
    """The scales --start-scale asks for, checked against `valid`."""
    if args.start_scale is None:
        return [default_scale(args.command, model)]
    if args.start_scale == "all":
        return list(valid)
    if args.start_scale not in valid:
        raise CommandError(f"--start-scale must be between {valid.start} and {valid.stop - 1} "
                           f"for this run (0 = coarsest), or 'all'; got {args.start_scale}")
    return [args.start_scale]


def output_path(out: Path, scale: int | None = None, tag: str = "") -> Path:
    """FILE, FILE_scaleK or FILE_scaleK_tag with FILE's suffix."""
    stem = out.stem + (f"_scale{scale}" if scale is not None else "") + (f"_{tag}" if tag else "")
    return out.with_name(stem + out.suffix)


def load_model(args: argparse.Namespace) -> SinGAN:
    device = resolve_device(args.device, args.threads)
    return load(args.run, device=device)


def finest_critic(run: str | Path, model: SinGAN) -> torch.nn.Module | None:
    """The critic of the run's finest scale (from its training state), if it is there."""
    try:
        state = load_train_state(run, model)
    except RunError:
        return None
    if state.scale != model.num_scales - 1:
        return None
    critic = model.new_discriminator(state.scale).to(model.device)
    critic.load_state_dict(state.discriminator)
    return critic.eval()


def progress_bar(quiet: bool, what: str) -> Callable[[int, int], None] | None:
    """A callback(done, total) drawing a tqdm bar, or None when quiet."""
    if quiet:
        return None
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=what, unit="it", dynamic_ncols=True, leave=False)
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return update


def add_common(p: argparse.ArgumentParser, command: str, out_help: str) -> None:
    p.add_argument("--out", required=True, type=path_arg, help=out_help)
    p.add_argument("--start-scale", type=start_scale_arg, default=None, metavar="K|all",
                   help=f"scale to start at (0 = coarsest); 'all' writes one file per valid "
                        f"scale, FILE_scaleK; default: {DEFAULT_SCALE_HELP[command]}")
    p.add_argument("--seed", type=bounded(bounds.SEED), default=0, help="random seed")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--quiet", action="store_true", help="no messages or progress bars")
    add_device_args(p)
    add_limit_args(p)


# --- paint, edit, harmonize ------------------------------------------------------------------

PAINT_EXAMPLES = """\
examples:
  singan paint runs/photo paint.png --out painted.png                 # default scale
  singan paint runs/photo paint.png --out painted.png --start-scale all   # try every scale
  singan paint runs/photo paint.png --out painted.png --quantize      # colours of the image
"""

EDIT_EXAMPLES = """\
examples:
  singan edit runs/stone stone_edit.png --mask stone_edit_mask.png --out edited.png
  singan edit runs/stone edit.png --mask mask.png --out e.png --start-scale all --save-raw
  singan edit runs/stone edit.png --mask mask.png --out e.png --fine-tune 200
"""

HARMONIZE_EXAMPLES = """\
examples:
  singan harmonize runs/scream scream_naive.jpg --mask scream_naive_mask.jpg --out h.png
  singan harmonize runs/scream naive.jpg --mask mask.jpg --out h.png --start-scale all
  singan harmonize runs/scream naive.jpg --mask mask.jpg --out h.png --fine-tune 300
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paint", help="turn a rough paint into an image like the training one",
                       description="Inject a paint (a rough colour drawing) at a coarse scale "
                       "and let the finer scales add the training image's detail (paint-to-image).",
                       epilog=PAINT_EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("run", help="run folder written by `singan train`")
    p.add_argument("paint", help="the paint (resized to the training image if needed)")
    add_common(p, "paint", "output image file")
    p.add_argument("--quantize", action="store_true",
                   help="map the paint to the 5 main colours of the training image and "
                        "fine-tune the injection scale on such colours first (slower)")
    p.add_argument("--fine-tune", type=bounded(bounds.FINE_TUNE), default=None, metavar="ITERS",
                   help="with --quantize (or for a consingan run): fine-tuning iterations "
                        "(default: as many as the scale was trained with; 0 = none)")
    p.set_defaults(func=run_paint)

    for name, fn, help_, what, examples in (
            ("edit", run_edit, "make a naive edit of the training image look natural",
             "the edited image", EDIT_EXAMPLES),
            ("harmonize", run_harmonize, "blend a pasted object into the training image's style",
             "the image with the object pasted in", HARMONIZE_EXAMPLES)):
        p = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ": the "
                           "image is injected at a scale, regenerated from there, and blended "
                           "back inside the (dilated, blurred) mask.", epilog=examples,
                           formatter_class=HelpFormatter)
        p.add_argument("run", help="run folder trained on the original image")
        p.add_argument("image", help=f"{what} (resized to the training image if needed)")
        p.add_argument("--mask", required=True,
                       help="the region to regenerate: white (or opaque, in an RGBA file) on "
                            "black; binary, grayscale, RGB or RGBA")
        add_common(p, name, "output image file (the blended result)")
        p.add_argument("--save-raw", action="store_true",
                       help="also write the unblended output as FILE_raw")
        p.add_argument("--fine-tune", type=bounded(bounds.FINE_TUNE), default=0, metavar="ITERS",
                       help="first fine-tune the finest scales on this image for ITERS "
                            "iterations (ConSinGAN; often much better, takes minutes on CPU)")
        p.set_defaults(func=fn)

    p = sub.add_parser("animate", help="make a GIF or MP4 of the training image moving",
                       description="A random walk of the noise around the reconstruction: a "
                       "video of the training image in gentle motion. Needs a run trained with "
                       "`singan train IMAGE --mode animation`.",
                       epilog="examples:\n  singan animate runs/lightning --out lightning.gif\n"
                              "  singan animate runs/lightning --out l.mp4 --frames 200 --fps 25\n"
                              "  singan animate runs/lightning --out l.gif --start-scale all\n",
                       formatter_class=HelpFormatter)
    p.add_argument("run", help="run folder trained with --mode animation")
    add_common(p, "animate", "output file, .gif or .mp4 (MP4 needs `pip install singan[video]`)")
    p.add_argument("--frames", type=bounded(bounds.FRAMES), default=100, help="number of frames")
    p.add_argument("--fps", type=bounded(bounds.FPS), default=10, help="frames per second")
    p.add_argument("--alpha", type=bounded(bounds.ANIMATION_WEIGHT), default=0.1,
                   help="pull towards the training image (0: free walk, 1: frozen)")
    p.add_argument("--beta", type=bounded(bounds.ANIMATION_WEIGHT), default=0.9,
                   help="smoothness of the motion (the paper uses 0.80 to 0.95)")
    p.set_defaults(func=run_animate)


def _prepare(args: argparse.Namespace, tags: tuple[str, ...]) -> tuple[SinGAN, list[int],
                                                                         list[Path]]:
    """Load the run, pick the scales and check that every output may be written."""
    out = Path(args.out)
    check_image_path(out)
    model = load_model(args)
    check_ready(model)
    scales = chosen_scales(args, model, injection_scales(model))
    per_scale = args.start_scale == "all"
    paths = [output_path(out, k if per_scale else None, t) for k in scales for t in tags]
    check_free(paths, args.force)
    return model, scales, paths


def run_paint(args: argparse.Namespace) -> int:
    model, scales, paths = _prepare(args, ("",))
    if args.fine_tune is not None and not args.quantize and not is_consingan(model):
        raise CommandError("--fine-tune applies only with --quantize (or to a consingan run)")
    paint = as_image(images.read_image(args.paint, max_pixels=args.max_pixels), model, args.paint)
    for k, path in zip(scales, paths):
        x = paint_to_image(model, paint, start_scale=k, quantize=args.quantize,
                           fine_tune_iters=args.fine_tune, seed=args.seed)
        images.save_image(x, path)
        say(f"wrote {path} (start scale {k})", args.quiet)
    return 0


def _run_blend(args: argparse.Namespace, fn) -> int:
    tags = ("", "raw") if args.save_raw else ("",)
    model, scales, paths = _prepare(args, tags)
    image = as_image(images.read_image(args.image, max_pixels=args.max_pixels), model, args.image)
    mask = prepare_mask(images.open_image(args.mask, max_pixels=args.max_pixels), model, args.mask)
    critic = finest_critic(args.run, model) if args.fine_tune else None
    for i, k in enumerate(scales):
        result = fn(model, image, mask, start_scale=k, fine_tune=args.fine_tune, seed=args.seed,
                    critic=critic, callback=progress_bar(args.quiet, f"fine-tuning (scale {k})"))
        for path, x in zip(paths[i * len(tags):(i + 1) * len(tags)], (result.blended, result.raw)):
            images.save_image(x, path)
            say(f"wrote {path} (start scale {k})", args.quiet)
    return 0


def run_edit(args: argparse.Namespace) -> int:
    return _run_blend(args, edit)


def run_harmonize(args: argparse.Namespace) -> int:
    return _run_blend(args, harmonize)


# --- animate ---------------------------------------------------------------------------------


def run_animate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_format(out)
    model = load_model(args)
    check_ready(model, "animation", "animation")
    budget.check_animation_size(model.config, model.sizes, args.frames,
                                available=budget.available_memory(model.device))
    scales = chosen_scales(args, model, range(model.num_scales))
    paths = [output_path(out, k if args.start_scale == "all" else None) for k in scales]
    check_free(paths, args.force)
    for k, path in zip(scales, paths):
        frames = animate(model, frames=args.frames, alpha=args.alpha, beta=args.beta,
                         start_scale=k, seed=args.seed)
        write_animation(frames, path, fps=args.fps)
        say(f"wrote {path} ({args.frames} frames, start scale {k})", args.quiet)
    return 0
