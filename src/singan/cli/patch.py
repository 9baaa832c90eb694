"""`singan patch`: training-free generation from one image's patches (GPNN or GPDM): random
samples of any size, inpainting and editing with a mask, structural analogy, and the refinement
of a trained run's coarse layout."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .. import bounds, budget, images, patch
from ..apps.refine import refine_samples
from ..errors import CommandError
from ..resize import resize
from ..run import load
from .common import (
    HelpFormatter,
    add_device_args,
    add_limit_args,
    bounded,
    path_arg,
    resolve_device,
    say,
)
from .failures import GPU, MAIN
from .sampling import exact_size

TASKS = ("sample", "inpaint", "edit", "analogy", "refine")
_SMALLER = "use a smaller --max-size or output (--height/--width, --scale-h/--scale-w)"
OOM_ADVICE = {GPU: f"{_SMALLER}, or --device cpu", MAIN: f"{_SMALLER}, or close other programs"}

EXAMPLES = """\
examples:
  singan patch photo.jpg --engine gpnn --num 8 --out variations/        # seconds each
  singan patch photo.jpg --engine gpdm --num 4 --scale-w 2 --out wide/   # retargeting
  singan patch photo.jpg --task inpaint --mask hole.png --out filled/    # rebuild the white part
  singan patch edited.png --task edit --mask where.png --out fixed/      # make an edit coherent
  singan patch texture.jpg --task analogy --structure layout.jpg --out analogy/
  singan patch --task refine --run runs/photo --num 4 --out refined/     # a model's layout,
                                                                         # the image's patches
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("patch", help="training-free samples from an image's patches (GPNN, GPDM)",
                       description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("image", nargs="?", default=None,
                   help="the image whose patches are used (refine: default the run's training "
                        "image)")
    p.add_argument("--engine", choices=patch.ENGINES, default="gpnn",
                   help="gpnn: patch nearest neighbours, seconds; gpdm: patch distribution "
                        "matching, sharper, about a minute per 250-px image on 2 CPU cores")
    p.add_argument("--task", choices=TASKS, default="sample",
                   help="sample: random images; inpaint: fill --mask from the rest; edit: make "
                        "the region of --mask coherent, keeping its layout; analogy: the layout "
                        "of --structure with the image's patches; refine: --run's layout at "
                        "--layout-scale, built up from the image's patches")
    p.add_argument("--out", required=True, type=path_arg, help="output folder for PNG files")
    p.add_argument("--num", type=bounded(bounds.COUNT), default=8, help="number of outputs")
    p.add_argument("--seed", type=bounded(bounds.SEED), default=0,
                   help="seed of the first output; output i uses seed + i (file seedNNNN.png)")
    p.add_argument("--mask", type=path_arg, default=None,
                   help="inpaint/edit: white (or opaque) where the image is rebuilt")
    p.add_argument("--structure", type=path_arg, default=None, help="analogy: the layout image")
    p.add_argument("--run", type=path_arg, default=None, help="refine: a trained run folder")
    p.add_argument("--layout-scale", type=bounded(bounds.SCALE), default=None,
                   help="refine: the run's last scale drawn (0 = coarsest; default: the "
                        "coarsest at least a quarter of the finest size)")
    p.add_argument("--scale-h", type=bounded(bounds.RELATIVE_SIZE), default=1.0,
                   help="output height / image height")
    p.add_argument("--scale-w", type=bounded(bounds.RELATIVE_SIZE), default=1.0,
                   help="output width / image width")
    p.add_argument("--height", type=bounded(bounds.SIDE), default=None,
                   help="exact output height in px (sample, analogy)")
    p.add_argument("--width", type=bounded(bounds.SIDE), default=None,
                   help="exact output width in px (sample, analogy)")
    p.add_argument("--max-size", type=bounded(bounds.SIDE), default=250, metavar="PX",
                   help="longer side the image (and the structure) is shrunk to first, as "
                        "training does")
    p.add_argument("--noise", type=bounded(bounds.Bound(float, 0, 10)), default=None,
                   help="std of the start noise (pixels in [0, 1]); more: more variety, less "
                        "fidelity (default: gpnn 0.75, gpdm 3.0; inpaint, edit and analogy 0)")
    p.add_argument("--alpha", type=bounded(bounds.Bound(float, 0, 1e6, lo_open=True)),
                   default=None, help="gpnn: the normalisation's softness (default 0.005; "
                                      "inpaint and edit 1)")
    p.add_argument("--search", choices=("auto", "exact", "approximate"), default=None,
                   help="gpnn: exact (every patch pair, slow), approximate (PatchMatch) or "
                        "auto (exact on small levels; default)")
    p.add_argument("--steps", type=bounded(bounds.Bound(int, 1, 100_000)), default=None,
                   help="gpdm: Adam steps per level (default 300)")
    p.add_argument("--batch", type=bounded(bounds.BATCH), default=1,
                   help="gpdm: outputs optimised together (faster per output; an output then "
                        "depends on its batch, not only on its seed)")
    p.add_argument("--force", action="store_true", help="overwrite existing files in --out")
    p.add_argument("--quiet", action="store_true")
    add_device_args(p)
    add_limit_args(p)
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace):
    masked = args.task in ("inpaint", "edit")
    noise = args.noise
    if noise is None and args.task in ("inpaint", "edit", "analogy"):
        noise = 0.0
    given = {"noise": noise}
    if args.engine == "gpnn":
        given.update(alpha=args.alpha if args.alpha is not None else (1.0 if masked else None),
                     search=args.search)
    else:
        for flag in ("alpha", "search"):
            if getattr(args, flag) is not None:
                raise CommandError(f"--{flag} is a gpnn setting; gpdm has none")
        given.update(steps=args.steps)
    if args.engine == "gpnn" and args.steps is not None:
        raise CommandError("--steps is a gpdm setting; gpnn has --search and --alpha")
    return patch.settings_for(args.engine, **given)


