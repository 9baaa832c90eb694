"""The one declaration of every number a user gives singan: its type, its range, finiteness.

A `Bound` is checked wherever the number comes in: the CLI checks its flags with them
(`cli.common.add_bounded`), the web app its fields, `SinGANConfig.validated()` every config value
(`config.FIELD_BOUNDS`), the library the seeds and counts of its functions. Every check gives
the same one-line `ConfigError`, and no non-finite float, negative seed or absurd count gets
through to PyTorch (where they crash, overflow or exhaust memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes [0, 2^63) on every device


def brief(value: Any, limit: int = 24) -> str:
    """A value for a message: its repr, cut to `limit` characters (a file's content is never
    quoted at length)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_number(value: Any) -> bool:
    """Whether `value` is a finite real number (an int too large for a float is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def clip(text: str, limit: int = 64) -> str:
    """A string from a file, cut to `limit` characters for a message."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def brief_names(names: list[str], count: int = 5) -> str:
    """Up to `count` names (each cut short) for a message, then '...'."""
    shown = ", ".join(n if len(n) <= 40 else n[:37] + "..." for n in names[:count])
    return shown + (" ..." if len(names) > count else "")


@dataclass(frozen=True)
class Bound:
    """An int or a finite float in [lo, hi] (either end open with `lo_open`/`hi_open`, either
    end absent with None)."""

    kind: type  # int or float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        """The range in words: 'a whole number from 1 to 64', 'a number > 0 and <= 16'."""
        what = "a whole number" if self.kind is int else "a finite number"
        if self.lo is not None and self.hi is not None and not (self.lo_open or self.hi_open):
            return f"{what} from {_num(self.lo)} to {_num(self.hi)}"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_num(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_num(self.hi)}")
        return what + (" " + " and ".join(parts) if parts else "")

    def ok(self, value: Any) -> bool:
        if self.kind is int:
            if not isinstance(value, int) or isinstance(value, bool):
                return False
        elif not is_number(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True

    def check(self, value: Any, name: str) -> Any:
        """`value` if it is in range (a float for float bounds), else ConfigError naming it."""
        if not self.ok(value):
            raise ConfigError(f"{name} must be {self.describe()}, got {brief(value)}")
        return float(value) if self.kind is float else value


def _num(v: float) -> str:
    if v == MAX_SEED:
        return "2^63 - 1"
    return f"{int(v)}" if float(v).is_integer() else f"{v:g}"


# The numbers of the command line, the web app and the library's functions.
SEED = Bound(int, 0, MAX_SEED)
THREADS = Bound(int, 1, 256)  # far more PyTorch threads than that crash inside it
COUNT = Bound(int, 1, 100_000)  # samples of one call
PAGE_COUNT = Bound(int, 1, 64)  # samples of one click in the web app
BATCH = Bound(int, 1, 1024)
FRAMES = Bound(int, 1, 10_000)
FPS = Bound(float, 0.1, 120)  # slower frames overflow the GIF's delay field
ANIMATION_WEIGHT = Bound(float, 0, 1)  # alpha and beta of the random walk
RELATIVE_SIZE = Bound(float, 0, 16, lo_open=True)  # --scale-h, --scale-w
SIDE = Bound(int, 8, 8192)  # --height, --width of an output
SCALE = Bound(int, 0, 63)  # a scale index (the model checks its own range)
FINE_TUNE = Bound(int, 0, 1_000_000)  # fine-tuning iterations
LOG_EVERY = Bound(int, 1, 1_000_000)
MAX_PIXELS = Bound(int, 1, 2**40)
PORT = Bound(int, 1, 65535)
JOBS = Bound(int, 1, 1024)
RETRIES = Bound(int, 0, 100)
SR_FACTOR = Bound(float, 1, 16, lo_open=True)


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed for torch.Generator.manual_seed, or ConfigError."""
    return SEED.check(seed, name)
