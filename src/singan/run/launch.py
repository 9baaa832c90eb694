"""The one launcher of training workers, shared by the web app and train-many.

A worker is `singan ARGS` run by `python -m singan.cli.worker` (a plain `singan` that always
handles SIGINT, and that can be tied to the process that started it) in its own process, its
output appended to a log file in the run folder. It is asked to stop with SIGINT, as by Ctrl-C:
it saves its finished scales and exits; one that has not exited `grace` seconds later is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..files import open_append

PARENT_ENV = "SINGAN_PARENT_PID"  # read by singan.cli.worker: stop when this process dies
GRACE_SECONDS = 60.0  # an interrupted worker gets this long to save its scales
STOP_SIGNAL = signal.SIGINT if os.name != "nt" else signal.SIGTERM


def worker_command() -> list[str]:
    """The command that stands for `singan` in a worker: this Python, this package."""
    return [sys.executable, "-m", "singan.cli.worker"]


def interrupt_process(pid: int) -> None:
    """Ask a worker (by its process id) to stop as on Ctrl-C."""
    os.kill(pid, STOP_SIGNAL)


class Worker:
    """One training worker process.

    Args:
        argv: the `singan` arguments (`train IMAGE --out RUN ...`).
        log: the log file the worker's stdout and stderr are appended to.
        command: what stands for `singan` (default `worker_command()`; tests put a stand-in).
        env: extra environment variables for the worker.
        cwd: the worker's working folder.
        tied: True for a worker that belongs to this process (train-many): it runs in a session
            of its own and is interrupted when this process dies. False (the web app): it lives
            on after the thread that started it, in this process's group, so Ctrl-C in the
            terminal stops it together with the app.
        note: a line written to the log before the worker starts.
        grace: seconds between `interrupt()` and the kill.
    """

    def __init__(self, argv: Sequence[str], log: str | os.PathLike, *,
                 command: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike | None = None, tied: bool = False,
                 note: str | None = None, grace: float = GRACE_SECONDS):
        self.argv = [*(worker_command() if command is None else command), *argv]
        self.log_path, self.grace = Path(log), grace
        full_env = dict(os.environ)
        full_env.pop(PARENT_ENV, None)
        src = str(Path(__file__).resolve().parents[2])  # the folder that holds `singan/`
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (src, full_env.get("PYTHONPATH"))
                                                 if p)
        full_env.update(env or {})
        if tied:
            full_env[PARENT_ENV] = str(os.getpid())
        self.started = time.time()  # progress.json older than this is a previous worker's
        self.start = time.monotonic()
        self.stopping_since: float | None = None
        with open_append(self.log_path, binary=True) as f:  # never through a symbolic link
            if note is not None:
                f.write(f"{note}\n".encode())
                f.flush()
            self.offset = f.tell()  # where this worker's output begins
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
                                         start_new_session=tied)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        """The exit status once the worker has exited, else None (killing a worker that has
        outstayed its grace period after `interrupt`)."""
        rc = self.proc.poll()
        if rc is None and self.stopping_since is not None and \
                time.monotonic() - self.stopping_since > self.grace:
            self.proc.kill()
        return rc

    def interrupt(self) -> bool:
        """Ask the worker to stop (once: a second SIGINT would cut short the saving the first
        started); False when it has exited already."""
        if self.proc.poll() is not None:
            return False
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
            self.proc.send_signal(STOP_SIGNAL)
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def note(self, text: str) -> None:
        """Append a line to the worker's log (best effort)."""
        try:
            with open_append(self.log_path, binary=True) as f:
                f.write(f"{text}\n".encode())
        except OSError:
            pass

    def output(self, limit: int = 65536) -> str:
        """The last `limit` bytes this worker wrote to its log."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(self.offset, f.seek(0, os.SEEK_END) - limit))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
