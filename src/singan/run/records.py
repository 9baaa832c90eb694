"""The records of a training in its run folder: log.txt, stats.jsonl and progress.json.

progress.json (rewritten about once a second) lets other programs (the web app, train-many, the
Dask backend, the benchmarks) follow a training they did not start. `ProgressInfo` is its one
schema: `RunRecords` writes it and `read_progress` is its one reader, which checks the type and
range of every field, so a damaged or hand-edited file never makes a reader fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bounds import is_number
from ..files import MAX_JSON_BYTES, atomic_write, open_append
from ..models import SinGAN
from ..training import Progress, RateClock, expected_work
from ..training.progress import percent_done, scale_label
from .layout import LOG_NAME, PROGRESS_NAME, STATS_NAME

STATUSES = ("running", "done", "failed", "interrupted")
MAX_PID = 2**31 - 1  # a process id fits a C int on every system singan runs on
PROGRESS_EVERY = 1.0  # seconds between rewrites of progress.json


@dataclass(frozen=True)
class ProgressInfo:
    """progress.json: where a training is. A field that is absent or unusable is None."""

    status: str | None = None  # running, done, failed or interrupted
    pid: int | None = None  # the training process
    updated: float | None = None  # time.time() of the last write
    num_scales: int | None = None
    scale: int | None = None  # the scale being trained (0 = coarsest)
    iteration: int | None = None  # within that scale
    iters: int | None = None  # iterations of that scale
    scales_done: int | None = None  # scales saved in the run folder
    percent: float | None = None  # share of the whole training's expected work done, 0-100
    elapsed: float | None = None  # seconds since the training (or its resumption) began
    eta: float | None = None  # estimated seconds left, while running: the expected work left at
    # the throughput measured after a warm-up (None until then)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_INTS = {"pid": (1, MAX_PID), "num_scales": (0, 64), "scale": (0, 64), "iteration": (0, 10**9),
         "iters": (0, 10**9), "scales_done": (0, 64)}
_FLOATS = {"updated": (0.0, 1e12), "percent": (0.0, 100.0), "elapsed": (0.0, 1e9),
           "eta": (0.0, 1e9)}


def read_progress(run_dir: str | os.PathLike) -> ProgressInfo | None:
    """The progress.json of a run folder; None without one. Never raises: an unreadable file
    gives an empty ProgressInfo, a field of the wrong type or out of range is None."""
    path = Path(run_dir) / PROGRESS_NAME
    try:
        if not path.is_file():
            return None if not os.path.lexists(path) else ProgressInfo()
        with open(path, "rb") as f:
            data = json.loads(f.read(MAX_JSON_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return ProgressInfo()
    if not isinstance(data, dict):
        return ProgressInfo()
    fields: dict[str, Any] = {}
    status = data.get("status")
    if status in STATUSES:
        fields["status"] = status
    for name, (lo, hi) in _INTS.items():
        v = data.get(name)
        if type(v) is int and lo <= v <= hi:
            fields[name] = v
    for name, (lo, hi) in _FLOATS.items():
        v = data.get(name)
        if is_number(v) and lo <= v <= hi:
            fields[name] = float(v)
    return ProgressInfo(**fields)


def write_progress(run_dir: Path, info: ProgressInfo) -> None:
    """Write progress.json (atomically)."""
    text = json.dumps(info.to_dict())
    atomic_write(Path(run_dir) / PROGRESS_NAME, lambda f: f.write(text.encode()))


def mark_done(run_dir: Path, model: SinGAN) -> None:
    """Record a complete run as done (a training killed after its last checkpoint left it
    "running"), keeping the time it took; nothing is written when it says so already."""
    old = read_progress(run_dir)
    if old is not None and old.status == "done":
        return
    write_progress(run_dir, ProgressInfo(
        status="done", updated=time.time(), num_scales=model.num_scales,
        scale=model.num_scales - 1, scales_done=model.num_trained, percent=100.0,
        elapsed=old.elapsed if old is not None else None))


class RunRecords:
    """Writes log.txt, stats.jsonl and progress.json into a run folder during a training.

    `first_scale` is the scale training starts (or resumes) at; `progress` takes every
    `Progress` of the trainer. Write errors of the log (a full disk) are ignored, never the
    error that stopped training hidden behind them.
    """

    def __init__(self, run_dir: Path, model: SinGAN, first_scale: int):
        self.run_dir, self.model = Path(run_dir), model
        self.stats = open_append(self.run_dir / STATS_NAME)  # never through a symbolic link
        self.log = open_append(self.run_dir / LOG_NAME)
        self.percent = self.start_percent = percent_done(expected_work(model), first_scale, 0, 1)
        self.t0 = self.scale_start = time.perf_counter()
        self.clock = RateClock()
        self.clock.update(self.percent)
        self.eta: float | None = None
        self.last_write = 0.0
        self.last: Progress | None = None
        self.write_progress("running")

    def write_progress(self, status: str) -> None:
        p, now, model = self.last, time.perf_counter(), self.model
        elapsed = now - self.t0
        eta = self.eta
        info = ProgressInfo(
            status=status, pid=os.getpid(), updated=time.time(), num_scales=model.num_scales,
            scale=p.scale if p else model.num_trained, iteration=p.iteration if p else 0,
            iters=p.iters if p else model.config.iters_at(model.num_trained, model.num_scales),
            scales_done=model.num_trained, percent=round(min(self.percent, 100.0), 2),
            elapsed=round(elapsed, 1),
            eta=None if eta is None or status != "running" else round(eta, 1))
        write_progress(self.run_dir, info)
        self.last_write = now

    def elapsed(self) -> float:
        """Seconds since the records were opened (the training began or resumed)."""
        return time.perf_counter() - self.t0

    def line(self, msg: str) -> None:
        """Append a time-stamped line to log.txt (best effort)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            self.log.write(f"{stamp} {msg}\n")
            self.log.flush()
        except OSError:
            pass

    def progress(self, p: Progress) -> None:
        if p.event is not None:  # a scale restarts after diverging
            self.line(p.event)
            return
        if p.iteration == 1:
            self.scale_start = time.perf_counter()
        self.last = p
        if p.percent is not None:
            self.percent = p.percent
            self.eta = self.clock.update(p.percent)
        if time.perf_counter() - self.last_write > PROGRESS_EVERY:
            self.write_progress("running")
        if p.losses is not None:
            rec = {"scale": p.scale, "iter": p.iteration, "time": round(p.elapsed, 3)}
            rec.update({k: round(v, 6) for k, v in p.losses.items()})
            self.stats.write(json.dumps(rec) + "\n")
            self.stats.flush()
        if p.scale_done:
            secs = time.perf_counter() - self.scale_start
            h, w = self.model.sizes[p.scale]
            self.line(f"{scale_label(p.scale, p.num_scales)} ({h}x{w}) done: {p.iters} iterations "
                      f"in {secs:.1f} s, noise_amp {p.losses['noise_amp']:.4f}")

    def close(self, status: str) -> None:
        """The final progress.json, and the files closed (write errors ignored)."""
        for step in (lambda: self.write_progress(status), self.stats.close, self.log.close):
            try:
                step()
            except OSError:
                pass
