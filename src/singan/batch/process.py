"""One attempt at one image: `singan train` in a worker process (`singan.run.launch`) whose output
is appended to the run folder's train-many log, and whose progress is read from the progress
record it writes.

Exit statuses of the child: 0 done, 2 a problem with the input the user must fix (bad image, bad
settings, unusable run; another attempt would fail the same way), 130 interrupted, anything else
(a crash, a signal such as the kernel's out-of-memory kill) may go away on another attempt.

What fails before a child starts (an unusable entry, a run folder that cannot be examined, an
image that is missing or not a regular file, a folder that cannot be made) is that image's
failure, never the batch's: `settle` and `launch` turn it into an Outcome.
"""

from __future__ import annotations

import shlex
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SinGANError
from ..files import check_file
from ..run import ProgressInfo, read_progress
from ..run.launch import Worker
from .jobs import (ACTIONS, FINISHED, FOREIGN, INTERRUPTED, UNUSABLE, Job, Slot, TrainOptions,
                   child_argv, job_status)

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
    skipped for a finished run, failed for a folder that is not train-many's to touch or an
    entry that cannot be trained (`jobs.job_status`)."""
    status, detail = job_status(job)
    if status == FINISHED:
        return status, Outcome("skipped", started=False)
    if status in (FOREIGN, UNUSABLE):
        return status, Outcome("failed", error=detail, started=False)
    return status, None


class ChildRun:
    """A running child; `poll()` returns its Outcome once it has exited."""

    def __init__(self, job: Job, status: str, options: TrainOptions, slot: Slot, attempt: int,
                 where: str):
        self.job = job
        Path(job.run_dir).mkdir(parents=True, exist_ok=True)
        argv = child_argv(job, status, options, slot)
        note = f"attempt {attempt}: {ACTIONS[status]} on {where}: {shlex.join(argv)}"
        self.worker = Worker(argv, job.log, command=[], env=slot.env(), tied=True,
                             note=_stamped(note))
        self.start = self.worker.start

    @property
    def stopping_since(self) -> float | None:
        return self.worker.stopping_since

    def progress(self) -> ProgressInfo | None:
        """The child's progress record (percent, eta, scale, ...), or None before it writes one."""
        info = read_progress(self.job.run_dir)
        return info if info is not None and info.pid == self.worker.pid else None

    def interrupt(self) -> None:
        """Ask the child to stop as on Ctrl-C (it saves its finished scales); it is killed if it
        has not exited `launch.GRACE_SECONDS` later."""
        self.worker.interrupt()

    def kill(self) -> None:
        self.worker.kill()

    def poll(self) -> Outcome | None:
        rc = self.worker.poll()
        if rc is None:
            return None
        seconds = time.monotonic() - self.start
        self.worker.note(_stamped(f"exit status {rc} after {seconds:.1f} s"))
        return self._outcome(rc, seconds)

    def _outcome(self, rc: int, seconds: float) -> Outcome:
        tail = self._tail()
        status, detail = job_status(self.job) if rc == 0 else ("", "")
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
        text = self.worker.output(TAIL_BYTES)
        lines = [s.strip() for s in text.replace("\r", "\n").splitlines()]
        lines = [s for s in lines if s and not s.startswith("=== ")]
        return "\n".join(lines[-TAIL_LINES:])


def _stamped(text: str) -> str:
    return f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {text}"


def launch(job: Job, status: str, options: TrainOptions, slot: Slot, attempt: int,
           where: str) -> ChildRun | Outcome:
    """Start a child, or return the failure when it cannot even start: an image that is missing
    or not a regular file (checked without opening it: a pipe would hang), a folder that cannot
    be created, a launcher that does not exist."""
    try:
        if status != INTERRUPTED:  # a resumed run trains on the image its folder holds
            check_file(job.image, "an image file")
        return ChildRun(job, status, options, slot, attempt, where)
    except SinGANError as e:
        return Outcome("failed", error=str(e), started=False)
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