def _read(path: str, args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    x = images.load_image(path, max_pixels=args.max_pixels,
                          available=budget.available_memory(torch.device("cpu")))
    long = max(x.shape[-2:])
    if long > args.max_size:
        x = resize(x, args.max_size / long)
    return x.to(device)


def _size(x: torch.Tensor, args: argparse.Namespace) -> tuple[int, int] | None:
    return exact_size(args, *x.shape[-2:])


def _check_flags(args: argparse.Namespace) -> None:
    need = {"inpaint": "mask", "edit": "mask", "analogy": "structure", "refine": "run"}
    flag = need.get(args.task)
    if flag and getattr(args, flag) is None:
        raise CommandError(f"--task {args.task} needs --{flag.replace('_', '-')}")
    for other in ("mask", "structure", "run"):
        if other != flag and getattr(args, other) is not None:
            raise CommandError(f"--{other} is not used by --task {args.task}")
    if args.image is None and args.task != "refine":
        raise CommandError("give the image whose patches are used")
    if args.task in ("inpaint", "edit", "refine") and (args.height or args.width):
        raise CommandError(f"--task {args.task} keeps the image's size; --height and --width "
                           "are for sample and analogy")
    if args.task in ("inpaint", "edit", "analogy") and (args.scale_h != 1 or args.scale_w != 1):
        raise CommandError(f"--task {args.task} keeps the size of its input; --scale-h and "
                           "--scale-w are for sample and refine")


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    settings = _settings(args)
    device = resolve_device(args.device, args.threads)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} exists and is not a folder")
    seeds = [args.seed + i for i in range(args.num)]
    paths = [out / f"seed{s:04d}.png" for s in seeds]
    clash = [p for p in paths if p.exists()]
    if clash and not args.force:
        raise CommandError(f"{clash[0]} exists; use --force to overwrite or another --out")
    limit = budget.available_memory(device)
    limit = None if limit is None else int(limit * 0.8)
    step = args.batch if args.engine == "gpdm" and args.task != "refine" else 1
    model = image = None
    if args.task == "refine":
        model = load(args.run, device=device)
        image = None if args.image is None else _read(args.image, args, device)
    else:
        image = _read(args.image, args, device)
    extra = None
    if args.task in ("inpaint", "edit"):
        extra = images.read_mask(args.mask, size=tuple(image.shape[-2:]),
                                 max_pixels=args.max_pixels).to(device)
    elif args.task == "analogy":
        extra = _read(args.structure, args, device)
    for i in range(0, len(seeds), step):
        chunk = seeds[i:i + step]
        common = {"engine": args.engine, "seed": chunk[0], "settings": settings,
                  "max_memory": limit}
        if args.task == "sample":
            x = patch.sample(image, len(chunk), size=_size(image, args), scale_h=args.scale_h,
                             scale_w=args.scale_w, **common)
        elif args.task == "inpaint":
            x = patch.inpaint(image, extra, len(chunk), **common)
        elif args.task == "edit":
            x = patch.edit(image, extra, len(chunk), **common)
        elif args.task == "analogy":
            x = patch.analogy(extra, image, len(chunk), size=_size(extra, args), **common)
        else:
            x = refine_samples(model, chunk, layout_scale=args.layout_scale, image=image,
                               engine=args.engine, scale_h=args.scale_h, scale_w=args.scale_w,
                               settings=settings, max_memory=limit)
        for j in range(x.shape[0]):
            images.save_image(x[j], paths[i + j])
    say(f"wrote {len(seeds)} output(s) of {args.engine} ({args.task}) to {out}", args.quiet)
    return 0
