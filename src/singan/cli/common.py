"""Helpers shared by the CLI commands: devices, config flags, messages."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from ..config import DEFAULT_PRESET, PRESETS, SinGANConfig


class CommandError(Exception):
    """A problem with the command line; printed without a traceback."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples' line breaks and shows defaults."""


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for PyTorch (default: PyTorch's choice)")


def resolve_device(name: str, threads: int | None = None) -> torch.device:
    """Turn --device into a torch.device, checking that it exists."""
    if threads is not None:
        if threads < 1:
            raise CommandError("--threads must be at least 1")
        torch.set_num_threads(threads)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise CommandError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CommandError("--device cuda asked for, but PyTorch sees no CUDA GPU "
                               "(use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CommandError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) present")
    elif dev.type != "cpu":
        raise CommandError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return dev


# Config fields that get a short, prominent flag in --help; every other field is still a flag.
_FIELD_HELP = {
    "max_size": "long side of the finest scale in px",
    "min_size": "short side of the coarsest scale in px",
    "iters": "iterations per scale",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_args(p: argparse.ArgumentParser) -> None:
    """--preset plus one flag per SinGANConfig field (defaults come from the preset)."""
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help=f"named configuration (default: {DEFAULT_PRESET}); flags below override its "
                   "fields")
    g = p.add_argument_group("model and training settings (override the preset)")
    for f in dataclasses.fields(SinGANConfig):
        if f.name == "mode":
            continue
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        helptext = _FIELD_HELP.get(f.name, "see SinGANConfig") + \
            f" (paper: {getattr(PRESETS['paper'], f.name)})"
        if kind == "bool":
            g.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None,
                           help=helptext)
        else:
            g.add_argument(_flag(f.name), type={"int": int, "float": float, "str": str}[kind],
                           default=None, metavar=kind.upper(), help=helptext)


def config_overrides(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(SinGANConfig)
            if f.name != "mode" and getattr(args, f.name, None) is not None}


def config_argv(overrides: dict) -> list[str]:
    """The flags of `add_config_args` that give these overrides (the inverse of
    `config_overrides`), for passing settings on to a child `singan train`."""
    argv = []
    for name, value in overrides.items():
        if isinstance(value, bool):
            argv.append(_flag(name) if value else "--no-" + _flag(name)[2:])
        else:
            argv += [_flag(name), str(value)]
    return argv


def say(msg: str, quiet: bool = False) -> None:
    """Print a status line to stderr unless quiet."""
    if not quiet:
        print(msg, file=sys.stderr, flush=True)
