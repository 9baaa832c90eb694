"""The local scheduler: at most one child per slot, the queue in order, failed images retried at
the end of the queue, Ctrl-C passed on to every child so that it saves its finished scales."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from .jobs import Job, Slot, TrainOptions
from .process import ChildRun, Outcome, launch, settle
from .report import Batch, BatchResult, Callback

POLL_SECONDS = 0.25


def train_local(jobs: Sequence[Job], options: TrainOptions, slots: Sequence[Slot], *,
                retries: int = 1, on_update: Callback | None = None,
                poll: float = POLL_SECONDS) -> BatchResult:
    """Train every job, `len(slots)` at a time, each in its own child process.

    Finished runs are skipped, interrupted ones resumed, broken ones of train-many's own retrained.
    Ctrl-C (KeyboardInterrupt) interrupts the running children, waits for them to save and
    returns with `interrupted` set instead of raising.
    """
    batch = Batch(jobs, retries)
    queue: deque = deque()
    free = list(slots)
    running: dict[int, tuple] = {}  # slot index -> (record, child, slot)
    try:
        for rec in batch.records:  # settle finished and foreign folders before anything starts
            status, outcome = settle(rec.job)
            if outcome is not None:
                batch.finish(rec, outcome)
            else:
                queue.append((rec, status))
        while queue or running:
            while free and queue:
                _start(batch, queue, free, running, options)
            time.sleep(poll)
            for index, (rec, child, slot) in list(running.items()):
                outcome = child.poll()
                if outcome is not None:
                    del running[index]
                    free.append(slot)
                    free.sort(key=lambda s: s.index)
                    if batch.finish(rec, outcome, slot.describe()):
                        queue.append((rec, None))
            if on_update is not None:
                on_update(_snapshot(batch, running, len(slots)))
    except KeyboardInterrupt:
        for rec, outcome, where in _stop(running.values()):
            batch.finish(rec, outcome, where)
        return batch.result(interrupted=True)
    return batch.result(interrupted=False)


def _start(batch: Batch, queue: deque, free: list[Slot], running: dict,
           options: TrainOptions) -> None:
    """Start the next job of the queue in the first free slot (or settle it without a child)."""
    rec, status = queue.popleft()
    if status is None:  # a retry: the folder may have changed (a killed child leaves a resumable
        status, outcome = settle(rec.job)  # run)
        if outcome is not None:
            batch.finish(rec, outcome)
            return
    slot = free.pop(0)
    child = launch(rec.job, status, options, slot, rec.attempts + 1, slot.describe())
    if isinstance(child, Outcome):
        free.insert(0, slot)
        if batch.finish(rec, child, slot.describe()):
            queue.append((rec, None))
        return
    running[slot.index] = (rec, child, slot)


def _snapshot(batch: Batch, running: dict, slots: int):
    now = time.monotonic()
    return batch.snapshot([(now - child.start, child.progress())
                           for _, child, _ in running.values()], slots)


def _stop(running) -> list[tuple]:
    """Interrupt every running child and wait until each has exited (a second Ctrl-C kills
    them at once); returns (record, outcome, where) for each."""
    running = list(running)
    for _, child, _ in running:
        child.interrupt()
    done: list[tuple] = []
    waiting: list[tuple[object, ChildRun, Slot]] = running
    while waiting:
        try:
            time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            for _, child, _ in waiting:
                child.kill()
        still = []
        for rec, child, slot in waiting:
            outcome = child.poll()
            if outcome is None:
                still.append((rec, child, slot))
            else:
                done.append((rec, outcome, slot.describe()))
        waiting = still
    return done
