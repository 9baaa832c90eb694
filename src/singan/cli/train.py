"""`singan train`: train a model on one image into a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .. import bounds, budget, images
from ..budget import format_bytes, training_memory
from ..config import MODES, PRESETS, default_preset, default_preset_text, make_config
from ..data import default_image
from ..errors import CommandError
from ..pyramid import geometry_for
from ..run import resume_run, train_run
from ..run.layout import STATS_NAME
from ..run.train import EMBEDDED_SOURCE, held_pixels
from ..training import bf16_pays, estimate_scales, format_duration, supports_bf16
from ..training.estimate import DESCRIBED_SIZE, describe_presets
from .common import (HelpFormatter, add_config_args, add_cuda_graphs_arg,
                     add_device_args, add_limit_args, bounded, check_bf16, config_argv,
                     config_overrides, path_arg, resolve_device, say, use_cudnn_benchmark)
from .failures import GPU, MAIN
from .progress import default_preset_note, resume_message, run_training, train_message

EXAMPLES = """\
examples:
  singan train photo.jpg                       # into runs/photo; default preset for the device
  singan train --preset quick                             # embedded image, into runs/default
  singan train photo.jpg --out runs/p --preset paper --device cuda   # the paper's settings
  singan train photo.jpg --out runs/p --max-size 180 --iters 1000    # override any setting
  singan train --resume --out runs/photo                  # continue an interrupted run
  singan train lightning.png --mode animation --out runs/anim       # for `singan animate`
"""

_SAVED = "the scales finished so far are saved: continue with `singan train --resume`"
OOM_ADVICE = {
    GPU: f"use a smaller --max-size (or --base-channels/--max-channels), or --device cpu; {_SAVED}",
    MAIN: f"use a smaller --max-size (or --base-channels/--max-channels), or close other "
          f"programs; {_SAVED}",
}

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on one image", description=__doc__,
                       epilog=EXAMPLES, formatter_class=HelpFormatter, add_help=False)
    p.add_argument("-h", "--help", action=PresetsHelp,
                   help="show this help (with every preset's expected time here) and exit")
    p.add_argument("image", nargs="?", default=None,
                   help="training image (omit to use the embedded default landscape)")
    p.add_argument("--out", type=path_arg, default=None,
                   help=f"run folder to create (default: {RUNS_DIR}/<image name without its "
                        f"suffix>, {default_run_dir(None)} for the embedded image)")
    p.add_argument("--mode", default="generation", choices=MODES,
                   help="generation; sr (for `singan sr`); animation (for `singan animate`)")
    add_config_args(p)
    add_device_args(p)
    add_limit_args(p)
    p.add_argument("--seed", type=bounded(bounds.SEED), default=0, help="random seed")
    add_cuda_graphs_arg(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last finished scale")
    p.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.add_argument("--log-every", type=bounded(bounds.LOG_EVERY), default=25, metavar="N",
                   help=f"write losses to {STATS_NAME} every N iterations")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="print the scales with their expected time and memory, then exit")
    p.add_argument("--json", action="store_true",
                   help="with --dry-run: print the resolved configuration, the scale sizes and "
                        "the memory estimate as JSON instead")
    p.set_defaults(func=run)


RUNS_DIR = "runs"


def default_run_dir(image: str | None) -> Path:
    """--out when it is not given: runs/<image stem>, runs/default for the embedded image."""
    return Path(RUNS_DIR) / (Path(image).stem if image else "default")


def preset_lines(device: torch.device) -> str:
    """The presets, what each is for and its expected time here (a warm-up measured now)."""
    infos = describe_presets(device)
    h, w = DESCRIBED_SIZE
    where = str(device) + (f" with {torch.get_num_threads()} thread(s)" if device.type == "cpu"
                           else "")
    width = max(map(len, infos)) + 2
    lines = [(f"presets (time for a {w}x{h} image, as the embedded one, estimated from its "
              f"pyramid and a warm-up measured just now on {where}; default: "
              f"{default_preset_text()}):")]
    lines += [f"  {name:<{width}}{info.describe()}" for name, info in infos.items()]
    return "\n".join(lines) + "\n"


class PresetsHelp(argparse.Action):
    """-h/--help of `singan train`: the help with the presets and their expected times, measured
    only when the help is asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            # --device and --threads given before --help count (argparse has read them)
            presets = preset_lines(resolve_device(getattr(namespace, "device", None) or "auto",
                                                  getattr(namespace, "threads", None)))
        except Exception as e:  # noqa: BLE001 - the help must show whatever the machine does
            presets = "presets: " + ", ".join(PRESETS) + f" (no time estimate here: {e})\n"
        parser.epilog = f"{presets}\n{EXAMPLES}"
        parser.print_help()
        parser.exit()


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out is not None else default_run_dir(args.image)
    if args.resume:
        return _resume(args, out)
    device = resolve_device(args.device, args.threads)
    preset = args.preset or default_preset(device.type, args.mode)
    config = make_config(preset, args.mode, **config_overrides(args))
    source = args.image or EMBEDDED_SOURCE
    if args.image is None:
        image = images.image_to_tensor(default_image())
    else:  # the memory of decoding it is checked before decoding
        image = images.load_image(args.image, max_pixels=args.max_pixels,
                                  available=budget.available_memory("cpu"))
    use_cudnn_benchmark(device, args.cudnn_benchmark)
    geo = geometry_for(config, *image.shape[-2:])
    need = training_memory(config, list(geo.sizes), held_pixels(image, device))
    default_preset_note(args, preset, device)
    if args.dry_run:
        if args.json:
            print(json.dumps({"preset": preset, "config": config.to_dict(),
                              "sizes": [list(s) for s in geo.sizes],
                              "scale_factor": geo.scale_factor, "device": str(device),
                              "memory_estimate": format_bytes(need)}, indent=2))
        else:
            print(plan_table(config, preset, tuple(image.shape[-2:]), device, need, out))
        return 0
    if args.json:
        raise CommandError("--json goes with --dry-run (the plan as JSON)")
    check_bf16(device, bool(args.bf16))  # asked for by name: refused where it is not native
    run_training(lambda callback, on_start: train_run(
        out, image, config, source=source, preset=preset, seed=args.seed, device=device,
        force=args.force, geometry=geo, log_every=args.log_every, cuda_graphs=args.cuda_graphs,
        bf16=bool(args.bf16), callback=callback, on_start=on_start), args, out,
        train_message(source, image, device, preset, out,
                      "bfloat16" if args.bf16 else arithmetic(config, device)))
    return 0


