"""Command-line interface: `singan <command> ...`. The only place that prints, parses argv or
picks a device."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import SinGANError
from . import many as many_cmd
from . import sample as sample_cmd
from . import train as train_cmd
from . import ui as ui_cmd
from .common import CommandError, HelpFormatter

COMMANDS = [train_cmd, sample_cmd, many_cmd, ui_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    try:
        return int(args.func(args) or 0)
    except (SinGANError, CommandError) as e:
        print(f"singan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"singan {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"singan {args.command}: error: out of memory; try a smaller --max-size",
              file=sys.stderr)
        return 1
