"""Command-line interface: `singan <command> ...`. The only place that prints, parses argv or
picks a device."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import warnings

import torch

from .._version import __version__
from ..errors import InputNotice, SinGANError
from . import apps as apps_cmd
from . import eval as eval_cmd
from . import many as many_cmd
from . import sample as sample_cmd
from . import sr as sr_cmd
from . import train as train_cmd
from . import ui as ui_cmd
from .common import HelpFormatter, Parser

# apps registers paint, edit, harmonize and animate
COMMANDS = [train_cmd, sample_cmd, sr_cmd, apps_cmd, eval_cmd, many_cmd, ui_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="singan", formatter_class=HelpFormatter,
        description="Learn a generative model from a single image (SinGAN) and use it.",
        epilog="Run `singan COMMAND --help` for a command's options and examples.")
    parser.add_argument("--version", action="version", version=f"singan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 on success)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help and on usage errors
        return int(e.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with warnings.catch_warnings():
        warnings.simplefilter("always", InputNotice)
        warnings.showwarning = _notice_printer(args.command, warnings.showwarning)
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """Run a parsed command, turning expected failures into one message and an exit status."""
    name = args.command
    try:
        return int(args.func(args) or 0)
    except SinGANError as e:
        print(f"singan {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"singan {name}: interrupted", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)
    except (MemoryError, OUT_OF_MEMORY) as e:
        where = "GPU" if isinstance(e, OUT_OF_MEMORY) else "main"
        module = sys.modules.get(args.func.__module__)
        advice = getattr(module, "OOM_ADVICE", "use smaller images or --device cpu")
        print(f"singan {name}: error: out of {where} memory; {advice}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, ... while reading or writing files
        where = f"{e.filename}: " if e.filename else ""
        print(f"singan {name}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1


# CUDA (and other accelerator) allocation failures; torch < 2.5 has only the CUDA class.
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def _notice_printer(command: str, default):
    """warnings.showwarning that prints InputNotice as 'singan CMD: note: ...'."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputNotice):
            print(f"singan {command}: note: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show
