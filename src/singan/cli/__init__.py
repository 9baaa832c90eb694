"""Command-line interface: `singan <command> ...`. The only place that prints, parses argv or
picks a device."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import warnings

from .._version import __version__
from ..errors import InputNotice
from . import apps as apps_cmd
from . import eval as eval_cmd
from . import many as many_cmd
from . import patch as patch_cmd
from . import sample as sample_cmd
from . import sr as sr_cmd
from . import train as train_cmd
from . import ui as ui_cmd
from .common import HelpFormatter, Parser
from .failures import describe

# apps registers paint, edit, harmonize and animate
COMMANDS = [train_cmd, sample_cmd, sr_cmd, apps_cmd, patch_cmd, eval_cmd, many_cmd, ui_cmd]


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
    """Run a parsed command, turning expected failures into one message and an exit status
    (`failures.describe`); a bug keeps its traceback."""
    name = args.command
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        print(f"singan {name}: interrupted", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)
    except Exception as e:
        module = sys.modules.get(args.func.__module__)
        failure = describe(e, getattr(module, "OOM_ADVICE", None))
        if failure is None:
            raise
        message, status = failure
        print(f"singan {name}: error: {message}", file=sys.stderr)
        return status


def _notice_printer(command: str, default):
    """warnings.showwarning that prints InputNotice as 'singan CMD: note: ...'."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputNotice):
            print(f"singan {command}: note: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show