def arithmetic(config, device: torch.device) -> str:
    """The training's arithmetic, for its first message: bfloat16 where the config asks for it,
    the device has it natively (`supports_bf16`) and it is faster there (`bf16_pays`), else
    float32."""
    if not config.bf16:
        return "float32"
    if not supports_bf16(device):
        return f"float32 ({device} has no native bfloat16)"
    if not bf16_pays(device):
        return (f"float32 (bfloat16 is native on this {device} but slower than float32 on "
                f"such CPUs; --bf16 asks for it)")
    return "bfloat16"


def plan_table(config, preset: str, image_size: tuple[int, int], device: torch.device,
               need: int, out: Path) -> str:
    """--dry-run: the scales with their size, width, iterations, expected time and memory."""
    scales = estimate_scales(config, image_size, device)
    last = len(scales) - 1
    rows = [["scale", "size (WxH)", "width", "iters", "time", "memory"]]
    for s in scales:
        rows.append([f"{s.scale}/{last}", f"{s.size[1]}x{s.size[0]}", str(s.channels),
                     str(s.iters), format_duration(s.seconds), format_bytes(s.memory)])
    total = sum(s.seconds for s in scales)
    rows.append(["all", "", "", str(sum(s.iters for s in scales)), format_duration(total),
                 f"peak {format_bytes(need)}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    where = str(device) + (f", {torch.get_num_threads()} thread(s)" if device.type == "cpu"
                           else "")
    return (f"preset {preset}: {len(scales)} scales (0 = coarsest), run folder {out}\n{table}\n"
            f"times: estimated from the pyramid and a warm-up measured just now ({where}); "
            f"--json prints the configuration")


def _resume(args: argparse.Namespace, out: Path) -> int:
    if args.force:
        raise CommandError("--resume and --force cannot be used together")
    if args.dry_run or args.json:
        raise CommandError("--dry-run (and --json) show the plan of a new training; they do not "
                           "go with --resume")
    ignored = _ignored_on_resume(args)
    if ignored:
        say(f"note: resuming {out} with its own settings; {', '.join(ignored)} ignored",
            args.quiet)
    device = resolve_device(args.device, args.threads)
    use_cudnn_benchmark(device, args.cudnn_benchmark)
    run_training(lambda callback, on_start: resume_run(
        out, device=device, log_every=args.log_every, cuda_graphs=args.cuda_graphs,
        callback=callback, on_start=on_start), args, out, resume_message(device))
    return 0


def _ignored_on_resume(args: argparse.Namespace) -> list[str]:
    """The flags of a new training given to --resume, which continues with the run's own image,
    settings and random state."""
    # the image names the default run folder; otherwise the run's own image is used
    ignored = [args.image] if args.image is not None and args.out is not None else []
    if args.preset is not None:
        ignored.append(f"--preset {args.preset}")
    if args.mode != "generation":
        ignored.append(f"--mode {args.mode}")
    ignored += [" ".join(config_argv({name: value}))
                for name, value in config_overrides(args).items()]
    if args.seed != 0:
        ignored.append(f"--seed {args.seed}")
    return ignored
