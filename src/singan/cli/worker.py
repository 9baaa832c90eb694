"""`python -m singan.cli.worker ARGS`: exactly `singan ARGS`, for a training worker started by the
web app or by train-many (`singan.run.launch`).

Two things differ from a plain `singan`: Ctrl-C is handled even if the parent process ignores it
(a Dask worker may, as may `singan ui &`), and on Linux a worker tied to its launcher (train-many)
is interrupted as by Ctrl-C when the launcher dies, so a killed train-many or Dask worker never
leaves a training running on its own (it saves its finished scales and exits; the next call
resumes it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from ..run.launch import PARENT_ENV
from . import main

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def stop_with_parent() -> None:
    """Ask Linux to send SIGINT to this process when its launcher dies (tied workers only)."""
    parent = os.environ.get(PARENT_ENV, "")
    if not sys.platform.startswith("linux") or not parent.isdigit():
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGINT))
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stop_with_parent()
    sys.exit(main())
