"""Book-keeping shared by the local and the Dask backends: each image's record, retries, the
progress snapshot with an estimate of the time left, and RUNS/summary.json + summary.csv."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from .._version import __version__
from ..errors import ConfigError
from ..files import atomic_write
from ..run import ProgressInfo
from .jobs import Job, Record
from .process import Outcome

SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
FINAL = ("done", "skipped", "failed")


@dataclass
class Snapshot:
    """The state of a batch, passed to `on_update` about twice a second."""

    total: int
    done: int
    skipped: int
    failed: int
    running: int
    seconds_left: float | None  # None until there is something to estimate from
    records: list[Record] = field(default_factory=list)  # every image's record, live
    finished: list[Record] = field(default_factory=list)  # records settled since the last one


Callback = Callable[[Snapshot], None]


@dataclass
class BatchResult:
    records: list[Record]
    interrupted: bool  # stopped by Ctrl-C: running images are "interrupted", others "pending"
    seconds: float


class Batch:
    """The records of a batch and the rule for retries: an attempt that failed in a way another
    may fix is retried until the image has had `retries` + 1 attempts."""

    def __init__(self, jobs: Sequence[Job], retries: int):
        if retries < 0:
            raise ConfigError("retries must be >= 0")
        self.records = [Record(job) for job in jobs]
        self.retries = retries
        self.t0 = time.monotonic()
        self._new: list[Record] = []

    def finish(self, rec: Record, outcome: Outcome, where: str = "") -> bool:
        """Record an attempt's outcome; True when the image should be tried again."""
        if outcome.started:
            rec.attempts += 1
            rec.where = where
        rec.seconds += outcome.seconds
        rec.error = outcome.error
        again = outcome.status == "failed" and outcome.retry and rec.attempts <= self.retries
        rec.status = "pending" if again else outcome.status
        if not again:
            self._new.append(rec)
        return again

    def snapshot(self, running: Sequence[tuple[float, ProgressInfo | None]],
                 slots: int) -> Snapshot:
        """`running`: (seconds since start, its progress record or None) of each running child."""
        count = {s: sum(r.status == s for r in self.records) for s in FINAL}
        pending = len(self.records) - sum(count.values()) - len(running)
        durations = [r.seconds for r in self.records if r.status == "done"]
        left = estimate_left(durations, running, pending, slots)
        new, self._new = self._new, []
        return Snapshot(len(self.records), count["done"], count["skipped"], count["failed"],
                        len(running), left, self.records, new)

    def result(self, interrupted: bool) -> BatchResult:
        return BatchResult(self.records, interrupted, time.monotonic() - self.t0)


def estimate_left(durations: Sequence[float],
                  running: Sequence[tuple[float, ProgressInfo | None]],
                  pending: int, slots: int) -> float | None:
    """Seconds until a batch ends.

    An image's training time is the mean of those done so far or, before any is done, the
    projection of the running children (elapsed / fraction done). Running children have their own
    estimate (the eta of its progress record) or that mean minus their elapsed time left; the pending images
    and the running work are spread over the slots.
    """
    per_image = None
    if durations:
        per_image = sum(durations) / len(durations)
    else:
        projections = [t / (p.percent / 100) for t, p in running
                       if p is not None and p.percent is not None and p.percent >= 5]
        if projections:
            per_image = sum(projections) / len(projections)
    remaining = []
    for elapsed, info in running:
        eta = info.eta if info is not None else None
        if eta is not None:
            remaining.append(eta)
        elif per_image is not None:
            remaining.append(max(0.0, per_image - elapsed))
        else:
            return None
    if pending and per_image is None:
        return None
    work = sum(remaining) + pending * (per_image or 0.0)
    return max(max(remaining, default=0.0), work / max(1, slots))


def write_summary(runs_dir: str | Path, result: BatchResult, info: dict) -> tuple[Path, Path]:
    """Write RUNS/summary.json (the batch and every image's record) and RUNS/summary.csv (one
    row per image, the error on one line), atomically."""
    runs_dir = Path(runs_dir)
    rows = [r.to_dict() for r in result.records]
    counts = {s: sum(r["status"] == s for r in rows)
              for s in ("done", "skipped", "failed", "interrupted", "pending")}
    data = {"singan_version": __version__, **info, "interrupted": result.interrupted,
            "seconds": round(result.seconds, 1), "counts": counts, "images": rows}
    text = json.dumps(data, indent=2) + "\n"
    json_path = atomic_write(runs_dir / SUMMARY_JSON, lambda f: f.write(text.encode()))
    buf = StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["image"])
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "error": " | ".join(row["error"].splitlines())})
    csv_path = atomic_write(runs_dir / SUMMARY_CSV, lambda f: f.write(buf.getvalue().encode()))
    return json_path, csv_path
