"""What the CLI says about a failure: one line for the user's errors, for running out of memory
and for system errors; nothing for a bug, which keeps its traceback.

`describe` is used for a whole command (`cli._run_command`) and for each entry of a batch
(`sample-many`'s runs), so that both say the same.

Out of memory comes three ways from PyTorch: `MemoryError` (main memory),
`torch.OutOfMemoryError` (CUDA and other accelerators) and, from its CPU allocator, a plain
`RuntimeError` saying "DefaultCPUAllocator: can't allocate memory". A command module's
`OOM_ADVICE` maps each kind (`GPU`, `MAIN`) to advice that fits it: for the GPU, smaller sizes or
`--device cpu`; for main memory, smaller sizes, fewer at once or other programs closed, never
`--device cpu` (a run on the CPU is there already, and one on a GPU that filled main memory would
fill it sooner on the CPU).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import SinGANError

GPU = "GPU"
MAIN = "main"

# CUDA (and other accelerator) allocation failures; torch < 2.5 has only the CUDA class.
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
# What allocators that fail with a plain RuntimeError say (the CPU allocator; older CUDA code).
_MARKERS = ((MAIN, "DefaultCPUAllocator: can't allocate memory"),
            (GPU, "CUDA out of memory"), (GPU, "CUDA error: out of memory"))

DEFAULT_ADVICE = {GPU: "use smaller images or --device cpu",
                  MAIN: "use smaller images, or close other programs"}

USER_ERROR = 2  # exit status of a SinGANError
SYSTEM_ERROR = 1  # out of memory, a full disk, permissions


def memory_kind(e: BaseException) -> str | None:
    """GPU or MAIN when `e` says that memory ran out, else None."""
    if isinstance(e, OUT_OF_MEMORY):
        return GPU
    if isinstance(e, MemoryError):
        return MAIN
    if isinstance(e, RuntimeError):
        text = str(e)
        return next((kind for kind, marker in _MARKERS if marker in text), None)
    return None


def oom_message(kind: str, advice: Mapping[str, str] | None = None) -> str:
    """'out of GPU memory; ADVICE' or 'out of main memory; ADVICE'."""
    return f"out of {kind} memory; {(advice or DEFAULT_ADVICE)[kind]}"


def describe(e: BaseException, advice: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """(one-line message, exit status) for a failure the user can act on, None for a bug.

    `advice` is the command's `OOM_ADVICE`.
    """
    if isinstance(e, SinGANError):
        return str(e), USER_ERROR
    kind = memory_kind(e)
    if kind is not None:
        return oom_message(kind, advice), SYSTEM_ERROR
    if isinstance(e, OSError):  # disk full, permissions, ... while reading or writing files
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or e}", SYSTEM_ERROR
    return None
