"""Helpers shared by the CLI commands: devices, config flags, output files, messages, signals."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .. import bounds
from ..bounds import Bound, brief
from ..budget import MAX_PIXELS, MAX_PIXELS_ENV
from ..config import FIELD_BOUNDS, PRESETS, SinGANConfig, default_preset_text, field_help
from ..errors import CommandError

# The folder of a run that `singan sample RUN` writes into and `singan eval RUN` reads.
SAMPLES_DIR = "samples"


class HelpFormatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples' line breaks and shows defaults (but not "None" or a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=bounded(bounds.THREADS), default=None,
                   help=f"CPU threads for PyTorch (default: the physical cores this process may "
                        f"use that other processes leave idle, at most {MAX_DEFAULT_THREADS}: "
                        f"{default_threads()} now)")


def add_limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pixels", type=bounded(bounds.MAX_PIXELS), default=None, metavar="N",
                   help=f"refuse input images (and outputs) with more pixels than this, before "
                        f"decoding them (default: ${MAX_PIXELS_ENV} or {MAX_PIXELS})")


def resolve_device(name: str, threads: int | None = None) -> torch.device:
    """Turn --device into a torch.device, checking that it exists, and set PyTorch's CPU threads
    to `threads` (--threads; default `default_threads()`)."""
    if threads is None:
        threads = default_threads()
    torch.set_num_threads(bounds.THREADS.check(threads, "--threads"))
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


# --- the default thread count -----------------------------------------------------------------
# Only the CLI picks it (the library leaves PyTorch's setting alone). PyTorch's own default made a
# tiny training take 451 s on a loaded 2-core machine, against 2 s with one thread: OpenMP's
# threads spin while they wait for a core that another process holds. So hyper-threads do not
# count, cores that other processes keep busy (the load average) are left to them, and a cap keeps
# a big machine's many cores for other work (SinGAN's convolutions are small).

MAX_DEFAULT_THREADS = 4
SYSFS_CPUS = "/sys/devices/system/cpu"
CPUINFO = "/proc/cpuinfo"


def default_threads(processes: int = 1) -> int:
    """The default of --threads for each of `processes` processes sharing this machine: an
    equal share of the physical cores this process may use, no more than the cores other
    processes leave idle, at most `MAX_DEFAULT_THREADS`, at least 1."""
    cores = _machine_cores()
    idle = cores - busy_cores()
    return max(1, min(MAX_DEFAULT_THREADS, cores // max(1, processes), idle))


def busy_cores() -> int:
    """Cores other processes keep busy: the 1-minute load average, rounded (0 where the system
    does not tell)."""
    try:
        return round(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0


@functools.cache
def _machine_cores() -> int:
    return physical_cores()


def physical_cores(cpus: Iterable[int] | None = None, *, sysfs: str | os.PathLike = SYSFS_CPUS,
                   cpuinfo: str | os.PathLike = CPUINFO) -> int:
    """Physical cores among the logical CPUs `cpus` (default: those this process may run on).

    Hyper-threads of one core count once, as told by each CPU's
    `topology/thread_siblings_list` under `sysfs`, else by the (physical id, core id) of each
    processor in `cpuinfo`; where neither says (not Linux), every logical CPU counts.
    """
    cpus = set(_allowed_cpus() if cpus is None else cpus)
    return (_cores_from_sysfs(cpus, Path(sysfs)) or _cores_from_cpuinfo(cpus, Path(cpuinfo))
            or len(cpus) or 1)


def _allowed_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _cpu_list(text: str) -> frozenset[int]:
    """The CPUs of a kernel CPU list such as "0-3,8"."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def _cores_from_sysfs(cpus: set[int], root: Path) -> int | None:
    """Distinct sibling groups of `cpus`; None unless every CPU's group can be read."""
    groups = set()
    for cpu in cpus:
        try:
            text = (root / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text()
            groups.add(_cpu_list(text))
        except (OSError, ValueError):
            return None
    return len(groups) or None


def _cores_from_cpuinfo(cpus: set[int], path: Path) -> int | None:
    """Distinct (physical id, core id) of the processors in `cpus`; None unless every one of
    them is described."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    cores = {}
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        try:
            cpu = int(fields["processor"])
            cores[cpu] = (fields.get("physical id", "0"), fields["core id"])
        except (KeyError, ValueError):
            continue
    if not cpus or not cpus <= cores.keys():
        return None
    return len({cores[cpu] for cpu in cpus})


def add_cuda_graphs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=True,
                   help="on a CUDA device, replay each iteration as a CUDA graph (same results, "
                        "much less launch overhead)")
    p.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=True,
                   help="on a CUDA device, let cuDNN time its convolution algorithms once and "
                        "keep the fastest (the paper preset's widest scales train 1.4-2x "
                        "faster); ignored on the CPU")


def check_bf16(device: torch.device, asked: bool) -> bool:
    """--bf16 (asked for by name) where the device has native bfloat16, else one clear message;
    a preset's bf16 falls back to float32 on such a device instead."""
    from ..training import supports_bf16

    if asked and not supports_bf16(device):
        raise CommandError(f"--bf16: {device} has no native bfloat16 (a CPU needs AVX512-BF16 "
                           f"or AMX, a GPU compute capability 8.0 or more)")
    return asked


def use_cudnn_benchmark(device: torch.device, on: bool) -> None:
    """Let cuDNN time its convolution algorithms and keep the fastest, on a CUDA device only.

    Runs on CUDA are not bit-reproducible either way (cuDNN's default algorithms are not
    deterministic); benchmarking only changes which ones run.
    """
    torch.backends.cudnn.benchmark = bool(on) and device.type == "cuda"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """--preset plus one flag per SinGANConfig field (defaults come from the preset); `default`
    names the preset used without --preset (`config.default_preset_text()` when None)."""
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help=f"named configuration (default: {default or default_preset_text()}); "
                        "flags below override its fields")
    g = p.add_argument_group("model and training settings (override the preset)")
    for f in dataclasses.fields(SinGANConfig):
        if f.name == "mode":
            continue
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        helptext = f"{field_help(f.name)} (paper: {getattr(PRESETS['paper'], f.name)})"
        if kind == "bool":
            g.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None,
                           help=helptext)
        else:
            number = FIELD_BOUNDS.get(f.name)  # kernel_size and noise_channels are choices
            plain = {"int": int, "float": float, "str": str}[kind]
            g.add_argument(_flag(f.name), type=bounded(number) if number else plain,
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


def check_image_path(out: Path) -> None:
    """Refuse an output file name whose suffix is not an image type Pillow writes."""
    if out.suffix.lower() not in Image.registered_extensions():
        raise CommandError(f"{out}: unknown image type {out.suffix or '(no suffix)'}; use .png "
                           f"or .jpg")


def check_free(paths: list[Path], force: bool) -> None:
    """Refuse to overwrite existing files unless --force."""
    for p in paths:
        if p.is_dir():
            raise CommandError(f"{p} is a folder; --out names a file")
        if p.exists() and not force:
            raise CommandError(f"{p} exists; use --force to overwrite it or choose another --out")


def say(msg: str, quiet: bool = False) -> None:
    """Print a status line to stderr unless quiet."""
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


class Stopped(KeyboardInterrupt):
    """Stop asked for by a signal; the CLI exits with 128 + `signum`."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class GracefulStop:
    """Context manager: the first SIGINT (Ctrl-C), SIGTERM or (on POSIX) SIGHUP only asks to
    stop, and `check()` (called between iterations) then raises `Stopped`; a second signal stops
    at once.

    So a stop never lands inside a checkpoint write or a half-done step. SIGHUP means the
    terminal is gone, and writing to it would fail (EIO) and turn the clean stop into an error:
    standard output and error that were a terminal are pointed at the null device first. Outside
    the main thread (where Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM) + \
        ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.signum: int | None = None
        self._old: dict = {}
        self._terminals: list[int] = []

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._terminals = [fd for fd in (1, 2) if _is_terminal(fd)]
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old = {}

    def _handle(self, signum: int, frame) -> None:
        if signum == getattr(signal, "SIGHUP", None):
            self._leave_terminal()
        if self.signum is not None:
            raise Stopped(signum)
        self.signum = signum
        try:
            say("\nstopping after the current iteration (the last finished scale is saved); "
                "press Ctrl-C again to stop at once", self.quiet)
        except OSError:  # a terminal that went away without a SIGHUP
            pass

    def _leave_terminal(self) -> None:
        """Point the standard streams that were a terminal at the null device."""
        if not self._terminals:
            return
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd in self._terminals:
                os.dup2(null, fd)
        finally:
            os.close(null)
        self._terminals = []

    def check(self) -> None:
        if self.signum is not None:
            raise Stopped(self.signum)


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def bounded(bound: Bound) -> Callable[[str], Any]:
    """An argparse `type` that parses a flag's number and checks it against `bound` (the
    declaration in `singan.bounds`), so that inf, nan and out-of-range values never get in."""
    def parse(text: str) -> Any:
        try:
            value = bound.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {bound.describe()}, got "
                                             f"{brief(text)}") from None
        if not bound.ok(value):
            raise argparse.ArgumentTypeError(f"must be {bound.describe()}, got {brief(value)}")
        return float(value) if bound.kind is float else value
    parse.__name__ = bound.kind.__name__  # argparse names the type in its messages
    return parse


def path_arg(text: str) -> str:
    """An argparse `type` for file and folder flags: an empty path (which would mean the current
    folder) is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file or folder, not an empty path")
    return text


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `singan CMD: error: MESSAGE` (the usage is in --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")
