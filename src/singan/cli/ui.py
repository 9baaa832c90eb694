"""`singan ui`: serve the web app (training, sampling, applications) on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import bounds
from ..errors import CommandError
from .common import HelpFormatter, add_device_args, bounded, path_arg, resolve_device, say

EXAMPLES = """\
examples:
  singan ui                          # http://127.0.0.1:7860, run folders in ./runs
  singan ui --runs ~/singan-runs --port 8080
  singan ui --device cuda            # sampling, applications and training on the GPU
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="open the web app (needs the `ui` extra: Gradio)",
                       description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--runs", default="runs", type=path_arg,
                   help="folder of run folders: the app lists, creates and serves files only "
                        "there")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0 exposes the app to your network)")
    p.add_argument("--port", type=bounded(bounds.PORT), default=7860, help="port to listen on")
    add_device_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ui import require_gradio

    require_gradio()  # MissingExtra (a SinGANError) names the install command
    from ..ui import build_app, launch
    from ..ui.runs import Workers

    device = resolve_device(args.device, args.threads)
    runs = Path(args.runs)
    if runs.exists() and not runs.is_dir():
        raise CommandError(f"--runs {runs}: exists and is not a folder")
    workers = Workers(runs, str(device), args.threads)
    app = build_app(runs, device, workers=workers)
    shown = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    say(f"singan ui: run folders in {workers.runs_dir}; open http://{shown}:{args.port} "
        f"(Ctrl-C stops the app and any training it started, keeping the finished scales)")
    launch(app, runs, host=args.host, port=args.port, quiet=True)
    return 0
