"""`python -m singan.batch.child ARGS`: exactly `singan ARGS`, for a child of train-many.

Two things differ from a plain `singan`: Ctrl-C is handled even if the parent process ignores it
(a Dask worker may), and on Linux the child is interrupted as by Ctrl-C when the process that
started it dies, so a killed train-many or Dask worker never leaves a training running on its own
(it saves its finished scales and exits; the next call resumes it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from ..cli import main
from .process import PARENT_ENV

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def stop_with_parent() -> None:
    """Ask Linux to send SIGINT to this process when its parent dies."""
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
