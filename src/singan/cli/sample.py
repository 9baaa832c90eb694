"""`singan sample`: draw random images from a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..run import load
from .common import HelpFormatter, path_arg, resolve_device, say
from .sampling import OOM_ADVICE, add_sample_args, write_samples  # noqa: F401 (the CLI's advice)

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
    p.add_argument("--out", required=True, type=path_arg,
                   help="output folder for the PNG files")
    add_sample_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device, args.threads)
    model = load(args.run, device=device)
    out = Path(args.out)
    write_samples(model, out, args)
    say(f"wrote {args.num} sample(s) to {out}", args.quiet)
    return 0
