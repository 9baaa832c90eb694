"""One attempt at one image: `singan train` in a child process whose output is appended to the run
folder's train-many.log, and whose progress is read from the progress.json it writes.

Exit statuses of the child: 0 done, 2 a problem with the input the user must fix (bad image, bad
settings, unusable run; another attempt would fail the same way), 130 interrupted, anything else
(a crash, a signal such as the kernel's out-of-memory kill) may go away on another attempt.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .jobs import (ACTIONS, FINISHED, FOREIGN, Job, Slot, TrainOptions, child_argv,
                   run_status)

PARENT_ENV = "SINGAN_PARENT_PID"  # read by singan.batch.child
GRACE_SECONDS = 60.0  # an interrupted child gets this long to save its scales before it is killed
TAIL_LINES = 6
TAIL_BYTES = 65536


@dataclass
class Outcome:
    """The result of one attempt: done, skipped, failed or interrupted."""

    status: str
    seconds: float = 0.0
    error: str = ""
    retry: bool = False  # a failure that another attempt may not repeat
    started: bool = True  # False when the folder's state settled it without a child

    def to_dict(self) -> dict:
        return asdict(self)


def settle(job: Job) -> tuple[str, Outcome | None]:
    """The status of the job's run folder, with the outcome when there is nothing to run:
    skipped for a finished run, failed for a folder that is not train-many's to touch."""
    status, detail = run_status(job.run_dir)
    if status == FINISHED:
        return status, Outcome("skipped", started=False)
    if status == FOREIGN:
        return status, Outcome("failed", error=detail, started=False)
    return status, None


class ChildRun:
    """A running child; `poll()` returns its Outcome once it has exited."""

    def __init__(self, job: Job, status: str, options: TrainOptions, slot: Slot, attempt: int,
                 where: str):
        self.job = job
        Path(job.run_dir).mkdir(parents=True, exist_ok=True)
        argv = child_argv(job, status, options, slot)
        self.log = open(job.log, "ab")
        self._note(f"attempt {attempt}: {ACTIONS[status]} on {where}: {shlex.join(argv)}")
        self.offset = self.log.tell()
        env = dict(os.environ, **slot.env())
        env[PARENT_ENV] = str(os.getpid())
        self.start = time.monotonic()
        self.stopping_since: float | None = None
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        except BaseException:
            self.log.close()
            raise

    def _note(self, text: str) -> None:
        self.log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n".encode())
        self.log.flush()

    def progress(self) -> dict | None:
        """The child's progress.json (percent, eta, scale, ...), or None before it writes one."""
        try:
            info = json.loads((Path(self.job.run_dir) / "progress.json").read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and info.get("pid") == self.proc.pid else None

    def interrupt(self) -> None:
        """Ask the child to stop as on Ctrl-C (it saves its finished scales); it is killed if it
        has not exited GRACE_SECONDS later."""
        if self.stopping_since is None and self.proc.poll() is None:
            self.stopping_since = time.monotonic()
            self.proc.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def poll(self) -> Outcome | None:
        rc = self.proc.poll()
        if rc is None:
            if (self.stopping_since is not None
                    and time.monotonic() - self.stopping_since > GRACE_SECONDS):
                self.proc.kill()
            return None
        seconds = time.monotonic() - self.start
        self._note(f"exit status {rc} after {seconds:.1f} s")
        self.log.close()
        return self._outcome(rc, seconds)

    def _outcome(self, rc: int, seconds: float) -> Outcome:
        tail = self._tail()
        status, detail = run_status(self.job.run_dir) if rc == 0 else ("", "")
        if status == FINISHED:
            return Outcome("done", seconds)
        if self.stopping_since is not None:
            return Outcome("interrupted", seconds, "stopped by train-many; finished scales are "
                           "saved and the next call resumes")
        if rc == 0:
            return Outcome("failed", seconds, f"the child exited normally but the run is not "
                           f"complete ({status}{': ' + detail if detail else ''})", retry=True)
        if rc == 2:
            return Outcome("failed", seconds, tail or "exit status 2")
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return Outcome("failed", seconds, f"killed by {name}" + (f"\n{tail}" if tail else ""),
                           retry=True)
        return Outcome("failed", seconds, f"exit status {rc}" + (f"\n{tail}" if tail else ""),
                       retry=True)

    def _tail(self) -> str:
        """The last lines the child wrote (progress-bar redraws split into lines)."""
        try:
            with open(self.job.log, "rb") as f:
                f.seek(max(self.offset, f.seek(0, os.SEEK_END) - TAIL_BYTES))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        lines = [s.strip() for s in text.replace("\r", "\n").splitlines()]
        lines = [s for s in lines if s and not s.startswith("=== ")]
        return "\n".join(lines[-TAIL_LINES:])


def launch(job: Job, status: str, options: TrainOptions, slot: Slot, attempt: int,
           where: str) -> ChildRun | Outcome:
    """Start a child, or return the failure when it cannot even start (a folder that cannot be
    created, a launcher that does not exist)."""
    try:
        return ChildRun(job, status, options, slot, attempt, where)
    except OSError as e:
        return Outcome("failed", error=f"cannot start the training: {e}")


def run_attempt(job: Job, options: TrainOptions, slot: Slot, attempt: int, where: str,
                should_stop=None, poll: float = 0.5) -> Outcome:
    """One attempt from start to end, in this thread (the Dask backend's task body).

    `should_stop()`, if given, is asked every `poll` seconds; once it says yes the child is
    interrupted and the outcome is "interrupted".
    """
    status, outcome = settle(job)
    if outcome is not None:
        return outcome
    child = launch(job, status, options, slot, attempt, where)
    if isinstance(child, Outcome):
        return child
    try:
        while (outcome := child.poll()) is None:
            if should_stop is not None and child.stopping_since is None and should_stop():
                child.interrupt()
            time.sleep(poll)
    except BaseException:
        child.kill()
        raise
    return outcome
